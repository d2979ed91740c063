//! The network namespace: `unshare(CLONE_NEWNET)` for the supervisor (and so for the workload it
//! forks), loopback brought up, and a check of what really took effect.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// A step of entering the namespace that the kernel refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsRefusal {
    /// The call, as written in messages.
    pub syscall: &'static str,
    /// The raw errno.
    pub errno: Errno,
}

/// What was verified after entering the namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsStatus {
    /// Inode of `/proc/self/ns/net` before `unshare`.
    pub parent_inode: u64,
    /// Inode of `/proc/self/ns/net` after `unshare`.
    pub inode: u64,
    /// Interface names seen in the new namespace (only `lo` is up).
    pub interfaces: Vec<String>,
    /// Whether `lo` is up.
    pub loopback_up: bool,
}

/// Entering the namespace reported success, but the checks afterwards disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsVerifyError {
    /// `/proc/self/ns/net` could not be read.
    #[error("failed to read /proc/self/ns/net: {0}")]
    Inode(String),
    /// The inode did not change.
    #[error(
        "unshare(CLONE_NEWNET) returned success but the network namespace is unchanged (inode {0})"
    )]
    Unchanged(u64),
    /// Interfaces other than `lo` are up.
    #[error("the new network namespace has interfaces other than lo up: {0:?}")]
    ExtraInterfaces(Vec<String>),
    /// `lo` is missing or down.
    #[error("lo is not up in the new network namespace")]
    LoopbackDown,
    /// Interfaces could not be listed.
    #[error("failed to list interfaces in the new network namespace: {0}")]
    List(Errno),
}

/// The inode of the calling thread's network namespace.
pub fn current_inode() -> Result<u64, NetnsVerifyError> {
    std::fs::metadata("/proc/self/ns/net")
        .map(|meta| meta.ino())
        .map_err(|err| NetnsVerifyError::Inode(err.to_string()))
}

/// Moves the calling process into a new network namespace and brings `lo` up.
///
/// Must be called while single-threaded: `unshare` affects only the calling thread. `Ok(Err(_))`
/// is a kernel refusal for the failure handler to decide about; `Err(_)` means the step claimed
/// success and verification disagrees, which is always fatal.
pub fn enter() -> Result<Result<NetnsStatus, NetnsRefusal>, NetnsVerifyError> {
    let parent_inode = current_inode()?;
    if let Err(errno) = nix::sched::unshare(CloneFlags::CLONE_NEWNET) {
        return Ok(Err(NetnsRefusal {
            syscall: "unshare(CLONE_NEWNET)",
            errno,
        }));
    }
    if let Err(refusal) = loopback_up() {
        return Ok(Err(refusal));
    }
    verify(parent_inode).map(Ok)
}

mod ioctl {
    nix::ioctl_read_bad!(siocgifflags, libc::SIOCGIFFLAGS, libc::ifreq);
    nix::ioctl_write_ptr_bad!(siocsifflags, libc::SIOCSIFFLAGS, libc::ifreq);
}
use ioctl::{siocgifflags, siocsifflags};

fn loopback_request() -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct for which all-zero bytes are a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    request
}

/// Sets `IFF_UP` on `lo`. An outer runtime (gVisor) may already have it up, which is accepted.
fn loopback_up() -> Result<(), NetnsRefusal> {
    let socket: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|errno| NetnsRefusal {
        syscall: "socket(AF_INET, SOCK_DGRAM)",
        errno,
    })?;
    let mut request = loopback_request();
    // SAFETY: `request` is a valid `ifreq` naming `lo`; SIOCGIFFLAGS writes only `ifr_flags` in it.
    unsafe { siocgifflags(socket.as_raw_fd(), &mut request) }.map_err(|errno| NetnsRefusal {
        syscall: "ioctl(SIOCGIFFLAGS, lo)",
        errno,
    })?;
    // SAFETY: the union member `ifru_flags` is the one SIOCGIFFLAGS filled in.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: `request` is a valid `ifreq` naming `lo` with the flags to set; the kernel only reads it.
    unsafe { siocsifflags(socket.as_raw_fd(), &request) }.map_err(|errno| NetnsRefusal {
        syscall: "ioctl(SIOCSIFFLAGS, lo, IFF_UP)",
        errno,
    })?;
    Ok(())
}

fn verify(parent_inode: u64) -> Result<NetnsStatus, NetnsVerifyError> {
    let inode = current_inode()?;
    if inode == parent_inode {
        return Err(NetnsVerifyError::Unchanged(inode));
    }
    // Fallback tunnel devices (sit0, tunl0, ...) appear in every new namespace when their modules
    // are loaded; they are down and carry nothing. Only an interface that is up matters.
    let mut interfaces = Vec::new();
    let mut up = Vec::new();
    for interface in nix::ifaddrs::getifaddrs().map_err(NetnsVerifyError::List)? {
        if interface
            .flags
            .contains(nix::net::if_::InterfaceFlags::IFF_UP)
            && !up.contains(&interface.interface_name)
        {
            up.push(interface.interface_name.clone());
        }
        if !interfaces.contains(&interface.interface_name) {
            interfaces.push(interface.interface_name);
        }
    }
    let loopback_up = up.iter().any(|name| name == "lo");
    let extra: Vec<String> = up.into_iter().filter(|name| name != "lo").collect();
    if !extra.is_empty() {
        return Err(NetnsVerifyError::ExtraInterfaces(extra));
    }
    if !loopback_up {
        return Err(NetnsVerifyError::LoopbackDown);
    }
    Ok(NetnsStatus {
        parent_inode,
        inode,
        interfaces,
        loopback_up,
    })
}
