//! The event loop: terminal events, replies from server tasks and a tick, one at a time on the
//! UI task. Every server call is spawned; nothing here awaits the network.

use super::app::{App, Command, Reply, RequestId};
use super::ui;
use crate::client::ConsoleClient;
use crate::clipboard::Clipboard;
use crate::server::RunningServer;
use color_eyre::eyre::Result;
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::crossterm::{execute, queue};
use secrecy::ExposeSecret;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TICK: Duration = Duration::from_millis(100);
/// How often the unauthenticated `/healthz` heartbeat asks whether the server is there.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// How long quitting waits to end the session on the server.
const LOGOUT_ON_QUIT: Duration = Duration::from_secs(3);

/// How the console reaches its server.
pub enum Connect {
    /// Start the embedded server over this database URL.
    Embedded { database_url: String },
    /// A remote server; `client` carries a cached session when there is one.
    Remote { client: ConsoleClient, cached: bool },
}

/// Stores the session of a fresh login (the opt-in session cache).
pub type SaveSession = Box<dyn Fn(&ConsoleClient) + Send>;

pub struct Runtime {
    client: Option<ConsoleClient>,
    tx: mpsc::UnboundedSender<(RequestId, Reply)>,
    rx: mpsc::UnboundedReceiver<(RequestId, Reply)>,
    pub clipboard: Clipboard,
    pub mouse: bool,
    mouse_on: bool,
    /// The embedded server's database, when running embedded.
    embedded: Option<String>,
    starting: bool,
    /// Called with the new session token after a login, for the opt-in session cache.
    pub on_login: Option<SaveSession>,
    /// Called after signing out (removes the cached session).
    pub on_logout: Option<Box<dyn Fn() + Send>>,
    /// Quitting ends the session on the server (remote, without the session cache).
    pub end_session_on_quit: bool,
    health_in_flight: bool,
}

/// Replies the runtime handles itself before the app sees them.
enum Internal {
    /// The embedded server is up and this client is signed in to it.
    Embedded(ConsoleClient, RunningServer),
    StartFailed(String),
    /// A login succeeded: the client must be swapped before the app sends anything else.
    LoggedIn(RequestId, ConsoleClient, crate::wire::Admin),
    /// A sign-out finished; the client (now without a session) comes back.
    LoggedOut(RequestId, ConsoleClient, Result<(), crate::client::ClientError>),
    Health(Result<(), crate::client::ClientError>),
}

impl Runtime {
    pub fn new(clipboard: Clipboard, mouse: bool) -> Runtime {
        let (tx, rx) = mpsc::unbounded_channel();
        Runtime {
            client: None,
            tx,
            rx,
            clipboard,
            mouse,
            mouse_on: mouse,
            embedded: None,
            starting: false,
            on_login: None,
            on_logout: None,
            end_session_on_quit: false,
            health_in_flight: false,
        }
    }

