//! The refusal matrix: real environments that refuse hardening calls, times the handlers, each
//! cell checked from outside, and `probe` checked against every cell.
//!
//! Environments (all made by the test itself; see [`Env`]): root on the host; uid 65534 with the
//! user-namespace route on, off (`--no-userns`), and refused by an outer filter; root under outer
//! seccomp filters that refuse one namespace or the filters; gVisor (`runsc do`) as root and as
//! 65534; runc with Docker's default capability set and seccomp profile, as root and as 65534.
//!
//! Handlers: strict (no plugin), `outer-sandbox`, `policy` with three configurations, and the
//! `raw-verdict` test plugin (a plugin that answers an invalid verdict).
//!
//! What is expected is computed, not listed: every environment names the refusals it makes, in
//! boot order ([`Env::refusals`]), every handler says which it tolerates ([`Handler::tolerates`]);
//! the first refusal not tolerated stops the boot with the handler's code, otherwise the workload
//! runs without exactly the tolerated steps. Each cell then asserts from outside:
//! - the exit code, the one error line or the WARN lines (step, call, errno, fallback, decider);
//! - what the workload really has, observed by the workload itself (a small Python program):
//!   its network namespace (a TCP listener on the launcher's loopback is reachable exactly when
//!   they share one; namespace inodes cannot be compared under gVisor), its PID namespace (can it
//!   signal a process the launcher started? is its parent PID 1, and PID 1 the sandbox's init?),
//!   its `/proc` (is it another mount than the launcher's?), its filter (`memfd_create` fails
//!   with `EPERM`), `Seccomp`, `Seccomp_filters`, `NoNewPrivs`, the capability sets and the ids;
//! - that the report (`--report-fd`) agrees: one record per step with the decision, route,
//!   call, errno, fallback and decider, and the evidence it verified equal to what the workload
//!   observed;
//! - that `probe` with the same flags in the same environment predicts the run's exit code.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use sandbox_tests::outer::{self, RuncContainer};
use sandbox_tests::{
    helper_bin, is_root, output_of, plugin, skip_or_fail, staging_dir, supervisor_bin, write_file,
    AS_NOBODY,
};

use Env::*;
use Handler::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Where the supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Host,
    Gvisor,
    Runc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Env {
    /// Root on the host: nothing is refused.
    HostRoot,
    /// uid 65534 on the host, the user-namespace route on (the default).
    Nobody,
    /// uid 65534 on the host with `--no-userns`.
    NobodyNoUserns,
    /// uid 65534 on the host under an outer filter refusing new user namespaces with `EACCES`.
    NobodyUsernsRefused,
    /// Root under an outer filter refusing `CLONE_NEWNET` with `EPERM`.
    OuterNetns,
    /// Root under an outer filter refusing `clone` with `CLONE_NEWPID` with `EACCES`.
    OuterPidns,
    /// Root under an outer filter refusing `CLONE_NEWNS` with `EPERM`.
    OuterMountns,
    /// Root under an outer filter refusing every `mount` with `ENOSYS`.
    OuterMount,
    /// Root under an outer filter refusing `seccomp(SET_MODE_FILTER)` and `prctl(PR_SET_SECCOMP)`.
    OuterSeccomp,
    /// Root under an outer filter that answers `CLONE_NEWNET` with 0 without doing anything.
    FakedNetns,
    /// ... `clone` with `CLONE_NEWPID` with 0.
    FakedPidns,
    /// ... every `mount` with 0.
    FakedMount,
    /// ... `seccomp(SET_MODE_FILTER)` and `prctl(PR_SET_SECCOMP)` with 0.
    FakedSeccomp,
    /// Root inside gVisor.
    GvisorRoot,
    /// uid 65534 inside gVisor, the route on.
    GvisorNobody,
    /// uid 65534 inside gVisor with `--no-userns`.
    GvisorNobodyNoUserns,
    /// uid 0 in a runc container with Docker's default capabilities and seccomp profile.
    RuncRoot,
    /// uid 65534 in the same container.
    RuncNobody,
}

const HOST_ENVS: [Env; 13] = [
    HostRoot,
    Nobody,
    NobodyNoUserns,
    NobodyUsernsRefused,
    OuterNetns,
    OuterPidns,
    OuterMountns,
    OuterMount,
    OuterSeccomp,
    FakedNetns,
    FakedPidns,
    FakedMount,
    FakedSeccomp,
];
const GVISOR_ENVS: [Env; 3] = [GvisorRoot, GvisorNobody, GvisorNobodyNoUserns];
const RUNC_ENVS: [Env; 2] = [RuncRoot, RuncNobody];

/// One refusal an environment makes: the step, the call and errno named in the error or WARN
/// line and the report, and the user-namespace route's refused call when that was tried too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    step: &'static str,
    call: &'static str,
    errno: &'static str,
    fallback: Option<(&'static str, &'static str)>,
}

const NETNS: &str = "network-namespace";
const PIDNS: &str = "pid-namespace";
const MOUNTNS: &str = "mount-namespace";
const VIEW: &str = "filesystem-view";
const LANDLOCK: &str = "landlock";
const WORKLOAD_SECCOMP: &str = "workload-seccomp";
const SUPERVISOR_SECCOMP: &str = "supervisor-seccomp";
const NAMESPACES: [&str; 3] = [NETNS, PIDNS, MOUNTNS];

const CGROUP: &str = "cgroup";
const MKDIR_CGROUP: &str = "mkdir(cgroup)";
const NO_HIERARCHY: &str = "open(/proc/self/cgroup): no hierarchy with the controller";
/// The decider of a group that could not be made when no limit was asked for (a WARN, not a
/// refusal for the handler).
const DEFAULT_LIMITS: &str = "default limits";

/// Every step's name, in boot order.
const STEPS: [&str; 13] = [
    CGROUP,
    NETNS,
    PIDNS,
    MOUNTNS,
    VIEW,
    "session",
    "rlimits",
    "capabilities",
    "privilege-drop",
    "no-new-privs",
    LANDLOCK,
    WORKLOAD_SECCOMP,
    SUPERVISOR_SECCOMP,
];

const fn refusal(step: &'static str, call: &'static str, errno: &'static str) -> Refusal {
    Refusal {
        step,
        call,
        errno,
        fallback: None,
    }
}

const UNSHARE_NET: &str = "unshare(CLONE_NEWNET)";
const CLONE_PID: &str = "clone(CLONE_NEWPID|CLONE_NEWIPC)";
const UNSHARE_MOUNT: &str = "unshare(CLONE_NEWNS)";
const MOUNT_PRIVATE: &str = "mount(/, MS_REC|MS_PRIVATE)";
const SECCOMP: &str = "seccomp(SECCOMP_SET_MODE_FILTER)";
const UNSHARE_USER: &str = "unshare(CLONE_NEWUSER)";
const LANDLOCK_CREATE: &str = "landlock_create_ruleset";

