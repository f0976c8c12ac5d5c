use super::*;
use crate::tui::fixtures;
use crate::tui::snapshots::{ch, ctrl, key, typed};
use crate::wire::{IssuedToken, TokenState};
use secrecy::ExposeSecret;

const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl-unit-test-token";

fn list() -> App {
    fixtures::app_with(fixtures::sample_apps(), true)
}

fn with_token_modal() -> App {
    let mut app = list();
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.answer(Reply::TokenIssued(
        Uuid::from_u128(10),
        Ok(IssuedToken {
            token: SecretString::from(TOKEN),
            token_id: Uuid::from_u128(1),
            issued_at: fixtures::NOW,
            expires_at: fixtures::NOW,
        }),
    ));
    app.take_commands();
    app
}

#[test]
fn the_token_modal_needs_an_explicit_acknowledgement() {
    let mut app = with_token_modal();
    assert_eq!(app.open_secret().unwrap().expose_secret(), TOKEN);
    for ev in [key(KeyCode::Esc), key(KeyCode::Enter), ch('q')] {
        app.on_event(&ev);
        assert!(
            app.secret_open(),
            "{ev:?} closed the modal without acknowledgement"
        );
        assert!(matches!(&app.modal, Some(Modal::Secret(m)) if m.nudged));
        assert!(!app.quit);
    }
    app.on_event(&ch(' '));
    app.on_event(&key(KeyCode::Enter));
    assert!(!app.secret_open());
    assert!(app.clear_screen, "closing asks for a full repaint");
}

#[test]
fn the_token_is_never_in_debug_output() {
    let mut app = with_token_modal();
    assert!(
        !format!("{app:?}").contains(TOKEN),
        "Debug of the open modal leaks the token"
    );
    app.on_event(&ch('y'));
    let commands = app.take_commands();
    assert!(matches!(commands.as_slice(), [Command::CopySecret]));
    app.on_event(&ch('t'));
    let commands = app.take_commands();
    assert!(
        !format!("{commands:?}").contains(TOKEN),
        "Debug of commands leaks the token"
    );
    app.on_event(&ch(' '));
    app.on_event(&key(KeyCode::Enter));
    assert!(!format!("{app:?}").contains(TOKEN));
    assert!(app.open_secret().is_none());
}

#[test]
fn ctrl_c_quits_but_asks_once_more_over_a_secret() {
    let mut app = with_token_modal();
    app.on_event(&ctrl('c'));
    assert!(!app.quit, "one Ctrl-C over an unstored secret only asks");
    assert!(matches!(&app.modal, Some(Modal::Secret(m)) if m.quit_asked));
    app.on_event(&ctrl('c'));
    assert!(app.quit);
    let mut app = list();
    app.on_event(&ch('/'));
    app.on_event(&ctrl('c'));
    assert!(app.quit);
}

#[test]
fn issue_is_disabled_with_a_reason() {
    let apps = fixtures::sample_apps();
    assert_eq!(
        issue_blocked(&apps[0]),
        Some("a token is already active; revoke it first (R)")
    );
    assert_eq!(
        issue_blocked(&apps[2]),
        Some("SCIM is off; switch Enable SCIM on first (s)")
    );
    assert_eq!(
        issue_blocked(&apps[3]),
        Some("you are not a member of this app's access permission")
    );
    let mut app = list();
    app.list.selected = 2;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('i'));
    assert!(app.take_commands().is_empty(), "no request while SCIM is off");
    assert!(app.toast.as_ref().unwrap().text.contains("SCIM is off"));
}

