//! Issue 7 (console side), end to end against the real server on 127.0.0.1: each test here
//! failed on the code before its fix.

mod common;

use common::PASSWORD;
use devconsole::wire::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Makes audit inserts fail behind the server's back, as a full disk or a broken audit table
/// would: all of them, or only those of one action.
async fn break_audit(db: &common::TestDb, only: Option<&str>) {
    match (db.backend(), only) {
        (common::Backend::Sqlite, Some("token.issue")) => {
            db.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 WHEN NEW.action = 'token.issue' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
            )
            .await
        }
        (common::Backend::Sqlite, None) => {
            db.execute(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
            )
            .await
        }
        (common::Backend::Postgres, only) => {
            db.execute(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$",
            )
            .await;
            match only {
                Some("token.issue") => {
                    db.execute(
                        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW \
                         WHEN (NEW.action = 'token.issue') EXECUTE FUNCTION refuse_audit()",
                    )
                    .await
                }
                None => {
                    db.execute(
                        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW \
                         EXECUTE FUNCTION refuse_audit()",
                    )
                    .await
                }
                Some(other) => panic!("no audit breaker for {other:?}"),
            }
        }
        (backend, only) => panic!("no audit breaker for {backend:?} / {only:?}"),
    };
}

async fn mend_audit(db: &common::TestDb) {
    match db.backend() {
        common::Backend::Sqlite => db.execute("DROP TRIGGER refuse_audit").await,
        common::Backend::Postgres => db.execute("DROP TRIGGER refuse_audit ON audit_events").await,
    };
}

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
    break_audit(&h.db, Some("token.issue")).await;
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

    mend_audit(&h.db).await;
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
    break_audit(&h.db, None).await;
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
    mend_audit(&h.db).await;

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

