//! The arguments of `workspace/executeCommand`, checked before anything
//! runs: a wrong shape (a number where a URI belongs, an object, one
//! argument too many) is a -32602 error that names the shape expected, and
//! nothing changes. Only parsing here: running a command is the server's.

use super::proto::{CMD_DISMISS, CMD_DISMISS_TEAM, CMD_EXPLAIN, CMD_REVIEW_NOW, CMD_STATS};
use serde_json::Value;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::ls_types::Uri;

pub const REVIEW_NOW_SHAPE: &str = "[] (every open document) or [uri: string]";
pub const DISMISS_SHAPE: &str = "[uri: string] (every finding of the document), [uri: string, fingerprint: string] or [uri: string, fingerprints: string[]]";
pub const DISMISS_TEAM_SHAPE: &str =
    "[uri: string, fingerprint: string] or [uri: string, fingerprint: string, why: string]";
pub const EXPLAIN_SHAPE: &str = "[uri: string, fingerprint: string]";
pub const STATS_SHAPE: &str = "[] or [uri: string]";

/// A command with arguments of the right shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `None`: every open document.
    ReviewNow(Option<Uri>),
    /// `None`: every finding of the document.
    Dismiss {
        uri: Uri,
        fingerprints: Option<Vec<String>>,
    },
    /// Written to the repository's `.redline/dismissed.toml`.
    DismissForTeam {
        uri: Uri,
        fingerprint: String,
        why: Option<String>,
    },
    Explain {
        uri: Uri,
        fingerprint: String,
    },
    Stats(Option<Uri>),
}

/// Checks `args` against the shape of `command`.
pub fn parse(command: &str, args: &[Value]) -> Result<Command, Error> {
    match command {
        CMD_REVIEW_NOW => optional_uri(command, args, REVIEW_NOW_SHAPE).map(Command::ReviewNow),
        CMD_STATS => optional_uri(command, args, STATS_SHAPE).map(Command::Stats),
        CMD_DISMISS => {
            let wrong = || wrong_shape(command, DISMISS_SHAPE, args);
            let (uri, fingerprints) = match args {
                [uri] => (uri, None),
                [uri, Value::String(fp)] => (uri, Some(vec![fingerprint(fp).ok_or_else(wrong)?])),
                [uri, Value::Array(fps)] => {
                    let fps = fps
                        .iter()
                        .map(|v| v.as_str().and_then(fingerprint))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(wrong)?;
                    (uri, Some(fps))
                }
                _ => return Err(wrong()),
            };
            let uri = uri_of(uri).ok_or_else(wrong)?;
            Ok(Command::Dismiss { uri, fingerprints })
        }
        CMD_DISMISS_TEAM => {
            let wrong = || wrong_shape(command, DISMISS_TEAM_SHAPE, args);
            let (uri, fp, why) = match args {
                [uri, Value::String(fp)] => (uri, fp, None),
                [uri, Value::String(fp), Value::String(why)] => (uri, fp, Some(why.clone())),
                _ => return Err(wrong()),
            };
            Ok(Command::DismissForTeam {
                uri: uri_of(uri).ok_or_else(wrong)?,
                fingerprint: fingerprint(fp).ok_or_else(wrong)?,
                why: why.filter(|w| !w.trim().is_empty()),
            })
        }
        CMD_EXPLAIN => {
            let wrong = || wrong_shape(command, EXPLAIN_SHAPE, args);
            match args {
                [uri, Value::String(fp)] => Ok(Command::Explain {
                    uri: uri_of(uri).ok_or_else(wrong)?,
                    fingerprint: fingerprint(fp).ok_or_else(wrong)?,
                }),
                _ => Err(wrong()),
            }
        }
        other => Err(Error::invalid_params(format!(
            "unknown command {other}; redline knows {CMD_REVIEW_NOW}, {CMD_DISMISS}, {CMD_DISMISS_TEAM}, {CMD_EXPLAIN} and {CMD_STATS}"
        ))),
    }
}

