//! The console's state and how keys and server replies change it. No terminal and no network
//! here: keys produce [`Command`]s that the runtime runs off the UI task, and their results come
//! back as [`Reply`]s. That keeps every screen testable with a `TestBackend`.

use super::keymap::{Action, Context, Keymap};
use super::text::sanitize;
use crate::client::ClientError;
use crate::validate;
use crate::wire::{Admin, AppCreated, AuditEvent, ClientApp, ClientSecretIssued, IssuedToken, ScimChanged};
use crate::wire::{DedicatedToken, TokenState};
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use secrecy::SecretString;
use std::cell::Cell;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
const TOAST_INFO: Duration = Duration::from_secs(5);
const TOAST_ERROR: Duration = Duration::from_secs(10);

/// Work for the runtime: each becomes one spawned task making one or two client calls.
#[derive(Debug)]
pub enum Command {
    Login {
        username: String,
        password: SecretString,
    },
    LoadMe,
    LoadApps,
    LoadApp(Uuid),
    CreateApp {
        name: String,
        description: String,
    },
    UpdateApp {
        id: Uuid,
        name: String,
        description: String,
    },
    DeleteApp(Uuid),
    SetMembers {
        id: Uuid,
        members: Vec<String>,
    },
    ReissueSecret(Uuid),
    SetScim {
        id: Uuid,
        enabled: bool,
    },
    IssueToken(Uuid),
    RevokeToken(Uuid),
    LoadAudit(Option<Uuid>),
    /// Copy the open secret modal's secret; the runtime owns the clipboard and the terminal.
    CopySecret,
    TestToken(SecretString),
}

impl Command {
    /// What the spinner says while this runs.
    pub fn label(&self) -> &'static str {
        match self {
            Command::Login { .. } => "signing in",
            Command::LoadMe | Command::LoadApps | Command::LoadApp(_) => "loading",
            Command::CreateApp { .. } => "creating the app",
            Command::UpdateApp { .. } | Command::SetMembers { .. } => "saving",
            Command::DeleteApp(_) => "deleting",
            Command::ReissueSecret(_) => "reissuing the client secret",
            Command::SetScim { .. } => "switching SCIM",
            Command::IssueToken(_) => "issuing the token",
            Command::RevokeToken(_) => "revoking the token",
            Command::LoadAudit(_) => "loading the audit log",
            Command::CopySecret => "copying",
            Command::TestToken(_) => "testing the token",
        }
    }
}

/// Results of commands, as they come back from the tasks.
#[derive(Debug)]
pub enum Reply {
    LoggedIn(Result<Admin, ClientError>),
    Me(Result<Admin, ClientError>),
    Apps(Result<Vec<ClientApp>, ClientError>),
    App(Uuid, Result<ClientApp, ClientError>),
    Created(Result<AppCreated, ClientError>),
    Updated(Result<ClientApp, ClientError>),
    Deleted(Uuid, Result<(), ClientError>),
    SecretReissued(Uuid, Result<ClientSecretIssued, ClientError>),
    ScimChanged(Result<ScimChanged, ClientError>),
    TokenIssued(Uuid, Result<IssuedToken, ClientError>),
    TokenRevoked(Uuid, Result<(), ClientError>),
    Audit(Option<Uuid>, Result<Vec<AuditEvent>, ClientError>),
    Copied(String),
    TokenTested(Result<(u16, String), ClientError>),
    /// The embedded server could not start, or the connection could not be set up.
    StartFailed(String),
}

impl Reply {
    fn label(&self) -> &'static str {
        match self {
            Reply::LoggedIn(_) => "signing in",
            Reply::Me(_) | Reply::Apps(_) | Reply::App(..) => "loading",
            Reply::Created(_) => "creating the app",
            Reply::Updated(_) => "saving",
            Reply::Deleted(..) => "deleting",
            Reply::SecretReissued(..) => "reissuing the client secret",
            Reply::ScimChanged(_) => "switching SCIM",
            Reply::TokenIssued(..) => "issuing the token",
            Reply::TokenRevoked(..) => "revoking the token",
            Reply::Audit(..) => "loading the audit log",
            Reply::Copied(_) => "copying",
            Reply::TokenTested(_) => "testing the token",
            Reply::StartFailed(_) => "starting",
        }
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Description,
}

