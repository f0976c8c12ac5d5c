//! The app access permission: the admins who may change this app.

use super::{Modal, ModalView};
use crate::tui::app::{App, Command};
use crate::tui::ui::{MARKER, Theme, centered};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

#[derive(Debug)]
pub struct Members {
    pub id: Uuid,
    pub input: Input,
    pub busy: bool,
}

impl ModalView for Members {
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let Some(Modal::Members(m)) = &mut app.modal else {
            return;
        };
        if m.busy {
            return;
        }
        match key.code {
            KeyCode::Esc => app.modal = None,
            KeyCode::Enter => {
                let members: Vec<String> = m
                    .input
                    .value()
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                m.busy = true;
                let id = m.id;
                app.send(Command::SetMembers { id, members });
            }
            _ => {
                if let Some(req) = to_input_request(event) {
                    m.input.handle(req);
                }
            }
        }
    }

    fn draw(&self, frame: &mut Frame, _app: &App, theme: &Theme, body: Rect) {
        draw_members(frame, self.input.value(), self.busy, theme, body)
    }
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
