"""Checks examples/kubernetes: every manifest validates with kubernetes-validate (PyPI) against
the Kubernetes versions given, strictly (no unknown fields); every pod (and Job or DaemonSet
template) has automountServiceAccountToken: false and CPU and memory limits on every container;
the Pod Security level each pod needs, computed from the Pod Security Standards' rules below, is
the one its annotation claims; a "report" sidecar is a native one (an init container the kubelet
stops when the workload has ended); and the Dockerfile installs the .deb from a Debian base and
checks the plugin the pods load against the pinned digest.

Usage: check_manifests.py DIR VERSION...  Prints one line per check; exits 1 on the first
failure."""

import pathlib
import re
import sys

import kubernetes_validate
import yaml

ANNOTATION = "sandbox-supervisor.example/pod-security"
PLUGIN = "/usr/lib/sandbox-supervisor/libsandbox_plugin_outer_sandbox.so"

# Pod Security Standards (kubernetes.io/docs/concepts/security/pod-security-standards).
BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def baseline_violations(spec):
    found = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            found.append(key)
    pod_sc = spec.get("securityContext", {})
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            found.append(f"hostPath volume {volume['name']}")
    for c in containers(spec):
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            found.append(f"{name}: privileged")
        extra = set(sc.get("capabilities", {}).get("add", [])) - BASELINE_CAPS
        if extra:
            found.append(f"{name}: adds {sorted(extra)}")
        for port in c.get("ports", []):
            if port.get("hostPort"):
                found.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount {sc['procMount']}")
        for ctx in (sc, pod_sc):
            if ctx.get("appArmorProfile", {}).get("type") == "Unconfined":
                found.append(f"{name}: AppArmor Unconfined")
            if ctx.get("seccompProfile", {}).get("type") == "Unconfined":
                found.append(f"{name}: seccomp Unconfined")
    return found


def restricted_violations(spec):
    found = []
    pod_sc = spec.get("securityContext", {})
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} of type {sorted(kinds)}")
    for c in containers(spec):
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile {seccomp}")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{name}: does not drop ALL")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds {caps['add']}")
    return found


def level(spec):
    if baseline_violations(spec):
        return "privileged"
    if restricted_violations(spec):
        return "baseline"
    return "restricted"


def check_limits(where, spec):
    for c in containers(spec):
        limits = c.get("resources", {}).get("limits", {})
        if not {"cpu", "memory"} <= set(limits):
            fail(f"{where}: container {c['name']} has no CPU and memory limits: {limits}")


def check_sidecar(where, spec):
    """A container that waits for the workload's report must end when the workload does: a
    native sidecar (init container with restartPolicy Always), never a regular container."""
    for c in spec.get("containers", []):
        if c["name"] == "report":
            fail(f"{where}: the report sidecar is a regular container: it outlives a killed supervisor")
    for c in spec.get("initContainers", []):
        if c["name"] == "report" and c.get("restartPolicy") != "Always":
            fail(f"{where}: the report init container is not a native sidecar")


def check_dockerfile(directory):
    text = (directory / "Dockerfile").read_text()
    if not re.search(r"^FROM debian:", text, re.M):
        fail("the Dockerfile does not start from a Debian base")
    if "apt-get install" not in text or "sandbox-supervisor_*.deb" not in text:
        fail("the Dockerfile does not install the .deb")
    if f'"$PLUGIN_SHA256  {PLUGIN}" | sha256sum -c -' not in text:
        fail("the Dockerfile does not check the plugin against PLUGIN_SHA256")
    print("Dockerfile: Debian base, installs the .deb, checks the plugin's digest")


def main():
    directory = pathlib.Path(sys.argv[1])
    versions = sys.argv[2:]
    check_dockerfile(directory)
    for path in sorted(directory.glob("*.yaml")):
        for resource in yaml.safe_load_all(path.read_text()):
            kind = resource["kind"]
            name = resource["metadata"]["name"]
            for version in versions:
                try:
                    kubernetes_validate.validate(resource, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    fail(f"{path.name}: {kind} {name} is invalid for Kubernetes {version}: {error.message} at {list(error.path)}")
                except kubernetes_validate.SchemaNotFoundError as error:
                    fail(f"{path.name}: no schema for {kind} in Kubernetes {version}: {error}")
            spec = None
            if kind == "Pod":
                spec = resource["spec"]
            elif kind in ("Job", "DaemonSet"):
                spec = resource["spec"]["template"]["spec"]
            if spec is not None:
                check_limits(f"{path.name}: {kind} {name}", spec)
                check_sidecar(f"{path.name}: {kind} {name}", spec)
                if spec.get("automountServiceAccountToken") is not False:
                    fail(f"{path.name}: {kind} {name} mounts a service account token")
                claimed = resource["metadata"].get("annotations", {}).get(ANNOTATION)
                needed = level(spec)
                if claimed != needed:
                    fail(f"{path.name}: {kind} {name} claims Pod Security {claimed!r} but needs {needed!r}: "
                         f"{baseline_violations(spec) or restricted_violations(spec)}")
                args = [arg for c in containers(spec) for arg in c.get("args", [])]
                plugins = [a.split("=", 1)[1] for a in args if a.startswith("--handler-plugin=")]
                if plugins and (plugins != [PLUGIN] or not any(a.startswith("--handler-plugin-sha256=") for a in args)):
                    fail(f"{path.name}: {kind} {name} loads {plugins} without a pinned digest")
                print(f"{path.name}: {kind} {name} valid for {', '.join(versions)}; Pod Security {needed}; no service account token; limits on every container")
            else:
                print(f"{path.name}: {kind} {name} valid for {', '.join(versions)}")


main()