#[derive(Debug, Default)]
pub struct AppForm {
    pub name: Input,
    pub description: Input,
    pub focus_description: bool,
    /// Set after a submit attempt, so an empty name is flagged only then.
    pub tried: bool,
    pub busy: bool,
}

impl AppForm {
    pub fn name_error(&self) -> Option<String> {
        match validate::app_name(self.name.value()) {
            Err(validate::TextError::Empty) if !self.tried => None,
            Err(e) => Some(format!("App name {e}")),
            Ok(_) => None,
        }
    }

    pub fn description_error(&self) -> Option<String> {
        validate::app_description(self.description.value())
            .err()
            .map(|e| format!("Description {e}"))
    }

    fn focused(&mut self) -> &mut Input {
        if self.focus_description {
            &mut self.description
        } else {
            &mut self.name
        }
    }
}

#[derive(Debug)]
pub struct LoginForm {
    pub username: Input,
    /// Zeroized on drop and when sent.
    pub password: Zeroizing<String>,
    pub focus_password: bool,
    pub error: Option<String>,
    pub busy: bool,
}

impl Default for LoginForm {
    fn default() -> Self {
        LoginForm {
            username: Input::default(),
            // Reserved up front so typing never reallocates and leaves copies behind.
            password: Zeroizing::new(String::with_capacity(256)),
            focus_password: false,
            error: None,
            busy: false,
        }
    }
}

#[derive(Debug)]
pub enum Screen {
    Login(LoginForm),
    AppList,
    AddApp(AppForm),
    Manage(Uuid),
    Audit { app: Option<Uuid> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    DedicatedToken,
    ClientSecret,
}

/// The one-time modal. The secret lives only here and is zeroized when the modal is dropped.
#[derive(Debug)]
pub struct SecretModal {
    pub kind: SecretKind,
    pub app_id: Uuid,
    pub app_name: String,
    pub client_id: String,
    pub secret: SecretString,
    pub expires_at: Option<OffsetDateTime>,
    pub acknowledged: bool,
    /// The user tried to leave without acknowledging.
    pub nudged: bool,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    DeleteApp {
        id: Uuid,
    },
    RevokeToken {
        id: Uuid,
    },
    SetScim {
        id: Uuid,
        enable: bool,
        revokes_token: bool,
    },
    ReissueSecret {
        id: Uuid,
    },
}

#[derive(Debug)]
pub struct Confirm {
    pub kind: ConfirmKind,
    pub app_name: String,
    /// For dangerous actions: the user types the app name.
    pub typed: Option<Input>,
    /// Enter was pressed with a name that does not match.
    pub mismatch: bool,
}

impl Confirm {
    pub fn typed_matches(&self) -> bool {
        self.typed.as_ref().is_none_or(|t| t.value() == self.app_name)
    }
}

#[derive(Debug)]
pub enum Modal {
    Secret(Box<SecretModal>),
    Confirm(Confirm),
    EditApp { id: Uuid, form: AppForm },
    Members { id: Uuid, input: Input, busy: bool },
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
    fn apply(&mut self, action: Action, len: usize) -> bool {
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
    pub conn: Connection,
    pub screen: Screen,
    /// Sanitised on arrival.
    pub apps: Vec<ClientApp>,
    pub apps_loaded: bool,
    pub filter: Input,
    pub filtering: bool,
    /// Indexes into `apps` that match the filter.
    pub visible: Vec<usize>,
    pub list: ListView,
    pub audit: Vec<AuditEvent>,
    pub audit_loaded: bool,
    pub audit_list: ListView,
    pub modal: Option<Modal>,
    pub help: bool,
    pub toast: Option<Toast>,
    pub busy: Vec<&'static str>,
    pub spinner: usize,
    pub now: OffsetDateTime,
    pub quit: bool,
    /// The next draw must repaint every cell (a secret was on screen).
    pub clear_screen: bool,
    /// The last drawn size was below 80×24.
    pub too_small: Cell<bool>,
    /// Rows `[top, bottom)` of the app list's scrolling rows in the last frame, if it showed them.
    pub list_rows: Cell<Option<(u16, u16)>>,
    commands: Vec<Command>,
}

impl App {
    pub fn new(keymap: Keymap, conn: Connection, color: bool) -> App {
        let screen = if conn.link == Link::SignedOut {
            Screen::Login(LoginForm::default())
        } else {
            Screen::AppList
        };
        App {
            keymap,
            color,
            conn,
            screen,
            apps: Vec::new(),
            apps_loaded: false,
            filter: Input::default(),
            filtering: false,
            visible: Vec::new(),
            list: ListView::default(),
            audit: Vec::new(),
            audit_loaded: false,
            audit_list: ListView::default(),
            modal: None,
            help: false,
            toast: None,
            busy: Vec::new(),
            spinner: 0,
            now: OffsetDateTime::now_utc(),
            quit: false,
            clear_screen: false,
            too_small: Cell::new(false),
            list_rows: Cell::new(None),
            commands: Vec::new(),
        }
    }

