//! "Connect a provider": what to paste where in Microsoft Entra ID and Okta, in each provider's
//! own field names, and the attribute mappings to change because `userName` must be an email.
//! Kept in step with the README section "Connecting Entra ID and Okta".

use super::{Modal, ModalView};
use crate::tui::app::{App, Command};
use crate::tui::keymap::{Action, Context};
use crate::tui::screens::app_list::token_cell;
use crate::tui::text::fit;
use crate::tui::ui::Theme;
use crate::wire::{ClientApp, TokenState};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use uuid::Uuid;

#[derive(Debug)]
pub struct ConnectProvider {
    pub id: Uuid,
    /// What the last copy did (the clipboard's own honest message).
    pub status: Option<String>,
}

/// Where a provider sends SCIM requests, and whether the server reported it.
pub fn scim_base_url(app: &App, a: &ClientApp) -> (String, bool) {
    if a.scim_base_url.is_empty() {
        // A server from before the field: the SCIM API sits next to the console API.
        (
            format!("{}/scim/v2", app.conn.server.trim_end_matches('/')),
            false,
        )
    } else {
        (a.scim_base_url.clone(), true)
    }
}

/// Why a provider could not use this URL as it stands, if it could not.
pub fn url_problem(url: &str) -> Option<&'static str> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Some("Loopback address: Entra ID and Okta cannot reach it (serve --public-url).")
    } else if parsed.scheme() != "https" {
        Some("Entra ID and Okta need an https:// URL (serve over TLS, set --public-url).")
    } else {
        None
    }
}

impl ConnectProvider {
    pub fn open(app: &mut App, id: Uuid) {
        app.modal = Some(Modal::ConnectProvider(ConnectProvider { id, status: None }));
    }

    /// Copies the SCIM base URL of app `id` (from the panel or straight from the manage page).
    pub fn copy_url(app: &mut App, id: Uuid) {
        if let Some(a) = app.app(id) {
            let (url, _) = scim_base_url(app, a);
            app.send(Command::CopyScimUrl(url));
        }
    }

    pub(crate) fn on_copied(app: &mut App, message: String) {
        match &mut app.modal {
            Some(Modal::ConnectProvider(p)) => p.status = Some(message),
            _ => app.toast(crate::tui::app::ToastKind::Info, message),
        }
    }
}

impl ModalView for ConnectProvider {
    fn on_key(app: &mut App, key: &KeyEvent, _event: &Event) {
        let Some(Modal::ConnectProvider(p)) = &app.modal else {
            return;
        };
        let id = p.id;
        match app.keymap.lookup(key, &[Context::ManageApp, Context::Global]) {
            Some(Action::CopyScimUrl) => Self::copy_url(app, id),
            Some(Action::Quit) => app.quit = true,
            Some(Action::Back | Action::ConnectProvider) => app.modal = None,
            _ if key.code == KeyCode::Enter => app.modal = None,
            _ => {}
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        draw_panel(frame, app, self, theme, body)
    }
}

fn draw_panel(frame: &mut Frame, app: &App, p: &ConnectProvider, theme: &Theme, body: Rect) {
    let Some(a) = app.app(p.id) else {
        return;
    };
    let k = |action: Action| Span::styled(format!("[{}]", app.keymap.label(action)), theme.key());
    frame.render_widget(Clear, body);
    let block = Block::bordered()
        .title(Span::styled(
            format!(" Connect a provider · {} ", a.name),
            theme.title(),
        ))
        .title_bottom(
            Line::from(vec![
                k(Action::CopyScimUrl),
                Span::raw(" copy the SCIM base URL · "),
                k(Action::Back),
                Span::raw(" close "),
            ])
            .alignment(Alignment::Right),
        );
    let inner = block.inner(body);
    frame.render_widget(block, body);

    let bold = Style::new().add_modifier(Modifier::BOLD);
    let (url, reported) = scim_base_url(app, a);
    let label = |s: &str, w: usize| Span::styled(fit(s, w), theme.dim());
    let field = |s: &str| Span::styled(fit(s, 36), bold);
    let ours = |s: &str| Span::raw(s.to_owned());

    let mut url_line = vec![
        label("SCIM base URL", 17),
        Span::styled(url.clone(), theme.good()),
    ];
    if !reported {
        url_line.push(Span::styled(" (from the console address)", theme.dim()));
    }
    let token = match &a.token {
        _ if !a.scim_enabled => Span::styled(
            format!(
                "none: SCIM is off; switch it on ({}), then issue one ({})",
                app.keymap.label(Action::ToggleScim),
                app.keymap.label(Action::IssueToken)
            ),
            theme.warn(),
        ),
        Some(t) if t.state == TokenState::Active => Span::styled(
            format!("{} · shown once when issued", token_cell(a, app.now)),
            theme.good(),
        ),
        _ => Span::styled(
            format!(
                "none active: issue one on the manage page ({})",
                app.keymap.label(Action::IssueToken)
            ),
            theme.warn(),
        ),
    };
    let mut lines = vec![
        Line::from(url_line),
        Line::from(vec![label("Dedicated Token", 17), token]),
        Line::raw(""),
        Line::from(vec![
            Span::styled("Microsoft Entra ID", theme.title()),
            Span::styled("  Enterprise app › Provisioning › Admin Credentials", theme.dim()),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("Tenant URL"),
            ours("the SCIM base URL"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("Secret Token"),
            ours("the Dedicated Token"),
        ]),
        Line::from(vec![
            Span::styled("Okta", theme.title()),
            Span::styled("  App › Provisioning › Integration", theme.dim()),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("SCIM connector base URL"),
            ours("the SCIM base URL"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("Unique identifier field for users"),
            ours("userName"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("Authentication Mode"),
            ours("HTTP Header"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            field("Authorization (Bearer)"),
            ours("the Dedicated Token"),
        ]),
        Line::raw(""),
        Line::from(Span::styled(
            "userName must be an email (≤ 90 chars), so change these mappings:",
            bold,
        )),
        Line::from(vec![
            Span::raw("  "),
            label("Entra ID", 10),
            ours("Attribute Mappings › userName: mail, not userPrincipalName"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            label("", 10),
            Span::styled(
                "(keep userPrincipalName only where every UPN is the user's email)",
                theme.dim(),
            ),
        ]),
        Line::from(vec![
            Span::raw("  "),
            label("Okta", 10),
            ours("Sign On › Application username format: Email"),
        ]),
    ];
    if let Some(problem) = url_problem(&url) {
        lines.push(Line::from(Span::styled(format!("⚠ {problem}"), theme.warn())));
    }
    if let Some(status) = &p.status {
        lines.push(Line::from(Span::styled(status.clone(), theme.good())));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use super::url_problem;

    #[test]
    fn loopback_and_plain_http_urls_are_flagged() {
        assert!(
            url_problem("http://127.0.0.1:8787/scim/v2")
                .unwrap()
                .contains("Loopback")
        );
        assert!(
            url_problem("http://localhost/scim/v2")
                .unwrap()
                .contains("Loopback")
        );
        assert!(
            url_problem("https://[::1]:8443/scim/v2")
                .unwrap()
                .contains("Loopback")
        );
        assert!(
            url_problem("http://console.example.com/scim/v2")
                .unwrap()
                .contains("https://")
        );
        assert_eq!(url_problem("https://console.example.com/scim/v2"), None);
    }
}
