//! The console's state and how keys and server replies change it. No terminal and no network
//! here: keys produce [`Command`]s that the runtime runs off the UI task, and their results come
//! back as [`Reply`]s paired by [`RequestId`]. That keeps every screen testable with a
//! `TestBackend`.
//!
//! Each screen and modal is its own module under [`super::screens`] and [`super::modals`]: its
//! state, its keys, the replies it owns, its drawing and its hints. This module holds what they
//! share: the connection, the app list, toasts, requests in flight, and the dispatch.

mod effects;

pub use super::modals::{
    Confirm, ConfirmKind, ConnectProvider, EditApp, Members, Modal, SecretKind, SecretModal,
    app_form::AppForm,
};
pub use super::screens::{
    Screen,
    activity::{ActivityView, ScimSummary},
    add_app::AddApp,
    app_list::{AppList, ExpiringPrompt, SortKey},
    audit::AuditView,
    login::LoginForm,
    manage::{Manage, issue_blocked, token_active},
};
pub use effects::{Command, Kind, Pending, Reply, RequestId};

use super::keymap::{Action, Context, Keymap};
use super::text::sanitize;
use crate::client::ClientError;
use crate::wire::{Admin, AuditEvent, ClientApp};
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use secrecy::SecretString;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tui_input::Input;
use uuid::Uuid;

/// Narrower than 80 columns the list goes compact; below this it is too small.
pub const MIN_WIDTH: u16 = 70;
/// 80×24 less tmux's status line.
pub const MIN_HEIGHT: u16 = 23;
const TOAST_INFO: Duration = Duration::from_secs(5);
const TOAST_ERROR: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Online,
    /// The server could not be reached; the text says why.
    Unreachable(String),
    SignedOut,
}

/// Who and where, for the status bar.
#[derive(Debug, Clone)]
pub struct Connection {
    /// "embedded", or the profile name, or "--server".
    pub label: String,
    pub server: String,
    pub admin: Option<Admin>,
    pub link: Link,
    pub remote: bool,
}

/// The screen to return to after signing in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    List,
    Manage(Uuid),
    Audit(Option<Uuid>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Info,
    Error,
}

#[derive(Debug, Clone)]
pub struct Toast {
    pub kind: ToastKind,
    pub text: String,
    pub until: Instant,
}

/// A scrolled list: selection plus the first visible row, which drawing keeps in view.
#[derive(Debug, Default)]
pub struct ListView {
    pub selected: usize,
    pub offset: Cell<usize>,
    /// Visible rows at the last draw, for paging.
    pub page: Cell<usize>,
}

impl ListView {
    pub(crate) fn apply(&mut self, action: Action, len: usize) -> bool {
        if len == 0 {
            self.selected = 0;
            return false;
        }
        let page = self.page.get().max(1);
        let last = len - 1;
        let next = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            Action::PageUp => self.selected.saturating_sub(page),
            Action::PageDown => (self.selected + page).min(last),
            _ => return false,
        };
        self.selected = next;
        true
    }

    /// The first row to draw so that the selection is visible in `height` rows.
    pub fn scroll(&self, len: usize, height: usize) -> usize {
        self.page.set(height);
        let mut offset = self.offset.get().min(len.saturating_sub(height));
        if self.selected < offset {
            offset = self.selected;
        } else if height > 0 && self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        self.offset.set(offset);
        offset
    }
}