#[test]
fn delete_needs_the_typed_name() {
    let mut app = list();
    app.list.selected = 0;
    app.on_event(&ctrl('d'));
    typed(&mut app, "Okta syn");
    app.on_event(&key(KeyCode::Enter));
    assert!(app.take_commands().is_empty());
    assert!(
        matches!(&app.modal, Some(Modal::Confirm(c)) if c.mismatch),
        "a wrong name is pointed out"
    );
    typed(&mut app, "c");
    app.on_event(&key(KeyCode::Enter));
    assert!(matches!(app.take_commands().as_slice(), [Command::DeleteApp(id)] if *id == Uuid::from_u128(10)));
    assert!(app.modal.is_none());
}

#[test]
fn scim_switch_asks_first_and_warns_about_revocation() {
    let mut app = list();
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('s'));
    assert!(matches!(
        &app.modal,
        Some(Modal::Confirm(Confirm {
            kind: ConfirmKind::SetScim {
                enable: false,
                revokes_token: true,
                ..
            },
            ..
        }))
    ));
    // Switching off would revoke the active token: `y` is not enough, the name is typed.
    app.on_event(&ch('y'));
    assert!(app.take_commands().is_empty());
    app.on_event(&key(KeyCode::Enter));
    assert!(matches!(&app.modal, Some(Modal::Confirm(c)) if c.mismatch));
    app.on_event(&key(KeyCode::Esc));
    assert!(app.modal.is_none() && app.take_commands().is_empty());
    app.on_event(&ch('s'));
    typed(&mut app, "Okta sync");
    app.on_event(&key(KeyCode::Enter));
    assert!(matches!(
        app.take_commands().as_slice(),
        [Command::SetScim { enabled: false, .. }]
    ));
}

#[test]
fn filter_narrows_as_you_type_and_esc_clears() {
    let mut app = list();
    app.on_event(&ch('/'));
    typed(&mut app, "okta");
    assert_eq!(app.visible.len(), 1);
    typed(&mut app, "x");
    assert_eq!(app.visible.len(), 0);
    app.on_event(&key(KeyCode::Esc));
    assert_eq!(app.visible.len(), 4);
    assert!(!app.quit, "q typed into the filter does not quit");
}

#[test]
fn vim_keys_paging_and_ends() {
    let mut app = fixtures::app_with(fixtures::many_apps(100), true);
    app.list.page.set(20);
    app.on_event(&ch('j'));
    app.on_event(&key(KeyCode::Down));
    assert_eq!(app.list.selected, 2);
    app.on_event(&ch('k'));
    assert_eq!(app.list.selected, 1);
    app.on_event(&ch('G'));
    assert_eq!(app.list.selected, 99);
    app.on_event(&key(KeyCode::PageUp));
    assert_eq!(app.list.selected, 79);
    app.on_event(&ch('g'));
    assert_eq!(app.list.selected, 0);
    app.on_event(&key(KeyCode::PageDown));
    assert_eq!(app.list.selected, 20);
}

#[test]
fn unreachable_is_reported_and_r_retries() {
    let mut app = list();
    app.on_event(&ch('r'));
    assert!(matches!(app.take_commands().as_slice(), [Command::LoadApps]));
    app.answer(Reply::Apps(Err(ClientError::Unreachable {
        url: "http://x".into(),
        reason: "refused".into(),
    })));
    assert!(matches!(app.conn.link, Link::Unreachable(_)));
    assert!(!app.quit);
    app.on_event(&ch('r'));
    assert!(matches!(app.take_commands().as_slice(), [Command::LoadApps]));
    app.answer(Reply::Apps(Ok(fixtures::sample_apps())));
    assert_eq!(app.conn.link, Link::Online);
}

#[test]
fn an_ended_remote_session_returns_to_login() {
    let mut app = list();
    app.answer(Reply::Apps(Err(ClientError::Api {
        status: 401,
        code: "unauthorized".into(),
        message: "the session expired after being idle; sign in again".into(),
    })));
    assert!(matches!(&app.screen, Screen::Login(f) if f.error.as_deref().unwrap().contains("sign in again")));
}

