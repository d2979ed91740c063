use clap::Parser;
use sandbox_supervisor::{cli::Cli, exit, run};

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
    if let Err(err) = cli.init_logging() {
        exit::report(&err);
        std::process::exit(exit::USAGE);
    }
    match run::run(&cli.run_options()) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            exit::report(&err);
            std::process::exit(err.exit_code());
        }
    }
}
