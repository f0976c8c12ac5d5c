//! How a CLI command reaches a server: the embedded server on the local data dir (exactly as
//! the console does), or a remote one from `--server`/`--profile` with the session that
//! `devconsole login` saved in the console's session cache.

use super::exit::{CliError, CliResult, Exit};
use crate::client::ConsoleClient;
use crate::config::Config;
use crate::server::RunningServer;
use crate::tui::{Options, session};
use secrecy::SecretString;
use std::io::{IsTerminal, Read};

/// A remote server named on the command line or by a profile.
pub struct Remote {
    pub url: String,
    /// How the user named it, for hints (`--server URL` or `--profile NAME`).
    pub named_by: String,
    /// The profile's default username, if any.
    pub username: Option<String>,
    /// A client for it with the config's transport (proxy, ca_cert), not yet signed in.
    pub client: ConsoleClient,
}

/// `None`: embedded mode.
pub fn remote(options: &Options) -> CliResult<Option<Remote>> {
    if options.server.is_some() && options.profile.is_some() {
        return Err(CliError::usage("pass --server or --profile, not both"));
    }
    if options.server.is_none() && options.profile.is_none() {
        return Ok(None);
    }
    let (config, path) = Config::load().map_err(|e| CliError::usage(e.to_string()))?;
    let (url, named_by, profile) = match (&options.server, &options.profile) {
        (Some(url), _) => (url.clone(), format!("--server {url}"), None),
        (None, Some(name)) => {
            let profile = config
                .profile(name, &path)
                .map_err(|e| CliError::usage(e.to_string()))?;
            (profile.server.clone(), format!("--profile {name}"), Some(profile))
        }
        (None, None) => unreachable!("checked above"),
    };
    let url = url.trim_end_matches('/').to_owned();
    let client = config.client_builder(&url, profile, &path).build()?;
    Ok(Some(Remote {
        url,
        named_by,
        username: profile.and_then(|p| p.username.clone()),
        client,
    }))
}

/// A signed-in client, and the embedded server behind it when there is one.
pub struct Connection {
    pub client: ConsoleClient,
    embedded: Option<RunningServer>,
}

impl Connection {
    pub async fn open(options: &Options) -> CliResult<Connection> {
        match remote(options)? {
            Some(remote) => {
                let client = remote.client;
                let token = session::load(&crate::paths::data_dir(), &remote.url).ok_or_else(|| {
                    CliError::new(
                        Exit::Authentication,
                        format!(
                            "not signed in to {}: run `devconsole login {}`",
                            remote.url, remote.named_by
                        ),
                    )
                })?;
                Ok(Connection {
                    client: client.with_session(token),
                    embedded: None,
                })
            }
            None => {
                let url = crate::paths::default_database_url()
                    .map_err(|e| CliError::io("creating the data directory", e))?;
                let config = crate::server::ServerConfig::new(url, ([127, 0, 0, 1], 0).into());
                let running = crate::server::start(config)
                    .await
                    .map_err(|e| CliError::failure(format!("the embedded server did not start: {e}")))?;
                let token = match running.mint_local_session().await {
                    Ok(token) => token,
                    Err(e) => {
                        let _ = running.shutdown().await;
                        return Err(CliError::failure(format!(
                            "could not sign in the local admin: {}",
                            e.message
                        )));
                    }
                };
                let client = ConsoleClient::new(&running.base_url())?.with_session(token);
                Ok(Connection {
                    client,
                    embedded: Some(running),
                })
            }
        }
    }

    /// Ends the embedded server's one-off session and stops it. Remote sessions stay.
    pub async fn close(mut self) {
        if let Some(running) = self.embedded.take() {
            let _ = self.client.logout().await;
            if let Err(e) = running.shutdown().await {
                tracing::warn!(error = %e, "the embedded server did not stop cleanly");
            }
        }
    }

    /// A remote 401 means the saved session has ended: say how to get a new one.
    pub fn explain(&self, mut e: CliError) -> CliError {
        if e.exit == Exit::Authentication && self.embedded.is_none() {
            e.message = format!("{} (run `devconsole login` again)", e.message);
        }
        e
    }
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Admin to sign in as (default: the profile's username, or asked on a terminal).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from standard input (one line) instead of a terminal prompt.
    #[arg(long)]
    pub password_stdin: bool,
}

fn remote_only(options: &Options, what: &str) -> CliResult<Remote> {
    remote(options)?.ok_or_else(|| {
        CliError::usage(format!(
            "{what} is for remote servers: pass --server URL or --profile NAME (the embedded server needs no sign-in)"
        ))
    })
}

fn read_password(args: &LoginArgs, prompt: &str) -> CliResult<SecretString> {
    let raw = if args.password_stdin {
        let mut raw = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut raw)
            .map_err(|e| CliError::io("reading the password from stdin", e))?;
        raw
    } else if std::io::stdin().is_terminal() {
        zeroize::Zeroizing::new(
            rpassword::prompt_password(prompt).map_err(|e| CliError::io("reading the password", e))?,
        )
    } else {
        return Err(CliError::usage(
            "no terminal to ask for the password on: pass --password-stdin and pipe it in",
        ));
    };
    let password = raw.trim_end_matches(['\n', '\r']);
    if password.is_empty() || password.contains('\n') {
        return Err(CliError::usage("the password must be one non-empty line"));
    }
    Ok(SecretString::from(password.to_owned()))
}

pub async fn login(options: &Options, args: &LoginArgs) -> CliResult {
    let remote = remote_only(options, "login")?;
    let username = match args.username.clone().or(remote.username.clone()) {
        Some(u) => u,
        None if args.password_stdin => {
            return Err(CliError::usage("pass --username with --password-stdin"));
        }
        None => super::prompt::ask(&format!("Username for {}", remote.url))?,
    };
    let password = read_password(args, &format!("Password for {username} at {}: ", remote.url))?;
    let mut client = remote.client;
    let created = client.login(&username, password).await?;
    let dir = crate::paths::data_dir();
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io(format!("creating {}", dir.display()), e))?;
    session::store(&dir, &remote.url, &created.token).map_err(|e| CliError::io("saving the session", e))?;
    println!(
        "signed in to {} as {} ({}); the session lasts until {} UTC and each use extends it",
        remote.url,
        crate::tui::text::sanitize(&created.admin.username, false),
        created.admin.role.label(),
        super::output::when(created.expires_at)
    );
    Ok(Exit::Ok)
}

pub async fn logout(options: &Options) -> CliResult {
    let remote = remote_only(options, "logout")?;
    let dir = crate::paths::data_dir();
    let Some(token) = session::load(&dir, &remote.url) else {
        println!("not signed in to {}", remote.url);
        return Ok(Exit::Ok);
    };
    let mut client = remote.client.with_session(token);
    let told = client.logout().await;
    session::remove(&dir, &remote.url).map_err(|e| CliError::io("removing the saved session", e))?;
    match told {
        Ok(()) => {
            println!("signed out of {}", remote.url);
            Ok(Exit::Ok)
        }
        // The server had already ended it.
        Err(e) if e.status() == Some(401) => {
            println!("signed out of {} (the session had already ended)", remote.url);
            Ok(Exit::Ok)
        }
        Err(e) => {
            let mut err = CliError::from(e);
            err.message = format!(
                "removed the saved session, but the server was not told ({}); it ends on its own once idle",
                err.message
            );
            Err(err)
        }
    }
}
