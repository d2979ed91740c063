//! Outer runtimes the tests start the supervisor in: gVisor (`runsc do`) and runc with Docker's
//! default capability set and seccomp profile.
//!
//! Docker's default seccomp profile is not copied into this repository. It is derived at test
//! time from the profile the Debian package `golang-github-containers-common` installs as
//! `/usr/share/containers/seccomp.json` (the containers/common default, itself derived from
//! moby's), converted the way Docker converts its own profile (`includes`/`excludes` resolved for
//! the capability set and architecture), and brought to moby's `profiles/seccomp/default.json`
//! where the two differ ([`MOBY_ONLY_WITH_CAPABILITY`], [`MOBY_NEVER_ALLOWS`],
//! [`MOBY_ALSO_ALLOWS`], and moby's own rules for `clone`, `clone3` and `socket`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Where `golang-github-containers-common` installs its default seccomp profile.
pub const CONTAINERS_SECCOMP: &str = "/usr/share/containers/seccomp.json";

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Calls containers/common allows unconditionally that moby allows only with a capability Docker
/// does not grant by default: `CAP_SYS_ADMIN` (the namespace, mount and new-mount-API calls,
/// `syslog`), `CAP_SYS_PTRACE` (`pidfd_getfd`), `CAP_SYS_BOOT` (`reboot`), `CAP_SYS_NICE` (the
/// memory-policy calls).
pub const MOBY_ONLY_WITH_CAPABILITY: [&str; 19] = [
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
    "pidfd_getfd",
    "reboot",
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
];

/// Calls whose containers/common rules are replaced by moby's own: `clone` (no namespace flag),
/// `clone3` (`ENOSYS`), `socket` (every family but `AF_ALG` and `AF_VSOCK`).
pub const MOBY_OWN_RULES: [&str; 3] = ["clone", "clone3", "socket"];

/// Calls containers/common allows and moby's profile never does (`keyctl`, `pivot_root`, and
/// names that do not exist on 64-bit architectures).
pub const MOBY_NEVER_ALLOWS: [&str; 9] = [
    "keyctl",
    "pivot_root",
    "readdir",
    "sigaction",
    "signal",
    "sigpending",
    "sigsuspend",
    "syscall",
    "timerfd",
];

/// Calls moby allows unconditionally that this containers/common release does not list (newer
/// calls; runc skips a name its libseccomp does not know).
pub const MOBY_ALSO_ALLOWS: [&str; 17] = [
    "cachestat",
    "fchmodat2",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "getxattrat",
    "io_pgetevents",
    "io_pgetevents_time64",
    "listmount",
    "listxattrat",
    "map_shadow_stack",
    "mseal",
    "removexattrat",
    "setxattrat",
    "statmount",
    "vmsplice",
];

/// Every namespace flag of `clone` (moby's mask: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
/// NEWPID, NEWNET).
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether a profile rule applies to a container with `caps` on this architecture, as Docker
/// decides: every `includes` condition holds and no `excludes` condition does.
fn applies(rule: &Value, caps: &[&str]) -> bool {
    let arch = go_arch();
    let includes = &rule["includes"];
    let excludes = &rule["excludes"];
    let inc_arches = strings(&includes["arches"]);
    let inc_caps = strings(&includes["caps"]);
    let exc_arches = strings(&excludes["arches"]);
    let exc_caps = strings(&excludes["caps"]);
    (inc_arches.is_empty() || inc_arches.contains(&arch))
        && inc_caps.iter().all(|cap| caps.contains(cap))
        && !exc_arches.contains(&arch)
        && !exc_caps.iter().any(|cap| caps.contains(cap))
}

/// The architectures of the native one's `archMap` entry, as OCI names them.
fn architectures(profile: &Value) -> Vec<String> {
    let native = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        other => panic!("no seccomp architecture known for {other}"),
    };
    let mut arches = vec![native.to_owned()];
    if let Some(entry) = profile["archMap"]
        .as_array()
        .and_then(|map| map.iter().find(|entry| entry["architecture"] == native))
    {
        arches.extend(
            strings(&entry["subArchitectures"])
                .into_iter()
                .map(str::to_owned),
        );
    }
    arches
}

/// Docker's default seccomp profile for a container with Docker's default capability set
/// ([`DOCKER_DEFAULT_CAPS`]: no `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, ...), as the OCI
/// `linux.seccomp` section.
pub fn docker_default_seccomp() -> Value {
    runtime_default_seccomp(&DOCKER_DEFAULT_CAPS)
}

