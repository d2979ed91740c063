//! The handshake between the sandbox and the supervisor: fixed-size messages on a
//! `SOCK_SEQPACKET` socket. The children only send (async-signal-safe); the supervisor receives,
//! within [`HANDSHAKE_DEADLINE`], watching the stop signals.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;

use crate::sandbox::signals::take_stop_signal;
use crate::sandbox::{SpawnError, HANDSHAKE_DEADLINE};
use crate::steps::{Call, Step};

/// One message from the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message {
    Failed {
        step: Step,
        call: Call,
        errno: Errno,
    },
    Ready {
        pid: Option<Pid>,
        own_pid: i32,
        /// The Landlock status code (`crate::steps::landlock::status_name`).
        landlock: u8,
    },
    ExecFailed {
        errno: Errno,
    },
    /// The init's pty for the workload: its number, and its master (passed with `SCM_RIGHTS`,
    /// close-on-exec; the receiver owns it).
    Terminal {
        number: u32,
        master: std::os::fd::RawFd,
    },
}

pub(crate) const MESSAGE_LEN: usize = 8;
pub(crate) const READY: u8 = 0xff;
pub(crate) const EXEC_FAILED_MESSAGE: u8 = 0xfe;
pub(crate) const TERMINAL_MESSAGE: u8 = 0xfd;

fn encode(step: Step, call: Call, errno: Errno) -> [u8; MESSAGE_LEN] {
    let mut message = encode_kind(step as u8, errno as i32);
    message[1] = call.code();
    message
}

/// A message of `kind` (a step's index, [`READY`] or [`EXEC_FAILED_MESSAGE`]) carrying `value`
/// (an errno, or the workload's own pid for [`READY`]).
pub(crate) fn encode_kind(kind: u8, value: i32) -> [u8; MESSAGE_LEN] {
    let mut message = [0u8; MESSAGE_LEN];
    message[0] = kind;
    message[4..].copy_from_slice(&value.to_ne_bytes());
    message
}

fn decode(
    message: &[u8; MESSAGE_LEN],
    pid: Option<Pid>,
    fd: Option<std::os::fd::RawFd>,
) -> Option<Message> {
    let value = i32::from_ne_bytes(message[4..].try_into().ok()?);
    let errno = Errno::from_raw(value);
    match (message[0], fd) {
        (TERMINAL_MESSAGE, Some(master)) => {
            return Some(Message::Terminal {
                number: value as u32,
                master,
            })
        }
        (_, Some(_)) => return None,
        _ => {}
    }
    match message[0] {
        READY => {
            return Some(Message::Ready {
                pid,
                own_pid: errno as i32,
                landlock: message[1],
            })
        }
        EXEC_FAILED_MESSAGE => return Some(Message::ExecFailed { errno }),
        _ => {}
    }
    let step = *Step::ALL.get(message[0] as usize)?;
    let call = Call::from_code(message[1])?;
    Some(Message::Failed { step, call, errno })
}

/// Receives one message, or `None` at end of file, within [`HANDSHAKE_DEADLINE`], watching
/// `signals` for a request to stop.
///
/// With `signals` (the descriptor of the stop signals only) a request to stop ends the wait; the
/// other supervised signals stay pending for supervision. Without it (after the release, when the
/// workload may already run) no signal is taken here: supervision forwards them.
pub(crate) fn receive(
    channel: &OwnedFd,
    signals: Option<&SignalFd>,
    waiting_for: &'static str,
) -> Result<Option<Message>, SpawnError> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + HANDSHAKE_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SpawnError::Deadline(waiting_for));
        }
        let mut fds = vec![PollFd::new(channel.as_fd(), PollFlags::POLLIN)];
        if let Some(signals) = signals {
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32 + 1)
            .unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "poll the sandbox",
                    source,
                })
            }
        }
        let channel_ready = fds[0].any().unwrap_or(false);
        let signal_ready = fds.get(1).and_then(|fd| fd.any()).unwrap_or(false);
        if let Some(signals) = signals.filter(|_| signal_ready) {
            if let Some(signal) = take_stop_signal(signals)? {
                return Err(SpawnError::Interrupted(signal));
            }
        }
        if channel_ready {
            return read_message(channel);
        }
    }
}

