//! `gen-assets OUT_DIR`: writes the man page (`man1/sandbox-supervisor.1`, and one page per
//! subcommand, with the sections of `man.rs`), the shell completions (`completions/`: bash, zsh,
//! fish) and the JSON Schema of a `--config` file (`config.schema.json`) of `sandbox-supervisor`,
//! generated from the same clap definition the binary parses with, so that they never drift.
//!
//! `packaging/build-deb.sh` runs it before `cargo deb`.
//!
//! `gen-assets --packaging DIR`: writes DIR/copyright and the maintainer of DIR/changelog's
//! trailers from the workspace's manifests and lock file (`packaging.rs`); packaging/ holds what
//! it writes, which a unit test checks.

mod man;
mod packaging;

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use sandbox_supervisor::cli::Cli;
use sandbox_supervisor::version;

const NAME: &str = "sandbox-supervisor";

fn main() {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let result = match &args[..] {
        [flag, dir] if flag == "--packaging" => packaging::write(&PathBuf::from(dir)),
        [out] if out != "--packaging" => generate(&PathBuf::from(out)),
        _ => {
            eprintln!("gen-assets: error: usage: gen-assets OUT_DIR | gen-assets --packaging DIR");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        eprintln!("gen-assets: error: {err}");
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> std::io::Result<()> {
    let man = out.join("man1");
    std::fs::create_dir_all(&man)?;
    // One page for the command and one per subcommand (`sandbox-supervisor-probe.1`).
    // The man page's VERSION section: the versions without this generator's own build id.
    let command = Cli::command().long_version(format!(
        "{} (sandbox-plugin-api {}, loads plugins built for {}; --version also prints the build id)",
        version::SUPERVISOR,
        version::PLUGIN_API,
        version::plugin_abi_line()
    )
    .leak() as &'static str);
    clap_mangen::generate_to(command, &man)?;
    // clap_mangen files the text after the options (`after_long_help`: the exit codes) under
    // "EXTRA"; man pages call it EXIT STATUS.
    let page = man.join(format!("{NAME}.1"));
    let text = std::fs::read_to_string(&page)?;
    if !text.contains(".SH EXTRA\n") {
        return Err(std::io::Error::other(
            "the man page has no EXTRA section for the exit codes",
        ));
    }
    std::fs::write(&page, text.replace(".SH EXTRA\n", ".SH \"EXIT STATUS\"\n"))?;
    // The argument names clap_mangen leaves out of the SYNOPSIS, and ENVIRONMENT, FILES,
    // EXAMPLES and SEE ALSO, which the clap definition does not hold.
    let mut values = Vec::new();
    let cli = Cli::command();
    for command in std::iter::once(&cli).chain(cli.get_subcommands()) {
        for arg in command
            .get_arguments()
            .filter(|arg| arg.get_action().takes_values())
        {
            if let (Some(long), Some([value, ..])) = (arg.get_long(), arg.get_value_names()) {
                values.push((long.to_owned(), value.to_string()));
            }
        }
    }
    for name in std::fs::read_dir(&man)? {
        let path = name?.path();
        let page = path.file_stem().and_then(|stem| stem.to_str());
        let (Some(page), true) = (page, path.extension().is_some_and(|ext| ext == "1")) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(&path, man::with_sections(page, &text, &values))?;
    }

    // The schema of a --config file, from the same definition (docs/config.schema.json is a copy,
    // which a test compares).
    let schema = serde_json::to_string_pretty(&sandbox_supervisor::cli::config_schema())
        .map_err(std::io::Error::other)?;
    std::fs::write(out.join("config.schema.json"), schema + "\n")?;

    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), NAME, &completions)?;
    }
    fix_bash(&completions.join(format!("{NAME}.bash")))?;
    fix_zsh(&completions.join(format!("_{NAME}")))?;
    fix_fish(&completions.join(format!("{NAME}.fish")))
}

/// Replaces `from` in `text` by `to`, `count` times exactly (an error otherwise: the generated
/// script changed and its fix must be checked again).
fn replace_exactly(text: &str, from: &str, to: &str, count: usize) -> std::io::Result<String> {
    let found = text.matches(from).count();
    if found != count {
        return Err(std::io::Error::other(format!(
            "the completion script has {found} times, not {count}, {from:?}"
        )));
    }
    Ok(text.replace(from, to))
}

/// clap_complete gives zsh the workload (`-- COMMAND...`, `last = true`) as the first positional
/// argument, ahead of the subcommand: `probe` is taken for the workload, and nothing after it
/// completes but the run's own options. Without it the subcommand is the first positional (and
/// `$line[1]` names it where the script looked at `$line[2]`); after `--`, where the workload
/// starts, files are completed instead of subcommands.
fn fix_zsh(path: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let text = replace_exactly(
        &text,
        "':command -- The workload and its arguments, after `--`:_default' \\\n",
        "",
        1,
    )?;
    let text = replace_exactly(&text, "$line[2]", "$line[1]", 3)?;
    let commands = format!("_{NAME}_commands() {{\n");
    let text = replace_exactly(
        &text,
        &commands,
        &format!("{commands}    if (( ${{words[(I)--]}} )); then\n        _default\n        return\n    fi\n"),
        1,
    )?;
    std::fs::write(path, text)
}

/// clap_complete's fish script decides whether a word belongs to the command or to a subcommand
/// by parsing the words before it with `argparse`, which fails while the last of them is an
/// option still waiting for its value (`--disable-step `): no value of a run's option is then
/// completed. A second parse with an empty value in its place succeeds.
fn fix_fish(path: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let parse = format!(
        "    argparse -s (__fish_{}_global_optspecs) -- $cmd 2>/dev/null\n",
        NAME.replace('-', "_")
    );
    let text = replace_exactly(
        &text,
        &format!("{parse}    or return\n"),
        &format!(
            "{parse}{}    or return\n",
            parse
                .replacen("    argparse", "    or argparse", 1)
                .replace("$cmd 2>", "$cmd '' 2>")
        ),
        1,
    )?;
    std::fs::write(path, text)
}

/// clap_complete names the subcommands' branches of the bash function with the binary's dash
/// replaced by its subcommand separator (`sandbox__subcmd__supervisor__subcmd__probe`), but sets
/// `cmd` with the dash replaced by `__` (`sandbox__supervisor__subcmd__probe`): no branch matches
/// and nothing after `probe` or `simulate` completes. The branches get the name `cmd` is given;
/// every name given to `cmd` must then have its branch.
fn fix_bash(path: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?
        .replace(&NAME.replace('-', "__subcmd__"), &NAME.replace('-', "__"));
    for line in text.lines() {
        let Some(name) = line.trim().strip_prefix("cmd=\"") else {
            continue;
        };
        let name = name.trim_end_matches('"');
        if !name.is_empty() && !text.contains(&format!("\n        {name})\n")) {
            return Err(std::io::Error::other(format!(
                "the bash completion has no branch for {name}"
            )));
        }
    }
    std::fs::write(path, text)
}
