use clap::Parser;
use sandbox_supervisor::cli::{
    json_requested, usage_error_line, Cli, Command, HandlerArgs, LogFormat, SimulateArgs,
};
use sandbox_supervisor::exit::{self, ExitCode};
use sandbox_supervisor::probe;

/// Prints a usage error (`message` without the `sandbox-supervisor: error: ` prefix) as one line,
/// text or JSON, and exits 2.
fn usage_exit(json: bool, message: &str) -> ! {
    match json {
        true => eprintln!("{}", exit::json_line(message, ExitCode::Usage.code(), None)),
        false => eprintln!("sandbox-supervisor: error: {message}"),
    }
    std::process::exit(ExitCode::Usage.code())
}

fn main() {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A run's line by the run's flags alone; anything else by the whole command.
    let cli = match Cli::parse_run(&raw).map_or_else(|| Cli::try_parse_from(&raw), Ok) {
        Ok(cli) => cli,
        // --help and --version are not errors; every usage error is one line.
        Err(err) if err.use_stderr() => usage_exit(
            json_requested(std::env::args_os()),
            usage_error_line(&err).trim_start_matches("sandbox-supervisor: error: "),
        ),
        Err(err) => {
            let _ = err.print();
            std::process::exit(0);
        }
    };
    let json = cli.logging.log_format == LogFormat::Json;
    if let Some(message) = cli.probe_cannot_honour() {
        usage_exit(json, &message);
    }
    let mut cli = match cli.with_config(&raw) {
        Ok(cli) => cli,
        Err(message) => usage_exit(json, &message),
    };
    cli.leave_run_only_keys_aside();
    let json = cli.logging.log_format == LogFormat::Json;
    if let Some(line) = cli.conflict() {
        usage_exit(json, line.trim_start_matches("sandbox-supervisor: error: "));
    }
    if let Err(err) = cli.logging.init() {
        usage_exit(json, &exit::one_line(&err));
    }
    let log_json = json;
    if let Some(Command::Simulate(args)) = &cli.subcommand {
        std::process::exit(simulate_command(&cli.handler, args));
    }
    let json = matches!(&cli.subcommand, Some(Command::Probe(args)) if args.json);
    let probing = cli.subcommand.is_some();
    let options = cli.run_options();
    let result = match probing {
        true => probe(options).map(|answer| {
            let text = if json {
                answer.json() + "\n"
            } else {
                answer.table()
            };
            // A closed standard output (`probe | head`) is not an error of the probe.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            answer.would_exit.unwrap_or(0)
        }),
        false => sandbox_supervisor::run(options),
    };
    match result {
        Ok(code) => exit::end(code),
        Err(err) => {
            match log_json {
                true => eprintln!(
                    "{}",
                    exit::json_line(
                        &exit::one_line(&err),
                        err.exit_code(),
                        err.refusal_fields().as_ref()
                    )
                ),
                false => exit::print_error(&err),
            }
            exit::end(err.exit_code());
        }
    }
}

/// `simulate`: prints the decisions; returns the exit code.
fn simulate_command(handler: &HandlerArgs, args: &SimulateArgs) -> i32 {
    let Some(options) = args.options(handler) else {
        eprintln!("sandbox-supervisor: error: simulate needs --handler-plugin PATH (see --help)");
        return ExitCode::Usage.code();
    };
    match sandbox_supervisor::simulate(&options) {
        Ok(simulation) => {
            let text = if args.json {
                simulation.json() + "\n"
            } else {
                simulation.table()
            };
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            simulation.exit_code()
        }
        Err(err) => {
            exit::print_error(&err);
            err.exit_code()
        }
    }
}
