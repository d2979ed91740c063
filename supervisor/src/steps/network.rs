//! The network namespace: `unshare(CLONE_NEWNET)` for the supervisor (and so for the sandbox it
//! creates), loopback brought up, and a check of what really took effect.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::procfs::{namespace_inode, Process};
use crate::steps::{Call, Refusal, Step};

/// What was verified after entering the namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetnsStatus {
    /// Inode of the network namespace after `unshare`.
    pub netns_inode: u64,
    /// Inode of the network namespace before `unshare`.
    pub parent_netns_inode: u64,
    /// Interface names seen in the new namespace.
    pub interfaces: Vec<String>,
    /// Interfaces that are up (only `lo`).
    pub interfaces_up: Vec<String>,
}

/// Why the namespace is not in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsError {
    /// The kernel refused a call: a refusal for the handler.
    Refused(Refusal),
    /// A call reported success that the checks afterwards do not confirm: what was seen, for the
    /// one verification failure of every step (exit 123, never a handler's question).
    Unverified(String),
}

fn inode() -> Result<u64, NetnsError> {
    namespace_inode(Process::This, "net")
        .map_err(|err| NetnsError::Unverified(format!("failed to read /proc/self/ns/net: {err}")))
}

fn refused(call: Call) -> impl FnOnce(Errno) -> NetnsError {
    move |errno| {
        NetnsError::Refused(Refusal {
            step: Step::NetworkNamespace,
            call,
            errno,
        })
    }
}

/// Moves the calling process into a new network namespace, brings `lo` up and verifies both.
///
/// `unshare` moves only the calling thread: it must be the process's main thread (`/proc/self`
/// names it), which spawns the sandbox. Another thread (the uid scan's, joined before the spawn)
/// stays in the namespace it was in.
pub fn enter() -> Result<NetnsStatus, NetnsError> {
    let parent = inode()?;
    nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(refused(Call::UnshareNet))?;
    loopback_up()?;
    verify(parent)
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
fn loopback_up() -> Result<(), NetnsError> {
    let socket: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(refused(Call::LoopbackSocket))?;
    let mut request = loopback_request();
    // SAFETY: `request` is a valid `ifreq` naming `lo`; SIOCGIFFLAGS writes only `ifr_flags` in it.
    unsafe { siocgifflags(socket.as_raw_fd(), &mut request) }
        .map_err(refused(Call::LoopbackGetFlags))?;
    // SAFETY: the union member `ifru_flags` is the one SIOCGIFFLAGS filled in.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    if flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: `request` is a valid `ifreq` naming `lo` with the flags to set; the kernel only reads it.
    unsafe { siocsifflags(socket.as_raw_fd(), &request) }
        .map_err(refused(Call::LoopbackSetFlags))?;
    Ok(())
}

fn verify(parent: u64) -> Result<NetnsStatus, NetnsError> {
    let unverified = |detail: String| Err(NetnsError::Unverified(detail));
    let netns_inode = inode()?;
    if netns_inode == parent {
        return unverified(format!("unshare(CLONE_NEWNET) returned success but the network namespace is unchanged (inode {netns_inode})"));
    }
    // Fallback tunnel devices (sit0, tunl0, ...) appear in every new namespace when their modules
    // are loaded; they are down and carry nothing. Only an interface that is up matters.
    let mut interfaces = Vec::new();
    let mut up = Vec::new();
    let listed = nix::ifaddrs::getifaddrs().map_err(|errno| {
        NetnsError::Unverified(format!(
            "failed to list interfaces in the new network namespace: {errno}"
        ))
    })?;
    for interface in listed {
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
    let extra: Vec<String> = up.iter().filter(|name| *name != "lo").cloned().collect();
    if !extra.is_empty() {
        return unverified(format!(
            "the new network namespace has interfaces other than lo up: {extra:?}"
        ));
    }
    if up.is_empty() {
        return unverified("lo is not up in the new network namespace".to_owned());
    }
    Ok(NetnsStatus {
        netns_inode,
        parent_netns_inode: parent,
        interfaces,
        interfaces_up: up,
    })
}