/// Docker's default capability set as a mask (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
/// SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP).
const DOCKER_DEFAULT_CAPS_MASK: u64 = 0xa804_25fb;

/// What an unprivileged caller without a user namespace is refused by the kernel.
const UNPRIVILEGED: [Refusal; 3] = [
    refusal(NETNS, UNSHARE_NET, "EPERM"),
    refusal(PIDNS, CLONE_PID, "EPERM"),
    refusal(MOUNTNS, UNSHARE_MOUNT, "EPERM"),
];

impl Env {
    fn name(self) -> &'static str {
        match self {
            HostRoot => "host-root",
            Nobody => "nobody",
            NobodyNoUserns => "nobody --no-userns",
            NobodyUsernsRefused => "nobody, userns refused (EACCES)",
            OuterNetns => "outer: netns (EPERM)",
            OuterPidns => "outer: pidns (EACCES)",
            OuterMountns => "outer: mountns (EPERM)",
            OuterMount => "outer: mount (ENOSYS)",
            OuterSeccomp => "outer: seccomp (EPERM)",
            FakedNetns => "outer: netns faked (0)",
            FakedPidns => "outer: pidns faked (0)",
            FakedMount => "outer: mount faked (0)",
            FakedSeccomp => "outer: seccomp faked (0)",
            GvisorRoot => "gvisor-root",
            GvisorNobody => "gvisor-nobody",
            GvisorNobodyNoUserns => "gvisor-nobody --no-userns",
            RuncRoot => "runc-docker-root",
            RuncNobody => "runc-docker-nobody",
        }
    }

    fn runtime(self) -> Runtime {
        match self {
            GvisorRoot | GvisorNobody | GvisorNobodyNoUserns => Runtime::Gvisor,
            RuncRoot | RuncNobody => Runtime::Runc,
            _ => Runtime::Host,
        }
    }

    /// The supervisor runs as uid 65534.
    fn as_nobody(self) -> bool {
        matches!(
            self,
            Nobody
                | NobodyNoUserns
                | NobodyUsernsRefused
                | GvisorNobody
                | GvisorNobodyNoUserns
                | RuncNobody
        )
    }

    fn no_userns(self) -> bool {
        matches!(self, NobodyNoUserns | GvisorNobodyNoUserns)
    }

    /// The `outer-seccomp` refusals the supervisor runs under.
    fn outer_filter(self) -> Option<&'static str> {
        match self {
            NobodyUsernsRefused => Some("userns=EACCES"),
            OuterNetns => Some("netns"),
            OuterPidns => Some("pidns=EACCES"),
            OuterMountns => Some("mountns"),
            OuterMount => Some("mount=ENOSYS"),
            OuterSeccomp => Some("seccomp"),
            FakedNetns => Some("netns=0"),
            FakedPidns => Some("pidns=0"),
            FakedMount => Some("mount=0"),
            FakedSeccomp => Some("seccomp=0"),
            _ => None,
        }
    }

    /// Seccomp programs the environment puts on the supervisor (and so on the workload).
    fn outer_programs(self) -> u64 {
        u64::from(self.outer_filter().is_some() || self.runtime() == Runtime::Runc)
    }

    /// Whether the namespaces take the user-namespace route.
    /// The start of the error line with which verification stops the boot (exit 123, whatever the
    /// handler) in an environment that fakes a step's success.
    fn unverified(self) -> Option<&'static str> {
        match self {
            FakedNetns => Some("failed to verify network-namespace: unshare(CLONE_NEWNET) returned success but the network namespace is unchanged"),
            FakedPidns => {
                Some("failed to verify pid-namespace: clone returned 0 in the supervisor itself")
            }
            FakedMount => Some("failed to verify mount-namespace: "),
            FakedSeccomp => Some("failed to verify workload-seccomp: "),
            _ => None,
        }
    }

    /// The outer boundary the `outer-sandbox` cells declare (`--outer-boundary`), as an operator
    /// would: gVisor's, runc's container, and the VM the host cells run on (the machines this
    /// project is tested on are VMs; the outer filters stand in for a runtime's refusals). No clue
    /// decides: this machine's stray `/.dockerenv` is one.
    fn declared_boundary(self) -> &'static str {
        match self.runtime() {
            Runtime::Gvisor => "gvisor",
            Runtime::Runc => "container",
            Runtime::Host => "vm",
        }
    }

    fn takes_userns_route(self) -> bool {
        matches!(self, Nobody | GvisorNobody)
    }

    /// Whether the caller holds `CAP_SETPCAP` where the workload is made (then the workload's
    /// bounding set is emptied; otherwise it is kept and the report says why).
    fn clears_bounding(self) -> bool {
        !self.as_nobody() || self.takes_userns_route()
    }

    /// The cgroup refusal this environment makes (the call and errno), as measured: an
    /// unprivileged caller may not make a group below root's (EACCES); gVisor and the runc
    /// container mount no cgroup file system, so no hierarchy offers a controller (EOPNOTSUPP).
    /// The matrix asks for no limit explicitly, so the refusal is a WARN (decider "default
    /// limits"), never a question for the handler; [`explicit_limits_go_to_the_handler`] asks.
    fn cgroup_refused(self) -> Option<Refusal> {
        match self {
            _ if self.runtime() != Runtime::Host => {
                Some(refusal(CGROUP, NO_HIERARCHY, "EOPNOTSUPP"))
            }
            _ if self.as_nobody() => Some(refusal(CGROUP, MKDIR_CGROUP, "EACCES")),
            _ => None,
        }
    }

    /// The refusals this environment makes, in boot order, as measured (see docs/refusals.md).
    fn refusals(self) -> Vec<Refusal> {
        match self {
            // A faked success is no refusal: verification has to catch it.
            HostRoot | Nobody | FakedNetns | FakedPidns | FakedMount | FakedSeccomp => vec![],
            NobodyNoUserns => UNPRIVILEGED.to_vec(),
            // gVisor has no Landlock (ENOSYS), asked before any namespace; it lets an
            // unprivileged caller unshare a mount namespace, then refuses the remount.
            GvisorNobodyNoUserns => {
                let mut refusals = vec![refusal(LANDLOCK, LANDLOCK_CREATE, "ENOSYS")];
                refusals.extend(UNPRIVILEGED);
                refusals[3].call = MOUNT_PRIVATE;
                refusals
            }
            NobodyUsernsRefused => {
                let mut refusals = UNPRIVILEGED.to_vec();
                refusals[0].fallback = Some((UNSHARE_USER, "EACCES"));
                refusals
            }
            OuterNetns => vec![refusal(NETNS, UNSHARE_NET, "EPERM")],
            OuterPidns => vec![refusal(PIDNS, CLONE_PID, "EACCES")],
            OuterMountns => vec![refusal(MOUNTNS, UNSHARE_MOUNT, "EPERM")],
            OuterMount => vec![refusal(MOUNTNS, MOUNT_PRIVATE, "ENOSYS")],
            OuterSeccomp => vec![
                refusal(WORKLOAD_SECCOMP, SECCOMP, "EPERM"),
                refusal(SUPERVISOR_SECCOMP, SECCOMP, "EPERM"),
            ],
            // gVisor (runsc 20221219) implements no mount propagation: it answers the
            // MS_PRIVATE remount with EINVAL as root.
            GvisorRoot => vec![
                refusal(LANDLOCK, LANDLOCK_CREATE, "ENOSYS"),
                refusal(MOUNTNS, MOUNT_PRIVATE, "EINVAL"),
            ],
            // ... and EPERM inside a user namespace, where it refuses to mount proc too.
            GvisorNobody => vec![
                refusal(LANDLOCK, LANDLOCK_CREATE, "ENOSYS"),
                refusal(MOUNTNS, MOUNT_PRIVATE, "EPERM"),
            ],
            // Docker's profile denies unshare and clone with namespace flags (EPERM); root is not
            // offered the user-namespace route.
            RuncRoot => UNPRIVILEGED.to_vec(),
            RuncNobody => {
                let mut refusals = UNPRIVILEGED.to_vec();
                refusals[0].fallback = Some((UNSHARE_USER, "EPERM"));
                refusals
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Strict,
    OuterSandbox,
    /// `policy` tolerating `network-namespace` for `EPERM`.
    PolicyNetns,
    /// `policy` tolerating the three namespace kinds for `EPERM`.
    PolicyNamespaces,
    /// `policy` tolerating both seccomp kinds for `EPERM`.
    PolicySeccomp,
    /// The `misbehaving` test plugin in a mode it does not know: it declares every kind and
    /// tolerates every refusal, whatever the errno.
    TolerateAll,
    /// The `misbehaving` test plugin answering tolerate for kinds it does not declare.
    TolerateUndeclared,
    /// The `raw-verdict` test plugin: answers verdict 7 (neither abort nor tolerate).
    RawVerdict,
}

const HANDLERS: [Handler; 8] = [
    Strict,
    OuterSandbox,
    PolicyNetns,
    PolicyNamespaces,
    PolicySeccomp,
    TolerateAll,
    TolerateUndeclared,
    RawVerdict,
];

impl Handler {
    fn name(self) -> &'static str {
        match self {
            Strict => "strict",
            OuterSandbox => "outer-sandbox",
            PolicyNetns => "policy(netns: EPERM)",
            PolicyNamespaces => "policy(namespaces: EPERM)",
            PolicySeccomp => "policy(seccomp: EPERM)",
            TolerateAll => "misbehaving(tolerate-all)",
            TolerateUndeclared => "misbehaving(tolerate-undeclared)",
            RawVerdict => "raw-verdict",
        }
    }

    fn decider(self) -> &'static str {
        match self {
            Strict => "strict",
            OuterSandbox => "plugin:outer-sandbox@0.1.0",
            PolicyNetns | PolicyNamespaces | PolicySeccomp => "plugin:policy@0.1.0",
            TolerateAll | TolerateUndeclared => "plugin:misbehaving@0.1.0",
            RawVerdict => "plugin:raw-verdict@0.1.0",
        }
    }

    /// Whether the handler's answer is a plugin failure (119) rather than a verdict: then the
    /// error line names the failure instead of the refusal's sentence and "aborted by".
    fn fails(self) -> bool {
        matches!(self, TolerateUndeclared | RawVerdict)
    }

    /// The exit code when this handler stops the boot.
    fn abort_code(self) -> i32 {
        match self {
            Strict => 120,
            TolerateUndeclared | RawVerdict => 119,
            _ => 121,
        }
    }

    /// Whether the handler tolerates `refusal` in `env`.
    /// (Every `outer-sandbox` cell declares its boundary: see [`boot_flags`].)
    fn tolerates(self, refusal: &Refusal, _env: Env) -> bool {
        let eperm = refusal.errno == "EPERM";
        match self {
            Strict | TolerateUndeclared | RawVerdict => false,
            TolerateAll => true,
            // Behind the boundary every cell declares, for an errno an outer runtime answers with
            // (EINVAL only for the filters: gVisor's answer to filter flags it does not support).
            OuterSandbox => {
                let seccomp = [WORKLOAD_SECCOMP, SUPERVISOR_SECCOMP].contains(&refusal.step);
                ["EPERM", "EACCES", "ENOSYS", "EOPNOTSUPP"].contains(&refusal.errno)
                    || (seccomp && refusal.errno == "EINVAL")
            }
            PolicyNetns => eperm && refusal.step == NETNS,
            PolicyNamespaces => eperm && NAMESPACES.contains(&refusal.step),
            PolicySeccomp => {
                eperm && [WORKLOAD_SECCOMP, SUPERVISOR_SECCOMP].contains(&refusal.step)
            }
        }
    }

    /// `--handler-plugin` and `--handler-config`, with the configuration written to `dir`.
    fn flags(self, dir: &Path) -> Vec<String> {
        let (package, config) = match self {
            Strict => return Vec::new(),
            OuterSandbox => ("sandbox-plugin-outer-sandbox", None),
            RawVerdict => ("test-plugin-raw-verdict", None),
            TolerateAll => (
                "test-plugin-misbehaving",
                Some(r#"{"mode": "tolerate-all"}"#),
            ),
            TolerateUndeclared => (
                "test-plugin-misbehaving",
                Some(r#"{"mode": "tolerate-undeclared"}"#),
            ),
            PolicyNetns => (
                "sandbox-plugin-policy",
                Some(r#"{"tolerate": {"network-namespace": ["EPERM"]}}"#),
            ),
            PolicyNamespaces => (
                "sandbox-plugin-policy",
                Some(
                    r#"{"tolerate": {"network-namespace": ["EPERM"], "pid-namespace": ["EPERM"], "mount-namespace": ["EPERM"]}}"#,
                ),
            ),
            PolicySeccomp => (
                "sandbox-plugin-policy",
                Some(
                    r#"{"tolerate": {"workload-seccomp": ["EPERM"], "supervisor-seccomp": ["EPERM"]}}"#,
                ),
            ),
        };
        let mut flags = vec![
            "--handler-plugin".to_owned(),
            plugin(package).display().to_string(),
        ];
        if let Some(config) = config {
            let name = format!(
                "{}.json",
                self.name().replace(|c: char| !c.is_alphanumeric(), "-")
            );
            let path = write_file(dir, &name, config);
            flags.extend(["--handler-config".to_owned(), path.display().to_string()]);
        }
        flags
    }
}

/// What a cell should show.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// The workload ran without exactly these steps.
    Ran(Vec<Refusal>),
    /// The boot stopped at `at` with `code`, after tolerating `tolerated`.
    Aborted {
        tolerated: Vec<Refusal>,
        at: Refusal,
        code: i32,
    },
    /// Verification stops the boot (exit 123) with a line starting with this.
    Unverified(&'static str),
}

fn expect(env: Env, handler: Handler) -> Expect {
    let mut tolerated = Vec::new();
    for refusal in env.refusals() {
        if !handler.tolerates(&refusal, env) {
            return Expect::Aborted {
                tolerated,
                at: refusal,
                code: handler.abort_code(),
            };
        }
        tolerated.push(refusal);
        // The filesystem view requires the mount namespace: it is lost with it, recorded with
        // the same call, errno and decider.
        if refusal.step == MOUNTNS {
            tolerated.push(Refusal {
                step: VIEW,
                ..refusal
            });
        }
    }
    if let Some(line) = env.unverified() {
        return Expect::Unverified(line);
    }
    Expect::Ran(tolerated)
}

impl Expect {
    fn code(&self) -> i32 {
        match self {
            Expect::Ran(_) => 0,
            Expect::Aborted { code, .. } => *code,
            Expect::Unverified(_) => 123,
        }
    }

    fn tolerated(&self) -> &[Refusal] {
        match self {
            Expect::Ran(tolerated) | Expect::Aborted { tolerated, .. } => tolerated,
            Expect::Unverified(_) => &[],
        }
    }

    fn missing(&self, step: &str) -> bool {
        self.tolerated().iter().any(|refusal| refusal.step == step)
    }
}

/// The launcher, inside the environment (`argv[1]` names the run): listens on its loopback
/// (reachable from exactly the processes in its network namespace), starts a marker process, puts
/// the listener's port, the marker's pid and
/// the device of its own `/proc` mount in the environment, runs the rest of its arguments with a
/// memfd as descriptor 3 (the report goes there: under gVisor and runc the host sees no file the
/// supervisor writes), and prints that report on one line once they have exited.
const LAUNCHER: &str = r#"
import json, os, socket, subprocess, sys
report = os.memfd_create("report", 0)
if report != 3:
    os.dup2(report, 3)
# A TCP listener on the launcher's loopback: reachable exactly from its network namespace (an
# abstract Unix socket would be too, but Landlock's scope stops a sandboxed process at it whatever
# the namespace).
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); s.listen(1)
# Use up a few pids first: where pids start at 1 (gVisor), the marker's pid must not be one the
# sandbox's own PID namespace also has (its init is 1, the workload 2).
for _ in range(16):
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
marker = subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def proc_mount():
    # The device of the last /proc mount (the one on top: runc mounts its proc over the host's).
    # Not the mount id: a new mount namespace renumbers the mounts it copies.
    device = "none"
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        if fields[4] == "/proc":
            device = fields[2]
    return device
env = dict(os.environ, SANDBOX_TEST_PORT=str(s.getsockname()[1]), SANDBOX_TEST_MARKER=str(marker.pid),
           SANDBOX_TEST_PROC_MOUNT=proc_mount())
code = subprocess.run(sys.argv[2:], pass_fds=(3,), env=env).returncode
marker.kill(); marker.wait()
os.lseek(3, 0, 0)
text = b""
while True:
    chunk = os.read(3, 65536)
    if not chunk:
        break
    text += chunk
sys.stdout.flush()
# A descriptor gets the boot record, then the final record when the workload ends: the first
# says what the boot did.
lines = [line for line in text.splitlines() if line.strip()]
print("report " + (json.dumps(json.loads(lines[0])) if lines else "none"), flush=True)
sys.exit(code if code >= 0 else 128 - code)
"#;

/// The workload: prints what it really has, one `key=value` per line.
const WORKLOAD: &str = r#"
import errno, os, socket
print("workload-ran")
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", int(os.environ["SANDBOX_TEST_PORT"]))); print("netns=shared")
except OSError:
    print("netns=own")
marker = int(os.environ["SANDBOX_TEST_MARKER"])
try:
    os.kill(marker, 0); print("pidns=shared")
except ProcessLookupError:
    print("pidns=own")
except PermissionError:
    print("pidns=shared")
print("marker_in_proc=%s" % os.path.exists("/proc/%d" % marker))
print("pid=%d" % os.getpid())
print("ppid=%d" % os.getppid())
try:
    print("proc1=" + open("/proc/1/cmdline", "rb").read().split(b"\0")[0].decode())
except OSError as err:
    print("proc1=" + errno.errorcode[err.errno])
device = "none"
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    if fields[4] == "/proc":
        device = fields[2]
print("proc_fresh=%s" % (device != os.environ["SANDBOX_TEST_PROC_MOUNT"]))
try:
    os.memfd_create("probe"); print("memfd=OK")
except OSError as err:
    print("memfd=" + errno.errorcode[err.errno])
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    if key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
               "NoNewPrivs", "Seccomp", "Seccomp_filters"):
        print("%s=%s" % (key, " ".join(value.split())))
# Last: on success it moves this process into a new user namespace.
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
if libc.unshare(CLONE_NEWUSER) == 0:
    print("unshare_user=OK")
else:
    print("unshare_user=" + errno.errorcode[ctypes.get_errno()])
"#;

/// What one run showed.
#[derive(Debug)]
struct Observed {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Observed {
    fn value(&self, key: &str) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    }

    fn ran(&self) -> bool {
        self.stdout.lines().any(|line| line == "workload-ran")
    }

    fn report(&self) -> Option<Value> {
        let line = self
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("report "))?;
        serde_json::from_str(line).ok()
    }

    fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("sandbox-supervisor: error:"))
            .collect()
    }

    fn warn_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.contains(" WARN "))
            .collect()
    }
}

