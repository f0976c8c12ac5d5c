//! The SCIM 2.0 API end to end: a real server on 127.0.0.1 with a temporary SQLite file, an app
//! and a Dedicated Token made through the console API, and SCIM calls over HTTP.

mod common;

use common::{Answer, ERROR, GROUP, ScimEnv as Env, USER};
use devconsole::client::ConsoleClient;
use devconsole::clock::ManualClock;
use devconsole::server::ServerConfig;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;

const WORKS: &str = "urn:ietf:params:scim:schemas:extension:works:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A server with developer `dev`, an app with SCIM on and its token (see tests/common).
async fn env_with(clock: Option<ManualClock>, configure: impl FnOnce(&mut ServerConfig) + 'static) -> Env {
    let mut builder = common::app().configure(configure);
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    common::scim_env_with(builder).await
}

async fn env() -> Env {
    common::scim_env().await
}

fn assert_scim_error(a: &Answer, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([ERROR]), "{}", a.body);
    assert_eq!(a.body["status"], status.as_u16().to_string());
    assert_eq!(a.body["scimType"].as_str(), scim_type, "{}", a.body);
}

async fn assert_unauthorized(env: &Env, token: Option<&str>, header: Option<&str>) {
    let mut req = env.http.get(format!("{}/Users", env.scim));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(h) = header {
        req = req.header("Authorization", h);
    }
    let a = env.send(req).await;
    assert_scim_error(&a, StatusCode::UNAUTHORIZED, None);
    assert!(
        a.headers[reqwest::header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{:?}",
        a.headers
    );
}

#[tokio::test]
async fn every_bad_token_gets_401_with_a_bearer_challenge() {
    let env = env().await;
    let good = env.token.expose_secret().to_owned();
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);

    // Missing, wrong scheme, empty, malformed.
    assert_unauthorized(&env, None, None).await;
    assert_unauthorized(&env, None, Some(&format!("Basic {good}"))).await;
    assert_unauthorized(&env, None, Some("Bearer ")).await;
    assert_unauthorized(&env, Some("not-a-jwt"), None).await;
    assert_unauthorized(&env, Some("a.b.c"), None).await;
    // Signed by another server's key.
    let other = env_with(None, |_| {}).await;
    assert_unauthorized(&env, Some(other.token.expose_secret()), None).await;
    // Wrongly signed: our header and claims with another key's (well-formed) signature.
    let ours: Vec<&str> = good.split('.').collect();
    let theirs: Vec<&str> = other.token.expose_secret().split('.').collect();
    assert_unauthorized(
        &env,
        Some(&format!("{}.{}.{}", ours[0], ours[1], theirs[2])),
        None,
    )
    .await;
    // Claims edited after signing.
    let forged = format!("{}.{}x.{}", ours[0], ours[1], ours[2]);
    assert_unauthorized(&env, Some(&forged), None).await;

    // Revoked.
    env.console.revoke_token(env.app).await.unwrap();
    assert_unauthorized(&env, Some(&good), None).await;

    // The app's SCIM switched off (which also revokes its token through the console).
    let fresh = env.console.issue_token(env.app).await.unwrap().token;
    let ok = env
        .http
        .get(format!("{}/Users", env.scim))
        .bearer_auth(fresh.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    env.console.enable_scim(env.app, false).await.unwrap();
    assert_unauthorized(&env, Some(fresh.expose_secret()), None).await;

    // SCIM off while the token row is still active: refused for the switch itself.
    env.console.enable_scim(env.app, true).await.unwrap();
    let third = env.console.issue_token(env.app).await.unwrap().token;
    env.server
        .db
        .execute("UPDATE client_apps SET scim_enabled = FALSE")
        .await;
    assert_unauthorized(&env, Some(third.expose_secret()), None).await;
    other.server.shutdown().await.unwrap();
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let clock = ManualClock::new(time::macros::datetime!(2026-03-01 9:00 UTC));
    let env = env_with(Some(clock.clone()), |_| {}).await;
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    clock.advance(Duration::days(90) + Duration::seconds(1));
    assert_unauthorized(&env, Some(env.token.expose_secret()), None).await;
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn use_renews_expiry_and_writes_at_most_once_per_interval() {
    let t0 = time::macros::datetime!(2026-03-01 9:00 UTC);
    let clock = ManualClock::new(t0);
    let mut env = env_with(Some(clock.clone()), |_| {}).await;
    let before = env.console.token(env.app).await.unwrap();
    assert_eq!(before.last_used_at, None);
    assert_eq!(before.expires_at, t0 + Duration::days(90));

    // 80 days later a use renews the token for 90 days from now.
    clock.advance(Duration::days(80));
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    // The console session idled out over those 80 days; sign in again.
    env.console = ConsoleClient::new(&env.server.base_url()).unwrap();
    env.console
        .login("dev", SecretString::from("correct horse battery staple"))
        .await
        .unwrap();
    let used = env.console.token(env.app).await.unwrap();
    let t1 = t0 + Duration::days(80);
    assert_eq!(used.last_used_at, Some(t1));
    assert_eq!(used.expires_at, t1 + Duration::days(90));

    // Uses within the renewal interval are not written.
    for _ in 0..3 {
        clock.advance(Duration::minutes(3));
        assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    }
    assert_eq!(env.console.token(env.app).await.unwrap().last_used_at, Some(t1));

    // The first use after the interval is written.
    clock.advance(Duration::minutes(2));
    assert_eq!(env.get("/ServiceProviderConfig").await.status, StatusCode::OK);
    let t2 = t1 + Duration::minutes(11);
    let renewed = env.console.token(env.app).await.unwrap();
    assert_eq!(renewed.last_used_at, Some(t2));
    assert_eq!(renewed.expires_at, t2 + Duration::days(90));

    // Without the renewal the token would have expired by now; with it, it still works.
    clock.advance(Duration::days(89));
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn revocation_takes_effect_at_once_even_for_a_cached_token() {
    let env = env().await;
    // The verification is now cached (its TTL is 500 ms).
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    // The console's "test token" call (the one-time modal's `t`) sees the same.
    let (status, summary) = env.console.test_scim_token(&env.token).await.unwrap();
    assert_eq!(
        (status, summary.as_str()),
        (200, "SCIM accepted the token (0 users visible)")
    );
    env.console.revoke_token(env.app).await.unwrap();
    assert_unauthorized(&env, Some(env.token.expose_secret()), None).await;
    let (status, summary) = env.console.test_scim_token(&env.token).await.unwrap();
    assert_eq!(
        (status, summary.as_str()),
        (401, "SCIM refused the token: the token has been revoked")
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn over_the_rate_limit_gets_429_with_retry_after() {
    let env = env_with(None, |c| c.scim_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(env.get("/ServiceProviderConfig").await.status, StatusCode::OK);
    }
    let a = env.get("/Users").await;
    assert_scim_error(&a, StatusCode::TOO_MANY_REQUESTS, None);
    let wait: u64 = a.headers[reqwest::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn filters_cover_every_operator_and_match_injection_attempts_literally() {
    let env = env().await;
    let users = [
        ("ann@example.com", "Engineer", "E-001", "work", true, "ja-JP"),
        ("bob@example.com", "50% off", "E-002", "home", true, "en-US"),
        ("cat@example.org", "50_off", "E-003", "work", false, "ko-KR"),
        ("dan@example.org", "x' OR '1'='1", "e-004", "other", true, "zh-CN"),
        (
            "eve@example.net",
            "a\\b\"; DROP TABLE scim_users; --",
            "E-005",
            "work",
            true,
            "zh-TW",
        ),
    ];
    for (name, title, ext, email_type, active, lang) in users {
        env.create_user(json!({
            "userName": name,
            "title": title,
            "externalId": ext,
            "active": active,
            "preferredLanguage": lang,
            "name": {"givenName": name[..3].to_uppercase(), "familyName": "Test"},
            "emails": [{"value": name, "type": email_type, "primary": true}],
        }))
        .await;
    }
    let all = vec![
        "ann@example.com",
        "bob@example.com",
        "cat@example.org",
        "dan@example.org",
        "eve@example.net",
    ];
    let qualified = format!(r#"{USER}:userName eq "ann@example.com""#);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        // eq is case-insensitive for userName (caseExact=false) and exact for externalId.
        (r#"userName eq "ANN@example.COM""#, vec!["ann@example.com"]),
        (r#"externalId eq "e-001""#, vec![]),
        (r#"externalId eq "e-004""#, vec!["dan@example.org"]),
        (r#"userName ne "ann@example.com""#, all[1..].to_vec()),
        (
            r#"userName co "EXAMPLE.O""#,
            vec!["cat@example.org", "dan@example.org"],
        ),
        (r#"userName sw "B""#, vec!["bob@example.com"]),
        (r#"userName ew ".NET""#, vec!["eve@example.net"]),
        (
            r#"externalId sw "E-00""#,
            vec![
                "ann@example.com",
                "bob@example.com",
                "cat@example.org",
                "eve@example.net",
            ],
        ),
        (r#"externalId ew "4""#, vec!["dan@example.org"]),
        (r#"externalId co "-00""#, all.clone()),
        (
            r#"userName gt "cat@example.org""#,
            vec!["dan@example.org", "eve@example.net"],
        ),
        (
            r#"userName ge "cat@example.org""#,
            vec!["cat@example.org", "dan@example.org", "eve@example.net"],
        ),
        (r#"userName lt "BOB@example.com""#, vec!["ann@example.com"]),
        (
            r#"userName le "bob@example.com""#,
            vec!["ann@example.com", "bob@example.com"],
        ),
        (r#"title pr"#, all.clone()),
        (r#"nickName pr"#, vec![]),
        (r#"active eq false"#, vec!["cat@example.org"]),
        (r#"name.givenName eq "bob""#, vec!["bob@example.com"]),
        (
            r#"preferredLanguage eq "ja-JP" or preferredLanguage eq "en-US""#,
            vec!["ann@example.com", "bob@example.com"],
        ),
        (r#"title pr and not (active eq true)"#, vec!["cat@example.org"]),
        (
            r#"(userName sw "a" or userName sw "b") and emails.type eq "work""#,
            vec!["ann@example.com"],
        ),
        (
            r#"emails[type eq "work" and value ew ".net"]"#,
            vec!["eve@example.net"],
        ),
        (
            r#"emails[not (type eq "work")]"#,
            vec!["bob@example.com", "dan@example.org"],
        ),
        (
            r#"emails co "@example.org""#,
            vec!["cat@example.org", "dan@example.org"],
        ),
        (
            r#"emails.primary eq true and emails.type ne "work""#,
            vec!["bob@example.com", "dan@example.org"],
        ),
        (
            r#"meta.created gt "2000-01-01T00:00:00Z" and meta.resourceType eq "User""#,
            all.clone(),
        ),
        (r#"meta.lastModified lt "2000-01-01T00:00:00Z""#, vec![]),
        (&qualified, vec!["ann@example.com"]),
        // LIKE wildcards, quotes, backslashes and SQL keywords match only themselves.
        (r#"title co "%""#, vec!["bob@example.com"]),
        (r#"title co "_""#, vec!["cat@example.org", "eve@example.net"]),
        (r#"title sw "50_""#, vec!["cat@example.org"]),
        (r#"title sw "50%""#, vec!["bob@example.com"]),
        (r#"title ew "_off""#, vec!["cat@example.org"]),
        (r#"title eq "x' OR '1'='1""#, vec!["dan@example.org"]),
        (r#"title co "' OR '""#, vec!["dan@example.org"]),
        (r#"title co "\\b\"""#, vec!["eve@example.net"]),
        (r#"title co "DROP TABLE scim_users""#, vec!["eve@example.net"]),
        (r#"userName eq "\" OR 1=1 --""#, vec![]),
        (r#"userName co "%""#, vec![]),
        (r#"userName sw "_""#, vec![]),
    ];
    for (filter, expected) in cases {
        assert_eq!(env.matching(filter).await, expected, "filter: {filter}");
    }
    // The table survived the attempts above.
    assert_eq!(env.matching("userName pr").await.len(), 5);

    for bad in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "password eq \"x\"",
        "active gt true",
        "emails[type eq \"work\"",
    ] {
        let a = env
            .send(env.req(reqwest::Method::GET, "/Users").query(&[("filter", bad)]))
            .await;
        assert_scim_error(&a, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    }

    // The same filters through POST /Users/.search, with sorting and paging.
    let a = env
        .post(
            "/Users/.search",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "externalId sw \"E\"",
                "sortBy": "title",
                "sortOrder": "descending",
                "startIndex": 2,
                "count": 2,
                "attributes": ["userName"]
            }),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["totalResults"], 4);
    assert_eq!(a.body["startIndex"], 2);
    assert_eq!(a.body["itemsPerPage"], 2);
    // Titles descending, case-insensitively: Engineer, a\b…, 50_off, 50% off.
    let page: Vec<&str> = a.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["eve@example.net", "cat@example.org"]);
    assert!(a.body["Resources"][0].get("title").is_none());
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failing_patch_operation_leaves_the_resource_unchanged() {
    let env = env().await;
    let user = env
        .create_user(json!({
            "userName": "ann@example.com",
            "title": "Engineer",
            "emails": [{"value": "ann@example.com", "type": "work"}],
        }))
        .await;
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let before = env.get(&path).await.body;

    for third in [
        json!({"op": "replace", "path": "preferredLanguage", "value": "fr-FR"}),
        json!({"op": "replace", "path": "id", "value": "mine"}),
        json!({"op": "replace", "path": "emails[type eq \"fax\"]", "value": {"value": "x@example.com"}}),
        json!({"op": "add", "path": "noSuchAttribute", "value": "x"}),
        json!({"op": "replace", "path": "userName", "value": "x"}),
    ] {
        let a = env
            .patch(
                &path,
                json!([
                    {"op": "replace", "path": "title", "value": "Manager"},
                    {"op": "add", "path": "emails[type eq \"work\"].display", "value": "Work"},
                    third,
                ]),
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
        assert!(a.body["scimType"].is_string(), "{}", a.body);
        assert_eq!(env.get(&path).await.body, before);
    }

    // The same first two operations on their own apply, in order.
    let a = env
        .patch(
            &path,
            json!([
                {"op": "replace", "path": "title", "value": "Manager"},
                {"op": "replace", "path": "title", "value": "Director"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "ann@corp.example.com"},
                {"op": "add", "path": WORKS, "value": {"employeeNumber": "0042"}},
            ]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["title"], "Director");
    assert_eq!(a.body["emails"][0]["value"], "ann@corp.example.com");
    assert_eq!(a.body[WORKS]["employeeNumber"], "0042");
    assert_eq!(a.body["schemas"], json!([USER, WORKS]));
    assert_eq!(a.body["meta"]["version"], "W/\"2\"");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_deactivates_a_user() {
    let env = env().await;
    let user = env.create_user(json!({"userName": "ann@example.com"})).await;
    assert_eq!(user["active"], true);
    let path = format!("/Users/{}", user["id"].as_str().unwrap());
    let a = env.delete(&path).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = env.get(&path).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["active"], false);
    assert_eq!(a.body["userName"], "ann@example.com");
    assert_eq!(env.matching("active eq false").await, ["ann@example.com"]);
    // A PUT that omits `active` does not bring the member back; one that says so does.
    let a = env
        .put(
            &path,
            json!({"schemas": [USER], "userName": "ann@example.com", "nickName": "Ann"}),
        )
        .await;
    assert_eq!(
        (a.status, &a.body["active"]),
        (StatusCode::OK, &json!(false)),
        "{}",
        a.body
    );
    let a = env
        .put(
            &path,
            json!({"schemas": [USER], "userName": "ann@example.com", "active": true}),
        )
        .await;
    assert_eq!(a.body["active"], true, "{}", a.body);
    let a = env.delete(&format!("/Users/{}", Uuid::new_v4())).await;
    assert_scim_error(&a, StatusCode::NOT_FOUND, None);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn users_validate_conflict_and_carry_meta_and_etags() {
    let env = env().await;
    let u = env
        .create_user(json!({"userName": "Ann@Example.com", "preferredLanguage": "ko-KR", "externalId": "x1"}))
        .await;
    let id = u["id"].as_str().unwrap();
    let location = format!("{}/Users/{id}", env.scim);
    assert_eq!(u["meta"]["location"], location);
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert!(u["meta"]["created"].is_string() && u["meta"]["lastModified"].is_string());

    // Case-insensitive uniqueness.
    let a = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ann@EXAMPLE.com"}),
        )
        .await;
    assert_scim_error(&a, StatusCode::CONFLICT, Some("uniqueness"));

    for bad in [
        json!({"userName": "a@example.com"}),
        json!({"userName": format!("{}@example.com", "a".repeat(41))}),
        json!({"userName": format!("ab@{}.com", "d".repeat(87))}),
        json!({"userName": "no-at-sign"}),
        json!({"userName": "ok@example.com", "preferredLanguage": "de-DE"}),
        json!({"userName": "ok@example.com", "externalId": "x".repeat(101)}),
        json!({"title": "no userName"}),
    ] {
        let mut body = bad.clone();
        body["schemas"] = json!([USER]);
        let a = env.post("/Users", body).await;
        assert_scim_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    }
    // A 90-character userName with a 40-character local part is fine.
    let long = format!("{}@{}.com", "a".repeat(40), "d".repeat(45));
    assert_eq!(long.len(), 90);
    env.create_user(json!({"userName": long})).await;

    // If-Match: the current ETag passes, a stale one gets 412.
    let path = format!("/Users/{id}");
    let put = json!({"schemas": [USER], "userName": "ann@example.com", "title": "Lead"});
    let stale = env
        .send(
            env.req(reqwest::Method::PUT, &path)
                .header("If-Match", "W/\"7\"")
                .json(&put),
        )
        .await;
    assert_scim_error(&stale, StatusCode::PRECONDITION_FAILED, None);
    let ok = env
        .send(
            env.req(reqwest::Method::PUT, &path)
                .header("If-Match", "W/\"1\"")
                .json(&put),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.headers[reqwest::header::ETAG], "W/\"2\"");
    assert_eq!(ok.body["title"], "Lead");
    // PUT replaces: attributes it leaves out are gone.
    assert!(ok.body.get("preferredLanguage").is_none());

    // attributes / excludedAttributes on GET by id.
    let a = env.get(&format!("{path}?attributes=userName")).await;
    assert_eq!(
        a.body,
        json!({"schemas": [USER], "id": id, "userName": "ann@example.com"})
    );
    let a = env.get(&format!("{path}?excludedAttributes=meta,title")).await;
    assert!(a.body.get("meta").is_none() && a.body.get("title").is_none() && a.body["id"] == id);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn groups_hold_users_and_groups_and_names_are_unique_regardless_of_case() {
    let env = env().await;
    let ann = env.create_user(json!({"userName": "ann@example.com"})).await;
    let ann_id = ann["id"].as_str().unwrap();
    let make =
        |name: &str, members: Value| json!({"schemas": [GROUP], "displayName": name, "members": members});
    let child = env.post("/Groups", make("Platform", json!([]))).await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let child_id = child.body["id"].as_str().unwrap();
    let parent = env
        .post(
            "/Groups",
            make(
                "Engineering",
                json!([{"value": ann_id, "type": "User"}, {"value": child_id}]),
            ),
        )
        .await;
    assert_eq!(parent.status, StatusCode::CREATED, "{}", parent.body);
    let parent_id = parent.body["id"].as_str().unwrap();
    assert_eq!(parent.body["members"][1]["type"], "Group");
    assert_eq!(
        parent.body["members"][0]["$ref"],
        format!("{}/Users/{ann_id}", env.scim)
    );

    let clash = env.post("/Groups", make("engineering", json!([]))).await;
    assert_scim_error(&clash, StatusCode::CONFLICT, Some("uniqueness"));
    let ghost = env
        .post(
            "/Groups",
            make("Ghosts", json!([{"value": Uuid::new_v4().to_string()}])),
        )
        .await;
    assert_scim_error(&ghost, StatusCode::BAD_REQUEST, Some("invalidValue"));

    // A user's groups are computed from memberships.
    let a = env.get(&format!("/Users/{ann_id}")).await;
    assert_eq!(a.body["groups"][0]["value"], parent_id);
    assert_eq!(a.body["groups"][0]["display"], "Engineering");
    assert_eq!(
        env.matching(&format!("groups.value eq \"{parent_id}\"")).await,
        ["ann@example.com"]
    );

    // PATCH members: remove by value filter; list excluding members; delete a group.
    let a = env
        .patch(
            &format!("/Groups/{parent_id}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{ann_id}\"]")}]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["members"].as_array().unwrap().len(), 1);
    let a = env
        .send(env.req(reqwest::Method::GET, "/Groups").query(&[
            ("filter", "displayName eq \"ENGINEERING\""),
            ("excludedAttributes", "members"),
        ]))
        .await;
    assert_eq!(a.body["totalResults"], 1);
    assert!(a.body["Resources"][0].get("members").is_none());
    assert_eq!(
        env.delete(&format!("/Groups/{child_id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_scim_error(
        &env.get(&format!("/Groups/{child_id}")).await,
        StatusCode::NOT_FOUND,
        None,
    );
    // The deleted group left its parent.
    assert!(
        env.get(&format!("/Groups/{parent_id}"))
            .await
            .body
            .get("members")
            .is_none()
    );

    // PUT replaces the whole group.
    let a = env
        .put(
            &format!("/Groups/{parent_id}"),
            make("Engineering Dept", json!([{"value": ann_id}])),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["displayName"], "Engineering Dept");
    assert_eq!(a.body["members"][0]["type"], "User");

    // Root search spans both types.
    let a = env
        .post(
            "/.search",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["totalResults"], 2);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn protocol_edges_are_scim_errors() {
    let env = env().await;
    // Discovery is read-only.
    for path in ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"] {
        let a = env.post(path, json!({})).await;
        assert_scim_error(&a, StatusCode::METHOD_NOT_ALLOWED, None);
    }
    let a = env.get("/Schemas").await;
    let ids: Vec<&str> = a.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [USER, GROUP, ENTERPRISE, WORKS]);
    let works = env.get(&format!("/Schemas/{WORKS}")).await;
    assert_eq!(works.body["attributes"][0]["name"], "employeeNumber");
    assert_scim_error(&env.get("/NoSuchThing").await, StatusCode::NOT_FOUND, None);
    assert_scim_error(&env.get("/Users/no-such-id").await, StatusCode::NOT_FOUND, None);

    // Over 1 MiB: 413. Just under the console's 64 KiB is no limit here.
    let big = json!({"schemas": [USER], "userName": "big@example.com", "title": "x".repeat(1024 * 1024)});
    let a = env.post("/Users", big).await;
    assert_scim_error(&a, StatusCode::PAYLOAD_TOO_LARGE, None);
    let mid = json!({"schemas": [USER], "userName": "mid@example.com", "title": "x".repeat(100 * 1024)});
    assert_eq!(env.post("/Users", mid).await.status, StatusCode::CREATED);

    let a = env
        .send(
            env.req(reqwest::Method::POST, "/Users")
                .header("Content-Type", "application/scim+json")
                .body("{not json"),
        )
        .await;
    assert_scim_error(&a, StatusCode::BAD_REQUEST, Some("invalidSyntax"));

    // count defaults to 100 and is capped at 100; startIndex pages.
    for i in 0..105 {
        env.create_user(json!({"userName": format!("user{i:03}@example.com")}))
            .await;
    }
    let a = env.get("/Users").await;
    assert_eq!(a.body["totalResults"], 106);
    assert_eq!(a.body["itemsPerPage"], 100);
    let a = env.get("/Users?count=500&startIndex=101&sortBy=userName").await;
    assert_eq!(a.body["itemsPerPage"], 6);
    assert_eq!(a.body["Resources"][5]["userName"], "user104@example.com");
    assert_scim_error(
        &env.get("/Users?sortBy=password").await,
        StatusCode::BAD_REQUEST,
        Some("invalidValue"),
    );
    let a = env.get("/Users?count=0").await;
    assert_eq!(a.body["totalResults"], 106);
    assert_eq!(a.body["Resources"], json!([]));
    env.server.shutdown().await.unwrap();
}
