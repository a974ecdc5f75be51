// Which binary the extension starts: `redline.path`, else the binary bundled
// in a platform-specific .vsix, else `redline` on PATH; and what the user is
// told when none works. Candidates are small launchers that say which one
// they are and then run the real `redline --version` (REDLINE_BIN; without
// it they only say who they are), so each test also proves the resolved
// command starts.

import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { bundledPath, resolveServer, ServerNotFound, Where } from "../server-path";

const BIN = process.env.REDLINE_BIN;
let home: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "redline-resolve-"));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

/** An executable at `path` that prints `label`, then runs the real binary. */
function launcher(path: string, label: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `#!/bin/sh\necho '${label}'\n${BIN ? `exec '${BIN}' --version\n` : ""}`);
  chmodSync(path, 0o755);
  return path;
}

/** What running the resolved command prints: which candidate it was, and the real version. */
function run(command: string): string {
  const out = execFileSync(command, [], { encoding: "utf8" });
  if (BIN) assert.match(out, /^redline \d+\.\d+/m, "the real binary ran");
  return out.split("\n")[0];
}

function where(over: Partial<Where>): Where {
  return {
    configured: "",
    extensionDir: join(home, "extension"),
    envPath: join(home, "empty-bin"),
    platform: "linux",
    home,
    ...over,
  };
}

test("redline.path wins over the bundled binary and PATH", () => {
  const ext = join(home, "extension");
  launcher(bundledPath(ext, "linux"), "bundled");
  launcher(join(home, "bin", "redline"), "path");
  const mine = launcher(join(home, "mine", "redline-dev"), "setting");
  const found = resolveServer(where({ configured: mine, envPath: join(home, "bin") }));
  assert.deepEqual(found, { command: mine, source: "setting" });
  assert.equal(run(found.command), "setting");
});

test("without redline.path the bundled binary wins over PATH", () => {
  const ext = join(home, "extension");
  launcher(bundledPath(ext, "linux"), "bundled");
  launcher(join(home, "bin", "redline"), "path");
  const found = resolveServer(where({ envPath: join(home, "bin") }));
  assert.deepEqual(found, { command: join(ext, "server", "redline"), source: "bundled" });
  assert.equal(run(found.command), "bundled");
});

test("without redline.path or a bundled binary, the first redline on PATH runs", () => {
  launcher(join(home, "first", "redline"), "first");
  launcher(join(home, "second", "redline"), "second");
  const envPath = [join(home, "nothing-here"), join(home, "first"), join(home, "second")].join(delimiter);
  const found = resolveServer(where({ envPath }));
  assert.equal(found.source, "PATH");
  assert.equal(run(found.command), "first");
});

test("a directory or a non-executable file named redline on PATH is passed over", () => {
  mkdirSync(join(home, "dir", "redline"), { recursive: true });
  mkdirSync(join(home, "plain"));
  writeFileSync(join(home, "plain", "redline"), "not a program");
  launcher(join(home, "real", "redline"), "real");
  const envPath = [join(home, "dir"), join(home, "plain"), join(home, "real")].join(delimiter);
  assert.equal(run(resolveServer(where({ envPath })).command), "real");
});

test("redline.path may start with ~, be relative to the workspace folder, or be a bare name on PATH", () => {
  launcher(join(home, "tools", "redline"), "home");
  assert.equal(run(resolveServer(where({ configured: "~/tools/redline" })).command), "home");

  const folder = join(home, "project");
  launcher(join(folder, "bin", "redline"), "relative");
  assert.equal(run(resolveServer(where({ configured: "bin/redline", workspaceFolder: folder })).command), "relative");

  launcher(join(home, "bin", "redline-nightly"), "nightly");
  const bare = resolveServer(where({ configured: " redline-nightly ", envPath: join(home, "bin") }));
  assert.equal(bare.source, "setting");
  assert.equal(run(bare.command), "nightly");
});

test("a redline.path that does not work is reported, not replaced by the bundled binary", () => {
  launcher(bundledPath(join(home, "extension"), "linux"), "bundled");
  const missing = join(home, "typo", "redlin");
  assert.throws(
    () => resolveServer(where({ configured: missing })),
    (err: unknown) => {
      assert.ok(err instanceof ServerNotFound);
      assert.deepEqual(err.tried, [`redline.path "${missing}" (absent)`]);
      assert.match(err.message, /set "redline\.path"/);
      return true;
    },
  );
});

test("when nothing works the error names every place looked at, PATH included", () => {
  const envPath = [join(home, "a"), join(home, "b")].join(delimiter);
  assert.throws(
    () => resolveServer(where({ envPath })),
    (err: unknown) => {
      assert.ok(err instanceof ServerNotFound);
      assert.deepEqual(err.tried, [
        "redline.path (not set)",
        `bundled ${join(home, "extension", "server", "redline")} (absent)`,
        `"redline" on PATH ${envPath} (not found)`,
      ]);
      assert.match(err.message, /^could not find the redline binary\. Tried: redline\.path \(not set\); bundled /);
      return true;
    },
  );
});

test("a bundled binary that lost its executable bit is named as such", () => {
  const bundled = bundledPath(join(home, "extension"), "linux");
  launcher(bundled, "bundled");
  chmodSync(bundled, 0o644);
  assert.throws(() => resolveServer(where({})), (err: unknown) => {
    assert.ok(err instanceof ServerNotFound);
    assert.equal(err.tried[1], `bundled ${bundled} (not executable)`);
    return true;
  });
});

test("on Windows the bundled binary is server/redline.exe", () => {
  assert.equal(bundledPath(join("x", "ext"), "win32"), join("x", "ext", "server", "redline.exe"));
});
