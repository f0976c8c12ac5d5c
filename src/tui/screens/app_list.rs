//! The client app list: filter as you type, sort, show only tokens expiring soon, open, add,
//! delete, audit.

use super::View;
use crate::client::ClientError;
use crate::tui::app::{AddApp, App, Confirm, ConfirmKind, Link, Manage, Modal, ToastKind};
use crate::tui::keymap::{Action, Context};
use crate::tui::screens::Screen;
use crate::tui::text::fit;
use crate::tui::ui::{Theme, Tone, draw_table};
use crate::wire::{ClientApp, TokenState};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use std::cmp::Ordering;
use time::OffsetDateTime;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

/// The list's data (apps, filter, selection) lives in [`App`]: the manage page reads it too.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppList;

/// The list's order; the sort key cycles through them. The first is the server's own order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Oldest first, as the server lists them (new apps appear at the end).
    #[default]
    Created,
    /// By name, ignoring case.
    Name,
    /// Active tokens that expire soonest first; apps without an active token after them.
    Expiry,
    /// The most recently used token first; never-used tokens and apps without one after them.
    LastUse,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Created => SortKey::Name,
            SortKey::Name => SortKey::Expiry,
            SortKey::Expiry => SortKey::LastUse,
            SortKey::LastUse => SortKey::Created,
        }
    }

    /// "sorted oldest first": for the list's title and the toast.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Created => "oldest first",
            SortKey::Name => "by name",
            SortKey::Expiry => "by token expiry",
            SortKey::LastUse => "by last use",
        }
    }

    /// Compares two apps; equal ones keep the server's order (the sort is stable).
    pub fn compare(self, a: &ClientApp, b: &ClientApp) -> Ordering {
        let active_expiry = |app: &ClientApp| {
            app.token
                .as_ref()
                .filter(|t| t.state == TokenState::Active)
                .map(|t| t.expires_at)
        };
        let last_use = |app: &ClientApp| app.token.as_ref().and_then(|t| t.last_used_at);
        match self {
            SortKey::Created => Ordering::Equal,
            SortKey::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            // `None` last: compare "has none" first, then the time.
            SortKey::Expiry => {
                let (x, y) = (active_expiry(a), active_expiry(b));
                x.is_none().cmp(&y.is_none()).then(x.cmp(&y))
            }
            SortKey::LastUse => {
                let (x, y) = (last_use(a), last_use(b));
                x.is_none().cmp(&y.is_none()).then(y.cmp(&x))
            }
        }
    }
}

/// Longest "expiring within N days" filter: a token lives 90 days, so a year covers any use.
pub const MAX_EXPIRING_DAYS: u32 = 365;

/// The "expiring within N days" prompt, while it is open.
#[derive(Debug, Default)]
pub struct ExpiringPrompt {
    pub input: Input,
    /// What was wrong with the last Enter.
    pub error: Option<String>,
}

/// Whether the app has an active token that expires within `days` days of `now`.
pub fn expires_within(app: &ClientApp, now: OffsetDateTime, days: u32) -> bool {
    app.token.as_ref().is_some_and(|t| {
        t.state == TokenState::Active && t.expires_at - now <= time::Duration::days(days.into())
    })
}

/// How close an active token is to expiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expiry {
    Fine,
    /// 14 days or less: amber, marked `!`.
    Soon,
    /// 3 days or less: red, marked `!!`.
    Urgent,
}

/// Days left, rounded up: a token issued a moment ago has 90 days left, not 89.
fn days_left(secs: i64) -> i64 {
    (secs + 86_399).div_euclid(86_400)
}

pub fn expiry(app: &ClientApp, now: OffsetDateTime) -> Expiry {
    match &app.token {
        Some(t) if t.state == TokenState::Active => {
            let days = days_left((t.expires_at - now).whole_seconds());
            if days <= 3 {
                Expiry::Urgent
            } else if days <= 14 {
                Expiry::Soon
            } else {
                Expiry::Fine
            }
        }
        _ => Expiry::Fine,
    }
}

