//! Snapshot tests: every screen and modal at 80×24 and 120×40, drawn into a `TestBackend`.
//! States are reached through keys and replies, as a user would reach them.

use super::app::*;
use super::fixtures::{self, CJK_NAME, HOSTILE_NAME};
use super::ui;
use crate::client::ClientError;
use crate::wire::{AppCreated, IssuedToken, SsoUserKey};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use secrecy::SecretString;
use uuid::Uuid;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
/// A fake token, long enough to wrap like a real one.
const FAKE_JWT: &str = "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSJ9.eyJpc3MiOiJkZXZjb25zb2xlIiwic3ViIjoiQ0lEMDAwMDAwMDAwMDAwMDAwMTAuc2VydmljZWFjY291bnQiLCJhdWQiOiJkZXZjb25zb2xlLXNjaW0ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmUtc2lnbmF0dXJlLXNpZ25hdHVyZQ";

pub fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ch(c: char) -> Event {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Event::Key(KeyEvent::new(KeyCode::Char(c), m))
}

pub fn ctrl(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        app.on_event(&ch(c));
    }
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t
}

fn snap(name: &str, setup: impl Fn() -> App) {
    for (w, h) in SIZES {
        let app = setup();
        let t = render(&app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    }
}

fn list() -> App {
    fixtures::app_with(fixtures::sample_apps(), true)
}

fn open(app: &mut App, id: u128) {
    let pos = app
        .visible
        .iter()
        .position(|i| app.apps[*i].id == Uuid::from_u128(id))
        .unwrap();
    app.list.selected = pos;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
}

fn manage(id: u128) -> App {
    let mut app = list();
    open(&mut app, id);
    app
}

fn issued_token_modal() -> App {
    let mut app = manage(10);
    app.answer(Reply::TokenIssued(
        Uuid::from_u128(10),
        Ok(IssuedToken {
            token: SecretString::from(FAKE_JWT),
            token_id: Uuid::from_u128(77),
            issued_at: fixtures::NOW,
            expires_at: fixtures::NOW + time::Duration::days(90),
        }),
    ));
    app.take_commands();
    app
}

#[test]
fn app_list() {
    snap("app_list", list);
}

#[test]
fn app_list_empty_and_loading() {
    snap("app_list_empty", || fixtures::app_with(Vec::new(), true));
    snap("app_list_loading", || {
        let mut c = fixtures::connection();
        c.link = Link::Connecting;
        c.label = "embedded".into();
        App::new(super::keymap::Keymap::defaults(), c, true)
    });
}

#[test]
fn app_list_filtered_cjk() {
    snap("app_list_filter", || {
        let mut app = list();
        app.on_event(&ch('/'));
        typed(&mut app, "システム");
        app
    });
}

#[test]
fn app_list_unreachable() {
    snap("app_list_unreachable", || {
        let mut app = list();
        app.on_event(&ch('r'));
        app.answer(Reply::Apps(Err(ClientError::Unreachable {
            url: "https://console.example.com".into(),
            reason: "Connection refused (os error 111)".into(),
        })));
        app
    });
}

#[test]
fn non_member_delete_explains_why() {
    snap("app_list_delete_refused", || {
        let mut app = list();
        let pos = app.visible.iter().position(|i| !app.apps[*i].can_manage).unwrap();
        app.list.selected = pos;
        app.on_event(&ctrl('d'));
        assert!(app.modal.is_none());
        app
    });
}

#[test]
fn login_screen() {
    snap("login", || {
        let mut c = fixtures::connection();
        c.link = Link::SignedOut;
        c.admin = None;
        let mut app = App::new(super::keymap::Keymap::defaults(), c, true);
        typed(&mut app, "alice");
        app.on_event(&key(KeyCode::Tab));
        typed(&mut app, "hunter2hunter2");
        app
    });
    snap("login_failed", || {
        let mut c = fixtures::connection();
        c.link = Link::SignedOut;
        c.admin = None;
        let mut app = App::new(super::keymap::Keymap::defaults(), c, true);
        app.answer(Reply::LoggedIn(Err(ClientError::Api {
            status: 401,
            code: "unauthorized".into(),
            message: "wrong username or password".into(),
        })));
        app
    });
}

#[test]
fn add_app_form() {
    snap("add_app", || {
        let mut app = list();
        app.on_event(&ch('a'));
        typed(&mut app, "Entra ID 連携");
        app.on_event(&key(KeyCode::Tab));
        typed(&mut app, "Provisioning from Entra");
        app
    });
    snap("add_app_invalid", || {
        let mut app = list();
        app.on_event(&ch('a'));
        app.on_event(&key(KeyCode::Enter));
        assert!(app.take_commands().is_empty(), "an empty name is not sent");
        app
    });
}

#[test]
fn manage_screens() {
    snap("manage_active_token", || manage(10));
    snap("manage_cjk", || manage(11));
    snap("manage_hostile", || manage(12));
    snap("manage_not_member", || manage(13));
    snap("manage_sso_warning", || {
        let mut apps = fixtures::sample_apps();
        apps[0].warnings = vec![format!(
            "To use provisioning and SSO at the same time, select LINE WORKS Account as the User Key in SSO \
             Type; the current SSO user key ({SsoUserKey:?}) will not match provisioned accounts.",
            SsoUserKey = SsoUserKey::Email
        )];
        let mut app = fixtures::app_with(apps, true);
        open(&mut app, 10);
        app
    });
}

#[test]
fn audit_log() {
    snap("audit_all", || {
        let mut app = list();
        app.on_event(&ch('L'));
        app.answer(Reply::Audit(None, Ok(fixtures::audit_events())));
        app
    });
}

#[test]
fn secret_modals() {
    snap("token_modal", issued_token_modal);
    snap("token_modal_nudged", || {
        let mut app = issued_token_modal();
        app.on_event(&key(KeyCode::Esc));
        app.answer(Reply::Copied {
            message: "Sent via OSC 52; your terminal must allow it.".into(),
            clears_at: None,
        });
        app
    });
    snap("client_secret_modal", || {
        let mut app = list();
        app.on_event(&ch('a'));
        typed(&mut app, "New app");
        app.on_event(&key(KeyCode::Enter));
        app.take_commands();
        let mut created = fixtures::client_app(20, "New app");
        created.client_id = "CID00000000000000020".into();
        app.answer(Reply::Created(Ok(AppCreated {
            app: created,
            client_secret: SecretString::from("dcs_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"),
        })));
        app
    });
}

#[test]
fn confirmations_and_edits() {
    snap("confirm_delete", || {
        let mut app = list();
        app.on_event(&ctrl('d'));
        typed(&mut app, "Okta");
        app
    });
    snap("confirm_scim_off", || {
        let mut app = manage(10);
        app.on_event(&ch('s'));
        app
    });
    snap("confirm_scim_on", || {
        let mut app = manage(12);
        app.on_event(&ch('s'));
        app
    });
    snap("confirm_revoke", || {
        let mut app = manage(10);
        app.on_event(&ch('R'));
        app
    });
    snap("confirm_reissue_secret", || {
        let mut app = manage(10);
        app.on_event(&ch('x'));
        app
    });
    snap("edit_app", || {
        let mut app = manage(11);
        app.on_event(&ch('e'));
        app
    });
    snap("edit_members", || {
        let mut app = manage(10);
        app.on_event(&ch('m'));
        typed(&mut app, ", bob");
        app
    });
}

#[test]
fn help_overlay_and_small_terminal() {
    snap("help", || {
        let mut app = list();
        app.on_event(&ch('?'));
        app
    });
    let app = list();
    let t = render(&app, 69, 24);
    insta::assert_snapshot!("too_small_69x24", t.backend());
    let t = render(&app, 100, 10);
    insta::assert_snapshot!("too_small_100x10", t.backend());
}

#[test]
fn hostile_text_is_shown_escaped_never_raw() {
    let app = manage(12);
    for (w, h) in SIZES {
        let t = render(&app, w, h);
        let buf = t.backend().buffer();
        let all: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(!all.contains('\x1b') && !all.contains('\u{202E}') && !all.contains('\x07'));
        assert!(all.contains("evil\\x1b[31mred\\u{202e}gpj.exe"), "{all}");
    }
    assert_eq!(
        app.app(Uuid::from_u128(12)).unwrap().name,
        "evil\\x1b[31mred\\u{202e}gpj.exe"
    );
    assert_ne!(HOSTILE_NAME, app.app(Uuid::from_u128(12)).unwrap().name);
}

/// A row as a terminal shows it: the cells hidden behind wide characters are skipped.
fn row_text(buf: &ratatui::buffer::Buffer, y: u16) -> String {
    let mut out = String::new();
    let mut x = 0;
    while x < buf.area.width {
        let s = buf[(x, y)].symbol();
        out.push_str(s);
        x += (super::text::width(s) as u16).max(1);
    }
    out
}

#[test]
fn cjk_names_keep_columns_aligned() {
    let app = list();
    let t = render(&app, 80, 24);
    let buf = t.backend().buffer();
    // The Client ID column starts at the same display column on every row, wide names or not.
    let cols: Vec<usize> = (0..24)
        .map(|y| row_text(buf, y))
        .filter_map(|row| row.find("CID").map(|i| super::text::width(&row[..i])))
        .collect();
    assert_eq!(cols.len(), 4, "all four apps are listed");
    assert!(
        cols.windows(2).all(|w| w[0] == w[1]),
        "client IDs misaligned: {cols:?}"
    );
    let all: String = (0..24).map(|y| row_text(buf, y)).collect();
    assert!(all.contains("人事システム"), "the CJK name is drawn");
    assert!(
        !all.contains(CJK_NAME),
        "the long CJK name is truncated at 80 columns"
    );
    assert!(all.contains('…'));
}

#[test]
fn no_color_marks_selection_without_colour() {
    let app = fixtures::app_with(fixtures::sample_apps(), false);
    let t = render(&app, 80, 24);
    let buf = t.backend().buffer();
    let mut saw_selection = false;
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "colour used with NO_COLOR");
        assert_eq!(cell.bg, ratatui::style::Color::Reset, "colour used with NO_COLOR");
        if cell.symbol() == "▶" {
            saw_selection = true;
            assert!(cell.modifier.contains(Modifier::REVERSED));
        }
    }
    assert!(saw_selection, "the selected row has a marker");
}

