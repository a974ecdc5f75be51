#!/usr/bin/env python3
"""Labelled replay of real history through `redline check --offline`.

Measures the built-in reviewer's precision on public repositories (issue 11):
each of the N most recent first-parent, non-merge commits C of a repository is
checked out in one scratch worktree and reviewed with
`redline check --offline --base C^ --format json`. Findings are joined with a
labels file (right/wrong plus a reason) keyed by what survives rule changes:
(repo, commit, path, rule, normalised line text).

Data stays outside the repository: findings hold the fetched projects' code
lines, so runs and labels live under --data
(default /work/shared/replay); the scratch worktrees go to --scratch
(default /tmp/redline-replay), outside shared/. Nothing is committed but this
script.

    scripts/replay.py run    --binary B --run NAME [-n N] [--set S] [REPO ...]
    scripts/replay.py report --run NAME [--run OTHER ...]
    scripts/replay.py show   --run NAME [--repo R] [--all]   # unlabelled findings
    scripts/replay.py label  FILE   # lines: ID <TAB> right|wrong <TAB> reason
    scripts/replay.py lost   --run NAME [--repo R] [--wrong]

REPO is owner/name; its bare mirror is /work/.mirror/owner+name/repo.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Repositories tuned on (their wrong findings inform the rules) and held out
# (reported only). Never tune on the reporting set.
TUNING = ["httpie/cli", "expressjs/express", "BurntSushi/ripgrep"]
REPORTING = ["pallets/flask", "axios/axios", "sharkdp/bat", "spf13/cobra"]
# Each later set was held out until its report, then tuned on: a figure is
# held out only for the binary that was final when the set was labelled.
SETS = {
    "tuning": TUNING,
    "reporting": REPORTING,
    "fresh": ["encode/httpx", "sindresorhus/got", "sharkdp/fd", "gin-gonic/gin"],
    "unseen2": ["pypa/pip", "vitejs/vite", "clap-rs/clap", "junegunn/fzf"],
    "unseen3": ["psf/black", "eslint/eslint", "tokio-rs/axum",
                "charmbracelet/bubbletea"],
    "unseen4": ["python-poetry/poetry", "prettier/prettier", "serde-rs/serde",
                "go-task/task"],
}
DEFAULT_COMMITS = 1000
CONTEXT = 3

MIRRORS = Path(os.environ.get("REPLAY_MIRRORS", "/work/.mirror"))


def mirror(repo: str) -> Path:
    return MIRRORS / repo.replace("/", "+") / "repo"


def git(gitdir: Path | str, *args: str, cwd: Path | None = None) -> str:
    cmd = ["git"]
    if cwd is None:
        cmd += ["--git-dir", str(gitdir)]
    out = subprocess.run(
        cmd + list(args), cwd=cwd, check=True, capture_output=True, text=True,
        errors="replace",
    )
    return out.stdout


def norm(text: str) -> str:
    """Line text with whitespace collapsed: a re-indent keeps its label."""
    return re.sub(r"\s+", " ", text).strip()


def key_of(f: dict) -> tuple:
    return (f["repo"], f["commit"], f["path"], f["rule"], norm(f["text"]))


def site_of(f: dict) -> tuple:
    """Where a finding points, whatever rule reported it (for "right kept")."""
    return (f["repo"], f["commit"], f["path"], norm(f["text"]))


def short_id(key: tuple) -> str:
    return hashlib.sha1("\x1f".join(key).encode()).hexdigest()[:10]


# ---------------------------------------------------------------- run


def commits_for(repo: str, n: int, data: Path) -> list[str]:
    """The replayed commits, pinned on first use so every run sees the same."""
    pin = data / "commits" / (repo.replace("/", "+") + f".{n}.txt")
    if pin.exists():
        return pin.read_text().split()
    out = git(mirror(repo), "rev-list", "--first-parent", "--no-merges",
              "--min-parents=1", "--max-parents=1", f"-n{n}", "HEAD")
    commits = out.split()
    pin.parent.mkdir(parents=True, exist_ok=True)
    pin.write_text("\n".join(commits) + "\n")
    return commits


def scratch_worktree(repo: str, scratch: Path) -> Path:
    wt = scratch / repo.replace("/", "+")
    if not (wt / ".git").exists():
        wt.parent.mkdir(parents=True, exist_ok=True)
        git(mirror(repo), "worktree", "prune")
        git(mirror(repo), "worktree", "add", "--detach", "-f", str(wt), "HEAD")
    return wt


def context_lines(wt: Path, path: str, line: int) -> tuple[str, list[str]]:
    try:
        lines = (wt / path).read_text(errors="replace").splitlines()
    except OSError:
        return "", []
    i = line - 1
    text = lines[i] if 0 <= i < len(lines) else ""
    lo, hi = max(0, i - CONTEXT), min(len(lines), i + CONTEXT + 1)
    return text, [f"{j + 1}: {lines[j][:300]}" for j in range(lo, hi)]


def checkout(wt: Path, commit: str) -> str | None:
    """Puts `commit` in the scratch worktree; the last error if it cannot."""
    problem = None
    for attempt in range(3):
        try:
            git(None, "checkout", "--detach", "-f", "-q", commit, cwd=wt)
            git(None, "clean", "-ffdxq", cwd=wt)
            return None
        except subprocess.CalledProcessError as e:
            problem = (e.stderr or "").strip()[:300]
            time.sleep(0.5 * (attempt + 1))
    return problem


def run_repo(repo: str, binary: Path, n: int, data: Path, scratch: Path,
             out: Path) -> dict:
    commits = commits_for(repo, n, data)
    wt = scratch_worktree(repo, scratch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDLINE_")}
    env["REDLINE_OFFLINE"] = "1"
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="replay-xdg-")
    env["HOME"] = env["XDG_CONFIG_HOME"]
    errors, findings, started = [], [], time.monotonic()
    parents = {}
    for line in git(mirror(repo), "rev-list", "--no-walk", "--parents",
                    *commits).splitlines():
        sha, *ps = line.split()
        parents[sha] = ps
    skipped = [c for c in commits if not parents.get(c)]
    for i, c in enumerate(commits):
        if c in skipped:  # a root commit has no C^ to review against
            continue
        problem = checkout(wt, c)
        if problem:
            errors.append({"commit": c, "error": f"checkout: {problem}"})
            continue
        try:
            p = subprocess.run(
                [str(binary), "check", "--offline", "--base", f"{c}^",
                 "--format", "json", "--fail-on", "never"],
                cwd=wt, env=env, capture_output=True, text=True, timeout=120,
            )
        except subprocess.TimeoutExpired:
            errors.append({"commit": c, "error": "timeout after 120 s"})
            continue
        if p.returncode not in (0, 1):
            errors.append({"commit": c, "error": p.stderr.strip()[:500]})
            continue
        try:
            report = json.loads(p.stdout)
        except json.JSONDecodeError as e:
            errors.append({"commit": c, "error": f"bad json: {e}"})
            continue
        for d in report.get("degraded") or []:
            errors.append({"commit": c, "error": f"degraded: {d}"})
        for f in report.get("findings", []):
            text, ctx = context_lines(wt, f["path"], f["line"])
            findings.append({
                "repo": repo, "commit": c, "path": f["path"], "line": f["line"],
                "rule": f.get("rule") or f.get("reviewer", "?"),
                "severity": f["severity"], "title": f.get("title", ""),
                "text": text, "context": ctx,
            })
        if (i + 1) % 100 == 0:
            print(f"  {repo}: {i + 1}/{len(commits)} commits, "
                  f"{len(findings)} findings", file=sys.stderr)
    seconds = time.monotonic() - started
    result = {
        "repo": repo, "binary": str(binary), "commits": commits,
        "seconds": round(seconds, 1), "errors": errors, "skipped": skipped,
        "findings": findings,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{repo}: {len(commits)} commits in {seconds:.0f} s, "
          f"{len(findings)} findings, {len(errors)} errors", file=sys.stderr)
    return result


def cmd_run(a: argparse.Namespace) -> int:
    repos = a.repos or (SETS[a.set] if a.set else TUNING + REPORTING)
    binary = Path(a.binary).resolve()
    for repo in repos:
        if not mirror(repo).exists():
            print(f"{repo}: no mirror at {mirror(repo)}; fetch it first",
                  file=sys.stderr)
            return 2
        run_repo(repo, binary, a.n, a.data, a.scratch,
                 a.data / "runs" / a.run / (repo.replace("/", "+") + ".json"))
    return 0


# ---------------------------------------------------------------- labels


def load_labels(data: Path) -> dict[tuple, dict]:
    labels: dict[tuple, dict] = {}
    path = data / "labels.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                labels[(rec["repo"], rec["commit"], rec["path"], rec["rule"],
                        rec["text"])] = rec
    return labels


def load_run(data: Path, run: str) -> list[dict]:
    d = data / "runs" / run
    if not d.is_dir():
        raise SystemExit(f"no run {run!r} under {d}")
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))]


def removed_lines(repo: str, commit: str, cache: dict) -> dict:
    """Per new path: the change's removed lines, and the file's old path when
    git sees a rename or copy. A labelling aid: a finding whose line was only
    moved, reformatted or renamed shows the line it replaced."""
    if (repo, commit) in cache:
        return cache[(repo, commit)]
    out = git(mirror(repo), "diff", "-M", "-C", "--unified=0", "--no-color",
              f"{commit}^", commit)
    files: dict[str, dict] = {}
    old = new = None
    removed: list[str] = []
    for line in out.splitlines():
        if line.startswith("--- "):
            old = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("+++ "):
            new = line[6:] if line.startswith("+++ b/") else None
            removed = []
            # A deleted file's lines still count: its code may have moved.
            files[new or f"(deleted) {old}"] = {"old": old, "removed": removed}
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
    cache[(repo, commit)] = files
    return files


def similar_removed(f: dict, files: dict) -> list[str]:
    text = norm(f["text"])
    pool = [(p, r) for p, d in files.items() for r in d["removed"]]
    scored = []
    for p, r in pool:
        ratio = difflib.SequenceMatcher(None, text, norm(r)).ratio()
        if ratio >= 0.6:
            scored.append((ratio, p, r))
    scored.sort(reverse=True)
    return [f"{ratio:.2f} {p}: {r.strip()[:200]}" for ratio, p, r in scored[:3]]


def cmd_show(a: argparse.Namespace) -> int:
    labels = load_labels(a.data)
    diffs: dict = {}
    for result in load_run(a.data, a.run):
        if a.repo and result["repo"] != a.repo:
            continue
        for f in result["findings"]:
            k = key_of(f)
            lab = labels.get(k)
            if lab and not a.all:
                continue
            print(f"=== {short_id(k)} {f['repo']} {f['commit'][:10]} "
                  f"{f['path']}:{f['line']} [{f['rule']}] {f['severity']}"
                  + (f"  LABEL {lab['label']}: {lab['reason']}" if lab else ""))
            files = removed_lines(f["repo"], f["commit"], diffs)
            print("   commit: " + git(mirror(f["repo"]), "log", "-1",
                                      "--format=%s", f["commit"]).strip()[:120])
            meta = files.get(f["path"], {})
            if meta.get("old") and meta["old"] != f["path"]:
                print(f"   (renamed or copied from {meta['old']})")
            for c in f["context"]:
                print("   " + c)
            for r in similar_removed(f, files):
                print("   removed~ " + r)
    return 0


def cmd_label(a: argparse.Namespace) -> int:
    """Merges `ID<TAB>right|wrong<TAB>reason` lines into labels.jsonl.

    IDs are resolved against every run's findings, so a label is stored with
    its full key (and the finding's line text) and survives rule edits.
    """
    by_id: dict[str, dict] = {}
    runs = a.data / "runs"
    for p in runs.glob("*/*.json"):
        for f in json.loads(p.read_text())["findings"]:
            by_id[short_id(key_of(f))] = f
    labels = load_labels(a.data)
    added = 0
    for n, line in enumerate(Path(a.file).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in ("right", "wrong"):
            print(f"{a.file}:{n}: expected ID<TAB>right|wrong<TAB>reason",
                  file=sys.stderr)
            return 2
        fid, verdict, reason = parts
        f = by_id.get(fid.strip())
        if f is None:
            print(f"{a.file}:{n}: no finding with id {fid}", file=sys.stderr)
            return 2
        k = key_of(f)
        labels[k] = {"repo": k[0], "commit": k[1], "path": k[2], "rule": k[3],
                     "text": k[4], "label": verdict, "reason": reason.strip()}
        added += 1
    path = a.data / "labels.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in labels.values()))
    tmp.replace(path)
    print(f"{added} labels merged, {len(labels)} in {path}", file=sys.stderr)
    return 0


def cmd_lost(a: argparse.Namespace) -> int:
    """Right findings a run no longer reports, and wrong ones it still does."""
    labels = load_labels(a.data)
    for result in load_run(a.data, a.run):
        repo = result["repo"]
        if a.repo and repo != a.repo:
            continue
        commits = set(result["commits"])
        sites = {site_of(f) for f in result["findings"]}
        for r in labels.values():
            site = (r["repo"], r["commit"], r["path"], r["text"])
            if (r["label"] == "right" and r["repo"] == repo
                    and r["commit"] in commits and site not in sites):
                print(f"LOST  {repo} {r['commit'][:10]} {r['path']} "
                      f"[{r['rule']}] {r['reason']}: {r['text'][:100]}")
        if a.wrong:
            for f in result["findings"]:
                lab = labels.get(key_of(f))
                if lab and lab["label"] == "wrong":
                    print(f"WRONG {repo} {f['commit'][:10]} {f['path']}:{f['line']} "
                          f"[{f['rule']}] {lab['reason']}: {norm(f['text'])[:100]}")
    return 0


# ---------------------------------------------------------------- report


def tally(result: dict, labels: dict[tuple, dict]) -> dict:
    commits = set(result["commits"])
    repo = result["repo"]
    t = {"commits": len(commits), "findings": 0, "right": 0, "wrong": 0,
         "unlabelled": 0, "errors": len(result["errors"]),
         "seconds": result["seconds"]}
    sites = set()
    for f in result["findings"]:
        t["findings"] += 1
        sites.add(site_of(f))
        lab = labels.get(key_of(f))
        t[lab["label"] if lab else "unlabelled"] += 1
    # Every right finding ever labelled in these commits, by site: a rule
    # renamed or split still keeps the finding if it reports the same line.
    right_sites = {(r["repo"], r["commit"], r["path"], r["text"])
                   for r in labels.values()
                   if r["label"] == "right" and r["repo"] == repo
                   and r["commit"] in commits}
    t["right_all"] = len(right_sites)
    t["right_kept"] = len(right_sites & sites)
    return t


def pct(num: int, den: int) -> str:
    return f"{100 * num / den:5.1f}%" if den else "    -"


def cmd_report(a: argparse.Namespace) -> int:
    labels = load_labels(a.data)
    head = (f"{'run':<10} {'set':<9} {'repo':<20} {'commits':>7} {'find':>5} "
            f"{'right':>5} {'wrong':>5} {'unlab':>5} {'prec':>6} "
            f"{'kept':>9} {'err':>4} {'secs':>6}")
    print(head)
    print("-" * len(head))
    for run in a.run:
        results = {r["repo"]: r for r in load_run(a.data, run)}
        for group, repos in SETS.items():
            total = {}
            for repo in repos:
                if repo not in results:
                    continue
                t = tally(results[repo], labels)
                for k, v in t.items():
                    total[k] = total.get(k, 0) + v
                print(row(run, group, repo, t))
            if total:
                print(row(run, group, "ALL " + group, total))
        print()
        if a.reasons:
            print_reasons(results, labels)
    return 0


def print_reasons(results: dict, labels: dict[tuple, dict]) -> None:
    """The most common reasons of the wrong findings, per set and rule."""
    for group, repos in SETS.items():
        counts: dict[tuple, int] = {}
        for repo in repos:
            for f in results.get(repo, {}).get("findings", []):
                lab = labels.get(key_of(f))
                if lab and lab["label"] == "wrong":
                    k = (f["rule"], lab["reason"])
                    counts[k] = counts.get(k, 0) + 1
        if counts:
            print(f"  wrong findings by reason ({group}):")
            for (rule, reason), n in sorted(counts.items(), key=lambda x: -x[1]):
                print(f"    {n:4}  {rule:<22} {reason}")
    print()


def row(run: str, group: str, repo: str, t: dict) -> str:
    kept = f"{t['right_kept']}/{t['right_all']}"
    return (f"{run:<10} {group:<9} {repo:<20} {t['commits']:>7} "
            f"{t['findings']:>5} {t['right']:>5} {t['wrong']:>5} "
            f"{t['unlabelled']:>5} {pct(t['right'], t['right'] + t['wrong']):>6} "
            f"{kept:>9} {t['errors']:>4} {t['seconds']:>6.0f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("/work/shared/replay"),
                   help="where runs and labels live")
    p.add_argument("--scratch", type=Path, default=Path("/tmp/redline-replay"),
                   help="where the scratch worktrees (one per repository) go")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="replay commits through a redline binary")
    r.add_argument("--binary", required=True)
    r.add_argument("--run", required=True, help="name of this run")
    r.add_argument("-n", type=int, default=DEFAULT_COMMITS,
                   help="recent first-parent non-merge commits per repository")
    r.add_argument("--set", choices=sorted(SETS),
                   help="replay one set of repositories (default: tuning+reporting)")
    r.add_argument("repos", nargs="*", help="owner/name (default: all)")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("show", help="print findings with context")
    s.add_argument("--run", required=True)
    s.add_argument("--repo")
    s.add_argument("--all", action="store_true", help="labelled ones too")
    s.set_defaults(fn=cmd_show)
    lb = sub.add_parser("label", help="merge ID<TAB>verdict<TAB>reason lines")
    lb.add_argument("file")
    lb.set_defaults(fn=cmd_label)
    lo = sub.add_parser("lost", help="right findings a run lost")
    lo.add_argument("--run", required=True)
    lo.add_argument("--repo")
    lo.add_argument("--wrong", action="store_true",
                    help="also list the wrong findings it still reports")
    lo.set_defaults(fn=cmd_lost)
    rp = sub.add_parser("report", help="precision and right kept per repo")
    rp.add_argument("--run", action="append", required=True)
    rp.add_argument("--reasons", action="store_true",
                    help="also list the wrong findings' reasons by count")
    rp.set_defaults(fn=cmd_report)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
