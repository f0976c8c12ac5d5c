//! The command line: the console (no subcommand), `serve`, `admin …`, and the scriptable
//! commands that mirror the console (`apps`, `token`, `tokens`, `audit`, `login`, …).
//!
//! The scriptable commands reach a server only through [`crate::client::ConsoleClient`]:
//! the embedded server on the local data dir, or `--server`/`--profile`. Exit codes are in
//! [`exit::Exit`] and the README.

pub mod admin;
pub mod apps;
pub mod connect;
pub mod exit;
pub mod output;
pub mod prompt;
pub mod secret_out;
pub mod serve;

use clap::{CommandFactory, Parser, Subcommand};
use exit::{CliError, CliResult, Exit};

#[derive(Debug, Parser)]
#[command(
    name = "devconsole",
    version,
    about = "Developer Console for provisioning apps and long-lived SCIM tokens",
    after_help = "Exit codes: 0 ok, 1 check found something, 2 usage, 3 authentication, \
                  4 permission, 5 not found, 6 conflict, 7 server unreachable, 8 other failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub console: crate::tui::Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console server: console API, OAuth2 token endpoint and SCIM 2.0 API.
    Serve(serve::ServeArgs),
    /// Bootstrap and operate a server's admins (acts on the local database directly).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Provisioning apps: list, show, create, delete, members, SCIM, client secret.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// An app's long-lived token: issue, status, revoke.
    #[command(subcommand)]
    Token(apps::TokenCommand),
    /// Tokens across apps (monitoring).
    #[command(subcommand)]
    Tokens(apps::TokensCommand),
    /// The audit log, newest first.
    Audit(apps::AuditArgs),
    /// Provisioning activity: recorded SCIM calls, newest first; --failed for failures only.
    Activity(apps::ActivityArgs),
    /// Sign in to a remote server (--server or --profile) and save the session.
    Login(connect::LoginArgs),
    /// End the saved session of a remote server.
    Logout,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

/// The binary's entry point.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        return match crate::tui::run(cli.console) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:?}");
                Exit::Failure.into()
            }
        };
    };
    match run(command, cli.console) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("devconsole: {}", e.message);
            e.exit.into()
        }
    }
}

fn init_logging(default: &str, env: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env).unwrap_or_else(|_| default.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(output::stderr_color_enabled())
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|e| CliError::io("starting the async runtime", e))
}

fn run(command: Command, console: crate::tui::Options) -> CliResult {
    match command {
        Command::Serve(args) => {
            refuse_remote(&console, "serve")?;
            local(|| async { serve::run(args).await })
        }
        Command::Admin(admin) => {
            refuse_remote(&console, "admin")?;
            local(|| async { admin::run(admin).await })
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "devconsole", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| CliError::io("writing the man page", e))?;
            Ok(Exit::Ok)
        }
        Command::Login(args) => {
            init_logging("warn", "DEVCONSOLE_LOG");
            runtime()?.block_on(connect::login(&console, &args))
        }
        Command::Logout => {
            init_logging("warn", "DEVCONSOLE_LOG");
            runtime()?.block_on(connect::logout(&console))
        }
        client_command => {
            init_logging("warn,sqlx=warn", "DEVCONSOLE_LOG");
            runtime()?.block_on(async move {
                let conn = connect::Connection::open(&console).await?;
                let result = match client_command {
                    Command::Apps(c) => apps::apps(&conn, c).await,
                    Command::Token(c) => apps::token(&conn, c).await,
                    Command::Tokens(c) => apps::tokens(&conn, c).await,
                    Command::Audit(a) => apps::audit(&conn, a).await,
                    Command::Activity(a) => apps::activity(&conn, a).await,
                    _ => unreachable!("local commands are handled above"),
                };
                let result = result.map_err(|e| conn.explain(e));
                conn.close().await;
                result
            })
        }
    }
}

/// `serve` and `admin` act on a local database: a `--server` would be silently ignored.
fn refuse_remote(console: &crate::tui::Options, what: &str) -> CliResult<()> {
    if let Some(named) = console
        .server
        .as_ref()
        .map(|s| format!("--server {s}"))
        .or(console.profile.as_ref().map(|p| format!("--profile {p}")))
    {
        return Err(CliError::usage(format!(
            "`devconsole {what}` acts on a local database directly and cannot use {named}; \
             run it on the server's host (with --database URL)"
        )));
    }
    Ok(())
}

/// Runs a local (`serve`/`admin`) command, logging to stderr at info.
fn local<F, Fut>(f: F) -> CliResult
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = color_eyre::Result<()>>,
{
    // Panic reports in colour only where stderr is a terminal and NO_COLOR is unset.
    let hooks = color_eyre::config::HookBuilder::default();
    let hooks = if output::stderr_color_enabled() {
        hooks
    } else {
        hooks.theme(color_eyre::config::Theme::new())
    };
    let _ = hooks.install();
    init_logging("info,sqlx=warn", "RUST_LOG");
    runtime()?
        .block_on(f())
        .map(|_| Exit::Ok)
        .map_err(|e| CliError::failure(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn man_page_and_completions_name_the_commands() {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".TH devconsole"), "{page}");
        assert!(page.contains("apps"));
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "devconsole", &mut script);
            let script = String::from_utf8(script).unwrap();
            assert!(script.contains("expiring"), "{shell}: {script}");
        }
    }
}
