// Maps VS Code's flat `redline.*` settings to the shape of `.redline.toml`
// (SPEC §2) that `redline lsp` accepts as initializationOptions and in
// workspace/didChangeConfiguration. Pure: it must not import `vscode`, so
// that it runs under node's test runner.
//
// Only values the user actually set are forwarded: the editor is the
// highest configuration layer, and a VS Code default must not hide a value
// from the repository's `.redline.toml`.

/** Returns the value the user set for `redline.<key>`, or undefined. */
export type Lookup = (key: string) => unknown;

/** `.redline.toml`-shaped settings. */
export type ServerSettings = Record<string, Record<string, unknown>>;

type Kind = "string" | "url" | "trigger" | "number" | "integer" | "boolean" | "globs" | "table";

interface Mapping {
  /** Key under `redline.` in VS Code. */
  setting: string;
  /** Section and key in `.redline.toml`; a section alone for whole tables. */
  section: string;
  key?: string;
  kind: Kind;
}

/** Every setting forwarded to the server, and where it lands. */
export const MAPPINGS: readonly Mapping[] = [
  { setting: "endpoint", section: "llm", key: "base_url", kind: "url" },
  { setting: "model", section: "llm", key: "model", kind: "string" },
  { setting: "timeoutS", section: "llm", key: "timeout_s", kind: "number" },
  { setting: "firstTokenTimeoutS", section: "llm", key: "first_token_timeout_s", kind: "number" },
  { setting: "maxConcurrency", section: "llm", key: "max_concurrency", kind: "integer" },
  { setting: "trigger", section: "review", key: "trigger", kind: "trigger" },
  { setting: "idleMs", section: "review", key: "idle_ms", kind: "integer" },
  { setting: "budgetUsdPerDay", section: "review", key: "budget_usd_per_day", kind: "number" },
  { setting: "exclude", section: "review", key: "exclude", kind: "globs" },
  { setting: "neverSend", section: "review", key: "never_send", kind: "globs" },
  { setting: "offline", section: "review", key: "offline", kind: "boolean" },
  { setting: "models", section: "models", kind: "table" },
  { setting: "reviewers", section: "reviewers", kind: "table" },
];

/** Settings that are read by the extension itself and never forwarded. */
export const CLIENT_ONLY = ["path", "statsIntervalS", "trace.server"] as const;

/** Keys that look like secrets. They are never forwarded, whatever their value. */
const SECRET_KEY = /(^|[._])(api_?key|token|secret|password)s?$/i;

function coerce(kind: Kind, value: unknown): unknown {
  switch (kind) {
    case "string":
      return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
    case "url": {
      if (typeof value !== "string" || value.trim() === "") return undefined;
      const url = value.trim();
      return /^https?:\/\//i.test(url) ? url : undefined;
    }
    case "trigger":
      return value === "save" || value === "idle" || value === "manual" ? value : undefined;
    case "number":
      return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
    case "integer":
      return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined;
    case "boolean":
      return typeof value === "boolean" ? value : undefined;
    case "globs":
      return Array.isArray(value) ? value.filter((g): g is string => typeof g === "string" && g !== "") : undefined;
    case "table":
      return isPlainObject(value) && Object.keys(value).length > 0 ? stripSecrets(value) : undefined;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Drops secret-looking keys at any depth (a key pasted into a model table). */
function stripSecrets(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEY.test(k) && k !== "api_key_env") continue;
    out[k] = isPlainObject(v) ? stripSecrets(v) : v;
  }
  return out;
}

/**
 * Builds the server settings from what the user set. Values of the wrong
 * type are dropped here rather than sent to fail the server's validation.
 */
export function toServerSettings(lookup: Lookup): ServerSettings {
  const out: ServerSettings = {};
  for (const m of MAPPINGS) {
    const value = coerce(m.kind, lookup(m.setting));
    if (value === undefined) continue;
    if (m.key === undefined) {
      out[m.section] = value as Record<string, unknown>;
    } else {
      (out[m.section] ??= {})[m.key] = value;
    }
  }
  return out;
}

/** The payload of workspace/didChangeConfiguration. */
export function didChangeConfigurationParams(lookup: Lookup): { settings: { redline: ServerSettings } } {
  return { settings: { redline: toServerSettings(lookup) } };
}

/** Setting names under `redline.` that users paste keys into; never read. */
export const SECRET_SETTINGS = ["apiKey", "api_key", "key", "token"] as const;

/**
 * The environment for the server process: the parent's, plus the API key
 * from SecretStorage under the variable named by the configuration
 * (`REDLINE_API_KEY` by default). The key travels nowhere else.
 */
export function serverEnvironment(
  parent: Readonly<Record<string, string | undefined>>,
  apiKey: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v !== undefined) env[k] = v;
  }
  if (apiKey !== undefined && apiKey !== "") env.REDLINE_API_KEY = apiKey;
  return env;
}