#[derive(Debug)]
pub struct App {
    pub keymap: Keymap,
    pub color: bool,
    /// The locale is not UTF-8 (`LANG=C`): draw borders, spinner and markers in ASCII.
    pub ascii: bool,
    pub conn: Connection,
    pub screen: Screen,
    /// Sanitised on arrival.
    pub apps: Vec<ClientApp>,
    pub apps_loaded: bool,
    pub filter: Input,
    pub filtering: bool,
    /// The list's order.
    pub sort: SortKey,
    /// Only apps whose active token expires within this many days.
    pub expiring_within: Option<u32>,
    /// The prompt asking for that number, while open.
    pub expiring_prompt: Option<ExpiringPrompt>,
    /// Indexes into `apps` that match the filters, in the sort order.
    pub visible: Vec<usize>,
    pub list: ListView,
    pub modal: Option<Modal>,
    pub help: bool,
    /// The help overlay's page, and how many it had at the last draw.
    pub help_page: usize,
    pub help_pages: Cell<usize>,
    pub toast: Option<Toast>,
    /// Requests sent and not yet answered; the newest is last.
    pub pending: BTreeMap<RequestId, Pending>,
    pub spinner: usize,
    pub now: OffsetDateTime,
    pub quit: bool,
    /// Ctrl-Z: the runtime hands the terminal back to the shell and stops the process.
    pub suspend: bool,
    /// The next draw must repaint every cell (a secret was on screen).
    pub clear_screen: bool,
    /// The last drawn size was below 80×24.
    pub too_small: Cell<bool>,
    /// Rows `[top, bottom)` of the app list's scrolling rows in the last frame, if it showed them.
    pub list_rows: Cell<Option<(u16, u16)>>,
    /// Each app's last SCIM call and error, for its manage page.
    pub scim_summary: BTreeMap<Uuid, ScimSummary>,
    /// When the clipboard will be cleared (if it still holds the copied secret), for a countdown.
    pub clipboard_clears_at: Option<Instant>,
    /// The first row of an unwrapped secret the runtime writes itself (see `SecretModal::one_line`).
    pub raw_secret_row: Cell<Option<u16>>,
    /// Tokens this console has shown: a token active on the server that is not here was issued
    /// by a request whose reply never arrived (or by someone else).
    pub shown_tokens: std::collections::HashSet<Uuid>,
    /// Apps whose issue request has an unknown outcome, until they are re-read.
    pub issue_unknown: std::collections::HashSet<Uuid>,
    /// Apps to issue a new token for once the revoke in flight succeeds.
    pub reissue_after_revoke: std::collections::HashSet<Uuid>,
    /// Why the app list could not be loaded, and what to do (shown instead of "Loading").
    pub apps_error: Option<String>,
    /// Where to go back to after signing in again.
    pub resume: Option<Resume>,
    next_id: u64,
    commands: Vec<(RequestId, Command)>,
}

impl App {
    pub fn new(keymap: Keymap, conn: Connection, color: bool) -> App {
        let screen = if conn.link == Link::SignedOut {
            Screen::Login(LoginForm::default())
        } else {
            Screen::AppList(AppList)
        };
        App {
            keymap,
            color,
            ascii: false,
            conn,
            screen,
            apps: Vec::new(),
            apps_loaded: false,
            filter: Input::default(),
            filtering: false,
            sort: SortKey::default(),
            expiring_within: None,
            expiring_prompt: None,
            visible: Vec::new(),
            list: ListView::default(),
            modal: None,
            help: false,
            help_page: 0,
            help_pages: Cell::new(1),
            toast: None,
            pending: BTreeMap::new(),
            spinner: 0,
            now: OffsetDateTime::now_utc(),
            quit: false,
            suspend: false,
            clear_screen: false,
            too_small: Cell::new(false),
            list_rows: Cell::new(None),
            scim_summary: BTreeMap::new(),
            clipboard_clears_at: None,
            raw_secret_row: Cell::new(None),
            shown_tokens: Default::default(),
            issue_unknown: Default::default(),
            reissue_after_revoke: Default::default(),
            apps_error: None,
            resume: None,
            next_id: 1,
            commands: Vec::new(),
        }
    }

    /// Requests queued since the last call; the runtime spawns them and answers each by its id.
    pub fn take_requests(&mut self) -> Vec<(RequestId, Command)> {
        std::mem::take(&mut self.commands)
    }

    /// The queued commands without their ids (tests and benchmarks).
    pub fn take_commands(&mut self) -> Vec<Command> {
        self.take_requests().into_iter().map(|(_, c)| c).collect()
    }

