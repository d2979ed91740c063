//! `--config FILE`: the command line's flags from a JSON file, for run and `probe` alike.
//!
//! The file is one JSON object whose keys are the long names of the flags a run and `probe` take
//! (`"user"`, `"memory-max"`, `"outer-boundary"`), without the dashes. A flag that takes a value
//! gets a string (or a number, written as its decimal text); a repeatable flag gets a list of
//! them; a switch gets `true` (given) or `false` (not given). The keys and their types come from
//! the clap definition itself ([`keys`]), and so does the JSON Schema in `docs/config.schema.json`
//! ([`schema`]; a test compares them), so neither can drift from the flags.
//!
//! The file is merged *under* the command line: a flag with one value that the command line gives
//! wins over the file's; a switch the file turns on stays on; the values of a repeatable flag are
//! appended, the file's first, so the command line's come later (and win wherever the last one
//! counts, such as `--env` and `--rlimit`). Every value then goes through the same parser as on the
//! command line. An unknown key, a value of the wrong type, a file that is not a JSON object, over
//! the input cap or unreadable is a usage error: one line, exit 2, before any step.

use std::ffi::OsString;
use std::path::Path;

use clap::{ArgAction, Parser};
use serde_json::{json, Map, Value};

use crate::cli::{usage_error_line, Cli};

/// The flags a config file cannot name: itself, and the ones that only print.
const EXCLUDED: [&str; 3] = ["config", "help", "version"];

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A switch: `true` or `false`.
    Switch,
    /// One value: a string or a number.
    Value,
    /// A repeatable flag: a list of values.
    List,
}

/// One key a config file may hold: a long flag of the command line.
#[derive(Debug, Clone)]
pub struct Key {
    /// The flag's long name (`memory-max`), which is the key.
    pub name: String,
    /// clap's id of the argument (`memory_max`).
    pub id: String,
    /// How its value is written.
    pub shape: Shape,
    /// The values it accepts, when clap lists them (`--fs host-ro|minimal|host-rw`).
    pub choices: Vec<String>,
    /// Its help text, first paragraph.
    pub help: String,
    /// Its value's name (`SIZE`).
    pub value_name: Option<String>,
}

/// Every key a config file may hold, in the order `--help` lists the flags: the command's global
/// flags with a long name.
pub fn keys(command: &clap::Command) -> Vec<Key> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_long()?;
            if EXCLUDED.contains(&name) || arg.is_positional() {
                return None;
            }
            let shape = match arg.get_action() {
                ArgAction::SetTrue => Shape::Switch,
                ArgAction::Append => Shape::List,
                ArgAction::Set => Shape::Value,
                _ => return None,
            };
            Some(Key {
                name: name.to_owned(),
                id: arg.get_id().to_string(),
                shape,
                // Values offered only to the completions keep the parser's other spellings.
                choices: if arg.is_hide_possible_values_set() {
                    Vec::new()
                } else {
                    arg.get_possible_values()
                }
                .iter()
                .filter(|value| !value.is_hide_set())
                .map(|value| value.get_name().to_owned())
                .collect(),
                help: arg
                    .get_help()
                    .map(|help| help.to_string())
                    .unwrap_or_default(),
                value_name: arg
                    .get_value_names()
                    .and_then(|names| names.first())
                    .map(|name| name.to_string()),
            })
        })
        .collect()
}

/// The JSON Schema (2020-12) of a config file, generated from `command`'s flags.
pub fn schema(command: &clap::Command) -> Value {
    let mut properties = Map::new();
    for key in keys(command) {
        let value = match key.choices.is_empty() {
            true => json!({"type": ["string", "number"]}),
            false => json!({"enum": key.choices}),
        };
        let mut property = match key.shape {
            Shape::Switch => json!({"type": "boolean"}),
            Shape::Value => value,
            Shape::List => json!({"type": "array", "items": value}),
        };
        let flag = match &key.value_name {
            Some(name) if key.shape != Shape::Switch => format!("--{} {name}", key.name),
            _ => format!("--{}", key.name),
        };
        let repeat = match key.shape {
            Shape::List => " (a list: one item per use of the flag, appended after the file's)",
            _ => "",
        };
        property["description"] = Value::String(format!("{flag}{repeat}: {}", key.help));
        properties.insert(key.name, property);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "sandbox-supervisor/config.schema.json",
        "title": "sandbox-supervisor --config FILE",
        "description": "The flags of a run and of probe as one JSON object: each key is a long flag's name without the dashes; a flag with a value takes a string or a number, a repeatable flag a list of them, a switch true or false. The command line wins over the file: its single values replace the file's, and its repeated values come after the file's. Generated from the command line's definition; do not edit.",
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    })
}

