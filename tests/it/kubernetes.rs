//! examples/kubernetes validates: every manifest against the Kubernetes API schemas of an older
//! and the newest version kubernetes-validate (PyPI) ships, strictly; each pod's Pod Security
//! level is the one it claims; no pod mounts a service account token; the plugin is pinned; the
//! Dockerfile installs the .deb and checks the plugin's digest (tests/kubernetes/check_manifests.py).

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
        "pod-gvisor.yaml: Pod sandboxed-worker-gvisor valid for 1.31.0, 1.37.0; Pod Security restricted; no service account token",
        "pod-runc.yaml: Pod sandboxed-worker-runc valid for 1.31.0, 1.37.0; Pod Security privileged; no service account token",
        "probe-job.yaml: Job sandbox-supervisor-probe valid for 1.31.0, 1.37.0; Pod Security restricted; no service account token",
        "runtimeclass.yaml: RuntimeClass gvisor valid for 1.31.0, 1.37.0",
        "Dockerfile: Debian base, installs the .deb, checks the plugin's digest",
    ] {
        assert!(said.contains(expected), "missing {expected:?} in:\n{said}");
    }
}
