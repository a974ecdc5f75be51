// The VS Code front end of redline: starts `redline lsp`, forwards the
// `redline.*` settings, keeps the API key in SecretStorage and shows the
// review state in the status bar. Reviewing is the server's job: nothing
// here looks at code.

import * as vscode from "vscode";
import {
  ClientCapabilities,
  DidChangeConfigurationNotification,
  FeatureState,
  StaticFeature,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State as ClientState,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { homedir } from "node:os";
import { resolveServer, ServerBinary, ServerNotFound } from "./server-path";
import { didChangeConfigurationParams, Lookup, SECRET_SETTINGS, serverEnvironment, toServerSettings } from "./settings";
import { computeStatus, parseStats, Stats } from "./status";

const SECRET_ID = "redline.apiKey";
const START_TIMEOUT_MS = 10_000;

let client: LanguageClient | undefined;
let context: vscode.ExtensionContext;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let lastStats: Stats | undefined;
/** Messages of the reviews in flight, by progress token. */
const reviews = new Map<string, string>();
let statsTimer: NodeJS.Timeout | undefined;
/**
 * Starts and restarts run one after another: a `redline.path` change while
 * the server is still starting waits for that start, then replaces it.
 */
let lifecycle: Promise<void> = Promise.resolve();

function queued(step: () => Promise<void>): Promise<void> {
  lifecycle = lifecycle.then(step, step);
  return lifecycle;
}

/** What the user set for `redline.<key>` at any level; VS Code defaults are not "set". */
function userSetting(): Lookup {
  const config = vscode.workspace.getConfiguration("redline");
  return (key) => {
    const i = config.inspect(key);
    if (i === undefined) return undefined;
    return i.workspaceFolderValue ?? i.workspaceValue ?? i.globalValue;
  };
}

export async function activate(ctx: vscode.ExtensionContext): Promise<void> {
  context = ctx;
  output = vscode.window.createOutputChannel("redline");
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 10);
  statusItem.command = "redline.client.showStats";
  statusItem.show();
  ctx.subscriptions.push(output, statusItem);

  const register = (id: string, fn: (...args: unknown[]) => unknown) =>
    ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));
  register("redline.client.reviewNow", reviewNow);
  register("redline.client.reviewAll", () => executeServerCommand("redline.reviewNow", []));
  register("redline.client.showStats", showStats);
  register("redline.client.dismiss", () => runFindingAction(/^Dismiss redline finding/i, "dismiss"));
  register("redline.client.explain", () => runFindingAction(/^Explain redline finding/i, "explain"));
  register("redline.client.setApiKey", setApiKey);
  register("redline.client.clearApiKey", clearApiKey);
  register("redline.client.restart", restart);

  ctx.subscriptions.push(
    // The status bar shows the repository of the file in front.
    vscode.window.onDidChangeActiveTextEditor(() => void refreshStats()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration("redline")) return;
      if (e.affectsConfiguration("redline.path")) {
        // A new binary is honoured at once, local or remote: no window reload.
        output.appendLine("redline.path changed: restarting the server");
        void restart();
        return;
      }
      if (e.affectsConfiguration("redline.statsIntervalS")) scheduleStats();
      warnAboutSecretSettings();
      if (client?.isRunning()) {
        void client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(userSetting()));
      }
    }),
    ctx.secrets.onDidChange((e) => {
      if (e.key === SECRET_ID) void restart();
    }),
  );

  warnAboutSecretSettings();
  await queued(start);
}

export async function deactivate(): Promise<void> {
  if (statsTimer) clearInterval(statsTimer);
  await queued(stopClient);
}

/**
 * The binary to run, looked up on the host the extension runs on: in a
 * remote window that is the remote machine, with the extension's install
 * directory and PATH there.
 */
function serverBinary(): ServerBinary {
  return resolveServer({
    configured: vscode.workspace.getConfiguration("redline").get<string>("path", ""),
    extensionDir: context.extensionPath,
    envPath: process.env.PATH,
    platform: process.platform,
    home: homedir(),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
  });
}

