//! Errno values a policy commonly decides on, so that a plugin needs no `libc` dependency.
//!
//! [`FailureReport::errno`](crate::FailureReport::errno) is the raw value the kernel (or an outer
//! runtime) returned; compare it with these constants.

use nix::libc;

/// Operation not permitted: a missing capability, a seccomp profile, a sysctl.
pub const EPERM: i32 = libc::EPERM;
/// No such file or directory.
pub const ENOENT: i32 = libc::ENOENT;
/// Interrupted system call.
pub const EINTR: i32 = libc::EINTR;
/// Input/output error.
pub const EIO: i32 = libc::EIO;
/// Resource temporarily unavailable.
pub const EAGAIN: i32 = libc::EAGAIN;
/// Out of memory.
pub const ENOMEM: i32 = libc::ENOMEM;
/// Permission denied: typically an LSM (AppArmor, SELinux).
pub const EACCES: i32 = libc::EACCES;
/// Bad address.
pub const EFAULT: i32 = libc::EFAULT;
/// Device or resource busy.
pub const EBUSY: i32 = libc::EBUSY;
/// File exists (gVisor answers it when `lo` already has its address).
pub const EEXIST: i32 = libc::EEXIST;
/// Invalid argument (gVisor answers it for seccomp filter flags it does not support).
pub const EINVAL: i32 = libc::EINVAL;
/// No space left on device, or a namespace count limit (`user.max_*_namespaces`).
pub const ENOSPC: i32 = libc::ENOSPC;
/// Function not implemented: a runtime without the call.
pub const ENOSYS: i32 = libc::ENOSYS;
/// Operation not supported.
pub const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
/// Read-only file system: a cgroup file system mounted read-only (a pod without delegation).
pub const EROFS: i32 = libc::EROFS;

/// The errno with this symbolic name (`EPERM`), from the platform's table; `None` when unknown.
pub fn from_name(name: &str) -> Option<i32> {
    (1..4096).find(|errno| crate::errno_name(*errno) == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_values_agree() {
        for (name, value) in [
            ("EPERM", super::EPERM),
            ("EACCES", super::EACCES),
            ("EINVAL", super::EINVAL),
            ("ENOSYS", super::ENOSYS),
            ("EOPNOTSUPP", super::EOPNOTSUPP),
        ] {
            assert_eq!(super::from_name(name), Some(value));
            assert_eq!(crate::errno_name(value), name);
        }
        assert_eq!(super::from_name("EBOGUS"), None);
    }
}
