//! Every command block of README.md, docs/operators.md and docs/plugin-authors.md runs, and does
//! what the page says. (docs/refusals.md names the test command itself; docs/performance.md the
//! benchmark, run by hand on a quiet machine; the other pages have none.)
//!
//! - A ```` ```sh ```` block runs with `bash -e` from the workspace root and must exit 0.
//! - A ```` ```console ```` block is a session: each `$ COMMAND` runs in one shell, in order (so
//!   `echo $?` sees the previous command's status), with standard error merged into standard
//!   output; what follows a command up to the next `$ ` is its output, compared line by line. A
//!   line `...` stands for any number of lines. Log lines are compared without their timestamp.
//! - A block right after `<!-- docs-test: skip: REASON -->` is not run; the reason is printed.
//!
//! `sandbox-supervisor` is on `PATH` (the built binary), and the installed package's directories
//! are mapped to the build's: `/usr/lib/sandbox-supervisor/` to the directory holding the built
//! plugins, `/etc/sandbox-supervisor/` to a scratch directory (paths are mapped back in the
//! output). tests/package.rs runs the README's plugin examples against the real installed paths.
//! The commands that need privileges run as root: the test needs root.

use std::path::PathBuf;
use std::process::Command;

use sandbox_tests::{plugin, require_root, supervisor_bin, workspace};

const INSTALLED_PLUGINS: &str = "/usr/lib/sandbox-supervisor/";
const INSTALLED_ETC: &str = "/etc/sandbox-supervisor/";
const END: &str = "@@docs-test-end@@";

#[derive(Debug)]
struct Block {
    place: String,
    lang: String,
    text: String,
    skip: Option<String>,
}

fn blocks(page: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(workspace().join(page)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let Some(lang) = lines[index].strip_prefix("```").filter(|l| !l.is_empty()) else {
            index += 1;
            continue;
        };
        let start = index;
        let end = (start + 1..lines.len())
            .find(|i| lines[*i].starts_with("```"))
            .unwrap_or_else(|| panic!("{page}:{}: unclosed block", start + 1));
        let skip = start
            .checked_sub(1)
            .and_then(|i| lines[i].strip_prefix("<!-- docs-test: skip: "))
            .and_then(|rest| rest.strip_suffix(" -->"))
            .map(str::to_owned);
        if lang == "sh" || lang == "console" {
            found.push(Block {
                place: format!("{page}:{}", start + 1),
                lang: lang.to_owned(),
                text: lines[start + 1..end].join("\n"),
                skip,
            });
        }
        index = end + 1;
    }
    found
}

struct Env {
    bin_dir: PathBuf,
    etc: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        // Staging the plugins puts them next to the staged binary.
        plugin("sandbox-plugin-outer-sandbox");
        plugin("sandbox-plugin-policy");
        let bin_dir = supervisor_bin().parent().unwrap().to_owned();
        Env {
            bin_dir,
            etc: tempfile::tempdir().unwrap(),
        }
    }

    fn map(&self, text: &str) -> String {
        text.replace(INSTALLED_PLUGINS, &format!("{}/", self.bin_dir.display()))
            .replace(INSTALLED_ETC, &format!("{}/", self.etc.path().display()))
    }

    fn unmap(&self, text: &str) -> String {
        text.replace(&format!("{}/", self.bin_dir.display()), INSTALLED_PLUGINS)
            .replace(&format!("{}/", self.etc.path().display()), INSTALLED_ETC)
    }

    fn bash(&self, flags: &str, script: &str) -> std::process::Output {
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg(flags)
            .arg(script)
            .current_dir(workspace())
            .env("PATH", path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }
}

/// A log line without its leading RFC 3339 timestamp; trailing blanks removed.
fn normalize(line: &str) -> String {
    let bytes = line.as_bytes();
    let stamped = bytes.len() > 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && line[..4].bytes().all(|b| b.is_ascii_digit());
    let line = match (stamped, line.find("Z ")) {
        (true, Some(end)) => line[end + 1..].trim_start(),
        _ => line,
    };
    line.trim_end().to_owned()
}

/// Whether `actual` matches `expected`, where a `...` line matches any number of lines.
fn matches(expected: &[&str], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((&"...", rest)) => (0..=actual.len()).any(|skip| matches(rest, &actual[skip..])),
        Some((line, rest)) => {
            actual.first().is_some_and(|first| first == line) && matches(rest, &actual[1..])
        }
    }
}

