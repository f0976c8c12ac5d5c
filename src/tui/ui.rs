//! Drawing: every screen and modal, from `&App` into any ratatui backend's frame.

use super::app::*;
use super::keymap::{Action, Context};
use super::text::{fit, truncate, width};
use crate::wire::{ClientApp, Outcome, TokenState};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use time::macros::format_description;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// The selection marker: selection is never shown by colour alone (NO_COLOR).
const MARKER: &str = "▶ ";

/// Styles that degrade to modifiers when colour is off.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn danger(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn good(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    fn focus(&self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let small = area.width < MIN_WIDTH || area.height < MIN_HEIGHT;
    app.too_small.set(small);
    app.list_rows.set(None);
    if small {
        let msg = format!(
            "terminal too small: {}×{}, need {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        let y = area.y + area.height / 2;
        let line = Rect::new(area.x, y, area.width, 1.min(area.height));
        frame.render_widget(
            Paragraph::new(truncate(&msg, area.width as usize)).alignment(Alignment::Center),
            line,
        );
        return;
    }
    let theme = Theme { color: app.color };
    let [top, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(frame, app, &theme, top);
    match &app.screen {
        Screen::Login(form) => draw_login(frame, app, form, &theme, body),
        Screen::AppList => draw_list(frame, app, &theme, body),
        Screen::AddApp(form) => draw_add(frame, form, &theme, body),
        Screen::Manage(id) => draw_manage(frame, app, *id, &theme, body),
        Screen::Audit { app: scope } => draw_audit(frame, app, *scope, &theme, body),
    }
    draw_status(frame, app, &theme, status);
    match &app.modal {
        Some(Modal::Secret(m)) => draw_secret(frame, app, m, &theme, body),
        Some(Modal::Confirm(c)) => draw_confirm(frame, c, &theme, body),
        Some(Modal::EditApp { form, .. }) => {
            let r = centered(body, 76, 12);
            frame.render_widget(Clear, r);
            draw_form(
                frame,
                form,
                &theme,
                r,
                "Edit basic information",
                "Enter save · Tab next field · Esc cancel",
            );
        }
        Some(Modal::Members { input, busy, .. }) => draw_members(frame, input.value(), *busy, &theme, body),
        None => {}
    }
    if app.help {
        draw_help(frame, app, &theme, body);
    }
    // Last: a long toast is drawn over the bottom of the body, above any modal.
    draw_hints(frame, app, &theme, hints);
}

fn breadcrumb(app: &App) -> String {
    match &app.screen {
        Screen::Login(_) => "Sign in".into(),
        Screen::AppList => "API > ClientApp".into(),
        Screen::AddApp(_) => "API > ClientApp > Add client app".into(),
        Screen::Manage(id) => format!(
            "API > ClientApp > {}",
            app.app(*id).map(|a| a.name.as_str()).unwrap_or("…")
        ),
        Screen::Audit { app: None } => "Audit log > all apps".into(),
        Screen::Audit { app: Some(id) } => format!(
            "Audit log > {}",
            app.app(*id).map(|a| a.name.as_str()).unwrap_or("…")
        ),
    }
}

fn draw_title(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let right = if app.busy.is_empty() {
        String::new()
    } else {
        format!(
            "{} {}… ",
            SPINNER[app.spinner % SPINNER.len()],
            app.busy[app.busy.len() - 1]
        )
    };
    let left_room = (area.width as usize).saturating_sub(width(&right) + 14);
    let line = Line::from(vec![
        Span::styled(" devconsole ", theme.title().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(truncate(&breadcrumb(app), left_room), theme.title()),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    if !right.is_empty() {
        frame.render_widget(Paragraph::new(right).alignment(Alignment::Right), area);
    }
}

fn draw_status(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let c = &app.conn;
    let who = match &c.admin {
        Some(a) => format!("{} · {}", a.username, a.role.label()),
        None => "not signed in".into(),
    };
    let link = match &c.link {
        Link::Online => Span::styled("● online", theme.good()),
        Link::Connecting => Span::styled("○ connecting", theme.warn()),
        Link::SignedOut => Span::styled("○ signed out", theme.warn()),
        Link::Unreachable(_) => Span::styled("✖ server unreachable, r retries", theme.danger()),
    };
    let text = format!(" {} · {} · {} ", c.label, c.server, who);
    let room = (area.width as usize).saturating_sub(width(&link.content) + 1);
    let line = Line::from(vec![Span::raw(fit(&text, room)), link]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn hint(app: &App, action: Action, what: &str) -> String {
    format!("{} {what}", app.keymap.label(action))
}

fn draw_hints(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    if let Some(t) = &app.toast {
        let style = match t.kind {
            ToastKind::Info => theme.good(),
            ToastKind::Error => theme.danger(),
        };
        let prefix = if t.kind == ToastKind::Error {
            "✖ "
        } else {
            "✔ "
        };
        let text = format!("{prefix}{}", t.text);
        if width(&text) <= area.width as usize {
            frame.render_widget(Paragraph::new(Span::styled(text, style)), area);
            return;
        }
        // Too long for the hint line: shown whole, over the bottom of the screen body.
        let rows = (width(&text) + 2).div_ceil(area.width.max(1) as usize).min(4) as u16;
        let above = Rect {
            y: area.y.saturating_sub(rows + 2),
            height: rows + 1,
            ..area
        };
        frame.render_widget(Clear, above);
        frame.render_widget(
            Paragraph::new(Span::styled(text, style))
                .wrap(Wrap { trim: true })
                .block(Block::new().borders(Borders::TOP).border_style(style)),
            above,
        );
        // The hint line still shows the keys.
    }
    if app
        .toast
        .as_ref()
        .is_some_and(|t| width(&t.text) + 2 <= area.width as usize)
    {
        return;
    }
    let hints: Vec<String> = if app.help {
        vec![hint(app, Action::Help, "close help")]
    } else if app.modal.is_some() {
        vec![]
    } else {
        match &app.screen {
            Screen::Login(_) => vec![
                "Tab next field".into(),
                "Enter sign in".into(),
                "Esc/Ctrl-C quit".into(),
            ],
            Screen::AppList if app.filtering => {
                vec!["type to filter".into(), "Enter keep".into(), "Esc clear".into()]
            }
            Screen::AppList => vec![
                hint(app, Action::AddApp, "add"),
                hint(app, Action::Open, "open"),
                hint(app, Action::Filter, "filter"),
                hint(app, Action::DeleteApp, "delete"),
                hint(app, Action::AuditLog, "audit"),
                hint(app, Action::Refresh, "refresh"),
                hint(app, Action::Help, "help"),
                hint(app, Action::Quit, "quit"),
            ],
            Screen::AddApp(_) => vec![
                "Tab next field".into(),
                "Enter create".into(),
                "Esc cancel".into(),
            ],
            Screen::Manage(_) => vec![
                hint(app, Action::ToggleScim, "SCIM"),
                hint(app, Action::IssueToken, "issue"),
                hint(app, Action::RevokeToken, "revoke"),
                hint(app, Action::Edit, "edit"),
                hint(app, Action::EditMembers, "members"),
                hint(app, Action::ReissueSecret, "secret"),
                hint(app, Action::AuditLog, "audit"),
                hint(app, Action::Back, "back"),
                hint(app, Action::Help, "help"),
            ],
            Screen::Audit { .. } => vec![
                hint(app, Action::Down, "scroll"),
                hint(app, Action::Refresh, "refresh"),
                hint(app, Action::Back, "back"),
                hint(app, Action::Help, "help"),
            ],
        }
    };
    let text = format!(" {}", hints.join(" · "));
    frame.render_widget(
        Paragraph::new(Span::styled(truncate(&text, area.width as usize), theme.dim())),
        area,
    );
}

// ---- login ---------------------------------------------------------------------------------

fn draw_login(frame: &mut Frame, app: &App, form: &LoginForm, theme: &Theme, body: Rect) {
    let r = centered(body, 64, 11);
    let block = Block::bordered().title(Span::styled(" Sign in ", theme.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let field = |label: &str, value: String, focused: bool| {
        let marker = if focused { MARKER } else { "  " };
        let style = if focused { theme.focus() } else { Style::new() };
        Line::from(vec![
            Span::raw(format!("{marker}{label:<10}")),
            Span::styled(value, style),
            Span::styled(if focused { "▏" } else { "" }, style),
        ])
    };
    let pw_len = form.password.chars().count().min(40);
    let mut lines = vec![
        Line::from(Span::styled(
            truncate(&format!("Server {}", app.conn.server), inner.width as usize),
            theme.dim(),
        )),
        Line::raw(""),
        field(
            "Username",
            truncate(form.username.value(), 40),
            !form.focus_password,
        ),
        field("Password", "•".repeat(pw_len), form.focus_password),
        Line::raw(""),
    ];
    if form.busy {
        lines.push(Line::from(format!(
            "{} signing in…",
            SPINNER[app.spinner % SPINNER.len()]
        )));
    } else if let Some(e) = &form.error {
        lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

// ---- app list ------------------------------------------------------------------------------

/// Draws a bold header line at the top of `area` and returns the rows below it.
fn table_header(frame: &mut Frame, area: Rect, header: String) -> Rect {
    frame.render_widget(
        Paragraph::new(Span::styled(header, Style::new().add_modifier(Modifier::BOLD))),
        Rect { height: 1, ..area },
    );
    Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    }
}

/// "active · 89 d left", "none", "revoked", "expired".
pub fn token_cell(app: &ClientApp, now: OffsetDateTime) -> String {
    match &app.token {
        None => "none".into(),
        Some(t) => match t.state {
            TokenState::Active => {
                // Rounded up: a token issued a moment ago has 90 days left, not 89.
                let secs = (t.expires_at - now).whole_seconds();
                let days = (secs + 86_399).div_euclid(86_400);
                if days >= 1 {
                    format!("active · {days} d left")
                } else {
                    "active · <1 d left".into()
                }
            }
            s => s.as_str().into(),
        },
    }
}

fn draw_list(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
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
            match &app.conn.link {
                Link::Unreachable(why) => format!("Cannot reach the server: {why}\nPress r to retry."),
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
            if selected {
                Line::styled(text, theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rows_area);
}

// ---- add / edit form -----------------------------------------------------------------------

fn draw_add(frame: &mut Frame, form: &AppForm, theme: &Theme, body: Rect) {
    let r = centered(body, 76, 14);
    draw_form(
        frame,
        form,
        theme,
        r,
        "Add client app",
        "Enter create · Tab next field · Esc cancel",
    );
}

fn draw_form(frame: &mut Frame, form: &AppForm, theme: &Theme, r: Rect, title: &str, keys: &str) {
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), theme.title()))
        .title_bottom(Span::styled(format!(" {keys} "), theme.dim()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let room = (inner.width as usize).saturating_sub(16);
    let input_line = |label: &str, value: &str, focused: bool| {
        let marker = if focused { MARKER } else { "  " };
        let style = if focused { theme.focus() } else { Style::new() };
        // Show the end of long input, where the cursor is.
        let shown = if width(value) > room {
            let skip = value.chars().count().saturating_sub(room.saturating_sub(1));
            format!("…{}", value.chars().skip(skip + 1).collect::<String>())
        } else {
            value.to_owned()
        };
        Line::from(vec![
            Span::raw(format!("{marker}{label:<14}")),
            Span::styled(shown, style),
            Span::styled(if focused { "▏" } else { "" }, style),
        ])
    };
    let error_line = |e: Option<String>| match e {
        Some(e) => Line::from(Span::styled(format!("                {e}"), theme.danger())),
        None => Line::raw(""),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::raw(format!("  {:<14}", "Type")),
            Span::styled(
                "(•) Provisioning management",
                Style::new().add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(Span::styled(
            "                the only type: manages users and groups over SCIM",
            theme.dim(),
        )),
        input_line("App name", form.name.value(), !form.focus_description),
        error_line(form.name_error()),
        input_line("Description", form.description.value(), form.focus_description),
        error_line(form.description_error()),
    ];
    if form.busy {
        lines.push(Line::raw("  saving…"));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn draw_members(frame: &mut Frame, value: &str, busy: bool, theme: &Theme, body: Rect) {
    let r = centered(body, 76, 9);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .title(Span::styled(" App access permission ", theme.title()))
        .title_bottom(Span::styled(" Enter save · Esc cancel ", theme.dim()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let lines = vec![
        Line::raw("Admins (with Developers authority) who may change this app,"),
        Line::raw("separated by commas:"),
        Line::raw(""),
        Line::from(vec![
            Span::raw(MARKER),
            Span::styled(value.to_owned(), theme.focus()),
            Span::styled("▏", theme.focus()),
        ]),
        Line::raw(if busy { "saving…" } else { "" }),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

// ---- manage --------------------------------------------------------------------------------

fn when(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_default()
}

fn draw_manage(frame: &mut Frame, app: &App, id: uuid::Uuid, theme: &Theme, body: Rect) {
    let Some(a) = app.app(id) else {
        frame.render_widget(Paragraph::new("Loading…").block(Block::bordered()), body);
        return;
    };
    // Warnings take the lines they wrap to, without a border, so the three sections still fit 80×24.
    let warn_lines: u16 = a
        .warnings
        .iter()
        .map(|w| (width(w) + 2).div_ceil(body.width.max(1) as usize) as u16)
        .sum();
    let access = if a.can_manage {
        None
    } else {
        Some("View only: only app access permission members or a super admin may change it.")
    };
    let [warn_area, basic, creds, token] = Layout::vertical([
        Constraint::Length(warn_lines.min(body.height / 3)),
        Constraint::Length(5 + u16::from(access.is_some())),
        Constraint::Length(5),
        Constraint::Fill(1),
    ])
    .areas(body);
    if !a.warnings.is_empty() {
        let text: Vec<Line> = a
            .warnings
            .iter()
            .map(|w| Line::from(Span::styled(format!("⚠ {w}"), theme.warn())))
            .collect();
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), warn_area);
    }
    let label = |s: &str| Span::styled(format!("{s:<22}"), theme.dim());
    let k = |action: Action| Span::styled(format!("[{}]", app.keymap.label(action)), theme.key());

    // 1. Basic information
    let desc = if a.description.is_empty() {
        "(none)".to_owned()
    } else {
        a.description.replace('\n', " ⏎ ")
    };
    let mut basic_lines = vec![
        Line::from(vec![label("App name"), Span::raw(a.name.clone())]),
        Line::from(vec![label("Description"), Span::raw(desc)]),
        Line::from(vec![
            label("App access permission"),
            Span::raw(format!("{}  ", a.members.join(", "))),
            k(Action::EditMembers),
        ]),
    ];
    if let Some(why) = access {
        basic_lines.push(Line::from(Span::styled(why, theme.warn())));
    }
    frame.render_widget(
        Paragraph::new(basic_lines).block(section(theme, "1. Basic information", Some(k(Action::Edit)))),
        basic,
    );

    // 2. Client credentials and access scope
    let switch = if a.scim_enabled {
        Span::styled("[ ON  ]", theme.good().add_modifier(Modifier::REVERSED))
    } else {
        Span::styled("[ OFF ]", Style::new().add_modifier(Modifier::BOLD))
    };
    let creds_lines = vec![
        Line::from(vec![label("Client ID"), Span::raw(a.client_id.clone())]),
        Line::from(vec![
            label("Client secret"),
            Span::raw("•••••••• (shown once when issued)  "),
            k(Action::ReissueSecret),
            Span::raw(" reissue"),
        ]),
        Line::from(vec![
            label("Enable SCIM"),
            switch,
            Span::raw("  "),
            k(Action::ToggleScim),
            Span::raw(" switch"),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(creds_lines).block(section(theme, "2. Client credentials and access scope", None)),
        creds,
    );

    // 3. Dedicated Token
    let t = a.token.as_ref();
    let state = match t {
        None => Span::raw("none issued"),
        Some(t) if t.state == TokenState::Active => Span::styled(token_cell(a, app.now), theme.good()),
        Some(t) => Span::styled(t.state.as_str(), theme.warn()),
    };
    let issue = match issue_blocked(a) {
        None => Line::from(vec![k(Action::IssueToken), Span::raw(" Issue Long-lived Token")]),
        Some(why) => Line::from(vec![
            Span::styled(
                format!("[{}] Issue (disabled: ", app.keymap.label(Action::IssueToken)),
                theme.dim(),
            ),
            Span::styled(why, theme.dim()),
            Span::styled(")", theme.dim()),
        ]),
    };
    let mut token_lines = vec![
        Line::from(vec![label("State"), state]),
        Line::from(vec![
            label("Issued at"),
            Span::raw(format!(
                "{:<23}",
                t.map(|t| when(t.issued_at)).unwrap_or("-".into())
            )),
            Span::styled("Last used  ", theme.dim()),
            Span::raw(t.and_then(|t| t.last_used_at).map(when).unwrap_or("-".into())),
        ]),
        match t {
            Some(t) if t.state == TokenState::Revoked => Line::from(vec![
                label("Revoked at"),
                Span::raw(t.revoked_at.map(when).unwrap_or("-".into())),
            ]),
            Some(t) if t.state == TokenState::Expired => {
                Line::from(vec![label("Expired at"), Span::raw(when(t.expires_at))])
            }
            _ => Line::from(vec![
                label("Expires"),
                Span::raw(t.map(|t| when(t.expires_at)).unwrap_or("-".into())),
            ]),
        },
        Line::from(Span::styled(
            "Valid 90 days from last use; every use renews it. Lost? Revoke, then reissue.",
            theme.dim(),
        )),
        issue,
    ];
    if token_active(t) && a.can_manage {
        token_lines.push(Line::from(vec![k(Action::RevokeToken), Span::raw(" Revoke")]));
    }
    frame.render_widget(
        Paragraph::new(token_lines)
            .wrap(Wrap { trim: false })
            .block(section(theme, "3. Dedicated Token", None)),
        token,
    );
}

fn section<'a>(theme: &Theme, title: &'a str, key: Option<Span<'a>>) -> Block<'a> {
    let mut b = Block::bordered().title(Span::styled(format!(" {title} "), theme.title()));
    if let Some(k) = key {
        b = b.title(Line::from(vec![k, Span::raw(" edit ")]).alignment(Alignment::Right));
    }
    b
}

// ---- audit ---------------------------------------------------------------------------------

fn draw_audit(frame: &mut Frame, app: &App, scope: Option<uuid::Uuid>, theme: &Theme, body: Rect) {
    let title = match scope {
        None => " Audit log: all apps (newest first) ".to_owned(),
        Some(id) => format!(
            " Audit log: {} (newest first) ",
            app.app(id).map(|a| a.name.as_str()).unwrap_or("app")
        ),
    };
    let mut block = Block::bordered().title(Span::styled(title, theme.title()));
    if let Some(e) = app.audit.get(app.audit_list.selected) {
        let who = e
            .app_name
            .as_deref()
            .map(|n| format!(" · {n}"))
            .unwrap_or_default();
        let text = format!(
            " {}{who}: {} ",
            e.action,
            e.detail.as_deref().unwrap_or("no detail")
        );
        block = block.title_bottom(truncate(&text, (body.width as usize).saturating_sub(4)));
    }
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if app.audit.is_empty() {
        let msg = if app.audit_loaded {
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
    let rows = table_header(frame, inner, header);
    let h = rows.height as usize;
    let offset = app.audit_list.scroll(app.audit.len(), h);
    let lines: Vec<Line> = app.audit[offset..(offset + h).min(app.audit.len())]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let selected = offset + i == app.audit_list.selected;
            let text = cols(
                if selected { MARKER } else { "" },
                when(e.at).trim_end_matches(" UTC"),
                &e.actor,
                e.action.as_str(),
                e.app_name.as_deref().unwrap_or("-"),
                match e.outcome {
                    Outcome::Success => "ok",
                    Outcome::Failure => "FAILED",
                },
                e.detail.as_deref().unwrap_or(""),
            );
            match (selected, e.outcome) {
                (true, _) => Line::styled(text, theme.selected()),
                (false, Outcome::Failure) => Line::styled(text, theme.danger()),
                _ => Line::raw(text),
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rows);
}

// ---- modals --------------------------------------------------------------------------------

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Splits a secret into rows of `width` characters, borrowing: no copy of it is made.
pub fn wrap_secret(secret: &str, width: usize) -> Vec<&str> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut rest = secret;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(width).map_or(rest.len(), |(i, _)| i);
        let (row, tail) = rest.split_at(cut);
        rows.push(row);
        rest = tail;
    }
    rows
}

fn draw_secret(frame: &mut Frame, app: &App, m: &SecretModal, theme: &Theme, body: Rect) {
    let (title, noun) = match m.kind {
        SecretKind::DedicatedToken => ("Issue Long-lived Token", "token"),
        SecretKind::ClientSecret => ("Client secret", "client secret"),
    };
    // Full width, no side borders: a terminal selection of the rows picks up only the secret.
    let r = body;
    frame.render_widget(Clear, r);
    let block = Block::new()
        .borders(Borders::TOP | Borders::BOTTOM)
        .title(Span::styled(format!(" {title} · {} ", m.app_name), theme.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let secret_w = (inner.width as usize).saturating_sub(2).min(100);
    let rows = wrap_secret(m.secret.expose_secret(), secret_w);
    let mut lines = vec![Line::from(Span::styled(
        format!("⚠ This {noun} is shown only once. Store it safely now; it cannot be shown again."),
        theme.warn(),
    ))];
    if m.kind == SecretKind::DedicatedToken {
        let exp = m.expires_at.map(when).unwrap_or_default();
        lines.push(Line::from(Span::styled(
            format!("Valid 90 days from its last use (now: until {exp}). If lost, revoke and issue again."),
            theme.dim(),
        )));
    } else {
        lines.push(Line::from(Span::styled(
            format!("Client ID {}", m.client_id),
            theme.dim(),
        )));
    }
    lines.push(Line::raw(""));
    for row in rows {
        lines.push(Line::from(Span::styled(
            row,
            Style::new().add_modifier(Modifier::BOLD),
        )));
    }
    lines.push(Line::raw(""));
    let k = |a: Action| Span::styled(format!("[{}]", app.keymap.label(a)), theme.key());
    let mut keys = vec![k(Action::Copy), Span::raw(" copy  ")];
    if m.kind == SecretKind::DedicatedToken {
        keys.extend([k(Action::TestToken), Span::raw(" test with SCIM  ")]);
    }
    keys.extend([
        k(Action::Acknowledge),
        Span::raw(if m.acknowledged { " [x] " } else { " [ ] " }),
        Span::styled(
            format!("I have stored this {noun}"),
            if m.acknowledged {
                theme.good()
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            },
        ),
        Span::raw("  "),
        Span::styled("[Enter]", theme.key()),
        Span::raw(" close"),
    ]);
    lines.push(Line::from(keys));
    if m.nudged {
        lines.push(Line::from(Span::styled(
            format!(
                "Not closed: tick \"I have stored this {noun}\" with {} first, then press Enter.",
                app.keymap.label(Action::Acknowledge)
            ),
            theme.danger(),
        )));
    }
    if let Some(s) = &m.status {
        lines.push(Line::from(Span::styled(s.clone(), theme.good())));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn draw_confirm(frame: &mut Frame, c: &Confirm, theme: &Theme, body: Rect) {
    let (title, mut lines): (&str, Vec<Line>) = match &c.kind {
        ConfirmKind::DeleteApp { .. } => (
            "Delete client app",
            vec![
                Line::from(Span::styled(format!("Delete {}?", c.app_name), theme.danger())),
                Line::raw("Its client secret and Dedicated Token stop working at once."),
            ],
        ),
        ConfirmKind::RevokeToken { .. } => (
            "Revoke Dedicated Token",
            vec![
                Line::from(Span::styled(
                    format!("Revoke the token of {}?", c.app_name),
                    theme.danger(),
                )),
                Line::raw("SCIM requests with it fail from now on. You can then issue a new one."),
            ],
        ),
        ConfirmKind::SetScim { enable: true, .. } => (
            "Enable SCIM",
            vec![
                Line::raw(format!("Switch Enable SCIM on for {}?", c.app_name)),
                Line::raw("The app can then be issued a Dedicated Token for the SCIM API."),
            ],
        ),
        ConfirmKind::SetScim {
            enable: false,
            revokes_token,
            ..
        } => {
            let mut l = vec![Line::raw(format!("Switch Enable SCIM off for {}?", c.app_name))];
            if *revokes_token {
                l.push(Line::from(Span::styled(
                    "⚠ The active Dedicated Token will be revoked.",
                    theme.danger(),
                )));
            }
            ("Disable SCIM", l)
        }
        ConfirmKind::ReissueSecret { .. } => (
            "Reissue client secret",
            vec![
                Line::raw(format!("Reissue the client secret of {}?", c.app_name)),
                Line::from(Span::styled(
                    "The current secret stops working at once.",
                    theme.danger(),
                )),
            ],
        ),
    };
    lines.push(Line::raw(""));
    match &c.typed {
        Some(input) => {
            lines.push(Line::raw("Type the app name to confirm:"));
            let style = if c.typed_matches() {
                theme.good()
            } else {
                theme.focus()
            };
            lines.push(Line::from(vec![
                Span::raw(MARKER),
                Span::styled(input.value().to_owned(), style),
                Span::styled("▏", style),
            ]));
            lines.push(Line::from(Span::styled(
                "Enter confirm · Esc cancel",
                theme.dim(),
            )));
        }
        None => lines.push(Line::from(vec![
            Span::styled("[y]", theme.key()),
            Span::raw(" yes   "),
            Span::styled("[n/Esc]", theme.key()),
            Span::raw(" cancel"),
        ])),
    }
    let r = centered(body, 76, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(format!(" {title} "), theme.title()))),
        r,
    );
}

fn draw_help(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let r = body;
    frame.render_widget(Clear, r);
    let block = Block::bordered().title(Span::styled(
        format!(
            " Keys (from the live keymap) · {} closes ",
            app.keymap.label(Action::Help)
        ),
        theme.title(),
    ));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)])
        .spacing(2)
        .areas(inner);
    let help = app.keymap.help();
    let col_w = left.width as usize;
    let section_lines = |ctx: Context| -> Vec<Line> {
        let (_, rows) = help
            .iter()
            .find(|(c, _)| *c == ctx)
            .expect("every context has help");
        let key_w = rows.iter().map(|(k, _)| width(k)).max().unwrap_or(0).min(14);
        let mut out = vec![Line::from(Span::styled(ctx.title(), theme.title()))];
        for (keys, what) in rows {
            out.push(Line::from(vec![
                Span::styled(fit(keys, key_w), theme.key()),
                Span::raw(" "),
                Span::raw(truncate(what, col_w.saturating_sub(key_w + 1))),
            ]));
        }
        out
    };
    let mut l = section_lines(Context::Global);
    l.push(Line::from(Span::styled(
        truncate("Ctrl-C always quits", col_w),
        theme.dim(),
    )));
    l.extend(section_lines(Context::SecretModal));
    l.push(Line::from(Span::styled(
        truncate("Enter closes once ticked", col_w),
        theme.dim(),
    )));
    let mut rl = section_lines(Context::AppList);
    rl.extend(section_lines(Context::ManageApp));
    rl.push(Line::from(Span::styled("Forms and confirmations", theme.title())));
    rl.push(Line::raw(truncate(
        "Tab next field · Enter submit · Esc cancel",
        col_w,
    )));
    rl.push(Line::raw(truncate("y yes · n no · or type the app name", col_w)));
    frame.render_widget(Paragraph::new(l), left);
    frame.render_widget(Paragraph::new(rl), right);
}

#[cfg(test)]
mod tests {
    use super::wrap_secret;

    #[test]
    fn secrets_wrap_into_rows_that_join_back_exactly() {
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln";
        let rows = wrap_secret(jwt, 10);
        assert!(rows.iter().all(|r| r.len() <= 10));
        assert_eq!(rows.concat(), jwt);
        assert_eq!(wrap_secret("", 10), Vec::<&str>::new());
        assert_eq!(wrap_secret("ab", 0), vec!["a", "b"]);
    }
}
