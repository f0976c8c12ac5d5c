//! Issue 7 (console side), end to end against the real server on 127.0.0.1: each test here
//! failed on the code before its fix.

mod common;

use devconsole::wire::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Item 12: a token issue and its audit record commit together. When the audit write fails,
/// the caller gets an error and no token exists that nobody holds; once auditing works again
/// the app can be issued a token (it is not stuck behind a phantom active one).
#[tokio::test]
async fn a_failed_audit_write_leaves_no_token_behind() {
    let h = common::spawn_app().await;
    let console = h.signed_in("dev", Role::Developer).await;
    let app = console.create_app("Audited sync", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();

    // Make every audit insert of a token issue fail, behind the server's back.
    h.db.execute(
        "CREATE TRIGGER refuse_issue_audit BEFORE INSERT ON audit_events \
         WHEN NEW.action = 'token.issue' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
    )
    .await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/console/v1/apps/{}/token", app.id),
            Some(&console),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.get("token").is_none(),
        "no token may be handed out unaudited"
    );
    assert_eq!(
        h.db.scalar_i64("SELECT COUNT(*) FROM dedicated_tokens").await,
        0,
        "the issue rolled back with its audit record"
    );

    h.db.execute("DROP TRIGGER refuse_issue_audit").await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/console/v1/apps/{}/token", app.id),
            Some(&console),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        h.db.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'token.issue'")
            .await,
        1
    );
    h.shutdown().await.unwrap();
}

