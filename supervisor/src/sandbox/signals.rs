//! The stop signals during the boot: blocked, and read from a descriptor.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::sandbox::SpawnError;

/// The signals that stop the boot: the supervisor takes them during the boot, the workload gets
/// them once it runs.
pub const STOP_SIGNALS: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
];

/// Creates the descriptor on which the supervisor takes the [`STOP_SIGNALS`] during the boot
/// (they must be blocked already). The other supervised signals are not read from it: they stay
/// pending until supervision forwards them.
pub fn signal_fd() -> Result<SignalFd, SpawnError> {
    SignalFd::with_flags(
        &STOP_SIGNALS.into_iter().collect(),
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )
    .map_err(SpawnError::call("create the signal descriptor"))
}

/// Takes a pending stop signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) from the descriptor made by
/// [`signal_fd`], if one is pending.
pub fn take_stop_signal(signals: &SignalFd) -> Result<Option<Signal>, SpawnError> {
    loop {
        match signals.read_signal() {
            Ok(Some(info)) => {
                let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                if STOP_SIGNALS.contains(&signal) {
                    return Ok(Some(signal));
                }
            }
            Ok(None) | Err(Errno::EAGAIN) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(source) => {
                return Err(SpawnError::Call {
                    what: "read the signal descriptor",
                    source,
                })
            }
        }
    }
}