#[test]
fn secret_safety_states() {
    snap("token_modal_ctrl_c_once", || {
        let mut app = issued_token_modal();
        app.on_event(&ctrl('c'));
        app
    });
    snap("token_modal_write_prompt", || {
        let mut app = issued_token_modal();
        app.on_event(&ch('w'));
        app.answer(Reply::Written(Err(
            "Okta_sync.token already exists and was left alone; type another name.".into(),
        )));
        app
    });
    snap("token_modal_one_line", || {
        let mut app = issued_token_modal();
        app.on_event(&ch('u'));
        app
    });
    snap("token_modal_tmux_copied", || {
        let mut app = issued_token_modal();
        app.on_event(&ch('y'));
        app.answer(Reply::Copied {
            message: crate::clipboard::CopyOutcome::TmuxBuffer { verified: true }.message(),
            clears_at: Some(std::time::Instant::now() + std::time::Duration::from_millis(29_500)),
        });
        app
    });
    snap("unseen_token_confirm", unseen_token_confirm);
    let app = issued_token_modal();
    let t = render(&app, 60, 20);
    insta::assert_snapshot!("too_small_with_secret_60x20", t.backend());
}

fn unseen_token_confirm() -> App {
    let mut apps = fixtures::sample_apps();
    apps[0].token = None;
    let mut app = fixtures::app_with(apps.clone(), true);
    open(&mut app, 10);
    app.on_event(&ch('i'));
    app.answer(Reply::TokenIssued(
        Uuid::from_u128(10),
        Err(ClientError::Timeout {
            url: "https://console.example.com".into(),
        }),
    ));
    apps[0].token = Some(fixtures::token(crate::wire::TokenState::Active, 90));
    app.answer(Reply::App(Uuid::from_u128(10), Ok(apps[0].clone())));
    app
}

