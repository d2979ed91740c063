//! The built binary, plugins, helper binaries and compatibility fixtures, staged where an
//! unprivileged user can run them; the workspace; scratch directories and files.

use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace's root directory (the checkout).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workspace")
        .to_owned()
}

/// The cargo target directory the tests were built in (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/debug/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_owned()
}

/// The directories the default filesystem view replaces with a private tmpfs: what the tests
/// stage there is invisible to the workload.
pub const VIEW_SCRATCH: [&str; 3] = ["/tmp", "/var/tmp", "/run"];

/// Where built artifacts are staged for the tests (and where [`scratch`] directories are made):
/// a directory every user can traverse, because the checkout itself may not be (and the tests
/// start the supervisor as an unprivileged user), outside the directories the filesystem view
/// replaces ([`VIEW_SCRATCH`]), so that the workload sees what the tests put there (read-only,
/// unless a test names it a workspace). `SANDBOX_TESTS_STAGING` names it (tests/run.sh makes a
/// fresh one under /var/lib and removes it afterwards); otherwise it is one per user and target
/// directory under /var/lib (or the target directory when /var/lib is not writable), reused.
pub fn staging_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = match std::env::var_os("SANDBOX_TESTS_STAGING") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                target_dir().hash(&mut hasher);
                let base =
                    if nix::unistd::access("/var/lib", nix::unistd::AccessFlags::W_OK).is_ok() {
                        PathBuf::from("/var/lib")
                    } else {
                        target_dir()
                    };
                base.join(format!(
                    "sandbox-supervisor-tests-{}-{:016x}",
                    nix::unistd::geteuid(),
                    hasher.finish()
                ))
            }
        };
        assert!(
            !VIEW_SCRATCH.iter().any(|scratch| dir.starts_with(scratch)),
            "SANDBOX_TESTS_STAGING={} is under a directory the filesystem view replaces with a \
             private tmpfs ({VIEW_SCRATCH:?}): the workload would not see the staged binaries; \
             make it elsewhere (tests/run.sh uses /var/lib)",
            dir.display()
        );
        std::fs::create_dir_all(&dir).expect("create the staging directory");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    })
}

/// A copy of the built artifact `name` in the staging directory, mode 0755, refreshed when the
/// build is newer.
fn built(name: &str) -> PathBuf {
    let source = target_dir().join(name);
    assert!(
        source.exists(),
        "{} is missing: run `cargo build --workspace` before the tests (the README's test command does)",
        source.display()
    );
    stage(&source, name)
}

/// Copies `source` to the staging directory as `name` (mode 0755) when the build is newer.
fn stage(source: &Path, name: &str) -> PathBuf {
    // One thread at a time: two threads that both find the copy stale would both replace it, the
    // second while a run of the first has the plugin loaded (it then reads another file at its
    // path than the one it loaded).
    static STAGING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _staging = STAGING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let staged = staging_dir().join(name);
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    if modified(&staged) < modified(source) {
        // Copy under a unique name, then rename: concurrent tests never see a partial file.
        let partial = staging_dir().join(format!(
            ".{name}.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::copy(source, &partial).expect("stage artifact");
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&partial, &staged).expect("stage artifact");
    }
    staged
}

/// The `sandbox-supervisor` binary.
pub fn supervisor_bin() -> PathBuf {
    built("sandbox-supervisor")
}

/// A helper binary of this crate (`outer-seccomp`, `syscall-probe`).
pub fn helper_bin(name: &str) -> PathBuf {
    built(name)
}

/// The shared object of the plugin package `package` (`sandbox-plugin-policy`, ...).
pub fn plugin(package: &str) -> PathBuf {
    built(&format!("lib{}.so", package.replace('-', "_")))
}

/// The compatibility fixtures (tests/fixtures: plugins and a host built against earlier releases
/// of the plugin API), built once per test process into `target/fixtures` with the fixtures' own
/// lock file. Returns that target directory's `debug`.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/Cargo.toml");
        let target = target_dir()
            .parent()
            .expect("target/<profile> has a parent")
            .join("fixtures");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--locked", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("start cargo to build the compatibility fixtures");
        assert!(status.success(), "building {} failed", manifest.display());
        target.join("debug")
    })
}

/// `source` (a file built outside this workspace's target directory) staged as `name`.
pub fn staged(source: &Path, name: &str) -> PathBuf {
    stage(source, name)
}

/// Builds the plugin crate in `crate_dir` outside this workspace, as a vendor would (with the
/// fixtures' lock file, into the fixtures' target directory), and stages its `lib{lib}.so` as
/// `name`. The build's failure fails the test with cargo's output.
pub fn build_plugin_crate(crate_dir: &Path, lib: &str, name: &str) -> PathBuf {
    std::fs::copy(
        workspace().join("tests/fixtures/Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("copy the fixtures' lock file");
    let target = fixtures_dir()
        .parent()
        .expect("the fixtures' target")
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env("CARGO_NET_GIT_FETCH_WITH_CLI", "true")
        .output()
        .expect("start cargo");
    assert!(
        output.status.success(),
        "{} did not build: {}",
        crate_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stage(&target.join(format!("debug/lib{lib}.so")), name)
}

/// A compatibility fixture artifact (`libfixture_plugin_0_1_0.so`, `fixture-host-0-1-0`), staged
/// like the other artifacts.
pub fn fixture(name: &str) -> PathBuf {
    stage(&fixtures_dir().join(name), name)
}

/// The version of sandbox-plugin-api in this checkout (its own, not the workspace's), from
/// plugin-api/Cargo.toml.
pub fn plugin_api_version() -> String {
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api/Cargo.toml"),
    )
    .expect("read plugin-api/Cargo.toml");
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a version line in plugin-api/Cargo.toml")
        .to_owned()
}

/// A scratch directory every user can write to (for markers written by an unprivileged workload),
/// in the staging directory: the workload sees it read-only, or read-write when the test names
/// it with `--workspace` (as [`marked`](crate::marked) does). Sticky like /tmp: a workload cannot
/// rename or remove what another uid put there, so a report the supervisor writes there cannot be
/// replaced (the supervisor refuses a report path the workload could replace).
pub fn scratch() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("scratch")
        .tempdir_in(staging_dir())
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

/// Writes `text` to a new file `name` in `dir` (mode 0644) and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}