#[test]
fn login_sends_the_password_once_and_keeps_no_copy() {
    let mut c = fixtures::connection();
    c.link = Link::SignedOut;
    let mut app = App::new(Keymap::defaults(), c, true);
    typed(&mut app, "alice");
    app.on_event(&key(KeyCode::Enter));
    typed(&mut app, "correct horse battery");
    app.on_event(&key(KeyCode::Enter));
    match app.take_commands().as_slice() {
        [Command::Login { username, password }] => {
            assert_eq!(username, "alice");
            assert_eq!(password.expose_secret(), "correct horse battery");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{app:?}").contains("correct horse"));
    // A failed login leaves a usable, empty password field.
    app.answer(Reply::LoggedIn(Err(ClientError::Api {
        status: 401,
        code: "unauthorized".into(),
        message: "wrong username or password".into(),
    })));
    match &app.screen {
        Screen::Login(form) => {
            assert!(form.password.is_empty() && !form.busy);
            assert_eq!(form.error.as_deref(), Some("wrong username or password"));
        }
        _ => panic!("left the login screen"),
    }
    typed(&mut app, "again");
    assert!(matches!(&app.screen, Screen::Login(f) if f.password.as_str() == "again"));
}

#[test]
fn keys_are_ignored_while_the_terminal_is_too_small() {
    let mut app = list();
    app.too_small.set(true);
    app.on_event(&ctrl('d'));
    app.on_event(&ch('a'));
    assert!(app.modal.is_none() && matches!(app.screen, Screen::AppList(_)));
    app.on_event(&ch('q'));
    assert!(app.quit);
}

#[test]
fn a_too_small_terminal_never_quits_past_an_open_secret() {
    let mut app = with_token_modal();
    app.too_small.set(true);
    app.on_event(&ch('q'));
    assert!(!app.quit && app.secret_open());
    app.too_small.set(false);
    app.on_event(&ch(' '));
    app.on_event(&key(KeyCode::Enter));
    assert!(!app.secret_open());
}

#[test]
fn issue_pressed_twice_on_a_slow_link_sends_one_request() {
    let mut apps = fixtures::sample_apps();
    apps[0].token = None;
    let mut app = fixtures::app_with(apps, true);
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('i'));
    app.on_event(&ch('i'));
    app.on_event(&ch('R'));
    let commands = app.take_commands();
    assert!(
        matches!(commands.as_slice(), [Command::IssueToken(_)]),
        "{commands:?}"
    );
    assert!(app.toast.is_none(), "no error toast for the second press");
}

#[test]
fn a_lost_issue_reply_is_found_out_and_revoke_and_reissue_offered() {
    let mut apps = fixtures::sample_apps();
    apps[0].token = None;
    let mut app = fixtures::app_with(apps.clone(), true);
    let id = Uuid::from_u128(10);
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('i'));
    app.take_commands();
    app.answer(Reply::TokenIssued(
        id,
        Err(ClientError::Unreachable {
            url: "http://x".into(),
            reason: "connection closed before message completed".into(),
        }),
    ));
    assert!(matches!(app.take_commands().as_slice(), [Command::LoadApp(x)] if *x == id));
    assert!(app.toast.as_ref().unwrap().text.contains("unknown"));
    let mut now = apps[0].clone();
    now.token = Some(fixtures::token(TokenState::Active, 90));
    app.answer(Reply::App(id, Ok(now)));
    assert!(
        matches!(&app.modal, Some(Modal::Confirm(c)) if c.kind == ConfirmKind::RevokeAndReissue { id }),
        "{:?}",
        app.modal
    );
    app.on_event(&ch('y'));
    assert!(matches!(app.take_commands().as_slice(), [Command::RevokeToken(x)] if *x == id));
    app.answer(Reply::TokenRevoked(id, Ok(())));
    assert!(matches!(app.take_commands().as_slice(), [Command::IssueToken(x)] if *x == id));
}

