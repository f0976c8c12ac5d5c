//! `devconsole`: the terminal console (no subcommand), `devconsole serve`, admin commands and
//! the scriptable CLI. Everything lives in [`devconsole::cli`].

fn main() -> std::process::ExitCode {
    devconsole::cli::main()
}
