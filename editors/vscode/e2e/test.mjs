// The extension in a real VS Code (code-server's VS Code 1.96 workbench in
// headless Chromium), as a user meets it: install the platform .vsix, open a
// git repository, make an unsaved edit that leaks an AWS key and adds a
// print(), and see the Problems panel list redline's finding and the
// quick-fix menu offer Dismiss and Explain. Then set `redline.path` in the
// Remote settings (code-server is a remote window) and see the new binary
// take over without a reload. Driven by e2e/run.sh, which installs
// code-server and puppeteer-core; every wait is bounded, and a failure
// leaves a screenshot and the logs.

import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, watch, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { "code-server": { type: "string" }, "node-modules": { type: "string" }, vsix: { type: "string" } },
});
const require = createRequire(join(args["node-modules"], "noop.js"));
const puppeteer = require("puppeteer-core");
const entry = join(args["code-server"], "out", "node", "entry.js");

const t0 = Date.now();
const say = (m) => console.log(`vscode-e2e: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);

const root = mkdtempSync(join(tmpdir(), "redline-vscode-ui-"));
const home = join(root, "home");
const userData = join(root, "user-data");
const extensions = join(root, "extensions");
const repo = join(root, "repo");
for (const d of [home, join(userData, "User"), extensions, repo]) mkdirSync(d, { recursive: true });

// A leaked-looking AWS access key id, built here so that no key-shaped
// literal sits in the repository.
const KEY = "AKIA" + "Q3EG" + "RIJ7" + "ZSXW" + "5K2M";

const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_DATA_HOME: join(home, ".local", "share"), XDG_CACHE_HOME: join(home, ".cache") };
for (const k of Object.keys(env)) if (k.startsWith("REDLINE_")) delete env[k];

function git(...a) {
  const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...a], { cwd: repo, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${a.join(" ")}: ${r.stderr}`);
}
const original = "def main():\n    return 1\n";
writeFileSync(join(repo, "app.py"), original);
git("init", "-q", "-b", "main");
git("add", "-A");
git("commit", "-q", "-m", "base");

writeFileSync(
  join(userData, "User", "settings.json"),
  JSON.stringify(
    {
      // Else the "unsaved" edit is saved within a second.
      "files.autoSave": "off",
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "telemetry.telemetryLevel": "off",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      // Typed text lands as typed.
      "editor.autoClosingBrackets": "never",
      "editor.autoClosingQuotes": "never",
      "editor.autoIndent": "none",
      "editor.suggestOnTriggerCharacters": false,
      "editor.quickSuggestions": { other: false, comments: false, strings: false },
      // Review while typing, as soon as the user pauses.
      "redline.trigger": "idle",
      "redline.idleMs": 300,
    },
    null,
    2,
  ),
);

/** Resolves when `check()` holds, woken by changes in `dir`; rejects after `ms`. */
function untilInDir(dir, check, ms, what) {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const watcher = watch(dir, () => {
      if (check()) {
        clearTimeout(timer);
        watcher.close();
        resolve();
      }
    });
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`timed out after ${ms / 1000} s waiting for ${what}`));
    }, ms);
  });
}