#[test]
fn w_asks_for_a_file_name_defaulting_to_the_app_name() {
    let mut app = with_token_modal();
    app.on_event(&ch('w'));
    match &app.modal {
        Some(Modal::Secret(m)) => {
            assert_eq!(m.file_prompt.as_ref().unwrap().value(), "Okta_sync.token")
        }
        other => panic!("{other:?}"),
    }
    app.on_event(&key(KeyCode::Enter));
    assert!(
        matches!(app.take_commands().as_slice(), [Command::WriteSecret(p)] if p.to_str() == Some("Okta_sync.token"))
    );
    app.answer(Reply::Written(Err(
        "Okta_sync.token already exists and was left alone; type another name.".into(),
    )));
    assert!(
        matches!(&app.modal, Some(Modal::Secret(m)) if m.file_prompt.is_some()),
        "the prompt stays for another name"
    );
    app.on_event(&key(KeyCode::Esc));
    assert!(app.secret_open(), "Esc closes only the prompt");
}

#[test]
fn overridden_keys_drive_the_app() {
    let mut keys = crate::config::Config::defaults().keys;
    keys.insert("quit".into(), vec!["ctrl-q".into()]);
    keys.insert("add_app".into(), vec!["n".into()]);
    let mut app = App::new(Keymap::from_config(&keys).unwrap(), fixtures::connection(), true);
    app.on_event(&ch('q'));
    assert!(!app.quit);
    app.on_event(&ch('n'));
    assert!(matches!(app.screen, Screen::AddApp(_)));
    app.on_event(&key(KeyCode::Esc));
    app.on_event(&ctrl('q'));
    assert!(app.quit);
}

#[test]
fn a_typed_password_is_never_in_debug_output() {
    let mut app = list();
    app.screen = Screen::Login(LoginForm::default());
    app.on_event(&key(KeyCode::Tab));
    for c in "hunter2-passphrase".chars() {
        app.on_event(&ch(c));
    }
    assert!(matches!(&app.screen, Screen::Login(f) if f.password.as_str() == "hunter2-passphrase"));
    assert!(
        !format!("{app:?}").contains("hunter2"),
        "Debug of the login form leaks the password"
    );
}

#[test]
fn replies_are_paired_with_their_request_by_id() {
    let mut app = list();
    app.on_event(&ch('r'));
    app.on_event(&ch('r'));
    let requests = app.take_requests();
    let [(first, Command::LoadApps), (second, Command::LoadApps)] = requests.as_slice() else {
        panic!("{requests:?}")
    };
    assert_ne!(first, second);
    app.on_reply(*second, Reply::Apps(Ok(fixtures::sample_apps())));
    assert_eq!(app.pending.len(), 1, "only the answered request is done");
    assert!(app.pending.contains_key(first));
    assert_eq!(app.busy_label(), Some("loading"));
    app.on_reply(*first, Reply::Apps(Ok(fixtures::sample_apps())));
    assert!(app.pending.is_empty() && app.busy_label().is_none());
}

#[test]
fn an_edit_sends_only_the_fields_that_changed() {
    let mut apps = fixtures::sample_apps();
    apps[0].name = "Okta\u{200b}sync".into();
    let mut app = fixtures::app_with(apps, true);
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('e'));
    app.on_event(&key(KeyCode::Tab));
    typed(&mut app, " and more");
    app.on_event(&key(KeyCode::Enter));
    match app.take_commands().as_slice() {
        [
            Command::UpdateApp {
                name: None,
                description: Some(d),
                ..
            },
        ] => assert!(d.ends_with(" and more"), "{d}"),
        other => panic!("the untouched (escaped) name must not be sent: {other:?}"),
    }
}