    pub async fn run<B>(&mut self, terminal: &mut Terminal<B>, app: &mut App, connect: Connect) -> Result<()>
    where
        B: Backend + Write,
        B::Error: Send + Sync + 'static,
    {
        let (internal_tx, mut internal_rx) = mpsc::unbounded_channel::<Internal>();
        let mut server: Option<RunningServer> = None;
        match connect {
            Connect::Embedded { database_url } => {
                self.embedded = Some(database_url);
                self.start_embedded(&internal_tx);
            }
            Connect::Remote { client, cached } => {
                self.client = Some(client);
                if cached {
                    app.connected(None);
                }
            }
        }
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        let mut painter = Painter::default();
        let mut last_clock = Instant::now();
        let mut panic_armed = std::env::var_os("DEVCONSOLE_TEST_PANIC").is_some();
        loop {
            if app.clear_screen {
                app.clear_screen = false;
                // A blank frame overwrites every cell the secret used and leaves ratatui's
                // previous buffer blank, so the next frame is drawn in full. (Terminal::clear
                // would query the cursor position, which hangs on terminals that never answer.)
                painter.clear(terminal)?;
                dirty = true;
            }
            self.sync_mouse(terminal.backend_mut(), app);
            if dirty {
                painter.draw(terminal, app)?;
                dirty = false;
                if panic_armed {
                    // Test-only: proves a panic in a spawned task restores the terminal.
                    panic_armed = false;
                    tokio::spawn(async {
                        panic!("DEVCONSOLE_TEST_PANIC is set: test panic in a spawned task")
                    });
                }
            }
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => { app.on_event(&ev); dirty = true; }
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                },
                Some((id, reply)) = self.rx.recv() => {
                    // Fresh server data is measured against a fresh clock ("90 d left", not 91).
                    app.now = time::OffsetDateTime::now_utc();
                    app.on_reply(id, reply);
                    dirty = true;
                }
                Some(internal) = internal_rx.recv() => {
                    match internal {
                        Internal::Embedded(client, running) => {
                            app.conn.server = client.base_url().to_owned();
                            self.client = Some(client);
                            self.starting = false;
                            server = Some(running);
                            app.connected(None);
                        }
                        Internal::StartFailed(why) => {
                            self.starting = false;
                            app.on_reply(RequestId::UNSOLICITED, Reply::StartFailed(why));
                        }
                        Internal::LoggedOut(id, client, result) => {
                            if let Some(forget) = &self.on_logout {
                                forget();
                            }
                            // Whether or not the server heard it, this client has no session now.
                            self.client = Some(client.without_session());
                            app.on_reply(id, Reply::LoggedOut(result));
                        }
                        Internal::Health(result) => {
                            self.health_in_flight = false;
                            app.on_reply(RequestId::UNSOLICITED, Reply::Health(result));
                        }
                        Internal::LoggedIn(id, client, admin) => {
                            if let Some(save) = &self.on_login {
                                save(&client);
                            }
                            self.client = Some(client);
                            app.on_reply(id, Reply::LoggedIn(Ok(admin)));
                        }
                    }
                    dirty = true;
                }
                _ = heartbeat.tick() => {
                    self.check_health(app, &internal_tx);
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    dirty |= app.tick(now);
                    if now.duration_since(last_clock) >= Duration::from_secs(30) {
                        last_clock = now;
                        app.now = time::OffsetDateTime::now_utc();
                        dirty = true;
                    }
                    self.clipboard.tick(terminal.backend_mut());
                }
            }
            if app.suspend {
                app.suspend = false;
                self.suspend(terminal.backend_mut());
                // Whatever the shell drew is on screen now: repaint every cell.
                app.clear_screen = true;
                dirty = true;
            }
            for (id, command) in app.take_requests() {
                self.spawn(id, command, app, terminal.backend_mut(), &internal_tx);
            }
            if app.quit {
                break;
            }
        }
        self.clipboard.on_quit();
        if self.end_session_on_quit
            && let Some(mut client) = self.client.take()
            && client.session().is_some()
        {
            // Quitting signs out: a session left behind on a jump host is a session to steal.
            match tokio::time::timeout(LOGOUT_ON_QUIT, client.logout()).await {
                Ok(Ok(())) => tracing::info!("session ended on quit"),
                Ok(Err(e)) => tracing::warn!(error = %e, "could not end the session on quit"),
                Err(_) => tracing::warn!("ending the session on quit timed out"),
            }
        }
        if let Some(running) = server {
            let _ = tokio::time::timeout(Duration::from_secs(3), running.shutdown()).await;
        }
        Ok(())
    }

    /// Ctrl-Z: gives the terminal back as the shell left it (main screen, cooked mode, cursor
    /// shown, no mouse capture), stops the process with SIGTSTP, and on SIGCONT (`fg`) takes it
    /// back. Raw mode turns Ctrl-Z into a key, so the terminal never sends the signal itself.
    fn suspend(&mut self, out: &mut impl Write) {
        use ratatui::crossterm::{cursor, terminal};
        let _ = execute!(
            out,
            DisableMouseCapture,
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        tracing::info!("suspended (Ctrl-Z)");
        #[cfg(unix)]
        // SAFETY: raise() only sends a signal to this process; SIGTSTP's default action stops
        // it and returns here once it is continued.
        unsafe {
            libc::raise(libc::SIGTSTP);
        }
        tracing::info!("resumed");
        let _ = terminal::enable_raw_mode();
        let _ = execute!(out, terminal::EnterAlternateScreen);
        // Capture is off now; the next sync turns it back on if it should be.
        self.mouse_on = false;
    }

    /// One heartbeat at a time, only while there is a connection to watch.
    fn check_health(&mut self, app: &App, internal: &mpsc::UnboundedSender<Internal>) {
        use super::app::Link;
        if self.health_in_flight || matches!(app.conn.link, Link::Connecting | Link::SignedOut) {
            return;
        }
        let Some(client) = self.client.clone() else { return };
        self.health_in_flight = true;
        let internal = internal.clone();
        tokio::spawn(async move {
            let _ = internal.send(Internal::Health(client.health().await));
        });
    }

    fn start_embedded(&mut self, internal: &mpsc::UnboundedSender<Internal>) {
        let Some(url) = self.embedded.clone() else { return };
        self.starting = true;
        let internal = internal.clone();
        tokio::spawn(async move {
            let _ = internal.send(match start_embedded(url).await {
                Ok((running, client)) => Internal::Embedded(client, running),
                Err(why) => Internal::StartFailed(why),
            });
        });
    }

    fn sync_mouse(&mut self, out: &mut impl Write, app: &App) {
        // Never capture while a secret is on screen: the terminal's own selection must work.
        let want = self.mouse && !app.secret_open();
        if want != self.mouse_on {
            let _ = if want {
                execute!(out, EnableMouseCapture)
            } else {
                execute!(out, DisableMouseCapture)
            };
            self.mouse_on = want;
        }
    }

    fn spawn(
        &mut self,
        id: RequestId,
        command: Command,
        app: &mut App,
        term: &mut dyn Write,
        internal: &mpsc::UnboundedSender<Internal>,
    ) {
        // Synchronous: the clipboard and the terminal belong to this task, and an OSC 52
        // sequence must go out between frames.
        match command {
            Command::CopySecret => {
                let message = match app.open_secret() {
                    Some(secret) => self.clipboard.copy(secret, term).message(),
                    None => "nothing to copy".into(),
                };
                let clears_at = self.clipboard.clear_deadline();
                app.on_reply(id, Reply::Copied { message, clears_at });
                return;
            }
            Command::CopyText(text) => {
                let message = self.clipboard.copy_text(&text, term).message();
                let clears_at = self.clipboard.clear_deadline();
                app.on_reply(id, Reply::Copied { message, clears_at });
                return;
            }
            Command::WriteSecret(path) => {
                let result = match app.open_secret() {
                    Some(secret) => write_secret_file(&path, secret),
                    None => Err("nothing to write".into()),
                };
                app.on_reply(id, Reply::Written(result));
                return;
            }
            _ => {}
        }
        if let Command::CopyScimUrl(url) = command {
            // Not a secret: same routes, no auto-clear, and a pending secret clear is kept.
            let message = self.clipboard.copy_text(&url, term).message();
            app.on_reply(id, Reply::ScimUrlCopied(message));
            return;
        }
        let tx = self.tx.clone();
        let Some(client) = self.client.clone() else {
            // Nothing to send it to: the embedded server is not up. Try starting it again.
            if self.embedded.is_some() && !self.starting {
                self.start_embedded(internal);
            }
            let _ = tx.send((id, Reply::StartFailed("not connected to a server yet".into())));
            return;
        };
        tracing::debug!(command = command.label(), "spawning");
        match command {
            Command::Logout => {
                let internal = internal.clone();
                self.client = None;
                tokio::spawn(async move {
                    let mut client = client;
                    let result = client.logout().await;
                    let _ = internal.send(Internal::LoggedOut(id, client, result));
                });
            }
            Command::Login { username, password } => {
                let internal = internal.clone();
                tokio::spawn(async move {
                    let mut client = client;
                    match client.login(&username, password).await {
                        Ok(session) => {
                            let _ = internal.send(Internal::LoggedIn(id, client, session.admin));
                        }
                        Err(e) => {
                            let _ = tx.send((id, Reply::LoggedIn(Err(e))));
                        }
                    }
                });
            }
            other => {
                tokio::spawn(async move {
                    let reply = call(&client, other).await;
                    let _ = tx.send((id, reply));
                });
            }
        }
    }
}

