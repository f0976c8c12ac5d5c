//! The terminal console. It talks to a console server only through [`crate::client`]: in
//! embedded mode it starts one in-process on 127.0.0.1 and signs in the local super admin.
//!
//! - [`app`]: shared state, requests/replies paired by id, dispatch (no I/O);
//! - [`screens`]: one module per screen, [`modals`]: one per modal (state, keys, replies,
//!   drawing, hints);
//! - [`ui`]: the frame (title, status, hints, help) and shared drawing helpers; [`keymap`]: keys;
//!   [`text`]: sanitising and width-aware truncation; [`runtime`]: the event loop and tasks;
//!   `session`: the opt-in session cache.

pub mod app;
#[doc(hidden)]
pub mod fixtures;
pub mod keymap;
pub mod modals;
pub mod runtime;
pub mod screens;
pub mod session;
pub mod text;
pub mod ui;

#[cfg(test)]
mod snapshots;

use crate::client::ConsoleClient;
use crate::clipboard::Clipboard;
use crate::config::Config;
use app::{App, Connection, Link};
use color_eyre::eyre::{Result, WrapErr, eyre};
use keymap::Keymap;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::crossterm::{cursor, execute, terminal};
use runtime::{Connect, Runtime};

/// Room for a full frame of a large terminal, styles included; a larger one leaves in pieces,
/// still inside its synchronized update.
const FRAME_BUFFER: usize = 256 * 1024;

/// Command-line options of the console itself.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Console server URL; without it, an embedded server runs on the local data dir.
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Named server profile from config.toml.
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

/// Where to connect, resolved from options and config before the terminal is touched.
struct Target {
    label: String,
    server: Option<String>,
    username: Option<String>,
    /// The profile's transport settings (proxy, ca_cert), if a profile was chosen.
    profile: Option<crate::config::Profile>,
}

fn target(options: &Options, config: &Config, path: &std::path::Path) -> Result<Target> {
    if let Some(url) = &options.server {
        return Ok(Target {
            label: "--server".into(),
            server: Some(url.clone()),
            username: None,
            profile: None,
        });
    }
    if let Some(name) = &options.profile {
        let p = config.profile(name, path)?;
        return Ok(Target {
            label: format!("profile {name}"),
            server: Some(p.server.clone()),
            username: p.username.clone(),
            profile: Some(p.clone()),
        });
    }
    Ok(Target {
        label: "embedded".into(),
        server: None,
        username: None,
        profile: None,
    })
}

/// Leaves the alternate screen, shows the cursor and ends raw mode. Safe to call twice.
pub fn restore_terminal() {
    let mut out = std::io::stdout();
    let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
}

/// color-eyre reports, and a panic hook that restores the terminal first and then exits, so a
/// panic in a spawned task (which tokio would otherwise swallow) cannot leave a broken screen.
fn install_hooks() -> Result<()> {
    use std::io::IsTerminal;
    // No ANSI codes into a pipe or a file, nor with NO_COLOR; no source location in a report
    // about the user's setup (a config error is not a bug).
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal();
    let mut hooks = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .display_location_section(false);
    if !colour {
        hooks = hooks.theme(color_eyre::config::Theme::new());
    }
    let (panic_hook, eyre_hook) = hooks.into_hooks();
    eyre_hook.install()?;
    let panic_hook = panic_hook.into_panic_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        tracing::error!("panic: {info}");
        panic_hook(info);
        std::process::exit(101);
    }));
    Ok(())
}

/// Logs go to `devconsole.log` in the data dir, never to the terminal.
fn init_logging() -> Result<std::path::PathBuf> {
    let dir = crate::paths::data_dir();
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let path = dir.join("devconsole.log");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(&path)
        .wrap_err_with(|| format!("opening {}", path.display()))?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVCONSOLE_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into()),
        )
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
    Ok(path)
}

/// Whether the locale can show UTF-8 (`LC_ALL`, then `LC_CTYPE`, then `LANG`, as C does).
pub fn utf8_locale(lookup: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| lookup(k).filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}

