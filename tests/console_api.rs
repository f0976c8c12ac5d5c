//! The console server end to end: the real server on 127.0.0.1 over a temporary SQLite file,
//! driven through the typed client and raw HTTP.

use devconsole::client::{ClientError, ConsoleClient};
use devconsole::clock::{Clock, ManualClock};
use devconsole::server::ServerConfig;
use devconsole::wire::{Role, SsoSettings, SsoUserKey, TokenState, UpdateApp};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use time::Duration;

mod common;

use common::{PASSWORD, TestApp};

/// Log lines from every server in this test binary, at TRACE, for the secrets test.
fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The real server over a fresh database on a manual clock, logs captured.
async fn start() -> TestApp {
    start_with(|_| {}).await
}

async fn start_with(tune: impl FnOnce(&mut ServerConfig) + 'static) -> TestApp {
    captured_logs();
    common::app()
        .clock(ManualClock::new(time::macros::datetime!(2026-11-27 09:00 UTC)))
        .configure(tune)
        .spawn()
        .await
}

fn api_code(e: &ClientError) -> (u16, &str) {
    match e {
        ClientError::Api { status, code, .. } => (*status, code.as_str()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn full_flow_persists_across_restart() {
    let mut h = start().await;
    // Bootstrap an admin with the real CLI, password on stdin.
    let out = h.db.create_admin_cli("dana", "developer", PASSWORD);
    assert!(
        out.status.success(),
        "admin create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created dana"));

    let client = h.login("dana").await;
    assert_eq!(client.me().await.unwrap().role, Role::Developer);
    let created = client
        .create_app("HR sync", "Provisioning from the HR system")
        .await
        .unwrap();
    let app = created.app;
    assert!(created.client_secret.expose_secret().starts_with("dcs_"));
    assert_eq!(app.members, vec!["dana"]);
    assert!(!app.scim_enabled);
    assert!(app.token.is_none());

    // No token while SCIM is off.
    let err = client.issue_token(app.id).await.unwrap_err();
    assert_eq!(api_code(&err), (409, "scim_disabled"));

    let changed = client.enable_scim(app.id, true).await.unwrap();
    assert!(changed.app.scim_enabled);
    assert_eq!(changed.revoked_token_id, None);

    let first = client.issue_token(app.id).await.unwrap();
    assert_eq!(first.expires_at - first.issued_at, Duration::days(90));
    let parts: Vec<_> = first.token.expose_secret().split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT");

    let err = client.issue_token(app.id).await.unwrap_err();
    assert_eq!(api_code(&err), (409, "token_exists"));

    let meta = client.token(app.id).await.unwrap();
    assert_eq!(meta.token_id, first.token_id);
    assert_eq!(meta.state, TokenState::Active);

    client.revoke_token(app.id).await.unwrap();
    assert_eq!(client.token(app.id).await.unwrap().state, TokenState::Revoked);
    let err = client.revoke_token(app.id).await.unwrap_err();
    assert_eq!(api_code(&err), (404, "no_active_token"));

    let second = client.issue_token(app.id).await.unwrap();
    assert_ne!(second.token_id, first.token_id);
    let service_account = client.get_app(app.id).await.unwrap().service_account;
    assert_eq!(service_account, Some(format!("{}.serviceaccount", app.client_id)));

    h.restart().await;

    // The old session survives a restart; so do the app, its token and the signing key.
    let client = ConsoleClient::new(&h.url())
        .unwrap()
        .with_session(client.session().unwrap().clone());
    let apps = client.list_apps().await.unwrap();
    assert_eq!(apps.len(), 1);
    let after = &apps[0];
    assert_eq!(after.name, "HR sync");
    assert!(after.scim_enabled);
    let token = after.token.as_ref().unwrap();
    assert_eq!(token.token_id, second.token_id);
    assert_eq!(token.state, TokenState::Active);
    assert_eq!(
        api_code(&client.issue_token(app.id).await.unwrap_err()),
        (409, "token_exists")
    );

    let store = h.db.store().await;
    let tokens = devconsole::tokens::TokenService::new(
        store.clone(),
        Arc::new(h.clock().clone()),
        devconsole::tokens::TokenConfig::default(),
    )
    .await
    .unwrap();
    let verified = tokens
        .verify(second.token.expose_secret())
        .await
        .expect("the token verifies after restart");
    assert_eq!(verified.app_id, app.id);
    assert!(
        tokens.verify(first.token.expose_secret()).await.is_err(),
        "the revoked token stays revoked"
    );

    let actions: Vec<String> = client
        .audit(Some(app.id), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action.as_str().to_owned())
        .collect();
    for expected in ["app.create", "app.scim.enable", "token.issue", "token.revoke"] {
        assert!(
            actions.iter().any(|a| a == expected),
            "audit lacks {expected}: {actions:?}"
        );
    }
}

/// What each role may do. `anon` has no session; `admin` lacks Developers authority;
/// `outsider` has it but is not a member of the app; `member` created the app.
#[tokio::test]
async fn authorization_matrix() {
    let h = start().await;
    let member = h.signed_in("member", Role::Developer).await;
    let outsider = h.signed_in("outsider", Role::Developer).await;
    let admin = h.signed_in("plain", Role::Admin).await;
    let root = h.signed_in("root", Role::SuperAdmin).await;
    let roles: [(&str, Option<&ConsoleClient>); 5] = [
        ("anon", None),
        ("admin", Some(&admin)),
        ("outsider", Some(&outsider)),
        ("member", Some(&member)),
        ("super", Some(&root)),
    ];

    for (i, (role, session)) in roles.iter().enumerate() {
        // A fresh app per role, owned by `member`, with SCIM on and a token issued.
        let app = member
            .create_app(&format!("App for {role}"), "")
            .await
            .unwrap()
            .app;
        member.enable_scim(app.id, true).await.unwrap();
        member.issue_token(app.id).await.unwrap();
        let id = app.id;
        let manage = matches!(*role, "member" | "super");
        let expect_see = |ok: u16| match *role {
            "anon" => 401,
            "admin" => 403,
            _ => ok,
        };
        let expect_manage = |ok: u16| match *role {
            "anon" => 401,
            "admin" | "outsider" => 403,
            _ => ok,
        };
        if !matches!(*role, "anon" | "admin") {
            let (_, seen) = h
                .call("GET", &format!("/console/v1/apps/{id}"), *session, None)
                .await;
            assert_eq!(seen["can_manage"], manage, "{role} can_manage");
        }
        let cases: Vec<(&str, String, Option<Value>, u16)> = vec![
            (
                "GET",
                "/console/v1/me".into(),
                None,
                if *role == "anon" { 401 } else { 200 },
            ),
            ("GET", "/console/v1/admins".into(), None, expect_see(200)),
            (
                "POST",
                "/console/v1/admins".into(),
                Some(json!({"username": format!("new{i}"), "role": "developer", "password": PASSWORD})),
                match *role {
                    "anon" => 401,
                    "super" => 201,
                    _ => 403,
                },
            ),
            ("GET", "/console/v1/apps".into(), None, expect_see(200)),
            (
                "POST",
                "/console/v1/apps".into(),
                Some(json!({"type": "provisioning", "name": format!("Created by {role}")})),
                expect_see(201),
            ),
            ("GET", format!("/console/v1/apps/{id}"), None, expect_see(200)),
            (
                "GET",
                format!("/console/v1/apps/{id}/token"),
                None,
                expect_see(200),
            ),
            (
                "PATCH",
                format!("/console/v1/apps/{id}"),
                Some(json!({"description": "changed"})),
                expect_manage(200),
            ),
            (
                "PUT",
                format!("/console/v1/apps/{id}/members"),
                Some(json!({"members": ["member", "root"]})),
                expect_manage(200),
            ),
            (
                "POST",
                format!("/console/v1/apps/{id}/client-secret"),
                None,
                expect_manage(200),
            ),
            (
                "DELETE",
                format!("/console/v1/apps/{id}/token"),
                None,
                expect_manage(204),
            ),
            (
                "POST",
                format!("/console/v1/apps/{id}/token"),
                None,
                expect_manage(201),
            ),
            (
                "PUT",
                format!("/console/v1/apps/{id}/scim"),
                Some(json!({"enabled": false})),
                expect_manage(200),
            ),
            ("GET", "/console/v1/settings/sso".into(), None, expect_see(200)),
            (
                "PUT",
                "/console/v1/settings/sso".into(),
                Some(json!({"enabled": false, "user_key": "lineworks_account"})),
                expect_see(200),
            ),
            ("GET", "/console/v1/audit?limit=5".into(), None, expect_see(200)),
            (
                "DELETE",
                format!("/console/v1/apps/{id}"),
                None,
                expect_manage(204),
            ),
        ];
        for (method, path, body, want) in cases {
            let (status, json) = h.call(method, &path, *session, body).await;
            assert_eq!(status.as_u16(), want, "{role} {method} {path}: {json}");
            if status.is_client_error() {
                let code = json["code"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{role} {method} {path}: no JSON error: {json}"));
                assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
                match (*role, status.as_u16()) {
                    ("admin", 403) if path.contains("/apps") => {
                        assert_eq!(code, "developers_authority_required")
                    }
                    ("outsider", 403) if path.contains("/apps/") => assert_eq!(code, "not_app_member"),
                    _ => {}
                }
            }
        }
        // What the refused roles tried left the app as it was.
        if !manage {
            let still = member.get_app(id).await.unwrap();
            assert_eq!(still.description, "");
            assert!(still.scim_enabled);
            assert_eq!(still.token.unwrap().state, TokenState::Active);
        }
    }
    // Logout ends only that session.
    for (role, session) in roles {
        let (status, _) = h
            .call("DELETE", "/console/v1/sessions/current", session, None)
            .await;
        assert_eq!(
            status.as_u16(),
            if role == "anon" { 401 } else { 204 },
            "{role} logout"
        );
        if session.is_some() {
            let (status, _) = h.call("GET", "/console/v1/me", session, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{role} still signed in after logout"
            );
        }
    }
}

#[tokio::test]
async fn fifty_concurrent_issues_yield_exactly_one_token() {
    let h = start().await;
    let client = h.signed_in("dev", Role::Developer).await;
    let app = client.create_app("Race", "").await.unwrap().app;
    client.enable_scim(app.id, true).await.unwrap();

    let attempts = (0..50).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.issue_token(app.id).await })
    });
    let results = futures::future::join_all(attempts).await;
    let mut issued = Vec::new();
    for result in results {
        match result.unwrap() {
            Ok(token) => issued.push(token.token_id),
            Err(e) => assert_eq!(api_code(&e), (409, "token_exists")),
        }
    }
    assert_eq!(issued.len(), 1, "exactly one concurrent issue succeeds");

    let active =
        h.db.scalar_i64("SELECT COUNT(*) FROM dedicated_tokens WHERE state = 'active'")
            .await;
    assert_eq!(active, 1);

    // Concurrent creates with one name: one wins, the rest get name_taken.
    let creates = (0..20).map(|i| {
        let c = client.clone();
        tokio::spawn(async move { c.create_app(if i % 2 == 0 { "Same" } else { "SAME" }, "").await })
    });
    let outcomes = futures::future::join_all(creates).await;
    let created = outcomes
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(created, 1);
}