/// Draws frames, scrolling the app list with the terminal's own scroll region (DECSTBM, then
/// SU/SD) when it moved by less than a page, so one `j` at the edge of the list costs one new row
/// rather than a repaint of every row: over SSH, bytes are latency.
#[derive(Default)]
pub struct Painter {
    /// What the terminal shows: the last frame drawn.
    last: Option<Buffer>,
}

impl Painter {
    /// Forget the screen (after anything drawn outside the painter).
    pub fn invalidate(&mut self) {
        self.last = None;
    }

    /// Blanks every cell, the secret's included, and leaves ratatui's previous buffer blank so
    /// the next frame is drawn in full. (`Terminal::clear` would query the cursor position,
    /// which hangs on terminals that never answer.)
    pub fn clear<B: Backend + Write>(&mut self, terminal: &mut Terminal<B>) -> Result<(), B::Error> {
        begin_update(terminal.backend_mut());
        terminal.draw(|f| f.render_widget(ratatui::widgets::Clear, f.area()))?;
        terminal
            .backend_mut()
            .clear_region(ratatui::backend::ClearType::All)?;
        end_update(terminal.backend_mut());
        self.invalidate();
        Ok(())
    }

    /// One frame, as one synchronized update: a terminal that knows DEC mode 2026 (tmux 3.4,
    /// most emulators) shows it whole, never half-drawn over a slow link; others ignore it.
    pub fn draw<B: Backend + Write>(
        &mut self,
        terminal: &mut Terminal<B>,
        app: &App,
    ) -> Result<(), B::Error> {
        // The update begins before the resize check: after a resize, ratatui clears the whole
        // screen, and that clear belongs to the frame (a terminal, or a test, would otherwise
        // see a blank screen between the two). It ends even when drawing fails.
        begin_update(terminal.backend_mut());
        let drawn = self.draw_frame(terminal, app);
        end_update(terminal.backend_mut());
        drawn
    }

