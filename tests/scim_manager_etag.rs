//! A report shows its manager's name (`manager.displayName`, filled in when read), so when
//! that name changes the report's representation changes: its ETag and `meta.lastModified`
//! must change with it, and a client holding the old ETag gets 412 on `If-Match`. Both
//! backends (`DEVCONSOLE_TEST_DATABASE_URL` selects PostgreSQL).

mod common;

use common::{Answer, PATCH_OP, USER};
use devconsole::clock::ManualClock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn etag(a: &Answer) -> String {
    a.headers
        .get("etag")
        .expect("an ETag header")
        .to_str()
        .unwrap()
        .to_owned()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn renaming_a_manager_changes_each_reports_etag_and_last_modified() {
    let env = common::scim_env_with(
        common::app().clock(ManualClock::new(time::macros::datetime!(2026-11-27 09:00 UTC))),
    )
    .await;
    let clock = env.server.clock().clone();
    let boss = env
        .create_user(
            json!({"userName": "boss@example.com", "externalId": "00u-boss", "displayName": "Old Boss"}),
        )
        .await;
    let report = |name: &str, manager: &str| json!({"schemas": [USER, ENTERPRISE], "userName": name, ENTERPRISE: {"manager": {"value": manager}}});
    // One report names the manager by id (Entra ID), one by externalId (Okta); a bystander
    // has another manager.
    let by_id = id(&env.create_user(report("ann@example.com", &id(&boss))).await);
    let by_external = id(&env.create_user(report("bob@example.com", "00u-boss")).await);
    let bystander = id(&env.create_user(report("cy@example.com", "someone-else")).await);
    let read = |id: &str| {
        let path = format!("/Users/{id}");
        let env = &env;
        async move { env.get(&path).await }
    };

    let ann = read(&by_id).await;
    assert_eq!(ann.body[ENTERPRISE]["manager"]["displayName"], "Old Boss");
    let (ann_etag, ann_modified) = (etag(&ann), ann.body["meta"]["lastModified"].clone());
    let bob_etag = etag(&read(&by_external).await);
    let cy_etag = etag(&read(&bystander).await);

    clock.advance(time::Duration::minutes(5));
    let a = env
        .patch(
            &format!("/Users/{}", id(&boss)),
            json!([{"op": "replace", "path": "displayName", "value": "New Boss"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    let ann = read(&by_id).await;
    assert_eq!(ann.body[ENTERPRISE]["manager"]["displayName"], "New Boss");
    assert_ne!(
        etag(&ann),
        ann_etag,
        "the report's representation changed, its ETag must too"
    );
    assert_eq!(ann.body["meta"]["version"].as_str(), Some(etag(&ann).as_str()));
    assert_ne!(ann.body["meta"]["lastModified"], ann_modified);
    let bob = read(&by_external).await;
    assert_eq!(bob.body[ENTERPRISE]["manager"]["displayName"], "New Boss");
    assert_ne!(etag(&bob), bob_etag);
    assert_eq!(etag(&read(&bystander).await), cy_etag, "a bystander's ETag stays");

    // A client still holding the report's old ETag is refused, and the report is unchanged.
    let a = env
        .send(
            env.req(Method::PUT, &format!("/Users/{by_id}"))
                .header("If-Match", &ann_etag)
                .json(
                    &json!({"schemas": [USER, ENTERPRISE], "userName": "ann@example.com",
                              "title": "stale write", ENTERPRISE: {"manager": {"value": id(&boss)}}}),
                ),
        )
        .await;
    assert_eq!(a.status, StatusCode::PRECONDITION_FAILED, "{}", a.body);
    assert!(read(&by_id).await.body.get("title").is_none());
    // The current one passes.
    let current = etag(&read(&by_id).await);
    let a = env
        .send(
            env.req(Method::PATCH, &format!("/Users/{by_id}"))
                .header("If-Match", &current)
                .json(&json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title", "value": "fresh"}]})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // A PUT that changes the userName of a manager without a displayName: the shown name
    // is the userName, so reports change too.
    let plain = env.create_user(json!({"userName": "plain@example.com"})).await;
    let dee = id(&env.create_user(report("dee@example.com", &id(&plain))).await);
    let dee_before = read(&dee).await;
    assert_eq!(
        dee_before.body[ENTERPRISE]["manager"]["displayName"],
        "plain@example.com"
    );
    let a = env
        .put(
            &format!("/Users/{}", id(&plain)),
            json!({"schemas": [USER], "userName": "renamed@example.com"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let dee_after = read(&dee).await;
    assert_eq!(
        dee_after.body[ENTERPRISE]["manager"]["displayName"],
        "renamed@example.com"
    );
    assert_ne!(etag(&dee_after), etag(&dee_before));

    // A change the reports do not show (the manager's title) leaves their ETags alone.
    let ann_now = etag(&read(&by_id).await);
    let a = env
        .patch(
            &format!("/Users/{}", id(&boss)),
            json!([{"op": "add", "path": "title", "value": "CEO"}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(etag(&read(&by_id).await), ann_now);
    env.server.shutdown().await.unwrap();
}

/// A report that names its manager by an externalId nobody has yet gains `$ref` and
/// `displayName` when that manager is provisioned: a new representation, a new ETag.
#[tokio::test]
async fn provisioning_a_reports_manager_later_changes_the_reports_etag() {
    let env = common::scim_env().await;
    let report = env
        .create_user(
            json!({"schemas": [USER, ENTERPRISE], "userName": "eve@example.com",
                            ENTERPRISE: {"manager": {"value": "00u-later"}}}),
        )
        .await;
    let path = format!("/Users/{}", id(&report));
    let before = env.get(&path).await;
    assert!(before.body[ENTERPRISE]["manager"].get("displayName").is_none());
    env.create_user(
        json!({"userName": "later@example.com", "externalId": "00u-later", "displayName": "Later"}),
    )
    .await;
    let after = env.get(&path).await;
    assert_eq!(after.body[ENTERPRISE]["manager"]["displayName"], "Later");
    assert_ne!(etag(&after), etag(&before));
    env.server.shutdown().await.unwrap();
}

/// Two users who manage each other, renamed at the same moment: each write locks its own row and
/// then its report's, in opposite orders. PostgreSQL breaks such a deadlock by failing one of
/// them; that loser must be retried, never answered 500.
#[tokio::test]
async fn renaming_two_users_who_manage_each_other_at_once_never_fails() {
    let env = common::scim_env().await;
    let a = id(&env
        .create_user(json!({"userName": "ann@example.com", "displayName": "A0"}))
        .await);
    let b = env
        .create_user(json!({"schemas": [USER, ENTERPRISE], "userName": "bob@example.com", "displayName": "B0", ENTERPRISE: {"manager": {"value": a}}}))
        .await;
    let b = id(&b);
    let made = env
        .patch(
            &format!("/Users/{a}"),
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": {"value": b}}]),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    for round in 0..12 {
        let rename = |who: &str, name: String| {
            let path = format!("/Users/{who}");
            let env = &env;
            async move {
                env.patch(
                    &path,
                    json!([{"op": "replace", "path": "displayName", "value": name}]),
                )
                .await
            }
        };
        let (ra, rb) = tokio::join!(rename(&a, format!("A{round}")), rename(&b, format!("B{round}")));
        assert_eq!(ra.status, StatusCode::OK, "round {round}: {}", ra.body);
        assert_eq!(rb.status, StatusCode::OK, "round {round}: {}", rb.body);
    }
    let a_now = env.get(&format!("/Users/{a}")).await;
    assert_eq!(a_now.body[ENTERPRISE]["manager"]["displayName"], "B11");
    let b_now = env.get(&format!("/Users/{b}")).await;
    assert_eq!(b_now.body[ENTERPRISE]["manager"]["displayName"], "A11");
}
