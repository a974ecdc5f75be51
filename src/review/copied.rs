//! Tasks the project already had. A change that pastes a block holding a
//! TODO from elsewhere in the project (a workflow made from a template, a
//! test file split in three, a function duplicated) did not write that
//! task: the project carries it where the block came from. Nor did a
//! revert that brings a file's earlier text back. A built-in task finding
//! is dropped when its line and a line beside it, both added by the
//! change, already stand together in some file of the base revision; a
//! finding of any built-in code rule (a task, a print, a dangerous call)
//! when its line, saying enough to be told apart, stood in an earlier
//! version of the same file. Reads the base and its history through
//! `git`, only for such findings and within budgets; never drops a secret
//! or a model's finding.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{LazyLock, Mutex};

use super::changes::{ChangeSet, FileChange, Origin};
use super::finding::Finding;
use crate::git::Repo;

const TASK_RULE: &str = "todo-comment";
/// A pasted block is at least this many added lines in a row: a line or
/// two added beside existing code were typed, not copied.
const MIN_BLOCK: u32 = 3;
/// The task line and its neighbour together say at least this much (in
/// characters, trimmed): a bare `// TODO` above a `}` proves nothing.
const MIN_EVIDENCE: usize = 30;
/// Files over this size at the base are not read for a copy's source.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// At most this much of the base is read per review: a huge repository is
/// searched in part, never stalls a review.
const BUDGET: u64 = 128 << 20;
/// Answers kept across reviews (the language server asks again each time).
const CACHE_LIMIT: usize = 4096;
/// A line restored from the file's history says at least this much
/// (trimmed characters): `// TODO: remove` or `print(x)` typed again is a
/// new leftover.
const MIN_RESTORED: usize = 30;
/// How far back a revert is looked for: first-parent commits, and distinct
/// earlier versions of the file read.
const HISTORY_COMMITS: usize = 200;
const HISTORY_VERSIONS: usize = 24;

/// A task line as the change added it, with the non-blank lines around it
/// that the change added too (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Probe {
    task: String,
    before: Option<String>,
    after: Option<String>,
}

/// (base tree, probe): whether a file of the base holds the block.
type CopyKey = (git2::Oid, Probe);
/// (base commit, path, line): whether an earlier version of the file had it.
type HistoryKey = (git2::Oid, String, String);

static COPIED: LazyLock<Mutex<HashMap<CopyKey, bool>>> = LazyLock::new(Mutex::default);
static RESTORED: LazyLock<Mutex<HashMap<HistoryKey, bool>>> = LazyLock::new(Mutex::default);

/// Drops from `per_file` (one list per file of `changes`, in order) the
/// findings of what the project already had: tasks whose block the change
/// copied from a file of the base, lines a revert brought back.
pub fn drop_already_there(per_file: &mut [Vec<Finding>], changes: &ChangeSet) {
    let Some(origin) = &changes.origin else {
        return;
    };
    // Opened once per review, and only when some answer is not cached.
    let mut repo: Option<Option<Repo>> = None;
    drop_copied_tasks(per_file, changes, origin, &mut repo);
    drop_restored(per_file, changes, origin, &mut repo);
}

/// The repository of `origin`, opened the first time it is needed.
fn opened<'r>(repo: &'r mut Option<Option<Repo>>, origin: &Origin) -> Option<&'r Repo> {
    repo.get_or_insert_with(|| {
        Repo::discover(&origin.root)
            .map_err(|e| tracing::debug!("cannot reopen the repository: {e}"))
            .ok()
    })
    .as_ref()
}