fn file_contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

#[tokio::test]
async fn secrets_never_reach_the_database_or_the_logs() {
    let mut h = start().await;
    let client = h.signed_in("keeper", Role::Developer).await;
    let session = client.session().unwrap().expose_secret().to_owned();
    let created = client.create_app("Secretive", "").await.unwrap();
    let first_secret = created.client_secret.expose_secret().to_owned();
    let app = created.app;
    client.enable_scim(app.id, true).await.unwrap();
    let token = client
        .issue_token(app.id)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    let reissued = client
        .reissue_client_secret(app.id)
        .await
        .unwrap()
        .client_secret
        .expose_secret()
        .to_owned();
    // Exercise failure paths that carry secrets too.
    let mut wrong = ConsoleClient::new(&h.url()).unwrap();
    let _ = wrong
        .login("keeper", SecretString::from("wrong-password-123"))
        .await;
    let _ = client
        .client_credentials_token(&app.client_id, &SecretString::from(first_secret.clone()))
        .await;
    client.revoke_token(app.id).await.unwrap();
    let oauth = client
        .client_credentials_token(&app.client_id, &SecretString::from(reissued.clone()))
        .await
        .unwrap();
    let oauth_token = oauth.access_token.expose_secret().to_owned();
    h.restart().await; // checkpoint the WAL into the main file, then check every file.

    let secrets = [
        ("password", PASSWORD.to_owned()),
        ("wrong password", "wrong-password-123".to_owned()),
        ("session", session),
        ("first client secret", first_secret),
        ("reissued client secret", reissued),
        ("console token", token.clone()),
        ("oauth token", oauth_token),
        // The JWT signature alone would be enough to recognise a token.
        ("token signature", token.rsplit('.').next().unwrap().to_owned()),
    ];
    let mut files: Vec<PathBuf> = std::fs::read_dir(h.db.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // On PostgreSQL the database is every row of every table, as text.
    let dump = match h.db.backend() {
        common::Backend::Sqlite => {
            assert!(files.iter().any(|f| f.ends_with("console.db")));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(h.db.sqlite_file())
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "the database is readable by its owner only");
            }
            String::new()
        }
        common::Backend::Postgres => {
            let dump = h.db.postgres_dump().await;
            assert!(dump.contains("keeper"), "the dump holds the rows");
            dump
        }
    };
    let logs = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    assert!(logs.contains("console server listening"), "logs were captured");
    for (what, secret) in &secrets {
        for file in &files {
            assert!(!file_contains(file, secret), "{what} found in {}", file.display());
        }
        assert!(!dump.contains(secret.as_str()), "{what} found in the database");
        assert!(!logs.contains(secret.as_str()), "{what} found in the logs");
    }
    // Debug output of everything that carried a secret is redacted.
    let client = ConsoleClient::new(&h.url())
        .unwrap()
        .with_session(client.session().unwrap().clone());
    let created_debug = format!("{:?}", client.create_app("Debuggable", "").await.unwrap());
    assert!(
        created_debug.contains("REDACTED") || created_debug.contains("Secret"),
        "{created_debug}"
    );
    assert!(!created_debug.contains("dcs_"));
}

