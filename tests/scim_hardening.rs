//! Issue 7 (SCIM side): hostile sizes, expensive filters, concurrent writes and protocol edges,
//! against a real server on 127.0.0.1 with a temporary SQLite file.

mod common;

use common::{Answer, ERROR, GROUP, PATCH_OP, ScimEnv as Env, USER};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

async fn env() -> Env {
    // These tests send bursts; the rate limit has its own test.
    common::scim_env_with(common::app().configure(|c| c.scim_per_minute = 1_000_000)).await
}

fn etag(a: &Answer) -> String {
    a.headers[reqwest::header::ETAG].to_str().unwrap().to_owned()
}

async fn user(env: &Env, name: &str) -> String {
    let a = env
        .post("/Users", json!({"schemas": [USER], "userName": name}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

async fn group(env: &Env, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let a = env
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

/// The start of a body, for failure messages (a refused-today body can be megabytes).
fn short(v: &Value) -> String {
    v.to_string().chars().take(400).collect()
}

fn shown(a: &[Answer]) -> Vec<String> {
    a.iter()
        .map(|a| format!("{} {}", a.status, short(&a.body)))
        .collect()
}

/// A SCIM error with this status and scimType whose detail names `limit`.
fn assert_refused(a: &Answer, status: StatusCode, scim_type: &str, limit: &str) {
    assert_eq!(a.status, status, "{}", short(&a.body));
    assert_eq!(a.body["schemas"], json!([ERROR]), "{}", a.body);
    assert_eq!(a.body["scimType"], scim_type, "{}", a.body);
    let detail = a.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(limit),
        "the detail should name {limit:?}: {detail}"
    );
}

fn emails(from: usize, n: usize) -> Value {
    (from..from + n)
        .map(|i| json!({"value": format!("e{i}@example.com"), "type": "work"}))
        .collect()
}

#[tokio::test]
async fn values_operations_and_members_are_capped_and_each_refusal_names_its_limit() {
    let env = env().await;
    let id = user(&env, "capped@example.com").await;
    let path = format!("/Users/{id}");

    // 20,000 emails in one operation, and the same spread over 100 operations.
    let a = env
        .patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails(0, 20_000)}]),
        )
        .await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "100 values per attribute",
    );
    let ops: Vec<Value> = (0..100)
        .map(|i| json!({"op": "add", "path": "emails", "value": emails(i * 100, 100)}))
        .collect();
    let a = env.patch(&path, Value::Array(ops)).await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "100 values per attribute",
    );
    // Exactly at the cap is fine.
    let a = env
        .patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails(0, 100)}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = env
        .patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails(100, 1)}]),
        )
        .await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "100 values per attribute",
    );

    // Operations per PATCH.
    let ops: Vec<Value> = (0..101)
        .map(|i| json!({"op": "replace", "path": "displayName", "value": format!("n{i}")}))
        .collect();
    let a = env.patch(&path, Value::Array(ops)).await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "100 operations per PATCH",
    );

    // A POST with too many values.
    let a = env
        .post("/Users", json!({"schemas": [USER], "userName": "many@example.com",
                    "phoneNumbers": (0..101).map(|i| json!({"value": format!("+81 {i}")})).collect::<Vec<_>>()}),
        )
        .await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "100 values per attribute",
    );

    // Members: 50,000 unknown ids in a POST (as many as fit the 1 MiB body); 1,001 in a PATCH.
    let many: Vec<Value> = (0..50_000).map(|i| json!({"value": i.to_string()})).collect();
    let a = env
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Huge", "members": many}),
        )
        .await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "10000 members per group",
    );
    let gid = group(&env, "Team", &[&id]).await;
    let some: Vec<Value> = (0..1001).map(|i| json!({"value": i.to_string()})).collect();
    let a = env
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": some}]),
        )
        .await;
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "1000 members per PATCH",
    );

    // Nothing refused was stored.
    let u = env.get(&path).await;
    assert_eq!(u.body["emails"].as_array().unwrap().len(), 100);
    assert!(u.body.get("displayName").is_none(), "{}", u.body);
    let g = env.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_resource_cannot_grow_past_its_stored_size_and_a_refused_write_keeps_it() {
    let env = env().await;
    let id = user(&env, "grows@example.com").await;
    let path = format!("/Users/{id}");
    // Each PATCH is far under the 1 MiB body limit; together they would build a huge user.
    let mut refused = None;
    for round in 0..40 {
        let addresses: Vec<Value> = (0..2)
            .map(|i| json!({"formatted": format!("{round}-{i} {}", "x".repeat(20_000)), "type": "work"}))
            .collect();
        let a = env
            .patch(
                &path,
                json!([{"op": "add", "path": "addresses", "value": addresses}]),
            )
            .await;
        if a.status != StatusCode::OK {
            refused = Some((round, a));
            break;
        }
    }
    let (round, a) = refused.expect("40 PATCHes of 40 KB each must not all be stored");
    assert!(round >= 1, "the first 40 KB PATCH fits");
    assert_refused(
        &a,
        StatusCode::BAD_REQUEST,
        "invalidValue",
        "262144 bytes per User",
    );
    let u = env.get(&path).await;
    assert_eq!(u.body["addresses"].as_array().unwrap().len(), round * 2);
    assert_eq!(etag(&u), format!("W/\"{}\"", round + 1));
}