/// Each key's answer: from `cache` when known, else from one call of
/// `compute` for all the unknown ones, which are then remembered (the cache
/// is emptied when it grows past its limit).
fn remembered<K: Clone + Eq + Hash>(
    cache: &Mutex<HashMap<K, bool>>,
    keys: &[K],
    compute: impl FnOnce(&[K]) -> Vec<bool>,
) -> Vec<bool> {
    let lock = || cache.lock().unwrap_or_else(|p| p.into_inner());
    let known: Vec<Option<bool>> = {
        let cache = lock();
        keys.iter().map(|k| cache.get(k).copied()).collect()
    };
    let open: Vec<K> = keys
        .iter()
        .zip(&known)
        .filter(|(_, answer)| answer.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    let mut fresh: HashMap<K, bool> = HashMap::new();
    if !open.is_empty() {
        let found = compute(&open);
        let mut cache = lock();
        if cache.len() > CACHE_LIMIT {
            cache.clear();
        }
        for (k, hit) in open.into_iter().zip(found) {
            cache.insert(k.clone(), hit);
            fresh.insert(k, hit);
        }
    }
    keys.iter()
        .zip(known)
        .map(|(k, answer)| answer.or_else(|| fresh.get(k).copied()).unwrap_or(false))
        .collect()
}

/// Removes the findings at `indexes` (positions in `found`).
fn remove_at(found: &mut Vec<Finding>, indexes: &HashSet<usize>, why: &str) {
    let mut i = 0;
    found.retain(|f| {
        let keep = !indexes.contains(&i);
        i += 1;
        if !keep {
            tracing::debug!(path = %f.path, line = f.line, "{why}; not reported");
        }
        keep
    });
}

/// Drops the task findings whose block the change copied from a file of
/// the base.
fn drop_copied_tasks(
    per_file: &mut [Vec<Finding>],
    changes: &ChangeSet,
    origin: &Origin,
    repo: &mut Option<Option<Repo>>,
) {
    let Some(tree) = origin.base.tree else {
        return;
    };
    // (file, finding) of each probe.
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut keys: Vec<CopyKey> = Vec::new();
    for (fi, (found, file)) in per_file.iter().zip(&changes.files).enumerate() {
        let mut lines = None;
        for (i, f) in found.iter().enumerate() {
            if f.rule.as_deref() == Some(TASK_RULE) {
                let lines = lines.get_or_insert_with(|| crate::diff::lines(&file.new_text));
                if let Some(probe) = probe(file, lines, f.line) {
                    at.push((fi, i));
                    keys.push((tree, probe));
                }
            }
        }
    }
    if keys.is_empty() {
        return;
    }
    let copied = remembered(&COPIED, &keys, |open| {
        let kinds: HashSet<String> = at
            .iter()
            .map(|(fi, _)| kind_of(&changes.files[*fi].path))
            .collect();
        let probes: Vec<Probe> = open.iter().map(|(_, p)| p.clone()).collect();
        match opened(repo, origin) {
            Some(repo) => search(repo, &origin.base, &kinds, &probes),
            None => vec![false; probes.len()],
        }
    });
    let mut gone: Vec<HashSet<usize>> = vec![HashSet::new(); per_file.len()];
    for ((fi, i), copied) in at.into_iter().zip(copied) {
        if copied {
            gone[fi].insert(i);
        }
    }
    for (found, gone) in per_file.iter_mut().zip(&gone) {
        remove_at(found, gone, "task copied with its code");
    }
}

/// Drops the findings of code rules (a task, a print, a dangerous call)
/// whose line an earlier version of the same file already held: a revert,
/// or a file's old text brought back. Secrets are judged by their value
/// elsewhere and always stay.
fn drop_restored(
    per_file: &mut [Vec<Finding>],
    changes: &ChangeSet,
    origin: &Origin,
    repo: &mut Option<Option<Repo>>,
) {
    let Some(commit) = origin.base.commit else {
        return;
    };
    for (found, file) in per_file.iter_mut().zip(&changes.files) {
        if !found.iter().any(restorable) {
            continue;
        }
        let lines = crate::diff::lines(&file.new_text);
        let (at, keys): (Vec<usize>, Vec<HistoryKey>) = found
            .iter()
            .enumerate()
            .filter(|(_, f)| restorable(f))
            .filter_map(|(i, f)| {
                let text = lines.get((f.line as usize).checked_sub(1)?)?.trim();
                (text.chars().count() >= MIN_RESTORED)
                    .then(|| (i, (commit, file.path.clone(), text.to_string())))
            })
            .unzip();
        if keys.is_empty() {
            continue;
        }
        let restored = remembered(&RESTORED, &keys, |open| {
            let Some(repo) = opened(repo, origin) else {
                return vec![false; open.len()];
            };
            let earlier = repo
                .earlier_versions(
                    &origin.base,
                    &file.path,
                    HISTORY_COMMITS,
                    HISTORY_VERSIONS,
                    MAX_FILE_BYTES,
                )
                .unwrap_or_else(|e| {
                    tracing::debug!("cannot read the history of {}: {e}", file.path);
                    Vec::new()
                });
            let old: HashSet<&str> = earlier
                .iter()
                .filter_map(|bytes| std::str::from_utf8(bytes).ok())
                .flat_map(str::lines)
                .map(str::trim)
                .collect();
            open.iter()
                .map(|(_, _, text)| old.contains(text.as_str()))
                .collect()
        });
        let gone: HashSet<usize> = at
            .into_iter()
            .zip(restored)
            .filter_map(|(i, restored)| restored.then_some(i))
            .collect();
        remove_at(found, &gone, "line restored from the file's history");
    }
}

/// Whether a finding is of a rule whose line a revert can bring back: the
/// built-in reviewer's code rules, not its secret rules (a key is reported
/// wherever it is added) nor a model's findings.
fn restorable(f: &Finding) -> bool {
    f.reviewer == super::builtin::REVIEWER
        && f.rule.as_deref().is_some_and(|r| {
            super::builtin::rule(r).is_some() && !super::builtin::is_secret_rule(r)
        })
}

/// The probe for a task on 1-based `line` (`lines`: the file's new text),
/// when it sits in a block the change added and says enough to be
/// recognised elsewhere.
fn probe(file: &FileChange, lines: &[&str], line: u32) -> Option<Probe> {
    let added = |n: u32| n >= 1 && (n as usize) <= lines.len() && file.diff.is_added(n);
    if !added(line) {
        return None;
    }
    let mut first = line;
    while added(first - 1) {
        first -= 1;
    }
    let mut last = line;
    while added(last + 1) {
        last += 1;
    }
    if last - first + 1 < MIN_BLOCK {
        return None;
    }
    let text = |n: u32| lines[n as usize - 1].trim();
    let task = text(line).to_string();
    let enough = |other: &str| task.chars().count() + other.chars().count() >= MIN_EVIDENCE;
    let before = (first..line)
        .rev()
        .map(text)
        .find(|t| !t.is_empty())
        .filter(|t| enough(t))
        .map(str::to_string);
    let after = (line + 1..=last)
        .map(text)
        .find(|t| !t.is_empty())
        .filter(|t| enough(t))
        .map(str::to_string);
    (before.is_some() || after.is_some()).then_some(Probe {
        task,
        before,
        after,
    })
}

/// What a copy's source looks like: the file's extension, or its name when
/// it has none (`Makefile`).
fn kind_of(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!(".{}", ext.to_ascii_lowercase()),
        _ => name.to_string(),
    }
}

