//! Issue 10 "Provisioning activity" on the console: a scripted provider sync against the real
//! server (creates, a create refused because userName is not an email, a deactivation), read
//! back through `ConsoleClient` as the console's runtime reads it, and drawn by the real console
//! screen into a `TestBackend`. The snapshots are of that real data (ids redacted).

mod common;

use common::{ScimEnv, USER};
use devconsole::clock::{Clock, ManualClock};
use devconsole::tui::app::{App, Command, Reply, Screen};
use devconsole::tui::keymap::Keymap;
use devconsole::tui::screens::activity::ScimSummary;
use devconsole::wire::{ActivityFilter, Outcome};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use reqwest::StatusCode;
use serde_json::json;
use time::macros::datetime;

const START: time::OffsetDateTime = datetime!(2026-11-27 09:00 UTC);

fn key(c: char) -> Event {
    let m = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Event::Key(KeyEvent::new(KeyCode::Char(c), m))
}

fn enter() -> Event {
    Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

/// What an identity provider does on its first sync, one call every few seconds.
async fn provider_sync(env: &ScimEnv, clock: &ManualClock) {
    let step = || clock.advance(time::Duration::seconds(5));
    step();
    env.create_user(json!({"userName": "alice@example.com", "active": true}))
        .await;
    step();
    let bob = env
        .create_user(json!({"userName": "bob@example.com", "active": true}))
        .await;
    step();
    let refused = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "dave", "active": true}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    step();
    let id = bob["id"].as_str().unwrap();
    let deactivated = env
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
}

async fn synced() -> (ScimEnv, ManualClock) {
    let clock = ManualClock::new(START);
    let env = common::scim_env_with(common::app().clock(clock.clone())).await;
    provider_sync(&env, &clock).await;
    (env, clock)
}

/// A console on the app list of the real server, as the runtime would have it.
async fn console(env: &ScimEnv, clock: &ManualClock) -> App {
    let conn = devconsole::tui::app::Connection {
        label: "test".into(),
        server: "http://127.0.0.1".into(),
        admin: Some(env.console.me().await.unwrap()),
        link: devconsole::tui::app::Link::Online,
        remote: true,
    };
    let mut app = App::new(Keymap::defaults(), conn, true);
    app.now = clock.now();
    app.set_apps(env.console.list_apps().await.unwrap());
    app
}

/// Runs the console's queued requests against the real server, the way `runtime::call` does.
async fn serve_requests(app: &mut App, env: &ScimEnv) {
    loop {
        let requests = app.take_requests();
        if requests.is_empty() {
            return;
        }
        for (id, command) in requests {
            let reply = match command {
                Command::LoadActivity {
                    app: scope,
                    failed_only,
                    cursor,
                } => {
                    let filter = ActivityFilter {
                        outcome: failed_only.then_some(Outcome::Failure),
                        ..Default::default()
                    };
                    Reply::Activity {
                        more: cursor.is_some(),
                        result: env
                            .console
                            .activity_page(scope, &filter, 100, cursor.as_deref())
                            .await,
                    }
                }
                Command::LoadScimSummary(app_id) => {
                    let all = ActivityFilter::default();
                    let failed = ActivityFilter {
                        outcome: Some(Outcome::Failure),
                        ..Default::default()
                    };
                    let last = env.console.activity_page(Some(app_id), &all, 1, None).await;
                    let error = env.console.activity_page(Some(app_id), &failed, 1, None).await;
                    Reply::ScimSummary(
                        app_id,
                        last.and_then(|l| {
                            error.map(|e| ScimSummary {
                                last_call: l.events.into_iter().next(),
                                last_error: e.events.into_iter().next(),
                            })
                        }),
                    )
                }
                Command::LoadApp(app_id) => Reply::App(app_id, env.console.get_app(app_id).await),
                Command::LoadApps => Reply::Apps(env.console.list_apps().await),
                other => panic!("unexpected request {other:?}"),
            };
            app.on_reply(id, reply);
        }
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| devconsole::tui::ui::draw(f, app)).unwrap();
    format!("{}", t.backend())
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({filters => vec![
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
        (r"Client ID( +)[A-Za-z0-9_-]{20}", "Client ID$1[client id 20 chars]"),
        // The manage page's SCIM base URL names the test server's ephemeral port.
        (r"http://127\.0\.0\.1:[0-9]{4,5}/", "http://127.0.0.1:PORT/"),
    ]}, {
        insta::assert_snapshot!(name, text);
    });
}