/// A terminal the console can draw on, or a one-line reason (no source location, no backtrace).
fn check_terminal() -> std::result::Result<(), String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(
            "devconsole: the console needs a terminal (stdin and stdout are not a TTY); \
                    for scripts use the subcommands, e.g. `devconsole apps list` (see `devconsole --help`)"
                .into(),
        );
    }
    match std::env::var("TERM").as_deref() {
        Ok("dumb") | Ok("") | Err(_) => Err(
            "devconsole: TERM is dumb or unset, and the console needs cursor movement; \
             run it in a real terminal (e.g. TERM=xterm-256color) or use the subcommands (`devconsole --help`)"
                .into(),
        ),
        _ => Ok(()),
    }
}

pub fn run(options: Options) -> Result<()> {
    install_hooks()?;
    let (config, config_path) = Config::load()?;
    let keymap = Keymap::from_config(&config.keys).map_err(|e| eyre!("{}: {e}", config_path.display()))?;
    let target = target(&options, &config, &config_path)?;
    // After the config (its errors say more), before the terminal is touched.
    if let Err(why) = check_terminal() {
        eprintln!("{why}");
        std::process::exit(2);
    }
    init_logging()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run_async(config, config_path, keymap, target))
}

async fn run_async(
    config: Config,
    config_path: std::path::PathBuf,
    keymap: Keymap,
    target: Target,
) -> Result<()> {
    let (connect, conn) = match &target.server {
        None => (
            Connect::Embedded {
                database_url: crate::paths::default_database_url().wrap_err("creating the data directory")?,
            },
            Connection {
                label: target.label.clone(),
                server: "starting…".into(),
                admin: None,
                link: Link::Connecting,
                remote: false,
            },
        ),
        Some(url) => {
            let mut client = config
                .client_builder(url, target.profile.as_ref(), &config_path)
                .build()
                .map_err(|e| eyre!("{e}"))?;
            let mut cached = false;
            if config.session_cache
                && let Some(token) = session::load(&crate::paths::data_dir(), url)
            {
                client = client.with_session(token);
                cached = true;
            }
            (
                Connect::Remote { client, cached },
                Connection {
                    label: target.label.clone(),
                    server: url.trim_end_matches('/').to_owned(),
                    admin: None,
                    link: if cached { Link::Connecting } else { Link::SignedOut },
                    remote: true,
                },
            )
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(keymap, conn, color);
    app.ascii = !utf8_locale(|k| std::env::var(k).ok());
    if let (app::Screen::Login(form), Some(user)) = (&mut app.screen, &target.username) {
        form.username = tui_input::Input::new(user.clone());
        form.focus_password = true;
    }
    let clipboard = Clipboard::new(config.clipboard, config.clipboard_clear_after())
        .with_blind_osc52_clear(config.clipboard_clear_osc52);
    let mut runtime = Runtime::new(clipboard, config.mouse);
    if config.session_cache
        && let Some(url) = target.server.clone()
    {
        runtime.on_login = Some(Box::new(move |client: &ConsoleClient| {
            if let Some(token) = client.session()
                && let Err(e) = session::store(&crate::paths::data_dir(), &url, token)
            {
                tracing::warn!(error = %e, "could not write the session cache");
            }
        }));
        let url = target.server.clone().unwrap_or_default();
        runtime.on_logout = Some(Box::new(move || {
            if let Err(e) = session::remove(&crate::paths::data_dir(), &url) {
                tracing::warn!(error = %e, "could not remove the session cache");
            }
        }));
    }
    // Without the session cache, quitting ends the session on the server.
    runtime.end_session_on_quit = target.server.is_some() && !config.session_cache;

    terminal::enable_raw_mode()?;
    let mut out = std::io::stdout();
    execute!(out, EnterAlternateScreen)?;
    if config.mouse {
        execute!(out, EnableMouseCapture)?;
    }
    // Stdout's own buffer is 1 KiB and flushes at every newline, so a frame would leave in
    // dozens of writes (and packets, over SSH); this one holds a whole frame until the painter
    // flushes it.
    let mut terminal = Terminal::new(CrosstermBackend::new(std::io::BufWriter::with_capacity(
        FRAME_BUFFER,
        out,
    )))?;
    tracing::info!(connection = %target.label, "console started");
    let result = runtime.run(&mut terminal, &mut app, connect).await;
    drop(terminal);
    restore_terminal();
    match &result {
        Ok(()) => tracing::info!("console stopped"),
        Err(e) => tracing::error!(error = %e, "console stopped on an error"),
    }
    result
}
