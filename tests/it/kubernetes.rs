//! examples/kubernetes validates: every manifest against the Kubernetes API schemas of an older
//! and the newest version kubernetes-validate (PyPI) ships, strictly; each pod's Pod Security
//! level is the one it claims; no pod mounts a service account token; every container has limits;
//! the report sidecar is a native one; the plugin is pinned; the Dockerfile installs the .deb and
//! checks the plugin's digest (tests/kubernetes/check_manifests.py). pod-runc.yaml runs in runc,
//! its securityContext translated into an OCI bundle; the report sidecar ends with the workload.

use std::path::Path;
use std::process::Command;

#[test]
fn kubernetes_example_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(sandbox_tests::python::python())
        .arg(root.join("kubernetes/check_manifests.py"))
        .arg(root.join("../examples/kubernetes"))
        .args(["1.31.0", "1.37.0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "pod-gvisor.yaml: Pod sandboxed-worker-gvisor valid for 1.31.0, 1.37.0; Pod Security restricted; no service account token; limits on every container",
        "pod-runc.yaml: Pod sandboxed-worker-runc valid for 1.31.0, 1.37.0; Pod Security privileged; no service account token; limits on every container",
        "probe-daemonset.yaml: DaemonSet sandbox-supervisor-probe valid for 1.31.0, 1.37.0; Pod Security restricted; no service account token; limits on every container",
        "runtimeclass.yaml: RuntimeClass gvisor valid for 1.31.0, 1.37.0",
        "Dockerfile: Debian base, installs the .deb, checks the plugin's digest",
    ] {
        assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
    }
}

/// The manifests of examples/kubernetes as JSON (one value per document, in file order).
fn manifest(name: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/kubernetes")
        .join(name);
    let output = sandbox_tests::run_ok(
        Command::new(sandbox_tests::python::python())
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            ])
            .arg(path),
    );
    serde_json::from_slice(&output.stdout).expect("the manifest as JSON")
}

/// The host uid the pod's root maps to (`hostUsers: false`: a user namespace of 65536 ids).
const POD_HOST_UID: u32 = 200_000;

/// The OCI `config.json` a runtime makes of the container `container` of `pod`'s spec, as
/// containerd translates its securityContext for runc: the user, the capability set (drop ALL,
/// then add), no_new_privs from allowPrivilegeEscalation, the read-only root, /proc masked or not
/// (procMount), the runtime's default seccomp profile for those capabilities, a user namespace
/// (hostUsers: false), the environment, and each volumeMount from `volumes` (name to host
/// directory). The image's entrypoint is `supervisor`, its /app/worker is `worker`.
fn oci_config(
    pod: &serde_json::Value,
    container: &str,
    supervisor: &Path,
    worker: &Path,
    volumes: &[(&str, &Path)],
    caps_removed: &[&str],
) -> serde_json::Value {
    use serde_json::json;
    let spec = &pod["spec"];
    let c = spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == container)
        .expect("the container");
    let sc = &c["securityContext"];
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let caps: Vec<String> = sc["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cap| format!("CAP_{}", cap.as_str().unwrap()))
        .filter(|cap| !caps_removed.contains(&cap.as_str()))
        .collect();
    let cap_names: Vec<&str> = caps.iter().map(String::as_str).collect();
    let mut args = vec![supervisor.display().to_string()];
    for arg in c["args"].as_array().unwrap() {
        let arg = arg.as_str().unwrap();
        args.push(if arg == "/app/worker" {
            worker.display().to_string()
        } else {
            arg.to_owned()
        });
    }
    let uid = sc["runAsUser"].as_u64().unwrap();
    let mut config = sandbox_tests::outer::docker_default_config(uid as u32, &args);
    config["process"]["capabilities"] =
        json!({ "bounding": caps, "effective": caps, "permitted": caps });
    config["process"]["noNewPrivileges"] = json!(sc["allowPrivilegeEscalation"] == json!(false));
    config["root"]["readonly"] = json!(sc["readOnlyRootFilesystem"] == json!(true));
    if sc["readOnlyRootFilesystem"] == json!(true) {
        // No writable /run but the pod's volumes: the image's /run is part of the read-only root.
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|mount| mount["destination"] != "/run");
    }
    config["linux"]["seccomp"] = match sc["seccompProfile"]["type"].as_str() {
        // containerd's default profile for the container's capability set.
        Some("RuntimeDefault") => containerd_runtime_default(&cap_names),
        // The node's profile file, as it is: containerd hands it to runc unchanged.
        Some("Localhost") => localhost_profile(sc["seccompProfile"]["localhostProfile"].as_str()),
        other => panic!("seccompProfile {other:?} is not translated"),
    };
    if sc["procMount"] == "Unmasked" {
        config["linux"]["maskedPaths"] = json!([]);
        config["linux"]["readonlyPaths"] = json!([]);
    }
    if spec["hostUsers"] == json!(false) {
        let mapping = json!([{ "containerID": 0, "hostID": POD_HOST_UID, "size": 65536 }]);
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "user" }));
        config["linux"]["uidMappings"] = mapping.clone();
        config["linux"]["gidMappings"] = mapping;
    }
    for mount in c["volumeMounts"].as_array().into_iter().flatten() {
        let (_, source) = volumes
            .iter()
            .find(|(name, _)| mount["name"] == *name)
            .expect("a host directory for every volume");
        let mode = if mount["readOnly"] == json!(true) {
            "ro"
        } else {
            "rw"
        };
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": mount["mountPath"], "type": "bind", "source": source,
            "options": ["rbind", mode, "nosuid", "nodev"],
        }));
    }
    config
}