/// The capability moby's profile asks before it allows a call of [`MOBY_ONLY_WITH_CAPABILITY`].
fn moby_gate(name: &str) -> &'static str {
    match name {
        "pidfd_getfd" => "CAP_SYS_PTRACE",
        "reboot" => "CAP_SYS_BOOT",
        "get_mempolicy" | "mbind" | "set_mempolicy" | "set_mempolicy_home_node" => "CAP_SYS_NICE",
        _ => "CAP_SYS_ADMIN",
    }
}

/// The runtime's default seccomp profile (Docker's, which containerd's RuntimeDefault follows)
/// for a container with the capabilities `caps`, as the OCI `linux.seccomp` section: the rules
/// that need a capability apply when the container holds it.
pub fn runtime_default_seccomp(caps: &[&str]) -> Value {
    let sys_admin = caps.contains(&"CAP_SYS_ADMIN");
    let text = std::fs::read_to_string(CONTAINERS_SECCOMP).unwrap_or_else(|err| {
        panic!("read {CONTAINERS_SECCOMP} (Debian package golang-github-containers-common): {err}")
    });
    let profile: Value = serde_json::from_str(&text).expect("the containers profile is JSON");
    let mut syscalls = Vec::new();
    for rule in profile["syscalls"].as_array().expect("syscalls") {
        if !applies(rule, caps) {
            continue;
        }
        let action = rule["action"].as_str().expect("action");
        let names: Vec<&str> = strings(&rule["names"])
            .into_iter()
            .filter(|name| {
                !MOBY_OWN_RULES.contains(name)
                    && (action != "SCMP_ACT_ALLOW"
                        || !((MOBY_ONLY_WITH_CAPABILITY.contains(name)
                            && !caps.contains(&moby_gate(name)))
                            || MOBY_NEVER_ALLOWS.contains(name)))
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        let mut converted = json!({ "names": names, "action": action });
        if let Some(errno) = rule.get("errnoRet").filter(|errno| !errno.is_null()) {
            converted["errnoRet"] = errno.clone();
        }
        if let Some(args) = rule["args"].as_array().filter(|args| !args.is_empty()) {
            converted["args"] = args
                .iter()
                .map(|arg| {
                    json!({
                        "index": arg["index"],
                        "value": arg["value"],
                        "valueTwo": arg.get("valueTwo").cloned().unwrap_or(json!(0)),
                        "op": arg["op"],
                    })
                })
                .collect();
        }
        syscalls.push(converted);
    }
    syscalls.push(json!({ "names": MOBY_ALSO_ALLOWS, "action": "SCMP_ACT_ALLOW" }));
    if sys_admin {
        // moby, with CAP_SYS_ADMIN: clone and clone3 whatever their flags.
        syscalls.push(json!({ "names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW" }));
    } else {
        // moby, without CAP_SYS_ADMIN: clone without any namespace flag; clone3 answers ENOSYS
        // so that libc falls back to clone.
        syscalls.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }],
        }));
        syscalls.push(
            json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS }),
        );
    }
    // moby: every address family but AF_ALG (38) and AF_VSOCK (40).
    for (value, op) in [
        (38, "SCMP_CMP_LT"),
        (39, "SCMP_CMP_EQ"),
        (40, "SCMP_CMP_GT"),
    ] {
        syscalls.push(json!({
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": value, "valueTwo": 0, "op": op }],
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": architectures(&profile),
        "syscalls": syscalls,
    })
}

/// Whether `program --version` runs.
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The command prefix that runs a program inside gVisor (no network device).
pub fn runsc_do() -> Vec<String> {
    ["runsc", "--network=none", "do"]
        .map(str::to_owned)
        .to_vec()
}

/// A runc container. [`RuncContainer::new`] makes one like `docker run` does by default.
///
/// Its root is the host's, read-only, as a container's root would be: an overlay of the host's
/// root file system (its other mounts bound at their places, `/proc`, `/sys` and `/dev` aside)
/// with the host's stray `/.dockerenv` whited out, made in a private mount namespace of the
/// launcher. The staged binaries, the tests' scratch files and the system's programs are visible,
/// read-only, at their usual paths; no file says "container" unless a runtime put it there.
pub struct RuncContainer {
    dir: tempfile::TempDir,
    id: String,
    mount_points: Vec<String>,
}

/// Run by `sh -c` in the launcher's private mount namespace with the bundle's rootfs, state and
/// directory, the container's id and the mount points to make (the config's mount destinations
/// the host lacks, or has as directories): the host's other mounts (listed first), a tmpfs over the bundle's `whiteout`
/// with the whiteout of `/.dockerenv` and the mount points, the read-only overlay of the host's
/// root under it at `rootfs`, the other mounts bound at their places, then runc.
const ROOTFS_THEN_RUNC: &str = r#"set -e
rootfs=$0 state=$1 bundle=$2 id=$3
shift 3
mounts=$(findmnt -rno TARGET | grep -v -e '^/$' -e '^/proc' -e '^/sys' -e '^/dev')
mount -t tmpfs -o mode=755 whiteout "$bundle/whiteout"
mknod "$bundle/whiteout/.dockerenv" c 0 0
for dir; do mkdir -p "$bundle/whiteout$dir"; done
mount -t overlay overlay -o ro,lowerdir="$bundle/whiteout":/ "$rootfs"
for mount in $mounts; do
  if [ -d "$mount" ] && [ -d "$rootfs$mount" ]; then mount --rbind "$mount" "$rootfs$mount"; fi
done
exec runc --root "$state" run --bundle "$bundle" "$id""#;

/// The `config.json` of a container like `docker run` makes by default: its own PID, network,
/// IPC, UTS and mount namespaces, Docker's default capability set and seccomp profile, no
/// no_new_privs, running `args` as `uid`:`uid`. `/dev`, `/dev/shm` and `/run` are fresh tmpfs
/// mounts (a container's `/run` is writable, in its own root layer: there a root caller's
/// supervisor locks the uid it allocates).
pub fn docker_default_config(uid: u32, args: &[String]) -> Value {
    let tmpfs = |destination: &str, options: &[&str]| json!({ "destination": destination, "type": "tmpfs", "source": "tmpfs", "options": options });
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": uid, "gid": uid },
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": DOCKER_DEFAULT_CAPS,
                "effective": DOCKER_DEFAULT_CAPS,
                "permitted": DOCKER_DEFAULT_CAPS,
            },
            "noNewPrivileges": false,
        },
        "root": { "readonly": true },
        "hostname": "runc",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            tmpfs("/dev", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            tmpfs("/dev/shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            tmpfs("/run", &["nosuid", "nodev", "mode=755", "size=65536k"]),
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" },
            ],
            "seccomp": docker_default_seccomp(),
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    })
}

