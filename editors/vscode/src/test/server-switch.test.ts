// The extension (its shipped bundle, in the stand-in for VS Code) starts the
// binary bundled in its own install directory when `redline.path` is unset,
// and a change of `redline.path` replaces the running server without
// re-activation: the old server exits, the new one reviews, unsetting the
// path goes back to the bundled binary, and a path that does not exist is
// reported by name. Every candidate is a launcher that logs which one it is
// and runs the real `redline lsp` (REDLINE_BIN; skipped without it).

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import Module = require("node:module");
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import * as fake from "./fake-vscode";

const BIN = process.env.REDLINE_BIN;

function until<T>(emitter: fake.EventEmitter<T>, check: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const sub = emitter.event(() => {
      if (check()) {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      }
    });
  });
}

/** Resolves when the file's content satisfies `check`, woken by changes in its folder. */
function untilFile(path: string, check: (text: string) => boolean, ms: number, what: string): Promise<string> {
  const read = () => (existsSync(path) ? readFileSync(path, "utf8") : "");
  return new Promise((resolve, reject) => {
    if (check(read())) return resolve(read());
    const watcher = watch(dirname(path), () => {
      const text = read();
      if (check(text)) {
        clearTimeout(timer);
        watcher.close();
        resolve(text);
      }
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`timed out waiting for ${what}; ${path} holds:\n${read()}`));
    }, ms);
  });
}

test("a redline.path change swaps the bundled server for the user's without reloading", { skip: BIN ? false : "REDLINE_BIN not set" }, async () => {
  const home = mkdtempSync(join(tmpdir(), "redline-switch-"));
  const repo = join(home, "repo");
  mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args], { cwd: repo, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  const file = join(repo, "app.py");
  writeFileSync(file, "def main():\n    return 1\n");
  git("add", "-A");
  git("commit", "-q", "-m", "base");
  const text = 'def main():\n    print("debug")\n    return 1\n';

  // Launchers log "<label> started" and, once the server has exited, "<label> exited".
  const log = join(home, "log", "servers");
  mkdirSync(dirname(log));
  const launcher = (path: string, label: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `#!/bin/sh\necho '${label} started' >> '${log}'\n'${BIN}' "$@"\necho '${label} exited' >> '${log}'\n`);
    chmodSync(path, 0o755);
  };
  const extensionDir = join(home, "extension");
  launcher(join(extensionDir, "server", "redline"), "bundled");
  const mine = join(home, "mine", "redline");
  launcher(mine, "setting");
  const count = (line: string) => (t: string) => t.split("\n").filter((l) => l === line).length;

  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith("REDLINE_")) delete process.env[k];
  // No redline on PATH: only the bundled binary or the setting can run.
  Object.assign(process.env, { HOME: home, XDG_CONFIG_HOME: join(home, "xdg"), XDG_CACHE_HOME: join(home, "cache"), PATH: "/usr/bin:/bin" });

  const load = (Module as unknown as { _load: (r: string, ...rest: unknown[]) => unknown })._load;
  (Module as unknown as { _load: unknown })._load = function (request: string, ...rest: unknown[]) {
    return request === "vscode" ? fake : load.call(this, request, ...rest);
  };
  fake.recorded.settings["redline.trigger"] = "manual";
  fake.workspace.workspaceFolders = [{ uri: fake.Uri.file(repo), name: "repo", index: 0 }];

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext: typeof import("../extension") = require(join(__dirname, "..", "..", "dist", "extension.js"));
  const context = {
    extensionPath: extensionDir,
    subscriptions: [] as Array<{ dispose(): unknown }>,
    secrets: {
      get: async () => undefined,
      store: async () => undefined,
      delete: async () => undefined,
      onDidChange: () => new fake.Disposable(),
    },
  };
  const running = () => fake.recorded.statusBar.text.includes("$(circle-slash) redline");
  const uri = fake.Uri.file(file);
  const lines = text.split("\n");
  const doc = {
    uri,
    fileName: file,
    languageId: "python",
    version: 1,
    isUntitled: false,
    isDirty: true,
    isClosed: false,
    lineCount: lines.length,
    eol: 1,
    getText: () => text,
    lineAt: (n: number) => ({ text: lines[n] }),
    save: async () => false,
  };
  /** Asks the running server for a review and waits for its finding on line 2. */
  const reviewed = async (who: string) => {
    fake.recorded.diagnostics.delete(uri.toString());
    const found = until(
      fake.recorded.diagnosticsChanged,
      () => (fake.recorded.diagnostics.get(uri.toString()) ?? []).some((d) => d.source === "redline" && d.range.start.line === 1),
      20000,
      `a finding from the ${who} server`,
    );
    await fake.commands.executeCommand("redline.client.reviewNow");
    await found;
  };

  try {
    await ext.activate(context as never);
    await until(fake.recorded.statusChanged, running, 10000, "the bundled server to run");
    assert.equal(readFileSync(log, "utf8"), "bundled started\n");
    fake.textDocuments.push(doc);
    fake.openDocuments.fire(doc);
    fake.window.activeTextEditor = { document: doc, selection: new fake.Selection(1, 4, 1, 4) };
    await reviewed("bundled");

    fake.changeSetting("redline.path", mine);
    await untilFile(log, (t) => count("setting started")(t) === 1 && count("bundled exited")(t) === 1, 10000, "the switch to redline.path");
    await until(fake.recorded.statusChanged, running, 10000, "the redline.path server to run");
    await reviewed("redline.path");

    fake.changeSetting("redline.path", undefined);
    await untilFile(log, (t) => count("bundled started")(t) === 2 && count("setting exited")(t) === 1, 10000, "the switch back to the bundled binary");
    await until(fake.recorded.statusChanged, running, 10000, "the bundled server to run again");
    await reviewed("bundled");

    const typo = join(home, "mine", "redlin");
    fake.changeSetting("redline.path", typo);
    await untilFile(log, (t) => count("bundled exited")(t) === 2, 10000, "the bundled server to stop");
    await until(fake.recorded.statusChanged, () => fake.recorded.messages.some((m) => m.includes(typo)), 10000, "an error naming the path");
    const error = fake.recorded.messages.find((m) => m.includes(typo)) ?? "";
    assert.equal(error, `error: redline: could not find the redline binary. Tried: redline.path "${typo}" (absent). Install the platform-specific build of this extension, put \`redline\` on PATH, or set "redline.path".`);
    assert.match(fake.recorded.statusBar.text, /debug-disconnect/, "the status bar shows the server stopped");
    assert.equal(fake.recorded.messages.filter((m) => m.startsWith("error")).length, 1, fake.recorded.messages.join("\n"));
  } finally {
    await ext.deactivate();
    for (const s of context.subscriptions) s.dispose();
    (Module as unknown as { _load: unknown })._load = load;
    process.env = saved;
    rmSync(home, { recursive: true, force: true });
  }
});
