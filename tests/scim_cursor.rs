//! RFC 9865 cursor pagination on /Users and /Groups, against the real server (SQLite, or
//! PostgreSQL when DEVCONSOLE_TEST_DATABASE_URL is set).

mod common;

use common::{ERROR, GROUP, ScimEnv};
use devconsole::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {page}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// GET `path` with `params` plus `cursor` (and `count`), following nextCursor to the end.
/// Checks every page's totalResults against `total` when given.
async fn walk(env: &ScimEnv, path: &str, params: &[(&str, &str)], count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for page_no in 0.. {
        assert!(page_no < 10_000, "the walk does not end");
        let mut q: Vec<(&str, String)> = params.iter().map(|(k, v)| (*k, v.to_string())).collect();
        q.push(("cursor", cursor.clone()));
        q.push(("count", count.to_string()));
        let a = env.send(env.req(reqwest::Method::GET, path).query(&q)).await;
        assert_eq!(a.status, StatusCode::OK, "{params:?} page {page_no}: {}", a.body);
        let got = ids(&a.body);
        assert!(got.len() <= count, "a page is never over count");
        assert_eq!(a.body["itemsPerPage"], got.len());
        assert!(
            a.body.get("startIndex").is_none(),
            "cursor pages carry no startIndex"
        );
        out.extend(got.clone());
        match a.body.get("nextCursor") {
            Some(Value::String(next)) => {
                assert!(!got.is_empty(), "a page with a next page is not empty");
                // RFC 9865 §2: only unreserved characters (RFC 3986 §2.3).
                assert!(
                    next.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)),
                    "{next}"
                );
                cursor = next.clone();
            }
            None => break,
            Some(other) => panic!("nextCursor is not a string: {other}"),
        }
    }
    out
}

/// The same query by startIndex, all in one page (at most 100 results).
async fn by_index(env: &ScimEnv, path: &str, params: &[(&str, &str)]) -> Vec<String> {
    let mut q: Vec<(&str, &str)> = params.to_vec();
    q.push(("count", "100"));
    let a = env.send(env.req(reqwest::Method::GET, path).query(&q)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.get("nextCursor").is_none(), "index pages carry no cursor");
    ids(&a.body)
}

fn assert_refused(a: &common::Answer, scim_type: &str, words: &str) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([ERROR]), "{}", a.body);
    assert_eq!(a.body["status"], "400", "{}", a.body);
    assert_eq!(a.body["scimType"], scim_type, "{}", a.body);
    let detail = a.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(words), "{detail:?} should say {words:?}");
}