/** The pids of running processes whose executable is `path`. */
function processesOf(path) {
  const pids = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`) === path) pids.push(Number(pid));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

let server;
let serverLog = "";
let browser;
let page;
let passed = false;
try {
  let t = Date.now();
  const install = spawnSync(process.execPath, [entry, "--user-data-dir", userData, "--extensions-dir", extensions, "--install-extension", args.vsix], { env, encoding: "utf8", timeout: 120_000 });
  if (!/successfully installed/.test(install.stdout)) throw new Error(`--install-extension failed:\n${install.stdout}\n${install.stderr}`);
  const installed = readdirSync(extensions).find((d) => d.startsWith("redline-review.redline-"));
  const bundled = join(extensions, installed, "server", "redline");
  accessSync(bundled, constants.X_OK);
  say(`installed ${args.vsix} (${Date.now() - t} ms): ${bundled} is executable`);

  t = Date.now();
  server = spawn(process.execPath, [entry, "--auth", "none", "--bind-addr", "127.0.0.1:0", "--user-data-dir", userData, "--extensions-dir", extensions, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override"], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not listen within 60 s:\n${serverLog}`)), 60_000);
    const read = (d) => {
      serverLog += d.toString();
      const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(serverLog);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    server.stdout.on("data", read);
    server.stderr.on("data", read);
    server.on("exit", (code) => reject(new Error(`code-server exited (${code}):\n${serverLog}`)));
  });
  say(`code-server listening on ${url} (${Date.now() - t} ms)`);

  t = Date.now();
  browser = await puppeteer.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    // Without the background-networking flags Chromium's own connections
    // are refused by a closed network and slow everything down.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${join(root, "chromium")}`],
    timeout: 60_000,
  });
  page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(`${url}/?folder=${encodeURIComponent(repo)}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".monaco-workbench", { timeout: 60_000 });
  say(`workbench loaded (${Date.now() - t} ms)`);

  const row = await page.waitForSelector('.explorer-folders-view .monaco-list-row[aria-label^="app.py"]');
  await row.click({ count: 2 });
  await page.waitForSelector(".editor-instance .monaco-editor .view-lines");
  await page.click(".editor-instance .monaco-editor .view-lines");
  const chord = async (key, ...mods) => {
    for (const m of mods) await page.keyboard.down(m);
    await page.keyboard.press(key);
    for (const m of [...mods].reverse()) await page.keyboard.up(m);
  };
  await chord("Home", "Control");
  await page.keyboard.press("Enter");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.type(`aws_key = "${KEY}"`);
  await page.keyboard.press("Enter");
  await page.keyboard.type("print(1)");
  await chord("Home", "Control");
  await page.waitForSelector(".tabs-container .tab.dirty");
  if (readFileSync(join(repo, "app.py"), "utf8") !== original) throw new Error("the edit was saved to disk; it must stay unsaved");
  say("typed an unsaved edit: an AWS key line and print(1)");

  t = Date.now();
  await chord("KeyM", "Control", "Shift");
  await page.waitForFunction(
    () => {
      const text = document.querySelector(".markers-panel")?.innerText ?? "";
      return /AWS access key/.test(text) && /redline/.test(text) && /debug-print|print\(\)/.test(text);
    },
    { timeout: 60_000 },
  );
  const problems = await page.$eval(".markers-panel", (e) => e.innerText);
  // The status bar item: the server runs offline (no endpoint), with today's cost.
  await page.waitForFunction(() => /redline \$0\.00/.test(document.querySelector(".part.statusbar")?.innerText ?? ""));
  if (problems.includes(KEY)) throw new Error("the Problems panel shows the detected key in full");
  if (readFileSync(join(repo, "app.py"), "utf8") !== original || !(await page.$(".tabs-container .tab.dirty"))) {
    throw new Error("the edit was saved before it was reviewed; the findings must come from the unsaved buffer");
  }
  const running = processesOf(bundled);
  if (running.length !== 1) throw new Error(`expected one server from the bundled binary ${bundled}, found pids ${running}`);
  say(`Problems panel lists redline's findings (${Date.now() - t} ms), from the bundled binary (pid ${running[0]}):\n${problems.replace(/^/gm, "    ")}`);

  t = Date.now();
  await page.click(".editor-instance .monaco-editor .view-lines");
  // Into the key on line 1 (it starts at column 12): the quick fixes are
  // those of the findings under the cursor.
  await chord("Home", "Control");
  for (let i = 0; i < 15; i++) await page.keyboard.press("ArrowRight");
  await chord("Period", "Control");
  await page.waitForSelector('.action-widget .monaco-list-row.action[aria-label="Dismiss redline finding"]');
  await page.waitForSelector('.action-widget .monaco-list-row.action[aria-label="Explain redline finding"]');
  const menu = await page.$$eval(".action-widget .monaco-list-row.action", (rows) => rows.map((r) => r.getAttribute("aria-label")));
  say(`quick-fix menu on the key line (${Date.now() - t} ms): ${menu.join(" | ")}`);
  await page.keyboard.press("Escape");

  // redline.path in the Remote settings (code-server is a remote window):
  // the server is replaced at once, no reload.
  t = Date.now();
  const launcherLog = join(root, "launcher", "log");
  const launcher = join(root, "launcher", "redline");
  mkdirSync(dirname(launcher));
  writeFileSync(launcher, `#!/bin/sh\necho "started $$" >> '${launcherLog}'\nexec '${bundled}' "$@"\n`, { mode: 0o755 });
  mkdirSync(join(userData, "Machine"), { recursive: true });
  writeFileSync(join(userData, "Machine", "settings.json"), JSON.stringify({ "redline.path": launcher }));
  // The shell creates the log before it writes the line: wait for the line.
  const launched = () => existsSync(launcherLog) && /^started \d+$/m.test(readFileSync(launcherLog, "utf8"));
  await untilInDir(dirname(launcher), launched, 30_000, "the server from redline.path to start");
  const [newPid] = readFileSync(launcherLog, "utf8").trim().split("\n").map((l) => Number(l.split(" ")[1]));
  // A new edit, reviewed by the new server only: print(2) on the last line.
  await page.click(".editor-instance .monaco-editor .view-lines");
  await chord("End", "Control");
  await page.keyboard.type("print(2)");
  await page.waitForFunction(() => /\[Ln 5, Col 1\]/.test(document.querySelector(".markers-panel")?.innerText ?? ""), { timeout: 60_000 });
  if (!processesOf(bundled).includes(newPid)) throw new Error(`the server started from redline.path (pid ${newPid}) is not running`);
  if (readFileSync(launcherLog, "utf8").trim().split("\n").length !== 1) throw new Error(`the new server restarted:\n${readFileSync(launcherLog, "utf8")}`);
  say(`redline.path set in the Remote settings: pid ${newPid} took over without a reload and reviewed a new edit (${Date.now() - t} ms)`);
  passed = true;
} catch (err) {
  console.error(`vscode-e2e: FAILED: ${err?.stack ?? err}`);
  if (page) {
    const shot = join(process.env.REDLINE_E2E_ARTIFACTS ?? tmpdir(), `redline-vscode-e2e-failure-${process.pid}.png`);
    await page.screenshot({ path: shot }).then(() => console.error(`vscode-e2e: screenshot ${shot}`), () => undefined);
  }
  console.error(`vscode-e2e: code-server output:\n${serverLog}`);
  for (const log of findLogs(join(userData, "logs"))) {
    console.error(`vscode-e2e: ${log}:\n${readFileSync(log, "utf8").slice(-4000)}`);
  }
} finally {
  await browser?.close().catch(() => undefined);
  // code-server, its extension host and the redline server: one process group.
  if (server?.pid) {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
  }
  rmSync(root, { recursive: true, force: true });
}
console.log(`vscode-e2e: ${passed ? "1 passed, 0 failed" : "0 passed, 1 failed"}`);
process.exit(passed ? 0 : 1);

/** The extension host's logs and redline's output channel. */
function findLogs(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath ?? e.path, e.name);
    if (e.isFile() && /(redline|exthost|remoteexthost)\.log$|output_logging.*\.log$/.test(path)) out.push(path);
  }
  return out;
}