#[test]
fn a_forbidden_role_is_told_why_and_r_retries() {
    let mut c = fixtures::connection();
    c.admin.as_mut().unwrap().role = crate::wire::Role::Admin;
    let mut app = App::new(Keymap::defaults(), c, true);
    app.on_event(&ch('r'));
    app.take_commands();
    app.answer(Reply::Apps(Err(ClientError::Api {
        status: 403,
        code: "forbidden".into(),
        message: "Developers authority is required".into(),
    })));
    let why = app.apps_error.as_deref().unwrap();
    assert!(
        why.contains("has no Developers authority") && why.contains("press r"),
        "{why}"
    );
    app.on_event(&ch('r'));
    assert!(matches!(app.take_commands().as_slice(), [Command::LoadApps]));
}

#[test]
fn the_heartbeat_marks_the_link_down_and_up() {
    let mut app = list();
    app.on_reply(
        RequestId::UNSOLICITED,
        Reply::Health(Err(ClientError::Unreachable {
            url: "http://x".into(),
            reason: "Connection refused".into(),
        })),
    );
    assert!(matches!(app.conn.link, Link::Unreachable(_)));
    app.on_reply(RequestId::UNSOLICITED, Reply::Health(Ok(())));
    assert_eq!(app.conn.link, Link::Online);
}

#[test]
fn logout_returns_to_the_same_screen_with_the_username_filled_in() {
    let mut app = list();
    app.list.selected = 1;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    let id = match &app.screen {
        Screen::Manage(m) => m.id,
        _ => panic!(),
    };
    app.on_event(&ctrl('o'));
    assert!(matches!(app.take_commands().as_slice(), [Command::Logout]));
    app.answer(Reply::LoggedOut(Ok(())));
    match &app.screen {
        Screen::Login(f) => {
            assert_eq!(f.username.value(), "alice");
            assert!(f.focus_password);
        }
        _ => panic!("not on the login screen"),
    }
    assert!(
        app.apps.is_empty(),
        "nothing of the last session is kept on screen"
    );
    typed(&mut app, "pw");
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.answer(Reply::LoggedIn(Ok(fixtures::admin())));
    assert!(
        matches!(&app.screen, Screen::Manage(m) if m.id == id),
        "{:?}",
        app.screen
    );
}

#[test]
fn reissuing_the_client_secret_needs_the_typed_name() {
    let mut app = list();
    app.list.selected = 0;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('x'));
    app.on_event(&ch('y'));
    app.on_event(&key(KeyCode::Enter));
    assert!(app.take_commands().is_empty(), "y is typed, not a confirmation");
    assert!(matches!(&app.modal, Some(Modal::Confirm(c)) if c.mismatch));
}

#[test]
fn expiry_shows_hours_in_the_last_day_and_marks_danger_in_text() {
    use crate::tui::screens::app_list::token_cell;
    let mut a = fixtures::client_app(1, "x");
    let at = |d: time::Duration| crate::wire::DedicatedToken {
        expires_at: fixtures::NOW + d,
        ..fixtures::token(TokenState::Active, 90)
    };
    for (left, want) in [
        (time::Duration::days(90), "active · 90 d left"),
        (time::Duration::days(15), "active · 15 d left"),
        (time::Duration::days(14), "! active · 14 d left"),
        (time::Duration::days(4), "! active · 4 d left"),
        (time::Duration::days(3), "!! active · 3 d left"),
        (
            time::Duration::hours(5) - time::Duration::minutes(10),
            "!! active · 5 h left",
        ),
        (time::Duration::minutes(20), "!! active · 1 h left"),
    ] {
        a.token = Some(at(left));
        assert_eq!(token_cell(&a, fixtures::NOW), want, "{left}");
        // The list's narrower column drops "active" where a marker says it, never the time.
        let short = crate::tui::screens::app_list::list_token_cell(&a, fixtures::NOW);
        assert!(
            crate::tui::text::width(&short) <= 18 && short.ends_with(" left"),
            "{short}"
        );
    }
}

