// The contract between this extension and the real `redline lsp`: the
// settings it sends are understood, the commands and code-action titles it
// relies on exist, progress is reported the way the status bar follows it,
// and `redline.stats` has the fields the status bar shows. Runs when
// REDLINE_BIN names a built binary (`.ci/run` sets it); skipped otherwise.

import { strict as assert } from "node:assert";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import {
  createMessageConnection,
  MessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageserver-protocol/node";
import { didChangeConfigurationParams, serverEnvironment, toServerSettings } from "../settings";
import { computeStatus, parseStats, Stats } from "../status";

const BIN = process.env.REDLINE_BIN;
const KEY = "sk-extension-test-0123456789";

function git(cwd: string, ...args: string[]): void {
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args], {
    cwd,
    stdio: "ignore",
  });
}

/** Resolves when `check` returns true for a message, or rejects after `ms`. */
function waitFor<T>(subscribe: (fn: (v: T) => void) => void, check: (v: T) => boolean, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    subscribe((v) => {
      if (check(v)) {
        clearTimeout(timer);
        resolve(v);
      }
    });
  });
}

async function stats(conn: MessageConnection): Promise<Stats> {
  const s = parseStats(await conn.sendRequest("workspace/executeCommand", { command: "redline.stats", arguments: [] }));
  assert.ok(s, "redline.stats answers an object");
  return s;
}

/** Asks for stats until `check` holds: configuration changes apply asynchronously. */
async function statsUntil(conn: MessageConnection, check: (s: Stats) => boolean, ms: number): Promise<Stats> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await stats(conn);
    if (check(s) || Date.now() > deadline) return s;
    await new Promise((r) => setImmediate(r));
  }
}

test("the real server accepts the extension's settings, commands and progress", { skip: BIN ? false : "REDLINE_BIN not set" }, async () => {
  const home = mkdtempSync(join(tmpdir(), "redline-vscode-"));
  const repo = join(home, "repo");
  execFileSync("mkdir", ["-p", repo]);
  git(repo, "init", "-q", "-b", "main");
  const file = join(repo, "app.py");
  writeFileSync(file, "def main():\n    return 1\n");
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", "base");
  const text = 'def main():\n    print("debug")\n    return 1\n';
  writeFileSync(file, text);

  const parent: Record<string, string | undefined> = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "xdg"), XDG_CACHE_HOME: join(home, "cache"), REDLINE_LOG: "redline=debug" };
  for (const k of Object.keys(parent)) if (k.startsWith("REDLINE_") && k !== "REDLINE_LOG") delete parent[k];
  const child = spawn(BIN as string, ["lsp"], { cwd: repo, env: serverEnvironment(parent, KEY) });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const conn = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));

  const progress: string[] = [];
  const progressListeners: Array<(kind: string) => void> = [];
  conn.onRequest("window/workDoneProgress/create", () => null);
  conn.onUnhandledProgress((p) => {
    const kind = (p.value as { kind: string }).kind;
    progress.push(kind);
    progressListeners.forEach((fn) => fn(kind));
  });
  conn.onRequest("workspace/configuration", (params: { items: unknown[] }) => params.items.map(() => toServerSettings(() => undefined)));
  conn.onRequest("client/registerCapability", () => null);
  conn.onNotification("window/logMessage", () => undefined);
  conn.onNotification("window/showMessage", () => undefined);
  const diagnostics: Array<(p: { uri: string; diagnostics: Array<{ source?: string; range: unknown; data?: unknown }> }) => void> = [];
  conn.onNotification("textDocument/publishDiagnostics", (p) => diagnostics.forEach((fn) => fn(p)));
  conn.listen();

  try {
    const uri = pathToFileURL(file).href;
    // Settings as the extension sends them: an endpoint makes the server
    // leave offline mode, and a manual trigger.
    const settings = toServerSettings((k) => ({ endpoint: "http://127.0.0.1:9/v1", trigger: "manual" })[k]);
    const init = (await conn.sendRequest("initialize", {
      processId: process.pid,
      rootUri: pathToFileURL(repo).href,
      workspaceFolders: [{ uri: pathToFileURL(repo).href, name: "repo" }],
      capabilities: { window: { workDoneProgress: true }, textDocument: { publishDiagnostics: {}, codeAction: {} } },
      initializationOptions: settings,
    })) as { capabilities: { executeCommandProvider?: { commands: string[] } }; serverInfo?: { name: string } };
    assert.equal(init.serverInfo?.name, "redline");
    const commands = init.capabilities.executeCommandProvider?.commands ?? [];
    for (const c of ["redline.reviewNow", "redline.stats", "redline.dismiss", "redline.explain"]) {
      assert.ok(commands.includes(c), `server does not offer ${c}: ${commands}`);
    }
    await conn.sendNotification("initialized", {});

    const online = await statsUntil(conn, (s) => s.offline === false, 5000);
    assert.equal(online.offline, false, "the endpoint from initializationOptions reached the engine");

    await conn.sendNotification("workspace/didChangeConfiguration", didChangeConfigurationParams((k) => ({ offline: true, trigger: "manual" })[k]));
    const offline = await statsUntil(conn, (s) => s.offline === true, 5000);
    assert.equal(offline.offline, true, "didChangeConfiguration settings reached the engine");
    assert.equal(computeStatus(offline, undefined, true).state, "offline");

    const published = waitFor<{ uri: string; diagnostics: Array<{ source?: string; range: unknown; data?: unknown }> }>(
      (fn) => diagnostics.push(fn),
      (p) => p.uri === uri && p.diagnostics.some((d) => d.source === "redline"),
      20000,
      "redline diagnostics",
    );
    // Progress travels separately from diagnostics: wait for its end too.
    const ended = waitFor<string>((fn) => progressListeners.push(fn), (k) => k === "end", 20000, "the end of review progress");
    await conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text } });
    await conn.sendRequest("workspace/executeCommand", { command: "redline.reviewNow", arguments: [uri] });
    const p = await published;
    const finding = p.diagnostics.find((d) => d.source === "redline");
    assert.ok(finding);
    await ended;
    assert.equal(progress[0], "begin", `progress seen: ${progress}`);

    const actions = (await conn.sendRequest("textDocument/codeAction", {
      textDocument: { uri },
      range: finding.range,
      context: { diagnostics: [finding] },
    })) as Array<{ title: string }>;
    const titles = actions.map((a) => a.title);
    assert.ok(titles.some((t) => /^Dismiss redline finding/i.test(t)), `titles: ${titles}`);
    assert.ok(titles.some((t) => /^Explain redline finding/i.test(t)), `titles: ${titles}`);

    const after = await stats(conn);
    for (const k of ["requests", "cost_today_usd", "circuits"] as const) assert.ok(k in after, `stats lack ${k}`);

    await conn.sendRequest("shutdown");
    await conn.sendNotification("exit");
    assert.ok(!stderr.includes(KEY), "the API key appears in the server log");
  } finally {
    conn.dispose();
    child.kill();
    rmSync(home, { recursive: true, force: true });
  }
});
