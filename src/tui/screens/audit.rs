//! The audit log, for all apps or one, newest first.

use super::{Screen, View};
use crate::client::ClientError;
use crate::tui::app::{App, AppList, Command, ListView, Manage, sanitize_event};
use crate::tui::keymap::{Action, Context};
use crate::tui::screens::activity::{outcome_tone, outcome_word};
use crate::tui::text::{fit, truncate};
use crate::tui::ui::{Theme, draw_table, when};
use crate::wire::AuditEvent;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Paragraph};
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct AuditView {
    /// `None`: every app.
    pub app: Option<Uuid>,
    /// Sanitised on arrival.
    pub events: Vec<AuditEvent>,
    pub loaded: bool,
    pub list: ListView,
}

impl AuditView {
    pub fn open(app: &mut App, scope: Option<Uuid>) {
        app.screen = Screen::Audit(AuditView {
            app: scope,
            ..AuditView::default()
        });
        app.send(Command::LoadAudit(scope));
    }

    pub(crate) fn on_audit(app: &mut App, scope: Option<Uuid>, result: Result<Vec<AuditEvent>, ClientError>) {
        if let Some(events) = app.ok(result)
            && let Screen::Audit(v) = &mut app.screen
            && v.app == scope
        {
            v.events = events.into_iter().map(sanitize_event).collect();
            v.loaded = true;
        }
    }
}

impl View for AuditView {
    fn breadcrumb(&self, app: &App) -> String {
        match self.app {
            None => "Audit log > all apps".into(),
            Some(id) => format!(
                "Audit log > {}",
                app.app(id).map(|a| a.name.as_str()).unwrap_or("…")
            ),
        }
    }

    fn hints(&self, app: &App) -> Vec<String> {
        app.keymap
            .hints(&[Action::Down, Action::Refresh, Action::Back, Action::Help])
    }

    fn on_move(app: &mut App, action: Action) {
        if let Screen::Audit(v) = &mut app.screen {
            let len = v.events.len();
            v.list.apply(action, len);
        }
    }

    fn on_key(app: &mut App, key: &KeyEvent, _event: &Event) {
        let Screen::Audit(v) = &app.screen else {
            return;
        };
        let scope = v.app;
        match app.keymap.lookup(key, &[Context::Global]) {
            Some(Action::Quit) => app.quit = true,
            Some(Action::Back) => {
                app.screen = match scope {
                    Some(id) => Screen::Manage(Manage { id }),
                    None => Screen::AppList(AppList),
                }
            }
            Some(Action::Refresh) => {
                app.send(Command::LoadAudit(scope));
            }
            Some(a) => Self::on_move(app, a),
            None => {}
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        draw_audit(frame, app, self, theme, body)
    }
}

fn draw_audit(frame: &mut Frame, app: &App, view: &AuditView, theme: &Theme, body: Rect) {
    let scope = view.app;
    let title = match scope {
        None => " Audit log: all apps (newest first) ".to_owned(),
        Some(id) => format!(
            " Audit log: {} (newest first) ",
            app.app(id).map(|a| a.name.as_str()).unwrap_or("app")
        ),
    };
    let mut block = Block::bordered().title(Span::styled(title, theme.title()));
    if let Some(e) = view.events.get(view.list.selected) {
        let who = e
            .app_name
            .as_deref()
            .map(|n| format!(" · {n}"))
            .unwrap_or_default();
        let from = e
            .address
            .as_deref()
            .map(|a| format!(" (from {a})"))
            .unwrap_or_default();
        let text = format!(" {}{who}: {}{from} ", e.action, detail_of(e, "no detail"));
        block = block.title_bottom(truncate(&text, (body.width as usize).saturating_sub(4)));
    }
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if view.events.is_empty() {
        let msg = if view.loaded {
            "No events yet."
        } else {
            "Loading…"
        };
        frame.render_widget(Paragraph::new(msg), inner);
        return;
    }
    // Fixed columns, then the app name and (when there is room) the detail share the rest.
    let fixed = 2 + 16 + 1 + 12 + 1 + 24 + 1 + 6 + 1;
    let rest = (inner.width as usize).saturating_sub(fixed);
    let (app_w, detail_w) = if rest >= 50 { (20, rest - 21) } else { (rest, 0) };
    let cols = |m: &str, at: &str, actor: &str, action: &str, app_name: &str, outcome: &str, detail: &str| {
        let mut row = format!(
            "{}{} {} {} {} {}",
            fit(m, 2),
            fit(at, 16),
            fit(actor, 12),
            fit(action, 24),
            fit(outcome, 6),
            fit(app_name, app_w),
        );
        if detail_w > 0 {
            row.push(' ');
            row.push_str(&truncate(detail, detail_w));
        }
        row
    };
    let header = cols("", "At (UTC)", "Actor", "Action", "App", "Result", "Detail");
    draw_table(
        frame,
        inner,
        theme,
        header,
        &view.list,
        &view.events,
        |e, marker| {
            let text = cols(
                marker,
                when(e.at).trim_end_matches(" UTC"),
                &e.actor,
                e.action.as_str(),
                e.app_name.as_deref().unwrap_or("-"),
                outcome_word(e.outcome),
                &detail_of(e, ""),
            );
            (text, outcome_tone(e.outcome))
        },
    );
}

/// The detail, with how many refusals a collapsed row stands for.
fn detail_of(e: &crate::wire::AuditEvent, none: &str) -> String {
    let detail = e.detail.as_deref().unwrap_or(none);
    if e.count > 1 {
        format!("{}× {detail}", e.count)
    } else {
        detail.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_collapsed_row_says_how_many_it_stands_for() {
        let mut e = crate::tui::fixtures::audit_events().remove(0);
        e.detail = Some("wrong username or password".into());
        assert_eq!(super::detail_of(&e, ""), "wrong username or password");
        e.count = 150;
        assert_eq!(super::detail_of(&e, ""), "150× wrong username or password");
    }
}