async function start(): Promise<void> {
  const apiKey = await context.secrets.get(SECRET_ID);
  let binary: ServerBinary;
  try {
    binary = serverBinary();
  } catch (err) {
    if (!(err instanceof ServerNotFound)) throw err;
    // redline.path is machine-specific: in a remote window a value in the
    // local User settings does not apply, which is easy to miss.
    const remote = vscode.env.remoteName
      ? ` In this ${vscode.env.remoteName} window, set "redline.path" in the Remote settings.`
      : "";
    output.appendLine(`redline: ${err.message}${remote}`);
    void vscode.window.showErrorMessage(`redline: ${err.message}${remote}`, "Open settings").then((choice) => {
      if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", "redline.path");
    });
    render();
    return;
  }
  const command = binary.command;
  const serverOptions: ServerOptions = {
    command,
    args: ["lsp"],
    // The key reaches the server through its environment only: never in
    // initializationOptions, never in settings.json, never in the log.
    options: { env: serverEnvironment(process.env, apiKey) },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }],
    initializationOptions: toServerSettings(userSetting()),
    outputChannel: output,
    middleware: {
      workspace: {
        // A server that pulls its settings gets the same shape it is pushed.
        configuration: (params, token, next) => {
          const answers: unknown[] = [];
          for (const item of params.items) {
            if (item.section === undefined || item.section === "redline") {
              answers.push(toServerSettings(userSetting()));
            } else {
              answers.push(null);
            }
          }
          return answers.every((a) => a === null) ? next(params, token) : answers;
        },
      },
    },
  };
  const c = new LanguageClient("redline", "redline", serverOptions, clientOptions);
  c.registerFeature(new ReviewProgressFeature(c));
  client = c;
  c.onDidChangeState((e) => {
    if (e.newState !== ClientState.Running) reviews.clear();
    render();
  });
  output.appendLine(`starting ${command} lsp (${binary.source})${apiKey ? " with the API key from SecretStorage" : ""}`);
  render();
  try {
    // Bounded, so that a binary that never answers `initialize` holds up
    // the restart that replaces it for seconds, not forever; stopping it
    // then kills the process. redline answers at once.
    let timer: NodeJS.Timeout | undefined;
    const given = new Promise<void>((resolve) => (timer = setTimeout(resolve, START_TIMEOUT_MS)));
    await Promise.race([c.start(), given]).finally(() => clearTimeout(timer));
    if (!c.isRunning()) output.appendLine(`${command} lsp has not answered initialize within ${START_TIMEOUT_MS / 1000} s`);
  } catch (err) {
    render();
    // Not awaited: a restart waits for this start, not for the user.
    void vscode.window
      .showErrorMessage(`redline: could not start \`${command} lsp\` (${binary.source}): ${String(err)}. Set "redline.path" to a working binary.`, "Open settings")
      .then((choice) => {
        if (choice) void vscode.commands.executeCommand("workbench.action.openSettings", "redline.path");
      });
    return;
  }
  scheduleStats();
  void refreshStats();
}

/**
 * Reviews report $/progress on server-created tokens; this follows them for
 * the status bar and shows them in the window's progress area. A feature,
 * because features are initialized after the client's own progress handler
 * on every (re)start, so this handler is the one that stays registered.
 */
class ReviewProgressFeature implements StaticFeature {
  constructor(private readonly c: LanguageClient) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    (capabilities.window ??= {}).workDoneProgress = true;
  }

  initialize(): void {
    this.c.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
      trackProgress(this.c, String(params.token));
      return null;
    });
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {
    reviews.clear();
  }
}

function trackProgress(c: LanguageClient, token: string): void {
  let finish: (() => void) | undefined;
  let report: ((message: string) => void) | undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const sub = c.onProgress(WorkDoneProgress.type, token, (value) => {
    switch (value.kind) {
      case "begin":
        reviews.set(token, [value.title, value.message].filter(Boolean).join(": "));
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: value.title || "redline" },
          async (progress) => {
            report = (message) => progress.report({ message });
            if (value.message) report(value.message);
            await done;
          },
        );
        break;
      case "report":
        if (value.message) {
          reviews.set(token, value.message);
          report?.(value.message);
        }
        break;
      case "end":
        reviews.delete(token);
        sub.dispose();
        finish?.();
        void refreshStats();
        break;
    }
    render();
  });
}

function render(): void {
  const running = client?.state === ClientState.Running || client?.state === ClientState.Starting;
  const reviewing = reviews.size > 0 ? [...reviews.values()].at(-1) ?? "" : undefined;
  const status = computeStatus(
    client?.state === ClientState.Starting ? undefined : lastStats,
    reviewing,
    running,
  );
  statusItem.text = status.text;
  statusItem.tooltip = status.tooltip;
  statusItem.backgroundColor =
    status.state === "circuit_open" || status.state === "stopped"
      ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : status.state === "degraded"
        ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
}

function scheduleStats(): void {
  if (statsTimer) clearInterval(statsTimer);
  const seconds = vscode.workspace.getConfiguration("redline").get<number>("statsIntervalS", 60);
  statsTimer = seconds > 0 ? setInterval(() => void refreshStats(), seconds * 1000) : undefined;
}