/// containerd's `RuntimeDefault` seccomp profile for a container whose bounding set is `caps`:
/// the rules of tests/kubernetes/containerd-seccomp-default.json (containerd's
/// `contrib/seccomp/seccomp_default.go`, amd64) that apply to `caps`, in the OCI form runc reads.
/// It never allows `pivot_root`, with or without CAP_SYS_ADMIN (nor does moby's).
fn containerd_runtime_default(caps: &[&str]) -> serde_json::Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("kubernetes/containerd-seccomp-default.json");
    let mut profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let has = |rule: &serde_json::Value, key: &str| {
        rule[key]["caps"].as_array().is_some_and(|wanted| {
            wanted
                .iter()
                .any(|cap| caps.contains(&cap.as_str().unwrap()))
        })
    };
    let rules: Vec<serde_json::Value> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| {
            (rule.get("includes").is_none() || has(rule, "includes")) && !has(rule, "excludes")
        })
        .map(|rule| {
            let mut rule = rule.clone();
            let object = rule.as_object_mut().unwrap();
            object.remove("includes");
            object.remove("excludes");
            rule
        })
        .collect();
    profile["syscalls"] = rules.into();
    profile.as_object_mut().unwrap().remove("comment");
    profile
}

/// The `Localhost` seccomp profile `name` (relative to the kubelet's seccomp directory): the
/// file of that name in examples/kubernetes, which the README has the operator install there.
fn localhost_profile(name: Option<&str>) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/kubernetes")
        .join(name.expect("a localhostProfile"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// examples/kubernetes/sandbox-supervisor-runc.json, pod-runc's Localhost profile, is exactly
/// containerd's RuntimeDefault for the pod's capability set and one rule more: `pivot_root`
/// allowed, which the filesystem view needs and containerd's default profile never allows.
#[test]
fn pod_runc_profile_is_containerds_default_and_pivot_root() {
    let pod = manifest("pod-runc.yaml").remove(0);
    let sc = &pod["spec"]["containers"][0]["securityContext"];
    assert_eq!(sc["seccompProfile"]["type"], "Localhost");
    let caps: Vec<String> = sc["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cap| format!("CAP_{}", cap.as_str().unwrap()))
        .collect();
    let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
    let mut expected = containerd_runtime_default(&caps);
    expected["syscalls"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "names": ["pivot_root"], "action": "SCMP_ACT_ALLOW" }));
    let shipped = localhost_profile(sc["seccompProfile"]["localhostProfile"].as_str());
    assert!(
        shipped == expected,
        "{} differs from containerd's default profile for {caps:?} plus pivot_root; write it again:\n{}",
        sc["seccompProfile"]["localhostProfile"],
        serde_json::to_string_pretty(&expected).unwrap()
    );
}

/// Whether runc can run the tests' bundles (root, runc installed); skips (or fails) otherwise.
fn runc_ready() -> bool {
    if !sandbox_tests::is_root() {
        sandbox_tests::skip_or_fail("needs root (runc run)");
        return false;
    }
    if !sandbox_tests::outer::available("runc") {
        sandbox_tests::skip_or_fail("needs runc (tests/run.sh --install-only)");
        return false;
    }
    true
}

/// Runs the workload container of `pod` in runc without the capabilities `removed`: its output
/// and the report left in its volume.
fn run_pod(pod: &serde_json::Value, removed: &[&str]) -> (std::process::Output, String) {
    use std::os::unix::fs::PermissionsExt;
    let supervisor = sandbox_tests::supervisor_bin();
    let worker = sandbox_tests::staged(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kubernetes/worker.sh"),
        "kubernetes-worker.sh",
    );
    // The pod's emptyDirs: host directories of the pod's root (its uid on the host).
    let emptydir = || {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::chown(dir.path(), Some(POD_HOST_UID), Some(POD_HOST_UID)).unwrap();
        dir
    };
    let (volume, locks) = (emptydir(), emptydir());
    let volumes = [("report", volume.path()), ("uid-locks", locks.path())];
    let config = oci_config(pod, "workload", &supervisor, &worker, &volumes, removed);
    let profile = pod["spec"]["containers"][0]["securityContext"]["seccompProfile"]["type"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let id = format!(
        "sandbox-test-k8s-{}-{profile}-{}",
        std::process::id(),
        removed.join("-")
    );
    let container = sandbox_tests::outer::RuncContainer::with_config(&id, config);
    let argv = container.command();
    let output = sandbox_tests::output_of(Command::new(&argv[0]).args(&argv[1..]));
    let report = std::fs::read_to_string(volume.path().join("report.json")).unwrap_or_default();
    (output, report)
}

/// pod-runc.yaml with containerd's default profile (`seccompProfile: RuntimeDefault`) instead of
/// its own: the filesystem view's `pivot_root` is refused (EPERM) and the strict default aborts
/// the boot (exit 120, the line naming the call), before any workload runs.
#[test]
fn pod_runc_under_containerds_default_profile_stops_at_pivot_root() {
    if !runc_ready() {
        return;
    }
    let mut pod = manifest("pod-runc.yaml").remove(0);
    pod["spec"]["containers"][0]["securityContext"]["seccompProfile"] =
        serde_json::json!({ "type": "RuntimeDefault" });
    let (output, report) = run_pod(&pod, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(120), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            line.contains("\"level\":\"ERROR\"") || line.starts_with("sandbox-supervisor: error:")
        })
        .collect();
    assert!(
        errors.len() == 1 && errors[0].contains("pivot_root") && errors[0].contains("EPERM"),
        "{stderr}"
    );
    assert!(report.contains("\"pivot_root\""), "{report}");
}

/// pod-runc.yaml's workload container, translated into an OCI bundle with its Localhost seccomp
/// profile, runs in runc: the supervisor boots every step (exit 0, the workload runs as a uid of
/// its own with no_new_privs, no capability and the filter) and writes its final report to the
/// pod's volume. Each capability the pod adds is needed: without it the run stops; without
/// CAP_KILL with a usage line naming it.
#[test]
fn pod_runc_runs_in_runc_with_exactly_its_capabilities() {
    if !runc_ready() {
        return;
    }
    let pod = manifest("pod-runc.yaml").remove(0);
    let added: Vec<String> = pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cap| format!("CAP_{}", cap.as_str().unwrap()))
        .collect();
    let run = |removed: &[&str]| run_pod(&pod, removed);

    let (output, report) = run(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}:\n{stdout}\n{stderr}",
        output.status
    );
    for expected in [
        "NoNewPrivs:\t1",
        "CapEff:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "Seccomp:\t2",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} not in:\n{stdout}\n{stderr}"
        );
    }
    // A uid of its own, allocated for the run (the default --uid-range), in the pod's namespace.
    let uid: u32 = stdout
        .split_once("uid=")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|uid| uid.parse().ok())
        .unwrap_or_else(|| panic!("no uid in:\n{stdout}"));
    assert!((61184..=65519).contains(&uid), "uid {uid}:\n{stdout}");
    // The container's root has no /.dockerenv (the host's stray one is whited out): the
    // supervisor sees no container clue, as in a real runc container.
    assert!(!report.contains("/.dockerenv"), "{report}");
    assert!(
        report.contains("\"final\""),
        "no final record:\n{report}\n{stderr}"
    );

    for cap in &added {
        let (output, _) = run(&[cap.as_str()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if cap == "CAP_SETPCAP" {
            // The run boots, but the workload's bounding set is not emptied.
            assert!(
                output.status.success() && !stdout.contains("CapBnd:\t0000000000000000"),
                "without {cap}: {stdout}\n{stderr}"
            );
            continue;
        }
        assert!(
            !output.status.success(),
            "the pod runs without {cap}: {stderr}"
        );
        if cap == "CAP_KILL" {
            assert_eq!(output.status.code(), Some(2), "without {cap}: {stderr}");
            assert!(stderr.contains("CAP_KILL"), "without {cap}: {stderr}");
        }
    }
}

/// Each pod's report sidecar, run as its script says, prints what the supervisor left in the
/// volume and ends when the kubelet stops it (SIGTERM, once the workload container has ended),
/// also when the supervisor was killed before any final record.
#[test]
fn report_sidecar_ends_with_the_workload_with_or_without_a_final_record() {
    for pod in ["pod-gvisor.yaml", "pod-runc.yaml"] {
        let spec = manifest(pod).remove(0)["spec"].clone();
        let sidecar = spec["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "report")
            .expect("a report sidecar")
            .clone();
        let command: Vec<&str> = sidecar["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        for record in ["boot", "final"] {
            let volume = tempfile::tempdir().expect("tempdir");
            let written = format!("{{\"record\": \"{record}\"}}\n");
            std::fs::write(volume.path().join("report.json"), &written).unwrap();
            let script = command[2].replace("/run/sandbox", &volume.path().display().to_string());
            let mut child = Command::new(command[0])
                .args([command[1], &script])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // The kubelet's stop, once the script catches it (SIGTERM in the shell's SigCgt).
            let catches_term = || {
                let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
                status.unwrap_or_default().lines().any(|line| {
                    line.strip_prefix("SigCgt:\t")
                        .and_then(|mask| u64::from_str_radix(mask, 16).ok())
                        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
                })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !catches_term() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if std::time::Instant::now() > deadline {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    panic!("{pod}: the report sidecar did not end on SIGTERM ({record} record)");
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            let mut printed = String::new();
            std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut printed).unwrap();
            assert!(status.success(), "{pod}: {status}");
            assert_eq!(printed, written, "{pod}: what the sidecar printed");
        }
    }
}