/// (what, method, path, content type, body, expected status, expected code)
type BadCase = (
    &'static str,
    &'static str,
    String,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_input_is_refused_with_json_errors_and_changes_nothing() {
    let h = start().await;
    let client = h.signed_in("careful", Role::Developer).await;
    h.admin("viewer", Role::Admin).await;
    let app = client.create_app("Original", "untouched").await.unwrap().app;
    client.create_app("Other", "").await.unwrap();
    let id = app.id;
    let before = client.list_apps().await.unwrap();

    let raw = |method: &'static str, path: String, content_type: Option<&'static str>, body: Vec<u8>| {
        let http = h.http.clone();
        let url = format!("{}{path}", h.url());
        let token = client.session().unwrap().expose_secret().to_owned();
        async move {
            let mut req = http
                .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url)
                .bearer_auth(token);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let response = req.body(body).send().await.unwrap();
            let status = response.status().as_u16();
            let json: Value = response.json().await.unwrap_or(Value::Null);
            (status, json)
        }
    };
    let json_ct = Some("application/json");
    let big_name = "x".repeat(70 * 1024);
    let apps = "/console/v1/apps".to_owned();
    let one = format!("/console/v1/apps/{id}");
    let cases: Vec<BadCase> = vec![
        (
            "malformed JSON",
            "POST",
            apps.clone(),
            json_ct,
            b"{\"type\": \"provisioning\", ".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "not JSON at all",
            "PATCH",
            one.clone(),
            json_ct,
            b"name=Evil".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "no content type",
            "PATCH",
            one.clone(),
            None,
            br#"{"name":"Evil"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "oversized body",
            "POST",
            apps.clone(),
            json_ct,
            format!(r#"{{"type":"provisioning","name":"{big_name}"}}"#).into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "wrong type",
            "PATCH",
            one.clone(),
            json_ct,
            br#"{"name":42}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "unknown field",
            "PATCH",
            one.clone(),
            json_ct,
            br#"{"name":"Evil","admin":true}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "unknown app type",
            "POST",
            apps.clone(),
            json_ct,
            br#"{"type":"oauth","name":"Evil"}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "empty name",
            "POST",
            apps.clone(),
            json_ct,
            br#"{"type":"provisioning","name":"   "}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            "long name",
            "PATCH",
            one.clone(),
            json_ct,
            format!(r#"{{"name":"{}"}}"#, "n".repeat(101)).into_bytes(),
            400,
            "invalid_field",
        ),
        (
            "long description",
            "PATCH",
            one.clone(),
            json_ct,
            format!(r#"{{"description":"{}"}}"#, "d".repeat(501)).into_bytes(),
            400,
            "invalid_field",
        ),
        (
            "escape in name",
            "PATCH",
            one.clone(),
            json_ct,
            br#"{"name":"Evil\u001b[31m"}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            "RLO in name",
            "PATCH",
            one.clone(),
            json_ct,
            "{\"name\":\"Evil\u{202E}gpj\"}".as_bytes().to_vec(),
            400,
            "invalid_field",
        ),
        (
            "isolate in name",
            "POST",
            apps.clone(),
            json_ct,
            "{\"type\":\"provisioning\",\"name\":\"a\u{2067}b\"}"
                .as_bytes()
                .to_vec(),
            400,
            "invalid_field",
        ),
        (
            "NUL in description",
            "PATCH",
            one.clone(),
            json_ct,
            br#"{"description":"a\u0000b"}"#.to_vec(),
            400,
            "invalid_field",
        ),
        (
            "empty patch",
            "PATCH",
            one.clone(),
            json_ct,
            b"{}".to_vec(),
            400,
            "nothing_to_update",
        ),
        (
            "duplicate name, other case",
            "PATCH",
            one.clone(),
            json_ct,
            br#"{"name":"OTHER"}"#.to_vec(),
            409,
            "name_taken",
        ),
        (
            "unknown member",
            "PUT",
            format!("{one}/members"),
            json_ct,
            br#"{"members":["ghost"]}"#.to_vec(),
            400,
            "unknown_admin",
        ),
        (
            "member without authority",
            "PUT",
            format!("{one}/members"),
            json_ct,
            br#"{"members":["viewer"]}"#.to_vec(),
            400,
            "member_lacks_authority",
        ),
        (
            "no members",
            "PUT",
            format!("{one}/members"),
            json_ct,
            br#"{"members":[]}"#.to_vec(),
            400,
            "no_members",
        ),
        (
            "scim not a bool",
            "PUT",
            format!("{one}/scim"),
            json_ct,
            br#"{"enabled":"yes"}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "bad SSO key",
            "PUT",
            "/console/v1/settings/sso".into(),
            json_ct,
            br#"{"enabled":true,"user_key":"phone"}"#.to_vec(),
            400,
            "invalid_body",
        ),
        (
            "unknown app id",
            "GET",
            format!("/console/v1/apps/{}", uuid::Uuid::now_v7()),
            None,
            vec![],
            404,
            "app_not_found",
        ),
        (
            "not a uuid",
            "DELETE",
            "/console/v1/apps/..%2f..%2fetc".into(),
            None,
            vec![],
            404,
            "app_not_found",
        ),
        (
            "token of unknown app",
            "POST",
            format!("/console/v1/apps/{}/token", uuid::Uuid::now_v7()),
            None,
            vec![],
            404,
            "app_not_found",
        ),
        (
            "bad audit limit",
            "GET",
            "/console/v1/audit?limit=-1".into(),
            None,
            vec![],
            400,
            "invalid_query",
        ),
        (
            "bad audit app",
            "GET",
            "/console/v1/audit?app=nope".into(),
            None,
            vec![],
            400,
            "invalid_query",
        ),
        (
            "unknown route",
            "GET",
            "/console/v1/nothing-here".into(),
            None,
            vec![],
            404,
            "route_not_found",
        ),
        (
            "wrong method",
            "PUT",
            apps.clone(),
            json_ct,
            b"{}".to_vec(),
            405,
            "method_not_allowed",
        ),
    ];
    for (what, method, path, ct, body, status, code) in cases {
        let (got, json) = raw(method, path, ct, body).await;
        assert_eq!(got, status, "{what}: {json}");
        assert_eq!(json["code"], code, "{what}: {json}");
        assert!(
            json["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {json}"
        );
    }
    // The wrong-credential login is JSON too, and names no secret.
    let (status, json) = h
        .call(
            "POST",
            "/console/v1/sessions",
            None,
            Some(json!({"username": "careful", "password": 7})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (400, Some("invalid_body"))
    );

    assert_eq!(client.list_apps().await.unwrap(), before, "stored data changed");
    // Valid edits still work afterwards, and the CJK name is kept as sent.
    let renamed = client
        .update_app(
            id,
            &UpdateApp {
                name: Some(" 人事連携 ".into()),
                description: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "人事連携");
}

#[tokio::test]
async fn renewal_moves_expiry_and_idle_tokens_expire() {
    // The console session must outlive the months this test skips through.
    let h = start_with(|c| {
        c.session_idle = Duration::days(1000);
        c.session_lifetime = Duration::days(1000);
    })
    .await;
    let client = h.signed_in("renewer", Role::Developer).await;
    let app = client.create_app("Renewing", "").await.unwrap().app;
    client.enable_scim(app.id, true).await.unwrap();
    let issued = client.issue_token(app.id).await.unwrap();
    let jwt = issued.token.expose_secret().to_owned();
    let scim_get = |when: &str| {
        let h = &h;
        let jwt = jwt.clone();
        let when = when.to_owned();
        async move {
            let r = h
                .http
                .get(format!("{}/scim/v2/Users", h.url()))
                .bearer_auth(jwt)
                .send()
                .await
                .unwrap();
            assert!(
                r.status().is_success() || r.status() == StatusCode::UNAUTHORIZED,
                "{when}"
            );
            r.status()
        }
    };

    let mut expected = issued.expires_at;
    for round in 1..=3 {
        // Thirty days after the last use: still valid, and the use renews it.
        h.clock().advance(Duration::days(30));
        assert_eq!(scim_get("use").await, StatusCode::OK, "round {round}");
        let meta = client.token(app.id).await.unwrap();
        assert!(
            meta.expires_at > expected,
            "round {round}: expiry did not move from {expected}"
        );
        assert_eq!(meta.expires_at, h.clock().now() + Duration::days(90));
        assert_eq!(meta.last_used_at, Some(h.clock().now()));
        expected = meta.expires_at;
    }
    // Unused for 90 days: expired, refused, and a new token may be issued.
    h.clock().advance(Duration::days(90));
    assert_eq!(client.token(app.id).await.unwrap().state, TokenState::Expired);
    assert_eq!(scim_get("after expiry").await, StatusCode::UNAUTHORIZED);
    let list = client.list_apps().await.unwrap();
    assert_eq!(list[0].token.as_ref().unwrap().state, TokenState::Expired);
    client
        .issue_token(app.id)
        .await
        .expect("an expired token does not block a new one");
}

#[tokio::test]
async fn oauth_client_credentials_follow_the_console_rules() {
    let h = start_with(|c| c.oauth_per_minute = 8).await;
    let client = h.signed_in("oauth", Role::Developer).await;
    let created = client.create_app("Machine", "").await.unwrap();
    let (app, secret) = (created.app, created.client_secret);
    let anon = ConsoleClient::new(&h.url()).unwrap();

    let err = anon
        .client_credentials_token(&app.client_id, &secret)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (400, "unauthorized_client"), "SCIM off");
    client.enable_scim(app.id, true).await.unwrap();
    let err = anon
        .client_credentials_token(&app.client_id, &SecretString::from("dcs_wrong"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (401, "invalid_client"));

    let token = anon
        .client_credentials_token(&app.client_id, &secret)
        .await
        .unwrap();
    assert_eq!(token.token_type, "Bearer");
    assert_eq!(token.expires_in, 90 * 24 * 3600);
    assert_eq!(client.token(app.id).await.unwrap().state, TokenState::Active);
    let err = anon
        .client_credentials_token(&app.client_id, &secret)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (400, "invalid_request"), "one active token");

    // HTTP Basic client authentication, after a revoke.
    client.revoke_token(app.id).await.unwrap();
    let basic = h
        .http
        .post(format!("{}/oauth2/v2.0/token", h.url()))
        .basic_auth(&app.client_id, Some(secret.expose_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(basic.headers()["cache-control"], "no-store");
    let body: Value = basic.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().contains('.'));

    let unsupported = h
        .http
        .post(format!("{}/oauth2/v2.0/token", h.url()))
        .form(&[("grant_type", "password"), ("client_id", &app.client_id)])
        .send()
        .await
        .unwrap();
    assert_eq!(unsupported.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        unsupported.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    // A reissued client secret replaces the old one at once.
    let fresh = client.reissue_client_secret(app.id).await.unwrap().client_secret;
    client.revoke_token(app.id).await.unwrap();
    let err = anon
        .client_credentials_token(&app.client_id, &secret)
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (401, "invalid_client"));
    anon.client_credentials_token(&app.client_id, &fresh)
        .await
        .unwrap();

    // Rate limited per client: the quota of 8 is spent by now.
    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = anon.client_credentials_token(&app.client_id, &fresh).await
            && e.status() == Some(429)
        {
            limited = Some(e);
            break;
        }
    }
    // RFC 6749 has no code for this; `temporarily_unavailable` (OAuth Extensions Error
    // Registry) with Retry-After, as the README documents.
    assert_eq!(
        api_code(&limited.expect("rate limited")).1,
        "temporarily_unavailable"
    );
}

#[tokio::test]
async fn sessions_logins_audit_and_sso_warning() {
    let h = start().await;
    h.admin("sam", Role::Developer).await;
    let mut anon = ConsoleClient::new(&h.url()).unwrap();
    for _ in 0..5 {
        let err = anon
            .login("sam", SecretString::from("not the password"))
            .await
            .unwrap_err();
        assert_eq!(api_code(&err), (401, "unauthorized"));
    }
    let err = anon.login("sam", SecretString::from(PASSWORD)).await.unwrap_err();
    assert_eq!(
        api_code(&err),
        (429, "rate_limited"),
        "locked out after five failures"
    );
    let err = anon
        .login("nobody", SecretString::from("whatever"))
        .await
        .unwrap_err();
    assert_eq!(
        api_code(&err),
        (401, "unauthorized"),
        "unknown users look like wrong passwords"
    );

    let root = h.signed_in("root", Role::SuperAdmin).await;
    let failures = root.audit(None, 50).await.unwrap();
    let login_failures = failures
        .iter()
        .filter(|e| e.action.as_str() == "session.login" && e.actor == "sam")
        .map(|e| e.count)
        .sum::<u64>();
    assert_eq!(
        login_failures, 6,
        "each failed or refused login is audited (repeats collapse into one counted row)"
    );
    assert!(
        failures
            .iter()
            .any(|e| e.action.as_str() == "session.login" && e.actor == "root")
    );
    assert!(failures.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    // The SSO warning appears once SCIM and SSO-with-another-user-key meet.
    let app = root.create_app("Provisioner", "").await.unwrap().app;
    root.set_sso_settings(SsoSettings {
        enabled: true,
        user_key: SsoUserKey::Email,
    })
    .await
    .unwrap();
    assert!(
        root.get_app(app.id).await.unwrap().warnings.is_empty(),
        "no SCIM yet"
    );
    let with_scim = root.enable_scim(app.id, true).await.unwrap().app;
    assert_eq!(with_scim.warnings.len(), 1);
    assert!(with_scim.warnings[0].contains("LINE WORKS Account"));
    root.set_sso_settings(SsoSettings {
        enabled: true,
        user_key: SsoUserKey::LineworksAccount,
    })
    .await
    .unwrap();
    assert!(root.list_apps().await.unwrap()[0].warnings.is_empty());

    // Twelve idle hours end a session.
    h.clock().advance(Duration::hours(12));
    let err = root.me().await.unwrap_err();
    assert_eq!(api_code(&err), (401, "unauthorized"));
}

#[tokio::test]
async fn embedded_local_session_is_a_super_admin_without_a_login() {
    let h = start().await;
    let token = h.server().mint_local_session().await.unwrap();
    let client = ConsoleClient::new(&h.url()).unwrap().with_session(token);
    let me = client.me().await.unwrap();
    assert_eq!(me.role, Role::SuperAdmin);
    // Nobody can log in as the local admin over HTTP.
    let mut anon = ConsoleClient::new(&h.url()).unwrap();
    let err = anon
        .login(&me.username, SecretString::from(""))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), (401, "unauthorized"));
    let app = client.create_app("Local", "").await.unwrap().app;
    assert!(app.can_manage);
}