/// Runs `sandbox-supervisor ARGS` in `env` under the launcher.
fn launch(env: Env, args: &[String]) -> Observed {
    let socket = format!(
        "sandbox-supervisor-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut inner: Vec<String> = vec![
        "/usr/bin/python3".into(),
        "-c".into(),
        LAUNCHER.into(),
        socket,
    ];
    if env.as_nobody() && env.runtime() != Runtime::Runc {
        inner.extend(AS_NOBODY.map(str::to_owned));
    }
    if let Some(refusals) = env.outer_filter() {
        inner.extend([
            helper_bin("outer-seccomp").display().to_string(),
            refusals.to_owned(),
            "--".to_owned(),
        ]);
    }
    inner.push(supervisor_bin().display().to_string());
    inner.extend(args.iter().cloned());
    let container;
    let argv: Vec<String> = match env.runtime() {
        Runtime::Host => inner,
        Runtime::Gvisor => outer::runsc_do().into_iter().chain(inner).collect(),
        Runtime::Runc => {
            let id = format!(
                "sandbox-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            container = RuncContainer::new(&id, if env.as_nobody() { 65534 } else { 0 }, &inner);
            container.command()
        }
    };
    let output = output_of(Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()));
    let code = match output.status.code() {
        Some(code) => code,
        None => 128 + std::os::unix::process::ExitStatusExt::signal(&output.status).unwrap_or(0),
    };
    Observed {
        code,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn boot_flags(env: Env, handler: Handler, dir: &Path) -> Vec<String> {
    let mut flags = handler.flags(dir);
    if handler == OuterSandbox {
        flags.extend([
            "--outer-boundary".to_owned(),
            env.declared_boundary().to_owned(),
        ]);
    }
    if env.no_userns() {
        flags.push("--no-userns".to_owned());
    }
    flags
}

/// One cell: the run and the probe.
struct Cell {
    env: Env,
    handler: Handler,
    expect: Expect,
    run: Observed,
    probe: Observed,
}

fn run_cell(env: Env, handler: Handler, dir: &Path) -> Cell {
    let flags = boot_flags(env, handler, dir);
    let mut run_args = flags.clone();
    run_args
        .extend(["--report-fd", "3", "--", "/usr/bin/python3", "-c", WORKLOAD].map(str::to_owned));
    let mut probe_args = vec!["probe".to_owned(), "--json".to_owned()];
    probe_args.extend(flags);
    Cell {
        env,
        handler,
        expect: expect(env, handler),
        run: launch(env, &run_args),
        probe: launch(env, &probe_args),
    }
}

fn step_record<'a>(report: &'a Value, step: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|record| record["step"] == step))
        .unwrap_or(&Value::Null)
}