async fn seed(env: &ScimEnv, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        // Some users have no externalId and no familyName (missing keys sort last), and
        // userNames mix case so a case-insensitive order differs from a byte order.
        let mut body = json!({
            "userName": if i % 3 == 0 { format!("User{i:02}@example.com") } else { format!("user{i:02}@example.com") },
            "emails": [{"value": format!("u{i}@example.com"), "primary": true}],
            "active": i % 2 == 0,
        });
        if i % 4 != 0 {
            body["externalId"] = json!(format!("ext-{:02}", (i * 7) % n));
        }
        if i % 5 != 0 {
            body["name"] = json!({"familyName": format!("Family{}", i % 6)});
        }
        ids.push(env.create_user(body).await["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn cursor_pages_walk_every_user_once_in_the_same_order_as_start_index() {
    // A clock that stands still: every user has the same created_at, so only the id breaks ties.
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let env = common::scim_env_with(
        common::app()
            .clock(clock)
            .configure(|c| c.scim_per_minute = 1_000_000),
    )
    .await;
    let all = seed(&env, 37).await;
    let every: HashSet<String> = all.iter().cloned().collect();

    let queries: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("filter", "userName sw \"user1\"")],
        vec![("filter", "active eq true or emails co \"3@\"")],
        vec![("sortBy", "userName")],
        vec![("sortBy", "userName"), ("sortOrder", "descending")],
        vec![("sortBy", "externalId")],
        vec![("sortBy", "externalId"), ("sortOrder", "descending")],
        vec![("sortBy", "name.familyName"), ("filter", "userName co \"2\"")],
        vec![("sortBy", "name.familyName"), ("sortOrder", "descending")],
        vec![("sortBy", "emails")],
        vec![("sortBy", "active"), ("sortOrder", "descending")],
        vec![("sortBy", "meta.created")],
        vec![("sortBy", "meta.lastModified"), ("sortOrder", "descending")],
    ];
    for q in &queries {
        let expected = by_index(&env, "/Users", q).await;
        for count in [1, 4, 10, 100] {
            let walked = walk(&env, "/Users", q, count).await;
            assert_eq!(walked, expected, "{q:?} count={count}");
        }
        if q.is_empty() {
            let got: HashSet<String> = expected.iter().cloned().collect();
            assert_eq!(got, every);
            assert_eq!(expected.len(), every.len());
        }
    }

    // A page says the total of the whole query, and the last page has no nextCursor.
    let a = env
        .send(env.req(reqwest::Method::GET, "/Users").query(&[
            ("filter", "userName sw \"user1\""),
            ("cursor", ""),
            ("count", "3"),
        ]))
        .await;
    let matching = by_index(&env, "/Users", &[("filter", "userName sw \"user1\"")])
        .await
        .len();
    assert_eq!(a.body["totalResults"], matching);
    assert!(a.body["nextCursor"].is_string());

    // An empty result: no nextCursor, totalResults 0.
    let a = env
        .send(
            env.req(reqwest::Method::GET, "/Users")
                .query(&[("filter", "userName eq \"nobody\""), ("cursor", "")]),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["totalResults"], 0);
    assert!(a.body.get("nextCursor").is_none(), "{}", a.body);

    // `cursor` with no value at all (`?cursor&count=5`) is the first page too.
    let a = env.get("/Users?cursor&count=5").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(ids(&a.body), walk(&env, "/Users", &[], 100).await[..5]);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn groups_and_search_requests_page_by_cursor() {
    let env = common::scim_env().await;
    let users = seed(&env, 5).await;
    let mut groups = Vec::new();
    for i in 0..12 {
        let a = env
            .post(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": format!("Team {i:02}"),
                       "members": [{"value": users[i % 5]}]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        groups.push(a.body["id"].as_str().unwrap().to_owned());
    }
    let walked = walk(
        &env,
        "/Groups",
        &[("sortBy", "displayName"), ("sortOrder", "descending")],
        5,
    )
    .await;
    let mut expected = groups.clone();
    expected.reverse();
    assert_eq!(walked, expected);

    // POST /Users/.search with "cursor" in the body (RFC 9865 §3).
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let a = env
            .post(
                "/Users/.search",
                json!({"schemas": [SEARCH], "filter": "emails co \"example.com\"",
                       "sortBy": "userName", "cursor": cursor, "count": 2}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["totalResults"], 5);
        seen.extend(ids(&a.body));
        match a.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, by_index(&env, "/Users", &[("sortBy", "userName")]).await);

    // A Groups cursor is no good for Users.
    let a = env.get("/Groups?cursor=&count=2").await;
    let group_cursor = a.body["nextCursor"].as_str().unwrap().to_owned();
    let a = env
        .send(
            env.req(reqwest::Method::GET, "/Users")
                .query(&[("cursor", group_cursor.as_str())]),
        )
        .await;
    assert_refused(&a, "invalidCursor", "different query");
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_cursors_and_counts_are_typed_errors() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let env = common::scim_env_with(common::app().clock(clock.clone())).await;
    seed(&env, 6).await;
    let get = |params: Vec<(&'static str, String)>| {
        let req = env.req(reqwest::Method::GET, "/Users").query(&params);
        env.send(req)
    };
    let first = get(vec![("cursor", String::new()), ("count", "2".into())]).await;
    let next = first.body["nextCursor"].as_str().unwrap().to_owned();

    for junk in ["abc", "abc.def", ".", "e30.AAAAAAAAAAAAAAAAAAAAAA", "%00", "☃"] {
        let a = get(vec![("cursor", junk.into())]).await;
        assert_refused(&a, "invalidCursor", "cursor");
    }
    // Altered: each character of the payload changed in turn (a sample), or the tag dropped.
    let (payload, tag) = next.split_once('.').unwrap();
    for i in (0..payload.len()).step_by(7) {
        let mut bytes = payload.as_bytes().to_vec();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let altered = format!("{}.{tag}", String::from_utf8(bytes).unwrap());
        let a = get(vec![("cursor", altered)]).await;
        assert_refused(&a, "invalidCursor", "altered");
    }
    let a = get(vec![("cursor", payload.to_owned())]).await;
    assert_refused(&a, "invalidCursor", "cursor");
    let a = get(vec![("cursor", format!("{next}{}", "A".repeat(17_000)))]).await;
    assert_refused(&a, "invalidCursor", "longer");

    // The same cursor with another filter or sort order belongs to another query.
    for other in [
        vec![("filter", "userName pr".to_owned())],
        vec![("sortBy", "userName".to_owned())],
        vec![("sortOrder", "descending".to_owned())],
    ] {
        let mut params = other.clone();
        params.push(("cursor", next.clone()));
        let a = get(params).await;
        assert_refused(&a, "invalidCursor", "different query");
    }
    // attributes and count may change between pages.
    let a = get(vec![
        ("cursor", next.clone()),
        ("count", "3".into()),
        ("attributes", "userName".into()),
    ])
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(ids(&a.body).len(), 3);

    // count: a positive integer; over the maximum is served as the maximum.
    for bad in ["0", "-1", "ten", "1.5", ""] {
        let a = get(vec![("cursor", String::new()), ("count", bad.into())]).await;
        assert_refused(&a, "invalidCount", "count");
    }
    let a = get(vec![("cursor", String::new()), ("count", "100000".into())]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(ids(&a.body).len(), 6);
    // startIndex and cursor together ask for two methods.
    let a = get(vec![("cursor", String::new()), ("startIndex", "1".into())]).await;
    assert_refused(&a, "invalidValue", "not both");
    // Search bodies: a cursor that is not a string, and cursors on the root /.search.
    let a = env
        .post("/Users/.search", json!({"schemas": [SEARCH], "cursor": 5}))
        .await;
    assert_refused(&a, "invalidCursor", "string");
    let a = env
        .post(
            "/Users/.search",
            json!({"schemas": [SEARCH], "cursor": "", "count": 0}),
        )
        .await;
    assert_refused(&a, "invalidCount", "count");
    let a = env
        .post("/.search", json!({"schemas": [SEARCH], "cursor": ""}))
        .await;
    assert_refused(&a, "invalidCursor", "startIndex");

    // Within cursorTimeout the cursor is good; after it, expired.
    clock.advance(time::Duration::seconds(3599));
    let a = get(vec![("cursor", next.clone()), ("count", "2".into())]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    clock.advance(time::Duration::seconds(2));
    let a = get(vec![("cursor", next.clone()), ("count", "2".into())]).await;
    assert_refused(&a, "expiredCursor", "expired");

    // Nothing above changed the directory, and startIndex paging is as before.
    let a = env.get("/Users?startIndex=5&count=1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["startIndex"], 5);
    assert_eq!(a.body["totalResults"], 6);
    assert_eq!(a.body["itemsPerPage"], 1);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn service_provider_config_advertises_both_pagination_methods() {
    let env = common::scim_env().await;
    let a = env.get("/ServiceProviderConfig").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body["pagination"],
        json!({
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": 100,
            "maxPageSize": 100,
            "cursorTimeout": 3600,
        })
    );
    env.server.shutdown().await.unwrap();
}

async fn create_group(env: &ScimEnv, name: &str, external: Option<&str>) -> String {
    let mut body = json!({"schemas": [GROUP], "displayName": name});
    if let Some(e) = external {
        body["externalId"] = json!(e);
    }
    let a = env.post("/Groups", body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body["id"].as_str().unwrap().to_owned()
}

/// Writers insert and delete groups (and deactivate users, which SCIM DELETE of a user does
/// here) while a client walks by cursor. Every resource that existed for the whole walk is
/// returned exactly once, nothing is returned twice, and nothing deleted before the walk began
/// is returned.
#[tokio::test]
async fn a_walk_under_concurrent_inserts_and_deletes_returns_each_survivor_exactly_once() {
    let env = common::scim_env_with(common::app().configure(|c| c.scim_per_minute = 1_000_000)).await;
    let mut before = Vec::new();
    for i in 0..60 {
        let external = (i % 3 != 0).then(|| format!("ext-{:02}", (i * 7) % 60));
        before.push(create_group(&env, &format!("Team {i:02}"), external.as_deref()).await);
    }
    let users = seed(&env, 30).await;
    // Deleted before the walk: never seen.
    for id in &before[..5] {
        assert_eq!(
            env.delete(&format!("/Groups/{id}")).await.status,
            StatusCode::NO_CONTENT
        );
    }
    let doomed: Vec<String> = before[5..].iter().step_by(4).cloned().collect();
    let survivors: HashSet<String> = before[5..]
        .iter()
        .filter(|id| !doomed.contains(id))
        .cloned()
        .collect();

    let writer = {
        let http = env.http.clone();
        let scim = env.scim.clone();
        let token = secrecy::ExposeSecret::expose_secret(&env.token).to_owned();
        let doomed = doomed.clone();
        let users = users.clone();
        tokio::spawn(async move {
            let mut added = Vec::new();
            for (i, id) in doomed.iter().enumerate() {
                let r = http
                    .post(format!("{scim}/Groups"))
                    .bearer_auth(&token)
                    .json(&json!({"schemas": [GROUP], "displayName": format!("Late {i:02}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                added.push(
                    r.json::<Value>().await.unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
                for path in [
                    format!("{scim}/Groups/{id}"),
                    format!("{scim}/Users/{}", users[i % users.len()]),
                ] {
                    let r = http.delete(path).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::NO_CONTENT);
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            added
        })
    };
    let mut walks = Vec::new();
    let mut user_walks = Vec::new();
    // Several walks overlap the writer; page by page they interleave with its writes.
    for sort in [
        vec![],
        vec![("sortBy", "displayName")],
        vec![("sortBy", "externalId"), ("sortOrder", "descending")],
    ] {
        walks.push(walk(&env, "/Groups", &sort, 3).await);
        user_walks.push(walk(&env, "/Users", &[], 4).await);
        user_walks.push(walk(&env, "/Users", &[("sortBy", "userName")], 4).await);
    }
    let added = writer.await.unwrap();
    walks.push(walk(&env, "/Groups", &[], 7).await);
    for (n, walked) in walks.iter().enumerate() {
        let mut counts: HashMap<&String, usize> = HashMap::new();
        for id in walked {
            *counts.entry(id).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(twice.is_empty(), "walk {n}: returned twice: {twice:?}");
        for id in &survivors {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "walk {n}: survivor {id} not returned once"
            );
        }
        for id in walked {
            assert!(
                survivors.contains(id) || doomed.contains(id) || added.contains(id),
                "walk {n}: {id} was deleted before the walk"
            );
        }
    }
    // Deactivated users stay in the directory: each walk returns every user once.
    for walked in &user_walks {
        assert_eq!(walked.len(), users.len());
        assert_eq!(
            walked.iter().collect::<HashSet<_>>(),
            users.iter().collect::<HashSet<_>>()
        );
    }
    // The walk after the writer finished sees exactly the directory as it is.
    let now: HashSet<&String> = walks[3].iter().collect();
    let expected: HashSet<&String> = survivors.iter().chain(added.iter()).collect();
    assert_eq!(now, expected);
    env.server.shutdown().await.unwrap();
}

/// Two instances on one database: a cursor issued by one is good on the other (the signing
/// key lives in the database, not in a process).
#[tokio::test]
async fn a_cursor_from_one_instance_works_on_another() {
    let env = common::scim_env().await;
    let all = seed(&env, 9).await;
    let other = devconsole::server::start(env.server.config.clone())
        .await
        .unwrap();
    let other_scim = format!("{}/scim/v2", other.base_url());
    let token = secrecy::ExposeSecret::expose_secret(&env.token).to_owned();
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for i in 0.. {
        // Alternate instances page by page.
        let base = if i % 2 == 0 {
            env.scim.clone()
        } else {
            other_scim.clone()
        };
        let r = env
            .http
            .get(format!("{base}/Users"))
            .bearer_auth(&token)
            .query(&[("cursor", cursor.as_str()), ("count", "2")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        seen.extend(ids(&body));
        match body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    // Default order is creation time, then id: compare as sets (two users made in one
    // millisecond are ordered by id), and nothing twice.
    assert_eq!(seen.len(), all.len());
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        all.iter().collect::<HashSet<_>>()
    );
    other.shutdown().await.unwrap();
    env.server.shutdown().await.unwrap();
}
