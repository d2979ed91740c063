//! What was re-read after each step: typed per step, serialized as a plain object.

use serde::Serialize;

use crate::procfs::Capabilities;
use crate::steps::network::NetnsStatus;

/// What was re-read after a step: typed per step, serialized as a plain object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    /// Nothing could be read (the step was not reached): `{}`.
    Nothing {},
    /// The network namespace.
    Network(NetnsStatus),
    /// The PID namespace, seen from the paused workload.
    Pid {
        /// Inode of the workload's PID namespace (`null` where unknown).
        pid_namespace_inode: Option<u64>,
        /// Inode of the supervisor's.
        parent_pid_namespace_inode: Option<u64>,
        /// The workload's pid in each namespace, outermost first (`NSpid`; empty where unknown).
        nspid: Vec<u32>,
        /// The workload's pid as it sees itself (2 in its own namespace, after its init).
        pid_inside: i32,
    },
    /// The mount namespace and its `/proc`.
    Mount {
        /// Inode of the workload's mount namespace (`null` where unknown).
        mount_namespace_inode: Option<u64>,
        /// Inode of the supervisor's.
        parent_mount_namespace_inode: Option<u64>,
        /// Mount id of the fresh `/proc` (absent from the supervisor's mounts).
        proc_mount_id: Option<u64>,
    },
    /// The session.
    Session {
        /// The workload's session id (its own pid: it leads the session).
        session: i32,
        /// Its controlling terminal (`tty_nr`; 0 is none).
        tty_nr: i32,
    },
    /// The capability sets, by name.
    Capabilities {
        /// Each set's capabilities by name (empty lists when dropped).
        sets: CapabilityNames,
        /// `cleared`, or why the bounding set was kept.
        bounding: &'static str,
    },
    /// Ids and groups.
    Ids {
        /// Real, effective, saved, filesystem uid.
        uid: Vec<u32>,
        /// Real, effective, saved, filesystem gid.
        gid: Vec<u32>,
        /// Supplementary groups.
        groups: Vec<u32>,
    },
    /// `no_new_privs`.
    NoNewPrivs {
        /// `NoNewPrivs` of the workload (`null` where the kernel does not say, as in gVisor).
        no_new_privs: Option<u64>,
    },
    /// A seccomp filter.
    Seccomp {
        /// Where the programs come from.
        source: String,
        /// How many programs this step installed.
        programs: usize,
        /// `Seccomp` (2 is filter mode; `null` where unknown).
        seccomp: Option<u64>,
        /// `Seccomp_filters` after the step (`null` where unknown).
        seccomp_filters: Option<u64>,
        /// `Seccomp_filters` before the step.
        seccomp_filters_before: Option<u64>,
    },
}

/// Capability sets by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityNames {
    /// `CapInh`.
    pub inheritable: Option<Vec<String>>,
    /// `CapPrm`.
    pub permitted: Option<Vec<String>>,
    /// `CapEff`.
    pub effective: Option<Vec<String>>,
    /// `CapBnd`.
    pub bounding: Option<Vec<String>>,
    /// `CapAmb`.
    pub ambient: Option<Vec<String>>,
}

impl From<Capabilities> for CapabilityNames {
    fn from(caps: Capabilities) -> Self {
        let names = |mask: Option<u64>| mask.map(crate::steps::capabilities::names);
        CapabilityNames {
            inheritable: names(caps.inheritable),
            permitted: names(caps.permitted),
            effective: names(caps.effective),
            bounding: names(caps.bounding),
            ambient: names(caps.ambient),
        }
    }
}
