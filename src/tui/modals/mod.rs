//! Modals: one module each (state, keys, replies, drawing). A modal takes every key while it is
//! open. Adding one: a module with a type implementing [`ModalView`] and a line in `modals!`.

pub mod app_form;
pub mod confirm;
pub mod connect_provider;
pub mod members;
pub mod secret;

pub use app_form::EditApp;
pub use confirm::{Confirm, ConfirmKind};
pub use connect_provider::ConnectProvider;
pub use members::Members;
pub use secret::{SecretKind, SecretModal};

use super::app::App;
use super::ui::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::Rect;

pub trait ModalView {
    /// Draws over the screen body.
    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect);
    /// A key while this modal is open. The state is reached through `app.modal`.
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event)
    where
        Self: Sized;
}

impl<T: ModalView> ModalView for Box<T> {
    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        (**self).draw(frame, app, theme, body)
    }
    fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
        T::on_key(app, key, event)
    }
}

macro_rules! modals {
    ($($variant:ident($ty:ty);)*) => {
        #[derive(Debug)]
        pub enum Modal { $($variant($ty)),* }

        impl Modal {
            pub fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
                match self { $(Modal::$variant(m) => m.draw(frame, app, theme, body)),* }
            }
            pub fn on_key(app: &mut App, key: &KeyEvent, event: &Event) {
                match &app.modal {
                    $(Some(Modal::$variant(_)) => <$ty as ModalView>::on_key(app, key, event),)*
                    None => {}
                }
            }
        }
    };
}

modals! {
    Secret(Box<SecretModal>);
    Confirm(Confirm);
    EditApp(EditApp);
    Members(Members);
    ConnectProvider(ConnectProvider);
}
