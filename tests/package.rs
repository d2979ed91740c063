//! The Debian package: `packaging/build-deb.sh` builds it (cargo-deb), `dpkg -i` installs it, the
//! README's plugin examples run from the installed paths, the man page and completions are where
//! `man` and the shells look (bash, zsh and fish complete with them), and `dpkg --purge` leaves
//! the machine as it was.
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

/// The digest examples/kubernetes/README.md's recipe computes, for the copy inside.
const RECIPE_DIGEST: &str = "SANDBOX_TESTS_PACKAGE_RECIPE_DIGEST";

/// The plugin digest examples/kubernetes/README.md's recipe takes from `deb` (the command that
/// sets `digest`, run by bash as written, on this package file).
fn kubernetes_digest_recipe(deb: &Path) -> String {
    let readme =
        std::fs::read_to_string(workspace().join("examples/kubernetes/README.md")).unwrap();
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.starts_with("digest=$("));
    let mut recipe = String::new();
    for line in lines.by_ref() {
        recipe.push_str(line);
        recipe.push('\n');
        if !line.ends_with('\\') {
            break;
        }
    }
    assert!(
        !recipe.is_empty(),
        "no digest recipe in examples/kubernetes/README.md"
    );
    let recipe = recipe.replace(
        "target/debian/sandbox-supervisor_*.deb",
        &deb.display().to_string(),
    );
    let output = run_ok(
        Command::new("bash")
            .args([
                "-euo",
                "pipefail",
                "-c",
                &format!("{recipe}echo \"$digest\""),
            ])
            .current_dir(workspace()),
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The files under the directories the package installs into, to compare before and after.
fn footprint() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in [
        BIN,
        PLUGIN_DIR,
        "/etc/sandbox-supervisor",
        "/usr/share/man/man1/sandbox-supervisor.1",
        "/usr/share/man/man1/sandbox-supervisor.1.gz",
        "/usr/share/man/man1/sandbox-supervisor-probe.1.gz",
        "/usr/share/man/man1/sandbox-supervisor-simulate.1.gz",
        "/usr/share/bash-completion/completions/sandbox-supervisor",
        "/usr/share/zsh/vendor-completions/_sandbox-supervisor",
        "/usr/share/fish/vendor_completions.d/sandbox-supervisor.fish",
        "/usr/share/doc/sandbox-supervisor",
        "/usr/share/lintian/overrides/sandbox-supervisor",
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
    lintian_clean(&debs[0]);
    let recipe_digest = kubernetes_digest_recipe(&debs[0]);

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
            .env(INSIDE, &debs[0])
            .env(RECIPE_DIGEST, recipe_digest),
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

/// lintian at its default level finds no error and no warning in `deb` (its informational tags
/// and overrides aside). Debian's own check of a package: maintainer address, changelog,
/// copyright, compressed man pages, md5sums, permissions.
fn lintian_clean(deb: &Path) {
    if Command::new("lintian").arg("--version").output().is_err() {
        sandbox_tests::skip_or_fail("needs lintian (tests/run.sh --install-only installs it)");
        return;
    }
    // lintian's helpers leave temporary files (mldbm-elf-*) in TMPDIR: give it one of the test's
    // own, removed after, so that the host's /tmp stays as it was.
    let tmp = deb.with_extension("lintian-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let output = run(Command::new("lintian").env("TMPDIR", &tmp).arg(deb));
    let _ = std::fs::remove_dir_all(&tmp);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let complaints: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("E: ") || line.starts_with("W: "))
        .collect();
    assert!(
        complaints.is_empty() && output.status.success(),
        "lintian ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What bash completes for `words` (the last one being completed), with the completion the
/// package installs, as bash-completion loads it.
fn bash_completes(words: &[&str]) -> String {
    let script = format!(
        "source /usr/share/bash-completion/completions/{PACKAGE}
function=$(complete -p {PACKAGE} | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')
COMP_WORDS=({words})
COMP_CWORD={cword}
\"$function\" {PACKAGE} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"
echo \"${{COMPREPLY[*]}}\"",
        words = words
            .iter()
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
    );
    let output = run_ok(Command::new("bash").args(["--norc", "-c", &script]));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// What fish completes at the end of `line`, with the completion the package installs, as fish
/// finds it (its vendor completions directory): the candidates, sorted. `home` stands for the
/// user's home and fish's data directories.
fn fish_completes(line: &str, home: &Path) -> Vec<String> {
    let output = run_ok(
        Command::new("fish")
            .args(["-c", "complete -C $argv[1]", "--", line])
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home)
            .env("XDG_DATA_HOME", home)
            .env("XDG_CACHE_HOME", home),
    );
    let mut found: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split('\t').next())
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

/// Sourced by an interactive zsh in a pseudo-terminal: the completion system (compinit, the
/// default fpath, where the package's `_sandbox-supervisor` is), TAB bound to complete-word, and
/// `compadd` wrapped so that every candidate it adds is also appended to `$CAPTURE`; once the
/// completion has run, a marker line and the shell exits.
const ZSH_SETUP: &str = r#"PROMPT=''
autoload -Uz compinit
compinit -u -D
zstyle ':completion:*' insert-tab false
compadd() {
  # The completion system's own queries (matches wanted in an array) go through as they are.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) && print -rl -- $__hits >> $CAPTURE
  builtin compadd "$@"
}
__capture_done() { print -r -- __CAPTURED__ >> $CAPTURE; exit }
comppostfuncs=(__capture_done)
bindkey '^I' complete-word
print -r -- __READY__
"#;

/// `zsh -f DRIVE SETUP LINE`: starts an interactive zsh in a pseudo-terminal (zsh/zpty), has it
/// source SETUP, types LINE and TAB, and waits for the capture's marker.
const ZSH_DRIVE: &str = r#"zmodload zsh/zpty
zpty capture 'zsh -f -i'
zpty -w capture "source ${(q)1}"
zpty -r -m capture line '*__READY__*' || exit 3
zpty -w -n capture "$2"$'\t'
while [[ ! -f $CAPTURE ]] || ! grep -q __CAPTURED__ $CAPTURE; do
  zpty -r -t capture line || sleep 0.05
done
zpty -d capture
"#;

/// What zsh's completion system completes at the end of `line` (TAB in a real line editor, the
/// package's completion function as zsh autoloads it): the candidates, sorted. `dir` holds the
/// scripts and the capture.
fn zsh_completes(line: &str, dir: &Path) -> Vec<String> {
    let (setup, drive, capture) = (
        dir.join("setup.zsh"),
        dir.join("drive.zsh"),
        dir.join("capture"),
    );
    std::fs::write(&setup, ZSH_SETUP).unwrap();
    std::fs::write(&drive, ZSH_DRIVE).unwrap();
    let _ = std::fs::remove_file(&capture);
    run_ok(
        Command::new("timeout")
            .args(["60", "zsh", "-f"])
            .arg(&drive)
            .arg(&setup)
            .arg(line)
            .env("CAPTURE", &capture)
            .env("HOME", dir),
    );
    let mut found: Vec<String> = std::fs::read_to_string(&capture)
        .expect("the capture")
        .lines()
        .filter(|line| *line != "__CAPTURED__")
        .map(str::to_owned)
        .collect();
    found.sort();
    found
}

/// The completions of the three shells offer every subcommand's options and the fixed values of
/// a flag, after the command and after each subcommand: bash's function called as bash-completion
/// calls it, fish's `complete -C`, zsh's completion system driven in a pseudo-terminal.
fn check_completions() {
    const STEPS: &str = "cgroup filesystem-view landlock mount-namespace network-namespace pid-namespace supervisor-seccomp workload-seccomp";
    const NET_B: &str = "NET_BIND_SERVICE NET_BROADCAST";
    let cases: [(&str, &str); 12] = [
        ("pro", "probe"),
        ("probe --js", "--json"),
        ("simulate --cont", "--context"),
        ("--disable-step ", STEPS),
        ("probe --disable-step ", STEPS),
        ("simulate --disable-step land", "landlock"),
        ("--cap-add NET_B", NET_B),
        ("probe --cap-add NET_B", NET_B),
        ("simulate --cap-add NET_B", NET_B),
        ("--fs m", "minimal"),
        ("probe --fs host-r", "host-ro host-rw"),
        ("simulate --outer-boundary ", "container gvisor vm"),
    ];
    let scratch = tempfile::tempdir().expect("tempdir");
    for (line, expected) in cases {
        let expected: Vec<&str> = expected.split(' ').collect();
        let words: Vec<&str> = std::iter::once(PACKAGE).chain(line.split(' ')).collect();
        let mut bash: Vec<String> = bash_completes(&words)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        bash.sort();
        assert_eq!(bash, expected, "bash completion of {line:?}");
        let line = format!("{PACKAGE} {line}");
        assert_eq!(
            fish_completes(&line, scratch.path()),
            expected,
            "fish completion of {line:?}"
        );
        assert_eq!(
            zsh_completes(&line, scratch.path()),
            expected,
            "zsh completion of {line:?}"
        );
    }
}

/// The man pages: compressed, with argument names and the sections beyond the options.
fn check_man_pages() {
    for name in [
        PACKAGE,
        "sandbox-supervisor-probe",
        "sandbox-supervisor-simulate",
    ] {
        let page = run_ok(Command::new("man").args(["-w", name]));
        let page = String::from_utf8_lossy(&page.stdout).trim().to_owned();
        assert_eq!(page, format!("/usr/share/man/man1/{name}.1.gz"));
    }
    let text = run_ok(
        Command::new("man")
            .args(["-P", "cat", PACKAGE])
            .env("MANWIDTH", "200"),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    for part in [
        "--handler-plugin <PATH>",
        "--report-fd <N>",
        "--disable-step <STEP>",
        "--allow-root",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
        "SEE ALSO",
        "sandbox-supervisor-simulate(1)",
    ] {
        assert!(text.contains(part), "the man page lacks {part}:\n{text}");
    }
}

/// `dpkg --verify` (the package's md5sums) passes, then sees a swapped binary.
fn check_verify() {
    let clean = run(Command::new("dpkg").args(["--verify", PACKAGE]));
    assert!(
        clean.status.success() && clean.stdout.is_empty(),
        "dpkg --verify of the installed package: {}",
        String::from_utf8_lossy(&clean.stdout)
    );
    std::fs::copy("/usr/bin/true", BIN).expect("swap the binary");
    let swapped = run(Command::new("dpkg").args(["--verify", PACKAGE]));
    let stdout = String::from_utf8_lossy(&swapped.stdout);
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("??5??????") && line.ends_with(BIN)),
        "dpkg --verify does not see the swapped binary ({}): {stdout}",
        swapped.status
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

    // The man pages where man finds them, generated from the clap definition, and the
    // completions, where bash-completion, zsh and fish look for them.
    check_man_pages();
    check_completions();

    // examples/kubernetes's digest recipe names the installed plugin.
    assert_eq!(
        std::env::var(RECIPE_DIGEST).ok(),
        Some(sha256_of(
            &Path::new(PLUGIN_DIR).join("libsandbox_plugin_outer_sandbox.so")
        )),
        "the digest recipe of examples/kubernetes/README.md"
    );

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

    check_verify();
    run_ok(Command::new("dpkg").args(["--purge", PACKAGE]));
    assert!(!installed());
    assert_eq!(
        footprint(),
        Vec::<PathBuf>::new(),
        "dpkg --purge left files behind"
    );
}