/// A confirmation whose text wraps still shows its keys on its last line, at every size.
#[test]
fn confirmations_never_cut_off_their_keys() {
    let mismatch = || {
        let mut app = manage(10);
        app.on_event(&ch('s'));
        typed(&mut app, "okta");
        app.on_event(&key(KeyCode::Enter));
        app
    };
    let cases: [(&str, &dyn Fn() -> App, &str); 2] = [
        ("unseen token", &unseen_token_confirm, "[n/Esc] cancel"),
        ("typed mismatch", &mismatch, "Enter confirm · Esc cancel"),
    ];
    for (what, setup, keys) in cases {
        for (w, h) in [(80, 24), (80, 23), (70, 23), (120, 40)] {
            let mut app = setup();
            app.toast = None;
            let t = render(&app, w, h);
            let buf = t.backend().buffer();
            let all: String = buf.content().iter().map(|c| c.symbol()).collect();
            assert!(
                all.contains(keys),
                "{what} at {w}x{h}: no {keys:?}\n{}",
                t.backend()
            );
        }
    }
}

/// The unwrapped display leaves the rows blank for the runtime to write the secret itself.
#[test]
fn one_line_mode_reserves_blank_rows_and_marks_them() {
    let mut app = issued_token_modal();
    app.on_event(&ch('u'));
    let t = render(&app, 80, 24);
    let row = app.raw_secret_row.get().expect("a row for the raw secret");
    let buf = t.backend().buffer();
    let rows = FAKE_JWT.len().div_ceil(80) as u16;
    for y in row..row + rows {
        assert!(row_text(buf, y).trim().is_empty(), "row {y} is left blank");
    }
    let all: String = (0..24).map(|y| row_text(buf, y)).collect();
    assert!(!all.contains(&FAKE_JWT[..20]), "ratatui does not draw it");
}