impl RuncContainer {
    /// A bundle that runs `args` as `uid`:`uid` ([`docker_default_config`]).
    pub fn new(id: &str, uid: u32, args: &[String]) -> Self {
        Self::with_config(id, docker_default_config(uid, args))
    }

    /// A bundle with this `config.json` (its `root.path` is the bundle's `rootfs`). The bundle
    /// directory is searchable by all, for a container in a user namespace of its own.
    pub fn with_config(id: &str, mut config: Value) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod bundle");
        for name in ["rootfs", "state", "whiteout"] {
            std::fs::create_dir(dir.path().join(name)).expect("mkdir in the bundle");
        }
        config["root"]["path"] = json!(dir.path().join("rootfs"));
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("config serializes"),
        )
        .expect("write config.json");
        let mount_points = config["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|mount| mount["destination"].as_str())
            // A directory the host has now may be gone when the root is built (another test's
            // supervisor removes /run/sandbox-supervisor when it leaves): made in the whiteout
            // layer too, where it merges with the host's while it lasts.
            .filter(|destination| {
                let path = std::path::Path::new(destination);
                !path.exists() || path.symlink_metadata().is_ok_and(|meta| meta.is_dir())
            })
            .map(str::to_owned)
            .collect();
        RuncContainer {
            dir,
            id: id.to_owned(),
            mount_points,
        }
    }

    /// The command that runs the container to completion (its exit code is the process's).
    pub fn command(&self) -> Vec<String> {
        let path = |name: &str| -> String { self.dir.path().join(name).display().to_string() };
        vec![
            "unshare".into(),
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            ROOTFS_THEN_RUNC.into(),
            path("rootfs"),
            path("state"),
            self.dir.path().display().to_string(),
            self.id.clone(),
        ]
        .into_iter()
        .chain(self.mount_points.iter().cloned())
        .collect()
    }

    /// The bundle directory.
    pub fn bundle(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}
