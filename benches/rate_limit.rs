//! The per-request cost of the cluster-wide rate limits (issue 9): what `ClusterLimiter::check`
//! costs when the permit comes from this instance's batch, when the batch runs out and it takes
//! the next one from the database, and when a flood over the limit is refused; beside the
//! in-process limiter it replaced.
//!
//! `cargo bench --bench rate_limit` — on SQLite (a temporary file), and also on PostgreSQL when
//! `DEVCONSOLE_BENCH_DATABASE_URL` names a server whose role may CREATE DATABASE (a fresh
//! database is made and dropped), e.g. the URL `.ci/pg-cluster start DIR` prints.

use devconsole::server::limits::{ClusterLimiter, KeyedLimiter};
use devconsole::store::Store;
use std::time::{Duration, Instant};

fn per_check(label: &str, n: u32, took: Duration) {
    println!(
        "{label:<62} {n:>7} checks  {:>9.2} µs/check",
        took.as_secs_f64() * 1e6 / f64::from(n)
    );
}

async fn run(backend: &str, store: Store) {
    println!("-- {backend}");
    // Admitted, large quota: batches of 64, one database statement per 64 checks.
    let big = ClusterLimiter::per_minute(store.clone(), "bench", 6_000_000);
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        big.check("app-big").await.expect("admitted");
    }
    per_check("admitted, quota 6,000,000/min (batch 64)", n, t.elapsed());

    // The default SCIM quota: 240 admitted in 20 takes of 12, then refusals from memory.
    let default = ClusterLimiter::per_minute(store.clone(), "bench", 240);
    let t = Instant::now();
    for _ in 0..240 {
        default.check("app-240").await.expect("admitted");
    }
    per_check("admitted, quota 240/min (batch 12)", 240, t.elapsed());
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(default.check("app-240").await.is_err());
    }
    per_check("refused flood over 240/min", n, t.elapsed());

    // Batch 1 (quota under 40/min, e.g. OAuth's 30): every admitted check is one statement.
    let small = ClusterLimiter::per_minute(store.clone(), "bench", 30);
    let t = Instant::now();
    for _ in 0..30 {
        small.check("client-30").await.expect("admitted");
    }
    per_check(
        "admitted, quota 30/min (batch 1: one statement each)",
        30,
        t.elapsed(),
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let local = KeyedLimiter::per_minute(u32::MAX);
        let n = 1_000_000;
        let t = Instant::now();
        for _ in 0..n {
            local.check("app").expect("admitted");
        }
        per_check("in-process limiter alone (before: per instance)", n, t.elapsed());

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::open(&url).await.unwrap();
        run("SQLite", store.clone()).await;
        store.close().await;

        if let Ok(admin_url) = std::env::var("DEVCONSOLE_BENCH_DATABASE_URL") {
            let name = format!("devconsole_bench_{}", std::process::id());
            let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            let store = Store::open(&format!("{base}/{name}")).await.unwrap();
            run("PostgreSQL", store.clone()).await;
            store.close().await;
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&admin)
                .await
                .unwrap();
        }
    });
}