    fn draw_frame<B: Backend + Write>(
        &mut self,
        terminal: &mut Terminal<B>,
        app: &App,
    ) -> Result<(), B::Error> {
        terminal.autoresize()?;
        self.scroll_list(terminal, app)?;
        app.raw_secret_row.set(None);
        let frame = terminal.draw(|f| ui::draw(f, app))?;
        self.last = Some(frame.buffer.clone());
        if let (Some(row), Some(secret)) = (app.raw_secret_row.get(), app.open_secret()) {
            // One plain write from column 1: the terminal wraps it, so tmux copy mode sees one
            // logical line. Drawing left these rows blank, so ratatui never overwrites it.
            let out = terminal.backend_mut();
            let _ = write!(out, "\x1b[{};1H", row + 1);
            let _ = out.write_all(secret.expose_secret().as_bytes());
        }
        Ok(())
    }

    fn scroll_list<B: Backend + Write>(
        &mut self,
        terminal: &mut Terminal<B>,
        app: &App,
    ) -> Result<(), B::Error> {
        let Some(last) = self.last.as_ref() else {
            return Ok(());
        };
        let Some((top, bottom)) = app.list_rows.get() else {
            return Ok(());
        };
        let listing =
            matches!(app.screen, super::app::Screen::AppList(_)) && app.modal.is_none() && !app.help;
        if !listing || last.area != terminal.get_frame().area() || bottom > last.area.bottom() {
            return Ok(());
        }
        let height = bottom - top;
        let before = app.list.offset.get() as i64;
        // The offset the coming draw will use (drawing computes the same).
        let after = app.list.scroll(app.visible.len(), height as usize) as i64;
        let delta = after - before;
        if delta == 0 || delta.unsigned_abs() >= u64::from(height) {
            return Ok(());
        }
        let k = delta.unsigned_abs() as usize;
        let seq = if delta > 0 {
            format!("\x1b[{};{}r\x1b[{k}S\x1b[r", top + 1, bottom)
        } else {
            format!("\x1b[{};{}r\x1b[{k}T\x1b[r", top + 1, bottom)
        };
        // What the terminal shows after the scroll: whole rows moved, new rows blank.
        let mut shifted = last.clone();
        let w = last.area.width as usize;
        let (top, bottom) = (top as usize, bottom as usize);
        let rows = &mut shifted.content[top * w..bottom * w];
        if delta > 0 {
            rows.rotate_left(k * w);
            rows[(bottom - top - k) * w..].fill(Cell::default());
        } else {
            rows.rotate_right(k * w);
            rows[..k * w].fill(Cell::default());
        }
        let out = terminal.backend_mut();
        // If the terminal cannot be written, fall back to a plain diff against the old screen.
        if out.write_all(seq.as_bytes()).is_err() {
            return Ok(());
        }
        *terminal.current_buffer_mut() = shifted;
        terminal.swap_buffers();
        Ok(())
    }
}

