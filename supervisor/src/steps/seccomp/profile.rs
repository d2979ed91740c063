//! Operator profiles, told apart by content: Docker's format or the OCI runtime spec's
//! (`docker.rs` turns them into seccompiler's JSON), or seccompiler's own JSON with a filter named
//! `workload`; each filter compiled behind the workload head.

use super::bpf::{head, Head, TARGET_ARCH};
use super::docker::Here;
use super::{CheckedProgram, ProgramName, SeccompCompileError};

/// An operator profile, already read by the caller: Docker's or the OCI runtime spec's format
/// (a `config.json` or its `linux.seccomp` object), or seccompiler's JSON with a filter named
/// `workload`.
#[derive(Debug, Clone, Copy)]
pub struct Profile<'a> {
    /// What to call the profile in messages (its path).
    pub name: &'a str,
    /// The JSON text.
    pub json: &'a [u8],
}

/// The profile's programs, each behind [`Head::Workload`], length-checked: seccompiler's
/// `workload` filter, or the filters a Docker or OCI profile becomes (see `docker.rs`) for a
/// workload that keeps `cap_add`.
pub(crate) fn compile_profile(
    profile: Profile<'_>,
    cap_add: &[u32],
) -> Result<Vec<CheckedProgram>, SeccompCompileError> {
    super::count_compiled();
    let invalid = |why: String| SeccompCompileError::ProfileInvalid {
        profile: profile.name.to_owned(),
        why,
    };
    let document: serde_json::Value =
        serde_json::from_slice(profile.json).map_err(|err| invalid(format!("not JSON: {err}")))?;
    let Some(seccomp) = super::docker::seccomp_object(&document).map_err(invalid)? else {
        let mut filters = compile(profile, profile.json)?;
        let program = filters
            .remove("workload")
            .ok_or_else(|| SeccompCompileError::ProfileNoWorkload(profile.name.to_owned()))?;
        return Ok(vec![behind_head(profile, program)?]);
    };
    let (converted, order) =
        super::docker::convert(seccomp, &Here::new(cap_add)).map_err(invalid)?;
    let mut filters = compile(profile, converted.to_string().as_bytes())?;
    order
        .iter()
        .map(|name| {
            let program = filters
                .remove(name)
                .expect("every converted filter compiles");
            behind_head(profile, program)
        })
        .collect()
}

/// seccompiler's JSON `json` compiled for this architecture.
fn compile(profile: Profile<'_>, json: &[u8]) -> Result<seccompiler::BpfMap, SeccompCompileError> {
    match seccompiler::compile_from_json(json, TARGET_ARCH) {
        Ok(filters) => Ok(filters),
        // seccompiler stops at the same limit: the operator's length error either way.
        Err(seccompiler::Error::Backend(seccompiler::BackendError::FilterTooLarge(len))) => {
            Err(SeccompCompileError::TooLong {
                program: ProgramName::Profile(profile.name.to_owned()),
                len: head(Head::Workload).len() + len,
            })
        }
        Err(source) => Err(SeccompCompileError::ProfileCompile {
            profile: profile.name.to_owned(),
            source,
        }),
    }
}

fn behind_head(
    profile: Profile<'_>,
    program: seccompiler::BpfProgram,
) -> Result<CheckedProgram, SeccompCompileError> {
    CheckedProgram::check(
        ProgramName::Profile(profile.name.to_owned()),
        head(Head::Workload).into_iter().chain(program).collect(),
    )
}