/// Sends every sign-in at once; answers how many reached the password check (401), how many a
/// limit refused (429), and every status.
async fn sign_in_at_once(
    h: &common::TestApp,
    attempts: impl Iterator<Item = (String, String)>,
) -> (usize, usize, Vec<StatusCode>) {
    let url = format!("{}/console/v1/sessions", h.url());
    let sends = attempts.map(|(username, password)| {
        let request = h
            .http
            .post(&url)
            .json(&json!({"username": username, "password": password}));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(sends).await;
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    let (checked, refused) = (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
    );
    (checked, refused, statuses)
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
    let (checked, refused, statuses) = sign_in_at_once(
        &h,
        (0..150).map(|i| ("ann".to_owned(), format!("wrong password {i}"))),
    )
    .await;
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

// ---- item 1: disk fill without credentials -------------------------------------------------

/// Item 1: 300 sign-ins with 60 KB usernames (and a password pasted as a username) grow the
/// audit log by a handful of short rows; none holds what was typed as the username.
#[tokio::test]
async fn hostile_sign_ins_grow_the_database_by_a_bounded_amount() {
    let h = common::spawn_app().await;
    let root = h.signed_in("root", Role::SuperAdmin).await;
    let before = h.db.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    let (_, _, statuses) = sign_in_at_once(
        &h,
        (0..300).map(|i| (format!("{i:05}{}", "x".repeat(60_000)), "irrelevant".to_owned())),
    )
    .await;
    for status in statuses {
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    assert_eq!(
        try_login(&h, "Tr0ub4dor&3 my password", "whatever").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked out by now"
    );
    let rows = h.db.scalar_i64("SELECT COUNT(*) FROM audit_events").await - before;
    assert!(rows <= 25, "{rows} audit rows from 301 refused sign-ins");
    let longest =
        h.db.scalar_i64(
            "SELECT CAST(MAX(LENGTH(actor) + LENGTH(COALESCE(detail, ''))) AS BIGINT) FROM audit_events",
        )
        .await;
    assert!(longest < 200, "an audit row holds {longest} characters");
    assert_eq!(
        h.db.scalar_i64(
            "SELECT COUNT(*) FROM audit_events WHERE actor LIKE '%xxxxxxxx%' OR actor LIKE '%Tr0ub4dor%'"
        )
        .await,
        0,
        "what was typed as an invalid username is not stored"
    );
    let counted =
        h.db.scalar_i64(
            "SELECT CAST(SUM(count) AS BIGINT) FROM audit_events WHERE action = 'session.login' AND outcome = 'failure'",
        )
        .await;
    assert_eq!(counted, 301, "every refusal is counted");
    assert!(h.db.scalar_i64("SELECT COUNT(*) FROM login_attempts").await <= 25);

    // The console still reads the log, one bounded page at a time.
    let page = root.audit_page(None, 1000, None).await.unwrap();
    assert!(page.events.iter().any(|e| e.count > 1));
    h.shutdown().await.unwrap();
}

/// Item 2: the per-address limit holds while many different usernames from one address are
/// tried at once. On PostgreSQL each attempt locks only its own username, so without an address
/// lock concurrent attempts each counted the others' failures as not yet there and more than the
/// limit reached the password check.
#[tokio::test]
async fn an_address_limit_holds_under_a_concurrent_spray_of_usernames() {
    let h = common::spawn_app().await;
    let (checked, refused, statuses) = sign_in_at_once(
        &h,
        (0..120).map(|i| (format!("sprayed{i}@example.com"), "irrelevant".to_owned())),
    )
    .await;
    assert_eq!(checked + refused, statuses.len(), "{statuses:?}");
    let limit = devconsole::server::limits::LoginLimits::default().max_failures_per_address;
    assert_eq!(
        checked, limit,
        "exactly the address limit reaches the password check"
    );
    h.shutdown().await.unwrap();
}

/// Item 1: a spray of made-up client IDs at the OAuth endpoint is collapsed the same way.
#[tokio::test]
async fn unknown_client_ids_grow_the_audit_log_by_a_bounded_amount() {
    let h = common::spawn_app().await;
    let before = h.db.scalar_i64("SELECT COUNT(*) FROM audit_events").await;
    let url = format!("{}/oauth2/v2.0/token", h.url());
    for i in 0..200 {
        let client_id = if i % 2 == 0 {
            format!("{i:020}")
        } else {
            format!("{i}{}", "y".repeat(20_000))
        };
        let status = h
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", "guess"),
            ])
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let rows = h.db.scalar_i64("SELECT COUNT(*) FROM audit_events").await - before;
    assert!(rows <= 2, "{rows} audit rows from 200 unknown client IDs");
    let longest =
        h.db.scalar_i64(
            "SELECT CAST(MAX(LENGTH(actor) + LENGTH(COALESCE(detail, ''))) AS BIGINT) FROM audit_events",
        )
        .await;
    assert!(longest < 200, "an audit row holds {longest} characters");
    h.shutdown().await.unwrap();
}

/// Item 1 / issue 10: the audit log is read in cursor pages, newest first, each row once.
#[tokio::test]
async fn the_audit_log_is_cursor_paged() {
    let h = common::spawn_app().await;
    let dev = h.signed_in("dev", Role::Developer).await;
    for i in 0..23 {
        dev.create_app(&format!("app {i}"), "").await.unwrap();
    }
    let total = h.db.scalar_i64("SELECT COUNT(*) FROM audit_events").await as usize;
    let (status, first) = h
        .call("GET", "/console/v1/audit?limit=10", Some(&dev), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["events"].as_array().unwrap().len(), 10, "{first}");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = dev.audit_page(None, 10, cursor.as_deref()).await.unwrap();
        seen.extend(page.events.iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), total, "every row once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");
    let (status, body) = h
        .call("GET", "/console/v1/audit?cursor=abc", Some(&dev), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    h.shutdown().await.unwrap();
}

/// Item 1: audit rows carry the client's address; X-Forwarded-For counts only from a
/// `--trusted-proxy`.
#[tokio::test]
async fn audit_rows_record_the_address_and_only_trusted_proxies_may_forward_it() {
    for (trusted, expected) in [(true, "203.0.113.9"), (false, "127.0.0.1")] {
        let h = common::app()
            .configure(move |c| {
                if trusted {
                    c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
                }
            })
            .spawn()
            .await;
        let root = h.signed_in("root", Role::SuperAdmin).await;
        let status = h
            .http
            .post(format!("{}/console/v1/sessions", h.url()))
            .header("X-Forwarded-For", "198.51.100.1, 203.0.113.9")
            .json(&json!({"username": "mallory", "password": "wrong password"}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let events = root.audit(None, 100).await.unwrap();
        let failed = events
            .iter()
            .find(|e| e.actor == "mallory")
            .expect("the failure is audited");
        assert_eq!(
            failed.address.as_deref(),
            Some(expected),
            "trusted proxy: {trusted}"
        );
        let login = events.iter().find(|e| e.actor == "root").unwrap();
        assert_eq!(login.address.as_deref(), Some("127.0.0.1"));
        h.shutdown().await.unwrap();
    }
}

// ---- item 9: CLI invariants ----------------------------------------------------------------

/// Item 9: `admin delete` keeps a super admin and a member for every app, or hands the apps
/// over with `--reassign-to`.
#[tokio::test]
async fn admin_delete_keeps_a_super_admin_and_a_member_for_every_app() {
    let h = common::spawn_app().await;
    h.admin("root", Role::SuperAdmin).await;
    let dev = h.signed_in("dev", Role::Developer).await;
    let app = dev.create_app("Only dev manages this", "").await.unwrap().app;

    let out = admin_cli(&h.db, &["delete", "root"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("last super admin"), "{err}");
    let out = admin_cli(&h.db, &["set-role", "root", "--role", "developer"], None);
    assert!(
        !out.status.success(),
        "the last super admin cannot be demoted either"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("last super admin"));

    let out = admin_cli(&h.db, &["delete", "dev"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Only dev manages this") && err.contains("--reassign-to"),
        "{err}"
    );
    assert_eq!(
        h.db.scalar_i64("SELECT COUNT(*) FROM admins").await,
        2,
        "nothing deleted"
    );

    let out = admin_cli(&h.db, &["delete", "dev", "--reassign-to", "nobody"], None);
    assert!(!out.status.success());
    let out = admin_cli(&h.db, &["delete", "dev", "--reassign-to", "root"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let root = h.login("root").await;
    assert_eq!(
        root.get_app(app.id).await.unwrap().members,
        vec!["root".to_owned()]
    );
    h.shutdown().await.unwrap();
}

// ---- item 10: look-alike names --------------------------------------------------------------

/// Item 10: invisible characters are refused; look-alikes (case, NFKC, confusables) clash.
#[tokio::test]
async fn look_alike_app_names_are_refused() {
    let h = common::spawn_app().await;
    let dev = h.signed_in("dev", Role::Developer).await;
    let create = |name: &str| {
        h.call(
            "POST",
            "/console/v1/apps",
            Some(&dev),
            Some(json!({"type": "provisioning", "name": name})),
        )
    };
    assert_eq!(create("Acme Okta").await.0, StatusCode::CREATED);
    for invisible in [
        "Acme\u{200B} Okta",
        "Acme Ok\u{2060}ta",
        "\u{FEFF}Acme Okta",
        "Acme Ok\u{AD}ta",
        "Acme\u{3164}Okta",
        "Acme\u{2028}Okta",
        "Acme\u{2029}Okta",
        "Acme\u{A0}Okta",
    ] {
        let (status, body) = create(invisible).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{invisible:?}: {body}");
        assert_eq!(body["code"], "invalid_field");
    }
    for twin in ["\u{0410}cme Okta", "ACME OKTA", "Ａｃｍｅ Okta", "Acme 0kta"] {
        let (status, body) = create(twin).await;
        assert_eq!(status, StatusCode::CONFLICT, "{twin:?}: {body}");
        assert_eq!(body["code"], "name_taken");
    }
    let other = create("Entra sync").await.1;
    let (status, _) = h
        .call(
            "PATCH",
            &format!("/console/v1/apps/{}", other["app"]["id"].as_str().unwrap()),
            Some(&dev),
            Some(json!({"name": "Acme Оkta"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a rename cannot make a twin either");
    h.shutdown().await.unwrap();
}

// ---- item 13: OAuth and renew interval -----------------------------------------------------

/// Item 13: a parameter sent twice is `invalid_request` (RFC 6749 §3.2).
#[tokio::test]
async fn duplicate_oauth_parameters_are_invalid_requests() {
    let h = common::spawn_app().await;
    let url = format!("{}/oauth2/v2.0/token", h.url());
    for body in [
        "grant_type=client_credentials&client_id=AAAAAAAAAAAAAAAAAAAA&client_id=BBBBBBBBBBBBBBBBBBBB&client_secret=s",
        "grant_type=client_credentials&grant_type=client_credentials&client_id=AAAAAAAAAAAAAAAAAAAA&client_secret=s",
        "grant_type=client_credentials&client_id=AAAAAAAAAAAAAAAAAAAA&client_secret=s&client_secret=t",
    ] {
        let response = h
            .http
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{body}");
    }
    h.shutdown().await.unwrap();
}

/// Item 13: `--renew-interval-minutes` out of range is a clear error, never a panic, and never a
/// server that quietly cannot renew.
#[test]
fn serve_refuses_a_renew_interval_it_cannot_honour() {
    let db = common::TestDb::fresh();
    for value in ["9223372036854775807", "129600", "-5", "ten"] {
        let mut child = std::process::Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", db.url()])
            .arg(format!("--renew-interval-minutes={value}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let end = std::time::Instant::now() + common::deadline();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() > end {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("serve started with --renew-interval-minutes {value}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{value}: {stderr}");
        assert!(stderr.contains("--renew-interval-minutes"), "{value}: {stderr}");
    }
}

/// Item 1/2: behind a trusted proxy the per-address lockout is per client, not per proxy.
#[tokio::test]
async fn behind_a_trusted_proxy_one_client_cannot_lock_out_another() {
    let h = common::app()
        .configure(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()])
        .spawn()
        .await;
    h.admin("ann", Role::Developer).await;
    let attempt = |from: &'static str, username: String, password: &'static str| {
        h.http
            .post(format!("{}/console/v1/sessions", h.url()))
            .header("X-Forwarded-For", from)
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    let mut last = StatusCode::OK;
    for i in 0..21 {
        last = attempt("198.51.100.66", format!("guess{i}"), "wrong password")
            .await
            .unwrap()
            .status();
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "the spraying address is locked out"
    );
    let other = attempt("198.51.100.77", "ann".into(), PASSWORD).await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::CREATED,
        "another client behind the proxy is not"
    );
    h.shutdown().await.unwrap();
}