#[tokio::test]
async fn a_provider_sync_is_found_in_the_api_and_on_the_console_screen() {
    let (env, clock) = synced().await;

    // The API: newest first, each call of the sync with its outcome.
    let page = env
        .console
        .activity_page(Some(env.app), &ActivityFilter::default(), 100, None)
        .await
        .unwrap();
    let seen: Vec<(String, u16, Outcome)> = page
        .events
        .iter()
        .map(|e| (e.operation.as_str().to_owned(), e.status, e.outcome))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("patch".to_owned(), 200, Outcome::Success),
            ("create".to_owned(), 400, Outcome::Failure),
            ("create".to_owned(), 201, Outcome::Success),
            ("create".to_owned(), 201, Outcome::Success),
        ],
        "{page:#?}"
    );

    // The console: the app list, `A` for every app's activity.
    let mut app = console(&env, &clock).await;
    app.on_event(&key('A'));
    serve_requests(&mut app, &env).await;
    let Screen::Activity(view) = &app.screen else {
        panic!("A did not open the activity screen")
    };
    assert_eq!(view.events.len(), 4);
    let text = screen(&app, 80, 24);
    for needle in ["alice@example.com", "bob@example.com", "dave", "FAILED", "patch"] {
        assert!(text.contains(needle), "{needle} not on screen:\n{text}");
    }
    snapshot("activity_sync_all_80x24", &text);

    // The failed create: its SCIM error in full in the detail pane.
    app.on_event(&key('j'));
    app.on_event(&enter());
    let text = screen(&app, 80, 24);
    assert!(text.contains("invalidValue"), "{text}");
    snapshot("activity_sync_failed_detail_80x24", &text);

    // Failed only, from the server.
    app.on_event(&Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    app.on_event(&key('f'));
    serve_requests(&mut app, &env).await;
    let Screen::Activity(view) = &app.screen else {
        panic!("left the activity screen")
    };
    assert_eq!(view.events.len(), 1);
    assert_eq!(view.events[0].status, 400);

    // The manage page: last SCIM call (the deactivation) and last SCIM error (the refused create).
    app.on_event(&Event::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    app.on_event(&enter());
    serve_requests(&mut app, &env).await;
    let text = screen(&app, 120, 40);
    snapshot("manage_after_sync_120x40", &text);
    assert!(
        text.contains("Last SCIM call") && text.contains("patch User"),
        "{text}"
    );
    assert!(
        text.contains("Last SCIM error") && text.contains("HTTP 400 invalidValue"),
        "{text}"
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn activity_pages_through_everything_with_the_cursor() {
    let (env, clock) = synced().await;
    // More than one page of calls.
    for i in 0..120 {
        clock.advance(time::Duration::seconds(1));
        env.create_user(json!({"userName": format!("user{i:03}@example.com")}))
            .await;
    }
    let mut app = console(&env, &clock).await;
    app.on_event(&key('A'));
    serve_requests(&mut app, &env).await;
    // `G` to the end loads the next page; again until everything is loaded.
    for _ in 0..5 {
        app.on_event(&key('G'));
        serve_requests(&mut app, &env).await;
    }
    let Screen::Activity(view) = &app.screen else {
        panic!("left the activity screen")
    };
    assert_eq!(view.events.len(), 124);
    assert!(view.next_cursor.is_none());
    assert!(view.events.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
    let mut ids: Vec<i64> = view.events.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 124, "no call twice across pages");
    env.server.shutdown().await.unwrap();
}