async function refreshStats(): Promise<Stats | undefined> {
  if (!client?.isRunning()) {
    render();
    return undefined;
  }
  try {
    // With a document, the server answers for that document's repository.
    const doc = vscode.window.activeTextEditor?.document;
    const args = doc?.uri.scheme === "file" ? [doc.uri.toString()] : [];
    lastStats = parseStats(
      await client.sendRequest(ExecuteCommandRequest.type, { command: "redline.stats", arguments: args }),
    );
  } catch (err) {
    output.appendLine(`redline.stats failed: ${String(err)}`);
  }
  render();
  return lastStats;
}

async function executeServerCommand(command: string, args: unknown[]): Promise<unknown> {
  if (!client?.isRunning()) {
    void vscode.window.showWarningMessage("redline: the server is not running. Run “redline: Restart server”.");
    return undefined;
  }
  try {
    return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  } catch (err) {
    void vscode.window.showErrorMessage(`redline: ${command} failed: ${String(err)}`);
    return undefined;
  }
}

async function reviewNow(): Promise<void> {
  const doc = vscode.window.activeTextEditor?.document;
  await executeServerCommand("redline.reviewNow", doc ? [doc.uri.toString()] : []);
}

async function showStats(): Promise<void> {
  const stats = await refreshStats();
  if (stats === undefined) {
    void vscode.window.showInformationMessage("redline: no stats yet (is the server running?)");
    return;
  }
  output.appendLine(`stats: ${JSON.stringify(stats, null, 2)}`);
  const status = computeStatus(stats, undefined, true);
  void vscode.window.showInformationMessage(status.tooltip.split("\n").join(" · "), "Show details").then((c) => {
    if (c) output.show(true);
  });
}

/**
 * Dismiss and Explain act on the finding under the cursor through the code
 * actions the server offers for it, so the server decides what arguments
 * its commands take.
 */
async function runFindingAction(title: RegExp, verb: string): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage(`redline: open a file with a finding to ${verb} it.`);
    return;
  }
  const actions =
    (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
      "vscode.executeCodeActionProvider",
      editor.document.uri,
      editor.selection,
    )) ?? [];
  const action = actions.find((a) => title.test(a.title));
  if (action === undefined) {
    void vscode.window.showInformationMessage(`redline: no redline finding at the cursor to ${verb}.`);
    return;
  }
  // The provider returns either CodeActions or bare Commands.
  const command: vscode.Command | undefined =
    typeof action.command === "string" ? (action as vscode.Command) : (action as vscode.CodeAction).command;
  const edit = action instanceof vscode.CodeAction || "edit" in action ? (action as vscode.CodeAction).edit : undefined;
  if (edit) await vscode.workspace.applyEdit(edit);
  // The server shows an explanation itself (window/showDocument).
  if (command) await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
}

async function setApiKey(): Promise<void> {
  const key = await vscode.window.showInputBox({
    title: "redline: API key",
    prompt: "Bearer key for the OpenAI-compatible endpoint. Kept in VS Code's SecretStorage, given to the server as REDLINE_API_KEY.",
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return;
  if (key.trim() === "") {
    await clearApiKey();
    return;
  }
  await context.secrets.store(SECRET_ID, key.trim());
  void vscode.window.showInformationMessage("redline: API key saved; the server restarts with it.");
}

async function clearApiKey(): Promise<void> {
  await context.secrets.delete(SECRET_ID);
  void vscode.window.showInformationMessage("redline: API key removed.");
}

async function stopClient(): Promise<void> {
  const old = client;
  client = undefined;
  if (old === undefined) return;
  try {
    // dispose, not stop: a disposed client never restarts itself (after a
    // crash) behind the one that replaces it. Stopping also kills the
    // process if it does not exit, even when the client is not running.
    await old.dispose();
  } catch (err) {
    output.appendLine(`stopping the server: ${String(err)}`);
  }
}

function restart(): Promise<void> {
  return queued(async () => {
    await stopClient();
    reviews.clear();
    lastStats = undefined;
    await start();
  });
}

function warnAboutSecretSettings(): void {
  const lookup = userSetting();
  const found = SECRET_SETTINGS.filter((k) => lookup(k) !== undefined);
  if (found.length > 0) {
    void vscode.window.showWarningMessage(
      `redline ignores "redline.${found[0]}" in settings.json: keys do not belong there. Use “redline: Set API key” and delete the setting.`,
    );
  }
}
