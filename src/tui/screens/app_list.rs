//! The client app list: filter as you type, open, add, delete, audit.

use super::View;
use crate::client::ClientError;
use crate::tui::app::{AddApp, App, Confirm, ConfirmKind, Link, Manage, Modal, ToastKind};
use crate::tui::keymap::{Action, Context};
use crate::tui::screens::Screen;
use crate::tui::text::fit;
use crate::tui::ui::{MARKER, Theme, table_header};
use crate::wire::{ClientApp, TokenState};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use time::OffsetDateTime;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

/// The list's data (apps, filter, selection) lives in [`App`]: the manage page reads it too.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppList;

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

impl AppList {
    pub(crate) fn on_deleted(app: &mut App, id: Uuid, result: Result<(), ClientError>) {
        if app.ok(result).is_some() {
            let name = app.app(id).map(|a| a.name.clone()).unwrap_or_default();
            app.apps.retain(|a| a.id != id);
            app.refilter(None);
            app.toast(ToastKind::Info, format!("Deleted {name}."));
        }
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
        app.filtering
    }

    fn hints(&self, app: &App) -> Vec<String> {
        if app.filtering {
            return vec!["type to filter".into(), "Enter keep".into(), "Esc clear".into()];
        }
        app.keymap.hints(&[
            Action::AddApp,
            Action::Open,
            Action::Filter,
            Action::DeleteApp,
            Action::AuditLog,
            Action::CopyClientId,
            Action::Activity,
            Action::Refresh,
            Action::Help,
            Action::Quit,
        ])
    }

    fn on_move(app: &mut App, action: Action) {
        app.list.apply(action, app.visible.len());
    }

    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        if app.filtering {
            return Self::on_filter_key(app, key, event);
        }
        let Some(action) = app.keymap.lookup(key, &[Context::AppList, Context::Global]) else {
            return;
        };
        match action {
            Action::Quit => app.quit = true,
            Action::Back => {
                if !app.filter.value().is_empty() {
                    app.filter.reset();
                    app.refilter(app.selected_app().map(|a| a.id));
                }
            }
            Action::Refresh => app.refresh(),
            Action::Filter => app.filtering = true,
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
        let title = format!(" Client apps ({}) ", app.visible.len());
        let mut block = Block::bordered().title(Span::styled(title, theme.title()));
        if app.filtering || !app.filter.value().is_empty() {
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
        let rows_area = table_header(frame, inner, header);
        let height = rows_area.height as usize;
        if app.modal.is_none() && !app.help {
            app.list_rows.set(Some((rows_area.y, rows_area.bottom())));
        }
        let offset = app.list.scroll(app.visible.len(), height);
        let lines: Vec<Line> = app.visible[offset..(offset + height).min(app.visible.len())]
            .iter()
            .enumerate()
            .map(|(i, idx)| {
                let a = &app.apps[*idx];
                let selected = offset + i == app.list.selected;
                let ty = if wide { a.app_type.label() } else { "Provisioning" };
                let lock = if a.can_manage { "" } else { " 🔒" };
                let text = cols(
                    if selected { MARKER } else { "" },
                    &format!("{}{lock}", a.name),
                    ty,
                    &a.client_id,
                    if a.scim_enabled { "on" } else { "off" },
                    &token_cell(a, app.now),
                );
                match (selected, expiry(a, app.now)) {
                    (true, _) => Line::styled(text, theme.selected()),
                    (false, Expiry::Urgent) => Line::styled(text, theme.danger()),
                    (false, Expiry::Soon) => Line::styled(text, theme.warn()),
                    (false, Expiry::Fine) => Line::raw(text),
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), rows_area);
    }
}
