//! The app form (name and description), used by the Add screen and the Edit modal.

use super::{Modal, ModalView};
use crate::client::ClientError;
use crate::tui::app::{App, Command, ToastKind};
use crate::tui::text::width;
use crate::tui::ui::{MARKER, Theme, centered};
use crate::validate;
use crate::wire::ClientApp;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use tui_input::Input;
use tui_input::backend::crossterm::to_input_request;
use uuid::Uuid;

#[derive(Debug, Default)]
pub struct AppForm {
    pub name: Input,
    pub description: Input,
    pub focus_description: bool,
    /// Set after a submit attempt, so an empty name is flagged only then.
    pub tried: bool,
    pub busy: bool,
}

impl AppForm {
    pub fn name_error(&self) -> Option<String> {
        match validate::app_name(self.name.value()) {
            Err(validate::TextError::Empty) if !self.tried => None,
            Err(e) => Some(format!("App name {e}")),
            Ok(_) => None,
        }
    }

    pub fn description_error(&self) -> Option<String> {
        validate::app_description(self.description.value())
            .err()
            .map(|e| format!("Description {e}"))
    }

    fn focused(&mut self) -> &mut Input {
        if self.focus_description {
            &mut self.description
        } else {
            &mut self.name
        }
    }
}

pub(crate) enum FormStep {
    Continue,
    Cancel,
    Submit(String, String),
}

pub(crate) fn edit_form(form: &mut AppForm, key: &KeyEvent, event: &Event) -> FormStep {
    if form.busy {
        return FormStep::Continue;
    }
    match key.code {
        KeyCode::Esc => FormStep::Cancel,
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
            form.focus_description = !form.focus_description;
            FormStep::Continue
        }
        KeyCode::Enter => {
            form.tried = true;
            match (
                validate::app_name(form.name.value()),
                validate::app_description(form.description.value()),
            ) {
                (Ok(name), Ok(description)) => FormStep::Submit(name, description),
                (Err(_), _) => {
                    form.focus_description = false;
                    FormStep::Continue
                }
                (_, Err(_)) => {
                    form.focus_description = true;
                    FormStep::Continue
                }
            }
        }
        _ => {
            if let Some(req) = to_input_request(event) {
                form.focused().handle(req);
            }
            FormStep::Continue
        }
    }
}

/// Editing an existing app's name and description.
#[derive(Debug)]
pub struct EditApp {
    pub id: Uuid,
    /// The name and description as shown when the modal opened: only fields that differ are
    /// sent, so an untouched name (perhaps shown escaped, `\u{200b}`) is never rewritten.
    pub original: (String, String),
    pub form: AppForm,
}

impl EditApp {
    /// Saved (an edit or the members modal): close and show the app as the server has it.
    pub(crate) fn on_updated(app: &mut App, result: Result<ClientApp, ClientError>) {
        match &mut app.modal {
            Some(Modal::EditApp(e)) => e.form.busy = false,
            Some(Modal::Members(m)) => m.busy = false,
            _ => {}
        }
        if let Some(updated) = app.ok(result) {
            app.modal = None;
            app.toast(ToastKind::Info, "Saved.");
            app.upsert(updated);
        }
    }
}

impl ModalView for EditApp {
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let Some(Modal::EditApp(e)) = &mut app.modal else {
            return;
        };
        if e.form.busy {
            return;
        }
        let id = e.id;
        match edit_form(&mut e.form, key, event) {
            FormStep::Cancel => app.modal = None,
            FormStep::Submit(name, description) => {
                let name = (e.form.name.value() != e.original.0).then_some(name);
                let description = (e.form.description.value() != e.original.1).then_some(description);
                if name.is_none() && description.is_none() {
                    app.modal = None;
                    app.toast(ToastKind::Info, "Nothing changed.");
                    return;
                }
                e.form.busy = true;
                app.send(Command::UpdateApp {
                    id,
                    name,
                    description,
                });
            }
            FormStep::Continue => {}
        }
    }

    fn draw(&self, frame: &mut Frame, _app: &App, theme: &Theme, body: Rect) {
        let r = centered(body, 76, 12);
        frame.render_widget(Clear, r);
        draw_form(
            frame,
            &self.form,
            theme,
            r,
            "Edit basic information",
            "Enter save · Tab next field · Esc cancel",
        );
    }
}

pub(crate) fn draw_form(frame: &mut Frame, form: &AppForm, theme: &Theme, r: Rect, title: &str, keys: &str) {
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
