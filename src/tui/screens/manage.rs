//! Manage one client app: basic information, client credentials and the SCIM switch, and its
//! Dedicated Token.

use super::{Screen, View};
use crate::client::ClientError;
use crate::tui::app::{
    App, AppForm, AppList, Command, Confirm, ConfirmKind, ConnectProvider, EditApp, Members, Modal, ToastKind,
};
use crate::tui::keymap::{Action, Context};
use crate::tui::screens::app_list::token_cell;
use crate::tui::text::{truncate, width};
use crate::tui::ui::{Theme, section, when};
use crate::wire::{ClientApp, DedicatedToken, ScimChanged, TokenState};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use tui_input::Input;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manage {
    pub id: Uuid,
}

pub fn token_active(token: Option<&DedicatedToken>) -> bool {
    token.is_some_and(|t| t.state == TokenState::Active)
}

/// Why `i` is disabled for this app, if it is.
pub fn issue_blocked(app: &ClientApp) -> Option<&'static str> {
    if !app.can_manage {
        Some("you are not a member of this app's access permission")
    } else if !app.scim_enabled {
        Some("SCIM is off; switch Enable SCIM on first (s)")
    } else if token_active(app.token.as_ref()) {
        Some("a token is already active; revoke it first (R)")
    } else {
        None
    }
}

impl Manage {
    /// Opens the page and loads the app fresh.
    pub fn open(app: &mut App, id: Uuid) {
        app.screen = Screen::Manage(Manage { id });
        app.send(Command::LoadApp(id));
        app.send(Command::LoadScimSummary(id));
    }

    pub(crate) fn on_app(app: &mut App, id: Uuid, result: Result<ClientApp, ClientError>) {
        match result {
            Err(ClientError::Api { status: 404, .. }) => {
                app.apps.retain(|a| a.id != id);
                app.refilter(None);
                if matches!(app.screen, Screen::Manage(m) if m.id == id) {
                    app.screen = Screen::AppList(AppList);
                }
                app.toast(ToastKind::Error, "That client app no longer exists.");
            }
            other => {
                if let Some(a) = app.ok(other) {
                    app.upsert(a);
                    Self::check_unseen_token(app, id);
                }
            }
        }
    }

    pub(crate) fn on_scim_changed(app: &mut App, result: Result<ScimChanged, ClientError>) {
        if let Some(changed) = app.ok(result) {
            let on = changed.app.scim_enabled;
            let msg = match (on, changed.revoked_token_id) {
                (true, _) => "SCIM is enabled. You can now issue a Dedicated Token (i).".to_owned(),
                (false, Some(_)) => "SCIM is disabled and the active token was revoked.".to_owned(),
                (false, None) => "SCIM is disabled.".to_owned(),
            };
            app.toast(ToastKind::Info, msg);
            app.upsert(changed.app);
        }
    }

    pub(crate) fn on_token_revoked(app: &mut App, id: Uuid, result: Result<(), ClientError>) {
        let reissue = app.reissue_after_revoke.remove(&id);
        if app.ok(result).is_some() {
            if reissue {
                app.toast(
                    ToastKind::Info,
                    "The unseen token was revoked; issuing a new one…",
                );
                app.send(Command::IssueToken(id));
            } else {
                app.toast(
                    ToastKind::Info,
                    "The token was revoked. You can issue a new one (i).",
                );
                app.send(Command::LoadApp(id));
            }
        }
    }

    /// The reply to an issue never arrived (the link dropped after the request went out), or the
    /// server says a token is already active: re-read the app to learn what really happened.
    pub(crate) fn on_issue_unknown(app: &mut App, id: Uuid, why: String) {
        app.issue_unknown.insert(id);
        app.toast(
            ToastKind::Error,
            format!("The token request's outcome is unknown ({why}); checking the server…"),
        );
        app.send(Command::LoadApp(id));
    }

    /// After re-reading: a token active on the server that this console never showed means its
    /// one showing was lost. Say so, and offer to revoke it and issue a new one.
    fn check_unseen_token(app: &mut App, id: Uuid) {
        if !app.issue_unknown.remove(&id) {
            return;
        }
        let Some(a) = app.app(id) else { return };
        match &a.token {
            Some(t) if t.state == TokenState::Active && !app.shown_tokens.contains(&t.token_id) => {
                let name = a.name.clone();
                app.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::RevokeAndReissue { id },
                    app_name: name,
                    typed: None,
                    mismatch: false,
                }));
            }
            // The active token is the one shown here: nothing was lost.
            Some(t) if t.state == TokenState::Active => {}
            _ => app.toast(
                ToastKind::Info,
                "No token was issued: the request did not reach the server. Press i to try again.",
            ),
        }
    }
}

