#!/usr/bin/env node
// Builds a platform-specific .vsix that carries the `redline` binary, as the
// rust-analyzer and Ruff extensions do:
//
//   npm run package:platform -- --target linux-x64 --binary ../../target/release/redline [--out redline-linux-x64.vsix]
//
// The binary is copied to server/redline (server/redline.exe on Windows),
// checked to be an executable for the target's OS and CPU, packaged with
// `vsce package --target`, and the copy removed again so that a later
// universal `npm run package` does not pick it up.

import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, openSync, readSync, closeSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

// vsce's targets, and what the binary for each must be.
const TARGETS = {
  "linux-x64": ["elf", 0x3e],
  "linux-arm64": ["elf", 0xb7],
  "linux-armhf": ["elf", 0x28],
  "alpine-x64": ["elf", 0x3e],
  "alpine-arm64": ["elf", 0xb7],
  "darwin-x64": ["macho", 0x01000007],
  "darwin-arm64": ["macho", 0x0100000c],
  "win32-x64": ["pe", 0x8664],
  "win32-arm64": ["pe", 0xaa64],
};

function fail(message) {
  console.error(`package-platform: ${message}`);
  process.exit(2);
}

/** The object format and machine of an executable, from its header. */
function inspect(path) {
  const fd = openSync(path, "r");
  const head = Buffer.alloc(4096);
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (n >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const little = head[5] === 1;
    return ["elf", little ? head.readUInt16LE(18) : head.readUInt16BE(18)];
  }
  if (n >= 8 && head.readUInt32LE(0) === 0xfeedfacf) return ["macho", head.readUInt32LE(4)];
  if (n >= 64 && head.toString("latin1", 0, 2) === "MZ") {
    const pe = head.readUInt32LE(60);
    if (pe + 6 <= n && head.toString("latin1", pe, pe + 4) === "PE\0\0") return ["pe", head.readUInt16LE(pe + 4)];
  }
  return ["unknown", 0];
}

const { values } = parseArgs({
  options: { target: { type: "string" }, binary: { type: "string" }, out: { type: "string" } },
});
const target = values.target;
if (!target || !(target in TARGETS)) fail(`--target must be one of ${Object.keys(TARGETS).join(", ")}`);
if (!values.binary) fail("--binary PATH is required (the redline executable for the target)");
const binary = resolve(process.cwd(), values.binary);
let found;
try {
  found = inspect(binary);
} catch (err) {
  fail(`cannot read --binary ${binary}: ${err.message}`);
}
const [format, machine] = TARGETS[target];
if (found[0] !== format || found[1] !== machine) {
  fail(`${binary} is not a ${target} executable (found ${found[0]} machine 0x${found[1].toString(16)})`);
}

const serverDir = join(root, "server");
const dest = join(serverDir, target.startsWith("win32") ? "redline.exe" : "redline");
const out = resolve(process.cwd(), values.out ?? `redline-${target}.vsix`);
rmSync(serverDir, { recursive: true, force: true });
mkdirSync(serverDir);
try {
  copyFileSync(binary, dest);
  chmodSync(dest, 0o755);
  const vsce = join(root, "node_modules", ".bin", process.platform === "win32" ? "vsce.cmd" : "vsce");
  execFileSync(vsce, ["package", "--target", target, "--skip-license", "--out", out], { cwd: root, stdio: "inherit" });
} finally {
  rmSync(serverDir, { recursive: true, force: true });
}
console.log(`package-platform: ${out} (${target}, server/${dest.split(/[\\/]/).pop()} from ${binary})`);
