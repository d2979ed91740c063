//! The rules layer: which calls the filters deny, which they inspect and how, as data.

use super::bpf::{arg, Jump, Op};

/// `socket` type `SOCK_PACKET` (absent from libc's glibc constants).
pub(crate) const SOCK_PACKET: u32 = 10;
/// The bits of a socket type that name the type (the rest are `SOCK_NONBLOCK`/`SOCK_CLOEXEC`).
pub(crate) const SOCK_TYPE_MASK: u32 = 0xf;
/// Every namespace flag `clone` can carry. `CLONE_NEWTIME` (0x80) lies inside `CSIGNAL`, which the
/// kernel strips from `clone`'s flags, so only `unshare` (and `clone3`) can ask for it.
pub(crate) const CLONE_NAMESPACES: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;
/// Every namespace flag `unshare` takes.
pub(crate) const UNSHARE_NAMESPACES: u32 = CLONE_NAMESPACES | libc::CLONE_NEWTIME as u32;
/// The `personality` values Docker allows: `PER_LINUX`, `PER_LINUX32`, `UNAME26`,
/// `PER_LINUX32 | UNAME26`, and the query `0xffffffff`.
pub const PERSONALITY_ALLOWED: [u32; 5] = [0, 0x0008, 0x0002_0000, 0x0002_0008, 0xffff_ffff];

/// The `ioctl` requests the workload filter denies whatever the descriptor: they push input into
/// a terminal (`TIOCSTI`, and `TIOCLINUX`'s paste on a virtual console), replace its line
/// discipline (`TIOCSETD`: a dead terminal after the run, or a module loaded), redirect the console
/// (`TIOCCONS`), or take a terminal as the controlling one (`TIOCSCTTY`; the supervisor's own code
/// sets the workload's before the filter is installed). The request is an `unsigned int` to the
/// kernel: its low 32 bits are the whole request.
pub const IOCTL_DENIED: [(&str, u32); 5] = [
    ("TIOCSCTTY", libc::TIOCSCTTY as u32),
    ("TIOCSTI", libc::TIOCSTI as u32),
    ("TIOCLINUX", libc::TIOCLINUX as u32),
    ("TIOCCONS", libc::TIOCCONS as u32),
    ("TIOCSETD", libc::TIOCSETD as u32),
];
/// The lowest and highest of [`IOCTL_DENIED`] (0x540e and 0x5423, the same on x86_64 and aarch64).
pub(crate) const IOCTL_DENIED_LOW: u32 = libc::TIOCSCTTY as u32;
pub(crate) const IOCTL_DENIED_HIGH: u32 = libc::TIOCSETD as u32;

/// The LSM attribute calls (Linux 6.8), not named by libc yet; one number on both architectures.
pub(crate) const SYS_LSM_GET_SELF_ATTR: i64 = 459;
pub(crate) const SYS_LSM_SET_SELF_ATTR: i64 = 460;
pub(crate) const SYS_LSM_LIST_MODULES: i64 = 461;

/// Calls the supervisor denies itself once it has booted: mounting, module loading, kexec, bpf,
/// perf and userfaultfd. The workload filter denies them too.
pub const PRELUDE_DENIED: &[(&str, i64)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
];

/// Calls the workload filter denies whatever their arguments, besides [`PRELUDE_DENIED`].
/// docs/seccomp.md gives the reason and Docker's rule for each.
pub const WORKLOAD_DENIED: &[(&str, i64)] = &[
    // Fileless exec, other processes' memory, file descriptors and signals.
    ("memfd_create", libc::SYS_memfd_create),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("process_madvise", libc::SYS_process_madvise),
    ("kcmp", libc::SYS_kcmp),
    ("pidfd_open", libc::SYS_pidfd_open),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("pidfd_send_signal", libc::SYS_pidfd_send_signal),
    // io_uring runs calls the filter never sees.
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    // Namespaces.
    ("setns", libc::SYS_setns),
    // Mounts and quotas.
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", libc::SYS_quotactl_fd),
    // Keyrings are not namespaced.
    ("add_key", libc::SYS_add_key),
    ("keyctl", libc::SYS_keyctl),
    ("request_key", libc::SYS_request_key),
    // File handles bypass path permissions.
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    // Host administration.
    ("acct", libc::SYS_acct),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("reboot", libc::SYS_reboot),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("fanotify_init", libc::SYS_fanotify_init),
    ("lsm_get_self_attr", SYS_LSM_GET_SELF_ATTR),
    ("lsm_set_self_attr", SYS_LSM_SET_SELF_ATTR),
    ("lsm_list_modules", SYS_LSM_LIST_MODULES),
    // NUMA placement (CAP_SYS_NICE in Docker's profile).
    ("mbind", libc::SYS_mbind),
    ("set_mempolicy", libc::SYS_set_mempolicy),
    ("get_mempolicy", libc::SYS_get_mempolicy),
    ("set_mempolicy_home_node", libc::SYS_set_mempolicy_home_node),
    ("migrate_pages", libc::SYS_migrate_pages),
    ("move_pages", libc::SYS_move_pages),
    // Obsolete.
    ("nfsservctl", libc::SYS_nfsservctl),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
    #[cfg(target_arch = "x86_64")]
    ("ustat", libc::SYS_ustat),
    #[cfg(target_arch = "x86_64")]
    ("sysfs", libc::SYS_sysfs),
    #[cfg(target_arch = "x86_64")]
    ("_sysctl", libc::SYS__sysctl),
    #[cfg(target_arch = "x86_64")]
    ("getpmsg", libc::SYS_getpmsg),
    #[cfg(target_arch = "x86_64")]
    ("putpmsg", libc::SYS_putpmsg),
    #[cfg(target_arch = "x86_64")]
    ("afs_syscall", libc::SYS_afs_syscall),
    #[cfg(target_arch = "x86_64")]
    ("tuxcall", libc::SYS_tuxcall),
    #[cfg(target_arch = "x86_64")]
    ("security", libc::SYS_security),
    #[cfg(target_arch = "x86_64")]
    ("vserver", libc::SYS_vserver),
];

