//! Add a client app: the form, then the client secret's one-time modal.

use super::{Screen, View};
use crate::client::ClientError;
use crate::tui::app::{App, AppForm, Command, Manage, SecretModal, sanitize_app};
use crate::tui::modals::app_form::{FormStep, draw_form, edit_form};
use crate::tui::ui::{Theme, centered};
use crate::wire::AppCreated;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::Rect;

#[derive(Debug, Default)]
pub struct AddApp {
    pub form: AppForm,
}

impl AddApp {
    pub(crate) fn on_created(app: &mut App, result: Result<AppCreated, ClientError>) {
        if let Screen::AddApp(s) = &mut app.screen {
            s.form.busy = false;
        }
        if let Some(created) = app.ok(result) {
            let AppCreated {
                app: created,
                client_secret,
            } = created;
            let created = sanitize_app(created);
            let id = created.id;
            app.modal = Some(SecretModal::client_secret(
                id,
                created.name.clone(),
                created.client_id.clone(),
                client_secret,
            ));
            app.upsert(created);
            app.screen = Screen::Manage(Manage { id });
        }
    }
}

impl View for AddApp {
    fn breadcrumb(&self, _app: &App) -> String {
        "API > ClientApp > Add client app".into()
    }

    fn typing(&self, _app: &App) -> bool {
        true
    }

    fn hints(&self, _app: &App) -> Vec<String> {
        vec![
            "Tab next field".into(),
            "Enter create".into(),
            "Esc cancel".into(),
        ]
    }

    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        let Screen::AddApp(s) = &mut app.screen else {
            return;
        };
        match edit_form(&mut s.form, key, event) {
            FormStep::Cancel => app.screen = Screen::AppList(super::app_list::AppList),
            FormStep::Submit(name, description) => {
                s.form.busy = true;
                app.send(Command::CreateApp { name, description });
            }
            FormStep::Continue => {}
        }
    }

    fn draw(&self, frame: &mut Frame, _app: &App, theme: &Theme, body: Rect) {
        let r = centered(body, 76, 14);
        draw_form(
            frame,
            &self.form,
            theme,
            r,
            "Add client app",
            "Enter create · Tab next field · Esc cancel",
        );
    }
}