// A failed write here fails the draw it brackets, which reports it.
fn begin_update(out: &mut impl Write) {
    let _ = queue!(out, BeginSynchronizedUpdate);
}

/// Ends the update and flushes it: with the console's buffered stdout, a frame leaves in one
/// write.
fn end_update(out: &mut impl Write) {
    let _ = execute!(out, EndSynchronizedUpdate);
}

async fn call(client: &ConsoleClient, command: Command) -> Reply {
    match command {
        Command::LoadMe => Reply::Me(client.me().await),
        Command::LoadApps => Reply::Apps(client.list_apps().await),
        Command::LoadApp(id) => Reply::App(id, client.get_app(id).await),
        Command::CreateApp { name, description } => {
            Reply::Created(client.create_app(&name, &description).await)
        }
        Command::UpdateApp {
            id,
            name,
            description,
        } => {
            let update = crate::wire::UpdateApp { name, description };
            Reply::Updated(client.update_app(id, &update).await)
        }
        Command::DeleteApp(id) => Reply::Deleted(id, client.delete_app(id).await),
        Command::SetMembers { id, members } => Reply::Updated(client.set_members(id, &members).await),
        Command::ReissueSecret(id) => Reply::SecretReissued(id, client.reissue_client_secret(id).await),
        Command::SetScim { id, enabled } => Reply::ScimChanged(client.enable_scim(id, enabled).await),
        Command::IssueToken(id) => Reply::TokenIssued(id, client.issue_token(id).await),
        Command::RevokeToken(id) => Reply::TokenRevoked(id, client.revoke_token(id).await),
        Command::LoadAudit(app) => Reply::Audit(app, client.audit(app, 200).await),
        Command::LoadActivity {
            app,
            failed_only,
            cursor,
        } => {
            let filter = crate::wire::ActivityFilter {
                outcome: failed_only.then_some(crate::wire::Outcome::Failure),
                ..Default::default()
            };
            let page = crate::tui::screens::activity::PAGE;
            Reply::Activity {
                more: cursor.is_some(),
                result: client.activity_page(app, &filter, page, cursor.as_deref()).await,
            }
        }
        Command::LoadScimSummary(id) => Reply::ScimSummary(id, scim_summary(client, id).await),
        Command::TestToken(token) => Reply::TokenTested(client.test_scim_token(&token).await),
        Command::Login { .. }
        | Command::Logout
        | Command::CopySecret
        | Command::CopyText(_)
        | Command::WriteSecret(_)
        | Command::CopyScimUrl(_) => {
            unreachable!("handled by Runtime::spawn")
        }
    }
}

/// The newest call and the newest failed call of one app: two one-row pages, side by side.
async fn scim_summary(
    client: &ConsoleClient,
    id: uuid::Uuid,
) -> Result<crate::tui::screens::activity::ScimSummary, crate::client::ClientError> {
    use crate::wire::{ActivityFilter, Outcome};
    let failed = ActivityFilter {
        outcome: Some(Outcome::Failure),
        ..Default::default()
    };
    let all = ActivityFilter::default();
    let (last, failure) = tokio::join!(
        client.activity_page(Some(id), &all, 1, None),
        client.activity_page(Some(id), &failed, 1, None),
    );
    Ok(crate::tui::screens::activity::ScimSummary {
        last_call: last?.events.into_iter().next(),
        last_error: failure?.events.into_iter().next(),
    })
}