#[test]
fn connect_provider_panel() {
    snap("connect_provider", || {
        let mut app = manage(10);
        app.on_event(&ch('p'));
        assert!(matches!(app.modal, Some(Modal::ConnectProvider(_))));
        app
    });
    snap("connect_provider_copied", || {
        let mut app = manage(10);
        app.on_event(&ch('p'));
        app.on_event(&ch('y'));
        let sent = app.take_commands();
        assert!(
            matches!(&sent[..], [Command::CopyScimUrl(url)] if url == "https://console.example.com/scim/v2"),
            "{sent:?}"
        );
        app.answer(Reply::ScimUrlCopied(
            crate::clipboard::CopyOutcome::Osc52 {
                wrap: crate::clipboard::Wrap::Plain,
                in_tmux: false,
            }
            .message(),
        ));
        app
    });
    // The embedded server's loopback URL, on an app with SCIM off: both are called out.
    snap("connect_provider_embedded", || {
        let mut apps = fixtures::sample_apps();
        apps[2].scim_base_url = "http://127.0.0.1:43117/scim/v2".into();
        let mut app = fixtures::app_with(apps, false);
        open(&mut app, 12);
        app.on_event(&ch('p'));
        app
    });
}

#[test]
fn connect_provider_closes_and_copies_from_the_manage_page() {
    let mut app = manage(13);
    // A view-only app still shows where to connect.
    app.on_event(&ch('p'));
    assert!(matches!(app.modal, Some(Modal::ConnectProvider(_))));
    app.on_event(&key(KeyCode::Esc));
    assert!(app.modal.is_none());
    app.on_event(&ch('p'));
    app.on_event(&ch('p'));
    assert!(app.modal.is_none(), "the same key closes it");
    app.on_event(&ch('y'));
    assert!(matches!(&app.take_commands()[..], [Command::CopyScimUrl(_)]));
    app.answer(Reply::ScimUrlCopied("Copied to the clipboard.".into()));
    assert_eq!(
        app.toast.as_ref().map(|t| t.text.as_str()),
        Some("Copied to the clipboard.")
    );
}

