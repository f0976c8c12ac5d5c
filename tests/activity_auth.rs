//! Authentication failures per app (issue 10: "failed reads and authentication failures per app
//! are counted too"). A token of ours that no longer works (revoked, superseded, expired) still
//! names its app, so the refusal is recorded in that app's activity, collapsed to one row per
//! app, status and minute, and counted in the metrics under its client ID. Made-up and forged
//! tokens name no app: they are counted globally only and never grow the database.

mod common;

use common::{ScimEnv, USER};
use devconsole::clock::ManualClock;
use devconsole::wire::{ActivityEvent, ActivityFilter, Outcome, ScimOperation, ScimResourceType};
use prometheus_parse::{Scrape, Value};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::macros::datetime;

async fn env() -> (ScimEnv, ManualClock) {
    let clock = ManualClock::new(datetime!(2026-11-27 09:00 UTC));
    let env = common::scim_env_with(common::app().clock(clock.clone()).configure(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    }))
    .await;
    (env, clock)
}

async fn post_user(env: &ScimEnv, token: &str, name: &str) -> StatusCode {
    env.http
        .post(format!("{}/Users", env.scim))
        .bearer_auth(token)
        .json(&json!({"schemas": [USER], "userName": name}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn get_users(env: &ScimEnv, token: &str) -> StatusCode {
    env.http
        .get(format!("{}/Users", env.scim))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// The app's failed calls, newest first (reading writes what is queued).
async fn failures(env: &ScimEnv, console: &devconsole::client::ConsoleClient) -> Vec<ActivityEvent> {
    let filter = ActivityFilter {
        outcome: Some(Outcome::Failure),
        ..ActivityFilter::default()
    };
    console
        .activity_page(Some(env.app), &filter, 200, None)
        .await
        .unwrap()
        .events
}

async fn scrape(env: &ScimEnv) -> Scrape {
    let addr = env.server.server().metrics_addr().unwrap();
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

fn scim_count(m: &Scrape, client_id: &str, method: &str, resource: &str, status: &str) -> f64 {
    m.samples
        .iter()
        .filter(|s| {
            s.metric == "devconsole_scim_requests_total"
                && s.labels.get("client_id") == Some(client_id)
                && s.labels.get("method") == Some(method)
                && s.labels.get("resource_type") == Some(resource)
                && s.labels.get("status") == Some(status)
        })
        .map(|s| match s.value {
            Value::Counter(v) | Value::Untyped(v) => v,
            _ => panic!("not a counter"),
        })
        .sum()
}

#[tokio::test]
async fn a_revoked_tokens_refusals_are_recorded_against_its_app_collapsed_and_counted() {
    let (env, clock) = env().await;
    let client_id = env.console.get_app(env.app).await.unwrap().client_id;
    let token = env.token.expose_secret().to_owned();
    assert_eq!(
        post_user(&env, &token, "ok@example.com").await,
        StatusCode::CREATED
    );
    // A failed read is recorded and counted per app as well.
    assert_eq!(env.get("/Users/no-such-id").await.status, StatusCode::NOT_FOUND);

    env.console.revoke_token(env.app).await.unwrap();
    // A sync job retrying with the revoked token: 100 refusals in one minute make one row.
    for i in 0..100 {
        let name = format!("retry{i}@example.com");
        assert_eq!(post_user(&env, &token, &name).await, StatusCode::UNAUTHORIZED);
    }
    let seen = failures(&env, &env.console).await;
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let refused = &seen[0];
    assert_eq!(refused.app_id, env.app);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.operation, ScimOperation::Create);
    assert_eq!(refused.resource_type, Some(ScimResourceType::User));
    assert_eq!(refused.detail.as_deref(), Some("the token has been revoked"));
    assert_eq!(seen[1].status, 404, "the failed read");
    assert_eq!(seen[1].resource_id.as_deref(), Some("no-such-id"));

    // A minute on, the window has closed: a row counts the 99 folded in, and the next refusal
    // opens a new window with a row of its own.
    clock.advance(time::Duration::seconds(61));
    assert_eq!(get_users(&env, &token).await, StatusCode::UNAUTHORIZED);
    let seen = failures(&env, &env.console).await;
    assert_eq!(seen.len(), 4, "{seen:#?}");
    assert_eq!(seen[0].operation, ScimOperation::Read);
    assert_eq!(seen[0].detail.as_deref(), Some("the token has been revoked"));
    assert_eq!(seen[1].operation, ScimOperation::Create);
    assert_eq!(seen[1].status, 401);
    assert_eq!(
        seen[1].detail.as_deref(),
        Some("the token has been revoked; 99 more like this since 2026-11-27T09:00:00Z")
    );

    // The metrics count every refusal, under the app.
    let m = scrape(&env).await;
    assert_eq!(scim_count(&m, &client_id, "POST", "User", "401"), 100.0);
    assert_eq!(scim_count(&m, &client_id, "GET", "User", "401"), 1.0);
    assert_eq!(
        scim_count(&m, &client_id, "GET", "User", "404"),
        1.0,
        "failed read"
    );
    assert_eq!(scim_count(&m, &client_id, "POST", "User", "201"), 1.0);
    assert_eq!(scim_count(&m, "", "POST", "User", "401"), 0.0);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn superseded_and_expired_tokens_name_their_app() {
    let (env, clock) = env().await;
    let client_id = env.console.get_app(env.app).await.unwrap().client_id;
    let old = env.token.expose_secret().to_owned();
    // Lost token: revoke, then issue a new one. The old one is still refused against the app.
    env.console.revoke_token(env.app).await.unwrap();
    let new = env.console.issue_token(env.app).await.unwrap().token;
    let new = new.expose_secret().to_owned();
    assert_eq!(
        post_user(&env, &old, "ada@example.com").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post_user(&env, &new, "ada@example.com").await,
        StatusCode::CREATED
    );

    // A second app's refusals are its own.
    let (other, other_token) = env.server.provisioning_app(&env.console, "Other sync").await;
    env.console.revoke_token(other).await.unwrap();
    let other_token = other_token.expose_secret().to_owned();
    assert_eq!(get_users(&env, &other_token).await, StatusCode::UNAUTHORIZED);

    // 91 days without a call: the new token has expired.
    clock.advance(time::Duration::days(91));
    assert_eq!(get_users(&env, &new).await, StatusCode::UNAUTHORIZED);

    let console = env.server.login("dev").await;
    let seen = failures(&env, &console).await;
    let details: Vec<(u16, &str)> = seen
        .iter()
        .map(|e| (e.status, e.detail.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        details,
        [
            (401, "the token has expired"),
            (401, "the token has been revoked")
        ],
        "{seen:#?}"
    );
    let other_seen = console
        .activity_page(Some(other), &ActivityFilter::default(), 50, None)
        .await
        .unwrap()
        .events;
    assert_eq!(other_seen.len(), 1);
    assert_eq!(other_seen[0].status, 401);

    let m = scrape(&env).await;
    assert_eq!(scim_count(&m, &client_id, "POST", "User", "401"), 1.0);
    assert_eq!(scim_count(&m, &client_id, "GET", "User", "401"), 1.0);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn made_up_and_forged_tokens_are_counted_globally_and_store_nothing() {
    let (env, _clock) = env().await;
    let token = env.token.expose_secret().to_owned();
    assert_eq!(
        post_user(&env, &token, "ok@example.com").await,
        StatusCode::CREATED
    );
    env.console
        .activity_page(None, &ActivityFilter::default(), 10, None)
        .await
        .unwrap();
    let rows_before = env
        .server
        .db
        .scalar_i64("SELECT COUNT(*) FROM scim_activity")
        .await;
    assert_eq!(rows_before, 1);

    // Our token with its payload changed (another jti, say) no longer matches its signature;
    // a token with its signature cut; made-up strings of every shape.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_payload = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["jti"] = json!(uuid::Uuid::now_v7());
        b64.encode(serde_json::to_vec(&claims).unwrap())
    };
    let mut hostile = vec![
        format!("{}.{}.{}", parts[0], forged_payload, parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
    ];
    for i in 0..200 {
        hostile.push(format!("garbage-{i}-{}", "z".repeat(i)));
    }
    for t in &hostile {
        assert_eq!(
            post_user(&env, t, "x@example.com").await,
            StatusCode::UNAUTHORIZED,
            "{t}"
        );
    }
    // Nothing was recorded for anyone.
    let after = env
        .console
        .activity_page(None, &ActivityFilter::default(), 10, None)
        .await
        .unwrap();
    assert_eq!(after.events.len(), 1);
    assert_eq!(
        env.server
            .db
            .scalar_i64("SELECT COUNT(*) FROM scim_activity")
            .await,
        rows_before
    );
    // Counted, under no app: the label set does not grow with the tokens sent.
    let m = scrape(&env).await;
    assert_eq!(scim_count(&m, "", "POST", "User", "401"), hostile.len() as f64);
    let client_ids: std::collections::BTreeSet<&str> = m
        .samples
        .iter()
        .filter(|s| s.metric == "devconsole_scim_requests_total")
        .filter_map(|s| s.labels.get("client_id"))
        .collect();
    assert_eq!(client_ids.len(), 2, "the app's and the empty one: {client_ids:?}");
    // The real token still works: nothing hostile touched it.
    let fine = SecretString::from(token);
    assert_eq!(
        post_user(&env, fine.expose_secret(), "still@example.com").await,
        StatusCode::CREATED
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_app_over_its_rate_sees_the_refusals_in_its_activity() {
    let clock = ManualClock::new(datetime!(2026-11-27 09:00 UTC));
    let env = common::scim_env_with(common::app().clock(clock.clone()).configure(|c| {
        c.scim_per_minute = 3;
    }))
    .await;
    let token = env.token.expose_secret().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get_users(&env, &token).await.as_u16());
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 3, "{statuses:?}");
    let seen = failures(&env, &env.console).await;
    assert_eq!(seen.len(), 1, "collapsed: {seen:#?}");
    assert_eq!(seen[0].status, 429);
    assert!(
        seen[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("requests per minute")),
        "{seen:#?}"
    );
    env.server.shutdown().await.unwrap();
}

/// A window that closes with nobody calling again still writes its count (the background
/// sweep), and a graceful stop writes the counts of windows still open: the activity log adds
/// up to the refusals the metrics count.
#[tokio::test]
async fn refusal_counts_are_written_when_the_window_closes_or_the_server_stops() {
    let clock = ManualClock::new(datetime!(2026-11-27 09:00 UTC));
    let env = common::scim_env_with(common::app().clock(clock.clone()).configure(|c| {
        c.activity.refusal_sweep = std::time::Duration::from_millis(20);
    }))
    .await;
    let token = env.token.expose_secret().to_owned();
    env.console.revoke_token(env.app).await.unwrap();
    for _ in 0..5 {
        assert_eq!(get_users(&env, &token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(failures(&env, &env.console).await.len(), 1);
    clock.advance(time::Duration::seconds(61));
    let end = std::time::Instant::now() + common::deadline();
    let seen = loop {
        let seen = failures(&env, &env.console).await;
        if seen.len() > 1 || std::time::Instant::now() > end {
            break seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(
        seen[0].detail.as_deref(),
        Some("the token has been revoked; 4 more like this since 2026-11-27T09:00:00Z")
    );

    // Three more, then a graceful stop with the window still open.
    for _ in 0..3 {
        assert_eq!(get_users(&env, &token).await, StatusCode::UNAUTHORIZED);
    }
    let mut server = env.server;
    server.restart().await;
    let console = server.login("dev").await;
    let seen = console
        .activity_page(None, &ActivityFilter::default(), 50, None)
        .await
        .unwrap()
        .events;
    let details: Vec<&str> = seen.iter().filter_map(|e| e.detail.as_deref()).collect();
    assert_eq!(
        details,
        [
            "the token has been revoked; 2 more like this since 2026-11-27T09:01:01Z",
            "the token has been revoked",
            "the token has been revoked; 4 more like this since 2026-11-27T09:00:00Z",
            "the token has been revoked",
        ],
        "{seen:#?}"
    );
    server.shutdown().await.unwrap();
}

/// Different reasons in the same minute are not folded together: an expired token and a
/// revoked one of the same app make a row each.
#[tokio::test]
async fn different_reasons_in_one_minute_are_kept_apart() {
    let (env, clock) = env().await;
    let first = env.token.expose_secret().to_owned();
    clock.advance(time::Duration::days(91));
    assert_eq!(get_users(&env, &first).await, StatusCode::UNAUTHORIZED);
    let console = env.server.login("dev").await;
    let second = console.issue_token(env.app).await.unwrap().token;
    console.revoke_token(env.app).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            get_users(&env, second.expose_secret()).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(get_users(&env, &first).await, StatusCode::UNAUTHORIZED);
    }
    let seen = failures(&env, &console).await;
    let details: Vec<&str> = seen.iter().filter_map(|e| e.detail.as_deref()).collect();
    assert_eq!(
        details,
        ["the token has been revoked", "the token has expired"],
        "{seen:#?}"
    );
    env.server.shutdown().await.unwrap();
}