/// "active · 89 d left", "! active · 9 d left", "!! active · 5 h left", "none", "revoked".
/// The text marker carries the warning where colour cannot (NO_COLOR).
pub fn token_cell(app: &ClientApp, now: OffsetDateTime) -> String {
    match &app.token {
        None => "none".into(),
        Some(t) => match t.state {
            TokenState::Active => {
                let secs = (t.expires_at - now).whole_seconds();
                let left = if secs < 86_400 {
                    // The last day counts in hours (rounded up).
                    let hours = (secs.max(0) + 3_599) / 3_600;
                    if hours >= 1 {
                        format!("{hours} h left")
                    } else {
                        "<1 h left".into()
                    }
                } else {
                    format!("{} d left", days_left(secs))
                };
                let marker = match expiry(app, now) {
                    Expiry::Urgent => "!! ",
                    Expiry::Soon => "! ",
                    Expiry::Fine => "",
                };
                format!("{marker}active · {left}")
            }
            s => s.as_str().into(),
        },
    }
}

/// The list's 18-cell column: the marker stands in for "active", so the time left always
/// shows ("!! 5 h left"); the manage page has room for the whole phrase.
pub fn list_token_cell(app: &ClientApp, now: OffsetDateTime) -> String {
    let cell = token_cell(app, now);
    if cell.starts_with('!') {
        cell.replacen("active · ", "", 1)
    } else {
        cell
    }
}

/// "1 day", "14 days".
fn days(n: u32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

impl AppList {
    pub(crate) fn on_deleted(app: &mut App, id: Uuid, result: Result<(), ClientError>) {
        if app.ok(result).is_some() {
            let name = app.app(id).map(|a| a.name.clone()).unwrap_or_default();
            app.apps.retain(|a| a.id != id);
            app.refilter(None);
            app.toast(ToastKind::Info, format!("Deleted {name}."));
        }
    }

    fn on_expiring_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let Some(prompt) = app.expiring_prompt.as_mut() else {
            return;
        };
        match key.code {
            KeyCode::Esc => app.expiring_prompt = None,
            KeyCode::Enter => {
                let text = prompt.input.value().trim().to_owned();
                let days = if text.is_empty() {
                    Some(0)
                } else {
                    text.parse::<u32>().ok()
                };
                match days {
                    Some(0) => {
                        app.expiring_prompt = None;
                        Self::set_expiring(app, None);
                    }
                    Some(n) if n <= MAX_EXPIRING_DAYS => {
                        app.expiring_prompt = None;
                        Self::set_expiring(app, Some(n));
                    }
                    _ => {
                        prompt.error = Some(format!("not a number of days: type 1 to {MAX_EXPIRING_DAYS}"));
                    }
                }
            }
            _ => {
                if let Some(req) = to_input_request(event) {
                    prompt.input.handle(req);
                    prompt.error = None;
                }
            }
        }
    }

    fn set_expiring(app: &mut App, within: Option<u32>) {
        let keep = app.selected_app().map(|a| a.id);
        app.expiring_within = within;
        app.refilter(keep);
        let msg = match within {
            Some(n) => format!("Showing only apps whose token expires within {}.", days(n)),
            None => "Showing every app again.".to_owned(),
        };
        app.toast(ToastKind::Info, msg);
    }

    fn on_filter_key(app: &mut App, key: &KeyEvent, event: &Event) {
        match key.code {
            KeyCode::Esc => {
                app.filtering = false;
                app.filter.reset();
                app.refilter(app.selected_app().map(|a| a.id));
            }
            KeyCode::Enter => app.filtering = false,
            KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown => {
                if let Some(a) = app.keymap.lookup(key, &[Context::Global]) {
                    app.list.apply(a, app.visible.len());
                }
            }
            _ => {
                if let Some(req) = to_input_request(event) {
                    app.filter.handle(req);
                    app.list.selected = 0;
                    app.refilter(None);
                }
            }
        }
    }
}