#[test]
fn connection_states() {
    snap("forbidden_role", || {
        let mut c = fixtures::connection();
        c.admin.as_mut().unwrap().role = crate::wire::Role::Admin;
        c.admin.as_mut().unwrap().username = "bob".into();
        let mut app = App::new(super::keymap::Keymap::defaults(), c, true);
        app.on_event(&ch('r'));
        app.answer(Reply::Apps(Err(ClientError::Api {
            status: 403,
            code: "forbidden".into(),
            message: "Developers authority is required".into(),
        })));
        app
    });
    snap("session_expired_login", || {
        let mut app = manage(10);
        app.answer(Reply::App(
            Uuid::from_u128(10),
            Err(ClientError::Api {
                status: 401,
                code: "unauthorized".into(),
                message: "the session expired after being idle; sign in again".into(),
            }),
        ));
        app
    });
    snap("offline_heartbeat", || {
        let mut app = list();
        app.on_reply(
            RequestId::UNSOLICITED,
            Reply::Health(Err(ClientError::Unreachable {
                url: "https://console.example.com".into(),
                reason: "Connection refused (os error 111)".into(),
            })),
        );
        app
    });
}

#[test]
fn terminals_as_they_are() {
    // 80×23 (tmux's status line) and a compact 70-column layout draw, not "too small".
    for (w, h) in [(80, 23), (70, 23)] {
        let app = list();
        let t = render(&app, w, h);
        insta::assert_snapshot!(format!("app_list_{w}x{h}"), t.backend());
        let app = manage(10);
        let t = render(&app, w, h);
        insta::assert_snapshot!(format!("manage_{w}x{h}"), t.backend());
    }
    // LANG=C: nothing outside ASCII reaches the terminal.
    let mut app = issued_token_modal();
    app.ascii = true;
    let t = render(&app, 80, 24);
    insta::assert_snapshot!("ascii_token_modal_80x24", t.backend());
    let mut app = list();
    app.ascii = true;
    let t = render(&app, 80, 24);
    insta::assert_snapshot!("ascii_app_list_80x24", t.backend());
    for cell in t.backend().buffer().content() {
        assert!(cell.symbol().is_ascii(), "{:?}", cell.symbol());
    }
}

#[test]
fn danger_and_expiry() {
    snap("confirm_scim_off_typed_mismatch", || {
        let mut app = manage(10);
        app.on_event(&ch('s'));
        typed(&mut app, "okta");
        app.on_event(&key(KeyCode::Enter));
        app
    });
    snap("app_list_expiring", expiring_list);
}

/// Tokens with 2 and 10 days left, one revoked-free app, one expired.
fn expiring_list() -> App {
    let mut apps = fixtures::sample_apps();
    apps[0].token = Some(fixtures::token(crate::wire::TokenState::Active, 10));
    apps[1].token = Some(fixtures::token(crate::wire::TokenState::Active, 2));
    fixtures::app_with(apps, true)
}

#[test]
fn sort_and_expiring_filter() {
    // `o` twice: by token expiry, the 2-day token first, the title says so.
    snap("app_list_sorted_by_expiry", || {
        let mut app = expiring_list();
        app.on_event(&ch('o'));
        app.on_event(&ch('o'));
        app.toast = None;
        app
    });
    // `E` opens the prompt; a bad number is refused in words, in place.
    snap("app_list_expiring_prompt_error", || {
        let mut app = expiring_list();
        app.on_event(&ch('E'));
        typed(&mut app, "two weeks");
        app.on_event(&key(KeyCode::Enter));
        app
    });
    // Within 14 days: two of four, the title says which filter is on.
    snap("app_list_expiring_within_14", || {
        let mut app = expiring_list();
        app.on_event(&ch('E'));
        typed(&mut app, "14");
        app.on_event(&key(KeyCode::Enter));
        app.toast = None;
        app
    });
    // Within 1 day: nothing, and the list says how to get out.
    snap("app_list_expiring_within_1_none", || {
        let mut app = expiring_list();
        app.on_event(&ch('E'));
        typed(&mut app, "1");
        app.on_event(&key(KeyCode::Enter));
        app.toast = None;
        app
    });
}

fn activity_page(events: Vec<crate::wire::ActivityEvent>, next: Option<&str>) -> Reply {
    Reply::Activity {
        more: false,
        result: Ok(crate::wire::ActivityPage {
            events,
            next_cursor: next.map(str::to_owned),
        }),
    }
}

