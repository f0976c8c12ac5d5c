//! Confirmations: y/n for reversible changes, the typed app name for destructive ones.

use super::{Modal, ModalView};
use crate::tui::app::{App, Command};
use crate::tui::text::wrapped_rows;
use crate::tui::ui::{MARKER, Theme, centered};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

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
    /// A token is active that this console never showed (its reply was lost).
    RevokeAndReissue {
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

impl ModalView for Confirm {
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let Some(Modal::Confirm(c)) = &mut app.modal else {
            return;
        };
        let confirmed = match &mut c.typed {
            Some(input) => match key.code {
                KeyCode::Esc => {
                    app.modal = None;
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
                    app.modal = None;
                    return;
                }
                _ => false,
            },
        };
        if confirmed {
            let kind = c.kind.clone();
            app.modal = None;
            if let ConfirmKind::RevokeAndReissue { id } = kind {
                app.reissue_after_revoke.insert(id);
            }
            app.send(match kind {
                ConfirmKind::DeleteApp { id } => Command::DeleteApp(id),
                ConfirmKind::RevokeToken { id } => Command::RevokeToken(id),
                ConfirmKind::SetScim { id, enable, .. } => Command::SetScim { id, enabled: enable },
                ConfirmKind::ReissueSecret { id } => Command::ReissueSecret(id),
                ConfirmKind::RevokeAndReissue { id } => Command::RevokeToken(id),
            });
        }
    }

    fn draw(&self, frame: &mut Frame, _app: &App, theme: &Theme, body: Rect) {
        draw_confirm(frame, self, theme, body)
    }
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
        ConfirmKind::RevokeAndReissue { .. } => (
            "A token nobody has seen",
            vec![
                Line::from(Span::styled(
                    format!(
                        "{} has an active token that this console never showed.",
                        c.app_name
                    ),
                    theme.danger(),
                )),
                Line::raw("The reply to the issue request was lost on the way, so its one showing is gone"),
                Line::raw("(or another admin issued it). Revoke it and issue a new one, shown here?"),
            ],
        ),
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
            if c.mismatch {
                lines.push(Line::from(Span::styled(
                    format!(
                        "That does not match: you typed \"{}\", the app is named \"{}\" (exactly, with its capitals and spaces).",
                        input.value(),
                        c.app_name
                    ),
                    theme.danger(),
                )));
            }
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
    // Tall enough for the wrapped text: the keys on the last line must never be cut off.
    let inner_w = body.width.min(76).saturating_sub(2) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_rows(&text, inner_w)
        })
        .sum();
    let r = centered(body, 76, rows as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(Span::styled(format!(" {title} "), theme.title()))),
        r,
    );
}
