import { strict as assert } from "node:assert";
import { test } from "node:test";
import { didChangeConfigurationParams, MAPPINGS, serverEnvironment, toServerSettings } from "../settings";

const from =
  (values: Record<string, unknown>) =>
  (key: string): unknown =>
    values[key];

test("settings the user did not set are not sent, so .redline.toml keeps its values", () => {
  assert.deepEqual(toServerSettings(from({})), {});
});

test("endpoint and model land in [llm] under the .redline.toml key names", () => {
  const s = toServerSettings(from({ endpoint: " http://127.0.0.1:11434/v1 ", model: "qwen3-coder" }));
  assert.deepEqual(s, { llm: { base_url: "http://127.0.0.1:11434/v1", model: "qwen3-coder" } });
});

test("review settings land in [review] with snake_case keys", () => {
  const s = toServerSettings(
    from({
      trigger: "idle",
      idleMs: 800,
      budgetUsdPerDay: 2.5,
      exclude: ["vendor/**"],
      neverSend: [".env", "**/*.pem"],
      offline: true,
    }),
  );
  assert.deepEqual(s, {
    review: {
      trigger: "idle",
      idle_ms: 800,
      budget_usd_per_day: 2.5,
      exclude: ["vendor/**"],
      never_send: [".env", "**/*.pem"],
      offline: true,
    },
  });
});

test("model and reviewer tables pass through as tables", () => {
  const models = { fast: { name: "deepseek-v4-flash", input_per_mtok: 0.27, fallback: "steady" }, steady: { name: "x" } };
  const s = toServerSettings(from({ models, reviewers: { security: "fast" } }));
  assert.deepEqual(s.models, models);
  assert.deepEqual(s.reviewers, { security: "fast" });
});

test("values of the wrong type are dropped instead of failing the server's validation", () => {
  const s = toServerSettings(
    from({ trigger: "sometimes", idleMs: -5, endpoint: "not a url", maxConcurrency: 1.5, offline: "yes", exclude: "x" }),
  );
  assert.deepEqual(s, {});
});

test("an empty endpoint means 'not set' rather than an empty URL", () => {
  assert.deepEqual(toServerSettings(from({ endpoint: "" , model: "  " })), {});
});

test("a key pasted into a model table is never forwarded", () => {
  const s = toServerSettings(from({ models: { fast: { name: "m", api_key: "sk-secret", apiKey: "sk-2" } } }));
  assert.deepEqual(s.models, { fast: { name: "m" } });
  assert.ok(!JSON.stringify(s).includes("sk-"));
});

test("didChangeConfiguration wraps the settings under `redline`", () => {
  assert.deepEqual(didChangeConfigurationParams(from({ trigger: "manual" })), {
    settings: { redline: { review: { trigger: "manual" } } },
  });
});

test("every contributed setting except the client-only ones is mapped", async () => {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const pkg = JSON.parse(await readFile(join(__dirname, "..", "..", "package.json"), "utf8"));
  const contributed = Object.keys(pkg.contributes.configuration.properties).map((k: string) => k.replace(/^redline\./, ""));
  const mapped = new Set(MAPPINGS.map((m) => m.setting));
  const unmapped = contributed.filter((k: string) => !mapped.has(k) && !["path", "statsIntervalS", "trace.server"].includes(k));
  assert.deepEqual(unmapped, []);
  for (const m of MAPPINGS) assert.ok(contributed.includes(m.setting), `redline.${m.setting} is not contributed`);
});

test("the API key reaches the server only as REDLINE_API_KEY in its environment", () => {
  const env = serverEnvironment({ PATH: "/usr/bin", HOME: undefined }, "sk-test");
  assert.equal(env.REDLINE_API_KEY, "sk-test");
  assert.equal(env.PATH, "/usr/bin");
  assert.ok(!("HOME" in env));
});

test("without a stored key the environment is the parent's, untouched", () => {
  assert.deepEqual(serverEnvironment({ PATH: "/bin", REDLINE_API_KEY: "from-shell" }, undefined), {
    PATH: "/bin",
    REDLINE_API_KEY: "from-shell",
  });
});
