//! Only what a change introduces. A rule's hit on an added line is old news
//! when the change removed a line with the same hit somewhere in the review:
//! the line was re-indented or reformatted (same text once whitespace, quote
//! style and trailing commas are set aside), had a name changed (same tokens
//! but for one renamed identifier, in the same file), moved within the
//! file or to another file of the review, was re-wrapped inside its hunk
//! (the statement's text is still in what the hunk removed), was a task
//! comment reworded or moved (most of its words still there), or was edited
//! in place (the same construct, a line or three from where the hunk
//! removed it: a reworded TODO, a print given a guard). Each removed
//! hit answers for one added hit only, so a change that adds a second
//! `print(x)` beside a moved one still reports one.
//!
//! Secrets are judged by value only: one the change removed from some line
//! (re-quoted, re-indented, moved) was committed before and is not news;
//! any other is reported wherever it is added, however often. Knows nothing
//! about findings or policy; it keeps or drops hits.

use super::site::Comments;
use super::{compiled, Place, RULES};
use crate::review::changes::FileChange;

/// A rule's match on one added line: rule index, 1-based line, byte span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub rule: usize,
    pub line: u32,
    pub start: usize,
    pub end: usize,
}

/// A rule's match on a removed line of some file of the review.
#[derive(Debug)]
struct Removed {
    path: String,
    hunk: usize,
    /// Line within its hunk's removed lines (0-based).
    at: u32,
    rule: usize,
    construct: String,
    exact: String,
    tokens: Vec<Token>,
    /// The words of the text from the match on (what a TODO says).
    words: Vec<String>,
    /// The call from the match through its closing bracket, normalised.
    call: String,
    used: bool,
}

/// What the review's changes removed, as rule hits.
#[derive(Debug, Default)]
pub struct Baseline {
    removed: Vec<Removed>,
    /// Every removed line (up to 4,000 bytes): where a secret the change
    /// adds may already have stood.
    lines: Vec<String>,
}

/// Hits matched in each pass before this one are not considered again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Exact,
    Renamed,
    SameCall,
    Reworded,
    Rewrapped,
    EditedInPlace,
}

impl Baseline {
    /// The hits of every removed line of `files` (every non-secret rule
    /// that applies to the file, comment lines left out for rules about
    /// code).
    pub fn of(files: &[FileChange]) -> Self {
        let mut removed = Vec::new();
        let mut removed_lines = Vec::new();
        for file in files {
            if file.diff.hunks.iter().all(|h| h.old.is_empty()) {
                continue;
            }
            let old = crate::diff::lines(&file.old_text);
            let comments = Comments::of(&file.path);
            for (hunk, h) in file.diff.hunks.iter().enumerate() {
                for line_no in h.old.clone() {
                    let Some(text) = old.get(line_no as usize - 1) else {
                        continue;
                    };
                    if text.len() > 4000 {
                        continue;
                    }
                    removed_lines.push(text.to_string());
                    for (index, rule) in RULES.iter().enumerate() {
                        if rule.place == Place::Anywhere || !rule.langs.matches(&file.path) {
                            continue;
                        }
                        if matches!(rule.place, Place::Code | Place::NotComment)
                            && comments.leads(text)
                        {
                            continue;
                        }
                        let Some(regex) = compiled(index) else {
                            continue;
                        };
                        let Some(caps) = regex.captures(text.as_bytes()) else {
                            continue;
                        };
                        let m = caps.get(1).unwrap_or_else(|| caps.get(0).expect("group 0"));
                        removed.push(Removed {
                            path: file.path.clone(),
                            hunk,
                            at: line_no - h.old.start,
                            rule: index,
                            construct: normalise(&String::from_utf8_lossy(m.as_bytes())),
                            exact: normalise(text),
                            tokens: tokens(text),
                            words: words(text.get(m.start()..).unwrap_or("")),
                            call: call_at(text, m.start()),
                            used: false,
                        });
                    }
                }
            }
        }
        Self {
            removed,
            lines: removed_lines,
        }
    }

    /// Whether the change removed a line holding `secret` (8 bytes or
    /// more): a line re-quoted, re-indented or moved keeps a secret that
    /// was already committed, and re-reporting it on every reformat is
    /// noise. A secret new to the change is always reported.
    pub(super) fn had_secret(&self, secret: &str) -> bool {
        secret.len() >= 8 && self.lines.iter().any(|l| l.contains(secret))
    }