/// Item 12 for the other mutations: an app deletion whose audit write fails leaves the app.
#[tokio::test]
async fn every_change_rolls_back_when_its_audit_record_cannot_be_written() {
    let h = common::spawn_app().await;
    let console = h.signed_in("dev", Role::Developer).await;
    let app = console.create_app("Kept", "").await.unwrap().app;
    h.db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
    )
    .await;
    let path = format!("/console/v1/apps/{}", app.id);
    let (status, _) = h.call("DELETE", &path, Some(&console), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call("PATCH", &path, Some(&console), Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call(
            "PUT",
            &format!("{path}/scim"),
            Some(&console),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call(
            "POST",
            "/console/v1/apps",
            Some(&console),
            Some(json!({"type": "provisioning", "name": "New"})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    h.db.execute("DROP TRIGGER refuse_audit").await;

    let (status, body) = h.call("GET", &path, Some(&console), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the app was deleted without an audit record"
    );
    assert_eq!(body["name"], "Kept");
    assert_eq!(body["scim_enabled"], false);
    assert_eq!(h.db.scalar_i64("SELECT COUNT(*) FROM client_apps").await, 1);
    h.shutdown().await.unwrap();
}

// ---- item 2: lockout ------------------------------------------------------------------------

async fn try_login(h: &common::TestApp, username: &str, password: &str) -> StatusCode {
    h.http
        .post(format!("{}/console/v1/sessions", h.url()))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

fn admin_cli(db: &common::TestDb, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(common::BIN)
        .arg("admin")
        .args(args)
        .args(["--database", db.url()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run devconsole admin");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Item 2: 150 parallel wrong passwords for one username check at most 5 passwords; the
/// lockout survives a restart (it lives in the database) and `admin unlock` ends it.
#[tokio::test]
async fn the_lockout_holds_under_concurrency_and_survives_a_restart() {
    let mut h = common::spawn_app().await;
    h.admin("ann", Role::Developer).await;
    let attempts = (0..150).map(|i| {
        let http = h.http.clone();
        let url = format!("{}/console/v1/sessions", h.url());
        async move {
            http.post(url)
                .json(&json!({"username": "ann", "password": format!("wrong password {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 5,
        "{checked} passwords were checked against a limit of 5"
    );
    assert_eq!(checked + refused, 150, "{statuses:?}");

    h.restart().await;
    assert_eq!(
        try_login(&h, "ann", common::PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a restart must not clear the lockout"
    );
    let out = admin_cli(&h.db, &["unlock", "ann"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(try_login(&h, "ann", common::PASSWORD).await, StatusCode::CREATED);
    h.shutdown().await.unwrap();
}

// ---- item 3: parallel first use ------------------------------------------------------------

/// Item 3: 32 clients × 10 requests on a fresh token, with renewal writes coalesced (the
/// default) and with every use written (`--renew-interval-minutes 0`): never a 401.
#[tokio::test]
async fn parallel_first_uses_of_a_fresh_token_are_never_refused() {
    for renew_minutes in [10, 0] {
        let env = common::scim_env_with(common::app().configure(move |c| {
            c.scim_per_minute = 1_000_000;
            c.tokens.renew_interval = time::Duration::minutes(renew_minutes);
        }))
        .await;
        let workers = (0..32).map(|_| {
            let req = env.req(reqwest::Method::GET, "/Users?count=1");
            let builders: Vec<_> = (0..10).map(|_| req.try_clone().unwrap()).collect();
            async move {
                let mut refused = 0;
                for b in builders {
                    let status = b.send().await.unwrap().status();
                    if status != StatusCode::OK {
                        assert_eq!(status, StatusCode::UNAUTHORIZED);
                        refused += 1;
                    }
                }
                refused
            }
        });
        let refused: i32 = futures::future::join_all(workers).await.into_iter().sum();
        assert_eq!(
            refused, 0,
            "{refused} of 320 uses of an active token were refused (renew interval {renew_minutes} min)"
        );
        env.server.shutdown().await.unwrap();
    }
}

// ---- item 8: sessions ----------------------------------------------------------------------

async fn me(h: &common::TestApp, client: &devconsole::client::ConsoleClient) -> (StatusCode, Value) {
    h.call("GET", "/console/v1/me", Some(client), None).await
}

/// Item 8: a password change, a role change and a deletion end the admin's sessions.
#[tokio::test]
async fn sessions_end_when_the_admins_credentials_change() {
    let h = common::spawn_app().await;
    h.admin("root", Role::SuperAdmin).await;
    let dev = h.signed_in("dev", Role::Developer).await;
    let root = h.login("root").await;
    assert_eq!(me(&h, &dev).await.0, StatusCode::OK);

    let out = admin_cli(
        &h.db,
        &["set-password", "dev", "--password-stdin"],
        Some(&format!("{}\n", common::PASSWORD)),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(me(&h, &dev).await.0, StatusCode::UNAUTHORIZED, "password change");
    assert_eq!(me(&h, &root).await.0, StatusCode::OK, "other admins keep theirs");

    let dev = h.login("dev").await;
    let out = admin_cli(&h.db, &["set-role", "dev", "--role", "admin"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(me(&h, &dev).await.0, StatusCode::UNAUTHORIZED, "role change");

    let dev = h.login("dev").await;
    let out = admin_cli(&h.db, &["delete", "dev"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(me(&h, &dev).await.0, StatusCode::UNAUTHORIZED, "deletion");
    h.shutdown().await.unwrap();
}

/// Item 8: a session in constant use still ends 7 days after sign-in.
#[tokio::test]
async fn a_busy_session_ends_after_its_absolute_lifetime() {
    let clock = devconsole::clock::ManualClock::new(time::macros::datetime!(2026-11-27 09:00 UTC));
    let h = common::app().clock(clock.clone()).spawn().await;
    let dev = h.signed_in("dev", Role::Developer).await;
    // Every 11 hours, inside the 12-hour idle limit: 165 hours in, still signed in.
    for _ in 0..15 {
        clock.advance(time::Duration::hours(11));
        assert_eq!(me(&h, &dev).await.0, StatusCode::OK);
    }
    clock.advance(time::Duration::hours(11));
    let (status, body) = me(&h, &dev).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "176 hours after sign-in: {body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("maximum lifetime"),
        "{body}"
    );
    h.shutdown().await.unwrap();
}
