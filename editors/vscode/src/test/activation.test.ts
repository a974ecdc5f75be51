// The extension itself, activated inside a stand-in for VS Code (see
// fake-vscode.ts) against the real `redline lsp`: it starts the binary named
// by `redline.path` with the key from SecretStorage in its environment,
// the status bar reaches a state from `redline.stats`, and "Review now"
// puts redline's findings into the diagnostics. It loads the esbuild bundle
// that ships in the .vsix. Runs when REDLINE_BIN names
// a built binary (`.ci/run` sets it).

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import Module = require("node:module");
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as fake from "./fake-vscode";

const BIN = process.env.REDLINE_BIN;
const KEY = "sk-activation-test-9876543210";

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

test("activated in VS Code, the extension runs redline and shows its findings", { skip: BIN ? false : "REDLINE_BIN not set" }, async () => {
  const home = mkdtempSync(join(tmpdir(), "redline-activation-"));
  const repo = join(home, "repo");
  mkdirSync(repo);
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args], { cwd: repo, stdio: "ignore" });
  git("init", "-q", "-b", "main");
  const file = join(repo, "app.py");
  writeFileSync(file, "def main():\n    return 1\n");
  git("add", "-A");
  git("commit", "-q", "-m", "base");
  // The buffer differs from disk and from HEAD: unsaved work is reviewed.
  const text = 'def main():\n    print("debug")\n    return 1\n';

  // `redline.path` points at a wrapper that records the key it was given.
  const seenKey = join(home, "key-seen");
  const wrapper = join(home, "redline-wrapper");
  writeFileSync(wrapper, `#!/bin/sh\nprintf '%s' "$REDLINE_API_KEY" > '${seenKey}'\nexec '${BIN}' "$@"\n`);
  chmodSync(wrapper, 0o755);

  const saved = { ...process.env };
  for (const k of Object.keys(process.env)) if (k.startsWith("REDLINE_")) delete process.env[k];
  Object.assign(process.env, { HOME: home, XDG_CONFIG_HOME: join(home, "xdg"), XDG_CACHE_HOME: join(home, "cache") });

  const load = (Module as unknown as { _load: (r: string, ...rest: unknown[]) => unknown })._load;
  (Module as unknown as { _load: unknown })._load = function (request: string, ...rest: unknown[]) {
    return request === "vscode" ? fake : load.call(this, request, ...rest);
  };
  fake.recorded.settings["redline.path"] = wrapper;
  fake.recorded.settings["redline.trigger"] = "manual";
  fake.workspace.workspaceFolders = [{ uri: fake.Uri.file(repo), name: "repo", index: 0 }];

  // The bundle that ships in the .vsix, not the tsc output.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext: typeof import("../extension") = require(join(__dirname, "..", "..", "dist", "extension.js"));
  const context = {
    subscriptions: [] as Array<{ dispose(): unknown }>,
    secrets: {
      get: async (k: string) => (k === "redline.apiKey" ? KEY : undefined),
      store: async () => undefined,
      delete: async () => undefined,
      onDidChange: () => new fake.Disposable(),
    },
  };
  try {
    await ext.activate(context as never);
    await until(fake.recorded.statusChanged, () => fake.recorded.statusBar.text.includes("$(circle-slash) redline $0.00"), 10000, "the offline state with today's cost");
    assert.equal(readFileSync(seenKey, "utf8"), KEY, "the server got the key from SecretStorage");

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
    fake.textDocuments.push(doc);
    fake.openDocuments.fire(doc);
    fake.window.activeTextEditor = { document: doc, selection: new fake.Selection(1, 4, 1, 4) };

    const found = until(
      fake.recorded.diagnosticsChanged,
      () => (fake.recorded.diagnostics.get(uri.toString()) ?? []).some((d) => d.source === "redline"),
      20000,
      "redline diagnostics",
    );
    await fake.commands.executeCommand("redline.client.reviewNow");
    await found;
    const finding = (fake.recorded.diagnostics.get(uri.toString()) ?? []).find((d) => d.source === "redline");
    assert.ok(finding);
    assert.equal(finding.range.start.line, 1);
    assert.equal(fake.recorded.messages.filter((m) => m.startsWith("error")).length, 0, fake.recorded.messages.join("\n"));
  } finally {
    await ext.deactivate();
    for (const s of context.subscriptions) s.dispose();
    (Module as unknown as { _load: unknown })._load = load;
    process.env = saved;
    rmSync(home, { recursive: true, force: true });
  }
});
