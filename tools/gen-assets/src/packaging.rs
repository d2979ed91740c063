//! `gen-assets --packaging DIR`: the package's `copyright` (DEP-5) and the maintainer of its
//! `changelog`, from the workspace's manifests and lock file, so that neither drifts from them.
//!
//! - The maintainer is `package.metadata.deb.maintainer` of the supervisor's manifest, the one
//!   place it is set: the copyright's `Upstream-Contact` and every changelog trailer (` -- `)
//!   name it.
//! - The copyright lists every crate linked into the binary and the shipped plugins: the normal
//!   dependencies of [`SHIPPED`] as cargo resolves their features, without procedural macros
//!   (`cargo tree -e normal,no-proc-macro`), each with its version, the authors and the licence
//!   expression its manifest declares (`cargo metadata`). Then each licence once: a reference to
//!   `/usr/share/common-licenses` where Debian ships the text, else the text (`licenses/`).
//!
//! packaging/copyright and packaging/changelog are what this writes: a unit test compares them.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The crates whose artifacts the package installs.
pub const SHIPPED: [&str; 3] = [
    "sandbox-supervisor",
    "sandbox-plugin-outer-sandbox",
    "sandbox-plugin-policy",
];

/// Licences whose text Debian ships in /usr/share/common-licenses (base-files).
const COMMON_LICENSES: [&str; 2] = ["Apache-2.0", "MPL-2.0"];

/// The texts of the other licences the linked crates use, without any copyright line.
const TEXTS: [(&str, &str); 5] = [
    ("BSD-3-Clause", include_str!("../licenses/BSD-3-Clause.txt")),
    ("ISC", include_str!("../licenses/ISC.txt")),
    ("MIT", include_str!("../licenses/MIT.txt")),
    ("Unlicense", include_str!("../licenses/Unlicense.txt")),
    ("Zlib", include_str!("../licenses/Zlib.txt")),
];

/// The workspace's manifest.
fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml")
}

/// Runs `cargo ARGS` on the workspace (the lock file as it is) and returns its standard output.
fn cargo(args: &[&str]) -> io::Result<String> {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(program)
        .args(args)
        .arg("--locked")
        .arg("--manifest-path")
        .arg(manifest())
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "cargo {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    String::from_utf8(output.stdout).map_err(io::Error::other)
}

/// A crate of the lock file, as its manifest describes it.
struct Crate {
    authors: Vec<String>,
    license: String,
    /// Whether it is one of the workspace's own.
    local: bool,
}

/// The package's metadata: the supervisor's `package.metadata.deb` and every crate by
/// (name, version).
struct Metadata {
    deb: Value,
    repository: String,
    crates: BTreeMap<(String, String), Crate>,
}

fn metadata() -> io::Result<Metadata> {
    let text = cargo(&["metadata", "--format-version", "1"])?;
    let all: Value = serde_json::from_str(&text).map_err(io::Error::other)?;
    let mut crates = BTreeMap::new();
    let mut deb = Value::Null;
    let mut repository = String::new();
    for package in all["packages"].as_array().into_iter().flatten() {
        let field = |key: &str| package[key].as_str().unwrap_or_default().to_owned();
        if package["name"] == SHIPPED[0] {
            deb = package["metadata"]["deb"].clone();
            repository = field("repository");
        }
        let authors = package["authors"].as_array().into_iter().flatten();
        crates.insert(
            (field("name"), field("version")),
            Crate {
                authors: authors
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                license: field("license"),
                local: package["source"].is_null(),
            },
        );
    }
    Ok(Metadata {
        deb,
        repository,
        crates,
    })
}

/// The (name, version) of every crate linked into the shipped artifacts.
fn linked() -> io::Result<BTreeSet<(String, String)>> {
    let mut args = vec!["tree", "-e", "normal,no-proc-macro", "--prefix", "none"];
    args.extend(["--format", "{p}"]);
    for name in SHIPPED {
        args.extend(["-p", name]);
    }
    let text = cargo(&args)?;
    let mut linked = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            let version = version.strip_prefix('v').unwrap_or(version);
            linked.insert((name.to_owned(), version.to_owned()));
        }
    }
    Ok(linked)
}

/// A licence expression as DEP-5 writes it (`MIT or Apache-2.0`; cargo's old `MIT/Apache-2.0`
/// is an `or`).
fn dep5_expression(spdx: &str) -> String {
    spdx.replace('/', " OR ")
        .split_whitespace()
        .map(|word| match word {
            "OR" => "or",
            "AND" => "and",
            "WITH" => "with",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The licence names of a DEP-5 expression.
fn names(expression: &str) -> impl Iterator<Item = &str> {
    expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|word| !word.is_empty() && !["or", "and", "with"].contains(word))
}

/// `text` as a DEP-5 field's continuation lines (one space, `.` for an empty line).
fn continuation(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|line| match line.trim_end() {
            "" => " .\n".to_owned(),
            line => format!(" {line}\n"),
        })
        .collect()
}

/// A field of one long line, wrapped at 80 columns (continuation lines start with a space).
fn wrapped(field: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in field.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 80 {
            out += &format!("{line}\n");
            line = String::from(" ");
        } else if !line.is_empty() && line != " " {
            line.push(' ');
        }
        line.push_str(word);
    }
    out + &line + "\n"
}

