//! The one-time secret (a Dedicated Token or a client secret): shown once, copied, tested, and
//! closed only after an explicit acknowledgement. The secret lives only here and is zeroized
//! when the modal is dropped.

use super::{Modal, ModalView};
use crate::client::ClientError;
use crate::tui::app::{App, Command, ToastKind};
use crate::tui::keymap::{Action, Context};
use crate::tui::text::sanitize;
use crate::tui::ui::{Theme, when};
use crate::wire::{ClientSecretIssued, IssuedToken};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use secrecy::{ExposeSecret, SecretString};
use std::time::Instant;
use time::OffsetDateTime;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    DedicatedToken,
    ClientSecret,
}

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
    /// Ctrl-C was pressed once: a second one quits without the acknowledgement.
    pub quit_asked: bool,
    pub status: Option<String>,
    /// `w`: the file name being typed (the app name by default).
    pub file_prompt: Option<Input>,
    /// `u`: the secret is written by the runtime as one line the terminal wraps, so tmux copy
    /// mode (and terminal selection) picks it up without line breaks.
    pub one_line: bool,
}

impl SecretModal {
    pub fn client_secret(app_id: Uuid, app_name: String, client_id: String, secret: SecretString) -> Modal {
        Modal::Secret(Box::new(SecretModal {
            kind: SecretKind::ClientSecret,
            app_id,
            app_name,
            client_id,
            secret,
            expires_at: None,
            acknowledged: false,
            nudged: false,
            quit_asked: false,
            status: None,
            file_prompt: None,
            one_line: false,
        }))
    }

    /// The default file name: the app name, made safe for a file name.
    pub fn default_file_name(&self) -> String {
        let base: String = self
            .app_name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = base.trim_matches('.');
        let base = if base.is_empty() { "secret" } else { base };
        match self.kind {
            SecretKind::DedicatedToken => format!("{base}.token"),
            SecretKind::ClientSecret => format!("{base}.client-secret"),
        }
    }

    pub(crate) fn on_token_issued(app: &mut App, id: Uuid, result: Result<IssuedToken, ClientError>) {
        let result = match result {
            // Sent, but no answer came back: a token may exist that nobody has seen.
            Err(
                e @ (ClientError::Unreachable { .. }
                | ClientError::Timeout { .. }
                | ClientError::Protocol { status: 0, .. }),
            ) => {
                return crate::tui::screens::manage::Manage::on_issue_unknown(app, id, e.to_string());
            }
            // Already active: perhaps issued by an earlier request whose reply was lost.
            Err(ClientError::Api { status: 409, .. }) => {
                return crate::tui::screens::manage::Manage::on_issue_unknown(
                    app,
                    id,
                    "the server says a token is already active".into(),
                );
            }
            other => other,
        };
        if let Some(issued) = app.ok(result) {
            let (name, client_id) = app
                .app(id)
                .map(|a| (a.name.clone(), a.client_id.clone()))
                .unwrap_or_default();
            let Modal::Secret(mut m) = SecretModal::client_secret(id, name, client_id, issued.token) else {
                unreachable!()
            };
            m.kind = SecretKind::DedicatedToken;
            m.expires_at = Some(issued.expires_at);
            app.shown_tokens.insert(issued.token_id);
            app.modal = Some(Modal::Secret(m));
            app.send(Command::LoadApp(id));
        }
    }

    pub(crate) fn on_secret_reissued(
        app: &mut App,
        id: Uuid,
        result: Result<ClientSecretIssued, ClientError>,
    ) {
        if let Some(issued) = app.ok(result) {
            let name = app.app(id).map(|a| a.name.clone()).unwrap_or_default();
            app.modal = Some(SecretModal::client_secret(
                id,
                name,
                sanitize(&issued.client_id, false),
                issued.client_secret,
            ));
        }
    }

    pub(crate) fn on_copied(app: &mut App, message: String, clears_at: Option<Instant>) {
        app.clipboard_clears_at = clears_at;
        match &mut app.modal {
            Some(Modal::Secret(m)) => m.status = Some(message),
            _ => app.toast(ToastKind::Info, message),
        }
    }

    pub(crate) fn on_written(app: &mut App, result: Result<std::path::PathBuf, String>) {
        let Some(Modal::Secret(m)) = &mut app.modal else {
            return;
        };
        match result {
            Ok(path) => {
                m.file_prompt = None;
                m.status = Some(format!(
                    "Written to {} (mode 0600). Move it somewhere safe, then delete it.",
                    sanitize(&path.display().to_string(), false)
                ));
            }
            // The prompt stays open so another name can be typed.
            Err(why) => m.status = Some(sanitize(&why, false)),
        }
    }

    pub(crate) fn on_tested(app: &mut App, result: Result<(u16, String), ClientError>) {
        let text = match result {
            Ok((status, summary)) => format!("HTTP {status}: {}", sanitize(&summary, false)),
            Err(e) => format!("test failed: {}", sanitize(&e.to_string(), false)),
        };
        if let Some(Modal::Secret(m)) = &mut app.modal {
            m.status = Some(text);
        }
    }