/// What the config file's text turns into, or the one-line reason it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--KEY=VALUE` and `--SWITCH` arguments, for the keys whose value goes in (in the keys'
    /// sorted order; a list's values in the list's order).
    pub args: Vec<OsString>,
}

/// The value of `key` as a flag's argument, or why it is not one.
fn argument(key: &Key, value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(format!(
            "\"{}\" takes {}, not {}",
            key.name,
            match key.shape {
                Shape::List => "a list of strings or numbers",
                _ => "a string or a number",
            },
            kind(other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The flags a config file's `text` stands for, leaving out the single-valued ones for which
/// `given(id)` says the command line has its own.
pub fn flags(keys: &[Key], text: &str, given: impl Fn(&str) -> bool) -> Result<Flags, String> {
    let object: Map<String, Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(other) => return Err(format!("expected a JSON object, not {}", kind(&other))),
        Err(err) => return Err(format!("not JSON: {err}")),
    };
    let mut args = Vec::new();
    for (name, value) in &object {
        let Some(key) = keys.iter().find(|key| &key.name == name) else {
            return Err(match EXCLUDED.contains(&name.as_str()) {
                true => format!("\"{name}\" cannot be set in a config file"),
                false => format!(
                    "unknown key \"{name}\" (the keys are the long flags' names, such as \"memory-max\")"
                ),
            });
        };
        let flag = format!("--{name}");
        match (key.shape, value) {
            (Shape::Switch, Value::Bool(on)) => {
                if *on {
                    args.push(flag.into());
                }
            }
            (Shape::Switch, other) => {
                return Err(format!(
                    "\"{name}\" takes true or false, not {}",
                    kind(other)
                ))
            }
            (Shape::List, Value::Array(items)) => {
                for item in items {
                    args.push(format!("{flag}={}", argument(key, item)?).into());
                }
            }
            (Shape::List, other) => {
                return Err(format!(
                    "\"{name}\" takes a list of strings or numbers, not {}",
                    kind(other)
                ))
            }
            (Shape::Value, value) => {
                let value = argument(key, value)?;
                if !given(&key.id) {
                    args.push(format!("{flag}={value}").into());
                }
            }
        }
    }
    Ok(Flags { args })
}

/// The config file at `path`, read with the input cap: its text and SHA-256 (lowercase hex).
pub fn read(path: &Path) -> Result<(String, String), String> {
    use sha2::Digest;
    let bytes = crate::input::read_capped(path, "config file")
        .map_err(|err| crate::exit::one_line(&err.into_fault()))?;
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    Ok((text, digest))
}

/// The JSON Schema of a `--config` file, generated from the command line's flags
/// (docs/config.schema.json).
pub fn config_schema() -> serde_json::Value {
    use clap::CommandFactory;
    schema(&crate::cli::Cli::command())
}

/// clap's message of `err`, one line, without the prefix and the pointer to `--help`.
pub(crate) fn clap_message(err: &clap::Error) -> String {
    let line = usage_error_line(err);
    line.trim_start_matches("sandbox-supervisor: error: ")
        .trim_end_matches(" (see --help)")
        .to_owned()
}

impl crate::cli::Cli {
    /// This command line (`raw`, which parsed as `self`) with the flags of its `--config` file
    /// merged under it (see the `config` module); `Err` is the usage error's message, one line.
    pub fn with_config(self, raw: &[OsString]) -> Result<Cli, String> {
        use clap::CommandFactory;
        let Some(path) = self.boot.config.clone() else {
            return Ok(self);
        };
        let error = |why: String| format!("--config {}: {why}", path.display());
        let (text, sha256) = read(&path).map_err(error)?;
        let command = Cli::command();
        let matches = command
            .clone()
            .try_get_matches_from(raw)
            .map_err(|err| error(clap_message(&err)))?;
        let given = |id: &str| {
            let source = matches.subcommand().map_or_else(
                || matches.value_source(id),
                |(_, sub)| sub.value_source(id).or_else(|| matches.value_source(id)),
            );
            source == Some(clap::parser::ValueSource::CommandLine)
        };
        let flags = flags(&keys(&command), &text, given).map_err(error)?;
        let mut merged: Vec<OsString> = raw.iter().take(1).cloned().collect();
        merged.extend(flags.args);
        merged.extend(raw.iter().skip(1).cloned());
        let mut cli = Cli::try_parse_from(&merged).map_err(|err| error(clap_message(&err)))?;
        cli.config_file = Some(crate::options::FileDigest {
            path: path.display().to_string(),
            sha256,
        });
        Ok(cli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn keys() -> Vec<Key> {
        super::keys(&crate::cli::Cli::command())
    }

    fn args(text: &str) -> Result<Vec<String>, String> {
        flags(&keys(), text, |id| id == "user").map(|flags| {
            flags
                .args
                .into_iter()
                .map(|arg| arg.into_string().unwrap())
                .collect()
        })
    }

    #[test]
    fn keys_are_the_long_flags_with_their_shapes() {
        let keys = keys();
        let shape = |name: &str| {
            keys.iter()
                .find(|key| key.name == name)
                .map(|key| key.shape)
        };
        assert_eq!(shape("memory-max"), Some(Shape::Value));
        assert_eq!(shape("env"), Some(Shape::List));
        assert_eq!(shape("no-userns"), Some(Shape::Switch));
        assert_eq!(shape("outer-boundary"), Some(Shape::Value));
        assert_eq!(shape("config"), None);
        assert_eq!(shape("help"), None);
        let fs = keys.iter().find(|key| key.name == "fs").unwrap();
        assert_eq!(fs.choices, ["host-ro", "minimal", "host-rw"]);
    }

    #[test]
    fn values_become_flags_under_the_command_line() {
        assert_eq!(
            args(
                r#"{"memory-max": "64M", "pids-max": 100, "env": ["A=1", "B=2"], "no-userns": true, "clear-env": false, "user": "nobody"}"#
            ),
            // (The keys in their sorted order; a list keeps its own.)
            Ok(vec![
                "--env=A=1".to_owned(),
                "--env=B=2".to_owned(),
                "--memory-max=64M".to_owned(),
                "--no-userns".to_owned(),
                "--pids-max=100".to_owned(),
            ])
        );
    }

    #[test]
    fn mistakes_are_one_line_each() {
        assert_eq!(
            args(r#"{"memroy-max": "1G"}"#),
            Err("unknown key \"memroy-max\" (the keys are the long flags' names, such as \"memory-max\")".to_owned())
        );
        assert_eq!(
            args(r#"{"config": "/etc/x.json"}"#),
            Err("\"config\" cannot be set in a config file".to_owned())
        );
        assert_eq!(
            args(r#"{"env": "A=1"}"#),
            Err("\"env\" takes a list of strings or numbers, not a string".to_owned())
        );
        assert_eq!(
            args(r#"{"no-userns": "yes"}"#),
            Err("\"no-userns\" takes true or false, not a string".to_owned())
        );
        assert_eq!(
            args(r#"{"memory-max": ["1G"]}"#),
            Err("\"memory-max\" takes a string or a number, not a list".to_owned())
        );
        assert_eq!(
            args(r#"["--user"]"#),
            Err("expected a JSON object, not a list".to_owned())
        );
        assert!(args("{").unwrap_err().starts_with("not JSON: "));
    }

    /// docs/config.schema.json is the schema generated from the clap definition. After a change
    /// of the flags, regenerate it: `gen-assets DIR` writes DIR/config.schema.json.
    #[test]
    fn the_documented_schema_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.schema.json");
        let documented: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(
            documented == schema(&crate::cli::Cli::command()),
            "docs/config.schema.json is not the schema of the current flags: regenerate it with gen-assets"
        );
    }
}
