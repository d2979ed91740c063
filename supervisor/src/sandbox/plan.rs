//! The plan: everything the sandbox's processes need, allocated in the parent before `clone`.
//! The sandbox knows the steps only through it.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use nix::sys::signal::SigSet;

use crate::sandbox::command::{cstring, CStrings, CommandError};
use crate::steps::capabilities as caps;
use crate::steps::identity::{DropScratch, Identity};
use crate::steps::seccomp::WorkloadFilter;
use crate::steps::Step;

/// Why a step is left out of the next spawn ([`Plan::skip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its protection is lost, and with it every step that requires it: a tolerated refusal, a
    /// step the operator disabled, or `probe` going on after a fatal one.
    Lost,
    /// Its protection already holds without its calls (the ids on the user-namespace route, where
    /// the drop calls are not allowed): nothing is lost with it, and it is still verified.
    Holds,
}

/// Everything the sandbox's processes need, allocated before `clone`.
#[derive(Debug)]
pub struct Plan {
    pub(super) program: CString,
    pub(super) argv: CStrings,
    pub(super) envp: CStrings,
    pub(super) identity: Option<(Identity, DropScratch)>,
    pub(super) filter: Option<WorkloadFilter>,
    pub(super) skipped: [Option<Skip>; Step::ALL.len()],
    pub(super) last_cap: u32,
    pub(super) keep_caps: u64,
    pub(super) cwd: Option<CString>,
    pub(super) fresh_sys: bool,
    pub(super) mask: SigSet,
    pub(super) view: Option<crate::steps::view::View>,
    pub(super) landlock: Option<crate::steps::landlock::Prepared>,
    pub(super) rlimits: Vec<crate::steps::rlimits::Planned>,
    pub(super) cgroup_fds: Vec<i32>,
    /// The v2 group's directory and join descriptor, for `clone3(CLONE_INTO_CGROUP)`.
    pub(super) cgroup_into: Option<(i32, i32)>,
    /// In the init: the join descriptor of the group it was cloned into (not written again).
    pub(super) cgroup_born_in: Option<i32>,
    pub(super) output: crate::sandbox::output::Output,
    /// The standard descriptors that get a pty of the sandbox's own (`None`: no terminal).
    pub(super) terminal: Option<crate::sandbox::pty::Planned>,
    /// The sandbox's control group, once made: supervision signals it, the teardown removes it
    /// (and dropping the plan removes it on every early return).
    group: std::cell::RefCell<Option<crate::steps::cgroup::SandboxGroup>>,
    /// The lock of the uid allocated for the run: released when the plan goes, after the
    /// sandbox's group (the last field: dropped last).
    uid_lease: Option<crate::steps::identity::alloc::Lease>,
}

impl Plan {
    /// Prepares a spawn of `program` with `args` (`args[0]` is the name the workload sees), the
    /// environment `env` (`KEY=VALUE` entries), the identity to drop to, the workload filter, and
    /// `mask`, the signal mask the workload gets back before `execve`.
    pub fn new(
        program: &Path,
        args: &[OsString],
        env: Vec<OsString>,
        identity: Option<Identity>,
        filter: WorkloadFilter,
        mask: SigSet,
    ) -> Result<Self, CommandError> {
        Ok(Plan {
            program: cstring(program.as_os_str())?,
            argv: CStrings::new(args.iter().cloned())?,
            envp: CStrings::new(env)?,
            identity: identity.map(|identity| {
                let scratch = DropScratch::new(&identity);
                (identity, scratch)
            }),
            filter: Some(filter),
            skipped: [None; Step::ALL.len()],
            last_cap: caps::last_cap(),
            keep_caps: 0,
            cwd: std::env::current_dir()
                .ok()
                .and_then(|dir| CString::new(dir.into_os_string().into_vec()).ok()),
            fresh_sys: false,
            mask,
            view: None,
            landlock: None,
            rlimits: Vec::new(),
            cgroup_fds: Vec::new(),
            cgroup_into: None,
            cgroup_born_in: None,
            output: Default::default(),
            terminal: None,
            group: std::cell::RefCell::new(None),
            uid_lease: None,
        })
    }

    /// Holds the lock of the uid allocated for the run until the plan is dropped.
    pub(crate) fn hold_uid(&mut self, lease: Option<crate::steps::identity::alloc::Lease>) {
        self.uid_lease = lease;
    }

    /// Proves the uid allocated for the run free of the host's tasks, the workload's identity
    /// following a uid taken instead of a held one (`crate::steps::identity::settle`). An
    /// allocated identity has no supplementary group: its scratch space does not change.
    pub(crate) fn settle_uid(&mut self) -> Result<(), crate::steps::identity::alloc::AllocError> {
        crate::steps::identity::settle(
            self.identity.as_mut().map(|(identity, _)| identity),
            self.uid_lease.as_mut(),
        )
    }

    /// Whether the uid allocated for the run, if any, is proved free of the host's tasks.
    pub(crate) fn uid_settled(&self) -> bool {
        self.uid_lease
            .as_ref()
            .map_or(true, crate::steps::identity::alloc::Lease::settled)
    }

    /// The sandbox's descriptors 1 and 2 become these pipes (the init applies them).
    pub(crate) fn relay_output(&mut self, output: crate::sandbox::output::Output) {
        self.output = output;
    }

    /// The workload gets a pty of the sandbox's own on these standard descriptors.
    pub(crate) fn give_terminal(&mut self, terminal: Option<crate::sandbox::pty::Planned>) {
        self.terminal = terminal;
    }

