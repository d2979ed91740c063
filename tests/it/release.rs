//! The release bookkeeping: tools/release.sh turns RELEASES into annotated tags after checking the
//! history and the frozen fixtures, idempotently and in any copy of the repository; a vendor
//! crate can depend on a release tag with the line docs/plugin-authors.md gives.

use std::path::{Path, PathBuf};
use std::process::Command;

use sandbox_tests::workspace;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare copy of this repository's history (no tags) to make tags in.
fn bare_copy(dir: &Path) -> PathBuf {
    let bare = dir.join("mirror.git");
    let status = Command::new("git")
        .args(["clone", "--quiet", "--bare", "--no-tags"])
        .arg(workspace())
        .arg(&bare)
        .status()
        .unwrap();
    assert!(status.success());
    // The checkout's HEAD: RELEASES may name commits newer than the source's default branch.
    let head = Command::new("git")
        .arg("-C")
        .arg(workspace())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let status = Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["fetch", "--quiet", "--no-tags"])
        .arg(workspace())
        .arg(format!("{head}:refs/heads/checkout"))
        .status()
        .unwrap();
    assert!(status.success());
    git(&bare, &["symbolic-ref", "HEAD", "refs/heads/checkout"]);
    for tag in git(&bare, &["tag", "-l"]).lines() {
        git(&bare, &["tag", "-d", tag]);
    }
    bare
}

fn release(root: &Path, git_dir: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new(workspace().join("tools/release.sh"))
        .arg("--root")
        .arg(root)
        .arg("--git-dir")
        .arg(git_dir)
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// The released lines of RELEASES: (package, version, commit).
fn released() -> Vec<(String, String, String)> {
    std::fs::read_to_string(workspace().join("RELEASES"))
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields[2].to_owned(),
            )
        })
        .filter(|(_, _, commit)| commit != "next")
        .collect()
}

/// The script makes one annotated tag per released line, at its commit; a second run changes
/// nothing; the releases 0.1.0 and 0.1.1 of the plugin API and 0.1.0 of the supervisor are there.
#[test]
fn the_release_script_makes_annotated_tags_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let bare = bare_copy(dir.path());
    let (ok, text) = release(&workspace(), &bare, &[]);
    assert!(ok, "{text}");
    let lines = released();
    for name in [
        "sandbox-plugin-api-v0.1.0",
        "sandbox-plugin-api-v0.1.1",
        "sandbox-supervisor-v0.1.0",
    ] {
        assert!(
            lines
                .iter()
                .any(|(package, version, _)| format!("{package}-v{version}") == name),
            "RELEASES has no {name}"
        );
    }
    for (package, version, commit) in &lines {
        let tag = format!("{package}-v{version}");
        assert_eq!(git(&bare, &["cat-file", "-t", &tag]), "tag", "{tag}");
        assert_eq!(
            git(&bare, &["rev-parse", &format!("{tag}^{{commit}}")]),
            *commit
        );
        assert!(text.contains(&format!("{tag}: made at")), "{text}");
    }
    let (ok, again) = release(&workspace(), &bare, &[]);
    assert!(ok, "{again}");
    assert!(!again.contains("made at"), "{again}");
    assert_eq!(again.matches(": exists at").count(), lines.len(), "{again}");

    // A tag moved elsewhere is an error, and the script does not move it back.
    let (_, _, commit) = &lines[0];
    let tag = format!("{}-v{}", lines[0].0, lines[0].1);
    git(&bare, &["tag", "-d", &tag]);
    git(
        &bare,
        &["tag", "-a", &tag, "-m", "elsewhere", &format!("{commit}^")],
    );
    let (ok, text) = release(&workspace(), &bare, &[]);
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("tag {tag} points at")), "{text}");
}

/// Copies the files the script reads (RELEASES, the manifests it compares, the fixtures) into
/// `root`.
fn copy_root(root: &Path) {
    let copy = |relative: &str| {
        let from = workspace().join(relative);
        let to = root.join(relative);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    };
    for file in [
        "RELEASES",
        "Cargo.toml",
        "plugin-api/Cargo.toml",
        "supervisor/Cargo.toml",
    ] {
        copy(file);
    }
    for entry in std::fs::read_dir(workspace().join("tests/fixtures")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("plugin-api-") {
            for file in
                std::fs::read_dir(workspace().join("tests/fixtures").join(&name).join("src"))
                    .unwrap()
            {
                let file = file.unwrap().file_name().into_string().unwrap();
                copy(&format!("tests/fixtures/{name}/src/{file}"));
            }
        }
    }
}