    /// Commands queued since the last call; the runtime spawns them.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    fn send(&mut self, command: Command) {
        self.busy.push(command.label());
        self.commands.push(command);
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
        if !self.busy.is_empty() {
            self.spinner = self.spinner.wrapping_add(1);
            changed = true;
        }
        if self.toast.as_ref().is_some_and(|t| now >= t.until) {
            self.toast = None;
            changed = true;
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
        if matches!(self.screen, Screen::Login(_)) {
            self.screen = Screen::AppList;
        }
        self.send(Command::LoadApps);
    }

    /// Replaces the app list, keeping the selection on the same app where possible.
    pub fn set_apps(&mut self, apps: Vec<ClientApp>) {
        let keep = self.selected_app().map(|a| a.id);
        self.apps = apps.into_iter().map(sanitize_app).collect();
        self.apps_loaded = true;
        self.refilter(keep);
    }

    fn refilter(&mut self, keep: Option<Uuid>) {
        let needle = self.filter.value().to_lowercase();
        self.visible = self
            .apps
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                needle.is_empty()
                    || a.name.to_lowercase().contains(&needle)
                    || a.client_id.to_lowercase().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect();
        self.list.selected = keep
            .and_then(|id| self.visible.iter().position(|i| self.apps[*i].id == id))
            .unwrap_or_else(|| self.list.selected.min(self.visible.len().saturating_sub(1)));
    }

    fn upsert(&mut self, app: ClientApp) {
        let app = sanitize_app(app);
        let keep = self.selected_app().map(|a| a.id);
        match self.apps.iter_mut().find(|a| a.id == app.id) {
            Some(slot) => *slot = app,
            None => {
                self.apps.push(app);
                self.apps.sort_by_key(|a| a.name.to_lowercase());
            }
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
                    self.move_in_screen(action);
                }
            }
            _ => {}
        }
    }

