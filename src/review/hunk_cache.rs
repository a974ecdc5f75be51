//! Incremental re-review. Per buffer, remembers which blocks of hunks (by
//! content hash, see [`Block::hash`]) the models reviewed and what they found
//! there, relative to the block's first line. A re-review sends only blocks
//! whose content changed; the others keep their findings, re-anchored to
//! where the block sits now. Only complete reviews are remembered, so a
//! block a failed reviewer never saw is sent again. No I/O.

use super::context::Block;
use super::finding::Finding;
use super::tier::Tier;
use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers remembered at most; the least recently reviewed is forgotten.
const MAX_BUFFERS: usize = 512;

#[derive(Debug, Clone)]
struct Remembered {
    /// Finding lines relative to the block's first shown line.
    offset: u32,
    span: u32,
    finding: Finding,
}

#[derive(Debug)]
struct BufferEntry {
    tier: Tier,
    blocks: HashMap<String, Vec<Remembered>>,
    used: u64,
}

#[derive(Debug, Default)]
pub struct HunkCache {
    inner: Mutex<(u64, HashMap<String, BufferEntry>)>,
}

/// Which blocks must be sent, and the findings kept for the others.
#[derive(Debug, Default)]
pub struct Reuse {
    /// Hashes of blocks that need a review.
    pub to_review: Vec<String>,
    /// Findings of unchanged blocks, re-anchored.
    pub findings: Vec<Finding>,
}

impl HunkCache {
    /// Splits `blocks` of buffer `key` into those to review and the findings
    /// kept for unchanged ones. A different tier than last time reviews all.
    pub fn reuse(&self, key: &str, tier: Tier, blocks: &[&Block]) -> Reuse {
        let guard = self.inner.lock().expect("hunk cache lock poisoned");
        let mut out = Reuse::default();
        let entry = guard.1.get(key).filter(|e| e.tier == tier);
        for block in blocks {
            match entry.and_then(|e| e.blocks.get(&block.hash)) {
                Some(remembered) => out.findings.extend(remembered.iter().map(|r| {
                    let mut f = r.finding.clone();
                    f.line = block.shown.start + r.offset;
                    f.end_line = f.line + r.span;
                    f
                })),
                None => out.to_review.push(block.hash.clone()),
            }
        }
        out
    }

    /// Remembers a complete review of buffer `key`: its current `blocks` and
    /// every model finding now published for them.
    pub fn store(&self, key: &str, tier: Tier, blocks: &[&Block], findings: &[Finding]) {
        let mut map: HashMap<String, Vec<Remembered>> = blocks
            .iter()
            .map(|b| (b.hash.clone(), Vec::new()))
            .collect();
        for f in findings {
            if let Some(b) = blocks
                .iter()
                .find(|b| b.path == f.path && b.covers(f.line, f.end_line))
            {
                let start = f.line.max(b.shown.start);
                map.entry(b.hash.clone()).or_default().push(Remembered {
                    offset: start - b.shown.start,
                    span: f.end_line.saturating_sub(start),
                    finding: f.clone(),
                });
            }
        }
        let mut guard = self.inner.lock().expect("hunk cache lock poisoned");
        guard.0 += 1;
        let used = guard.0;
        guard.1.insert(
            key.to_string(),
            BufferEntry {
                tier,
                blocks: map,
                used,
            },
        );
        if guard.1.len() > MAX_BUFFERS {
            if let Some(oldest) = guard
                .1
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            {
                guard.1.remove(&oldest);
            }
        }
    }

    /// Forgets buffer `key` (closed, or its base changed).
    pub fn forget(&self, key: &str) {
        self.inner
            .lock()
            .expect("hunk cache lock poisoned")
            .1
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::ChangeKind;
    use crate::review::changes::FileChange;
    use crate::review::context::file_view;
    use crate::review::finding::Severity;

    fn finding(line: u32) -> Finding {
        Finding {
            path: "a.rs".into(),
            line,
            end_line: line,
            column: 1,
            end_column: None,
            severity: Severity::Warning,
            reviewer: "quality".into(),
            rule: None,
            title: "t".into(),
            message: "m".into(),
            fingerprint: "f".into(),
            fix: None,
        }
    }

    #[test]
    fn unchanged_block_keeps_its_finding_at_its_new_place_and_edited_one_is_reviewed() {
        let old: String = (1..=60).map(|i| format!("l{i}\n")).collect();
        let v1 = old.replace("l10\n", "ten\n").replace("l40\n", "forty\n");
        let first = file_view(&FileChange::new(
            "a.rs",
            ChangeKind::Modified,
            old.clone(),
            v1.clone(),
        ));
        let cache = HunkCache::default();
        let blocks: Vec<&Block> = first.blocks.iter().collect();
        assert_eq!(cache.reuse("k", Tier::Lite, &blocks).to_review.len(), 2);
        cache.store("k", Tier::Lite, &blocks, &[finding(10), finding(40)]);

        // Two lines inserted at the top, and the second hunk edited again.
        let v2 = format!("new1\nnew2\n{}", v1.replace("forty\n", "FORTY\n"));
        let second = file_view(&FileChange::new("a.rs", ChangeKind::Modified, old, v2));
        let blocks: Vec<&Block> = second.blocks.iter().collect();
        let reuse = cache.reuse("k", Tier::Lite, &blocks);
        assert_eq!(
            reuse.to_review.len(),
            2,
            "the insertion is a new block, the edited hunk changed"
        );
        assert_eq!(reuse.findings.len(), 1);
        assert_eq!(reuse.findings[0].line, 12);

        assert_eq!(cache.reuse("k", Tier::Full, &blocks).findings.len(), 0);
        assert_eq!(cache.reuse("other", Tier::Lite, &blocks).findings.len(), 0);
    }
}