/// The script checks the fixtures: a frozen copy that differs from the released source by one
/// character, a released plugin API without a frozen copy, or a version the manifest at the commit
/// does not carry is refused, and no tag is made.
#[test]
fn the_release_script_refuses_a_fixture_that_is_not_the_released_source() {
    let dir = tempfile::tempdir().unwrap();
    let bare = bare_copy(dir.path());

    let root = dir.path().join("edited");
    copy_root(&root);
    let lib = root.join("tests/fixtures/plugin-api-0.1.1/src/ffi.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        text.replacen("pub struct HandlerExtV1 {", "pub struct HandlerExtV1 { ", 1),
    )
    .unwrap();
    let (ok, text) = release(&root, &bare, &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("tests/fixtures/plugin-api-0.1.1/src/ffi.rs differs from the released plugin-api/src/ffi.rs"),
        "{text}"
    );
    assert_eq!(git(&bare, &["tag", "-l"]), "", "no tag is made");

    let root = dir.path().join("missing");
    copy_root(&root);
    std::fs::remove_dir_all(root.join("tests/fixtures/plugin-api-0.1.1")).unwrap();
    let (ok, text) = release(&root, &bare, &["--check"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("sandbox-plugin-api 0.1.1: no frozen fixture"),
        "{text}"
    );

    let root = dir.path().join("version");
    copy_root(&root);
    let releases = root.join("RELEASES");
    let text = std::fs::read_to_string(&releases).unwrap();
    std::fs::write(
        &releases,
        text.replace("sandbox-supervisor   0.1.0", "sandbox-supervisor   0.1.9"),
    )
    .unwrap();
    let (ok, text) = release(&root, &bare, &["--check"]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("sandbox-supervisor 0.1.9: supervisor/Cargo.toml at"),
        "{text}"
    );
}

/// A vendor crate depends on the plugin API through a release tag with the git line the guide
/// gives (here against a copy of the repository that the release script tagged): it builds, and
/// its plugin loads into the current supervisor and answers.
#[test]
fn a_vendor_crate_builds_against_a_release_tag() {
    let dir = tempfile::tempdir().unwrap();
    let bare = bare_copy(dir.path());
    let (ok, text) = release(&workspace(), &bare, &[]);
    assert!(ok, "{text}");
    let crate_dir = dir.path().join("vendor-plugin");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::copy(
        workspace().join("tests/fixtures/plugin-0.1.1/src/lib.rs"),
        crate_dir.join("src/lib.rs"),
    )
    .unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "vendor-plugin-from-tag"
version = "1.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
sandbox-plugin-api = {{ git = "file://{}", tag = "sandbox-plugin-api-v0.1.1" }}
serde_json = "1"

[workspace]

[profile.dev]
debug = false
"#,
            bare.display()
        ),
    )
    .unwrap();
    let built = sandbox_tests::build_plugin_crate(
        &crate_dir,
        "vendor_plugin_from_tag",
        "libvendor_plugin_from_tag.so",
    );
    let output = Command::new(sandbox_tests::supervisor_bin())
        .args(["simulate", "--handler-plugin"])
        .arg(&built)
        .args(["--json", "network-namespace=EPERM"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["handler"]["decider"], "plugin:fixture-0.1.1@1.0.0");
    assert_eq!(document["decisions"][0]["decision"], "tolerated");
}

/// The newest glibc symbol version `binary` needs (`GLIBC_2.34` as (2, 34)).
fn newest_glibc(binary: &Path) -> (u32, u32) {
    let output = Command::new("readelf")
        .args(["-V", "--wide"])
        .arg(binary)
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("a glibc symbol version")
}

/// The build baseline docs/plugin-authors.md states: plugins (and the supervisor) built the way
/// the project builds them need no glibc newer than 2.36, the one of Debian 12 (bookworm), the
/// oldest supported release, so they load on every supported host. The tests build them in that
/// release's environment; a build environment with a newer glibc would fail this.
#[test]
fn plugins_need_no_newer_glibc_than_the_oldest_supported_debian() {
    const BASELINE: (u32, u32) = (2, 36);
    for binary in [
        sandbox_tests::plugin("vendor-plugin-template"),
        sandbox_tests::plugin("sandbox-plugin-policy"),
        sandbox_tests::plugin("sandbox-plugin-outer-sandbox"),
        sandbox_tests::supervisor_bin(),
    ] {
        let newest = newest_glibc(&binary);
        assert!(
            newest <= BASELINE,
            "{} needs GLIBC_{}.{}, newer than the baseline GLIBC_{}.{} (Debian 12)",
            binary.display(),
            newest.0,
            newest.1,
            BASELINE.0,
            BASELINE.1
        );
    }
}

/// Every dependency line for sandbox-plugin-api that the documentation, the examples and the crate
/// docs give is one a vendor can use today: a git dependency on a release tag, or a path; never a
/// `version`, which `cargo package` would resolve on the public registry, where the name is not
/// the project's.
#[test]
fn no_documented_dependency_line_resolves_the_api_on_the_public_registry() {
    let mut files = vec![
        workspace().join("README.md"),
        workspace().join("plugin-api/README.md"),
        workspace().join("plugin-api/src/lib.rs"),
        workspace().join("examples/vendor-plugin/Cargo.toml"),
    ];
    for entry in std::fs::read_dir(workspace().join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut lines = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let Some((_, rest)) = line.split_once("sandbox-plugin-api = ") else {
                continue;
            };
            lines += 1;
            assert!(
                (rest.contains("git = ") && rest.contains("tag = \"sandbox-plugin-api-v"))
                    || rest.contains("path = ")
                    || rest.contains("registry = "),
                "{}: {line}",
                file.display()
            );
            assert!(
                !rest.contains("version = ") || rest.contains("registry = "),
                "{}: a version without a registry resolves publicly: {line}",
                file.display()
            );
        }
    }
    assert!(lines >= 3, "the documented dependency lines were not found");
}
