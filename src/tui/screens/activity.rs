//! Provisioning activity: the SCIM calls providers made, for one app or all, newest first.
//! Failures are marked in words as well as colour; the selected call's SCIM error is shown in
//! full in the detail pane (Enter gives it the whole screen). Pages load as the cursor reaches
//! the end of what is loaded.
//!
//! Also the manage page's "Last SCIM call" / "Last SCIM error" summary ([`ScimSummary`]).

use super::{Screen, View};
use crate::client::ClientError;
use crate::tui::app::{App, AppList, Command, ListView, Manage, RequestId, ToastKind};
use crate::tui::keymap::{Action, Context};
use crate::tui::text::{fit, sanitize, truncate};
use crate::tui::ui::{Theme, Tone, draw_table};
use crate::wire::{ActivityEvent, ActivityPage, Outcome};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// Events asked for per page.
pub const PAGE: u32 = 100;

#[derive(Debug, Default)]
pub struct ActivityView {
    /// `None`: every app.
    pub app: Option<Uuid>,
    /// Only failed calls (asked of the server, so paging stays right).
    pub failed_only: bool,
    /// Sanitised on arrival.
    pub events: Vec<ActivityEvent>,
    /// Where the next page starts; `None` once everything is loaded.
    pub next_cursor: Option<String>,
    /// The first page has arrived.
    pub loaded: bool,
    /// The last load failed: why (the first page's failure replaces the list).
    pub error: Option<String>,
    /// The request whose reply this view waits for; older replies are dropped.
    pub request: Option<RequestId>,
    pub list: ListView,
    /// The detail pane has the whole body.
    pub detail_full: bool,
}

/// The manage page's view of an app's SCIM traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimSummary {
    pub last_call: Option<ActivityEvent>,
    pub last_error: Option<ActivityEvent>,
}

impl ActivityView {
    pub fn open(app: &mut App, scope: Option<Uuid>) {
        app.screen = Screen::Activity(ActivityView {
            app: scope,
            ..ActivityView::default()
        });
        Self::reload(app);
    }

    /// Loads the first page again (refresh, or the failed-only switch).
    pub(crate) fn reload(app: &mut App) {
        let Screen::Activity(v) = &app.screen else {
            return;
        };
        let cmd = Command::LoadActivity {
            app: v.app,
            failed_only: v.failed_only,
            cursor: None,
        };
        let id = app.send(cmd);
        if let Screen::Activity(v) = &mut app.screen {
            v.request = Some(id);
        }
    }

    /// Asks for the next page when the selection reaches the last loaded row.
    fn maybe_load_more(app: &mut App) {
        let Screen::Activity(v) = &app.screen else {
            return;
        };
        let at_end = v.list.selected + 1 >= v.events.len();
        let Some(cursor) = v.next_cursor.clone().filter(|_| at_end && v.request.is_none()) else {
            return;
        };
        let cmd = Command::LoadActivity {
            app: v.app,
            failed_only: v.failed_only,
            cursor: Some(cursor),
        };
        let id = app.send(cmd);
        if let Screen::Activity(v) = &mut app.screen {
            v.request = Some(id);
        }
    }

    pub(crate) fn on_activity(
        app: &mut App,
        id: RequestId,
        more: bool,
        result: Result<ActivityPage, ClientError>,
    ) {
        let waiting = matches!(&app.screen, Screen::Activity(v) if v.request == Some(id));
        if !waiting {
            // A page for a filter or screen the user has left: its errors are no news either.
            return;
        }
        let result = match result {
            Ok(page) => app.ok(Ok(page)).ok_or_else(String::new),
            Err(e) => {
                let why = sanitize(&e.to_string(), false);
                app.ok::<()>(Err(e));
                Err(why)
            }
        };
        let Screen::Activity(v) = &mut app.screen else {
            return;
        };
        v.request = None;
        match result {
            Ok(page) => {
                let events = page.events.into_iter().map(sanitize_activity);
                if more {
                    v.events.extend(events);
                } else {
                    v.events = events.collect();
                    v.list.selected = 0;
                }
                v.next_cursor = page.next_cursor;
                v.loaded = true;
                v.error = None;
            }
            Err(why) => v.error = Some(why),
        }
    }

    pub(crate) fn on_summary(app: &mut App, id: Uuid, result: Result<ScimSummary, ClientError>) {
        match result {
            Ok(summary) => {
                let summary = ScimSummary {
                    last_call: summary.last_call.map(sanitize_activity),
                    last_error: summary.last_error.map(sanitize_activity),
                };
                app.scim_summary.insert(id, summary);
            }
            // A side request of the manage page, sent with its LoadApp: that reply reports a
            // lost link or an ended session; repeating it here would reset a login form already
            // being typed in. The page shows "-" for what could not be read.
            Err(e) => {
                tracing::warn!(error = %e, "loading the last SCIM calls failed");
                app.scim_summary.remove(&id);
            }
        }
    }