    /// The hits of `file` (on `lines`, its new text) that the change
    /// introduced; the others are claimed by a removed hit.
    pub(super) fn introduced(
        &mut self,
        file: &FileChange,
        lines: &[&str],
        hits: Vec<Hit>,
    ) -> Vec<Hit> {
        let hits = without_copied_tasks(file, lines, hits, &self.removed);
        if self.removed.is_empty() || hits.is_empty() {
            return hits;
        }
        let old_lines = crate::diff::lines(&file.old_text);
        let mut old_hunk_text: Vec<Option<String>> = vec![None; file.diff.hunks.len()];
        let mut keep = vec![true; hits.len()];
        for pass in [
            Pass::Exact,
            Pass::Renamed,
            Pass::SameCall,
            Pass::Reworded,
            Pass::Rewrapped,
            Pass::EditedInPlace,
        ] {
            for (i, hit) in hits.iter().enumerate() {
                if !keep[i] {
                    continue;
                }
                let Some(text) = lines.get(hit.line as usize - 1) else {
                    continue;
                };
                let construct = normalise(text.get(hit.start..hit.end).unwrap_or(""));
                let hunk = file
                    .diff
                    .hunks
                    .iter()
                    .position(|h| h.new.contains(&hit.line));
                let claimed = match pass {
                    Pass::Exact => {
                        let exact = normalise(text);
                        self.claim(hit.rule, &construct, |r| r.exact == exact)
                    }
                    Pass::Renamed => {
                        // In the same file: a rename edits the lines that
                        // use the name where they are.
                        let new_tokens = tokens(text);
                        let path = &file.path;
                        self.claim(hit.rule, &construct, |r| {
                            &r.path == path && renamed(&r.tokens, &new_tokens)
                        })
                    }
                    // The same call with the same arguments, elsewhere in
                    // the file: `cache = pickle.load(fobj)` moved into a
                    // `try:` as `data: Dict[str, X] = pickle.load(fobj)`.
                    Pass::SameCall if RULES[hit.rule].place != Place::Comment => {
                        let call = call_at(text, hit.start);
                        let path = &file.path;
                        call.contains('(')
                            && !call.ends_with('(')
                            && self
                                .claim(hit.rule, &construct, |r| &r.path == path && r.call == call)
                    }
                    Pass::SameCall => false,
                    // A comment's words, not its punctuation or place,
                    // say which task it is: `# TODO: write tests for the
                    // commands` moved and shortened to `# TODO: write tests`.
                    Pass::Reworded if RULES[hit.rule].place == Place::Comment => {
                        let said = words(text.get(hit.start..).unwrap_or(""));
                        self.claim(hit.rule, &construct, |r| same_task(&r.words, &said))
                    }
                    Pass::Reworded => false,
                    Pass::Rewrapped => {
                        let Some(hunk) = hunk else { continue };
                        let h = &file.diff.hunks[hunk];
                        let statement = statement_at(lines, hit.line, h.new.end);
                        let old = old_hunk_text[hunk].get_or_insert_with(|| {
                            h.old
                                .clone()
                                .filter_map(|n| old_lines.get(n as usize - 1))
                                .map(|l| normalise(l))
                                .collect()
                        });
                        let path = &file.path;
                        old.contains(&statement)
                            && self
                                .claim(hit.rule, &construct, |r| r.hunk == hunk && &r.path == path)
                    }
                    Pass::EditedInPlace => {
                        let Some(hunk) = hunk else { continue };
                        let at = hit.line - file.diff.hunks[hunk].new.start;
                        let path = &file.path;
                        self.claim(hit.rule, &construct, |r| {
                            r.hunk == hunk && &r.path == path && r.at.abs_diff(at) <= NEARBY
                        })
                    }
                };
                if claimed {
                    keep[i] = false;
                }
            }
        }
        hits.into_iter()
            .zip(keep)
            .filter_map(|(hit, keep)| keep.then_some(hit))
            .collect()
    }

    /// Marks the first unused removed hit of `rule` with the same construct
    /// that `matches` accepts as used.
    fn claim(&mut self, rule: usize, construct: &str, matches: impl Fn(&Removed) -> bool) -> bool {
        match self
            .removed
            .iter_mut()
            .find(|r| !r.used && r.rule == rule && r.construct == construct && matches(r))
        {
            Some(r) => {
                r.used = true;
                true
            }
            None => false,
        }
    }
}

