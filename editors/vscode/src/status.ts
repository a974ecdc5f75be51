// What the status-bar item says, computed from the server's `redline.stats`
// answer and the review progress. Pure: no `vscode` import, so it is tested
// under node's test runner.

/** The answer of `workspace/executeCommand` `redline.stats` (fields optional: older servers). */
export interface Stats {
  requests?: number;
  cached_requests?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  cost_usd?: number;
  cost_today_usd?: number;
  circuits?: Record<string, string>;
  offline?: boolean;
  degraded?: unknown;
  /** Present when the team shares state through Redis (`cache.redis_url`). */
  team?: TeamStats;
}

export interface TeamStats {
  /** `up`, or `down` while this server runs on its local state. */
  redis?: string;
  budget_usd_per_day?: number | null;
  spent_today_usd?: number | null;
}

export type State = "starting" | "idle" | "reviewing" | "degraded" | "circuit_open" | "offline" | "stopped";

export interface Status {
  state: State;
  /** Status-bar text, with a codicon. */
  text: string;
  tooltip: string;
}

const ICONS: Record<State, string> = {
  starting: "$(loading~spin)",
  idle: "$(check)",
  reviewing: "$(sync~spin)",
  degraded: "$(warning)",
  circuit_open: "$(error)",
  offline: "$(circle-slash)",
  stopped: "$(debug-disconnect)",
};

/** Dollars as the status bar shows them: cents, or tenths of a cent below one cent. */
export function formatCost(usd: number): string {
  if (!Number.isFinite(usd) || usd <= 0) return "$0.00";
  if (usd < 0.01) return `$${usd.toFixed(3)}`;
  return `$${usd.toFixed(2)}`;
}

function isDegraded(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "number") return value > 0;
  return value === true;
}

/**
 * The state to show. Progress wins (a review in flight is what the user
 * waits for), then the worst circuit, then degradation, then offline mode.
 */
export function computeStatus(stats: Stats | undefined, reviewing: string | undefined, running: boolean): Status {
  const circuits = Object.entries(stats?.circuits ?? {});
  const open = circuits.filter(([, s]) => s === "open").map(([m]) => m);
  const halfOpen = circuits.filter(([, s]) => s === "half_open").map(([m]) => m);
  const cost = stats?.cost_today_usd ?? stats?.cost_usd;
  const team = stats?.team;
  const teamBudget = team?.budget_usd_per_day ?? undefined;
  const teamSpent = team?.spent_today_usd ?? undefined;
  // With a team budget, the team's spend against it is the number to watch.
  const costText =
    teamBudget !== undefined && teamSpent !== undefined
      ? ` team ${formatCost(teamSpent)}/${formatCost(teamBudget)}`
      : cost === undefined
        ? ""
        : ` ${formatCost(cost)}`;

  let state: State;
  let detail: string;
  if (!running) {
    state = "stopped";
    detail = "The redline server is not running. Run “redline: Restart server”.";
  } else if (reviewing !== undefined) {
    state = "reviewing";
    detail = reviewing === "" ? "Reviewing…" : reviewing;
  } else if (stats === undefined) {
    state = "starting";
    detail = "Waiting for the redline server.";
  } else if (open.length > 0) {
    state = "circuit_open";
    detail = `Circuit open for ${open.join(", ")}: requests fail over or wait for the cooldown.`;
  } else if (halfOpen.length > 0 || isDegraded(stats.degraded)) {
    state = "degraded";
    detail =
      halfOpen.length > 0
        ? `Probing ${halfOpen.join(", ")} after failures.`
        : "A reviewer could not run in the last review.";
  } else if (stats.offline === true) {
    state = "offline";
    detail = "Offline: built-in rules only (no endpoint configured, or offline mode).";
  } else {
    state = "idle";
    detail = "Idle.";
  }

  const lines = [`redline: ${detail}`];
  if (stats !== undefined) {
    lines.push(
      `Today: ${formatCost(stats.cost_today_usd ?? 0)} · session: ${formatCost(stats.cost_usd ?? 0)}`,
      `Requests: ${stats.requests ?? 0} (${stats.cached_requests ?? 0} cached) · tokens: ${stats.prompt_tokens ?? 0} in, ${stats.completion_tokens ?? 0} out`,
    );
    for (const [model, s] of circuits) lines.push(`Circuit ${model}: ${s}`);
    if (team !== undefined) {
      lines.push(
        team.redis === "up"
          ? "Team: circuits and spend shared through Redis"
          : "Team: Redis unreachable; using this machine's circuits, budget and cache",
      );
      if (teamBudget !== undefined && teamSpent !== undefined) {
        lines.push(`Team today: ${formatCost(teamSpent)} of ${formatCost(teamBudget)}`);
      }
    }
  }
  return {
    state,
    text: `${ICONS[state]} redline${state === "reviewing" ? "" : costText}`,
    tooltip: lines.join("\n"),
  };
}

/** Accepts what a server returned for `redline.stats`; anything else is no stats. */
export function parseStats(value: unknown): Stats | undefined {
  if (typeof value === "string") {
    try {
      return parseStats(JSON.parse(value));
    } catch {
      return undefined;
    }
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Stats) : undefined;
}
