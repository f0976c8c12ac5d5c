//! SCIM load generator: starts a server on 127.0.0.1 with a temporary SQLite file, loads
//! 10,000 users through the API, then measures requests/s and latency percentiles for
//!
//! - `GET /scim/v2/ServiceProviderConfig` (static JSON; still token-verified, as every SCIM route),
//! - `GET /healthz` (no token; the floor of the HTTP stack),
//! - `GET /scim/v2/Users/{id}` (token verification + one indexed read),
//! - `GET /scim/v2/Users?filter=userName eq "…"` over the 10,000 users.
//!
//! Then the write path with provisioning activity recorded and not (issue 10: recording may
//! cost at most 15% of write throughput): two more servers, one with
//! `ServerConfig.activity.record = false`, each preloaded with users, then `POST /Users` and
//! `PATCH /Users/{id}` rounds interleaved between them.
//!
//! Run: `cargo bench --bench scim_load` (env: SCIM_BENCH_REQUESTS, SCIM_BENCH_CONCURRENCY,
//! SCIM_BENCH_SECONDS, SCIM_BENCH_ROUNDS, SCIM_BENCH_WRITES: writes per round, 0 to skip). Each
//! scenario stops at the request count or the time limit, whichever comes first.
//!
//! Backend and instances (the read scenarios): `SCIM_BENCH_BACKEND=postgres` runs on PostgreSQL
//! (`SCIM_BENCH_DATABASE_URL`, else a throwaway cluster; see benches/support), and
//! `SCIM_BENCH_INSTANCES=2` starts two `server::start` instances on the one database, the
//! client sending request `i` to instance `i % 2` (round robin).

mod support;

use futures::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{Backend, BenchServer, PATCH_OP, USER, env_or};

const USERS: usize = 10_000;

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

    let backend = Backend::from_env();
    let instances = env_or("SCIM_BENCH_INSTANCES", 1).max(1) as usize;
    let bench = BenchServer::start_on(backend, instances, |_| {}).await;
    println!(
        "backend: {}, {instances} instance(s), round-robin client",
        backend.name()
    );
    let base = bench.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let scim = bench.scim.clone();
    let auth = bench.bearer();

    let t = Instant::now();
    let ids = load_users(&client, &bench, "user", USERS).await;
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
            run(total, concurrency, limit, |i| {
                warm(format!("{}/ServiceProviderConfig", bench.scim_rr(i)))
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
                warm(format!(
                    "{}/Users/{}",
                    bench.scim_rr(i),
                    ids[(i * 7919) % ids.len()]
                ))
            })
            .await,
        );
        rounds[3].push(
            run(total, concurrency, limit, |i| {
                let name = format!("user{:05}@example.com", (i * 7919) % USERS);
                warm(format!("{}/Users", bench.scim_rr(i)))
                    .query(&[("filter", format!("userName eq \"{name}\""))])
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
    bench.shutdown().await;

    let writes = env_or("SCIM_BENCH_WRITES", 5_000) as usize;
    if writes > 0 {
        write_cost(&client, writes, rounds_n, concurrency, limit).await;
    }
    support::finish();
}

/// Creates `n` users named `{prefix}NNNNN@example.com`; their ids.
async fn load_users(client: &reqwest::Client, bench: &BenchServer, prefix: &str, n: usize) -> Vec<String> {
    let auth = bench.bearer();
    futures::stream::iter(0..n)
        .map(|i| {
            let req = client
                .post(format!("{}/Users", bench.scim))
                .header("Authorization", &auth)
                .json(&json!({
                    "schemas": [USER],
                    "userName": format!("{prefix}{i:05}@example.com"),
                    "name": {"givenName": format!("Given{i}"), "familyName": "Load"},
                    "emails": [{"value": format!("{prefix}{i:05}@example.com"), "type": "work", "primary": true}],
                    "externalId": format!("ext-{prefix}-{i}"),
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
        .await
}

/// Write throughput with activity recording on and off: the same writes against two servers,
/// rounds interleaved (and their order alternated) so a noisy neighbour hits both alike.
async fn write_cost(
    client: &reqwest::Client,
    writes: usize,
    rounds_n: usize,
    concurrency: usize,
    limit: Duration,
) {
    let on = BenchServer::start(|_| {}).await;
    let off = BenchServer::start(|c| c.activity.record = false).await;
    let preload = writes.min(5_000);
    let on_ids = load_users(client, &on, "pre", preload).await;
    let off_ids = load_users(client, &off, "pre", preload).await;
    // [scenario][server] -> rounds
    let mut rates = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    let mut errors = 0;
    for round in 0..rounds_n {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let (srv, ids) = if k == 0 { (&on, &on_ids) } else { (&off, &off_ids) };
            let auth = srv.bearer();
            let create = run(writes, concurrency, limit, |i| {
                client
                    .post(format!("{}/Users", srv.scim))
                    .header("Authorization", &auth)
                    .json(&json!({
                        "schemas": [USER],
                        "userName": format!("w{round}-{i:05}@example.com"),
                        "name": {"givenName": format!("Given{i}"), "familyName": "Write"},
                    }))
            })
            .await;
            // Deactivate and reactivate: the write this log exists for.
            let patch = run(writes, concurrency, limit, |i| {
                client
                    .patch(format!("{}/Users/{}", srv.scim, ids[(i * 7919) % ids.len()]))
                    .header("Authorization", &auth)
                    .json(&json!({
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "replace", "path": "active", "value": (i + round) % 2 == 1}],
                    }))
            })
            .await;
            errors += create.errors + patch.errors;
            rates[0][k].push(create.rate());
            rates[1][k].push(patch.rate());
        }
    }
    // Everything recorded is in the table: read it back through the API (which flushes first).
    let recorded = on
        .console
        .activity_page(Some(on.app), &Default::default(), 1, None)
        .await
        .unwrap();
    assert!(!recorded.events.is_empty(), "recording on records");
    let none = off
        .console
        .activity_page(None, &Default::default(), 1, None)
        .await
        .unwrap();
    assert!(none.events.is_empty(), "recording off records nothing");
    println!(
        "\nWrites with provisioning activity recorded vs not: {rounds_n} rounds x up to {writes} requests, {concurrency} in flight, {} users preloaded, load average {}, {errors} errors",
        preload,
        support::load_average().unwrap_or_default()
    );
    println!("| write | recording on req/s | recording off req/s | change | rounds on / off |");
    println!("|---|---:|---:|---:|---|");
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (name, r) in ["POST /scim/v2/Users", "PATCH /scim/v2/Users/{id} (active)"]
        .iter()
        .zip(&rates)
    {
        let (a, b) = (median(&r[0]), median(&r[1]));
        println!(
            "| {name} | {a:.0} | {b:.0} | {:+.1}% (target >= -15%) | {:?} / {:?} |",
            (a / b - 1.0) * 100.0,
            r[0].iter().map(|x| x.round()).collect::<Vec<_>>(),
            r[1].iter().map(|x| x.round()).collect::<Vec<_>>(),
        );
    }
    on.shutdown().await;
    off.shutdown().await;
}