/// The app list, then `A`: every app's activity.
fn activity_all() -> App {
    let mut app = list();
    app.on_event(&ch('A'));
    let sent = app.take_commands();
    assert!(
        matches!(
            &sent[..],
            [Command::LoadActivity {
                app: None,
                failed_only: false,
                cursor: None
            }]
        ),
        "{sent:?}"
    );
    app.answer(activity_page(fixtures::activity_events(), Some("c2")));
    app
}

#[test]
fn activity_screens() {
    snap("activity_all", activity_all);
    snap("activity_detail", || {
        let mut app = activity_all();
        // Down to the failed create, then its detail on the whole screen.
        app.on_event(&ch('j'));
        app.on_event(&ch('j'));
        app.on_event(&key(KeyCode::Enter));
        app
    });
    snap("activity_app", || {
        let mut app = manage(10);
        app.on_event(&ch('A'));
        let sent = app.take_commands();
        assert!(
            matches!(&sent[..], [Command::LoadActivity { app: Some(id), .. }] if *id == Uuid::from_u128(10)),
            "{sent:?}"
        );
        app.answer(activity_page(fixtures::activity_events(), None));
        app.on_event(&ch('j'));
        app.on_event(&ch('j'));
        app
    });
    snap("activity_empty", || {
        let mut app = manage(11);
        app.on_event(&ch('A'));
        app.answer(activity_page(Vec::new(), None));
        app
    });
    snap("activity_failed_only_empty", || {
        let mut app = manage(11);
        app.on_event(&ch('A'));
        app.answer(activity_page(Vec::new(), None));
        app.on_event(&ch('f'));
        let sent = app.take_commands();
        assert!(
            matches!(
                &sent[..],
                [
                    ..,
                    Command::LoadActivity {
                        failed_only: true,
                        cursor: None,
                        ..
                    }
                ]
            ),
            "{sent:?}"
        );
        app.answer(activity_page(Vec::new(), None));
        app
    });
    snap("activity_error", || {
        let mut app = list();
        app.on_event(&ch('A'));
        app.answer(Reply::Activity {
            more: false,
            result: Err(ClientError::Api {
                status: 503,
                code: "unavailable".into(),
                message: "the database is busy; try again".into(),
            }),
        });
        app
    });
    snap("activity_loading_more", || {
        let mut app = activity_all();
        app.on_event(&ch('G'));
        let sent = app.take_commands();
        assert!(
            matches!(&sent[..], [Command::LoadActivity { cursor: Some(c), .. }] if c == "c2"),
            "reaching the end asks for the next page: {sent:?}"
        );
        app
    });
}

#[test]
fn activity_pages_append_and_stale_replies_are_dropped() {
    let mut app = activity_all();
    app.on_event(&ch('G'));
    app.take_commands();
    let mut more = fixtures::activity_events();
    for e in &mut more {
        e.id += 100;
        e.at -= time::Duration::hours(1);
    }
    app.answer(Reply::Activity {
        more: true,
        result: Ok(crate::wire::ActivityPage {
            events: more,
            next_cursor: None,
        }),
    });
    let Screen::Activity(v) = &app.screen else {
        panic!("not on the activity screen")
    };
    assert_eq!(v.events.len(), 10);
    assert_eq!(v.list.selected, 4, "the selection stays where it was");
    assert!(v.events.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    // At the end with nothing more: no request.
    app.on_event(&ch('G'));
    assert!(app.take_commands().is_empty());

    // Switch to failed-only while the all-calls reload is in flight: the late reply is dropped.
    app.on_event(&ch('r'));
    app.on_event(&ch('f'));
    let sent = app.take_commands();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let ids: Vec<RequestId> = app.pending.keys().copied().collect();
    app.on_reply(
        ids[1],
        activity_page(vec![fixtures::activity_events()[2].clone()], None),
    );
    app.on_reply(ids[0], activity_page(fixtures::activity_events(), None));
    let Screen::Activity(v) = &app.screen else {
        panic!("not on the activity screen")
    };
    assert_eq!(v.events.len(), 1, "only the failed-only page is shown");
    assert_eq!(v.events[0].outcome, crate::wire::Outcome::Failure);
}

#[test]
fn activity_failures_are_marked_without_colour() {
    let mut app = fixtures::app_with(fixtures::sample_apps(), false);
    app.on_event(&ch('A'));
    app.answer(activity_page(fixtures::activity_events(), None));
    let t = render(&app, 80, 24);
    let buf = t.backend().buffer();
    let rows: Vec<String> = (0..24).map(|y| row_text(buf, y)).collect();
    let failed = rows
        .iter()
        .find(|r| r.contains("dave"))
        .expect("the failed create is listed");
    assert!(failed.contains("400") && failed.contains("FAILED"), "{failed}");
    assert!(rows.iter().filter(|r| r.contains(" ok")).count() >= 4);
    for cell in buf.content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset, "colour used with NO_COLOR");
    }
}