fn read_message(channel: &OwnedFd) -> Result<Option<Message>, SpawnError> {
    let mut buffer = [0u8; MESSAGE_LEN];
    let mut space = nix::cmsg_space!(nix::sys::socket::UnixCredentials, [RawFd; 1]);
    let (read, pid, fd) = loop {
        let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
        match nix::sys::socket::recvmsg::<()>(
            channel.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => {
                let (mut pid, mut fd) = (None, None);
                for cmsg in message.cmsgs().into_iter().flatten() {
                    match cmsg {
                        ControlMessageOwned::ScmCredentials(creds) => {
                            pid = Some(Pid::from_raw(creds.pid()))
                        }
                        ControlMessageOwned::ScmRights(fds) => {
                            for received in fds {
                                // SAFETY: the kernel just installed this descriptor for this
                                // process; only the first is kept, the others are closed.
                                let owned = unsafe { OwnedFd::from_raw_fd(received) };
                                if fd.is_none() {
                                    fd = Some(owned.into_raw_fd());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                break (message.bytes, pid, fd);
            }
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "read the sandbox's status",
                    source,
                })
            }
        }
    };
    // A descriptor that came with anything but the terminal message is closed.
    let stray = |fd: Option<RawFd>| {
        // SAFETY: the descriptor was received above and handed to no one.
        drop(fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
    };
    if read == 0 {
        stray(fd);
        return Ok(None);
    }
    if read != MESSAGE_LEN {
        stray(fd);
        return Err(SpawnError::Died(format!("a message of {read} bytes")));
    }
    let decoded = decode(&buffer, pid, fd);
    if !matches!(decoded, Some(Message::Terminal { .. })) {
        stray(fd);
    }
    decoded
        .map(Some)
        .ok_or_else(|| SpawnError::Died("an unknown message".into()))
}

/// Sends one message; `false` when it could not be sent (a filter that denies `write`). That
/// cannot be reported anywhere: the sender then ends, and the supervisor sees end of file.
pub(crate) fn send(channel: &OwnedFd, message: &[u8; MESSAGE_LEN]) -> bool {
    // SAFETY: `message` is valid for MESSAGE_LEN bytes of reads; `channel` is an open socket.
    let sent = unsafe { libc::write(channel.as_raw_fd(), message.as_ptr().cast(), MESSAGE_LEN) };
    sent == MESSAGE_LEN as isize
}

/// Sends one message with the descriptor `fd` (`SCM_RIGHTS`); `false` when it could not be sent.
/// Async-signal-safe: the control buffer is on the stack.
pub(crate) fn send_with_fd(channel: &OwnedFd, message: &[u8; MESSAGE_LEN], fd: RawFd) -> bool {
    // Room for one cmsghdr and one int, aligned for cmsghdr.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: message.as_ptr() as *mut libc::c_void,
        iov_len: MESSAGE_LEN,
    };
    // SAFETY: a zeroed msghdr is a valid empty message header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE computes a size from an integer.
    header.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
    // SAFETY: the header's control buffer is `control`, large enough for one descriptor
    // (CMSG_SPACE(4) is 24 bytes, `control` 32), so the first header and its data lie inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
    }
    // SAFETY: `header` points to `iov` and `control`, both live for the call.
    let sent = unsafe { libc::sendmsg(channel.as_raw_fd(), &header, 0) };
    sent == MESSAGE_LEN as isize
}

pub(crate) fn fail(channel: &OwnedFd, step: Step, call: Call, errno: Errno) -> ! {
    let _ = send(channel, &encode(step, call, errno));
    // SAFETY: `_exit` ends the child without running the parent's atexit handlers or destructors.
    unsafe { libc::_exit(125) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call of every step survives the wire: a code changed on one side only, or two
    /// calls sharing one, fails here.
    #[test]
    fn messages_round_trip() {
        let mut seen = Vec::new();
        for step in Step::ALL {
            for call in Call::ALL {
                for errno in [Errno::EPERM, Errno::ENOSYS, Errno::UnknownErrno] {
                    let message = encode(step, call, errno);
                    assert_eq!(
                        decode(&message, None, None),
                        Some(Message::Failed { step, call, errno }),
                        "{step} {call}"
                    );
                }
                let message = encode(step, call, Errno::EPERM);
                assert!(!seen.contains(&message), "{step} {call} shares a message");
                seen.push(message);
            }
        }
        assert_eq!(
            decode(&encode_kind(READY, 2), Some(Pid::from_raw(7)), None),
            Some(Message::Ready {
                pid: Some(Pid::from_raw(7)),
                own_pid: 2,
                landlock: 0
            })
        );
        assert_eq!(
            decode(&encode_kind(TERMINAL_MESSAGE, 3), None, Some(9)),
            Some(Message::Terminal {
                number: 3,
                master: 9
            })
        );
        // A descriptor comes only with the terminal message.
        assert_eq!(decode(&encode_kind(READY, 2), None, Some(9)), None);
    }
}