/// Checks a refused step's record: decision, call, errno, fallback, decider.
fn check_refusal_record(
    report: &Value,
    refusal: &Refusal,
    decision: &str,
    decider: Option<&str>,
) -> Result<(), String> {
    let record = step_record(report, refusal.step);
    let fallback = match refusal.fallback {
        Some((call, errno)) => serde_json::json!({"syscall": call, "errno_name": errno}),
        None => Value::Null,
    };
    let seen_fallback = match &record["fallback"] {
        Value::Null => Value::Null,
        other => {
            serde_json::json!({"syscall": other["syscall"], "errno_name": other["errno_name"]})
        }
    };
    if record["decision"] != decision
        || record["syscall"] != refusal.call
        || record["errno_name"] != refusal.errno
        || seen_fallback != fallback
        || decider.is_some_and(|decider| record["decider"] != decider)
    {
        return Err(format!(
            "the report's {} record is not {decision} for {refusal:?} by {decider:?}: {record}",
            refusal.step
        ));
    }
    Ok(())
}

/// The line fragment that names a refusal: `STEP refused: CALL failed with ERRNO` for an error
/// line, `CALL failed with ERRNO` for a WARN line.
fn names(line: &str, refusal: &Refusal) -> bool {
    line.contains(&format!("{} failed with {}", refusal.call, refusal.errno))
        && refusal.fallback.is_none_or(|(call, errno)| {
            line.contains(&format!(
                "the user-namespace route was refused too: {call} failed with {errno}"
            ))
        })
}

