//! The supervisor's own seccomp prelude: installed on the supervisor last, once the sandbox
//! exists (it denies `mount`, which the init needs, and the workload must not inherit it), then
//! verified by counting.

use crate::error::SupervisorError;
use crate::procfs::{Process, Status};
use crate::record::Evidence;
use crate::steps::seccomp::Seccomp;
use crate::steps::{Call, Refusal, Step};

/// In the parent: the prelude as the build ships it (a const table; nothing compiled).
pub(crate) fn prepare() -> Result<crate::steps::seccomp::CheckedProgram, SupervisorError> {
    Ok(crate::steps::seccomp::Builtin::Prelude.program()?)
}

/// Sets no_new_privs and installs the prelude on the supervisor, then verifies it by counting.
pub(crate) fn install(
    prelude: &crate::steps::seccomp::CheckedProgram,
) -> Result<Result<Evidence, Refusal>, SupervisorError> {
    let refusal = |call, errno| Refusal {
        step: Step::SupervisorSeccomp,
        call,
        errno,
    };
    let before = Status::read(Process::This)?.seccomp_filters;
    if let Err(errno) = crate::steps::no_new_privs::set() {
        return Ok(Err(refusal(Call::NoNewPrivs, errno)));
    }
    // A faked success would make the installation fail with EACCES, which is no refusal.
    if !crate::steps::no_new_privs::is_set() {
        return Err(SupervisorError::Verify {
            step: Step::SupervisorSeccomp,
            detail: "prctl(PR_SET_NO_NEW_PRIVS) returned success but PR_GET_NO_NEW_PRIVS is not 1"
                .to_owned(),
        });
    }
    if let Err(errno) = crate::steps::seccomp::install(prelude) {
        return Ok(Err(refusal(Call::Seccomp, errno)));
    }
    let after = Status::read(Process::This)?;
    let mode = crate::steps::seccomp::seccomp_mode().unwrap_or(-1);
    let counted = match (before, after.seccomp_filters) {
        (Some(before), Some(after)) => after == before + 1,
        _ => true,
    };
    if mode != 2 || !counted || after.no_new_privs == Some(0) {
        return Err(SupervisorError::Verify {
            step: Step::SupervisorSeccomp,
            detail: format!(
                "seccomp() returned success but PR_GET_SECCOMP is {mode} and Seccomp_filters went from {before:?} to {:?}",
                after.seccomp_filters
            ),
        });
    }
    Ok(Ok(Evidence::Seccomp(Seccomp {
        source: "prelude".to_owned(),
        programs: 1,
        seccomp: after.seccomp,
        seccomp_filters: after.seccomp_filters,
        seccomp_filters_before: before,
    })))
}
