// Which `redline` binary the extension starts: the user's `redline.path`,
// else the binary bundled in a platform-specific .vsix (`server/redline`),
// else `redline` on the extension host's PATH. Pure apart from looking at
// files: no `vscode` import, so it runs under node's test runner. It must
// not assume a local window: the caller passes the extension's own install
// directory and the PATH of the host the extension runs on (the remote one
// in a remote window).

import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

/** Where the binary that runs came from. */
export type Source = "setting" | "bundled" | "PATH";

export interface ServerBinary {
  command: string;
  source: Source;
}

/** What resolution looks at; every field comes from the host the extension runs on. */
export interface Where {
  /** `redline.path` as the user set it; "" when unset. */
  configured: string;
  /** The extension's install directory (`ExtensionContext.extensionPath`). */
  extensionDir: string;
  /** PATH of the extension host process. */
  envPath: string | undefined;
  platform: NodeJS.Platform;
  home: string;
  /** First workspace folder, for a relative `redline.path`. */
  workspaceFolder?: string;
}

/** No binary could be started; `tried` says what was looked at, in order. */
export class ServerNotFound extends Error {
  constructor(readonly tried: string[]) {
    super(
      `could not find the redline binary. Tried: ${tried.join("; ")}. ` +
        `Install the platform-specific build of this extension, put \`redline\` on PATH, or set "redline.path".`,
    );
    this.name = "ServerNotFound";
  }
}

function exe(platform: NodeJS.Platform): string {
  return platform === "win32" ? "redline.exe" : "redline";
}

/** Where a platform-specific .vsix carries the binary, relative to the extension root. */
export function bundledPath(extensionDir: string, platform: NodeJS.Platform): string {
  return join(extensionDir, "server", exe(platform));
}

/** Why `path` cannot be started, or undefined when it can. */
function unusable(path: string, platform: NodeJS.Platform): string | undefined {
  try {
    if (!statSync(path).isFile()) return "not a file";
  } catch {
    return "absent";
  }
  if (platform === "win32") return undefined;
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    return "not executable";
  }
}

/** The first directory of `envPath` holding an executable `name`. */
function onPath(name: string, envPath: string | undefined, platform: NodeJS.Platform): string | undefined {
  for (const dir of (envPath ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (unusable(candidate, platform) === undefined) return candidate;
  }
  return undefined;
}

/**
 * The binary to start. A set `redline.path` is the only candidate: a path the
 * user chose that does not work is reported, not silently replaced.
 * @throws ServerNotFound naming every place looked at.
 */
export function resolveServer(where: Where): ServerBinary {
  const { platform } = where;
  const configured = where.configured.trim();
  const shownPath = where.envPath ? where.envPath : "(empty)";
  if (configured !== "") {
    if (!/[\\/]/.test(configured)) {
      // A bare name ("redline-nightly") is looked up on PATH like a shell would.
      const found = onPath(configured, where.envPath, platform);
      if (found) return { command: found, source: "setting" };
      throw new ServerNotFound([`redline.path "${configured}" (not found on PATH ${shownPath})`]);
    }
    let path = configured.replace(/^~(?=[\\/])/, where.home);
    if (!isAbsolute(path)) {
      if (where.workspaceFolder === undefined) {
        throw new ServerNotFound([`redline.path "${configured}" (relative, and no workspace folder is open)`]);
      }
      path = resolve(where.workspaceFolder, path);
    }
    const why = unusable(path, platform);
    if (why === undefined) return { command: path, source: "setting" };
    throw new ServerNotFound([`redline.path "${path}" (${why})`]);
  }

  const tried = ["redline.path (not set)"];
  const bundled = bundledPath(where.extensionDir, platform);
  const why = unusable(bundled, platform);
  if (why === undefined) return { command: bundled, source: "bundled" };
  tried.push(`bundled ${bundled} (${why})`);

  const found = onPath(exe(platform), where.envPath, platform);
  if (found) return { command: found, source: "PATH" };
  tried.push(`"${exe(platform)}" on PATH ${shownPath} (not found)`);
  throw new ServerNotFound(tried);
}