/// A call whose arguments the built-in filter inspects. Only the low 32 bits of an argument are
/// compared: every inspected argument is an `int` or `unsigned int` to the kernel, or (clone and
/// unshare flags) has every namespace flag in its low half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Inspect {
    /// `socket`: `SOCK_PACKET` of any family; `AF_PACKET`, `AF_BLUETOOTH`, `AF_VSOCK`, `AF_ALG`;
    /// `AF_NETLINK` other than `NETLINK_ROUTE`; `SOCK_RAW` of `AF_INET`/`AF_INET6`.
    Socket,
    /// `personality` with a value outside [`PERSONALITY_ALLOWED`].
    Personality,
    /// `clone` with a namespace flag.
    Clone,
    /// `unshare` with a namespace flag.
    Unshare,
    /// `execveat` with `AT_EMPTY_PATH` (exec of a descriptor).
    Execveat,
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    Seccomp,
    /// `prctl(PR_SET_SECCOMP)`.
    Prctl,
    /// `ioctl` with a request in [`IOCTL_DENIED`]: terminal injection and takeover.
    Ioctl,
}

impl Inspect {
    /// The syscall inspected.
    pub fn syscall(self) -> u32 {
        let nr = match self {
            Inspect::Socket => libc::SYS_socket,
            Inspect::Personality => libc::SYS_personality,
            Inspect::Clone => libc::SYS_clone,
            Inspect::Unshare => libc::SYS_unshare,
            Inspect::Execveat => libc::SYS_execveat,
            Inspect::Seccomp => libc::SYS_seccomp,
            Inspect::Prctl => libc::SYS_prctl,
            Inspect::Ioctl => libc::SYS_ioctl,
        };
        nr as u32
    }