/// The maintainer the package names, from the supervisor's manifest.
fn maintainer(metadata: &Metadata) -> io::Result<&str> {
    metadata.deb["maintainer"]
        .as_str()
        .ok_or_else(|| io::Error::other("no package.metadata.deb.maintainer"))
}

/// The DEP-5 copyright file of the package.
pub fn copyright() -> io::Result<String> {
    let metadata = metadata()?;
    let mut out = String::from(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
    );
    out += &format!("Upstream-Name: {}\n", SHIPPED[0]);
    out += &format!("Upstream-Contact: {}\n", maintainer(&metadata)?);
    out += &format!("Source: {}\n", metadata.repository);
    out += &wrapped(&format!(
        "Comment: Generated by tools/gen-assets (gen-assets --packaging packaging) from the \
         workspace's manifests and Cargo.lock. The vendor/NAME-VERSION paths below are the \
         crates, as `cargo vendor --versioned-dirs` lays them out, that are linked into \
         /usr/bin/{0} and the plugins in /usr/lib/{0}/ (the normal dependencies of {1}, \
         procedural macros aside), each with the authors and the licence its manifest declares.",
        SHIPPED[0],
        SHIPPED.join(", ")
    ));
    let project_license = dep5_expression(
        &metadata
            .crates
            .iter()
            .find(|((name, _), _)| name == SHIPPED[0])
            .map(|(_, krate)| krate.license.clone())
            .unwrap_or_default(),
    );
    let holders = metadata.deb["copyright"].as_str().unwrap_or_default();
    out += &format!("\nFiles: *\nCopyright: {holders}\nLicense: {project_license}\n");
    let mut used: BTreeSet<String> = names(&project_license).map(str::to_owned).collect();
    for key in linked()? {
        let krate = metadata.crates.get(&key).ok_or_else(|| {
            io::Error::other(format!("{} {} is not in cargo metadata", key.0, key.1))
        })?;
        if krate.local {
            continue;
        }
        let (name, version) = key;
        let expression = dep5_expression(&krate.license);
        if expression.is_empty() {
            return Err(io::Error::other(format!(
                "{name} {version} declares no licence"
            )));
        }
        used.extend(names(&expression).map(str::to_owned));
        let holders = if krate.authors.is_empty() {
            format!("the {name} developers")
        } else {
            krate.authors.join(", ")
        };
        out += &format!(
            "\nFiles: vendor/{name}-{version}/*\nCopyright: {holders}\nLicense: {expression}\n"
        );
    }
    for name in used {
        out += &format!("\nLicense: {name}\n");
        if COMMON_LICENSES.contains(&name.as_str()) {
            out += &format!(
                " On Debian systems, the complete text of the {name} licence can be found in\n \
                 \"/usr/share/common-licenses/{name}\".\n"
            );
        } else if let Some((_, text)) = TEXTS.iter().find(|(known, _)| *known == name) {
            out += &continuation(text);
        } else {
            return Err(io::Error::other(format!(
                "no text for the licence {name}: add tools/gen-assets/licenses/{name}.txt"
            )));
        }
    }
    Ok(out)
}

/// `changelog` with every trailer line (` -- NAME <ADDRESS>  DATE`) naming the maintainer.
pub fn changelog(changelog: &str) -> io::Result<String> {
    let metadata = metadata()?;
    let maintainer = maintainer(&metadata)?;
    let mut out = String::new();
    for line in changelog.lines() {
        match line
            .strip_prefix(" -- ")
            .and_then(|rest| rest.split_once("  "))
        {
            Some((_, date)) => out += &format!(" -- {maintainer}  {date}\n"),
            None => out += &format!("{line}\n"),
        }
    }
    Ok(out)
}

/// Writes `copyright` and rewrites `changelog`'s trailers in `dir` (packaging/).
pub fn write(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("copyright"), copyright()?)?;
    let path = dir.join("changelog");
    let text = std::fs::read_to_string(&path)?;
    std::fs::write(&path, changelog(&text)?)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// packaging/copyright and packaging/changelog are what `gen-assets --packaging packaging`
    /// writes: the linked crates and the maintainer of Cargo.lock and the manifests as they are.
    #[test]
    fn the_packaging_files_are_the_generated_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let fix = "regenerate them: cargo run -p gen-assets -- --packaging packaging";
        assert!(
            read("copyright") == super::copyright().unwrap(),
            "packaging/copyright is not current; {fix}"
        );
        let changelog = read("changelog");
        assert!(
            changelog == super::changelog(&changelog).unwrap(),
            "packaging/changelog does not name the manifest's maintainer; {fix}"
        );
    }

    #[test]
    fn expressions_are_written_as_dep5_writes_them() {
        assert_eq!(
            super::dep5_expression("MIT/Apache-2.0"),
            "MIT or Apache-2.0"
        );
        assert_eq!(
            super::dep5_expression("(MIT OR Apache-2.0) AND Unicode-3.0"),
            "(MIT or Apache-2.0) and Unicode-3.0"
        );
        let names: Vec<&str> = super::names("(MIT or Apache-2.0) and Unicode-3.0").collect();
        assert_eq!(names, ["MIT", "Apache-2.0", "Unicode-3.0"]);
    }
}