impl View for AppList {
    fn breadcrumb(&self, _app: &App) -> String {
        "API > ClientApp".into()
    }

    fn typing(&self, app: &App) -> bool {
        app.filtering || app.expiring_prompt.is_some()
    }

    fn hints(&self, app: &App) -> Vec<String> {
        if app.expiring_prompt.is_some() {
            return vec![
                "type a number of days".into(),
                "Enter apply".into(),
                "0 clears".into(),
                "Esc cancel".into(),
            ];
        }
        if app.filtering {
            return vec!["type to filter".into(), "Enter keep".into(), "Esc clear".into()];
        }
        // Sort and the expiry filter come early: at 80 columns the tail is cut.
        app.keymap.hints(&[
            Action::AddApp,
            Action::Open,
            Action::Filter,
            Action::Sort,
            Action::Expiring,
            Action::Help,
            Action::Quit,
            Action::DeleteApp,
            Action::AuditLog,
            Action::CopyClientId,
            Action::Activity,
            Action::Refresh,
        ])
    }

    fn on_move(app: &mut App, action: Action) {
        app.list.apply(action, app.visible.len());
    }

    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        if app.expiring_prompt.is_some() {
            return Self::on_expiring_key(app, key, event);
        }
        if app.filtering {
            return Self::on_filter_key(app, key, event);
        }
        let Some(action) = app.keymap.lookup(key, &[Context::AppList, Context::Global]) else {
            return;
        };
        match action {
            Action::Quit => app.quit = true,
            Action::Back => {
                // One filter at a time: the typed text first, then the expiry filter.
                if !app.filter.value().is_empty() {
                    app.filter.reset();
                    app.refilter(app.selected_app().map(|a| a.id));
                } else if app.expiring_within.is_some() {
                    Self::set_expiring(app, None);
                }
            }
            Action::Refresh => app.refresh(),
            Action::Filter => app.filtering = true,
            Action::Sort => {
                app.sort = app.sort.next();
                app.refilter(app.selected_app().map(|a| a.id));
                app.toast(ToastKind::Info, format!("Sorted {}.", app.sort.label()));
            }
            Action::Expiring => {
                // Opens with the current N, so Enter keeps it and 0 clears it.
                let current = app.expiring_within.map(|n| n.to_string()).unwrap_or_default();
                app.expiring_prompt = Some(ExpiringPrompt {
                    input: Input::new(current),
                    error: None,
                });
            }
            Action::AddApp => {
                if app.conn.link == Link::Online {
                    app.screen = Screen::AddApp(AddApp::default());
                } else {
                    app.toast(ToastKind::Error, "not connected to the server; press r to retry");
                }
            }
            Action::Open => {
                if let Some(id) = app.selected_app().map(|a| a.id) {
                    Manage::open(app, id);
                }
            }
            Action::DeleteApp => {
                let Some(selected) = app.selected_app() else {
                    return;
                };
                if !selected.can_manage {
                    let msg = format!(
                        "You can't delete {}: only members of its app access permission, or a super admin, may.",
                        selected.name
                    );
                    app.toast(ToastKind::Error, msg);
                    return;
                }
                app.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::DeleteApp { id: selected.id },
                    app_name: selected.name.clone(),
                    typed: Some(Input::default()),
                    mismatch: false,
                }));
            }
            Action::AuditLog => super::audit::AuditView::open(app, None),
            Action::CopyClientId => {
                if let Some(id) = app.selected_app().map(|a| a.client_id.clone()) {
                    app.send(crate::tui::app::Command::CopyText(id));
                }
            }
            Action::Activity => super::activity::ActivityView::open(app, None),
            a => {
                app.list.apply(a, app.visible.len());
            }
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        let count = if app.visible.len() == app.apps.len() {
            app.visible.len().to_string()
        } else {
            format!("{} of {}", app.visible.len(), app.apps.len())
        };
        let mut title = format!(" Client apps ({count}) · {} ", app.sort.label());
        if let Some(n) = app.expiring_within {
            title.push_str(&format!("· token expires within {n} d "));
        }
        let mut block = Block::bordered().title(Span::styled(title, theme.title()));
        if let Some(prompt) = &app.expiring_prompt {
            let mut spans = vec![
                Span::styled(" Token expires within: ", theme.key()),
                Span::raw(format!("{}▏ days ", prompt.input.value())),
            ];
            if let Some(why) = &prompt.error {
                spans.push(Span::styled(format!("✖ {why} "), theme.danger()));
            }
            block = block.title_bottom(Line::from(spans));
        } else if app.filtering || !app.filter.value().is_empty() {
            let cursor = if app.filtering { "▏" } else { "" };
            block = block.title_bottom(Line::from(vec![
                Span::styled(" / ", theme.key()),
                Span::raw(format!("{}{cursor} ", app.filter.value())),
            ]));
        }
        let inner = block.inner(body);
        frame.render_widget(block, body);
        if app.visible.is_empty() {
            let msg = if !app.apps_loaded {
                match (&app.apps_error, &app.conn.link) {
                    (Some(why), _) => why.clone(),
                    (None, Link::Unreachable(why)) => {
                        format!("Cannot reach the server: {why}\nPress r to retry.")
                    }
                    _ => "Loading client apps…".into(),
                }
            } else if app.apps.is_empty() {
                format!(
                    "No client apps yet. Press {} to add a provisioning app.",
                    app.keymap.label(Action::AddApp)
                )
            } else if app.filter.value().is_empty()
                && let Some(n) = app.expiring_within
            {
                format!(
                    "No active token expires within {}. {} clears the filter, {} changes it.",
                    days(n),
                    app.keymap.label(Action::Back),
                    app.keymap.label(Action::Expiring)
                )
            } else {
                "No client app matches the filter. Esc clears it.".into()
            };
            frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), inner);
            return;
        }
        let wide = inner.width >= 110;
        let type_w = if wide { 23 } else { 12 };
        let widths = [2, 0, type_w, 20, 4, 18];
        let fixed: u16 = widths.iter().sum::<u16>() + 5;
        let name_w = inner.width.saturating_sub(fixed).max(8) as usize;
        let cols = |marker: &str, name: &str, ty: &str, id: &str, scim: &str, token: &str| {
            format!(
                "{}{} {} {} {} {}",
                fit(marker, 2),
                fit(name, name_w),
                fit(ty, type_w as usize),
                fit(id, 20),
                fit(scim, 4),
                fit(token, 18)
            )
        };
        let header = cols("", "App name", "Type", "Client ID", "SCIM", "Dedicated Token");
        let rows_area = draw_table(
            frame,
            inner,
            theme,
            header,
            &app.list,
            &app.visible,
            |idx, marker| {
                let a = &app.apps[*idx];
                let ty = if wide { a.app_type.label() } else { "Provisioning" };
                let lock = if a.can_manage { "" } else { " 🔒" };
                let text = cols(
                    marker,
                    &format!("{}{lock}", a.name),
                    ty,
                    &a.client_id,
                    if a.scim_enabled { "on" } else { "off" },
                    &list_token_cell(a, app.now),
                );
                let tone = match expiry(a, app.now) {
                    Expiry::Urgent => Tone::Danger,
                    Expiry::Soon => Tone::Warn,
                    Expiry::Fine => Tone::Plain,
                };
                (text, tone)
            },
        );
        if app.modal.is_none() && !app.help {
            // The painter scrolls these rows with the terminal's own scroll region.
            app.list_rows.set(Some((rows_area.y, rows_area.bottom())));
        }
    }
}
