//! The PATCH value-path matcher (in memory) and the list filter (SQL, on either backend) must
//! select the same elements: the same case folding and the same answer for a missing value.

mod common;

use reqwest::StatusCode;
use serde_json::{Value, json};

fn emails(user: &Value) -> Vec<Value> {
    user["emails"].as_array().cloned().unwrap_or_default()
}

async fn listed(env: &common::ScimEnv, filter: &str) -> usize {
    let a = env
        .send(
            env.req(reqwest::Method::GET, "/Users")
                .query(&[("filter", filter)]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{filter}: {}", a.body);
    a.body["totalResults"].as_u64().unwrap() as usize
}

/// caseExact=false folds ASCII letters only (README "PostgreSQL": SQLite NOCASE/LIKE,
/// `lower(x COLLATE "C")`): "ÄRGER" is not "ärger" for the list filter, so a PATCH value path
/// with the same filter must not select it either.
#[tokio::test]
async fn patch_value_paths_fold_case_as_the_list_filter_does() {
    let env = common::scim_env().await;
    let user = env
        .create_user(json!({"userName": "ann@example.com", "emails": [
            {"value": "ann@example.com", "display": "ÄRGER", "type": "work"},
            {"value": "ann@home.example", "display": "Home", "type": "home"}]}))
        .await;
    let id = user["id"].as_str().unwrap();
    for (filter, n) in [
        ("emails[display eq \"ärger\"]", 0),
        ("emails[display eq \"ÄRGER\"]", 1),
        ("emails[display eq \"Ärger\"]", 1),
        ("emails[display co \"ärg\"]", 0),
        ("emails[display eq \"HOME\"]", 1),
    ] {
        assert_eq!(listed(&env, filter).await, n, "{filter}");
    }
    // The single-eq fast path and the general matcher (co) alike.
    for path in ["emails[display eq \"ärger\"]", "emails[display co \"ärg\"]"] {
        let a = env
            .patch(&format!("/Users/{id}"), json!([{"op": "remove", "path": path}]))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(emails(&a.body).len(), 2, "{path} removed {}", a.body);
    }
    // ASCII case still folds.
    let a = env
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "remove", "path": "emails[display eq \"HOME\"]"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(emails(&a.body).len(), 1, "{}", a.body);
    env.server.shutdown().await.unwrap();
}

/// A comparison with a value the element does not have is false, `ne` included (only
/// `eq null`/`not pr` select a missing value), as the SQL filter has it: so
/// `emails[type ne "work"]` selects no untyped email, in a list and in a PATCH alike.
#[tokio::test]
async fn ne_on_a_missing_sub_attribute_is_false_in_patch_as_in_the_list_filter() {
    let env = common::scim_env().await;
    let user = env
        .create_user(json!({"userName": "bob@example.com", "emails": [
            {"value": "bob@example.com", "type": "work"},
            {"value": "bob@untyped.example"}]}))
        .await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(listed(&env, "emails[type ne \"work\"]").await, 0);
    assert_eq!(listed(&env, "emails[not (type eq \"work\")]").await, 1);
    let a = env
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "remove", "path": "emails[type ne \"work\"]"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(emails(&a.body).len(), 2, "{}", a.body);
    // `not (type eq …)` does select the untyped one, in both.
    let a = env
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "remove", "path": "emails[not (type eq \"work\")]"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        emails(&a.body),
        vec![json!({"value": "bob@example.com", "type": "work"})],
        "{}",
        a.body
    );
    env.server.shutdown().await.unwrap();
}