impl View for Manage {
    fn breadcrumb(&self, app: &App) -> String {
        format!(
            "API > ClientApp > {}",
            app.app(self.id).map(|a| a.name.as_str()).unwrap_or("…")
        )
    }

    fn hints(&self, app: &App) -> Vec<String> {
        app.keymap.hints(&[
            Action::ToggleScim,
            Action::IssueToken,
            Action::RevokeToken,
            Action::Edit,
            Action::EditMembers,
            Action::ReissueSecret,
            Action::ConnectProvider,
            Action::Activity,
            Action::AuditLog,
            Action::Back,
            Action::Help,
        ])
    }

    fn on_key(app: &mut App, key: &KeyEvent, _event: &Event) {
        let Screen::Manage(Manage { id }) = app.screen else {
            return;
        };
        let Some(action) = app
            .keymap
            .lookup(key, &[Context::ManageApp, Context::Global])
            .or_else(|| {
                // The list's audit and activity keys open this app's own; c copies its client ID.
                app.keymap
                    .lookup(key, &[Context::AppList])
                    .filter(|a| matches!(a, Action::AuditLog | Action::Activity | Action::CopyClientId))
            })
        else {
            return;
        };
        let Some(a) = app.app(id).cloned() else {
            if action == Action::Back {
                app.screen = Screen::AppList(AppList);
            } else if action == Action::Quit {
                app.quit = true;
            }
            return;
        };
        let manage_refusal = || {
            format!(
                "You can view {} but not change it: only members of its app access permission, or a super admin, may.",
                a.name
            )
        };
        let changes = matches!(
            action,
            Action::Edit
                | Action::EditMembers
                | Action::ReissueSecret
                | Action::ToggleScim
                | Action::IssueToken
                | Action::RevokeToken
        );
        if changes && !a.can_manage {
            app.toast(ToastKind::Error, manage_refusal());
            return;
        }
        if changes
            && app
                .pending
                .values()
                .any(|p| p.kind.mutates() && p.target == Some(id))
        {
            // A change to this app is on its way: a second press (a slow link) does nothing.
            return;
        }
        match action {
            Action::Quit => app.quit = true,
            Action::Back => {
                app.screen = Screen::AppList(AppList);
                // Come back to the app just managed (it may have been created a moment ago).
                if let Some(pos) = app.visible.iter().position(|i| app.apps[*i].id == id) {
                    app.list.selected = pos;
                }
            }
            Action::Refresh => app.refresh(),
            Action::AuditLog => super::audit::AuditView::open(app, Some(id)),
            Action::CopyClientId => {
                app.send(Command::CopyText(a.client_id.clone()));
            }
            Action::ConnectProvider => ConnectProvider::open(app, id),
            Action::Activity => super::activity::ActivityView::open(app, Some(id)),
            Action::CopyScimUrl => ConnectProvider::copy_url(app, id),
            Action::Edit => {
                app.modal = Some(Modal::EditApp(EditApp {
                    id,
                    original: (a.name.clone(), a.description.clone()),
                    form: AppForm {
                        name: Input::new(a.name.clone()),
                        description: Input::new(a.description.clone()),
                        ..AppForm::default()
                    },
                }))
            }
            Action::EditMembers => {
                app.modal = Some(Modal::Members(Members {
                    id,
                    input: Input::new(a.members.join(", ")),
                    busy: false,
                }))
            }
            Action::ReissueSecret => {
                // The current secret stops working at once: as dangerous as a revoke.
                app.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::ReissueSecret { id },
                    app_name: a.name.clone(),
                    typed: Some(Input::default()),
                    mismatch: false,
                }))
            }
            Action::ToggleScim => {
                let revokes_token = a.scim_enabled && token_active(a.token.as_ref());
                app.modal = Some(Modal::Confirm(Confirm {
                    kind: ConfirmKind::SetScim {
                        id,
                        enable: !a.scim_enabled,
                        revokes_token,
                    },
                    app_name: a.name.clone(),
                    // Switching off revokes the active token: type the name, as for a revoke.
                    typed: revokes_token.then(Input::default),
                    mismatch: false,
                }))
            }
            Action::IssueToken => match issue_blocked(&a) {
                Some(why) => app.toast(ToastKind::Error, format!("Cannot issue a token: {why}")),
                None => {
                    app.send(Command::IssueToken(id));
                }
            },
            Action::RevokeToken => {
                if token_active(a.token.as_ref()) {
                    app.modal = Some(Modal::Confirm(Confirm {
                        kind: ConfirmKind::RevokeToken { id },
                        app_name: a.name.clone(),
                        typed: Some(Input::default()),
                        mismatch: false,
                    }))
                } else {
                    app.toast(ToastKind::Error, "This app has no active token to revoke.")
                }
            }
            _ => {}
        }
    }

    fn draw(&self, frame: &mut Frame, app: &App, theme: &Theme, body: Rect) {
        draw_manage(frame, app, self.id, theme, body)
    }
}