/// Writes a secret to a new file only this user can read; an existing file is never replaced.
fn write_secret_file(
    path: &std::path::Path,
    secret: &secrecy::SecretString,
) -> std::result::Result<std::path::PathBuf, String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let shown = path.display().to_string();
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!(
                "{shown} already exists and was left alone; type another name."
            ));
        }
        Err(e) => return Err(format!("Could not create {shown}: {e}")),
    };
    let result = file
        .write_all(secret.expose_secret().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(e) = result {
        let _ = std::fs::remove_file(path);
        return Err(format!("Could not write {shown}: {e}"));
    }
    Ok(std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

async fn start_embedded(database_url: String) -> std::result::Result<(RunningServer, ConsoleClient), String> {
    let config = crate::server::ServerConfig::new(database_url, ([127, 0, 0, 1], 0).into());
    let running = crate::server::start(config)
        .await
        .map_err(|e| format!("the embedded server did not start: {e}"))?;
    let token = running
        .mint_local_session()
        .await
        .map_err(|e| format!("could not sign in the local admin: {}", e.message))?;
    let client = ConsoleClient::new(&running.base_url())
        .map_err(|e| e.to_string())?
        .with_session(token);
    Ok((running, client))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures;
    use crate::tui::snapshots::{ch, key};
    use ratatui::backend::CrosstermBackend;
    use ratatui::crossterm::event::KeyCode;
    use ratatui::layout::Rect;
    use ratatui::style::Modifier;
    use ratatui::{TerminalOptions, Viewport};

    #[derive(Default, Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn mouse_capture_is_released_while_a_secret_is_shown() {
        use crate::clipboard::{Clipboard, ClipboardMode};
        let mut app = fixtures::app_with(fixtures::sample_apps(), true);
        app.on_event(&key(KeyCode::Enter));
        app.take_commands();
        let mut rt = Runtime::new(Clipboard::new(ClipboardMode::Off, None), true);
        let mut out = Vec::new();
        rt.sync_mouse(&mut out, &app);
        assert!(out.is_empty(), "capture stays on (it was enabled at start-up)");
        app.answer(Reply::SecretReissued(
            uuid::Uuid::from_u128(10),
            Ok(crate::wire::ClientSecretIssued {
                client_id: "CID".into(),
                client_secret: secrecy::SecretString::from("dcs_x"),
            }),
        ));
        rt.sync_mouse(&mut out, &app);
        assert!(
            String::from_utf8_lossy(&out).contains("\x1b[?1000l"),
            "capture turned off: {out:?}"
        );
        out.clear();
        app.on_event(&ch(' '));
        app.on_event(&key(KeyCode::Enter));
        rt.sync_mouse(&mut out, &app);
        assert!(
            String::from_utf8_lossy(&out).contains("\x1b[?1000h"),
            "capture back on: {out:?}"
        );

        let mut off = Runtime::new(Clipboard::new(ClipboardMode::Off, None), false);
        let mut out = Vec::new();
        off.sync_mouse(&mut out, &app);
        assert!(out.is_empty(), "never captured unless the config asks");
    }

    /// Every frame and every clear is one synchronized update, the secret's raw row included, and
    /// leaves the writer flushed; a scroll happens inside the update, not before it.
    #[test]
    fn every_frame_is_one_synchronized_update() {
        const BEGIN: &[u8] = b"\x1b[?2026h";
        const END: &[u8] = b"\x1b[?2026l";
        let sink = Sink::default();
        let mut app = fixtures::app_with(fixtures::many_apps(100), true);
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(std::io::BufWriter::new(sink.clone())),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, 80, 24)),
            },
        )
        .unwrap();
        let mut painter = Painter::default();
        let count = |hay: &[u8], mark: &[u8]| hay.windows(mark.len()).filter(|w| *w == mark).count();
        let check = |what: &str, bytes: Vec<u8>| {
            assert!(bytes.starts_with(BEGIN), "{what} begins the update: {bytes:?}");
            assert!(bytes.ends_with(END), "{what} ends the update and is flushed");
            assert_eq!((count(&bytes, BEGIN), count(&bytes, END)), (1, 1), "{what}");
        };
        painter.draw(&mut terminal, &app).unwrap();
        check("the first frame", std::mem::take(&mut *sink.0.lock().unwrap()));
        for _ in 0..30 {
            app.on_event(&ch('j'));
        }
        painter.draw(&mut terminal, &app).unwrap();
        let scrolled = std::mem::take(&mut *sink.0.lock().unwrap());
        assert!(
            scrolled.windows(4).any(|w| w == b"S\x1b[r"),
            "the list scrolled: {scrolled:?}"
        );
        check("a scrolled frame", scrolled);
        painter.clear(&mut terminal).unwrap();
        check("a clear", std::mem::take(&mut *sink.0.lock().unwrap()));
        let mut app = fixtures::app_with(fixtures::sample_apps(), true);
        app.on_event(&key(KeyCode::Enter));
        app.take_commands();
        app.answer(Reply::SecretReissued(
            uuid::Uuid::from_u128(10),
            Ok(crate::wire::ClientSecretIssued {
                client_id: "CID".into(),
                client_secret: secrecy::SecretString::from("dcs_0123456789abcdef"),
            }),
        ));
        painter.draw(&mut terminal, &app).unwrap();
        let secret = std::mem::take(&mut *sink.0.lock().unwrap());
        let at = secret.windows(20).position(|w| w == b"dcs_0123456789abcdef");
        assert!(at.is_some(), "the secret's raw row is drawn");
        check("the secret's frame", secret);
    }

    /// Drives the painter over a byte sink and replays the bytes in a vt100 terminal: after every
    /// key the emulated screen must equal the frame, text and reverse video, scroll or not.
    #[test]
    fn scrolled_frames_match_a_full_redraw() {
        let (w, h) = (80u16, 24u16);
        let sink = Sink::default();
        let mut app = fixtures::app_with(fixtures::many_apps(500), true);
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(sink.clone()),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )
        .unwrap();
        let mut vt = vt100::Parser::new(h.try_into().unwrap(), w.try_into().unwrap(), 0);
        let mut painter = Painter::default();
        let mut keys = vec![];
        keys.extend(std::iter::repeat_n(ch('j'), 45));
        keys.extend(std::iter::repeat_n(ch('k'), 30));
        keys.extend([
            key(KeyCode::PageDown),
            ch('j'),
            key(KeyCode::PageUp),
            ch('G'),
            ch('k'),
            ch('g'),
        ]);
        let mut scrolled = 0;
        for (i, ev) in std::iter::once(None).chain(keys.iter().map(Some)).enumerate() {
            if let Some(ev) = ev {
                app.on_event(ev);
            }
            painter.draw(&mut terminal, &app).unwrap();
            let bytes = std::mem::take(&mut *sink.0.lock().unwrap());
            if bytes.windows(2).any(|w| w == b"\x1b[")
                && bytes.windows(3).any(|w| w == b"1S\x1b" || w == b"1T\x1b")
            {
                scrolled += 1;
            }
            vt.process(&bytes);
            let frame = painter.last.as_ref().unwrap();
            for y in 0..h {
                for x in 0..w {
                    let cell = &frame[(x, y)];
                    let got = vt.screen().cell(y, x).unwrap();
                    let got_text = if got.contents().is_empty() {
                        " "
                    } else {
                        got.contents()
                    };
                    assert_eq!(got_text, cell.symbol(), "key {i}: cell ({x},{y})");
                    assert_eq!(
                        got.inverse(),
                        cell.modifier.contains(Modifier::REVERSED),
                        "key {i}: reverse video at ({x},{y})"
                    );
                }
            }
        }
        assert!(
            scrolled >= 40,
            "the terminal's scroll was used ({scrolled} times)"
        );
    }
}