#[test]
fn c_copies_the_client_id_from_the_list_and_the_app_page() {
    let mut app = list();
    app.list.selected = 0;
    app.on_event(&ch('c'));
    assert!(
        matches!(app.take_commands().as_slice(), [Command::CopyText(id)] if id == "CID00000000000000010")
    );
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    app.on_event(&ch('c'));
    assert!(
        matches!(app.take_commands().as_slice(), [Command::CopyText(id)] if id == "CID00000000000000010")
    );
}

fn names(app: &App) -> Vec<String> {
    app.visible.iter().map(|i| app.apps[*i].name.clone()).collect()
}

#[test]
fn o_cycles_the_sort_and_the_selection_stays_on_its_app() {
    let mut app = list();
    let created = names(&app);
    assert_eq!(app.sort, SortKey::Created);
    // Select Payroll bridge (created last) and watch it move.
    app.on_event(&ch('G'));
    assert_eq!(app.selected_app().unwrap().name, "Payroll bridge");
    app.on_event(&ch('o'));
    assert_eq!(app.sort, SortKey::Name);
    assert_eq!(
        names(&app),
        [
            fixtures::HOSTILE_NAME
                .replace('\x1b', "\\x1b")
                .replace('\u{202E}', "\\u{202e}"),
            "Okta sync".into(),
            "Payroll bridge".into(),
            fixtures::CJK_NAME.into()
        ]
    );
    assert_eq!(app.selected_app().unwrap().name, "Payroll bridge");
    assert!(app.toast.as_ref().unwrap().text.contains("Sorted by name"));
    app.on_event(&ch('o'));
    assert_eq!(app.sort, SortKey::Expiry);
    // Only Okta sync has an active token; the rest keep the server's order after it.
    assert_eq!(names(&app)[0], "Okta sync");
    assert_eq!(names(&app)[1..], created[1..]);
    app.on_event(&ch('o'));
    assert_eq!(app.sort, SortKey::LastUse);
    // Okta used 1 day ago, the CJK app 50, Payroll 93; the hostile app never had a token.
    assert_eq!(
        names(&app),
        [
            created[0].clone(),
            created[1].clone(),
            created[3].clone(),
            created[2].clone()
        ]
    );
    app.on_event(&ch('o'));
    assert_eq!(app.sort, SortKey::Created);
    assert_eq!(names(&app), created);
    assert_eq!(app.selected_app().unwrap().name, "Payroll bridge");
}

#[test]
fn expiry_sort_puts_the_soonest_first_and_a_new_app_respects_the_sort() {
    let mut apps = fixtures::sample_apps();
    apps[0].token = Some(fixtures::token(TokenState::Active, 40));
    apps[1].token = Some(fixtures::token(TokenState::Active, 2));
    apps[2].token = Some(fixtures::token(TokenState::Active, 10));
    let mut app = fixtures::app_with(apps, true);
    app.on_event(&ch('o'));
    app.on_event(&ch('o'));
    let order: Vec<u128> = app.visible.iter().map(|i| app.apps[*i].id.as_u128()).collect();
    assert_eq!(order, [11, 12, 10, 13]);
    let mut new = fixtures::client_app(14, "Brand new");
    new.token = Some(fixtures::token(TokenState::Active, 1));
    app.upsert(new);
    let order: Vec<u128> = app.visible.iter().map(|i| app.apps[*i].id.as_u128()).collect();
    assert_eq!(order, [14, 11, 12, 10, 13]);
}

