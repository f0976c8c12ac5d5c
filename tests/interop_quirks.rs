//! Provider quirks end to end: each is rewritten by the one normalisation step
//! (`src/server/scim/normalize.rs`) and then behaves as the standard request would.

mod interop_support;

use interop_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(env: &Env, path: &str, body: Value) -> Value {
    let a = env.send(Method::POST, path, &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

async fn patch(env: &Env, path: &str, ops: Value) -> Answer {
    env.send(
        Method::PATCH,
        path,
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    )
    .await
}

#[tokio::test]
async fn op_names_and_member_names_in_any_case() {
    let env = env().await;
    let u = create(
        &env,
        "/Users",
        json!({"schemas": [USER], "userName": "ann@example.com"}),
    )
    .await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    // scim_v2 alone knows only add/Add/ADD; RFC 7644 keywords are case-insensitive.
    let a = env
        .send(
            Method::PATCH,
            &path,
            &json!({"schemas": [PATCH_OP], "operations": [
                {"OP": "rEpLaCe", "Path": "displayName", "Value": "Ann"},
                {"op": "aDD", "path": "title", "value": "Lead"}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["displayName"], "Ann");
    assert_eq!(a.body["title"], "Lead");
    let a = patch(
        &env,
        &path,
        json!([{"op": "upsert", "path": "title", "value": "x"}]),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn boolean_strings_become_booleans_only_for_boolean_attributes() {
    let env = env().await;
    let u = create(
        &env,
        "/Users",
        json!({"schemas": [USER], "userName": "ann@example.com", "active": "True",
               "title": "False",
               "emails": [{"value": "ann@example.com", "type": "work", "primary": "True"}]}),
    )
    .await;
    assert_eq!(u["active"], true);
    assert_eq!(u["title"], "False", "a string attribute keeps its string");
    assert_eq!(u["emails"][0]["primary"], true);
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let a = patch(
        &env,
        &path,
        json!([{"op": "Add", "path": "emails",
                "value": [{"value": "ann@home.example", "type": "home", "primary": "True"}]}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The new primary is a real boolean, so the old one gives way (one primary at most).
    assert_eq!(
        a.body["emails"],
        json!([{"value": "ann@example.com", "type": "work"},
               {"value": "ann@home.example", "type": "home", "primary": true}])
    );
    let a = patch(
        &env,
        &path,
        json!([{"op": "Replace", "path": "active", "value": "FALSE"}]),
    )
    .await;
    assert_eq!(a.body["active"], false);
    // Anything else is still not a boolean.
    let a = patch(
        &env,
        &path,
        json!([{"op": "Replace", "path": "active", "value": "no"}]),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn value_object_paths_are_applied_one_by_one_and_read_only_keys_dropped() {
    let env = env().await;
    let u = create(
        &env,
        "/Users",
        json!({"schemas": [USER], "userName": "ann@example.com",
               "name": {"givenName": "Ann", "familyName": "Lee"},
               "emails": [{"value": "ann@example.com", "type": "work"}]}),
    )
    .await;
    let id = u["id"].as_str().unwrap();
    let path = format!("/Users/{id}");
    let a = patch(
        &env,
        &path,
        json!([{"op": "replace", "value": {
            "id": "not-mine", "meta": {"version": "x"}, "groups": [],
            "name.familyName": "Park",
            "emails[type eq \"work\"].value": "ann.park@example.com",
            format!("{ENTERPRISE}:department"): "Platform",
            "manager": "boss-id",
            "active": "False"}}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["id"], id);
    assert_eq!(a.body["name"], json!({"givenName": "Ann", "familyName": "Park"}));
    assert_eq!(a.body["emails"][0]["value"], "ann.park@example.com");
    assert_eq!(
        a.body[ENTERPRISE],
        json!({"department": "Platform", "manager": {"value": "boss-id"}})
    );
    assert_eq!(a.body["active"], false);
    // A name two extensions define is ambiguous, in a path and in a filter.
    let a = patch(
        &env,
        &path,
        json!([{"op": "add", "path": "employeeNumber", "value": "1"}]),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidPath"));
    let a = env
        .query("/Users", &[("filter", "employeeNumber eq \"1\"")])
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    // A name only one extension defines is that extension's, in a filter too.
    let a = env
        .query(
            "/Users",
            &[("filter", "manager eq \"boss-id\" and not (position pr)")],
        )
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn member_removal_by_value_list_removes_only_those_members() {
    let env = env().await;
    let mut ids = Vec::new();
    for n in ["ann", "bob", "cat"] {
        let u = create(
            &env,
            "/Users",
            json!({"schemas": [USER], "userName": format!("{n}@example.com")}),
        )
        .await;
        ids.push(u["id"].as_str().unwrap().to_owned());
    }
    let g = create(
        &env,
        "/Groups",
        json!({"schemas": [GROUP], "displayName": "Team",
               "members": ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()}),
    )
    .await;
    let path = format!("/Groups/{}", g["id"].as_str().unwrap());
    let a = patch(
        &env,
        &path,
        json!([{"op": "Remove", "path": "members",
                "value": [{"value": ids[0]}, {"$ref": null, "value": ids[2]}]}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["members"].as_array().unwrap().len(), 1, "{}", a.body);
    assert_eq!(a.body["members"][0]["value"], ids[1].as_str());
    // A value list that names no member value is refused; it must not empty the group.
    let a = patch(
        &env,
        &path,
        json!([{"op": "remove", "path": "members", "value": [{"display": "bob"}]}]),
    )
    .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let a = env.get(&path).await;
    assert_eq!(a.body["members"].as_array().unwrap().len(), 1, "{}", a.body);
    // An empty list names nobody, so nobody is removed.
    let a = patch(
        &env,
        &path,
        json!([{"op": "remove", "path": "members", "value": []}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["members"].as_array().unwrap().len(), 1, "{}", a.body);
    // Without a value, remove still clears the attribute (RFC 7644 §3.5.2.2).
    let a = patch(&env, &path, json!([{"op": "remove", "path": "members"}])).await;
    assert!(a.body.get("members").is_none(), "{}", a.body);
    env.server.shutdown().await.unwrap();
}
