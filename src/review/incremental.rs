//! A model's answer read as it streams: [`AnswerStream`] takes the text in
//! pieces and hands out each finding as soon as its JSON object is complete.
//! It *is* the answer parser: [`super::parse::parse_answer`] feeds the whole
//! text through it, so the leniencies and limits are the same whether an
//! answer arrives in one piece or in a thousand, and a finding handed out
//! early is always one the whole answer yields.
//!
//! The rule: the answer is the first JSON value in the text (prose, a
//! ```` ```json ```` fence or anything else before it is skipped) that is an
//! object with a `findings` (or `issues`) array, or an array whose first
//! entry is an object that is not itself such an envelope. Each `{` / `[`
//! of the text is tried as a start, in order and at most
//! [`MAX_JSON_STARTS`] of them, until one qualifies. The value is committed
//! to as soon as it qualifies (the `[` after `"findings":`, or the first
//! entry of a bare array); from then on each complete entry is a finding or
//! is counted as malformed, and anything broken or missing after it (a
//! truncated answer, a syntax error) ends the answer with what it had.
//! Before that, a syntax error makes the start fail and the next one is
//! tried. An empty array `[]` is the answer only when nothing else is.
//!
//! Linear in the text: a value being read resumes where the last piece
//! ended; only a failed start is read again from the next start. Pure; no
//! I/O.

use super::finding::Verdict;
use super::parse::MAX_FINDINGS_PER_ANSWER;
use super::parse::{parse_verdict, raw_finding, ModelAnswer, ParseError, RawFinding};
use serde_json::Value;

/// Positions tried as the start of an answer's JSON inside prose.
pub const MAX_JSON_STARTS: usize = 64;

/// Reads one answer as it streams.
#[derive(Debug, Default)]
pub struct AnswerStream {
    buf: String,
    /// Where the next start is looked for while no value is being read.
    next_start: usize,
    starts: usize,
    value: Option<Candidate>,
    /// A value qualified: its entries are the answer.
    committed: bool,
    /// The committed value ended (complete or broken): the rest is prose.
    ended: bool,
    /// A complete `[]` was seen: the answer if nothing else is.
    empty_array: bool,
    answer: ModelAnswer,
    /// Findings already handed out by [`AnswerStream::push`].
    handed_out: usize,
}

#[derive(Debug)]
struct Candidate {
    start: usize,
    /// A bare array (else an object).
    array: bool,
    pos: usize,
    state: State,
    /// The key whose value is being read.
    key: String,
    /// Reading the value `value_start..` of a key or an entry.
    extent: Option<Extent>,
    verdict: Option<Verdict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `{`: a key or `}`.
    KeyOrEnd,
    /// After `,` in the object: a key.
    Key,
    /// Reading a key's string.
    KeyText,
    /// After a key: `:`.
    Colon,
    /// After `:`: the value.
    Value,
    /// Reading a value that is not the findings list.
    ValueText,
    /// After a value: `,` or `}`.
    AfterValue,
    /// After the `[` of the findings list: an entry or `]`.
    EntryOrEnd,
    /// After `,` in the list: an entry.
    Entry,
    /// Reading an entry.
    EntryText,
    /// After an entry: `,` or `]`.
    AfterEntry,
}

/// How far a value being read has got.
#[derive(Debug, Clone, Copy)]
struct Extent {
    start: usize,
    pos: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

enum Scan {
    Done(usize),
    More,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Extent {
    fn new(start: usize) -> Self {
        Extent {
            start,
            pos: start,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Finds where the value ends (exclusive). At the end of the text a
    /// scalar ends there; anything else is incomplete.
    fn scan(&mut self, text: &[u8], eof: bool) -> Scan {
        let first = text[self.start];
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        while self.pos < text.len() {
            let b = text[self.pos];
            if scalar {
                if is_ws(b) || matches!(b, b',' | b'}' | b']') {
                    return Scan::Done(self.pos);
                }
                self.pos += 1;
                continue;
            }
            self.pos += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Scan::Done(self.pos);
                    }
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Scan::Done(self.pos);
                    }
                }
                _ => {}
            }
        }
        if scalar && eof {
            Scan::Done(self.pos)
        } else {
            Scan::More
        }
    }
}

/// What one step of reading a value did.
enum Step {
    /// Needs more text.
    More,
    /// Went on; step again.
    Go,
    /// The value does not qualify or is broken here.
    Fail,
    /// The committed value is complete.
    Complete,
}