    /// Drops the secret (zeroizing it) and asks for a full repaint.
    fn close(app: &mut App) {
        let Some(Modal::Secret(m)) = app.modal.take() else {
            return;
        };
        let (kind, id) = (m.kind, m.app_id);
        drop(m);
        app.clear_screen = true;
        let what = match kind {
            SecretKind::DedicatedToken => "token",
            SecretKind::ClientSecret => "client secret",
        };
        app.toast(
            ToastKind::Info,
            format!("The {what} was closed and cleared from memory."),
        );
        if app.app(id).is_some() {
            app.send(Command::LoadApp(id));
        }
    }
}

impl ModalView for SecretModal {
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let action = app.keymap.lookup(key, &[Context::SecretModal, Context::Global]);
        let Some(Modal::Secret(m)) = &mut app.modal else {
            return;
        };
        m.quit_asked = false;
        if let Some(input) = &mut m.file_prompt {
            match key.code {
                KeyCode::Esc => m.file_prompt = None,
                KeyCode::Enter => {
                    let name = input.value().trim().to_owned();
                    if name.is_empty() {
                        m.status = Some("Type a file name first.".into());
                    } else {
                        app.send(Command::WriteSecret(name.into()));
                    }
                }
                _ => {
                    if let Some(req) = to_input_request(event) {
                        input.handle(req);
                    }
                }
            }
            return;
        }
        match (action, key.code) {
            (Some(Action::WriteFile), _) => {
                m.file_prompt = Some(Input::new(m.default_file_name()));
            }
            (Some(Action::OneLine), _) => {
                m.one_line = !m.one_line;
                // The rows the secret used must be repainted either way.
                app.clear_screen = true;
            }
            (Some(Action::Copy), _) => {
                app.send(Command::CopySecret);
            }
            (Some(Action::TestToken), _) if m.kind == SecretKind::DedicatedToken => {
                let secret = m.secret.clone();
                m.status = Some("testing the token with one SCIM request…".into());
                app.send(Command::TestToken(secret));
            }
            (Some(Action::Acknowledge), _) => {
                m.acknowledged = !m.acknowledged;
                m.nudged = false;
            }
            (_, KeyCode::Enter) if m.acknowledged => Self::close(app),
            (_, KeyCode::Enter) | (Some(Action::Back | Action::Quit), _) => m.nudged = true,
            _ => {}
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        draw_secret(frame, app, self, theme, body)
    }
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

/// Rows `text` takes when word-wrapped to `width` columns (greedy, like the paragraph's wrap).
fn wrapped_rows(text: &str, width: u16) -> u16 {
    let width = width.max(1) as usize;
    let mut rows: usize = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let w = crate::tui::text::width(word);
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else {
            rows += 1 + w.saturating_sub(1) / width;
            used = w % width;
        }
    }
    rows.min(u16::MAX as usize) as u16
}

/// Whole seconds until the clipboard is cleared, for the countdown.
pub fn clears_in(app: &App) -> Option<u64> {
    app.clipboard_clears_at
        .map(|at| at.saturating_duration_since(Instant::now()).as_secs_f64().ceil() as u64)
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
    let mut inner = inner;
    if m.one_line {
        // The header gets its own rows, so the secret's first row is known exactly.
        let head_rows: u16 = lines
            .iter()
            .map(|l| wrapped_rows(&l.to_string(), inner.width))
            .sum();
        let head = Rect {
            height: head_rows.min(inner.height),
            ..inner
        };
        frame.render_widget(
            Paragraph::new(std::mem::take(&mut lines)).wrap(Wrap { trim: false }),
            head,
        );
        inner.y += head.height;
        inner.height -= head.height;
        // Blank rows here; the runtime writes the secret over them as one line the terminal
        // wraps itself, which tmux copy mode selects without line breaks.
        let full = inner.width.max(1) as usize;
        let len = m.secret.expose_secret().chars().count();
        app.raw_secret_row.set(Some(inner.y));
        lines.extend(std::iter::repeat_n(Line::raw(""), len.div_ceil(full)));
        lines.push(Line::from(Span::styled(
            "Shown unwrapped: select it in tmux copy mode or with the mouse; u wraps it again.",
            theme.dim(),
        )));
    } else {
        for row in rows {
            lines.push(Line::from(Span::styled(
                row,
                Style::new().add_modifier(Modifier::BOLD),
            )));
        }
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
    if m.quit_asked {
        lines.push(Line::from(Span::styled(
            format!("Ctrl-C again quits and this {noun} is lost for good (revoke and reissue to recover)."),
            theme.danger(),
        )));
    }
    lines.push(Line::from(vec![
        k(Action::WriteFile),
        Span::raw(" write to a file  "),
        k(Action::OneLine),
        Span::raw(if m.one_line {
            " wrap again"
        } else {
            " one line (tmux copy mode)"
        }),
    ]));
    if let Some(input) = &m.file_prompt {
        lines.push(Line::from(vec![
            Span::raw("File name (new file, mode 0600): "),
            Span::styled(input.value().to_owned(), theme.focus()),
            Span::styled("▏", theme.focus()),
            Span::styled("  Enter write · Esc cancel", theme.dim()),
        ]));
    }
    if let Some(s) = &m.status {
        lines.push(Line::from(Span::styled(s.clone(), theme.good())));
    }
    if let Some(left) = clears_in(app) {
        lines.push(Line::from(Span::styled(
            format!("Clipboard clears in {left} s, if it still holds this {noun}."),
            theme.dim(),
        )));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
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