fn check_cell(cell: &Cell) -> Result<(), String> {
    let (env, handler, expect, seen) = (cell.env, cell.handler, &cell.expect, &cell.run);
    // The probe predicts the run's code, as its exit status and in its JSON.
    if cell.probe.code != seen.code {
        return Err(format!(
            "probe exited {} but the run exited {}\nprobe stdout:\n{}\nprobe stderr:\n{}",
            cell.probe.code, seen.code, cell.probe.stdout, cell.probe.stderr
        ));
    }
    let probe_json: Value = {
        cell.probe
            .stdout
            .lines()
            .take_while(|line| !line.starts_with("report "))
            .collect::<Vec<_>>()
            .join("\n")
            .parse()
            .map_err(|err| {
                format!(
                    "probe --json printed no JSON ({err}):\n{}",
                    cell.probe.stdout
                )
            })?
    };
    let predicted = probe_json["would_exit"].as_i64().unwrap_or(0);
    if predicted != i64::from(seen.code) {
        return Err(format!(
            "probe predicted {predicted} but the run exited {}: {probe_json}",
            seen.code
        ));
    }

    if seen.code != expect.code() {
        return Err(format!(
            "exit code {} (expected {})",
            seen.code,
            expect.code()
        ));
    }
    // A group that could not be made with no limit asked for: one WARN, and the report's record,
    // decided by the default, not the handler.
    let (defaults, warns): (Vec<&str>, Vec<&str>) = seen
        .warn_lines()
        .into_iter()
        .partition(|line| line.contains(&format!("decider=\"{DEFAULT_LIMITS}\"")));
    // Without the group, a second line says which bound holds the sandbox's processes
    // (`RLIMIT_NPROC` on the user-namespace route, none on the direct one), once the route is
    // known: a boot stopped before has none.
    let (bounds, defaults): (Vec<&str>, Vec<&str>) = defaults
        .into_iter()
        .partition(|line| line.contains("process_bound="));
    let ran = matches!(expect, Expect::Ran(_));
    if bounds.len() > usize::from(env.cgroup_refused().is_some())
        || (ran && bounds.len() != usize::from(env.cgroup_refused().is_some()))
    {
        return Err(format!(
            "expected {} WARN line saying which bound holds the processes: {bounds:?}",
            usize::from(env.cgroup_refused().is_some())
        ));
    }
    match env.cgroup_refused() {
        Some(cgroup) if defaults.len() != 1 || !names(defaults[0], &cgroup) => {
            return Err(format!(
                "expected one WARN line naming {cgroup:?} decided by {DEFAULT_LIMITS}: {defaults:?}"
            ));
        }
        Some(_) => {}
        None if !defaults.is_empty() => {
            return Err(format!("unexpected cgroup WARN lines: {defaults:?}"));
        }
        None => {}
    }
    let tolerated = expect.tolerated();
    if warns.len() != tolerated.len() {
        return Err(format!(
            "{} WARN lines (expected {})",
            warns.len(),
            tolerated.len()
        ));
    }
    for (warn, refusal) in warns.iter().zip(tolerated) {
        if !warn.contains(&format!("{} failed with {}", refusal.call, refusal.errno))
            || !warn.contains(&format!("decider={}", handler.decider()))
        {
            return Err(format!(
                "WARN line does not name {refusal:?} and {}: {warn}",
                handler.decider()
            ));
        }
    }
    let report = seen.report().ok_or("no report")?;
    // The environment the report describes is the one the test made.
    let context = &report["environment"];
    let uid = if env.as_nobody() { 65534 } else { 0 };
    let caps = match env {
        _ if env.as_nobody() => Some(0),
        RuncRoot => Some(DOCKER_DEFAULT_CAPS_MASK),
        _ => None,
    };
    if context["gvisor"] != (env.runtime() == Runtime::Gvisor)
        || context["uid"] != uid
        || caps.is_some_and(|caps| context["effective_capabilities"] != caps)
    {
        return Err(format!(
            "the report's environment is not this one (uid {uid}, capabilities {caps:?}): {context}"
        ));
    }
    for refusal in tolerated {
        check_refusal_record(&report, refusal, "tolerated", Some(handler.decider()))?;
    }
    if let Some(cgroup) = env.cgroup_refused() {
        check_refusal_record(&report, &cgroup, "tolerated", Some(DEFAULT_LIMITS))?;
    }
    if let Expect::Unverified(start) = expect {
        let errors = seen.error_lines();
        if seen.ran() || errors.len() != 1 || !errors[0].contains(start) {
            return Err(format!("expected one error line with {start:?}"));
        }
        if report["outcome"] != "aborted" {
            return Err(format!("the report's outcome is {}", report["outcome"]));
        }
        return Ok(());
    }
    if let Expect::Aborted { at, .. } = expect {
        if seen.ran() {
            return Err("the workload ran".to_owned());
        }
        let errors = seen.error_lines();
        let expected = format!("{} refused: ", at.step);
        // A handler that fails (raw-verdict, an undeclared tolerate) gets a line without the refusal's sentence, so
        // without the fallback; the report has it.
        let named = |line: &str| {
            if handler.fails() {
                names(
                    line,
                    &Refusal {
                        fallback: None,
                        ..*at
                    },
                )
            } else {
                names(line, at)
            }
        };
        if errors.len() != 1 || !errors[0].contains(&expected) || !named(errors[0]) {
            return Err(format!(
                "expected one error line naming {at:?}, got {errors:?}"
            ));
        }
        if !handler.fails() && !errors[0].contains(&format!("; aborted by {}", handler.decider())) {
            return Err(format!(
                "the error line does not say 'aborted by {}'",
                handler.decider()
            ));
        }
        if report["outcome"] != "aborted" {
            return Err(format!("the report's outcome is {}", report["outcome"]));
        }
        let decider = (!handler.fails()).then(|| handler.decider());
        return check_refusal_record(&report, at, "aborted", decider);
    }

    // The workload ran: the probe saw the same steps take the same decisions and routes.
    for step in STEPS {
        let (ran, probed) = (step_record(&report, step), step_record(&probe_json, step));
        if ran["decision"] != probed["decision"] || ran["route"] != probed["route"] {
            return Err(format!(
                "probe recorded {step} as {probed}, the run as {ran}"
            ));
        }
    }
    // What the workload has, and the report.
    if !seen.ran() || !seen.error_lines().is_empty() {
        return Err("the workload did not run, or an error line was printed".to_owned());
    }
    if report["outcome"] != "running" {
        return Err(format!("the report's outcome is {}", report["outcome"]));
    }
    let root_caller = !env.as_nobody();
    for step in STEPS {
        let record = step_record(&report, step);
        let decision = if expect.missing(step) || (step == CGROUP && env.cgroup_refused().is_some())
        {
            "tolerated"
        } else if step == "privilege-drop" && !root_caller {
            "not-requested"
        } else {
            "enforced"
        };
        if record["decision"] != decision {
            return Err(format!(
                "the report's {step} record is not {decision}: {record}"
            ));
        }
        if NAMESPACES.contains(&step) && decision == "enforced" {
            let route = if env.takes_userns_route() {
                "user-namespace"
            } else {
                "direct"
            };
            if record["route"] != route {
                return Err(format!(
                    "the report's {step} route is not {route}: {record}"
                ));
            }
        }
    }

    let observe = |key: &str| seen.value(key).unwrap_or("?");
    let own = |step: &str| !expect.missing(step);
    // A root caller's workload gets a uid (and gid) of its own from the default range; an
    // unprivileged caller's is the caller (65534).
    let workload_id = observe("Uid").split(' ').next().unwrap_or("?").to_owned();
    let id_ok = if root_caller {
        workload_id
            .parse::<u32>()
            .is_ok_and(|id| (61184..=65519).contains(&id))
    } else {
        workload_id == "65534"
    };
    let all_four = format!("{workload_id} {workload_id} {workload_id} {workload_id}");
    let checks: Vec<(&str, bool)> = vec![
        (
            "network namespace",
            (observe("netns") == "own") == own(NETNS),
        ),
        ("PID namespace", (observe("pidns") == "own") == own(PIDNS)),
        ("parent (PID 1)", (observe("ppid") == "1") == own(PIDNS)),
        (
            "PID 1 (the sandbox's init, seen in /proc)",
            (observe("ppid") == "1" && observe("proc1") == supervisor_bin().display().to_string())
                == (own(PIDNS) && own(MOUNTNS)),
        ),
        (
            "/proc (fresh or the launcher's)",
            (observe("proc_fresh") == "True") == own(MOUNTNS),
        ),
        (
            "view of the launcher's processes in /proc",
            (observe("marker_in_proc") == "True") != (own(PIDNS) && own(MOUNTNS)),
        ),
        (
            "seccomp filter (memfd_create denied)",
            (observe("memfd") == "EPERM") == own(WORKLOAD_SECCOMP),
        ),
        (
            "unshare(CLONE_NEWUSER) (denied by its filter)",
            !own(WORKLOAD_SECCOMP) || observe("unshare_user") == "EPERM",
        ),
        (
            "uid (allocated, or the caller's)",
            id_ok && observe("Uid") == all_four,
        ),
        ("gid (the uid's number)", observe("Gid") == all_four),
        (
            "capability sets (empty)",
            ["CapInh", "CapPrm", "CapEff", "CapAmb"].iter().all(|set| {
                // gVisor's status has no CapAmb line.
                observe(set) == "0000000000000000"
                    || (env.runtime() == Runtime::Gvisor && seen.value(set).is_none())
            }),
        ),
        (
            "bounding set (empty where the caller holds CAP_SETPCAP)",
            (observe("CapBnd") == "0000000000000000") == env.clears_bounding(),
        ),
    ];
    for (what, ok) in checks {
        if !ok {
            return Err(format!(
                "the workload's {what} is not what the outcome says"
            ));
        }
    }
    // gVisor's /proc/PID/status has neither NoNewPrivs nor Seccomp_filters.
    if env.runtime() != Runtime::Gvisor {
        let programs = step_record(&report, WORKLOAD_SECCOMP)["verified"]["programs"]
            .as_u64()
            .unwrap_or(0);
        let filters = env.outer_programs() + if own(WORKLOAD_SECCOMP) { programs } else { 0 };
        if observe("NoNewPrivs") != "1" || observe("Seccomp_filters") != filters.to_string() {
            return Err(format!(
                "the workload should have NoNewPrivs 1 and {filters} filters"
            ));
        }
        let verified = &step_record(&report, WORKLOAD_SECCOMP)["verified"]["seccomp_filters"];
        if verified.as_u64().map(|count| count.to_string()).as_deref()
            != Some(observe("Seccomp_filters"))
        {
            return Err(format!(
                "the report verified {verified} filters, the workload has {}",
                observe("Seccomp_filters")
            ));
        }
    }
    // The report's evidence is what the workload has.
    let ids = &step_record(&report, "privilege-drop")["verified"]["uid"];
    let want: Vec<u64> = all_four
        .split(' ')
        .filter_map(|id| id.parse().ok())
        .collect();
    if want.len() != 4 || ids != &serde_json::json!(want) {
        return Err(format!("the report verified uids {ids}"));
    }
    let sets = &step_record(&report, "capabilities")["verified"]["sets"];
    for set in ["inheritable", "permitted", "effective", "ambient"] {
        // Unknown (null) where the workload's status has no such line: gVisor's ambient set.
        let unknown = env.runtime() == Runtime::Gvisor && set == "ambient" && sets[set].is_null();
        if sets[set] != serde_json::json!([]) && !unknown {
            return Err(format!("the report verified {set} {}", sets[set]));
        }
    }
    if (sets["bounding"] == serde_json::json!([])) != env.clears_bounding() {
        return Err(format!("the report verified bounding {}", sets["bounding"]));
    }
    if own(PIDNS) {
        let nspid = &step_record(&report, PIDNS)["verified"]["nspid"];
        let inner = nspid.as_array().and_then(|pids| pids.last()).cloned();
        if env.runtime() != Runtime::Gvisor
            && inner.map(|pid| pid.to_string()) != Some(observe("pid").to_owned())
        {
            return Err(format!(
                "the report verified NSpid {nspid}, the workload is pid {}",
                observe("pid")
            ));
        }
    }
    Ok(())
}