#[test]
fn hostile_activity_text_is_escaped() {
    let mut app = list();
    app.on_event(&ch('A'));
    let mut events = fixtures::activity_events();
    events[0].name = Some(HOSTILE_NAME.into());
    events[0].detail = Some("line one\nline two \x1b]52;c;aGk=\x07".into());
    app.answer(activity_page(events, None));
    app.on_event(&key(KeyCode::Enter));
    let t = render(&app, 120, 40);
    let all: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(!all.contains('\x1b') && !all.contains('\x07') && !all.contains('\u{202E}'));
    assert!(all.contains("\\x1b]52;c;aGk=\\x07"), "{all}");
}

#[test]
fn manage_page_shows_the_last_scim_call_and_error() {
    use crate::tui::screens::activity::ScimSummary;
    snap("manage_scim_summary", || {
        let mut app = manage(10);
        let events = fixtures::activity_events();
        app.answer(Reply::ScimSummary(
            Uuid::from_u128(10),
            Ok(ScimSummary {
                last_call: Some(events[0].clone()),
                last_error: Some(events[2].clone()),
            }),
        ));
        app
    });
    snap("manage_scim_summary_none", || {
        let mut app = manage(11);
        app.answer(Reply::ScimSummary(
            Uuid::from_u128(11),
            Ok(ScimSummary {
                last_call: None,
                last_error: None,
            }),
        ));
        app
    });
}

#[test]
fn help_pages_when_it_does_not_fit() {
    snap("help_page_2", || {
        let mut app = list();
        app.on_event(&ch('?'));
        // Draw once so the overlay knows its pages, then turn one.
        render(&app, 80, 24);
        app.on_event(&ch('j'));
        app
    });
    snap("help_on_activity", || {
        let mut app = activity_all();
        app.on_event(&ch('?'));
        app
    });
}

/// Every action is listed somewhere in the help at the smallest size: nothing silently clipped.
#[test]
fn help_lists_every_action_at_80x24() {
    let mut app = list();
    app.on_event(&ch('?'));
    let mut text = String::new();
    for _ in 0..10 {
        let t = render(&app, 80, 24);
        let buf = t.backend().buffer();
        text.extend((0..24).map(|y| row_text(buf, y) + "\n"));
        app.on_event(&ch('j'));
    }
    for action in super::keymap::Action::ALL {
        let help: String = action.help().chars().take(12).collect();
        assert!(
            text.contains(&help),
            "{action:?} ({help}) is not in the help:\n{text}"
        );
    }
}

/// The summary is a side request: its failure must not redo what the page's own load reported
/// (a second 401 would reset the login form the user is typing in).
#[test]
fn a_failed_summary_does_not_reset_the_login_form() {
    let mut app = manage(10);
    let expired = || ClientError::Api {
        status: 401,
        code: "unauthorized".into(),
        message: "the session expired".into(),
    };
    app.answer(Reply::App(Uuid::from_u128(10), Err(expired())));
    assert!(matches!(app.screen, Screen::Login(_)));
    typed(&mut app, "alice");
    app.answer(Reply::ScimSummary(Uuid::from_u128(10), Err(expired())));
    let Screen::Login(form) = &app.screen else {
        panic!("left the login screen")
    };
    assert_eq!(form.username.value(), "alice");
}
