import { strict as assert } from "node:assert";
import { test } from "node:test";
import { computeStatus, formatCost, parseStats } from "../status";

const base = { requests: 3, cached_requests: 1, prompt_tokens: 100, completion_tokens: 20, cost_usd: 0.5, cost_today_usd: 1.234, circuits: { fast: "closed" }, offline: false };

test("idle shows today's cost", () => {
  const s = computeStatus(base, undefined, true);
  assert.equal(s.state, "idle");
  assert.match(s.text, /\$1\.23/);
  assert.match(s.tooltip, /3 \(1 cached\)/);
});

test("a review in flight shows reviewing with the progress message", () => {
  const s = computeStatus(base, "waiting for model… 12 s", true);
  assert.equal(s.state, "reviewing");
  assert.match(s.tooltip, /waiting for model… 12 s/);
});

test("an open circuit is shown and named", () => {
  const s = computeStatus({ ...base, circuits: { fast: "open", steady: "closed" } }, undefined, true);
  assert.equal(s.state, "circuit_open");
  assert.match(s.tooltip, /Circuit open for fast/);
});

test("a half-open circuit or a degraded reviewer shows degraded", () => {
  assert.equal(computeStatus({ ...base, circuits: { fast: "half_open" } }, undefined, true).state, "degraded");
  assert.equal(computeStatus({ ...base, degraded: [{ reviewer: "docs" }] }, undefined, true).state, "degraded");
});

test("offline mode is shown as such", () => {
  assert.equal(computeStatus({ ...base, offline: true }, undefined, true).state, "offline");
});

test("a stopped server says how to restart it", () => {
  const s = computeStatus(base, undefined, false);
  assert.equal(s.state, "stopped");
  assert.match(s.tooltip, /Restart server/);
});

test("a team budget shows the team's spend against it", () => {
  const s = computeStatus({ ...base, team: { redis: "up", budget_usd_per_day: 20, spent_today_usd: 12.5 } }, undefined, true);
  assert.match(s.text, /team \$12\.50\/\$20\.00/);
  assert.match(s.tooltip, /Team today: \$12\.50 of \$20\.00/);
  assert.match(s.tooltip, /shared through Redis/);
});

test("an unreachable Redis is said in the tooltip; the local cost stays in the text", () => {
  const s = computeStatus({ ...base, team: { redis: "down", budget_usd_per_day: null, spent_today_usd: null } }, undefined, true);
  assert.match(s.text, /\$1\.23/);
  assert.match(s.tooltip, /Redis unreachable/);
});

test("costs below a cent keep three decimals", () => {
  assert.equal(formatCost(0.0042), "$0.004");
  assert.equal(formatCost(0), "$0.00");
  assert.equal(formatCost(12.5), "$12.50");
});

test("stats arrive as an object or a JSON string; anything else is no stats", () => {
  assert.deepEqual(parseStats('{"requests":1}'), { requests: 1 });
  assert.deepEqual(parseStats({ requests: 2 }), { requests: 2 });
  assert.equal(parseStats("nope"), undefined);
  assert.equal(parseStats(null), undefined);
});