/// One row of the measured table.
fn row(cell: &Cell) -> String {
    let seen = &cell.run;
    let outcome = match seen.error_lines().first() {
        Some(line) => {
            let line = line.trim_start_matches("sandbox-supervisor: error: ");
            let short = line.split(" (").next().unwrap_or(line);
            format!("stopped: {short}")
        }
        None if seen.ran() => {
            let tolerated = cell.expect.tolerated();
            if tolerated.is_empty() {
                "ran, every step enforced".to_owned()
            } else {
                format!(
                    "ran without {}",
                    tolerated
                        .iter()
                        .map(|refusal| refusal.step)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
        None => "did not run".to_owned(),
    };
    let has = if seen.ran() {
        let value = |key: &str| seen.value(key).unwrap_or("?");
        format!(
            "net {}, pid {}, /proc {}, filter {}, CapEff {}, CapBnd {}, uid {}",
            value("netns"),
            value("pidns"),
            if value("proc_fresh") == "True" {
                "fresh"
            } else {
                "outer"
            },
            if value("memfd") == "EPERM" {
                "yes"
            } else {
                "no"
            },
            if value("CapEff") == "0000000000000000" {
                "0"
            } else {
                "set"
            },
            if value("CapBnd") == "0000000000000000" {
                "0"
            } else {
                "kept"
            },
            // A uid allocated for the run differs from run to run: the table names the range.
            match value("Uid").split(' ').next().unwrap_or("?") {
                id if id
                    .parse::<u32>()
                    .is_ok_and(|id| (61184..=65519).contains(&id)) =>
                {
                    "61184-65519 (allocated)"
                }
                id => id,
            },
        )
    } else {
        "-".to_owned()
    };
    format!(
        "| {} | {} | {} | {} | {} | {} |",
        cell.env.name(),
        cell.handler.name(),
        seen.code,
        cell.probe.code,
        outcome.replace('|', "\\|"),
        has
    )
}

/// Runs every cell of `envs` x [`HANDLERS`] on `threads` threads and checks each.
fn run_matrix(envs: &[Env], threads: usize) {
    let started = Instant::now();
    let dir = tempfile::tempdir_in(staging_dir()).expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let cells: Vec<(Env, Handler)> = envs
        .iter()
        .flat_map(|&env| HANDLERS.map(|handler| (env, handler)))
        .collect();
    let queue = Mutex::new(cells.iter().enumerate());
    let done: Mutex<Vec<(usize, Cell)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some((index, &(env, handler))) = queue.lock().unwrap().next() else {
                    break;
                };
                let cell = run_cell(env, handler, dir.path());
                done.lock().unwrap().push((index, cell));
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(index, _)| *index);
    let mut table = String::from(
        "| environment | handler | run | probe | outcome | what the workload has |\n|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (_, cell) in &done {
        table.push_str(&row(cell));
        table.push('\n');
        if let Err(why) = check_cell(cell) {
            failures.push(format!(
                "{} x {} (expected {:?}): {why}\nstdout:\n{}\nstderr:\n{}",
                cell.env.name(),
                cell.handler.name(),
                cell.expect,
                cell.run.stdout,
                cell.run.stderr
            ));
        }
    }
    println!(
        "\n{table}\n{} cells, {} runs (each cell: the run and its probe), {:.1} s on {threads} threads",
        done.len(),
        done.len() * 2,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn matrix_host() {
    if !is_root() {
        skip_or_fail(
            "needs root (to start the supervisor as another user and under outer filters)",
        );
        return;
    }
    run_matrix(&HOST_ENVS, 4);
}

#[test]
fn matrix_gvisor() {
    if !is_root() {
        skip_or_fail("needs root (runsc do)");
        return;
    }
    if !outer::available("runsc") {
        skip_or_fail("needs gVisor's runsc (Debian package runsc)");
        return;
    }
    run_matrix(&GVISOR_ENVS, 3);
}

#[test]
fn matrix_runc_docker_default() {
    if !is_root() {
        skip_or_fail("needs root (runc run)");
        return;
    }
    if !outer::available("runc") || !Path::new(outer::CONTAINERS_SECCOMP).exists() {
        skip_or_fail(
            "needs runc and containers' default seccomp profile (Debian packages runc, golang-github-containers-common)",
        );
        return;
    }
    run_matrix(&RUNC_ENVS, 3);
}

/// A tolerated refusal of one step never weakens a step the kernel allowed: with only the network
/// namespace refused and tolerated, the workload filter denies exactly what it denies on a clean
/// host.
#[test]
fn tolerating_netns_leaves_the_workload_filter_whole() {
    if !is_root() {
        skip_or_fail("needs root (to start the supervisor under an outer filter)");
        return;
    }
    let denied = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|line| line.ends_with(" EPERM") || line.ends_with(" ENOSYS"))
            .map(str::to_owned)
            .collect()
    };
    let probe_args = || {
        [
            OsString::from("--"),
            helper_bin("syscall-probe").into(),
            "denied".into(),
        ]
    };
    let clean_host = sandbox_tests::run_supervisor(&sandbox_tests::Launch::default(), probe_args());
    assert_eq!(clean_host.code, 0, "{}", clean_host.stderr);
    let mut args: Vec<OsString> = vec![
        "--outer-boundary".into(),
        "vm".into(),
        "--handler-plugin".into(),
        plugin("sandbox-plugin-outer-sandbox").into(),
    ];
    args.extend(probe_args());
    let netns_refused =
        sandbox_tests::run_supervisor(&sandbox_tests::Launch::netns_refused(), args);
    assert_eq!(netns_refused.code, 0, "{}", netns_refused.stderr);
    assert_eq!(
        netns_refused.warn_lines().len(),
        1,
        "{}",
        netns_refused.stderr
    );
    assert!(
        denied(&clean_host.stdout).len() > 30,
        "{}",
        clean_host.stdout
    );
    assert_eq!(denied(&netns_refused.stdout), denied(&clean_host.stdout));
}

/// On the user-namespace route only the caller's own identity exists: `--user` naming anyone
/// else is a privilege-drop failure (exit 122, one line that says why), which `probe` predicts;
/// naming the caller itself runs the workload as the caller.
#[test]
fn userns_route_keeps_the_callers_identity_only() {
    if !is_root() {
        skip_or_fail("needs root (to start the supervisor as uid 65534)");
        return;
    }
    let nobody = sandbox_tests::Launch::nobody();
    for user in [
        ["--user", "0", "--allow-root"].as_slice(),
        &["--user", "1000"],
    ] {
        let run = sandbox_tests::run_supervisor(&nobody, user.iter().chain(&["--", "true"]));
        assert_eq!(run.code, 122, "{user:?}: {}", run.stderr);
        assert!(
            run.error_line().contains("took the user-namespace route"),
            "{user:?}: {}",
            run.stderr
        );
        let probe =
            sandbox_tests::run_supervisor(&nobody, ["probe", "--json"].iter().chain(user.iter()));
        assert_eq!(probe.code, 122, "probe {user:?}: {}", probe.stderr);
    }
    let own = sandbox_tests::run_supervisor(&nobody, ["--user", "65534", "--", "id", "-u"]);
    assert_eq!(
        (own.code, own.stdout.trim()),
        (0, "65534"),
        "{}",
        own.stderr
    );
}

/// The new kind in the environments that really refuse a group: with a limit asked for
/// explicitly (`--pids-max`), the refusal goes to the handler. An unprivileged caller may not make
/// a group below root's (`mkdir` answers `EACCES`); gVisor mounts no cgroup file system, so no
/// hierarchy offers the controller (`EOPNOTSUPP`; the mount namespace is turned off there, so
/// that the cgroup decision is the only one). Strict aborts (120); `outer-sandbox` aborts (121)
/// unless the operator declared a boundary; `policy` tolerates what its configuration lists. A
/// tolerated refusal is one WARN line and the report's record; the workload runs without a group.
#[test]
fn explicit_limits_go_to_the_handler() {
    if !is_root() {
        skip_or_fail("needs root (to start the supervisor as another user, and runsc do)");
        return;
    }
    let dir = tempfile::tempdir_in(staging_dir()).expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let declared = write_file(dir.path(), "declared.json", r#"{"boundary": "container"}"#);
    let policy = write_file(
        dir.path(),
        "cgroup.json",
        r#"{"tolerate": {"cgroup": ["EACCES", "EOPNOTSUPP"]}}"#,
    );
    let outer_sandbox = plugin("sandbox-plugin-outer-sandbox").display().to_string();
    let policy_plugin = plugin("sandbox-plugin-policy").display().to_string();
    // (handler flags, decider, tolerated)
    let handlers: Vec<(Vec<String>, &str, bool)> = vec![
        (Vec::new(), "strict", false),
        (
            vec!["--handler-plugin".into(), outer_sandbox.clone()],
            "plugin:outer-sandbox@0.1.0",
            false,
        ),
        (
            vec![
                "--handler-plugin".into(),
                outer_sandbox,
                "--handler-config".into(),
                declared.display().to_string(),
            ],
            "plugin:outer-sandbox@0.1.0",
            true,
        ),
        (
            vec![
                "--handler-plugin".into(),
                policy_plugin,
                "--handler-config".into(),
                policy.display().to_string(),
            ],
            "plugin:policy@0.1.0",
            true,
        ),
    ];
    let mut envs = vec![(Nobody, Vec::new())];
    if outer::available("runsc") {
        // gVisor has no Landlock (ENOSYS) and cannot make mounts private: both off, the limits
        // are what this test is about.
        envs.push((
            GvisorRoot,
            vec![
                "--disable-step".to_owned(),
                MOUNTNS.to_owned(),
                "--disable-step".to_owned(),
                LANDLOCK.to_owned(),
            ],
        ));
    } else {
        skip_or_fail("needs gVisor's runsc for its half (Debian package runsc)");
    }
    let mut failures = Vec::new();
    for (env, extra) in &envs {
        let refused = env
            .cgroup_refused()
            .expect("this environment refuses groups");
        for (flags, decider, tolerated) in &handlers {
            let mut args = flags.clone();
            args.extend(extra.iter().cloned());
            args.extend(["--pids-max".to_owned(), "64".to_owned()]);
            let mut probe_args = vec!["probe".to_owned()];
            probe_args.extend(args.iter().cloned());
            args.extend(
                ["--report-fd", "3", "--", "/usr/bin/python3", "-c", WORKLOAD].map(str::to_owned),
            );
            let seen = launch(*env, &args);
            let probe = launch(*env, &probe_args);
            let code = if *tolerated {
                0
            } else if *decider == "strict" {
                120
            } else {
                121
            };
            let report = seen.report().unwrap_or(Value::Null);
            let decision = if *tolerated { "tolerated" } else { "aborted" };
            let record = check_refusal_record(&report, &refused, decision, Some(decider));
            let lines_ok = if *tolerated {
                seen.ran()
                    && seen.warn_lines().iter().any(|line| {
                        line.contains("hardening step tolerated")
                            && names(line, &refused)
                            && line.contains(&format!("decider={decider}"))
                    })
            } else {
                let errors = seen.error_lines();
                !seen.ran()
                    && errors.len() == 1
                    && errors[0].contains("cgroup refused: ")
                    && names(errors[0], &refused)
                    && errors[0].contains(&format!("aborted by {decider}"))
            };
            if seen.code != code || probe.code != code || record.is_err() || !lines_ok {
                failures.push(format!(
                    "{} x {decider} (tolerated: {tolerated}): exit {} (probe {}, expected {code}), record {record:?}\nstderr:\n{}",
                    env.name(),
                    seen.code,
                    probe.code,
                    seen.stderr
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