/// Drops task comments copied from one that stays in the file, or from one
/// the change removed anywhere: a test duplicated with its `# TODO: also
/// check reloads`, or split into several files each keeping it, repeats a
/// task already written down. A short task (`// TODO` in a new stub) is new
/// wherever it is added.
fn without_copied_tasks(
    file: &FileChange,
    lines: &[&str],
    hits: Vec<Hit>,
    removed: &[Removed],
) -> Vec<Hit> {
    const MIN_WORDS: usize = 3;
    let is_task = |hit: &Hit| RULES[hit.rule].place == Place::Comment;
    if !hits.iter().any(is_task) {
        return hits;
    }
    // Tasks the change removed anywhere (a test file split in three, each
    // part keeping the note), and those that stay in this file.
    let mut old_tasks: Vec<(usize, Vec<String>)> = removed
        .iter()
        .filter(|r| RULES[r.rule].place == Place::Comment && r.words.len() >= MIN_WORDS)
        .map(|r| (r.rule, r.words.clone()))
        .collect();
    let old_lines = crate::diff::lines(&file.old_text);
    for (index, rule) in RULES.iter().enumerate() {
        if rule.place != Place::Comment || !rule.langs.matches(&file.path) {
            continue;
        }
        let Some(regex) = compiled(index) else {
            continue;
        };
        for text in &old_lines {
            if text.len() > 4000 {
                continue;
            }
            for m in regex.find_iter(text.as_bytes()) {
                let said = words(text.get(m.start()..).unwrap_or(""));
                if said.len() >= MIN_WORDS {
                    old_tasks.push((index, said));
                }
            }
        }
    }
    // Comments the change removed from this file: a note turned into a
    // task (`// remove once Node.js fixes it` → `// TODO: remove once
    // Node.js fixes it`) or a misspelt marker corrected (`TOOD` → `TODO`)
    // was written down before.
    let comments = Comments::of(&file.path);
    let old_notes: Vec<Vec<String>> = file
        .diff
        .hunks
        .iter()
        .flat_map(|h| h.old.clone())
        .filter_map(|n| old_lines.get(n as usize - 1))
        .filter(|l| l.len() <= 4000 && comments.leads(l))
        .map(|l| all_words(l))
        .filter(|w| w.len() >= MIN_WORDS)
        .collect();
    hits.into_iter()
        .filter(|hit| {
            if !is_task(hit) {
                return true;
            }
            let text = lines.get(hit.line as usize - 1).copied().unwrap_or("");
            let said = words(text.get(hit.start..).unwrap_or(""));
            let noted = said.len() >= MIN_WORDS
                && old_notes.iter().any(|old| {
                    said.iter().filter(|w| old.contains(w)).count() * 10 >= said.len() * 9
                });
            !noted
                && !old_tasks
                    .iter()
                    .any(|(rule, old)| *rule == hit.rule && *old == said)
        })
        .collect()
}

/// Lower-case words of `text`, all of them.
fn all_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How far (in lines) from where a removed hit stood an added one may
/// stand, in the same hunk, to be that line edited: `# TODO: refactor` →
/// `# TODO: refactor & simplify`, `console.log(x)` → `if (verbose)
/// console.log(x)`, a block commented out.
const NEARBY: u32 = 3;

/// The call that starts at byte `at` of `text` through its closing
/// bracket (or the end of the line), normalised: `pickle.load(fobj)`.
fn call_at(text: &str, at: usize) -> String {
    let rest = text.get(at..).unwrap_or("");
    let mut depth = 0usize;
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    end = i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    normalise(&rest[..end])
}

/// A line as a formatter leaves its meaning: no whitespace, one quote
/// style, no trailing commas before a closing bracket, no final `;`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_whitespace() => {}
            '\'' => out.push('"'),
            ')' | ']' | '}' => {
                if out.ends_with(',') {
                    out.pop();
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    while out.ends_with(';') {
        out.pop();
    }
    out
}

/// The statement that starts at 1-based `line` (up to where its brackets
/// close, at most 20 lines, not past `end`), normalised.
fn statement_at(lines: &[&str], line: u32, end: u32) -> String {
    let mut depth: i64 = 0;
    let mut out = String::new();
    for n in line..end.min(line + 20) {
        let Some(text) = lines.get(n as usize - 1) else {
            break;
        };
        for b in text.bytes() {
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                _ => {}
            }
        }
        out.push_str(&normalise(text));
        if depth <= 0 {
            break;
        }
    }
    normalise(&out)
}

