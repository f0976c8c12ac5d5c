//! The two paged console lists (`/console/v1/audit` and `/console/v1/activity`, per app too)
//! share one `limit`/`cursor` grammar: every bad value gets 400 `invalid_query` with a sentence
//! that names the parameter and what it accepts, and a good cursor walks every page.

mod common;

use common::{ScimEnv, USER};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// (path, largest page)
fn lists(env: &ScimEnv) -> Vec<(String, i64)> {
    vec![
        ("/console/v1/audit".to_owned(), 1000),
        ("/console/v1/activity".to_owned(), 200),
        (format!("/console/v1/apps/{}/activity", env.app), 200),
    ]
}

async fn get(env: &ScimEnv, path: &str, query: &str) -> (StatusCode, Value) {
    env.server
        .call("GET", &format!("{path}?{query}"), Some(&env.console), None)
        .await
}

#[tokio::test]
async fn bad_limits_and_cursors_are_named_in_a_clear_error() {
    let env = common::scim_env().await;
    for (path, max) in lists(&env) {
        let too_big = (max + 1).to_string();
        for bad in [
            "limit=0",
            "limit=-1",
            &format!("limit={too_big}"),
            "limit=abc",
            "limit=",
            "limit=1.5",
            "limit=99999999999999999999999",
            "limit=5&limit=6",
        ] {
            let (status, body) = get(&env, &path, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{bad}: {body}");
            assert_eq!(body["code"], "invalid_query", "{path}?{bad}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("limit must be a whole number between 1 and {max}")),
                "{path}?{bad}: {message}"
            );
        }
        for bad in [
            "cursor=xyz",
            "cursor=-5",
            "cursor=0",
            "cursor=",
            "cursor=1%00",
            "cursor=99999999999999999999999",
            "cursor=3&cursor=4",
        ] {
            let (status, body) = get(&env, &path, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{bad}: {body}");
            assert_eq!(body["code"], "invalid_query", "{path}?{bad}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains("cursor is not one this server handed out"),
                "{path}?{bad}: {message}"
            );
        }
        // The filter half keeps its own checks: unknown parameters are refused too.
        let (status, body) = get(&env, &path, "colour=red&limit=5").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["code"], "invalid_query");
        assert!(body["message"].as_str().unwrap().contains("colour"), "{body}");
        // Good values pass.
        let (status, body) = get(&env, &path, &format!("limit={max}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, body) = get(&env, &path, "limit=1&cursor=1").await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cursor_walks_both_lists_with_filters_kept() {
    let env = common::scim_env().await;
    for i in 0..5 {
        env.create_user(json!({"userName": format!("p{i}@example.com")}))
            .await;
        // A failing create between each: the outcome filter must hold across pages.
        let r = env
            .post("/Users", json!({"schemas": [USER], "userName": "bad"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let walk = |path: String, query: &'static str| {
        let env = &env;
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let q = match &cursor {
                    Some(c) => format!("{query}&limit=2&cursor={c}"),
                    None => format!("{query}&limit=2"),
                };
                let (status, body) = get(env, &path, &q).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                let events = body["events"].as_array().unwrap().clone();
                assert!(events.len() <= 2);
                ids.extend(events);
                match body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            ids
        }
    };
    let failed = walk(
        format!("/console/v1/apps/{}/activity", env.app),
        "outcome=failure",
    )
    .await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|e| e["status"] == 400));
    let ids = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert!(
        ids(&failed).windows(2).all(|w| w[0] > w[1]),
        "no repeats, newest first"
    );
    // The audit log: this app's events only (app.create, SCIM on, token issue), over pages of 2.
    let app_query: &'static str = Box::leak(format!("app={}", env.app).into_boxed_str());
    let audit = walk("/console/v1/audit".into(), app_query).await;
    assert!(audit.len() >= 3, "{audit:?}");
    assert!(audit.iter().all(|e| e["app_id"] == env.app.to_string()));
    assert!(ids(&audit).windows(2).all(|w| w[0] > w[1]));
    env.server.shutdown().await.unwrap();
}
