//! The Debian package: `packaging/build-deb.sh` builds it (cargo-deb), `dpkg -i` installs it, the
//! README's plugin examples run from the installed paths, the man page and completions are where
//! `man` and the shells look, and `dpkg --purge` leaves the machine as it was.
//!
//! The host's package state is never touched: the test builds the package, then runs itself again
//! under `private-host`, in a mount namespace of its own where `/usr`, `/etc` and `/var` are
//! copy-on-write views of the host's (overlayfs on a tmpfs that goes with the namespace). There
//! the real `dpkg`, `man` and the installed binary and plugins run at their real paths; whatever
//! the host has (the package installed or not) is what the test starts from, and nothing of it
//! outlives the test, passed or not.
//!
//! Needs root (dpkg, mounts) and a Debian system. The release build is the long part (a few
//! minutes on two cores the first time, incremental after): the script reuses `target/release`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sandbox_tests::{helper_bin, require_root, run_ok, sha256_of, workspace};

const PACKAGE: &str = "sandbox-supervisor";
const BIN: &str = "/usr/bin/sandbox-supervisor";
const PLUGIN_DIR: &str = "/usr/lib/sandbox-supervisor";
const POLICY: &str = "/etc/sandbox-supervisor/policy.json";

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("failed to run {command:?}: {err}"));
    output
}

fn installed() -> bool {
    let output = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", PACKAGE]));
    output.status.success() && String::from_utf8_lossy(&output.stdout).contains("installed")
}

/// Set in the copy of this test that runs in the scratch namespace.
const INSIDE: &str = "SANDBOX_TESTS_PACKAGE_SCRATCH_ROOT";

/// The files under the directories the package installs into, to compare before and after.
fn footprint() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in [
        BIN,
        PLUGIN_DIR,
        "/etc/sandbox-supervisor",
        "/usr/share/man/man1/sandbox-supervisor.1",
        "/usr/share/man/man1/sandbox-supervisor.1.gz",
        "/usr/share/bash-completion/completions/sandbox-supervisor",
        "/usr/share/zsh/vendor-completions/_sandbox-supervisor",
        "/usr/share/fish/vendor_completions.d/sandbox-supervisor.fish",
        "/usr/share/doc/sandbox-supervisor",
    ] {
        if Path::new(path).symlink_metadata().is_ok() {
            found.push(PathBuf::from(path));
        }
    }
    found
}

#[test]
fn deb_installs_runs_the_readme_examples_and_purges_cleanly() {
    require_root!();
    if let Some(deb) = std::env::var_os(INSIDE) {
        install_check_and_purge(Path::new(&deb));
        return;
    }
    if Command::new("dpkg").arg("--version").output().is_err() {
        sandbox_tests::skip_or_fail("needs dpkg (a Debian system)");
        return;
    }
    let host_before = (installed(), footprint());

    run_ok(&mut Command::new(
        workspace().join("packaging/build-deb.sh"),
    ));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let version = env!("CARGO_PKG_VERSION");
    let debs: Vec<PathBuf> = std::fs::read_dir(target.join("debian"))
        .expect("target/debian")
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{PACKAGE}_{version}"))
                && path.extension().is_some_and(|ext| ext == "deb")
        })
        .collect();
    assert_eq!(debs.len(), 1, "one .deb for version {version}: {debs:?}");

    // This very test again, in the scratch namespace.
    let scratch = tempfile::tempdir().expect("tempdir");
    let name = sandbox_tests::test_name!(deb_installs_runs_the_readme_examples_and_purges_cleanly);
    let inner = sandbox_tests::output_of(
        Command::new(helper_bin("private-host"))
            .arg("--scratch")
            .arg(scratch.path())
            .args([
                "--overlay",
                "/usr",
                "--overlay",
                "/etc",
                "--overlay",
                "/var",
                "--",
            ])
            .arg(std::env::current_exe().expect("current_exe"))
            .args(["--exact", &name, "--nocapture", "--test-threads=1"])
            .env(INSIDE, &debs[0]),
    );
    let stdout = String::from_utf8_lossy(&inner.stdout);
    assert!(
        inner.status.success() && stdout.contains("test result: ok. 1 passed"),
        "the test in the scratch namespace failed ({}):\n{stdout}\n{}",
        inner.status,
        String::from_utf8_lossy(&inner.stderr)
    );
    assert_eq!(
        (installed(), footprint()),
        host_before,
        "the host's package state changed"
    );
}