/// Lower-case words of `text` after its first (the marker itself).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .skip(1)
        .map(str::to_lowercase)
        .collect()
}

/// Two task texts name the same task: most of the shorter one's words are
/// in the longer (`actual download tests` / `download tests`), not merely
/// one word of two (`handle errors` / `handle timeouts`).
fn same_task(old: &[String], new: &[String]) -> bool {
    let (short, long) = if old.len() <= new.len() {
        (old, new)
    } else {
        (new, old)
    };
    if short.is_empty() {
        return long.is_empty();
    }
    let shared = short.iter().filter(|w| long.contains(w)).count();
    shared * 3 >= short.len() * 2
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Other(char),
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut ident = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' || c == '$' {
            ident.push(c);
            continue;
        }
        if !ident.is_empty() {
            out.push(Token::Ident(std::mem::take(&mut ident)));
        }
        if !c.is_whitespace() {
            out.push(Token::Other(if c == '\'' { '"' } else { c }));
        }
    }
    if !ident.is_empty() {
        out.push(Token::Ident(ident));
    }
    out
}

/// `new` is `old` with one name renamed (wherever it occurs on the line),
/// and at least as many names kept as renamed: a rename, not a different
/// line (`console.log(req.body)` / `console.log(res.statusCode)` changes
/// two names: another line).
fn renamed(old: &[Token], new: &[Token]) -> bool {
    if old.len() != new.len() {
        return false;
    }
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let (mut kept, mut changed) = (0, 0);
    for (a, b) in old.iter().zip(new) {
        match (a, b) {
            (Token::Ident(x), Token::Ident(y)) if x == y => kept += 1,
            (Token::Ident(x), Token::Ident(y)) => {
                changed += 1;
                match pairs.iter().find(|(from, _)| from == x) {
                    Some((_, to)) if to != y => return false,
                    Some(_) => {}
                    None => {
                        if pairs.iter().any(|(_, to)| to == y) {
                            return false;
                        }
                        pairs.push((x, y));
                    }
                }
            }
            (a, b) if a == b => {}
            _ => return false,
        }
    }
    changed > 0 && pairs.len() == 1 && kept >= changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_is_set_aside_and_meaning_is_not() {
        assert_eq!(
            normalise("  print( 'a' , b, )  ;"),
            normalise("print(\"a\",b)")
        );
        assert_ne!(normalise("print(a)"), normalise("print(b)"));
    }

    #[test]
    fn a_rename_is_a_few_names_changed_consistently() {
        let t = |s: &str| tokens(s);
        assert!(renamed(
            &t("print(user, user.id)"),
            &t("print(account, account.id)")
        ));
        assert!(renamed(
            &t("# TODO: check user"),
            &t("# TODO: check account")
        ));
        assert!(!renamed(&t("# TODO: handle foo"), &t("# TODO: fix bar")));
        assert!(!renamed(&t("print(a, b)"), &t("print(a, b, c)")));
        assert!(!renamed(&t("print(a, b)"), &t("print(c, c)")));
        assert!(!renamed(
            &t("console.log(req.body);"),
            &t("console.log(res.statusCode);")
        ));
        assert!(!renamed(&t("print(a)"), &t("print(a)")));
    }

    #[test]
    fn a_task_reworded_is_the_same_task_and_another_task_is_not() {
        let same = |a: &str, b: &str| same_task(&words(a), &words(b));
        assert!(same(
            "TODO: write tests for the commands.",
            "TODO: write tests"
        ));
        assert!(same("TODO: Actual download tests", "TODO: Download tests."));
        assert!(same(
            "FIXME: https://github.com/psf/requests/issues/5743",
            "FIXME: <https://github.com/psf/requests/issues/5743>"
        ));
        assert!(!same("TODO: handle errors", "TODO: handle timeouts"));
        assert!(!same("TODO: cache", "TODO"));
        assert!(same("TODO", "TODO"));
    }

    #[test]
    fn a_statement_spans_the_lines_its_brackets_are_open() {
        let lines = ["print(", "    a,", "    b,", ")", "x = 1"];
        assert_eq!(statement_at(&lines, 1, 6), "print(a,b)");
        assert_eq!(statement_at(&lines, 5, 6), "x=1");
    }
}
