//! The app list's cost as tokens are reissued: `GET /console/v1/apps` (what the console's app
//! list and `devconsole apps list` call) and the store's `latest_tokens` query alone, with 50
//! apps that each had 1, 10, 100 and then 1,000 tokens (all but the newest revoked, as after
//! years of lost-token reissues), on SQLite or PostgreSQL. One call at a time, p50 (p95) ms.
//! Tokens are seeded through the store (`Tx::insert_token`), then the planner statistics are
//! refreshed. At the largest count it prints the query plan.
//!
//! Run: `cargo bench --bench app_list` (env: `SCIM_BENCH_BACKEND=postgres` as in
//! benches/support, `APP_LIST_APPS=50`, `APP_LIST_REISSUES=1,10,100,1000`, `APP_LIST_REPS=60`
//! calls per measure, each measure also stopping after 10 s).

mod support;

use devconsole::store::{Store, TokenRecord};
use devconsole::wire::TokenState;
use std::time::{Duration, Instant};
use support::{Backend, BenchServer, env_or, load_average, pct};
use uuid::Uuid;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
    support::finish();
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<46} n={:<4} p50 {:>8.3} ms  (p95 {:>8.3})",
        samples.len(),
        pct(&samples, 0.5),
        pct(&samples, 0.95)
    );
}

async fn time<F, Fut>(reps: u64, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    call().await; // warm
    let start = Instant::now();
    let mut samples = Vec::new();
    while (samples.len() as u64) < reps && start.elapsed() < Duration::from_secs(10) {
        let t = Instant::now();
        call().await;
        samples.push(t.elapsed());
    }
    samples
}

/// Adds revoked tokens to each app, older than any it has, until each has `to`.
async fn top_up(store: &Store, apps: &[Uuid], from: usize, to: usize) {
    let oldest = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    for app in apps {
        let mut tx = store.begin().await.unwrap();
        for n in from..to {
            let at = oldest + time::Duration::minutes(n as i64);
            tx.insert_token(&TokenRecord {
                id: Uuid::new_v4(),
                app_id: *app,
                digest: format!("{app}-{n}"),
                state: TokenState::Revoked,
                issued_at: at,
                last_used_at: None,
                revoked_at: Some(at),
            })
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

async fn bench() {
    let backend = Backend::from_env();
    let apps_n = env_or("APP_LIST_APPS", 50) as usize;
    let reps = env_or("APP_LIST_REPS", 60);
    let counts: Vec<usize> = std::env::var("APP_LIST_REISSUES")
        .unwrap_or_else(|_| "1,10,100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "app_list on {} ({apps_n} apps), load average {}",
        backend.name(),
        load_average().unwrap_or_default()
    );

    let bench = BenchServer::start_on(backend, 1, |_| {}).await;
    let store = Store::open(&bench.db.url).await.unwrap();
    // The bench app has its one active token; the others each get one too.
    let mut apps = vec![bench.app];
    for i in 1..apps_n {
        let id = bench
            .console
            .create_app(&format!("App {i}"), "bench")
            .await
            .unwrap()
            .app
            .id;
        bench.console.enable_scim(id, true).await.unwrap();
        bench.console.issue_token(id).await.unwrap();
        apps.push(id);
    }

    let mut have = 1;
    for &count in &counts {
        if count > have {
            top_up(&store, &apps, have, count).await;
            have = count;
        }
        store.scim_analyze().await.unwrap();
        let listed = bench.console.list_apps().await.unwrap();
        assert_eq!(listed.len(), apps_n);
        assert!(
            listed
                .iter()
                .all(|a| a.token.as_ref().map(|t| t.state) == Some(TokenState::Active))
        );

        let console = &bench.console;
        let api = time(reps, || async {
            console.list_apps().await.unwrap();
        })
        .await;
        report(&format!("GET /console/v1/apps, {count} tokens/app"), api);
        let store_ = &store;
        let query = time(reps, || async {
            store_.latest_tokens().await.unwrap();
        })
        .await;
        report(&format!("Store::latest_tokens, {count} tokens/app"), query);
    }
    println!("plan at {have} tokens/app:");
    for line in store.explain_latest_tokens().await.unwrap().lines {
        println!("  {line}");
    }
    println!("load average after: {}", load_average().unwrap_or_default());
    store.close().await;
    bench.shutdown().await;
}
