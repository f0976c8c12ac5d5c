//! Drawing the frame: title bar, status bar, hint bar, help overlay, and the shared pieces
//! (theme, layout helpers) that the screen and modal modules draw with. Each screen and modal
//! draws itself (`screens/*`, `modals/*`).

use super::app::*;
use super::keymap::{Action, Context};
use super::text::{fit, truncate, width};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use time::OffsetDateTime;
use time::macros::format_description;

pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// The selection marker: selection is never shown by colour alone (NO_COLOR).
pub const MARKER: &str = "▶ ";

pub fn spinner(app: &App) -> &'static str {
    SPINNER[app.spinner % SPINNER.len()]
}

/// Styles that degrade to modifiers when colour is off.
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }
    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn danger(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    pub fn good(&self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn focus(&self) -> Style {
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
        let how = if app.secret_open() {
            "a secret is open: enlarge the terminal to store it and close it".to_owned()
        } else {
            format!("{} quits", app.keymap.label(Action::Quit))
        };
        let msg = format!(
            "terminal too small: {}×{}, need {MIN_WIDTH}×{MIN_HEIGHT} · {how}",
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
    app.screen.draw(frame, app, &theme, body);
    draw_status(frame, app, &theme, status);
    if let Some(modal) = &app.modal {
        modal.draw(frame, app, &theme, body);
    }
    if app.help {
        draw_help(frame, app, &theme, body);
    }
    // Last: a long toast is drawn over the bottom of the body, above any modal.
    draw_hints(frame, app, &theme, hints);
    if app.ascii {
        asciify(frame.buffer_mut());
    }
}

/// Rewrites every cell a non-UTF-8 terminal cannot show: box drawing to `+-|`, markers and the
/// spinner to ASCII, anything else outside ASCII to `?`.
pub fn asciify(buf: &mut ratatui::buffer::Buffer) {
    const SPIN: [&str; 4] = ["|", "/", "-", "\\"];
    let mut wide_tail = false;
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        if wide_tail {
            // The cell behind a wide character: it now shows a character of its own.
            wide_tail = false;
            if sym.is_empty() || sym == " " {
                cell.set_symbol("?");
                continue;
            }
        }
        if sym.is_ascii() {
            continue;
        }
        wide_tail = width(sym) > 1;
        let c = sym.chars().next().unwrap_or(' ');
        let out: &str = match c {
            '─' | '━' | '═' => "-",
            '│' | '┃' | '║' => "|",
            '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' => {
                "+"
            }
            '▶' => ">",
            '▏' => "_",
            '…' => "~",
            '·' => "-",
            '•' => "*",
            '●' => "*",
            '○' => "o",
            '✖' => "x",
            '✔' => "+",
            '⚠' => "!",
            '⏎' => "/",
            '×' => "x",
            '←' => "<",
            '→' => ">",
            '↑' => "^",
            '↓' => "v",
            '⠋'..='⣿' => SPIN[(c as usize) % 4],
            _ => "?",
        };
        cell.set_symbol(out);
    }
}

fn draw_title(frame: &mut Frame, app: &App, theme: &Theme, area: Rect) {
    let right = match app.busy_label() {
        None => String::new(),
        Some(label) => format!("{} {label}… ", spinner(app)),
    };
    let left_room = (area.width as usize).saturating_sub(width(&right) + 14);
    let line = Line::from(vec![
        Span::styled(" devconsole ", theme.title().add_modifier(Modifier::REVERSED)),
        Span::raw(" "),
        Span::styled(truncate(&app.screen.breadcrumb(app), left_room), theme.title()),
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
    let clears = super::modals::secret::clears_in(app)
        .map(|s| format!(" · clipboard clears in {s} s"))
        .unwrap_or_default();
    let text = format!(" {} · {} · {}{clears} ", c.label, c.server, who);
    let room = (area.width as usize).saturating_sub(width(&link.content) + 1);
    let line = Line::from(vec![Span::raw(fit(&text, room)), link]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

/// "a add": the action's live keys and what it does, for the hint bar.
pub fn hint(app: &App, action: Action, what: &str) -> String {
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
        app.screen.hints(app)
    };
    let text = format!(" {}", hints.join(" · "));
    frame.render_widget(
        Paragraph::new(Span::styled(truncate(&text, area.width as usize), theme.dim())),
        area,
    );
}

/// Draws a bold header line at the top of `area` and returns the rows below it.
pub fn table_header(frame: &mut Frame, area: Rect, header: String) -> Rect {
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

/// How an unselected row is drawn. The row's text must say the same in words (a marker or
/// "FAILED"), for NO_COLOR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Warn,
    Danger,
}

/// A scrolling table, as the app list, the audit log and the activity log draw it: a bold
/// header, then the rows that fit, scrolled to keep the selection in view, the selected row
/// marked with [`MARKER`] and in reverse video. `row(item, marker)` formats one row. Returns the
/// area of the rows (below the header).
pub fn draw_table<T>(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    header: String,
    list: &ListView,
    items: &[T],
    row: impl Fn(&T, &str) -> (String, Tone),
) -> Rect {
    let rows = table_header(frame, area, header);
    let height = rows.height as usize;
    let offset = list.scroll(items.len(), height);
    let lines: Vec<Line> = items[offset..(offset + height).min(items.len())]
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let selected = offset + i == list.selected;
            let (text, tone) = row(item, if selected { MARKER } else { "" });
            match (selected, tone) {
                (true, _) => Line::styled(text, theme.selected()),
                (false, Tone::Danger) => Line::styled(text, theme.danger()),
                (false, Tone::Warn) => Line::styled(text, theme.warn()),
                (false, Tone::Plain) => Line::raw(text),
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), rows);
    rows
}

pub fn when(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_default()
}

pub fn section<'a>(theme: &Theme, title: &'a str, key: Option<Span<'a>>) -> Block<'a> {
    let mut b = Block::bordered().title(Span::styled(format!(" {title} "), theme.title()));
    if let Some(k) = key {
        b = b.title(Line::from(vec![k, Span::raw(" edit ")]).alignment(Alignment::Right));
    }
    b
}

pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The help overlay: the current screen's keys first, then the rest, flowed down as many
/// columns as fit; when even that does not fit, it pages (the motion keys turn pages), so no key
/// is ever silently cut off.
fn draw_help(frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
    let r = body;
    frame.render_widget(Clear, r);
    let help = app.keymap.help();
    let inner_w = r.width.saturating_sub(2);
    let height = r.height.saturating_sub(2).max(1) as usize;
    let first = match &app.screen {
        Screen::AppList(_) => Some(Context::AppList),
        Screen::Manage(_) => Some(Context::ManageApp),
        Screen::Activity(_) => Some(Context::Activity),
        _ => None,
    };
    let mut order: Vec<Context> = first.into_iter().collect();
    for ctx in [
        Context::Global,
        Context::AppList,
        Context::ManageApp,
        Context::Activity,
        Context::SecretModal,
    ] {
        if !order.contains(&ctx) {
            order.push(ctx);
        }
    }
    // Blocks of lines: a title, its rows, and a footnote where the table cannot say it all.
    let blocks = |col_w: usize| -> Vec<Vec<Line>> {
        let mut blocks = Vec::new();
        for ctx in &order {
            let Some((_, rows)) = help.iter().find(|(c, _)| c == ctx) else {
                continue;
            };
            let key_w = rows.iter().map(|(k, _)| width(k)).max().unwrap_or(0).min(14);
            let mut out = vec![Line::from(Span::styled(ctx.title(), theme.title()))];
            for (keys, what) in rows {
                out.push(Line::from(vec![
                    Span::styled(fit(keys, key_w), theme.key()),
                    Span::raw(" "),
                    Span::raw(truncate(what, col_w.saturating_sub(key_w + 1))),
                ]));
            }
            let note = match ctx {
                Context::Global => Some("Ctrl-C always quits · Ctrl-Z suspends"),
                Context::SecretModal => Some("Enter closes once ticked"),
                _ => None,
            };
            if let Some(note) = note {
                out.push(Line::from(Span::styled(truncate(note, col_w), theme.dim())));
            }
            blocks.push(out);
        }
        blocks.push(vec![
            Line::from(Span::styled("Forms and confirmations", theme.title())),
            Line::raw(truncate("Tab next field · Enter submit · Esc cancel", col_w)),
            Line::raw(truncate("y yes · n no · or type the app name", col_w)),
        ]);
        blocks
    };
    // Flows blocks down columns of `height`. A block may continue in the next column of the
    // same page, never on the next page if it fits on one; a title never ends a column.
    let flow = |blocks: Vec<Vec<Line<'static>>>, ncols: usize| -> Vec<Vec<Line<'static>>> {
        let mut cols: Vec<Vec<Line>> = vec![Vec::new()];
        for block in blocks {
            let used = cols.last().map_or(0, Vec::len);
            let room = height.saturating_sub(used);
            let page_ends = cols.len().is_multiple_of(ncols);
            let keep_whole = block.len() <= height && (page_ends || block.len() <= 4);
            if used > 0 && (room < 2 || (keep_whole && block.len() > room)) {
                cols.push(Vec::new());
            }
            for line in block {
                if cols.last().is_some_and(|c| c.len() >= height) {
                    cols.push(Vec::new());
                }
                cols.last_mut().expect("one column").push(line);
            }
        }
        cols
    };
    // As many columns of at least 38 cells as fit (three at most), but no more than needed.
    let max_cols = (inner_w / 38).clamp(1, 3) as usize;
    let col_w = |n: usize| ((inner_w as usize + 2) / n).saturating_sub(2);
    let mut ncols = max_cols;
    let mut cols = flow(blocks(col_w(ncols)), ncols);
    if cols.len() < ncols {
        ncols = cols.len().max(1);
        cols = flow(blocks(col_w(ncols)), ncols);
    }
    let pages = cols.len().div_ceil(ncols).max(1);
    app.help_pages.set(pages);
    let page = app.help_page.min(pages - 1);
    let title = if pages > 1 {
        format!(
            " Keys · page {}/{pages} · {} {} turn · {} closes ",
            page + 1,
            app.keymap.label(Action::Up),
            app.keymap.label(Action::Down),
            app.keymap.label(Action::Help)
        )
    } else {
        format!(
            " Keys (from the live keymap) · {} closes ",
            app.keymap.label(Action::Help)
        )
    };
    let block = Block::bordered().title(Span::styled(title, theme.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); ncols])
        .spacing(2)
        .split(inner);
    for (area, col) in areas.iter().zip(cols.into_iter().skip(page * ncols)) {
        frame.render_widget(Paragraph::new(col), *area);
    }
}
