//! The app list's token column: each app's newest token (by issue time, then token id), read
//! one per app however many tokens were ever reissued. Both backends
//! (`DEVCONSOLE_TEST_DATABASE_URL` selects PostgreSQL).

mod common;

use common::Backend;
use devconsole::clock::ManualClock;
use devconsole::store::TokenRecord;
use devconsole::wire::{Role, TokenState};
use std::collections::HashMap;
use time::Duration;
use uuid::Uuid;

fn start_clock() -> ManualClock {
    ManualClock::new(time::macros::datetime!(2026-11-27 09:00 UTC))
}

/// Through the real API: reissues over time, two tokens issued in the same millisecond
/// (the tie goes to the greater token id, as for a single app), an app whose newest token is
/// revoked, and apps that never had one.
#[tokio::test]
async fn the_app_list_shows_each_apps_newest_token_with_ties_and_apps_without_tokens() {
    let server = common::app().clock(start_clock()).spawn().await;
    let dev = server.signed_in("dev", Role::Developer).await;
    let clock = server.clock();

    let create = |name: &'static str| {
        let dev = &dev;
        async move {
            let id = dev.create_app(name, "list test").await.unwrap().app.id;
            dev.enable_scim(id, true).await.unwrap();
            id
        }
    };
    // Reissued three times, a minute apart: the last one is active.
    let reissued = create("reissued").await;
    let mut last = Uuid::nil();
    for _ in 0..3 {
        if !last.is_nil() {
            dev.revoke_token(reissued).await.unwrap();
        }
        last = dev.issue_token(reissued).await.unwrap().token_id;
        clock.advance(Duration::minutes(1));
    }
    // Two tokens in the same millisecond: issue, revoke, issue without the clock moving.
    let tied = create("tied").await;
    let first = dev.issue_token(tied).await.unwrap().token_id;
    dev.revoke_token(tied).await.unwrap();
    let second = dev.issue_token(tied).await.unwrap().token_id;
    let tie_winner = first.max(second);
    // The newest token revoked: the list shows it, revoked.
    let revoked = create("revoked").await;
    dev.issue_token(revoked).await.unwrap();
    clock.advance(Duration::minutes(1));
    dev.revoke_token(revoked).await.unwrap();
    dev.issue_token(revoked).await.unwrap();
    clock.advance(Duration::minutes(1));
    dev.revoke_token(revoked).await.unwrap();
    // Never issued: SCIM on, and SCIM off.
    let untouched = create("untouched").await;
    let plain = dev.create_app("plain", "list test").await.unwrap().app.id;

    let list: HashMap<Uuid, _> = dev
        .list_apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    assert_eq!(list.len(), 5);

    let token = |app: Uuid| list[&app].token.as_ref();
    assert_eq!(
        token(reissued).map(|t| (t.token_id, t.state)),
        Some((last, TokenState::Active))
    );
    assert_eq!(
        token(tied).map(|t| t.token_id),
        Some(tie_winner),
        "a tie in issue time goes to the greater token id (first {first}, second {second})"
    );
    assert_eq!(token(revoked).map(|t| t.state), Some(TokenState::Revoked));
    assert!(token(untouched).is_none());
    assert!(token(plain).is_none());

    // The list agrees with each app's own page (one app's newest token).
    for (id, app) in &list {
        let own = dev.get_app(*id).await.unwrap();
        assert_eq!(
            own.token.map(|t| (t.token_id, t.state, t.issued_at)),
            app.token.as_ref().map(|t| (t.token_id, t.state, t.issued_at)),
            "{}",
            app.name
        );
    }
}

/// With many reissues the query reads about one token per app: SQLite probes the index per
/// app (no scan of the table, no sort); PostgreSQL, run with `EXPLAIN ANALYZE`, reads at most
/// two token rows per app (the index probe and the row by id).
#[tokio::test]
async fn the_app_list_reads_one_token_per_app_however_many_were_reissued() {
    const APPS: usize = 12;
    const REISSUES: usize = 600;
    let server = common::app().clock(start_clock()).spawn().await;
    let dev = server.signed_in("dev", Role::Developer).await;
    let store = server.db.store().await;
    let base = server.now();

    let mut apps = Vec::new();
    for i in 0..APPS {
        apps.push(
            dev.create_app(&format!("app {i}"), "plan test")
                .await
                .unwrap()
                .app
                .id,
        );
    }
    // Three apps never get a token.
    let mut expected = HashMap::new();
    for (i, app) in apps.iter().enumerate().skip(3) {
        let mut tx = store.begin().await.unwrap();
        let mut newest: Option<TokenRecord> = None;
        for n in 0..REISSUES {
            // Every third token shares its issue time with the one before: ties throughout.
            let at = base + Duration::seconds((n - n % 3) as i64 + i as i64);
            let state = if n + 1 == REISSUES {
                TokenState::Active
            } else {
                TokenState::Revoked
            };
            let t = TokenRecord {
                id: Uuid::new_v4(),
                app_id: *app,
                digest: format!("digest-{i}-{n}"),
                state,
                issued_at: at,
                last_used_at: None,
                revoked_at: (state == TokenState::Revoked).then_some(at),
            };
            tx.insert_token(&t).await.unwrap();
            if newest
                .as_ref()
                .is_none_or(|b| (t.issued_at, t.id) > (b.issued_at, b.id))
            {
                newest = Some(t);
            }
        }
        tx.commit().await.unwrap();
        expected.insert(*app, newest.unwrap().id);
    }
    store.scim_analyze().await.unwrap(); // planner statistics, as after a day's use

    let latest = store.latest_tokens().await.unwrap();
    let got: HashMap<Uuid, Uuid> = latest.iter().map(|(app, t)| (*app, t.id)).collect();
    assert_eq!(got, expected, "the newest token of each app that has one");

    let plan = store.explain_latest_tokens().await.unwrap();
    let shown = plan.lines.join("\n");
    println!("{shown}");
    match server.db.backend() {
        Backend::Sqlite => {
            for line in &plan.lines {
                assert!(
                    !line.starts_with("SCAN t") && !line.starts_with("SCAN newest"),
                    "the tokens table is scanned:\n{shown}"
                );
                assert!(!line.contains("TEMP B-TREE"), "the tokens are sorted:\n{shown}");
            }
            assert!(
                shown.contains("dedicated_tokens_latest"),
                "the newest token is found through the index:\n{shown}"
            );
        }
        Backend::Postgres => {
            let read = plan.rows_read.get("dedicated_tokens").copied().unwrap_or(0);
            let tokens = (APPS - 3) * REISSUES;
            assert!(
                read <= 2 * APPS as i64,
                "{read} token rows read for {APPS} apps ({tokens} tokens):\n{shown}"
            );
        }
    }
}