    pub(crate) fn send(&mut self, command: Command) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                kind: command.kind(),
                target: command.target(),
            },
        );
        self.commands.push((id, command));
        id
    }

    /// Whether a request of this kind about this app is still in flight.
    pub fn in_flight(&self, kind: Kind, target: Option<Uuid>) -> bool {
        self.pending
            .values()
            .any(|p| p.kind == kind && (target.is_none() || p.target == target))
    }

    /// What the spinner says: the newest request in flight.
    pub fn busy_label(&self) -> Option<&'static str> {
        self.pending.values().next_back().map(|p| p.kind.label())
    }

    pub fn toast(&mut self, kind: ToastKind, text: impl Into<String>) {
        let ttl = if kind == ToastKind::Error {
            TOAST_ERROR
        } else {
            TOAST_INFO
        };
        self.toast = Some(Toast {
            kind,
            text: sanitize(&text.into(), false),
            until: Instant::now() + ttl,
        });
    }

    /// Advances the spinner and expires toasts; true if something visible changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let mut changed = false;
        if !self.pending.is_empty() {
            self.spinner = self.spinner.wrapping_add(1);
            changed = true;
        }
        if self.toast.as_ref().is_some_and(|t| now >= t.until) {
            self.toast = None;
            changed = true;
        }
        if let Some(at) = self.clipboard_clears_at {
            // The countdown shows whole seconds; redraw as it moves.
            changed = true;
            if now >= at {
                self.clipboard_clears_at = None;
            }
        }
        changed
    }

    /// The secret of the open one-time modal, for the runtime's clipboard.
    pub fn open_secret(&self) -> Option<&SecretString> {
        match &self.modal {
            Some(Modal::Secret(m)) => Some(&m.secret),
            _ => None,
        }
    }

    pub fn secret_open(&self) -> bool {
        self.open_secret().is_some()
    }

    pub fn selected_app(&self) -> Option<&ClientApp> {
        self.visible
            .get(self.list.selected)
            .and_then(|i| self.apps.get(*i))
    }

    pub fn app(&self, id: Uuid) -> Option<&ClientApp> {
        self.apps.iter().find(|a| a.id == id)
    }

    /// Called once the connection is ready (embedded server up, or signed in).
    pub fn connected(&mut self, admin: Option<Admin>) {
        self.conn.link = Link::Online;
        if admin.is_some() {
            self.conn.admin = admin;
        } else {
            self.send(Command::LoadMe);
        }
        self.send(Command::LoadApps);
        if matches!(self.screen, Screen::Login(_)) {
            // Back where the session ended, not at the start.
            match self.resume.take() {
                Some(Resume::Manage(id)) => Manage::open(self, id),
                Some(Resume::Audit(scope)) => AuditView::open(self, scope),
                _ => self.screen = Screen::AppList(AppList),
            }
        }
    }

    /// The session ended (expired, revoked, or signed out): go to the login screen with the
    /// username filled in, remembering the screen to come back to.
    pub(crate) fn signed_out(&mut self, error: Option<String>) {
        let username = self.conn.admin.take().map(|a| a.username);
        if !matches!(self.screen, Screen::Login(_)) {
            self.resume = Some(match &self.screen {
                Screen::Manage(m) => Resume::Manage(m.id),
                Screen::Audit(v) => Resume::Audit(v.app),
                _ => Resume::List,
            });
        }
        self.conn.link = Link::SignedOut;
        self.modal = None;
        self.apps.clear();
        self.visible.clear();
        self.apps_loaded = false;
        let mut form = LoginForm {
            error,
            ..LoginForm::default()
        };
        if let Some(name) = username {
            form.username = Input::new(name);
            form.focus_password = true;
        }
        self.screen = Screen::Login(form);
    }

    /// The heartbeat's answer: the status bar's online/offline follows the server, not the
    /// last request.
    fn on_health(&mut self, result: Result<(), ClientError>) {
        match (result, &self.conn.link) {
            (Ok(()), Link::Unreachable(_)) => {
                self.conn.link = Link::Online;
                self.toast(ToastKind::Info, "The server answers again.");
                if !self.apps_loaded {
                    self.refresh();
                }
            }
            (Err(e), Link::Online) if e.is_unreachable() => {
                let text = sanitize(&e.to_string(), false);
                tracing::warn!(error = %text, "heartbeat: the server does not answer");
                self.conn.link = Link::Unreachable(text.clone());
                self.toast(ToastKind::Error, format!("Lost the server: {text}"));
            }
            _ => {}
        }
    }

    /// Why a list load failed, in words that say what to do.
    fn explain_load_error(&self, e: &ClientError) -> String {
        match e.status() {
            Some(403) => {
                let role = self
                    .conn
                    .admin
                    .as_ref()
                    .map(|a| a.role.label())
                    .unwrap_or("this role");
                format!(
                    "Your role ({role}) has no Developers authority, so you cannot see or manage provisioning apps. \
                     Ask a super admin to give you Developers authority, then press r to retry."
                )
            }
            _ if e.is_unreachable() => format!(
                "Cannot reach the server: {}\nPress r to retry.",
                sanitize(&e.to_string(), false)
            ),
            _ => format!(
                "Could not load the client apps: {}\nPress r to retry.",
                sanitize(&e.to_string(), false)
            ),
        }
    }

    /// Replaces the app list, keeping the selection on the same app where possible.
    pub fn set_apps(&mut self, apps: Vec<ClientApp>) {
        let keep = self.selected_app().map(|a| a.id);
        self.apps = apps.into_iter().map(sanitize_app).collect();
        self.apps_loaded = true;
        self.refilter(keep);
    }

    pub(crate) fn refilter(&mut self, keep: Option<Uuid>) {
        let needle = self.filter.value().to_lowercase();
        let (now, within) = (self.now, self.expiring_within);
        self.visible = self
            .apps
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                needle.is_empty()
                    || a.name.to_lowercase().contains(&needle)
                    || a.client_id.to_lowercase().contains(&needle)
            })
            .filter(|(_, a)| within.is_none_or(|days| super::screens::app_list::expires_within(a, now, days)))
            .map(|(i, _)| i)
            .collect();
        let apps = &self.apps;
        match self.sort {
            SortKey::Created => {}
            // Lower-casing once per app, not once per comparison: 10,000 apps stay instant.
            SortKey::Name => self.visible.sort_by_cached_key(|i| apps[*i].name.to_lowercase()),
            sort => self.visible.sort_by(|x, y| sort.compare(&apps[*x], &apps[*y])),
        }
        self.list.selected = keep
            .and_then(|id| self.visible.iter().position(|i| self.apps[*i].id == id))
            .unwrap_or_else(|| self.list.selected.min(self.visible.len().saturating_sub(1)));
    }

    pub(crate) fn upsert(&mut self, app: ClientApp) {
        let app = sanitize_app(app);
        let keep = self.selected_app().map(|a| a.id);
        match self.apps.iter_mut().find(|a| a.id == app.id) {
            Some(slot) => *slot = app,
            // New apps go last, as the server lists them; `refilter` applies the sort.
            None => self.apps.push(app),
        }
        self.refilter(keep);
    }

    // ---- keys ------------------------------------------------------------------------------

    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Key(key) if key.kind != ratatui::crossterm::event::KeyEventKind::Release => {
                self.on_key(key, event)
            }
            Event::Mouse(m) => {
                use ratatui::crossterm::event::MouseEventKind;
                let action = match m.kind {
                    MouseEventKind::ScrollUp => Action::Up,
                    MouseEventKind::ScrollDown => Action::Down,
                    _ => return,
                };
                if self.modal.is_none() && !self.help {
                    self.screen_move(action);
                }
            }
            _ => {}
        }
    }

    fn on_key(&mut self, key: &KeyEvent, event: &Event) {
        if key.code == KeyCode::Char('z') && key.modifiers.contains(KeyModifiers::CONTROL) {
            // As in a shell, htop or vim, whatever is open: it is all there on `fg`.
            self.suspend = true;
            return;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            // With a secret on screen, Ctrl-C asks once more: quitting would lose it.
            match &mut self.modal {
                Some(Modal::Secret(m)) if !m.acknowledged && !m.quit_asked => {
                    m.quit_asked = true;
                    m.nudged = true;
                }
                _ => self.quit = true,
            }
            return;
        }
        let global = self.keymap.lookup(key, &[Context::Global]);
        if self.too_small.get() {
            // Nothing is visible, so only quitting is safe, and never past an open secret.
            if global == Some(Action::Quit) {
                match &mut self.modal {
                    Some(Modal::Secret(m)) => m.nudged = true,
                    _ => self.quit = true,
                }
            }
            return;
        }
        if self.help {
            let last = self.help_pages.get().saturating_sub(1);
            match global {
                Some(Action::Help | Action::Back) => self.help = false,
                Some(Action::Quit) => self.quit = true,
                Some(Action::Down | Action::PageDown) => self.help_page = (self.help_page + 1).min(last),
                Some(Action::Up | Action::PageUp) => self.help_page = self.help_page.saturating_sub(1),
                Some(Action::Top) => self.help_page = 0,
                Some(Action::Bottom) => self.help_page = last,
                _ => {}
            }
            return;
        }
        if self.modal.is_some() {
            Modal::on_key(self, key, event);
            return;
        }
        if !self.screen.typing(self) && global == Some(Action::Help) {
            self.help = true;
            self.help_page = 0;
            return;
        }
        if !self.screen.typing(self) && global == Some(Action::Logout) {
            if !self.conn.remote {
                self.toast(
                    ToastKind::Info,
                    "The embedded console signs in the local super admin; there is no session to end. q quits.",
                );
            } else if self.conn.link != Link::SignedOut && !self.in_flight(Kind::Logout, None) {
                self.send(Command::Logout);
            }
            return;
        }
        Screen::on_key(self, key, event);
    }

    /// `r`: reload what the current screen shows (and retry a lost connection).
    pub fn refresh(&mut self) {
        if self.conn.link == Link::Connecting || self.conn.link == Link::SignedOut {
            return;
        }
        if self.conn.admin.is_none() {
            self.send(Command::LoadMe);
        }
        match &self.screen {
            Screen::Manage(m) => {
                let id = m.id;
                self.send(Command::LoadApp(id));
                self.send(Command::LoadScimSummary(id));
            }
            Screen::Activity(_) => ActivityView::reload(self),
            Screen::Audit(v) => {
                let app = v.app;
                self.send(Command::LoadAudit(app));
            }
            _ => {
                self.send(Command::LoadApps);
            }
        }
    }

    // ---- replies ---------------------------------------------------------------------------

    /// A reply to request `id`. Each module handles the replies it asked for.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) {
        self.pending.remove(&id);
        match reply {
            Reply::StartFailed(why) => {
                // Nothing is in flight without a connection.
                self.pending.clear();
                self.conn.link = Link::Unreachable(sanitize(&why, false));
                self.toast(ToastKind::Error, why);
            }
            Reply::LoggedIn(result) => LoginForm::on_logged_in(self, result),
            Reply::Me(result) => {
                if let Some(admin) = self.ok(result) {
                    self.conn.admin = Some(sanitize_admin(admin));
                }
            }
            Reply::Apps(result) => {
                match &result {
                    Err(e) => self.apps_error = Some(self.explain_load_error(e)),
                    Ok(_) => self.apps_error = None,
                }
                if let Some(apps) = self.ok(result) {
                    self.set_apps(apps);
                }
            }
            Reply::LoggedOut(result) => {
                let error = result.err().map(|e| {
                    format!(
                        "Signed out here; ending the session on the server failed: {}",
                        sanitize(&e.to_string(), false)
                    )
                });
                self.signed_out(error);
                self.toast(ToastKind::Info, "Signed out.");
            }
            Reply::Health(result) => self.on_health(result),
            Reply::Deleted(app, result) => AppList::on_deleted(self, app, result),
            Reply::Created(result) => AddApp::on_created(self, result),
            Reply::App(app, result) => Manage::on_app(self, app, result),
            Reply::ScimChanged(result) => Manage::on_scim_changed(self, result),
            Reply::TokenRevoked(app, result) => Manage::on_token_revoked(self, app, result),
            Reply::TokenIssued(app, result) => SecretModal::on_token_issued(self, app, result),
            Reply::SecretReissued(app, result) => SecretModal::on_secret_reissued(self, app, result),
            Reply::Copied { message, clears_at } => SecretModal::on_copied(self, message, clears_at),
            Reply::Written(result) => SecretModal::on_written(self, result),
            Reply::ScimUrlCopied(message) => ConnectProvider::on_copied(self, message),
            Reply::TokenTested(result) => SecretModal::on_tested(self, result),
            Reply::Updated(result) => EditApp::on_updated(self, result),
            Reply::Audit(app, result) => AuditView::on_audit(self, app, result),
            Reply::Activity { more, result } => ActivityView::on_activity(self, id, more, result),
            Reply::ScimSummary(app, result) => ActivityView::on_summary(self, app, result),
        }
    }

    /// Answers the newest pending request of the reply's kind, as a server would (tests and
    /// benchmarks drive the app this way; the runtime always knows the id).
    #[doc(hidden)]
    pub fn answer(&mut self, reply: Reply) {
        let kind = reply.kind();
        let id = self
            .pending
            .iter()
            .rev()
            .find(|(_, p)| p.kind == kind)
            .map(|(id, _)| *id)
            .unwrap_or(RequestId::UNSOLICITED);
        self.on_reply(id, reply);
    }

    /// Unwraps a result; an error becomes a toast (and marks the link down if unreachable).
    pub(crate) fn ok<T>(&mut self, result: Result<T, ClientError>) -> Option<T> {
        match result {
            Ok(v) => {
                if matches!(self.conn.link, Link::Unreachable(_)) {
                    self.conn.link = Link::Online;
                    self.toast(ToastKind::Info, "Reconnected to the server.");
                }
                Some(v)
            }
            Err(e) => {
                let text = sanitize(&e.to_string(), false);
                // The toast goes in seconds; the log keeps why (no secret is ever in an error).
                tracing::warn!(error = %text, "request failed");
                if e.is_unreachable() {
                    self.conn.link = Link::Unreachable(text.clone());
                } else if e.status() == Some(401) && self.conn.remote {
                    self.signed_out(Some(text.clone()));
                }
                self.toast(ToastKind::Error, text);
                None
            }
        }
    }
}

pub fn sanitize_app(mut app: ClientApp) -> ClientApp {
    app.name = sanitize(&app.name, false);
    app.description = sanitize(&app.description, true);
    app.client_id = sanitize(&app.client_id, false);
    app.created_by = sanitize(&app.created_by, false);
    app.service_account = app.service_account.map(|s| sanitize(&s, false));
    app.members = app.members.iter().map(|m| sanitize(m, false)).collect();
    app.warnings = app.warnings.iter().map(|w| sanitize(w, false)).collect();
    app.scim_base_url = sanitize(&app.scim_base_url, false);
    app
}

fn sanitize_admin(mut admin: Admin) -> Admin {
    admin.username = sanitize(&admin.username, false);
    admin
}

pub(crate) fn sanitize_event(mut e: AuditEvent) -> AuditEvent {
    e.actor = sanitize(&e.actor, false);
    e.app_name = e.app_name.map(|n| sanitize(&n, false));
    e.detail = e.detail.map(|d| sanitize(&d, false));
    e
}

#[cfg(test)]
mod tests;
