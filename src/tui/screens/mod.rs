//! Screens: one module each, holding the screen's state, its keys (which queue commands), the
//! replies it owns, its drawing and its hint bar.
//!
//! Adding a screen: write a module with a state type implementing [`View`], then add one line to
//! the `screens!` list below. Its commands and replies go in `app/effects.rs` (and the client
//! call in `runtime::call`); its keys in the `actions!` table of `keymap.rs`.

pub mod activity;
pub mod add_app;
pub mod app_list;
pub mod audit;
pub mod login;
pub mod manage;

use super::app::App;
use super::keymap::Action;
use super::ui::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::Rect;

/// What every screen provides.
pub trait View {
    /// The title bar path, e.g. "API > ClientApp".
    fn breadcrumb(&self, app: &App) -> String;
    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect);
    /// The hint bar; built from the keymap (`ui::hint`) wherever the key is an action.
    fn hints(&self, app: &App) -> Vec<String>;
    /// A text field has the keyboard, so single-letter global keys (`?`, `q`) are typed.
    fn typing(&self, _app: &App) -> bool {
        false
    }
    /// A key, with no modal or help open. The state is reached through `app.screen`.
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event)
    where
        Self: Sized;
    /// A mouse-wheel step.
    fn on_move(_app: &mut App, _action: Action)
    where
        Self: Sized,
    {
    }
}

macro_rules! screens {
    ($($variant:ident($ty:ty);)*) => {
        #[derive(Debug)]
        pub enum Screen { $($variant($ty)),* }

        impl Screen {
            fn view(&self) -> &dyn View {
                match self { $(Screen::$variant(s) => s),* }
            }
            pub fn breadcrumb(&self, app: &App) -> String { self.view().breadcrumb(app) }
            pub fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
                self.view().draw(frame, app, theme, body)
            }
            pub fn hints(&self, app: &App) -> Vec<String> { self.view().hints(app) }
            pub fn typing(&self, app: &App) -> bool { self.view().typing(app) }
            pub fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
                match &app.screen { $(Screen::$variant(_) => <$ty>::on_key(app, key, event)),* }
            }
            pub fn on_move(app: &mut App, action: Action) {
                match &app.screen { $(Screen::$variant(_) => <$ty>::on_move(app, action)),* }
            }
        }
    };
}

screens! {
    Login(login::LoginForm);
    AppList(app_list::AppList);
    AddApp(add_app::AddApp);
    Manage(manage::Manage);
    Audit(audit::AuditView);
    Activity(activity::ActivityView);
}

impl App {
    pub(crate) fn screen_move(&mut self, action: Action) {
        Screen::on_move(self, action)
    }
}