    /// The checks, as a small program over the arguments.
    pub(crate) fn ops(self) -> Vec<Op> {
        use Jump::{Allow, Deny, Next, Skip};
        use Op::{And, Jeq, Jge, Jset, Load};
        let family = |family: i32| family as u32;
        match self {
            // Ordered for the frequent case: a non-raw socket below AF_NETLINK (unix, inet,
            // inet6) is allowed after six instructions.
            Inspect::Socket => vec![
                Load(arg(1)),
                And(SOCK_TYPE_MASK),
                Jeq(SOCK_PACKET, Deny, Next),
                Jeq(libc::SOCK_RAW as u32, Next, Skip(3)),
                Load(arg(0)),
                Jeq(family(libc::AF_INET), Deny, Next),
                Jeq(family(libc::AF_INET6), Deny, Skip(1)),
                Load(arg(0)),
                // Every family denied below lies at or above AF_NETLINK (16).
                Jge(family(libc::AF_NETLINK), Next, Allow),
                Jeq(family(libc::AF_NETLINK), Next, Skip(2)),
                Load(arg(2)),
                Jeq(libc::NETLINK_ROUTE as u32, Allow, Deny),
                Jeq(family(libc::AF_PACKET), Deny, Next),
                Jeq(family(libc::AF_BLUETOOTH), Deny, Next),
                Jeq(family(libc::AF_VSOCK), Deny, Next),
                Jeq(family(libc::AF_ALG), Deny, Allow),
            ],
            Inspect::Personality => {
                let mut ops = vec![Load(arg(0))];
                let (last, rest) = PERSONALITY_ALLOWED.split_last().expect("not empty");
                ops.extend(rest.iter().map(|&value| Jeq(value, Allow, Next)));
                ops.push(Jeq(*last, Allow, Deny));
                ops
            }
            Inspect::Clone => vec![Load(arg(0)), Jset(CLONE_NAMESPACES, Deny, Allow)],
            Inspect::Unshare => vec![Load(arg(0)), Jset(UNSHARE_NAMESPACES, Deny, Allow)],
            Inspect::Execveat => vec![Load(arg(4)), Jset(libc::AT_EMPTY_PATH as u32, Deny, Allow)],
            Inspect::Seccomp => vec![
                Load(arg(0)),
                Jeq(libc::SECCOMP_SET_MODE_FILTER, Deny, Allow),
            ],
            Inspect::Prctl => vec![Load(arg(0)), Jeq(libc::PR_SET_SECCOMP as u32, Deny, Allow)],
            Inspect::Ioctl => {
                // Every denied request lies in [IOCTL_DENIED_LOW, IOCTL_DENIED_HIGH]: the frequent
                // ones outside it (TCGETS, TCSETS, FIONBIO...) are allowed after three ops.
                let mut ops = vec![
                    Load(arg(1)),
                    Jge(IOCTL_DENIED_HIGH + 1, Allow, Next),
                    Jge(IOCTL_DENIED_LOW, Next, Allow),
                ];
                let (last, rest) = IOCTL_DENIED.split_last().expect("not empty");
                ops.extend(rest.iter().map(|&(_, request)| Jeq(request, Deny, Next)));
                ops.push(Jeq(last.1, Deny, Allow));
                ops
            }
        }
    }
}

/// What the filter does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Allowed.
    Allow,
    /// Denied with `EPERM` whatever the arguments.
    Deny,
    /// Arguments inspected.
    Inspect(Inspect),
}

/// The rules of a built-in program: a number not listed is allowed.
#[derive(Debug, Clone)]
pub struct Rules(pub(crate) std::collections::BTreeMap<u32, Rule>);

impl Rules {
    /// The rule for syscall `nr`.
    pub fn rule(&self, nr: u32) -> Rule {
        self.0.get(&nr).copied().unwrap_or(Rule::Allow)
    }

    pub(crate) fn set(&mut self, nr: i64, rule: Rule) {
        let nr = u32::try_from(nr).expect("syscall numbers are small");
        self.0.insert(nr, rule);
    }

    /// The prelude's rules.
    pub fn prelude() -> Self {
        let mut rules = Rules(Default::default());
        for &(_, nr) in PRELUDE_DENIED {
            rules.set(nr, Rule::Deny);
        }
        rules
    }

    /// The built-in workload filter's rules.
    pub fn workload() -> Self {
        let mut rules = Rules::prelude();
        for &(_, nr) in WORKLOAD_DENIED {
            rules.set(nr, Rule::Deny);
        }
        let inspected = [
            Inspect::Socket,
            Inspect::Personality,
            Inspect::Clone,
            Inspect::Unshare,
            Inspect::Execveat,
            Inspect::Seccomp,
            Inspect::Prctl,
            Inspect::Ioctl,
        ];
        for inspect in inspected {
            rules.set(i64::from(inspect.syscall()), Rule::Inspect(inspect));
        }
        rules
    }

    /// Runs of numbers with the same rule, as (first number, rule), covering 0..=u32::MAX.
    /// Each inspected call is its own run (no two share an [`Inspect`]).
    pub(crate) fn segments(&self) -> Vec<(u32, Rule)> {
        let mut segments: Vec<(u32, Rule)> = Vec::new();
        let mut add = |start: u32, rule: Rule| {
            if segments.last().is_some_and(|&(first, _)| first == start) {
                segments.pop();
            }
            if !matches!(segments.last(), Some(&(_, last)) if last == rule) {
                segments.push((start, rule));
            }
        };
        add(0, Rule::Allow);
        for (&nr, &rule) in &self.0 {
            add(nr, rule);
            if let Some(next) = nr.checked_add(1) {
                if !self.0.contains_key(&next) {
                    add(next, Rule::Allow);
                }
            }
        }
        segments
    }
}

/// Inspected calls checked one by one right after the head, most frequent first, before the
/// search. A call allowed by its number alone never runs the filter (the kernel caches the verdict
/// per number), so the filter's cost is paid by inspected calls: these four reach their argument
/// check in one to four comparisons instead of the search's depth. `ioctl` comes last so that the
/// three others keep their cost; its frequent requests are allowed three ops into its check.
pub const HOT: [Inspect; 4] = [
    Inspect::Socket,
    Inspect::Clone,
    Inspect::Prctl,
    Inspect::Ioctl,
];