impl AnswerStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next piece of the answer; returns the findings it completed.
    pub fn push(&mut self, piece: &str) -> Vec<RawFinding> {
        self.buf.push_str(piece);
        self.advance(false);
        let new = self.answer.findings[self.handed_out..].to_vec();
        self.handed_out = self.answer.findings.len();
        new
    }

    /// The answer once the text is all there (findings already handed out
    /// included).
    pub fn finish(mut self) -> Result<ModelAnswer, ParseError> {
        self.advance(true);
        if self.committed {
            Ok(self.answer)
        } else if self.empty_array {
            Ok(ModelAnswer::default())
        } else {
            Err(ParseError::NoJson)
        }
    }

    fn advance(&mut self, eof: bool) {
        while !self.ended {
            if self.value.is_none() && !self.next_value() {
                return;
            }
            match self.step(eof) {
                Step::More if eof => self.fail(),
                Step::More => return,
                Step::Go => {}
                Step::Fail => self.fail(),
                Step::Complete => {
                    self.value = None;
                    self.ended = true;
                }
            }
        }
    }

    /// Starts reading at the next `{` / `[`; false when there is none (yet)
    /// or the starts are used up.
    fn next_value(&mut self) -> bool {
        if self.starts >= MAX_JSON_STARTS {
            self.next_start = self.buf.len();
            return false;
        }
        let bytes = self.buf.as_bytes();
        let Some(offset) = bytes[self.next_start..]
            .iter()
            .position(|&b| b == b'{' || b == b'[')
        else {
            self.next_start = self.buf.len();
            return false;
        };
        let start = self.next_start + offset;
        self.starts += 1;
        let array = bytes[start] == b'[';
        self.value = Some(Candidate {
            start,
            array,
            pos: start + 1,
            state: if array {
                State::EntryOrEnd
            } else {
                State::KeyOrEnd
            },
            key: String::new(),
            extent: None,
            verdict: None,
        });
        true
    }

    /// The value being read failed: a committed one ends the answer, any
    /// other gives way to the next start.
    fn fail(&mut self) {
        if let Some(c) = self.value.take() {
            if self.committed {
                self.answer.verdict = c.verdict;
                self.answer.broken = true;
                self.ended = true;
            } else {
                self.next_start = c.start + 1;
            }
        }
    }

    /// Takes one entry of the findings list.
    fn entry(&mut self, value: &Value) {
        let answer = &mut self.answer;
        if answer.findings.len() >= MAX_FINDINGS_PER_ANSWER {
            answer.over_limit = answer.over_limit.saturating_add(1);
            return;
        }
        match raw_finding(value, &mut answer.cut_fields) {
            Some(f) => answer.findings.push(f),
            None => answer.malformed += 1,
        }
    }

    fn step(&mut self, eof: bool) -> Step {
        let Some(mut c) = self.value.take() else {
            return Step::Fail;
        };
        let out = self.step_in(&mut c, eof);
        self.value = Some(c);
        out
    }

    fn step_in(&mut self, c: &mut Candidate, eof: bool) -> Step {
        let bytes = self.buf.as_bytes();
        // Structural states skip whitespace first.
        if !matches!(
            c.state,
            State::KeyText | State::ValueText | State::EntryText
        ) {
            while c.pos < bytes.len() && is_ws(bytes[c.pos]) {
                c.pos += 1;
            }
            if c.pos >= bytes.len() {
                return Step::More;
            }
        }
        let b = bytes.get(c.pos).copied().unwrap_or(b' ');
        match c.state {
            // `{}` or a trailing comma: not an answer.
            State::KeyOrEnd | State::Key => match b {
                b'"' => {
                    c.extent = Some(Extent::new(c.pos));
                    c.state = State::KeyText;
                    Step::Go
                }
                _ => Step::Fail,
            },
            State::KeyText => {
                let Some(ext) = c.extent.as_mut() else {
                    return Step::Fail;
                };
                match ext.scan(bytes, eof) {
                    Scan::More => Step::More,
                    Scan::Done(end) => {
                        let Ok(key) = serde_json::from_str::<String>(&self.buf[ext.start..end])
                        else {
                            return Step::Fail;
                        };
                        c.key = key;
                        c.pos = end;
                        c.extent = None;
                        c.state = State::Colon;
                        Step::Go
                    }
                }
            }
            State::Colon => {
                if b != b':' {
                    return Step::Fail;
                }
                c.pos += 1;
                c.state = State::Value;
                Step::Go
            }
            State::Value => {
                let list_key = matches!(c.key.as_str(), "findings" | "issues");
                if list_key && b == b'[' && !self.committed {
                    self.committed = true;
                    c.pos += 1;
                    c.state = State::EntryOrEnd;
                    return Step::Go;
                }
                c.extent = Some(Extent::new(c.pos));
                c.state = State::ValueText;
                Step::Go
            }
            State::ValueText => {
                let value = match scanned(&self.buf, c, eof) {
                    Ok(value) => value,
                    Err(step) => return step,
                };
                if c.key == "verdict" {
                    c.verdict = value.as_str().and_then(parse_verdict);
                }
                c.state = State::AfterValue;
                Step::Go
            }
            State::AfterValue => match b {
                b',' => {
                    c.pos += 1;
                    c.state = State::Key;
                    Step::Go
                }
                b'}' if self.committed => {
                    c.pos += 1;
                    self.answer.verdict = c.verdict;
                    Step::Complete
                }
                _ => Step::Fail,
            },
            State::EntryOrEnd | State::Entry => {
                let first = c.array && !self.committed;
                if b == b']' && c.state == State::EntryOrEnd {
                    c.pos += 1;
                    if first {
                        // `[]`: the answer only if nothing else is.
                        self.empty_array = true;
                        return Step::Fail;
                    }
                    return self.list_ended(c);
                }
                if first && b != b'{' {
                    // Not a list of findings: prose such as `[see below]`.
                    return Step::Fail;
                }
                c.extent = Some(Extent::new(c.pos));
                c.state = State::EntryText;
                Step::Go
            }
            State::EntryText => {
                let value = match scanned(&self.buf, c, eof) {
                    Ok(value) => value,
                    Err(step) => return step,
                };
                if c.array && !self.committed {
                    let envelope = value
                        .as_object()
                        .is_some_and(|m| m.contains_key("findings") || m.contains_key("issues"));
                    if envelope {
                        // `[{"findings": …}]`: the object inside is the answer.
                        return Step::Fail;
                    }
                    self.committed = true;
                }
                self.entry(&value);
                c.state = State::AfterEntry;
                Step::Go
            }
            State::AfterEntry => match b {
                b',' => {
                    c.pos += 1;
                    c.state = State::Entry;
                    Step::Go
                }
                b']' => {
                    c.pos += 1;
                    self.list_ended(c)
                }
                _ => Step::Fail,
            },
        }
    }

    /// The findings list closed: a bare array is complete, an object reads on.
    fn list_ended(&mut self, c: &mut Candidate) -> Step {
        if c.array {
            Step::Complete
        } else {
            c.state = State::AfterValue;
            Step::Go
        }
    }
}