#[test]
fn e_asks_for_days_filters_and_esc_or_zero_clears() {
    let mut apps = fixtures::sample_apps();
    apps[0].token = Some(fixtures::token(TokenState::Active, 2));
    apps[1].token = Some(fixtures::token(TokenState::Active, 10));
    let mut app = fixtures::app_with(apps, true);
    app.on_event(&ch('E'));
    assert!(app.expiring_prompt.is_some());
    // While the prompt is open, keys are typed: q does not quit.
    typed(&mut app, "q");
    assert!(!app.quit);
    app.on_event(&key(KeyCode::Enter));
    let err = app.expiring_prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("not a number of days: type 1 to 365"), "{err}");
    assert_eq!(app.expiring_within, None);
    app.on_event(&key(KeyCode::Backspace));
    typed(&mut app, "3");
    app.on_event(&key(KeyCode::Enter));
    assert!(app.expiring_prompt.is_none());
    assert_eq!(app.expiring_within, Some(3));
    assert_eq!(names(&app), ["Okta sync"]);
    // The expired and revoked ones never match; 10 days left matches 14.
    app.on_event(&ch('E'));
    assert_eq!(app.expiring_prompt.as_ref().unwrap().input.value(), "3");
    app.on_event(&key(KeyCode::Backspace));
    typed(&mut app, "14");
    app.on_event(&key(KeyCode::Enter));
    assert_eq!(names(&app), ["Okta sync", fixtures::CJK_NAME]);
    // More than a year is refused in place; the filter stays.
    app.on_event(&ch('E'));
    typed(&mut app, "0000");
    app.on_event(&key(KeyCode::Enter));
    assert!(
        app.expiring_prompt.as_ref().unwrap().error.is_some(),
        "140000 days"
    );
    assert_eq!(app.expiring_within, Some(14));
    // 0 clears.
    for _ in 0..6 {
        app.on_event(&key(KeyCode::Backspace));
    }
    typed(&mut app, "0");
    app.on_event(&key(KeyCode::Enter));
    assert!(app.expiring_prompt.is_none(), "0 clears");
    assert_eq!(app.expiring_within, None);
    assert_eq!(app.visible.len(), 4);
    app.on_event(&ch('E'));
    typed(&mut app, "366");
    app.on_event(&key(KeyCode::Enter));
    assert!(app.expiring_prompt.as_ref().unwrap().error.is_some());
    app.on_event(&key(KeyCode::Esc));
    assert!(app.expiring_prompt.is_none());
    assert_eq!(
        app.expiring_within, None,
        "Esc cancels the prompt without a filter"
    );
    // Esc on the list clears the typed filter first, then the expiry filter.
    app.on_event(&ch('E'));
    typed(&mut app, "14");
    app.on_event(&key(KeyCode::Enter));
    app.on_event(&ch('/'));
    typed(&mut app, "okta");
    app.on_event(&key(KeyCode::Enter));
    assert_eq!(names(&app), ["Okta sync"]);
    app.on_event(&key(KeyCode::Esc));
    assert_eq!(app.expiring_within, Some(14));
    assert_eq!(app.visible.len(), 2);
    app.on_event(&key(KeyCode::Esc));
    assert_eq!(app.expiring_within, None);
    assert_eq!(app.visible.len(), 4);
}

#[test]
fn after_the_session_ends_signing_in_again_returns_to_the_app_page_with_the_username() {
    let mut app = list();
    let id = Uuid::from_u128(10);
    let pos = app.visible.iter().position(|i| app.apps[*i].id == id).unwrap();
    app.list.selected = pos;
    app.on_event(&key(KeyCode::Enter));
    app.take_commands();
    // The session expires: the next reply is a 401.
    app.answer(Reply::App(
        id,
        Err(crate::client::ClientError::Api {
            status: 401,
            code: "unauthorized".into(),
            message: "session expired".into(),
        }),
    ));
    let Screen::Login(form) = &app.screen else {
        panic!("not on the login screen: {:?}", app.screen);
    };
    assert_eq!(form.username.value(), "alice");
    assert!(form.focus_password);
    app.answer(Reply::LoggedIn(Ok(fixtures::admin())));
    assert!(
        matches!(app.screen, Screen::Manage(m) if m.id == id),
        "back on the page it was on: {:?}",
        app.screen
    );
    assert!(
        app.take_commands()
            .iter()
            .any(|c| matches!(c, Command::LoadApp(a) if *a == id)),
        "and the page reloads its app"
    );
}
