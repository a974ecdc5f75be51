// The extension manifest against the code: every command in the palette has
// a handler, every handler is in the palette, and packaging will not prompt.

import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const root = join(__dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const source = readFileSync(join(root, "src", "extension.ts"), "utf8");

test("every contributed command is registered and every registered command contributed", () => {
  const contributed = (pkg.contributes.commands as Array<{ command: string }>).map((c) => c.command).sort();
  const registered = [...source.matchAll(/register\("([^"]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(registered, contributed);
});

test("client commands do not collide with the server's (the language client registers those)", () => {
  const server = ["redline.reviewNow", "redline.dismiss", "redline.explain", "redline.stats"];
  for (const c of pkg.contributes.commands as Array<{ command: string }>) assert.ok(!server.includes(c.command), c.command);
});

test("the manifest has what vsce needs to package without asking", () => {
  for (const key of ["name", "publisher", "version", "engines", "repository", "main"]) assert.ok(pkg[key], key);
  assert.equal(pkg.main, "./dist/extension.js");
  // @types/vscode must not be newer than the engine the extension claims.
  const engine = pkg.engines.vscode.replace(/^\^/, "");
  assert.equal(pkg.devDependencies["@types/vscode"], engine);
});

test("no setting holds an API key", () => {
  for (const key of Object.keys(pkg.contributes.configuration.properties)) {
    assert.ok(!/api.?key|secret|password|bearer|^token$/i.test(key.replace(/^redline\./, "")), key);
  }
});

test("the supported Node version is stated, and the tooling and test command hold to it", () => {
  assert.equal(pkg.engines.node, ">=20");
  // @vscode/vsce 4 needs Node 22.
  assert.match(pkg.devDependencies["@vscode/vsce"], /^3\./);
  // Node 22 no longer expands a directory given to `node --test`.
  assert.match(pkg.scripts.test, /node --test out\/test\/\*\.test\.js$/);
});

test("the extension runs on the workspace's machine (remote in a remote window) and its package keeps server/", () => {
  assert.deepEqual(pkg.extensionKind, ["workspace"]);
  const ignore = readFileSync(join(root, ".vscodeignore"), "utf8").split("\n");
  assert.ok(!ignore.some((l) => /^server\b/.test(l.trim())), "server/ (the bundled binary) must be packaged");
});

test("a platform package refuses a binary built for another platform, and leaves no server/ behind", () => {
  // node itself is an executable for this machine, not a Windows one.
  const run = spawnSync(process.execPath, [join(root, "scripts", "package-platform.mjs"), "--target", "win32-x64", "--binary", process.execPath], { cwd: root, encoding: "utf8" });
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /is not a win32-x64 executable \(found (elf|macho) machine 0x[0-9a-f]+\)/);
  assert.ok(!existsSync(join(root, "server")));
  const missing = spawnSync(process.execPath, [join(root, "scripts", "package-platform.mjs"), "--target", "linux-x64"], { cwd: root, encoding: "utf8" });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--binary PATH is required/);
});
