//! Issue 10 provisioning activity, API side: every SCIM write is recorded with the app whose
//! token made it; failed reads too; the console API pages, filters and guards it; retention
//! prunes by age and by rows per app.

mod common;

use common::{GROUP, ScimEnv, USER};
use devconsole::clock::{Clock, ManualClock};
use devconsole::server::activity::{ActivityConfig, prune};
use devconsole::wire::{ActivityFilter, Outcome, Role, ScimOperation, ScimResourceType};
use reqwest::StatusCode;
use serde_json::json;
use time::macros::datetime;

async fn env_at(clock: &ManualClock) -> ScimEnv {
    common::scim_env_with(common::app().clock(clock.clone())).await
}

fn all() -> ActivityFilter {
    ActivityFilter::default()
}

#[tokio::test]
async fn writes_are_recorded_with_their_app_name_outcome_and_error() {
    let clock = ManualClock::new(datetime!(2026-11-27 09:00 UTC));
    let env = env_at(&clock).await;
    let alice = env
        .create_user(json!({"userName": "alice@example.com", "active": true}))
        .await;
    let id = alice["id"].as_str().unwrap().to_owned();
    let dup = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "alice@example.com"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    env.put(
        &format!("/Users/{id}"),
        json!({"schemas": [USER], "userName": "alice@example.com", "active": true, "displayName": "Alice"}),
    )
    .await;
    assert_eq!(
        env.delete(&format!("/Users/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let group = env
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Engineering"}),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED);
    // A failed read is recorded; a successful one is not.
    assert_eq!(env.get("/Users/no-such-user").await.status, StatusCode::NOT_FOUND);
    assert_eq!(env.get(&format!("/Users/{id}")).await.status, StatusCode::OK);

    let page = env
        .console
        .activity_page(Some(env.app), &all(), 50, None)
        .await
        .unwrap();
    let seen: Vec<_> = page
        .events
        .iter()
        .map(|e| {
            (
                e.operation,
                e.resource_type,
                e.name.as_deref(),
                e.status,
                e.outcome,
            )
        })
        .collect();
    use ScimOperation::*;
    use ScimResourceType::*;
    assert_eq!(
        seen,
        vec![
            (Read, Some(User), None, 404, Outcome::Failure),
            (Create, Some(Group), Some("Engineering"), 201, Outcome::Success),
            (Delete, Some(User), None, 204, Outcome::Success),
            (
                Replace,
                Some(User),
                Some("alice@example.com"),
                200,
                Outcome::Success
            ),
            (
                Create,
                Some(User),
                Some("alice@example.com"),
                409,
                Outcome::Failure
            ),
            (
                Create,
                Some(User),
                Some("alice@example.com"),
                201,
                Outcome::Success
            ),
        ],
        "{page:#?}"
    );
    let e = &page.events;
    assert!(
        e.iter()
            .all(|e| e.app_id == env.app && e.app_name.as_deref() == Some("Directory sync"))
    );
    assert_eq!(e[5].resource_id.as_deref(), Some(id.as_str()), "the created id");
    assert_eq!(e[2].resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(e[2].detail.as_deref(), Some("deactivated (DELETE deactivates)"));
    assert_eq!(e[4].scim_type.as_deref(), Some("uniqueness"));
    assert!(e[4].detail.as_deref().is_some_and(|d| !d.is_empty()));
    assert_eq!(e[0].resource_id.as_deref(), Some("no-such-user"));
    assert!(e.iter().all(|e| e.at == clock.now()));
    assert!(page.next_cursor.is_none());
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn pages_filters_and_scopes() {
    let env = common::scim_env().await;
    for i in 0..5 {
        env.create_user(json!({"userName": format!("u{i}@example.com")}))
            .await;
    }
    for _ in 0..3 {
        env.post("/Users", json!({"schemas": [USER], "userName": "not-an-email"}))
            .await;
    }
    env.post("/Groups", json!({"schemas": [GROUP], "displayName": "G"}))
        .await;
    // A second app's calls are its own.
    let (other, other_token) = env.server.provisioning_app(&env.console, "Other sync").await;
    let r = env
        .http
        .post(format!("{}/Users", env.scim))
        .bearer_auth(secrecy::ExposeSecret::expose_secret(&other_token))
        .json(&json!({"schemas": [USER], "userName": "xy@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let c = &env.console;
    // Pages of 4 through this app's 9 calls: no gaps, no repeats, newest first.
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = c
            .activity_page(Some(env.app), &all(), 4, cursor.as_deref())
            .await
            .unwrap();
        ids.extend(page.events.iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(ids.len(), 9);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    let failed = ActivityFilter {
        outcome: Some(Outcome::Failure),
        ..all()
    };
    let page = c.activity_page(Some(env.app), &failed, 50, None).await.unwrap();
    assert_eq!(page.events.len(), 3);
    assert!(
        page.events
            .iter()
            .all(|e| e.status == 400 && e.name.as_deref() == Some("not-an-email"))
    );
    let groups = ActivityFilter {
        resource_type: Some(ScimResourceType::Group),
        ..all()
    };
    assert_eq!(
        c.activity_page(Some(env.app), &groups, 50, None)
            .await
            .unwrap()
            .events
            .len(),
        1
    );
    let everything = c.activity_page(None, &all(), 50, None).await.unwrap();
    assert_eq!(everything.events.len(), 10);
    assert_eq!(everything.events[0].app_id, other);
    assert_eq!(
        c.activity_page(Some(other), &all(), 50, None)
            .await
            .unwrap()
            .events
            .len(),
        1
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_api_refuses_bad_queries_strangers_and_unknown_apps() {
    let env = common::scim_env().await;
    let s = &env.server;
    let app = env.app;
    for bad in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=xyz",
        "cursor=-5",
        "outcome=maybe",
        "resource=Printer",
        "colour=red",
    ] {
        let (status, body) = s
            .call(
                "GET",
                &format!("/console/v1/activity?{bad}"),
                Some(&env.console),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["code"].is_string(), "{bad}: {body}");
    }
    let (status, _) = s.call("GET", "/console/v1/activity", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let plain = s.signed_in("bob", Role::Admin).await;
    let (status, _) = s
        .call(
            "GET",
            &format!("/console/v1/apps/{app}/activity"),
            Some(&plain),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.call("GET", "/console/v1/activity", Some(&plain), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let missing = uuid::Uuid::new_v4();
    let (status, body) = s
        .call(
            "GET",
            &format!("/console/v1/apps/{missing}/activity"),
            Some(&env.console),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn hostile_names_and_details_are_stored_bounded() {
    let env = common::scim_env().await;
    let long = format!("{}@example.com", "a".repeat(5_000));
    let r = env
        .post("/Users", json!({"schemas": [USER], "userName": long}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let page = env
        .console
        .activity_page(Some(env.app), &all(), 5, None)
        .await
        .unwrap();
    let name = page.events[0].name.as_deref().unwrap();
    assert!(name.chars().count() <= 257, "{}", name.len());
    assert!(name.ends_with('…'));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_prunes_by_age_and_by_rows_per_app() {
    let clock = ManualClock::new(datetime!(2026-11-01 00:00 UTC));
    let env = env_at(&clock).await;
    for i in 0..3 {
        env.create_user(json!({"userName": format!("old{i}@example.com")}))
            .await;
    }
    clock.advance(time::Duration::days(31));
    for i in 0..6 {
        env.create_user(json!({"userName": format!("new{i}@example.com")}))
            .await;
    }
    // A month on, the console session has ended: sign in again. Reading writes what is queued.
    let console = env.server.login("dev").await;
    console.activity_page(None, &all(), 50, None).await.unwrap();
    let store = env.server.db.store().await;
    let config = ActivityConfig {
        max_rows_per_app: 4,
        ..ActivityConfig::default()
    };
    let gone = prune(&store, &clock, &config).await.unwrap();
    assert_eq!(gone, 5, "3 older than 30 days, then 2 over the 4-row cap");
    let left = console.activity_page(None, &all(), 50, None).await.unwrap();
    let names: Vec<_> = left.events.iter().filter_map(|e| e.name.clone()).collect();
    assert_eq!(
        names,
        [
            "new5@example.com",
            "new4@example.com",
            "new3@example.com",
            "new2@example.com"
        ]
    );
    // Another pass finds nothing more.
    assert_eq!(prune(&store, &clock, &config).await.unwrap(), 0);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_deleted_apps_activity_is_pruned() {
    let env = common::scim_env().await;
    env.create_user(json!({"userName": "ab@example.com"})).await;
    env.console.activity_page(None, &all(), 50, None).await.unwrap();
    // Turn SCIM off (revokes the token) and delete the app.
    env.console.enable_scim(env.app, false).await.unwrap();
    env.console.delete_app(env.app).await.unwrap();
    let store = env.server.db.store().await;
    let gone = prune(
        &store,
        &devconsole::clock::SystemClock,
        &ActivityConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(gone, 1);
    env.server.shutdown().await.unwrap();
}

/// `ActivityConfig.record = false` (the scim_load bench's "recording off" server) records
/// nothing: not the writes, not the failures, not the guard's refusals. Default is on.
#[tokio::test]
async fn recording_can_be_switched_off_for_the_benchmark_only() {
    assert!(ActivityConfig::default().record);
    let env = common::scim_env_with(common::app().configure(|c| c.activity.record = false)).await;
    env.create_user(json!({"userName": "off@example.com"})).await;
    let dup = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "off@example.com"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    env.console.revoke_token(env.app).await.unwrap();
    assert_eq!(env.get("/Users").await.status, StatusCode::UNAUTHORIZED);
    let page = env.console.activity_page(None, &all(), 50, None).await.unwrap();
    assert!(page.events.is_empty(), "{page:#?}");
    assert_eq!(
        env.server
            .db
            .scalar_i64("SELECT COUNT(*) FROM scim_activity")
            .await,
        0
    );
    env.server.shutdown().await.unwrap();
}

/// Rows are written many to a statement and many to a transaction: 250 calls (more than one
/// statement's worth) all arrive, in order, and a reader right after the last call sees it.
#[tokio::test]
async fn a_burst_of_calls_is_recorded_whole() {
    let env = common::scim_env_with(common::app().configure(|c| c.scim_per_minute = 100_000)).await;
    let mut sent = Vec::new();
    for i in 0..250 {
        let r = env
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": format!("burst{i:03}@example.com")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        sent.push(format!("burst{i:03}@example.com"));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = env
            .console
            .activity_page(Some(env.app), &all(), 200, cursor.as_deref())
            .await
            .unwrap();
        seen.extend(page.events.into_iter().filter_map(|e| e.name));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.reverse();
    assert_eq!(seen, sent);
    env.server.shutdown().await.unwrap();
}
