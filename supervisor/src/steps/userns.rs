//! The user-namespace route: how an unprivileged caller gets its namespaces.
//!
//! When the plain `unshare(CLONE_NEWNET)` is refused for lack of privilege and the caller is not
//! root, the supervisor creates a user namespace that maps the caller's uid and gid to themselves
//! (never to 0: the workload is not root inside), writes `deny` to `setgroups` before the gid map
//! as the kernel requires, and creates the sandbox's namespaces inside it, as bubblewrap does when
//! it is not setuid. The workload filter still denies further user namespaces, and the workload
//! drops every capability it holds in this one.

use std::io::Write;

use nix::errno::Errno;

use crate::steps::Call;

/// Which way the namespace steps took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// Created directly with the caller's privileges.
    #[default]
    Direct,
    /// Created inside a user namespace that maps the caller to itself.
    UserNamespace,
}

impl Route {
    /// The name in logs and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::UserNamespace => "user-namespace",
        }
    }
}

fn write_proc(file: &str, text: &str) -> Result<(), Errno> {
    let mut handle = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/{file}"))
        .map_err(|err| Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)))?;
    handle
        .write_all(text.as_bytes())
        .map_err(|err| Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO)))
}

/// Why the route could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernsError {
    /// The kernel refused a call (a refusal, decided by the handler with the plain errno).
    Refused(Call, Errno),
    /// `unshare(CLONE_NEWUSER)` returned success but the user namespace is unchanged.
    Unchanged,
}

/// Moves the calling (single-threaded) process into a new user namespace in which its uid and gid
/// map to themselves.
pub fn enter() -> Result<(), UsernsError> {
    use crate::procfs::{namespace_inode, Process};
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let before = namespace_inode(Process::This, "user").ok();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|errno| UsernsError::Refused(Call::UnshareUser, errno))?;
    if before.is_some() && namespace_inode(Process::This, "user").ok() == before {
        return Err(UsernsError::Unchanged);
    }
    // Without `deny` an unprivileged process may not write its gid map (CVE-2014-8989).
    match write_proc("setgroups", "deny") {
        // Kernels before 3.19 have no setgroups file.
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(errno) => return Err(UsernsError::Refused(Call::WriteIdMap, errno)),
    }
    let refused = |errno| UsernsError::Refused(Call::WriteIdMap, errno);
    write_proc("uid_map", &format!("{uid} {uid} 1\n")).map_err(refused)?;
    write_proc("gid_map", &format!("{gid} {gid} 1\n")).map_err(refused)?;
    Ok(())
}
