//! The value parsers of the flags with fixed values (`--disable-step`, `--cap-add`): they parse
//! as before and offer their values to the shell completions.

use crate::steps::Step;

/// A value parser that parses with `.0` and offers `.1`'s values to the shell completions (the
/// help already names them, and the schema keeps the parser's spellings: not shown there).
#[derive(Clone)]
pub(crate) struct Fixed<T>(fn(&str) -> Result<T, String>, fn() -> Vec<&'static str>);

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Fixed<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        clap::builder::TypedValueParser::parse_ref(&self.0, cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue>>> {
        Some(Box::new(self.1().into_iter().map(Into::into)))
    }
}

fn disable_step_values() -> Vec<&'static str> {
    let steps = Step::ALL.into_iter().filter(|step| step.kind().is_some());
    steps.map(Step::name).collect()
}

fn cap_add_values() -> Vec<&'static str> {
    let names = crate::steps::capabilities::ADDABLE
        .map(|cap| crate::steps::capabilities::NAMES[cap as usize]);
    names
        .into_iter()
        .map(|name| name.trim_start_matches("CAP_"))
        .collect()
}

fn parse_disabled_step(text: &str) -> Result<Step, String> {
    match Step::from_name(text) {
        Some(step) if step.kind().is_some() => Ok(step),
        Some(step) => Err(format!("{step} can never be turned off")),
        None => Err(format!("unknown step {text:?}")),
    }
}

fn parse_capability(text: &str) -> Result<u32, String> {
    let cap = crate::steps::capabilities::by_name(text)
        .ok_or_else(|| format!("unknown capability {text:?}"))?;
    if crate::steps::capabilities::ADDABLE.contains(&cap) {
        Ok(cap)
    } else {
        Err(format!(
            "{text} would give the workload a way to the host's files, ids, devices or kernel (it shares the host's file system); only {} may be added",
            crate::steps::capabilities::ADDABLE.map(|cap| crate::steps::capabilities::NAMES[cap as usize]).join(", ")
        ))
    }
}

/// `--cap-add`'s parser.
pub(crate) fn cap_add() -> Fixed<u32> {
    Fixed(parse_capability, cap_add_values)
}

/// `--disable-step`'s parser.
pub(crate) fn disable_step() -> Fixed<Step> {
    Fixed(parse_disabled_step, disable_step_values)
}
