//! SCIM load generator: starts a server on 127.0.0.1 with a temporary SQLite file, loads
//! 10,000 users through the API, then measures requests/s and latency percentiles for
//!
//! - `GET /scim/v2/ServiceProviderConfig` (static JSON; still token-verified, as every SCIM route),
//! - `GET /healthz` (no token; the floor of the HTTP stack),
//! - `GET /scim/v2/Users/{id}` (token verification + one indexed read),
//! - `GET /scim/v2/Users?filter=userName eq "…"` over the 10,000 users.
//!
//! Run: `cargo bench --bench scim_load` (env: SCIM_BENCH_REQUESTS, SCIM_BENCH_CONCURRENCY,
//! SCIM_BENCH_SECONDS, SCIM_BENCH_ROUNDS). Each scenario stops at the request count or the
//! time limit, whichever comes first.

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
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `make(i)` requests with `concurrency` in flight, until `total` or `limit` elapses.
async fn run<F>(total: usize, concurrency: usize, limit: Duration, make: F) -> Outcome
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let total = env_or("SCIM_BENCH_REQUESTS", 20_000) as usize;
    let rounds_n = env_or("SCIM_BENCH_ROUNDS", 3) as usize;
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

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
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
                r.json::<serde_json::Value>().await.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    println!("loaded {USERS} users through POST /Users in {:.1?}", t.elapsed());

    let warm = |path: String| client.get(path).header("Authorization", &auth);
    for _ in 0..200 {
        warm(format!("{scim}/ServiceProviderConfig"))
            .send()
            .await
            .unwrap();
    }

    let names = [
        "GET /scim/v2/ServiceProviderConfig (static JSON)",
        "GET /healthz (no token)",
        "GET /scim/v2/Users/{id}",
        "GET /scim/v2/Users?filter=userName eq \"…\" (10k users)",
    ];
    // Scenarios are interleaved over several rounds so a noisy neighbour hits them all alike;
    // the table shows the median rate and percentiles over every request of every round.
    let mut rounds: Vec<Vec<Outcome>> = names.iter().map(|_| Vec::new()).collect();
    if std::env::var("SCIM_BENCH_PROFILE_BY_ID").is_ok() {
        // For `perf record`: only the GET-by-id load, then exit.
        let o = run(total, concurrency, limit, |i| {
            warm(format!("{scim}/Users/{}", ids[(i * 7919) % ids.len()]))
        })
        .await;
        println!("GET by id: {:.0} req/s", o.rate());
        return;
    }
    for _ in 0..rounds_n {
        rounds[0].push(
            run(total, concurrency, limit, |_| {
                warm(format!("{scim}/ServiceProviderConfig"))
            })
            .await,
        );
        rounds[1].push(
            run(total, concurrency, limit, |_| {
                client.get(format!("{base}/healthz"))
            })
            .await,
        );
        rounds[2].push(
            run(total, concurrency, limit, |i| {
                warm(format!("{scim}/Users/{}", ids[(i * 7919) % ids.len()]))
            })
            .await,
        );
        rounds[3].push(
            run(total, concurrency, limit, |i| {
                let name = format!("user{:05}@example.com", (i * 7919) % USERS);
                warm(format!("{scim}/Users")).query(&[("filter", format!("userName eq \"{name}\""))])
            })
            .await,
        );
    }

    println!(
        "\n{rounds_n} rounds x up to {total} requests per scenario, {concurrency} in flight, {limit:?} limit, {} CPUs",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| scenario | requests | errors | req/s (median of rounds) | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut medians = Vec::new();
    for (name, outcomes) in names.iter().zip(&rounds) {
        let mut rates: Vec<f64> = outcomes.iter().map(Outcome::rate).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        medians.push(median);
        let mut all: Vec<Duration> = outcomes
            .iter()
            .flat_map(|o| o.latencies.iter().copied())
            .collect();
        all.sort();
        let pct = |p: f64| all[((all.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        println!(
            "| {name} | {} | {} | {median:.0} | {:.2} | {:.2} |",
            all.len(),
            outcomes.iter().map(|o| o.errors).sum::<usize>(),
            pct(0.50),
            pct(0.99),
        );
    }
    println!(
        "\nGET by id / static route throughput: {:.2} (target >= 0.50); rounds: {:?}",
        medians[2] / medians[0],
        rounds[2]
            .iter()
            .zip(&rounds[0])
            .map(|(a, b)| format!("{:.2}", a.rate() / b.rate()))
            .collect::<Vec<_>>()
    );
    server.shutdown().await.unwrap();
}
