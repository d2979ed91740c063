use clap::Parser;
use sandbox_supervisor::cli::{Cli, Command, SimulateArgs};
use sandbox_supervisor::probe::{probe, ProbeOptions};
use sandbox_supervisor::{exit, run};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are not errors.
            let code = if err.use_stderr() { exit::USAGE } else { 0 };
            let _ = err.print();
            std::process::exit(code);
        }
    };
    if let Err(err) = cli.logging.init() {
        exit::report(&err);
        std::process::exit(exit::USAGE);
    }
    let result = match &cli.subcommand {
        Some(Command::Probe(args)) => probe(&ProbeOptions {
            handler_plugin: args.handler.handler_plugin.clone(),
            handler_config: args.handler.handler_config.clone(),
            handler_plugin_sha256: args.handler.handler_plugin_sha256,
            handler_timeout: args.handler.handler_timeout,
            user: args.user.clone(),
        })
        .map(|answer| {
            let text = if args.json {
                answer.json() + "\n"
            } else {
                answer.table()
            };
            // A closed standard output (`probe | head`) is not an error of the probe.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            answer.would_exit.unwrap_or(0)
        }),
        Some(Command::Simulate(args)) => std::process::exit(simulate_command(args)),
        None => run::run(&cli.run_options()),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            exit::report(&err);
            std::process::exit(err.exit_code());
        }
    }
}

/// `simulate`: prints the decisions; returns the exit code.
fn simulate_command(args: &SimulateArgs) -> i32 {
    match sandbox_supervisor::simulate::simulate(&args.options()) {
        Ok(simulation) => {
            let text = if args.json {
                simulation.json() + "\n"
            } else {
                simulation.table()
            };
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            0
        }
        Err(err) => {
            exit::report(&err);
            err.exit_code()
        }
    }
}