    fn on_key(&mut self, key: &KeyEvent, event: &Event) {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return;
        }
        let global = self.keymap.lookup(key, &[Context::Global]);
        if self.too_small.get() {
            // Nothing is visible, so only quitting is safe.
            if global == Some(Action::Quit) {
                self.quit = true;
            }
            return;
        }
        if self.help {
            match global {
                Some(Action::Help | Action::Back) => self.help = false,
                Some(Action::Quit) => self.quit = true,
                _ => {}
            }
            return;
        }
        if self.modal.is_some() {
            self.on_modal_key(key, event);
            return;
        }
        let typing = self.filtering || matches!(self.screen, Screen::Login(_) | Screen::AddApp(_));
        if !typing && global == Some(Action::Help) {
            self.help = true;
            return;
        }
        match &self.screen {
            Screen::Login(_) => self.on_login_key(key, event),
            Screen::AppList => self.on_list_key(key, event),
            Screen::AddApp(_) => self.on_add_key(key, event),
            Screen::Manage(id) => {
                let id = *id;
                self.on_manage_key(key, id)
            }
            Screen::Audit { app } => {
                let app = *app;
                match global {
                    Some(Action::Quit) => self.quit = true,
                    Some(Action::Back) => {
                        self.screen = match app {
                            Some(id) => Screen::Manage(id),
                            None => Screen::AppList,
                        }
                    }
                    Some(Action::Refresh) => self.send(Command::LoadAudit(app)),
                    Some(a) => {
                        let len = self.audit.len();
                        self.audit_list.apply(a, len);
                    }
                    None => {}
                }
            }
        }
    }

    fn move_in_screen(&mut self, action: Action) {
        match self.screen {
            Screen::AppList => {
                self.list.apply(action, self.visible.len());
            }
            Screen::Audit { .. } => {
                self.audit_list.apply(action, self.audit.len());
            }
            _ => {}
        }
    }

    fn on_login_key(&mut self, key: &KeyEvent, event: &Event) {
        let Screen::Login(form) = &mut self.screen else {
            return;
        };
        if form.busy {
            return;
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                form.focus_password = !form.focus_password
            }
            KeyCode::Enter if !form.focus_password => form.focus_password = true,
            KeyCode::Enter => {
                let username = form.username.value().trim().to_owned();
                if username.is_empty() || form.password.is_empty() {
                    form.error = Some("enter a username and a password".into());
                    return;
                }
                let password = SecretString::from(form.password.as_str().to_owned());
                form.password.zeroize();
                form.busy = true;
                form.error = None;
                self.send(Command::Login { username, password });
            }
            KeyCode::Esc => self.quit = true,
            _ if form.focus_password => match key.code {
                KeyCode::Char(c)
                    if !key.modifiers.contains(KeyModifiers::CONTROL)
                        && form.password.len() + c.len_utf8() <= form.password.capacity() =>
                {
                    form.password.push(c)
                }
                KeyCode::Backspace => {
                    form.password.pop();
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    form.password.zeroize()
                }
                _ => {}
            },
            _ => {
                if let Some(req) = to_input_request(event) {
                    form.username.handle(req);
                }
            }
        }
    }

    fn on_list_key(&mut self, key: &KeyEvent, event: &Event) {
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.reset();
                    self.refilter(self.selected_app().map(|a| a.id));
                }
                KeyCode::Enter => self.filtering = false,
                KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown => {
                    if let Some(a) = self.keymap.lookup(key, &[Context::Global]) {
                        self.list.apply(a, self.visible.len());
                    }
                }
                _ => {
                    if let Some(req) = to_input_request(event) {
                        self.filter.handle(req);
                        self.list.selected = 0;
                        self.refilter(None);
                    }
                }
            }
            return;
        }
        let Some(action) = self.keymap.lookup(key, &[Context::AppList, Context::Global]) else {
            return;
        };
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                if !self.filter.value().is_empty() {
                    self.filter.reset();
                    self.refilter(self.selected_app().map(|a| a.id));
                }
            }
            Action::Refresh => self.refresh(),
            Action::Filter => self.filtering = true,
            Action::AddApp => {
                if self.conn.link == Link::Online {
                    self.screen = Screen::AddApp(AppForm::default());
                } else {
                    self.toast(ToastKind::Error, "not connected to the server; press r to retry");
                }
            }
            Action::Open => {
                if let Some(id) = self.selected_app().map(|a| a.id) {
                    self.screen = Screen::Manage(id);
                    self.send(Command::LoadApp(id));
                }
            }
            Action::DeleteApp => {
                let Some(app) = self.selected_app() else { return };
                if !app.can_manage {
                    let msg = format!(
                        "You can't delete {}: only members of its app access permission, or a super admin, may.",
                        app.name
                    );
                    self.toast(ToastKind::Error, msg);
                    return;
                }
                self.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::DeleteApp { id: app.id },
                    app_name: app.name.clone(),
                    typed: Some(Input::default()),
                    mismatch: false,
                }));
            }
            Action::AuditLog => self.open_audit(None),
            a => {
                self.list.apply(a, self.visible.len());
            }
        }
    }

    fn open_audit(&mut self, app: Option<Uuid>) {
        self.screen = Screen::Audit { app };
        self.audit.clear();
        self.audit_loaded = false;
        self.audit_list = ListView::default();
        self.send(Command::LoadAudit(app));
    }

    /// `r`: reload what the current screen shows (and retry a lost connection).
    pub fn refresh(&mut self) {
        if self.conn.link == Link::Connecting || self.conn.link == Link::SignedOut {
            return;
        }
        if self.conn.admin.is_none() {
            self.send(Command::LoadMe);
        }
        match self.screen {
            Screen::Manage(id) => self.send(Command::LoadApp(id)),
            Screen::Audit { app } => self.send(Command::LoadAudit(app)),
            _ => self.send(Command::LoadApps),
        }
    }

    fn on_add_key(&mut self, key: &KeyEvent, event: &Event) {
        let Screen::AddApp(form) = &mut self.screen else {
            return;
        };
        match edit_form(form, key, event) {
            FormStep::Cancel => self.screen = Screen::AppList,
            FormStep::Submit(name, description) => {
                form.busy = true;
                self.send(Command::CreateApp { name, description });
            }
            FormStep::Continue => {}
        }
    }

    fn on_manage_key(&mut self, key: &KeyEvent, id: Uuid) {
        let Some(action) = self
            .keymap
            .lookup(key, &[Context::ManageApp, Context::Global])
            .or_else(|| {
                (self.keymap.lookup(key, &[Context::AppList]) == Some(Action::AuditLog))
                    .then_some(Action::AuditLog)
            })
        else {
            return;
        };
        let Some(app) = self.app(id).cloned() else {
            if action == Action::Back {
                self.screen = Screen::AppList;
            } else if action == Action::Quit {
                self.quit = true;
            }
            return;
        };
        let manage_refusal = || {
            format!(
                "You can view {} but not change it: only members of its app access permission, or a super admin, may.",
                app.name
            )
        };
        let changes = matches!(
            action,
            Action::Edit
                | Action::EditMembers
                | Action::ReissueSecret
                | Action::ToggleScim
                | Action::IssueToken
                | Action::RevokeToken
        );
        if changes && !app.can_manage {
            self.toast(ToastKind::Error, manage_refusal());
            return;
        }
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                self.screen = Screen::AppList;
                // Come back to the app just managed (it may have been created a moment ago).
                if let Some(pos) = self.visible.iter().position(|i| self.apps[*i].id == id) {
                    self.list.selected = pos;
                }
            }
            Action::Refresh => self.refresh(),
            Action::AuditLog => self.open_audit(Some(id)),
            Action::Edit => {
                self.modal = Some(Modal::EditApp {
                    id,
                    form: AppForm {
                        name: Input::new(app.name.clone()),
                        description: Input::new(app.description.clone()),
                        ..AppForm::default()
                    },
                })
            }
            Action::EditMembers => {
                self.modal = Some(Modal::Members {
                    id,
                    input: Input::new(app.members.join(", ")),
                    busy: false,
                })
            }
            Action::ReissueSecret => {
                self.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::ReissueSecret { id },
                    app_name: app.name.clone(),
                    typed: None,
                    mismatch: false,
                }))
            }
            Action::ToggleScim => {
                let revokes_token = app.scim_enabled && token_active(app.token.as_ref());
                self.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::SetScim {
                        id,
                        enable: !app.scim_enabled,
                        revokes_token,
                    },
                    app_name: app.name.clone(),
                    typed: None,
                    mismatch: false,
                }))
            }
            Action::IssueToken => match issue_blocked(&app) {
                Some(why) => self.toast(ToastKind::Error, format!("Cannot issue a token: {why}")),
                None => self.send(Command::IssueToken(id)),
            },
            Action::RevokeToken => {
                if token_active(app.token.as_ref()) {
                    self.modal = Some(Modal::Confirm(Confirm {
                        kind: ConfirmKind::RevokeToken { id },
                        app_name: app.name.clone(),
                        typed: Some(Input::default()),
                        mismatch: false,
                    }))
                } else {
                    self.toast(ToastKind::Error, "This app has no active token to revoke.")
                }
            }
            _ => {}
        }
    }

    fn on_modal_key(&mut self, key: &KeyEvent, event: &Event) {
        let Some(modal) = self.modal.as_mut() else { return };
        match modal {
            Modal::Secret(m) => {
                let action = self.keymap.lookup(key, &[Context::SecretModal, Context::Global]);
                match (action, key.code) {
                    (Some(Action::Copy), _) => self.send(Command::CopySecret),
                    (Some(Action::TestToken), _) if m.kind == SecretKind::DedicatedToken => {
                        let secret = m.secret.clone();
                        m.status = Some("testing the token with one SCIM request…".into());
                        self.send(Command::TestToken(secret));
                    }
                    (Some(Action::Acknowledge), _) => {
                        m.acknowledged = !m.acknowledged;
                        m.nudged = false;
                    }
                    (_, KeyCode::Enter) if m.acknowledged => self.close_secret(),
                    (_, KeyCode::Enter) | (Some(Action::Back | Action::Quit), _) => m.nudged = true,
                    _ => {}
                }
            }
            Modal::Confirm(c) => {
                let confirmed = match &mut c.typed {
                    Some(input) => match key.code {
                        KeyCode::Esc => {
                            self.modal = None;
                            return;
                        }
                        KeyCode::Enter => {
                            c.mismatch = input.value() != c.app_name;
                            !c.mismatch
                        }
                        _ => {
                            if let Some(req) = to_input_request(event) {
                                input.handle(req);
                                c.mismatch = false;
                            }
                            false
                        }
                    },
                    None => match key.code {
                        KeyCode::Char('y') | KeyCode::Char('Y') => true,
                        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                            self.modal = None;
                            return;
                        }
                        _ => false,
                    },
                };
                if confirmed {
                    let kind = c.kind.clone();
                    self.modal = None;
                    self.send(match kind {
                        ConfirmKind::DeleteApp { id } => Command::DeleteApp(id),
                        ConfirmKind::RevokeToken { id } => Command::RevokeToken(id),
                        ConfirmKind::SetScim { id, enable, .. } => Command::SetScim { id, enabled: enable },
                        ConfirmKind::ReissueSecret { id } => Command::ReissueSecret(id),
                    });
                }
            }
            Modal::EditApp { id, form } => {
                let id = *id;
                if form.busy {
                    return;
                }
                match edit_form(form, key, event) {
                    FormStep::Cancel => self.modal = None,
                    FormStep::Submit(name, description) => {
                        form.busy = true;
                        self.send(Command::UpdateApp {
                            id,
                            name,
                            description,
                        });
                    }
                    FormStep::Continue => {}
                }
            }
            Modal::Members { id, input, busy } => {
                let id = *id;
                if *busy {
                    return;
                }
                match key.code {
                    KeyCode::Esc => self.modal = None,
                    KeyCode::Enter => {
                        let members: Vec<String> = input
                            .value()
                            .split([',', ' '])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                        *busy = true;
                        self.send(Command::SetMembers { id, members });
                    }
                    _ => {
                        if let Some(req) = to_input_request(event) {
                            input.handle(req);
                        }
                    }
                }
            }
        }
    }

    /// Drops the secret (zeroizing it) and asks for a full repaint.
    fn close_secret(&mut self) {
        let Some(Modal::Secret(m)) = self.modal.take() else {
            return;
        };
        let (kind, id) = (m.kind, m.app_id);
        drop(m);
        self.clear_screen = true;
        let what = match kind {
            SecretKind::DedicatedToken => "token",
            SecretKind::ClientSecret => "client secret",
        };
        self.toast(
            ToastKind::Info,
            format!("The {what} was closed and cleared from memory."),
        );
        if self.app(id).is_some() {
            self.send(Command::LoadApp(id));
        }
    }

    // ---- replies ---------------------------------------------------------------------------

    pub fn on_reply(&mut self, reply: Reply) {
        if let Some(i) = self.busy.iter().position(|l| *l == reply.label()) {
            self.busy.remove(i);
        }
        match reply {
            Reply::StartFailed(why) => {
                // Nothing is in flight without a connection.
                self.busy.clear();
                self.conn.link = Link::Unreachable(sanitize(&why, false));
                self.toast(ToastKind::Error, why);
            }
            Reply::LoggedIn(result) => match result {
                Ok(admin) => self.connected(Some(admin)),
                Err(e) => {
                    let text = sanitize(&e.to_string(), false);
                    if let Screen::Login(form) = &mut self.screen {
                        form.busy = false;
                        form.error = Some(text);
                    }
                }
            },
            Reply::Me(result) => {
                if let Some(admin) = self.ok(result) {
                    self.conn.admin = Some(sanitize_admin(admin));
                }
            }
            Reply::Apps(result) => {
                if let Some(apps) = self.ok(result) {
                    self.set_apps(apps);
                }
            }
            Reply::App(id, result) => match result {
                Err(ClientError::Api { status: 404, .. }) => {
                    self.apps.retain(|a| a.id != id);
                    self.refilter(None);
                    if matches!(self.screen, Screen::Manage(x) if x == id) {
                        self.screen = Screen::AppList;
                    }
                    self.toast(ToastKind::Error, "That client app no longer exists.");
                }
                other => {
                    if let Some(app) = self.ok(other) {
                        self.upsert(app);
                    }
                }
            },
            Reply::Created(result) => {
                if let Screen::AddApp(form) = &mut self.screen {
                    form.busy = false;
                }
                if let Some(created) = self.ok(result) {
                    let AppCreated { app, client_secret } = created;
                    let app = sanitize_app(app);
                    let id = app.id;
                    self.modal = Some(Modal::Secret(Box::new(SecretModal {
                        kind: SecretKind::ClientSecret,
                        app_id: id,
                        app_name: app.name.clone(),
                        client_id: app.client_id.clone(),
                        secret: client_secret,
                        expires_at: None,
                        acknowledged: false,
                        nudged: false,
                        status: None,
                    })));
                    self.upsert(app);
                    self.screen = Screen::Manage(id);
                }
            }
            Reply::Updated(result) => {
                if let Some(Modal::EditApp { form, .. }) = &mut self.modal {
                    form.busy = false;
                }
                if let Some(Modal::Members { busy, .. }) = &mut self.modal {
                    *busy = false;
                }
                if let Some(app) = self.ok(result) {
                    self.modal = None;
                    self.toast(ToastKind::Info, "Saved.");
                    self.upsert(app);
                }
            }
            Reply::Deleted(id, result) => {
                if self.ok(result).is_some() {
                    let name = self.app(id).map(|a| a.name.clone()).unwrap_or_default();
                    self.apps.retain(|a| a.id != id);
                    self.refilter(None);
                    self.toast(ToastKind::Info, format!("Deleted {name}."));
                }
            }
            Reply::SecretReissued(id, result) => {
                if let Some(issued) = self.ok(result) {
                    let name = self.app(id).map(|a| a.name.clone()).unwrap_or_default();
                    self.modal = Some(Modal::Secret(Box::new(SecretModal {
                        kind: SecretKind::ClientSecret,
                        app_id: id,
                        app_name: name,
                        client_id: sanitize(&issued.client_id, false),
                        secret: issued.client_secret,
                        expires_at: None,
                        acknowledged: false,
                        nudged: false,
                        status: None,
                    })));
                }
            }
            Reply::ScimChanged(result) => {
                if let Some(changed) = self.ok(result) {
                    let on = changed.app.scim_enabled;
                    let msg = match (on, changed.revoked_token_id) {
                        (true, _) => "SCIM is enabled. You can now issue a Dedicated Token (i).".to_owned(),
                        (false, Some(_)) => "SCIM is disabled and the active token was revoked.".to_owned(),
                        (false, None) => "SCIM is disabled.".to_owned(),
                    };
                    self.toast(ToastKind::Info, msg);
                    self.upsert(changed.app);
                }
            }
            Reply::TokenIssued(id, result) => {
                if let Some(issued) = self.ok(result) {
                    let (name, client_id) = self
                        .app(id)
                        .map(|a| (a.name.clone(), a.client_id.clone()))
                        .unwrap_or_default();
                    self.modal = Some(Modal::Secret(Box::new(SecretModal {
                        kind: SecretKind::DedicatedToken,
                        app_id: id,
                        app_name: name,
                        client_id,
                        secret: issued.token,
                        expires_at: Some(issued.expires_at),
                        acknowledged: false,
                        nudged: false,
                        status: None,
                    })));
                    self.send(Command::LoadApp(id));
                }
            }
            Reply::TokenRevoked(id, result) => {
                if self.ok(result).is_some() {
                    self.toast(
                        ToastKind::Info,
                        "The token was revoked. You can issue a new one (i).",
                    );
                    self.send(Command::LoadApp(id));
                }
            }
            Reply::Audit(app, result) => {
                if let Some(events) = self.ok(result)
                    && matches!(self.screen, Screen::Audit { app: a } if a == app)
                {
                    self.audit = events.into_iter().map(sanitize_event).collect();
                    self.audit_loaded = true;
                }
            }
            Reply::Copied(message) => {
                if let Some(Modal::Secret(m)) = &mut self.modal {
                    m.status = Some(message);
                }
            }
            Reply::TokenTested(result) => {
                let text = match result {
                    Ok((status, summary)) => format!("HTTP {status}: {}", sanitize(&summary, false)),
                    Err(e) => format!("test failed: {}", sanitize(&e.to_string(), false)),
                };
                if let Some(Modal::Secret(m)) = &mut self.modal {
                    m.status = Some(text);
                }
            }
        }
    }

    /// Unwraps a result; an error becomes a toast (and marks the link down if unreachable).
    fn ok<T>(&mut self, result: Result<T, ClientError>) -> Option<T> {
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
                if e.is_unreachable() {
                    self.conn.link = Link::Unreachable(text.clone());
                } else if e.status() == Some(401) && self.conn.remote {
                    self.conn.link = Link::SignedOut;
                    self.conn.admin = None;
                    self.modal = None;
                    self.screen = Screen::Login(LoginForm {
                        error: Some(text.clone()),
                        ..LoginForm::default()
                    });
                }
                self.toast(ToastKind::Error, text);
                None
            }
        }
    }
}

