//! `startIndex` pages read what they return: the page query stops after `startIndex + count`
//! rows in list order (the exact `totalResults` is a count of its own, in the same snapshot),
//! instead of materialising every match to carry a window count. Both backends
//! (`DEVCONSOLE_TEST_DATABASE_URL` selects PostgreSQL).

mod common;

use common::{Backend, USER};
use devconsole::server::scim::filter;
use devconsole::server::scim::schema::Kind;
use devconsole::store::{ScimQuery, ScimSeed, ScimTable};
use serde_json::json;

const USERS: usize = 3000;

/// SQLite: the page walks the creation-order index (no sort, no subquery over every match);
/// PostgreSQL, run with `EXPLAIN ANALYZE`: a page reads at most `offset + limit` users.
#[tokio::test]
async fn a_start_index_page_reads_no_more_users_than_it_passes() {
    let server = common::app().spawn().await;
    let store = server.db.store().await;
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let users: Vec<ScimSeed> = (0..USERS)
        .map(|i| ScimSeed {
            id: uuid::Uuid::new_v4().to_string(),
            user_name: format!("user{i:05}@example.com"),
            external_id: None,
            active: true,
            resource: json!({"schemas": [USER], "userName": format!("user{i:05}@example.com")}).to_string(),
            created_at: start + time::Duration::milliseconds(i as i64),
        })
        .collect();
    store.scim_insert_users(&users).await.unwrap();
    store.scim_analyze().await.unwrap();

    for offset in [0, 1000] {
        let q = ScimQuery {
            filter: None,
            order: None,
            offset,
            limit: 100,
        };
        let plan = store.scim_plan_page(ScimTable::Users, &q).await.unwrap();
        let shown = plan.lines.join("\n");
        println!("startIndex={}:\n{shown}", offset + 1);
        match server.db.backend() {
            Backend::Sqlite => {
                assert!(
                    plan.lines.iter().any(|l| l.contains("scim_users_by_created")),
                    "the page walks the creation-order index:\n{shown}"
                );
                for line in &plan.lines {
                    assert!(
                        !line.contains("CO-ROUTINE") && !line.contains("TEMP B-TREE"),
                        "every match is gathered before the page:\n{shown}"
                    );
                }
            }
            Backend::Postgres => {
                let read = plan.rows_read.get("scim_users").copied().unwrap_or(0);
                assert!(
                    read <= offset + 100,
                    "{read} users read for startIndex={} count=100 of {USERS}:\n{shown}",
                    offset + 1
                );
            }
        }
    }

    // The API still answers the exact total with every page, past the end and at count=0.
    let (total, rows) = store
        .scim_list(
            ScimTable::Users,
            &ScimQuery {
                filter: None,
                order: None,
                offset: 2950,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, rows.len()), (USERS as i64, 50));
    assert_eq!(rows[0].id, users[2950].id);
    let (total, rows) = store
        .scim_list(
            ScimTable::Users,
            &ScimQuery {
                filter: None,
                order: None,
                offset: 5000,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, rows.len()), (USERS as i64, 0));
}

/// Through the API: a filtered `startIndex` page carries the filter's exact total on every
/// page, an empty page past the end included.
#[tokio::test]
async fn filtered_start_index_pages_carry_the_exact_total() {
    let env = common::scim_env().await;
    for i in 0..7 {
        let dept = if i % 2 == 0 { "even" } else { "odd" };
        env.create_user(json!({"schemas": [USER], "userName": format!("p{i}@example.com"), "title": dept}))
            .await;
    }
    let filter = "title eq \"even\"";
    let page = |start: u32, count: u32| {
        let env = &env;
        async move {
            env.send(env.req(reqwest::Method::GET, "/Users").query(&[
                ("filter", filter.to_owned()),
                ("startIndex", start.to_string()),
                ("count", count.to_string()),
                ("sortBy", "userName".to_owned()),
            ]))
            .await
            .body
        }
    };
    let first = page(1, 3).await;
    assert_eq!(first["totalResults"], 4);
    assert_eq!(first["itemsPerPage"], 3);
    assert_eq!(first["Resources"][0]["userName"], "p0@example.com");
    let second = page(4, 3).await;
    assert_eq!(second["totalResults"], 4);
    assert_eq!(second["itemsPerPage"], 1);
    assert_eq!(second["Resources"][0]["userName"], "p6@example.com");
    let past = page(9, 3).await;
    assert_eq!(past["totalResults"], 4);
    assert_eq!(past["Resources"], json!([]));
    let none = page(1, 0).await;
    assert_eq!(none["totalResults"], 4);
    env.server.shutdown().await.unwrap();
}

/// `sortBy=userName` orders by the lower-cased key in code-point order (`COLLATE "C"` on
/// PostgreSQL). On a database whose collation is not C (this suite's throwaway cluster is
/// `C.UTF-8`), only an index built with that collation serves it: PostgreSQL reads the page
/// from `scim_users_by_user_name_c` (migration 0011) instead of sorting every user.
#[tokio::test]
async fn a_page_sorted_by_user_name_reads_the_c_collation_index() {
    let server = common::app().spawn().await;
    let store = server.db.store().await;
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let users: Vec<ScimSeed> = (0..USERS)
        .map(|i| {
            // Names out of creation order, mixed case.
            let name = format!(
                "{}User{:05}@example.com",
                ["b", "A", "c"][i % 3],
                (i * 7919) % USERS
            );
            ScimSeed {
                id: uuid::Uuid::new_v4().to_string(),
                user_name: name.clone(),
                external_id: None,
                active: true,
                resource: json!({"schemas": [USER], "userName": name}).to_string(),
                created_at: start + time::Duration::milliseconds(i as i64),
            }
        })
        .collect();
    store.scim_insert_users(&users).await.unwrap();
    store.scim_analyze().await.unwrap();
    let q = ScimQuery {
        filter: None,
        order: Some(filter::sort_order(Kind::User, "userName", false).unwrap()),
        offset: 0,
        limit: 100,
    };
    let plan = store.scim_plan_page(ScimTable::Users, &q).await.unwrap();
    let shown = plan.lines.join("\n");
    println!("{shown}");
    if server.db.backend() == Backend::Postgres {
        assert!(
            shown.contains("scim_users_by_user_name_c"),
            "the page is read from the C-collation index:\n{shown}"
        );
        let read = plan.rows_read.get("scim_users").copied().unwrap_or(0);
        assert!(read <= 100, "{read} users read for a 100-user page:\n{shown}");
        // A cursor page sorted by userName resumes in the same index.
        let after = devconsole::store::predicate::After {
            key: devconsole::store::predicate::KeyValue::Text("buser01500@example.com".into()),
            created_at: 0,
            id: String::new(),
        };
        let keyset = store
            .scim_explain_list(ScimTable::Users, &q, true, Some(&after))
            .await
            .unwrap()
            .join("\n");
        assert!(
            keyset.contains("scim_users_by_user_name_c"),
            "a cursor page resumes in the C-collation index:\n{keyset}"
        );
    } else {
        assert!(
            !shown.contains("TEMP B-TREE"),
            "SQLite sorts every user:\n{shown}"
        );
    }
    // And the order is code-point order of the lower-cased userName.
    let (_, rows) = store.scim_list(ScimTable::Users, &q).await.unwrap();
    let mut expected: Vec<String> = users.iter().map(|u| u.user_name.to_lowercase()).collect();
    expected.sort();
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.resource).unwrap()["userName"]
                .as_str()
                .unwrap()
                .to_lowercase()
        })
        .collect();
    assert_eq!(got, expected[..100]);
}