#[tokio::test]
async fn hostile_filters_are_invalid_filter_never_500() {
    let env = env().await;
    user(&env, "ann@example.com").await;
    let terms = |n: usize| {
        (0..n)
            .map(|i| format!("emails[value eq \"u{i}@example.com\"]"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let cases = [
        (terms(1_000), "characters"),
        (terms(51), "50 terms"),
        (
            (0..1_000)
                .map(|i| format!("title eq \"{i}\""))
                .collect::<Vec<_>>()
                .join(" or "),
            "characters",
        ),
        (format!("userName co \"{}\"", "a".repeat(60_000)), "characters"),
        (
            format!("title co \"{}\"", "%_".repeat(200)),
            "256 characters per value",
        ),
    ];
    for (filter, limit) in &cases {
        let a = env
            .send(
                env.req(reqwest::Method::GET, "/Users")
                    .query(&[("filter", filter.as_str())]),
            )
            .await;
        assert_refused(&a, StatusCode::BAD_REQUEST, "invalidFilter", limit);
        let a = env
            .post("/Users/.search", json!({"schemas": [SEARCH], "filter": filter}))
            .await;
        assert_refused(&a, StatusCode::BAD_REQUEST, "invalidFilter", limit);
    }
    // Within the caps, a filter still works.
    let a = env
        .send(
            env.req(reqwest::Method::GET, "/Users")
                .query(&[("filter", terms(50).as_str())]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn path_rejections_are_scim_json_and_created_reads_the_same_later() {
    let env = env().await;
    for path in ["/Users/%FF", "/Groups/%C3%28", "/Users/%FF/x"] {
        let a = env.get(path).await; // `send` checks the content type
        assert!(
            a.status.is_client_error(),
            "{path}: {:?}",
            shown(std::slice::from_ref(&a))
        );
        assert_eq!(a.body["schemas"], json!([ERROR]), "{path}");
    }
    let a = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "when@example.com"}),
        )
        .await;
    let id = a.body["id"].as_str().unwrap();
    let later = env.get(&format!("/Users/{id}")).await;
    assert_eq!(a.body["meta"]["created"], later.body["meta"]["created"]);
    assert_eq!(a.body["meta"]["lastModified"], later.body["meta"]["lastModified"]);
    let g = env
        .post("/Groups", json!({"schemas": [GROUP], "displayName": "When"}))
        .await;
    let later = env
        .get(&format!("/Groups/{}", g.body["id"].as_str().unwrap()))
        .await;
    assert_eq!(g.body["meta"]["created"], later.body["meta"]["created"]);
}

#[tokio::test]
async fn concurrent_patches_to_one_resource_all_succeed_in_turn() {
    let env = env().await;
    let id = user(&env, "busy@example.com").await;
    let path = format!("/Users/{id}");
    let answers = futures::future::join_all((0..40).map(|i| {
        env.patch(
            &path,
            json!([{"op": "add", "path": "emails", "value": emails(i, 1)}]),
        )
    }))
    .await;
    let mut versions: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            etag(a)
        })
        .collect();
    versions.sort_by_key(|v| {
        v.trim_matches(|c: char| !c.is_ascii_digit())
            .parse::<i64>()
            .unwrap()
    });
    let expected: Vec<String> = (2..=41).map(|v| format!("W/\"{v}\"")).collect();
    assert_eq!(versions, expected, "each write saw the one before it");
    let u = env.get(&path).await;
    assert_eq!(u.body["emails"].as_array().unwrap().len(), 40);

    // Entra ID style: concurrent member adds to one group.
    let env_ref = &env;
    let users = futures::future::join_all(
        (0..30).map(|i| async move { user(env_ref, &format!("m{i}@example.com")).await }),
    )
    .await;
    let gid = group(&env, "Synced", &[]).await;
    let gpath = format!("/Groups/{gid}");
    let answers = futures::future::join_all(users.iter().map(|u| {
        env.patch(
            &gpath,
            json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
        )
    }))
    .await;
    assert!(
        answers.iter().all(|a| a.status == StatusCode::OK),
        "{:?}",
        shown(&answers)
    );
    let g = env.get(&gpath).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), 30);

    // With If-Match, exactly one of the writers that read version 1 wins; the rest get 412.
    let id = user(&env, "guarded@example.com").await;
    let path = format!("/Users/{id}");
    let answers = futures::future::join_all((0..10).map(|i| {
        let body = json!({"schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": format!("v{i}")}]});
        env.send(
            env.req(reqwest::Method::PATCH, &path)
                .header("If-Match", "W/\"1\"")
                .json(&body),
        )
    }))
    .await;
    let ok = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    let stale = answers
        .iter()
        .filter(|a| a.status == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, stale), (1, 9), "{:?}", shown(&answers));
}