/// The JSON value `c.extent` covers, once its text has ended (the
/// candidate then stands after it); otherwise the step to take: more text,
/// or a failure when it is not JSON.
fn scanned(buf: &str, c: &mut Candidate, eof: bool) -> Result<Value, Step> {
    let ext = c.extent.as_mut().ok_or(Step::Fail)?;
    let end = match ext.scan(buf.as_bytes(), eof) {
        Scan::More => return Err(Step::More),
        Scan::Done(end) => end,
    };
    let value = serde_json::from_str::<Value>(&buf[ext.start..end]).map_err(|_| Step::Fail)?;
    c.pos = end;
    c.extent = None;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_handed_out_when_its_object_closes() {
        let mut s = AnswerStream::new();
        assert!(s
            .push("Sure:\n```json\n{\"findings\": [{\"path\": \"a.rs\", ")
            .is_empty());
        assert!(s.push("\"line\": 3, \"title\": \"x\"").is_empty());
        let first = s.push("}, {\"path\": \"a.rs\", \"li");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].line, 3);
        assert!(
            s.push("ne\": 4, \"title\": \"y\"}], \"verdict\": \"minor_issues\"}\n```")
                .len()
                == 1
        );
        let answer = s.finish().expect("an answer");
        assert_eq!(answer.findings.len(), 2);
        assert_eq!(answer.verdict, Some(Verdict::MinorIssues));
    }

    #[test]
    fn a_truncated_answer_keeps_the_findings_it_completed() {
        let mut s = AnswerStream::new();
        s.push("{\"findings\": [{\"path\": \"a\", \"line\": 1, \"title\": \"t\"}, {\"path\": \"b\", \"li");
        let answer = s.finish().expect("an answer");
        assert_eq!(answer.findings.len(), 1);
        assert!(answer.broken);
    }

    #[test]
    fn prose_brackets_before_the_answer_are_skipped() {
        let text = "Lines [3, 4] and {the loop} matter. [] {\"findings\": [{\"path\": \"a\", \"line\": 3, \"title\": \"t\"}]}";
        let mut s = AnswerStream::new();
        s.push(text);
        assert_eq!(s.finish().expect("answer").findings.len(), 1);
        let mut s = AnswerStream::new();
        s.push("Nothing found: []");
        assert_eq!(s.finish(), Ok(ModelAnswer::default()));
    }

    #[test]
    fn an_array_holding_the_envelope_yields_the_envelope() {
        let mut s = AnswerStream::new();
        s.push("[{\"findings\": [{\"path\": \"a\", \"line\": 3, \"title\": \"t\"}]}]");
        assert_eq!(s.finish().expect("answer").findings.len(), 1);
    }
}