/// "SCIM base URL  https://…/scim/v2  [y] copy": where a provider sends its requests. A URL too
/// long for the line is cut with "…" so the copy key (which copies it whole) always shows.
fn scim_url_line(app: &App, a: &ClientApp, theme: &Theme, room: u16) -> Line<'static> {
    let label = Span::styled(format!("{:<22}", "SCIM base URL"), theme.dim());
    if a.scim_base_url.is_empty() {
        return Line::from(vec![
            label,
            Span::styled("(this server does not report it)", theme.dim()),
        ]);
    }
    let key = format!("[{}]", app.keymap.label(Action::CopyScimUrl));
    let url_room = (room as usize).saturating_sub(22 + 2 + width(&key) + 5);
    Line::from(vec![
        label,
        Span::raw(format!("{}  ", truncate(&a.scim_base_url, url_room))),
        Span::styled(key, theme.key()),
        Span::raw(" copy"),
    ])
}

fn draw_manage(frame: &mut Frame, app: &App, id: uuid::Uuid, theme: &Theme, body: Rect) {
    let Some(a) = app.app(id) else {
        frame.render_widget(Paragraph::new("Loading…").block(Block::bordered()), body);
        return;
    };
    let label = |s: &str| Span::styled(format!("{s:<22}"), theme.dim());
    let k = |action: Action| Span::styled(format!("[{}]", app.keymap.label(action)), theme.key());
    // 3. Dedicated Token, built first: its rows decide what the sections above may take.
    let t = a.token.as_ref();
    let narrow = body.width < 80;
    let state = match t {
        None => Span::raw("none issued"),
        Some(t) if t.state == TokenState::Active => Span::styled(token_cell(a, app.now), theme.good()),
        Some(t) => Span::styled(t.state.as_str(), theme.warn()),
    };
    let issue = match issue_blocked(a) {
        None => Line::from(vec![k(Action::IssueToken), Span::raw(" Issue Long-lived Token")]),
        Some(why) => Line::from(vec![
            Span::styled(
                format!("[{}] Issue (disabled: ", app.keymap.label(Action::IssueToken)),
                theme.dim(),
            ),
            Span::styled(why, theme.dim()),
            Span::styled(")", theme.dim()),
        ]),
    };
    let issued_at = Span::raw(format!(
        "{:<23}",
        t.map(|t| when(t.issued_at)).unwrap_or("-".into())
    ));
    let last_used = Span::raw(t.and_then(|t| t.last_used_at).map(when).unwrap_or("-".into()));
    let mut token_lines = if narrow {
        // Under 80 columns "Last used" gets its own row rather than a wrapped one.
        vec![
            Line::from(vec![label("State"), state]),
            Line::from(vec![label("Issued at"), issued_at]),
            Line::from(vec![label("Last used"), last_used]),
        ]
    } else {
        vec![
            Line::from(vec![label("State"), state]),
            Line::from(vec![
                label("Issued at"),
                issued_at,
                Span::styled("Last used  ", theme.dim()),
                last_used,
            ]),
        ]
    };
    token_lines.extend([
        match t {
            Some(t) if t.state == TokenState::Revoked => Line::from(vec![
                label("Revoked at"),
                Span::raw(t.revoked_at.map(when).unwrap_or("-".into())),
            ]),
            Some(t) if t.state == TokenState::Expired => {
                Line::from(vec![label("Expired at"), Span::raw(when(t.expires_at))])
            }
            _ => Line::from(vec![
                label("Expires"),
                Span::raw(t.map(|t| when(t.expires_at)).unwrap_or("-".into())),
            ]),
        },
        Line::from(Span::styled(
            if narrow {
                "Valid 90 d from last use; each use renews it. Lost? Revoke, reissue."
            } else {
                "Valid 90 days from last use; every use renews it. Lost? Revoke, then reissue."
            },
            theme.dim(),
        )),
        issue,
    ]);
    if token_active(t) && a.can_manage {
        token_lines.push(Line::from(vec![k(Action::RevokeToken), Span::raw(" Revoke")]));
    }
    let inner_w = body.width.saturating_sub(2).max(1) as usize;
    let token_h = 2 + token_lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w).max(1) as u16)
        .sum::<u16>();

    // Warnings take the lines they wrap to, without a border, so the three sections still fit 80×24.
    let warn_lines: u16 = a
        .warnings
        .iter()
        .map(|w| (width(w) + 2).div_ceil(body.width.max(1) as usize) as u16)
        .sum();
    let access = if a.can_manage {
        None
    } else {
        Some("View only: only app access permission members or a super admin may change it.")
    };
    let warn_h = warn_lines.min(body.height / 3);
    let basic_h = 5 + u16::from(access.is_some());
    // Client ID, secret and SCIM switch always; then, as rows allow after the token section
    // (whose actions come first), the SCIM base URL (also in the `p` panel) and the last SCIM
    // call and error.
    let spare = body.height.saturating_sub(warn_h + basic_h + 5 + token_h);
    let url_row = spare.min(1);
    let scim_rows = (spare - url_row).min(2);
    let creds_h = 5 + url_row;
    let [warn_area, basic, creds, token] = Layout::vertical([
        Constraint::Length(warn_h),
        Constraint::Length(basic_h),
        Constraint::Length(creds_h + scim_rows),
        Constraint::Fill(1),
    ])
    .areas(body);
    if !a.warnings.is_empty() {
        let text: Vec<Line> = a
            .warnings
            .iter()
            .map(|w| Line::from(Span::styled(format!("⚠ {w}"), theme.warn())))
            .collect();
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), warn_area);
    }
    // 1. Basic information
    let desc = if a.description.is_empty() {
        "(none)".to_owned()
    } else {
        a.description.replace('\n', " ⏎ ")
    };
    let mut basic_lines = vec![
        Line::from(vec![label("App name"), Span::raw(a.name.clone())]),
        Line::from(vec![label("Description"), Span::raw(desc)]),
        Line::from(vec![
            label("App access permission"),
            Span::raw(format!("{}  ", a.members.join(", "))),
            k(Action::EditMembers),
        ]),
    ];
    if let Some(why) = access {
        basic_lines.push(Line::from(Span::styled(why, theme.warn())));
    }
    frame.render_widget(
        Paragraph::new(basic_lines).block(section(theme, "1. Basic information", Some(k(Action::Edit)))),
        basic,
    );

    // 2. Client credentials and access scope
    let switch = if a.scim_enabled {
        Span::styled("[ ON  ]", theme.good().add_modifier(Modifier::REVERSED))
    } else {
        Span::styled("[ OFF ]", Style::new().add_modifier(Modifier::BOLD))
    };
    let mut creds_lines = vec![
        Line::from(vec![label("Client ID"), Span::raw(a.client_id.clone())]),
        Line::from(vec![
            label("Client secret"),
            Span::raw("•••••••• (shown once when issued)  "),
            k(Action::ReissueSecret),
            Span::raw(" reissue"),
        ]),
        Line::from(vec![
            label("Enable SCIM"),
            switch,
            Span::raw("  "),
            k(Action::ToggleScim),
            Span::raw(" switch"),
        ]),
    ];
    if url_row > 0 {
        creds_lines.push(scim_url_line(app, a, theme, creds.width.saturating_sub(2)));
    }
    creds_lines.extend(super::activity::summary_lines(
        app,
        id,
        theme,
        creds.width.saturating_sub(2),
        scim_rows,
    ));
    frame.render_widget(
        Paragraph::new(creds_lines).block(section(theme, "2. Client credentials and access scope", None)),
        creds,
    );

    frame.render_widget(
        Paragraph::new(token_lines)
            .wrap(Wrap { trim: false })
            .block(section(theme, "3. Dedicated Token", None)),
        token,
    );
}