#[tokio::test]
async fn deleting_a_group_checks_if_match_and_never_loses_a_concurrent_update() {
    let env = env().await;
    // A stale If-Match is refused and deletes nothing.
    let gid = group(&env, "Doomed", &[]).await;
    let a = env
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "displayName", "value": "Doomed 2"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let del = |etag: &'static str| {
        env.send(
            env.req(reqwest::Method::DELETE, &format!("/Groups/{gid}"))
                .header("If-Match", etag),
        )
    };
    assert_eq!(del("W/\"1\"").await.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(env.get(&format!("/Groups/{gid}")).await.status, StatusCode::OK);
    assert_eq!(del("W/\"2\"").await.status, StatusCode::NO_CONTENT);

    let member = user(&env, "member@example.com").await;
    for round in 0..15 {
        // A rename racing a delete that names version 1: never both succeed.
        let gid = group(&env, &format!("Race {round}"), &[]).await;
        let gpath = format!("/Groups/{gid}");
        let (rename, delete) = tokio::join!(
            env.patch(
                &gpath,
                json!([{"op": "replace", "path": "displayName", "value": format!("Renamed {round}")}])
            ),
            env.send(
                env.req(reqwest::Method::DELETE, &gpath)
                    .header("If-Match", "W/\"1\"")
            )
        );
        assert!(
            !(rename.status == StatusCode::OK && delete.status == StatusCode::NO_CONTENT),
            "round {round}: the delete removed a version it had not seen"
        );

        // A parent gaining a member while that member is deleted: the parent never keeps a
        // member that does not exist, and its other members survive.
        let child = group(&env, &format!("Child {round}"), &[]).await;
        let parent = group(&env, &format!("Parent {round}"), &[&member]).await;
        let ppath = format!("/Groups/{parent}");
        let (add, _) = tokio::join!(
            env.patch(
                &ppath,
                json!([{"op": "add", "path": "members", "value": [{"value": child}]}])
            ),
            env.send(env.req(reqwest::Method::DELETE, &format!("/Groups/{child}")))
        );
        assert!(
            add.status == StatusCode::OK || add.status == StatusCode::BAD_REQUEST,
            "{:?}",
            shown(std::slice::from_ref(&add))
        );
        let p = env.get(&ppath).await;
        let members: Vec<&str> = p.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(members, [member.as_str()], "round {round}: {}", p.body);
    }
    // The console still answers (it shares nothing with SCIM's turns).
    env.console.me().await.unwrap();
}

/// 20,000 users written straight into the database (through HTTP this would take minutes).
/// `$resource` is the SQL text of the JSON; PostgreSQL stores it as JSONB, which takes an explicit cast.
macro_rules! seed_users {
    ($resource:expr) => {
        concat!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, version, created_at, updated_at) \
             SELECT 'seed-' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', NULL, TRUE, ",
            $resource,
            ", 1, 0, 0 FROM n"
        )
    };
}
/// Each seeded user's JSON, as SQL text.
macro_rules! seed_resource {
    () => {
        "'{\"userName\":\"user' || i || '@example.com\",\"active\":true,\"emails\":[{\"value\":\"user' || i || '@example.com\",\"type\":\"work\"},{\"value\":\"home' || i || '@example.org\",\"type\":\"home\"}]}'"
    };
}

fn seed_users_sql(backend: common::Backend) -> &'static str {
    match backend {
        common::Backend::Sqlite => seed_users!(seed_resource!()),
        common::Backend::Postgres => seed_users!(concat!("CAST(", seed_resource!(), " AS jsonb)")),
    }
}

#[tokio::test]
async fn every_scim_query_has_a_time_budget_and_running_past_it_is_too_many_not_500() {
    let env = common::scim_env_with(common::app().configure(|c| {
        c.scim_per_minute = 1_000_000;
        c.scim_query_budget = std::time::Duration::from_millis(100);
    }))
    .await;
    assert_eq!(
        env.server
            .db
            .execute(seed_users_sql(env.server.db.backend()))
            .await,
        20_000
    );
    // Within the caps (25 × 2 = 50 terms, short values) but a scan of every user's emails per term:
    // seconds of work, many times the budget.
    let heavy = (0..25)
        .map(|i| format!("emails[value co \"nobody{i}\" or type eq \"fax{i}\"]"))
        .collect::<Vec<_>>()
        .join(" or ");
    let a = env
        .send(
            env.req(reqwest::Method::GET, "/Users")
                .query(&[("filter", heavy.as_str())]),
        )
        .await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "tooMany", "time budget");
    let a = env
        .post("/Users/.search", json!({"schemas": [SEARCH], "filter": heavy}))
        .await;
    assert_refused(&a, StatusCode::BAD_REQUEST, "tooMany", "time budget");
    // An indexed lookup is far inside the budget, and the connection a refused query used
    // serves the next query normally.
    for _ in 0..8 {
        let a = env
            .send(
                env.req(reqwest::Method::GET, "/Users")
                    .query(&[("filter", "userName eq \"user777@example.com\"")]),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", short(&a.body));
        assert_eq!(a.body["totalResults"], 1);
    }
    env.console.me().await.unwrap();
}
