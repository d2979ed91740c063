//! Operator profiles: seccompiler's JSON, compiled behind the workload head.

use super::bpf::{head, Head, TARGET_ARCH};
use super::{CheckedProgram, ProgramName, SeccompCompileError};

/// An operator profile, already read by the caller: seccompiler's JSON format with a filter named
/// `workload`.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// What to call the profile in messages (its path).
    pub name: &'a str,
    /// The JSON text.
    pub json: &'a [u8],
}

/// The profile's `workload` filter behind [`Head::Workload`], length-checked.
pub(crate) fn compile_profile(profile: Profile<'_>) -> Result<CheckedProgram, SeccompCompileError> {
    super::count_compiled();
    let name = || ProgramName::Profile(profile.name.to_owned());
    let head = head(Head::Workload);
    let mut filters = match seccompiler::compile_from_json(profile.json, TARGET_ARCH) {
        Ok(filters) => filters,
        // seccompiler stops at the same limit: the operator's length error either way.
        Err(seccompiler::Error::Backend(seccompiler::BackendError::FilterTooLarge(len))) => {
            return Err(SeccompCompileError::TooLong {
                program: name(),
                len: head.len() + len,
            })
        }
        Err(source) => {
            return Err(SeccompCompileError::ProfileCompile {
                profile: profile.name.to_owned(),
                source,
            })
        }
    };
    let program = filters
        .remove("workload")
        .ok_or_else(|| SeccompCompileError::ProfileNoWorkload(profile.name.to_owned()))?;
    CheckedProgram::check(name(), head.into_iter().chain(program).collect())
}