    /// The standard descriptors that get a pty of the sandbox's own, if any.
    pub(crate) fn terminal(&self) -> Option<&crate::sandbox::pty::Planned> {
        self.terminal.as_ref()
    }

    /// The output relay, once the sandbox is released: the supervisor's copies of the write ends
    /// are closed, and the workload's pty (its `master`, when it has one) is relayed.
    pub(crate) fn take_output(
        &mut self,
        master: Option<std::os::fd::OwnedFd>,
    ) -> crate::sandbox::output::Output {
        let mut output = std::mem::take(&mut self.output);
        output.released();
        output.relay_terminal(master, self.terminal.as_ref());
        output
    }

    /// Leaves `step` out of the next spawn. When its protection is lost ([`Skip::Lost`]), every
    /// step that requires it (the step catalogue's `requires`) is left out with it; returns those,
    /// which are lost with it. When it already holds ([`Skip::Holds`]), nothing is lost and it is
    /// still verified.
    #[must_use = "the steps lost with this one are recorded"]
    pub fn skip(&mut self, step: Step, why: Skip) -> Vec<Step> {
        if why == Skip::Holds {
            let slot = &mut self.skipped[step as usize];
            *slot = Some(slot.unwrap_or(Skip::Holds));
            return Vec::new();
        }
        let lost = step.dependents();
        for &left_out in std::iter::once(&step).chain(&lost) {
            self.skipped[left_out as usize] = Some(Skip::Lost);
            if left_out == Step::WorkloadSeccomp {
                self.filter = None;
            }
            if left_out == Step::Cgroup {
                self.cgroup_fds.clear();
                self.cgroup_into = None;
            }
        }
        lost
    }

    /// Whether the operator asked for `step` (a caller that names no identity and runs as itself
    /// asks for no privilege drop).
    pub fn requested(&self, step: Step) -> bool {
        step != Step::PrivilegeDrop || self.identity.is_some()
    }

    /// Whether what `step` promised is checked after the spawn: it was performed, or it was asked
    /// for and holds without having been performed ([`Skip::Holds`]).
    pub fn verifies(&self, step: Step) -> bool {
        self.performs(step)
            || (self.skipped[step as usize] == Some(Skip::Holds) && self.requested(step))
    }

    /// Whether the next spawn performs `step`.
    pub fn performs(&self, step: Step) -> bool {
        self.skipped[step as usize].is_none()
            && match step {
                Step::PrivilegeDrop => self.identity.is_some(),
                Step::WorkloadSeccomp => self.filter.is_some(),
                Step::FilesystemView => self.view.is_some(),
                Step::Landlock => self.landlock.is_some(),
                Step::Cgroup => !self.cgroup_fds.is_empty(),
                _ => true,
            }
    }

    /// Mounts a fresh read-only sysfs over `/sys` in the sandbox: for a workload that may write
    /// root-owned files (uid or gid 0, or a kept capability), since `/sys` and the cgroup file
    /// systems below it are the host's.
    pub fn fresh_sys(&mut self, needed: bool) {
        self.fresh_sys = needed;
    }

    /// The filesystem view the init builds (`None`: no view, `--fs host-rw`).
    pub(crate) fn set_view(&mut self, view: Option<crate::steps::view::View>) {
        self.view = view;
    }

    /// The filesystem view, if one is planned.
    pub(crate) fn view(&self) -> Option<&crate::steps::view::View> {
        self.view.as_ref()
    }

    /// The Landlock ruleset the workload restricts itself with.
    pub(crate) fn set_landlock(&mut self, landlock: Option<crate::steps::landlock::Prepared>) {
        self.landlock = landlock;
    }

    /// The Landlock ruleset, if one is planned.
    pub(crate) fn landlock(&self) -> Option<&crate::steps::landlock::Prepared> {
        self.landlock.as_ref()
    }

    /// The resource limits the workload sets on itself (planned by
    /// [`crate::steps::rlimits::plan`]).
    pub fn set_rlimits(&mut self, rlimits: Vec<crate::steps::rlimits::Planned>) {
        self.rlimits = rlimits;
    }

    /// The resource limits the workload sets on itself.
    pub fn rlimits(&self) -> &[crate::steps::rlimits::Planned] {
        &self.rlimits
    }

    /// The sandbox's control group: the init joins it through its open `cgroup.procs`
    /// descriptors; the plan keeps it until the teardown.
    pub(crate) fn join_cgroup(&mut self, group: crate::steps::cgroup::SandboxGroup) {
        self.cgroup_fds = group.join_fds();
        self.cgroup_into = group.clone_into();
        *self.group.borrow_mut() = Some(group);
    }

    /// The sandbox's control group, if it has one.
    pub(crate) fn group(&self) -> std::cell::Ref<'_, Option<crate::steps::cgroup::SandboxGroup>> {
        self.group.borrow()
    }

    /// Takes the sandbox's control group out of the plan (the teardown).
    pub(crate) fn take_group(&self) -> Option<crate::steps::cgroup::SandboxGroup> {
        self.group.borrow_mut().take()
    }

    /// Capabilities the workload keeps (`--cap-add`), as a mask.
    pub fn keep_capabilities(&mut self, mask: u64) {
        self.keep_caps = mask;
    }

    /// The capabilities the workload keeps.
    pub fn kept_capabilities(&self) -> u64 {
        self.keep_caps
    }

    /// The workload filter still planned, if any.
    pub fn filter(&self) -> Option<&WorkloadFilter> {
        self.filter.as_ref()
    }

    /// The identity the workload drops to, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref().map(|(identity, _)| identity)
    }
}