/// For each probe, whether a file of `base` of one of `kinds` holds its
/// task line next to one of its neighbours.
fn search(
    repo: &Repo,
    base: &crate::git::Base,
    kinds: &HashSet<String>,
    probes: &[Probe],
) -> Vec<bool> {
    let mut hit = vec![false; probes.len()];
    let finders: Vec<memchr::memmem::Finder<'_>> = probes
        .iter()
        .map(|p| memchr::memmem::Finder::new(p.task.as_bytes()))
        .collect();
    let result = repo.for_each_base_file(
        base,
        |path| kinds.contains(&kind_of(path)),
        MAX_FILE_BYTES,
        BUDGET,
        |_, bytes| {
            let mut text: Option<Vec<&str>> = None;
            for (i, p) in probes.iter().enumerate() {
                if hit[i] || finders[i].find(bytes).is_none() {
                    continue;
                }
                let Ok(s) = std::str::from_utf8(bytes) else {
                    continue;
                };
                let kept = text.get_or_insert_with(|| {
                    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
                });
                hit[i] = stands_together(kept, p);
            }
            hit.iter().any(|h| !h)
        },
    );
    if let Err(e) = result {
        tracing::debug!("cannot read the base to look for copied tasks: {e}");
    }
    hit
}

/// Whether `lines` (non-blank, trimmed) hold the probe's task with its
/// line before or after it.
fn stands_together(lines: &[&str], p: &Probe) -> bool {
    lines.iter().enumerate().any(|(i, l)| {
        *l == p.task
            && (p
                .before
                .as_deref()
                .is_some_and(|b| i > 0 && lines[i - 1] == b)
                || p.after
                    .as_deref()
                    .is_some_and(|a| lines.get(i + 1) == Some(&a)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::ChangeKind;

    fn change(old: &str, new: &str) -> FileChange {
        FileChange::new("src/b.py", ChangeKind::Modified, old.into(), new.into())
    }

    #[test]
    fn a_task_inside_a_pasted_block_is_probed_with_its_neighbours() {
        let file = change(
            "x = 1\n",
            "x = 1\ndef load(path):\n    # TODO: cache the parsed file\n    return parse(path)\n",
        );
        let p = probe(&file, &crate::diff::lines(&file.new_text), 3).expect("a three-line block");
        assert_eq!(p.task, "# TODO: cache the parsed file");
        assert_eq!(p.before.as_deref(), Some("def load(path):"));
        assert_eq!(p.after.as_deref(), Some("return parse(path)"));
    }

    #[test]
    fn a_task_typed_beside_existing_code_is_not_probed() {
        let file = change(
            "def load(path):\n    return parse(path)\n",
            "def load(path):\n    # TODO: cache the parsed file\n    return parse(path)\n",
        );
        assert_eq!(probe(&file, &crate::diff::lines(&file.new_text), 2), None);
    }

    #[test]
    fn a_bare_task_beside_a_brace_says_too_little_to_be_a_copy() {
        let file = change("", "{\n// TODO\n}\n");
        assert_eq!(probe(&file, &crate::diff::lines(&file.new_text), 2), None);
    }

    #[test]
    fn the_copy_must_keep_the_task_beside_the_same_line() {
        let p = Probe {
            task: "# TODO: cache the parsed file".into(),
            before: Some("def load(path):".into()),
            after: None,
        };
        assert!(stands_together(
            &["def load(path):", "# TODO: cache the parsed file"],
            &p
        ));
        assert!(!stands_together(
            &["def save(path):", "# TODO: cache the parsed file"],
            &p
        ));
    }

    #[test]
    fn answers_are_computed_once_for_the_unknown_keys_and_remembered() {
        let cache: Mutex<HashMap<u32, bool>> = Mutex::default();
        let asked = std::cell::RefCell::new(Vec::new());
        let even = |keys: &[u32]| {
            asked.borrow_mut().push(keys.to_vec());
            keys.iter().map(|k| k % 2 == 0).collect()
        };
        assert_eq!(remembered(&cache, &[1, 2], even), vec![false, true]);
        assert_eq!(
            remembered(&cache, &[2, 3, 1], even),
            vec![true, false, false]
        );
        assert_eq!(*asked.borrow(), vec![vec![1, 2], vec![3]]);
    }

    #[test]
    fn kinds_are_extensions_or_names() {
        assert_eq!(kind_of("a/b/ci.YML"), ".yml");
        assert_eq!(kind_of("Makefile"), "Makefile");
        assert_eq!(kind_of(".github/.env"), ".env");
    }
}