    fn selected(&self) -> Option<&ActivityEvent> {
        self.events.get(self.list.selected)
    }
}

pub fn sanitize_activity(mut e: ActivityEvent) -> ActivityEvent {
    e.app_name = e.app_name.map(|s| sanitize(&s, false));
    e.resource_id = e.resource_id.map(|s| sanitize(&s, false));
    e.name = e.name.map(|s| sanitize(&s, false));
    e.scim_type = e.scim_type.map(|s| sanitize(&s, false));
    e.detail = e.detail.map(|s| sanitize(&s, true));
    e
}

/// "ok" or "FAILED": failure is never shown by colour alone (NO_COLOR).
pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "ok",
        Outcome::Failure => "FAILED",
    }
}

/// Failed calls and refusals are drawn in red (and say "FAILED").
pub fn outcome_tone(outcome: Outcome) -> Tone {
    match outcome {
        Outcome::Success => Tone::Plain,
        Outcome::Failure => Tone::Danger,
    }
}

/// "11-27 09:00:12": the list's time column (UTC, seconds matter in a sync).
fn short_time(t: OffsetDateTime) -> String {
    t.format(format_description!("[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default()
}

pub fn long_time(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_default()
}

/// "create User alice@example.com": what a call did, in one phrase.
pub fn call_phrase(e: &ActivityEvent) -> String {
    let mut s = e.operation.as_str().to_owned();
    if let Some(r) = e.resource_type {
        s.push(' ');
        s.push_str(r.as_str());
    }
    if let Some(n) = e.name.as_deref().or(e.resource_id.as_deref()) {
        s.push(' ');
        s.push_str(n);
    }
    s
}

/// "HTTP 409 uniqueness: userName is already taken": the error in one line.
pub fn error_phrase(e: &ActivityEvent) -> String {
    let mut s = format!("HTTP {}", e.status);
    if let Some(t) = &e.scim_type {
        s.push(' ');
        s.push_str(t);
    }
    if let Some(d) = &e.detail {
        s.push_str(": ");
        s.push_str(&d.replace('\n', " ⏎ "));
    }
    s
}

impl View for ActivityView {
    fn breadcrumb(&self, app: &App) -> String {
        match self.app {
            None => "Provisioning activity > all apps".into(),
            Some(id) => format!(
                "API > ClientApp > {} > Provisioning activity",
                app.app(id).map(|a| a.name.as_str()).unwrap_or("…")
            ),
        }
    }

    fn hints(&self, app: &App) -> Vec<String> {
        let mut hints = app.keymap.hints(&[Action::Down, Action::ActivityDetail]);
        hints.push(format!(
            "{} {}",
            app.keymap.label(Action::FailedOnly),
            if self.failed_only {
                "show all"
            } else {
                "failed only"
            }
        ));
        hints.extend(app.keymap.hints(&[Action::Refresh, Action::Back, Action::Help]));
        hints
    }

    fn on_move(app: &mut App, action: Action) {
        if let Screen::Activity(v) = &mut app.screen {
            let len = v.events.len();
            v.list.apply(action, len);
        }
        Self::maybe_load_more(app);
    }

    fn on_key(app: &mut App, key: &KeyEvent, _event: &Event) {
        let Screen::Activity(v) = &mut app.screen else {
            return;
        };
        let scope = v.app;
        match app.keymap.lookup(key, &[Context::Activity, Context::Global]) {
            Some(Action::Quit) => app.quit = true,
            Some(Action::Back) if v.detail_full => v.detail_full = false,
            Some(Action::Back) => {
                app.screen = match scope {
                    Some(id) if app.app(id).is_some() => Screen::Manage(Manage { id }),
                    _ => Screen::AppList(AppList),
                }
            }
            Some(Action::ActivityDetail) if v.selected().is_some() => v.detail_full = !v.detail_full,
            Some(Action::FailedOnly) => {
                v.failed_only = !v.failed_only;
                v.events.clear();
                v.next_cursor = None;
                v.loaded = false;
                v.error = None;
                v.list = ListView::default();
                let msg = if v.failed_only {
                    "Showing failed SCIM calls only."
                } else {
                    "Showing every SCIM call."
                };
                Self::reload(app);
                app.toast(ToastKind::Info, msg);
            }
            Some(Action::Refresh) => {
                v.next_cursor = None;
                Self::reload(app);
            }
            Some(a) => Self::on_move(app, a),
            None => {}
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        draw_activity(frame, app, self, theme, body)
    }
}

fn draw_activity(frame: &mut Frame, app: &App, view: &ActivityView, theme: &Theme, body: Rect) {
    let scope = match view.app {
        None => "all apps".to_owned(),
        Some(id) => app.app(id).map(|a| a.name.clone()).unwrap_or("app".into()),
    };
    let filter = if view.failed_only {
        "failed calls only"
    } else {
        "newest first"
    };
    let more = if view.request.is_some() && view.loaded {
        format!(" {} loaded · loading more… ", view.events.len())
    } else if view.next_cursor.is_some() {
        format!(" {} loaded · more below ", view.events.len())
    } else if view.loaded && !view.events.is_empty() {
        format!(" {} · all loaded ", view.events.len())
    } else {
        String::new()
    };
    let block = Block::bordered()
        .title(Span::styled(
            format!(" Provisioning activity: {scope} ({filter}) "),
            theme.title(),
        ))
        .title_bottom(Line::from(more).right_aligned());

    if view.events.is_empty() {
        let inner = block.inner(body);
        frame.render_widget(block, body);
        let lines = match (&view.error, view.loaded) {
            (Some(why), _) => vec![
                Line::styled("✖ Could not load the provisioning activity.", theme.danger()),
                Line::raw(why.clone()),
                Line::raw(""),
                Line::raw(format!("{} tries again.", app.keymap.label(Action::Refresh))),
            ],
            (None, false) => vec![Line::raw("Loading…")],
            (None, true) if view.failed_only => vec![
                Line::raw("No failed SCIM calls recorded."),
                Line::styled(
                    format!("{} shows every call.", app.keymap.label(Action::FailedOnly)),
                    theme.dim(),
                ),
            ],
            (None, true) => vec![
                Line::raw("No SCIM calls recorded yet."),
                Line::styled(
                    "Calls appear here once a provider uses this app's Dedicated Token \
                     (the manage page's Connect a provider panel says what to paste where).",
                    theme.dim(),
                ),
            ],
        };
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }

    if view.detail_full {
        let block = Block::bordered()
            .title(Span::styled(format!(" SCIM call · {scope} "), theme.title()))
            .title_bottom(
                Line::from(format!(
                    " {} back to the list · {} {} previous, next call ",
                    app.keymap.label(Action::Back),
                    app.keymap.label(Action::Up),
                    app.keymap.label(Action::Down),
                ))
                .right_aligned(),
            );
        let inner = block.inner(body);
        frame.render_widget(block, body);
        if let Some(e) = view.selected() {
            draw_detail(frame, app, e, theme, inner, true);
        }
        return;
    }
    let [list_area, detail_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(body.height.min(40) / 3 + 2),
    ])
    .areas(body);
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    draw_rows(frame, app, view, theme, inner);
    let detail_block = Block::bordered()
        .title(Span::styled(" Detail ", theme.title()))
        .title_bottom(
            Line::from(format!(
                " {} whole screen ",
                app.keymap.label(Action::ActivityDetail)
            ))
            .right_aligned(),
        );
    let detail_inner = detail_block.inner(detail_area);
    frame.render_widget(detail_block, detail_area);
    if let Some(e) = view.selected() {
        draw_detail(frame, app, e, theme, detail_inner, false);
    }
    if let Some(why) = &view.error {
        // A failed "load more": the rows stay, the reason shows under them.
        let y = inner.bottom().saturating_sub(1);
        frame.render_widget(
            Paragraph::new(Line::styled(
                truncate(&format!("✖ {why}"), inner.width as usize),
                theme.danger(),
            )),
            Rect {
                y,
                height: 1,
                ..inner
            },
        );
    }
}

fn draw_rows(frame: &mut Frame, _app: &App, view: &ActivityView, theme: &Theme, area: Rect) {
    let all_apps = view.app.is_none();
    // Fixed columns; the app (all-apps view) and the name share the rest.
    let fixed = 2 + 14 + 1 + 7 + 1 + 5 + 1 + 4 + 1 + 6 + 1;
    let rest = (area.width as usize).saturating_sub(fixed);
    let app_w = if all_apps { (rest / 3).min(20) } else { 0 };
    let name_w = rest.saturating_sub(app_w + usize::from(all_apps));
    let cols =
        |m: &str, at: &str, app_name: &str, op: &str, res: &str, name: &str, status: &str, outcome: &str| {
            let mut row = format!("{}{} ", fit(m, 2), fit(at, 14));
            if all_apps {
                row.push_str(&fit(app_name, app_w));
                row.push(' ');
            }
            row.push_str(&format!(
                "{} {} {} {} {}",
                fit(op, 7),
                fit(res, 5),
                fit(name, name_w),
                fit(status, 4),
                fit(outcome, 6)
            ));
            row
        };
    let header = cols(
        "",
        "At (UTC)",
        "App",
        "Op",
        "Type",
        "userName / displayName",
        "HTTP",
        "Result",
    );
    draw_table(
        frame,
        area,
        theme,
        header,
        &view.list,
        &view.events,
        |e, marker| {
            let text = cols(
                marker,
                &short_time(e.at),
                e.app_name.as_deref().unwrap_or("-"),
                e.operation.as_str(),
                e.resource_type.map(|r| r.as_str()).unwrap_or("-"),
                e.name.as_deref().or(e.resource_id.as_deref()).unwrap_or("-"),
                &e.status.to_string(),
                outcome_word(e.outcome),
            );
            (text, outcome_tone(e.outcome))
        },
    );
}

fn draw_detail(frame: &mut Frame, app: &App, e: &ActivityEvent, theme: &Theme, area: Rect, full: bool) {
    let label = |s: &str| Span::styled(format!("{s:<10}"), theme.dim());
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let result = match e.outcome {
        Outcome::Success => Span::styled(format!("ok · HTTP {}", e.status), theme.good()),
        Outcome::Failure => Span::styled(
            format!(
                "FAILED · HTTP {}{}",
                e.status,
                e.scim_type
                    .as_deref()
                    .map(|t| format!(" · scimType {t}"))
                    .unwrap_or_default()
            ),
            theme.danger(),
        ),
    };
    let app_name = e
        .app_name
        .clone()
        .or_else(|| app.app(e.app_id).map(|a| a.name.clone()))
        .unwrap_or_else(|| e.app_id.to_string());
    let mut lines = vec![
        Line::from(vec![
            label("When"),
            Span::raw(long_time(e.at)),
            Span::styled("   App ", theme.dim()),
            Span::raw(app_name),
        ]),
        Line::from(vec![label("Call"), Span::styled(call_phrase(e), bold)]),
        Line::from(vec![label("Result"), result]),
    ];
    if full {
        lines.insert(
            2,
            Line::from(vec![
                label("Resource"),
                Span::raw(e.resource_id.clone().unwrap_or_else(|| "-".into())),
            ]),
        );
    }
    match (&e.detail, e.outcome) {
        (Some(d), _) => {
            let mut rows = d.lines();
            lines.push(Line::from(vec![
                label(if e.outcome == Outcome::Failure {
                    "Error"
                } else {
                    "Detail"
                }),
                Span::raw(rows.next().unwrap_or_default().to_owned()),
            ]));
            lines.extend(rows.map(|r| Line::raw(r.to_owned())));
        }
        (None, Outcome::Failure) => lines.push(Line::from(vec![
            label("Error"),
            Span::styled("(the server recorded no detail)", theme.dim()),
        ])),
        (None, Outcome::Success) => {}
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// The manage page's "Last SCIM call" and "Last SCIM error" lines (label column 22 wide), at
/// most `rows` of them: with one row, the error if there is one.
pub fn summary_lines(app: &App, id: Uuid, theme: &Theme, width: u16, rows: u16) -> Vec<Line<'static>> {
    let mut lines = summary(app, id, theme, width);
    match rows {
        0 => Vec::new(),
        1 => {
            let has_error = app.scim_summary.get(&id).is_some_and(|s| s.last_error.is_some());
            vec![lines.swap_remove(usize::from(has_error))]
        }
        _ => lines,
    }
}

fn summary(app: &App, id: Uuid, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    let label = |s: &str| Span::styled(format!("{s:<22}"), theme.dim());
    let room = (width as usize).saturating_sub(22);
    let Some(summary) = app.scim_summary.get(&id) else {
        let text = if app.in_flight(crate::tui::app::Kind::LoadScimSummary, Some(id)) {
            "…"
        } else {
            "-"
        };
        return vec![
            Line::from(vec![label("Last SCIM call"), Span::raw(text)]),
            Line::from(vec![label("Last SCIM error"), Span::raw(text)]),
        ];
    };
    let call = match &summary.last_call {
        None => Line::from(vec![
            label("Last SCIM call"),
            Span::styled("none yet: no provider has used this app's token", theme.dim()),
        ]),
        Some(e) => {
            let text = format!(
                "{} · {} · {} {}",
                crate::tui::ui::when(e.at),
                call_phrase(e),
                e.status,
                outcome_word(e.outcome)
            );
            let style = match e.outcome {
                Outcome::Success => Style::new(),
                Outcome::Failure => theme.danger(),
            };
            Line::from(vec![
                label("Last SCIM call"),
                Span::styled(truncate(&text, room), style),
            ])
        }
    };
    let error = match &summary.last_error {
        None => Line::from(vec![label("Last SCIM error"), Span::styled("none", theme.good())]),
        Some(e) => {
            let text = format!("{} · FAILED {}", crate::tui::ui::when(e.at), error_phrase(e));
            Line::from(vec![
                label("Last SCIM error"),
                Span::styled(truncate(&text, room), theme.danger()),
            ])
        }
    };
    vec![call, error]
}