fn run_console(env: &Env, block: &Block) -> Result<(), String> {
    let mut commands: Vec<(String, Vec<&str>)> = Vec::new();
    for line in block.text.lines() {
        match line.strip_prefix("$ ") {
            Some(command) => commands.push((command.to_owned(), Vec::new())),
            None => commands
                .last_mut()
                .ok_or_else(|| format!("{}: output before the first command", block.place))?
                .1
                .push(line),
        }
    }
    let mut script = String::from("__s=0\n");
    for (command, _) in &commands {
        script.push_str(&format!(
            "(exit $__s); {} 2>&1; __s=$?; echo {END}\n",
            env.map(command)
        ));
    }
    let output = env.bash("-c", &script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let separator = format!("{END}\n");
    let mut outputs = stdout.split(&separator);
    for (command, expected) in &commands {
        let actual: Vec<String> = outputs
            .next()
            .unwrap_or_default()
            .lines()
            .map(|line| normalize(&env.unmap(line)))
            .collect();
        if !matches(expected, &actual) {
            return Err(format!(
                "{}: `{command}` printed:\n{}\nbut the page says:\n{}",
                block.place,
                actual.join("\n"),
                expected.join("\n")
            ));
        }
    }
    Ok(())
}

fn run_sh(env: &Env, block: &Block) -> Result<(), String> {
    let output = env.bash("-ec", &env.map(&block.text));
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: the block failed ({}):\n{}\n{}{}",
            block.place,
            output.status,
            block.text,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn check_page(page: &str) {
    let env = Env::new();
    let blocks = blocks(page);
    assert!(!blocks.is_empty(), "{page} has no command block");
    let mut failures = Vec::new();
    for block in &blocks {
        if let Some(reason) = &block.skip {
            assert!(
                !reason.trim().is_empty(),
                "{}: a skip needs a reason",
                block.place
            );
            eprintln!("{}: not run: {reason}", block.place);
            continue;
        }
        let result = match block.lang.as_str() {
            "console" => run_console(&env, block),
            _ => run_sh(&env, block),
        };
        match result {
            Ok(()) => eprintln!("{}: ok", block.place),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn readme_commands_do_what_it_says() {
    require_root!();
    check_page("README.md");
}

#[test]
fn operators_guide_commands_do_what_it_says() {
    require_root!();
    check_page("docs/operators.md");
}

#[test]
fn console_matching_can_fail() {
    let actual = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
    assert!(matches(&["a", "...", "c"], &actual));
    assert!(matches(&["...", "c"], &actual));
    assert!(!matches(&["a", "c"], &actual));
    assert!(!matches(&["a", "b"], &actual));
    assert_eq!(
        normalize("2026-11-28T17:53:20.830195Z  INFO failure handler loaded "),
        "INFO failure handler loaded"
    );
}

#[test]
fn plugin_authors_guide_commands_do_what_it_says() {
    require_root!();
    check_page("docs/plugin-authors.md");
}

/// Every place that counts the tolerable kinds ("the eight tolerable kinds", "eight of which a
/// handler may tolerate") says as many as the plugin API's table has, and the operator's guide's
/// rule "only ... can be tolerated" names each of them: a kind added to the table leaves no page
/// behind.
#[test]
fn every_count_of_the_tolerable_kinds_is_the_tables() {
    use sandbox_plugin_api::SandboxFailureKind;
    const NUMBERS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    const PHRASES: [&str; 3] = [
        " tolerable kinds",
        " of which a handler may tolerate",
        " kinds a handler may tolerate",
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md"), root.join("plugin-api/src/lib.rs")];
    for dir in ["docs", "plugins"] {
        let mut stack = vec![root.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() && !path.ends_with("target") {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|ext| ext == "md" || ext == "rs")
                {
                    files.push(path);
                }
            }
        }
    }
    let count = SandboxFailureKind::ALL.len();
    let mut found = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // Doc comments and wrapped lines: one run of words.
        let words: String = text
            .lines()
            .map(|line| {
                line.trim_start()
                    .trim_start_matches("//!")
                    .trim_start_matches("///")
            })
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        for phrase in PHRASES {
            for (at, _) in words.match_indices(phrase) {
                let said = words[..at].rsplit(' ').next().unwrap_or_default();
                let Some(number) = NUMBERS
                    .iter()
                    .position(|word| *word == said)
                    .or_else(|| said.parse().ok())
                else {
                    continue;
                };
                found += 1;
                assert_eq!(
                    number,
                    count,
                    "{} says \"{said}{phrase}\"; the plugin API's table has {count} kinds",
                    file.display()
                );
            }
        }
    }
    assert!(
        found >= 2,
        "no count of the tolerable kinds found in {files:?}"
    );
    let operators = std::fs::read_to_string(root.join("docs/operators.md")).unwrap();
    let rule = operators
        .split("\n- only ")
        .nth(1)
        .and_then(|rest| rest.split("can be tolerated").next())
        .expect("docs/operators.md: the rule \"only ... can be tolerated\"");
    for kind in SandboxFailureKind::ALL {
        assert!(
            rule.contains(&format!("`{}`", kind.name())),
            "docs/operators.md's rule \"only ... can be tolerated\" does not name {}",
            kind.name()
        );
    }
}