/// In the scratch namespace: from whatever the host had, purge, install `deb`, check, purge.
fn install_check_and_purge(deb: &Path) {
    // A host where the package is installed: the test starts from its removal (in the scratch
    // namespace only).
    if installed() {
        run_ok(Command::new("dpkg").args(["--purge", PACKAGE]));
    }
    let before = footprint();
    assert!(
        before.is_empty(),
        "files of the package exist before it is installed: {before:?}"
    );

    run_ok(Command::new("dpkg").arg("-i").arg(deb));
    assert!(installed());

    // The binary, the plugins (root, 0644), the example policy (a conffile).
    let bin = std::fs::metadata(BIN).expect(BIN);
    assert_eq!(bin.mode() & 0o7777, 0o755);
    for plugin in [
        "libsandbox_plugin_outer_sandbox.so",
        "libsandbox_plugin_policy.so",
    ] {
        let meta = std::fs::metadata(Path::new(PLUGIN_DIR).join(plugin)).expect(plugin);
        assert_eq!(
            (meta.uid(), meta.gid(), meta.permissions().mode() & 0o7777),
            (0, 0, 0o644),
            "{plugin}"
        );
    }
    let conffiles = run_ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", PACKAGE]));
    assert!(
        String::from_utf8_lossy(&conffiles.stdout).contains(POLICY),
        "{POLICY} is a conffile: {}",
        String::from_utf8_lossy(&conffiles.stdout)
    );

    // The man page where man finds it, generated from the clap definition (it names every flag).
    let page = run_ok(Command::new("man").args(["-w", PACKAGE]));
    let page = String::from_utf8_lossy(&page.stdout).trim().to_owned();
    assert!(
        page.starts_with("/usr/share/man/man1/sandbox-supervisor.1"),
        "{page}"
    );
    let text = run_ok(
        Command::new("man")
            .args(["-P", "cat", PACKAGE])
            .env("MANWIDTH", "200"),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for flag in [
        "--handler-plugin",
        "--report-fd",
        "--disable-step",
        "--allow-root",
    ] {
        assert!(text.contains(flag), "the man page lacks {flag}:\n{text}");
    }
    // The completions, where bash-completion, zsh and fish look for them.
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/sandbox-supervisor")
        .unwrap();
    assert!(bash.contains("--handler-plugin-sha256"), "{bash}");
    assert!(Path::new("/usr/share/zsh/vendor-completions/_sandbox-supervisor").exists());
    assert!(Path::new("/usr/share/fish/vendor_completions.d/sandbox-supervisor.fish").exists());

    // The README's plugin examples, from the installed paths, with the installed policy.
    let sha = sha256_of(&Path::new(PLUGIN_DIR).join("libsandbox_plugin_policy.so"));
    let policy = run_ok(Command::new(BIN).args([
        "--handler-plugin",
        &format!("{PLUGIN_DIR}/libsandbox_plugin_policy.so"),
        "--handler-plugin-sha256",
        &sha,
        "--handler-config",
        POLICY,
        "--",
        "id",
        "-u",
    ]));
    // A root caller's workload: a uid allocated for the run from the default range.
    let uid: u32 = String::from_utf8_lossy(&policy.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!((61184..=65519).contains(&uid), "{uid}");
    let stderr = String::from_utf8_lossy(&policy.stderr);
    assert!(
        stderr.contains(
            "failure handler loaded: plugin:policy@0.1.0 may tolerate [network-namespace, workload-seccomp]"
        ),
        "{stderr}"
    );
    let outer = run_ok(Command::new(BIN).args([
        "--handler-plugin",
        &format!("{PLUGIN_DIR}/libsandbox_plugin_outer_sandbox.so"),
        "--",
        "true",
    ]));
    assert!(
        String::from_utf8_lossy(&outer.stderr).contains("plugin:outer-sandbox@0.1.0"),
        "{}",
        String::from_utf8_lossy(&outer.stderr)
    );
    // A plugin digest that does not match is refused by the installed binary (exit 118).
    let wrong = run(Command::new(BIN).args([
        "--handler-plugin",
        &format!("{PLUGIN_DIR}/libsandbox_plugin_policy.so"),
        "--handler-plugin-sha256",
        &"0".repeat(64),
        "--handler-config",
        POLICY,
        "--",
        "true",
    ]));
    assert_eq!(wrong.status.code(), Some(118));

    run_ok(Command::new("dpkg").args(["--purge", PACKAGE]));
    assert!(!installed());
    assert_eq!(
        footprint(),
        Vec::<PathBuf>::new(),
        "dpkg --purge left files behind"
    );
}
