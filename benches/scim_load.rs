//! SCIM load generator: starts a server on 127.0.0.1 with a temporary SQLite file, loads
//! 10,000 users through the API, then measures requests/s and latency percentiles for
//!
//! - `GET /scim/v2/ServiceProviderConfig` (static JSON; still token-verified, as every SCIM route),
//! - `GET /healthz` (no token; the floor of the HTTP stack),
//! - `GET /scim/v2/Users/{id}` (token verification + one indexed read),
//! - `GET /scim/v2/Users?filter=userName eq "…"` over the 10,000 users.
//!
//! Run: `cargo bench --bench scim_load` (env: SCIM_BENCH_REQUESTS, SCIM_BENCH_CONCURRENCY,
//! SCIM_BENCH_SECONDS). Each scenario stops at the request count or the time limit, whichever
//! comes first.

use devconsole::client::ConsoleClient;
use devconsole::server::{self, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 10_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `make(i)` requests with `concurrency` in flight, until `total` or `limit` elapses.
async fn run<F>(client: &reqwest::Client, total: usize, concurrency: usize, limit: Duration, make: F) -> Outcome
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let _ = client;
    let start = Instant::now();
    let results: Vec<(Duration, bool)> = futures::stream::iter(0..total)
        .take_while(|_| futures::future::ready(start.elapsed() < limit))
        .map(|i| {
            let req = make(i);
            async move {
                let t = Instant::now();
                let ok = match req.send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let errors = results.iter().filter(|(_, ok)| !ok).count();
    let mut latencies: Vec<Duration> = results.into_iter().map(|(d, _)| d).collect();
    latencies.sort();
    Outcome {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let total = env_or("SCIM_BENCH_REQUESTS", 40_000) as usize;
    let concurrency = env_or("SCIM_BENCH_CONCURRENCY", 32) as usize;
    let limit = Duration::from_secs(env_or("SCIM_BENCH_SECONDS", 20));

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bench.db").display());
    let password = SecretString::from("benchmark password");
    let store = Store::open(&db).await.unwrap();
    store
        .create_admin(
            "bench",
            Role::Developer,
            Some(&server::hash_password(&password).unwrap()),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    store.close().await;
    let mut config = ServerConfig::new(db, "127.0.0.1:0".parse().unwrap());
    // The limiter is not what is measured here.
    config.scim_per_minute = u32::MAX;
    let server = server::start(config).await.unwrap();
    let base = server.base_url();
    let mut console = ConsoleClient::new(&base).unwrap();
    console.login("bench", password).await.unwrap();
    let app = console.create_app("Load", "benchmark").await.unwrap().app.id;
    console.enable_scim(app, true).await.unwrap();
    let token = Arc::new(console.issue_token(app).await.unwrap().token);

    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let scim = format!("{base}/scim/v2");
    let auth = format!("Bearer {}", token.expose_secret());

    let t = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..USERS)
        .map(|i| {
            let req = client
                .post(format!("{scim}/Users"))
                .header("Authorization", &auth)
                .json(&json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("user{i:05}@example.com"),
                    "name": {"givenName": format!("Given{i}"), "familyName": "Load"},
                    "emails": [{"value": format!("user{i:05}@example.com"), "type": "work", "primary": true}],
                    "externalId": format!("ext-{i}"),
                }));
            async move {
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), 201);
                r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    println!("loaded {USERS} users through POST /Users in {:.1?}", t.elapsed());

    let warm = |path: String| client.get(path).header("Authorization", &auth);
    for _ in 0..200 {
        warm(format!("{scim}/ServiceProviderConfig")).send().await.unwrap();
    }

    let scenarios: Vec<(&str, Outcome)> = vec![
        (
            "GET /scim/v2/ServiceProviderConfig (static JSON)",
            run(&client, total, concurrency, limit, |_| warm(format!("{scim}/ServiceProviderConfig"))).await,
        ),
        (
            "GET /healthz (no token)",
            run(&client, total, concurrency, limit, |_| client.get(format!("{base}/healthz"))).await,
        ),
        (
            "GET /scim/v2/Users/{id}",
            run(&client, total, concurrency, limit, |i| {
                warm(format!("{scim}/Users/{}", ids[(i * 7919) % ids.len()]))
            })
            .await,
        ),
        (
            "GET /scim/v2/Users?filter=userName eq \"…\" (10k users)",
            run(&client, total, concurrency, limit, |i| {
                let name = format!("user{:05}@example.com", (i * 7919) % USERS);
                warm(format!("{scim}/Users")).query(&[("filter", format!("userName eq \"{name}\""))])
            })
            .await,
        ),
    ];

    println!(
        "\n{} requests max per scenario, {} in flight, {:?} limit, {} CPUs",
        total,
        concurrency,
        limit,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| scenario | requests | errors | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, o) in &scenarios {
        println!(
            "| {name} | {} | {} | {:.0} | {:.2} | {:.2} |",
            o.requests,
            o.errors,
            o.rate(),
            o.percentile(0.50).as_secs_f64() * 1e3,
            o.percentile(0.99).as_secs_f64() * 1e3,
        );
    }
    let static_rate = scenarios[0].1.rate();
    let by_id = scenarios[2].1.rate();
    println!(
        "\nGET by id / static route throughput: {:.2} (target >= 0.50)",
        by_id / static_rate
    );
    server.shutdown().await.unwrap();
}