enum FormStep {
    Continue,
    Cancel,
    Submit(String, String),
}

fn edit_form(form: &mut AppForm, key: &KeyEvent, event: &Event) -> FormStep {
    if form.busy {
        return FormStep::Continue;
    }
    match key.code {
        KeyCode::Esc => FormStep::Cancel,
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
            form.focus_description = !form.focus_description;
            FormStep::Continue
        }
        KeyCode::Enter => {
            form.tried = true;
            match (
                validate::app_name(form.name.value()),
                validate::app_description(form.description.value()),
            ) {
                (Ok(name), Ok(description)) => FormStep::Submit(name, description),
                (Err(_), _) => {
                    form.focus_description = false;
                    FormStep::Continue
                }
                (_, Err(_)) => {
                    form.focus_description = true;
                    FormStep::Continue
                }
            }
        }
        _ => {
            if let Some(req) = to_input_request(event) {
                form.focused().handle(req);
            }
            FormStep::Continue
        }
    }
}

pub fn token_active(token: Option<&DedicatedToken>) -> bool {
    token.is_some_and(|t| t.state == TokenState::Active)
}

/// Why `i` is disabled for this app, if it is.
pub fn issue_blocked(app: &ClientApp) -> Option<&'static str> {
    if !app.can_manage {
        Some("you are not a member of this app's access permission")
    } else if !app.scim_enabled {
        Some("SCIM is off; switch Enable SCIM on first (s)")
    } else if token_active(app.token.as_ref()) {
        Some("a token is already active; revoke it first (R)")
    } else {
        None
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
    app
}

fn sanitize_admin(mut admin: Admin) -> Admin {
    admin.username = sanitize(&admin.username, false);
    admin
}

fn sanitize_event(mut e: AuditEvent) -> AuditEvent {
    e.actor = sanitize(&e.actor, false);
    e.app_name = e.app_name.map(|n| sanitize(&n, false));
    e.detail = e.detail.map(|d| sanitize(&d, false));
    e
}

#[cfg(test)]
mod tests;