/// `[]`, `[null]` or `[uri]`.
fn optional_uri(command: &str, args: &[Value], shape: &str) -> Result<Option<Uri>, Error> {
    match args {
        [] | [Value::Null] => Ok(None),
        [uri] => uri_of(uri)
            .map(Some)
            .ok_or_else(|| wrong_shape(command, shape, args)),
        _ => Err(wrong_shape(command, shape, args)),
    }
}

fn uri_of(v: &Value) -> Option<Uri> {
    v.as_str()?.parse::<Uri>().ok()
}

fn fingerprint(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_string())
}

fn wrong_shape(command: &str, shape: &str, args: &[Value]) -> Error {
    let mut got = Value::Array(args.to_vec()).to_string();
    if got.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&i| got.is_char_boundary(i))
            .unwrap_or(0);
        got.truncate(cut);
        got.push('…');
    }
    Error::invalid_params(format!("{command} expects arguments {shape}; got {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URI: &str = "file:///r/a.py";

    fn args(v: Value) -> Vec<Value> {
        v.as_array().cloned().expect("an array")
    }

    fn error(command: &str, v: Value) -> String {
        let e = parse(command, &args(v)).expect_err("wrong shape");
        assert_eq!(e.code.code(), -32602);
        e.message.into_owned()
    }

    #[test]
    fn dismiss_with_a_number_for_fingerprints_is_an_error_naming_the_shape() {
        let message = error(CMD_DISMISS, json!([URI, 5]));
        assert!(
            message.contains("[uri: string, fingerprint: string]"),
            "{message}"
        );
        assert!(message.contains("got [\"file:///r/a.py\",5]"), "{message}");
    }

    #[test]
    fn every_command_rejects_numbers_objects_and_extra_arguments() {
        for (command, bad) in [
            (CMD_DISMISS, json!([5])),
            (CMD_DISMISS, json!([{"uri": URI}])),
            (CMD_DISMISS, json!([URI, ["ok", 7]])),
            (CMD_DISMISS, json!([URI, "fp", "extra"])),
            (CMD_DISMISS, json!([URI, null])),
            (CMD_DISMISS, json!([])),
            (CMD_EXPLAIN, json!([URI])),
            (CMD_EXPLAIN, json!([URI, 5])),
            (CMD_EXPLAIN, json!([URI, "fp", 1])),
            (CMD_EXPLAIN, json!(["not a uri", "fp"])),
            (CMD_REVIEW_NOW, json!([5])),
            (CMD_REVIEW_NOW, json!([URI, URI])),
            (CMD_STATS, json!([{}])),
            (CMD_STATS, json!([URI, 1])),
        ] {
            let message = error(command, bad.clone());
            assert!(message.starts_with(command), "{command} {bad}: {message}");
        }
    }

    #[test]
    fn the_documented_shapes_parse() {
        let uri: Uri = URI.parse().expect("uri");
        assert_eq!(
            parse(CMD_REVIEW_NOW, &[]).expect("ok"),
            Command::ReviewNow(None)
        );
        assert_eq!(
            parse(CMD_STATS, &args(json!([URI]))).expect("ok"),
            Command::Stats(Some(uri.clone()))
        );
        assert_eq!(
            parse(CMD_DISMISS, &args(json!([URI, "ab"]))).expect("ok"),
            Command::Dismiss {
                uri: uri.clone(),
                fingerprints: Some(vec!["ab".into()])
            }
        );
        assert_eq!(
            parse(CMD_DISMISS, &args(json!([URI]))).expect("ok"),
            Command::Dismiss {
                uri: uri.clone(),
                fingerprints: None
            }
        );
        assert_eq!(
            parse(CMD_EXPLAIN, &args(json!([URI, "ab"]))).expect("ok"),
            Command::Explain {
                uri,
                fingerprint: "ab".into()
            }
        );
    }
}
