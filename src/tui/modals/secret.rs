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
use time::OffsetDateTime;
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
    pub status: Option<String>,
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
            status: None,
        }))
    }

    pub(crate) fn on_token_issued(app: &mut App, id: Uuid, result: Result<IssuedToken, ClientError>) {
        if let Some(issued) = app.ok(result) {
            let (name, client_id) = app
                .app(id)
                .map(|a| (a.name.clone(), a.client_id.clone()))
                .unwrap_or_default();
            app.modal = Some(Modal::Secret(Box::new(SecretModal {
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

    pub(crate) fn on_copied(app: &mut App, message: String) {
        if let Some(Modal::Secret(m)) = &mut app.modal {
            m.status = Some(message);
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
    fn on_key(app: &mut App, key: &KeyEvent, _event: &Event) {
        let action = app.keymap.lookup(key, &[Context::SecretModal, Context::Global]);
        let Some(Modal::Secret(m)) = &mut app.modal else {
            return;
        };
        match (action, key.code) {
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
