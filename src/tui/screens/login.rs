//! Sign in (remote servers only): username and a password that is never kept after sending.

use super::View;
use crate::client::ClientError;
use crate::tui::app::{App, Command};
use crate::tui::text::{sanitize, truncate};
use crate::tui::ui::{MARKER, Theme, centered, spinner};
use crate::wire::Admin;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use secrecy::SecretString;
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug)]
pub struct LoginForm {
    pub username: Input,
    /// Zeroized on drop and when sent.
    pub password: Zeroizing<String>,
    pub focus_password: bool,
    pub error: Option<String>,
    pub busy: bool,
}

impl Default for LoginForm {
    fn default() -> Self {
        LoginForm {
            username: Input::default(),
            // Reserved up front so typing never reallocates and leaves copies behind.
            password: Zeroizing::new(String::with_capacity(256)),
            focus_password: false,
            error: None,
            busy: false,
        }
    }
}

impl LoginForm {
    pub(crate) fn on_logged_in(app: &mut App, result: Result<Admin, ClientError>) {
        match result {
            Ok(admin) => app.connected(Some(admin)),
            Err(e) => {
                let text = sanitize(&e.to_string(), false);
                if let super::Screen::Login(form) = &mut app.screen {
                    form.busy = false;
                    form.error = Some(text);
                }
            }
        }
    }
}

impl View for LoginForm {
    fn breadcrumb(&self, _app: &App) -> String {
        "Sign in".into()
    }

    fn typing(&self, _app: &App) -> bool {
        true
    }

    fn hints(&self, _app: &App) -> Vec<String> {
        vec![
            "Tab next field".into(),
            "Enter sign in".into(),
            "Esc/Ctrl-C quit".into(),
        ]
    }

    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let super::Screen::Login(form) = &mut app.screen else {
            return;
        };
        if form.busy {
            return;
        }
        match key.code {
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                form.focus_password = !form.focus_password
            }
            KeyCode::Enter if !form.focus_password => form.focus_password = true,
            KeyCode::Enter => {
                let username = form.username.value().trim().to_owned();
                if username.is_empty() || form.password.is_empty() {
                    form.error = Some("enter a username and a password".into());
                    return;
                }
                let password = SecretString::from(form.password.as_str().to_owned());
                form.password.zeroize();
                form.busy = true;
                form.error = None;
                app.send(Command::Login { username, password });
            }
            KeyCode::Esc => app.quit = true,
            _ if form.focus_password => match key.code {
                KeyCode::Char(c)
                    if !key.modifiers.contains(KeyModifiers::CONTROL)
                        && form.password.len() + c.len_utf8() <= form.password.capacity() =>
                {
                    form.password.push(c)
                }
                KeyCode::Backspace => {
                    form.password.pop();
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    form.password.zeroize()
                }
                _ => {}
            },
            _ => {
                if let Some(req) = to_input_request(event) {
                    form.username.handle(req);
                }
            }
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        let form = self;
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
            lines.push(Line::from(format!("{} signing in…", spinner(app))));
        } else if let Some(e) = &form.error {
            lines.push(Line::from(Span::styled(e.clone(), theme.danger())));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}
