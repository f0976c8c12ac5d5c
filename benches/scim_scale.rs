//! How SCIM read cost grows with the directory: at 1,000, 10,000 and 100,000 users, on SQLite
//! and PostgreSQL, the latency of
//!
//! - `GET /Users/{id}`,
//! - `GET /Users?filter=userName eq "…"`,
//! - `GET /Users?filter=emails co "…"` (a substring: no index can serve it; a scan),
//! - a 100-row `startIndex` page at the start and at the middle,
//! - a 100-row cursor page (RFC 9865) at the start and at the middle,
//!
//! one request at a time (the latency of one call, not throughput), through the real server.
//! Users are seeded in bulk through the store (`Store::scim_insert_users`), not through HTTP,
//! then the database's statistics are refreshed (`Store::scim_analyze`). At the largest size it
//! prints the query plans (EXPLAIN) of the eq, by-id and page queries.
//!
//! Run: `cargo bench --bench scim_scale` (env: `SCIM_SCALE_BACKENDS=sqlite,postgres`,
//! `SCIM_SCALE_SIZES=1000,10000,100000`, `SCIM_SCALE_REPS=100` requests per measure (each
//! measure also stops after 10 s); PostgreSQL as in benches/support: `SCIM_BENCH_DATABASE_URL`
//! or a throwaway cluster).

mod support;

use devconsole::server::scim::filter;
use devconsole::server::scim::schema::Kind;
use devconsole::store::{ScimQuery, ScimSeed, ScimTable, Store};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Backend, BenchServer, env_or, load_average, pct};

struct Measure {
    name: &'static str,
    sorted: Vec<Duration>,
}

impl Measure {
    fn p50(&self) -> f64 {
        pct(&self.sorted, 0.5)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
    support::finish();
}

fn user_name(i: usize) -> String {
    format!("user{i:06}@example.com")
}

async fn seed(store: &Store, n: usize) -> Vec<String> {
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut ids = Vec::with_capacity(n);
    let batch = 5_000;
    for from in (0..n).step_by(batch) {
        let users: Vec<ScimSeed> = (from..(from + batch).min(n))
            .map(|i| {
                let id = uuid::Uuid::new_v4().to_string();
                ids.push(id.clone());
                let resource = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name(i),
                    "externalId": format!("ext-{i}"),
                    "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{}", i % 997)},
                    "displayName": format!("Given{i} Family{}", i % 997),
                    "emails": [{"value": user_name(i), "type": "work", "primary": true}],
                    "active": true,
                });
                ScimSeed {
                    id,
                    user_name: user_name(i),
                    external_id: Some(format!("ext-{i}")),
                    active: true,
                    resource: resource.to_string(),
                    // One millisecond apart, as an import through the API would be.
                    created_at: start + time::Duration::milliseconds(i as i64),
                }
            })
            .collect();
        store.scim_insert_users(&users).await.unwrap();
    }
    store.scim_analyze().await.unwrap();
    ids
}

/// Sends `make(i)` one at a time, up to `reps` times or 10 s; every answer must be 200.
async fn measure(
    name: &'static str,
    reps: usize,
    make: impl Fn(usize) -> reqwest::RequestBuilder,
) -> Measure {
    // One call first, not counted: the connection and the page cache are warm.
    make(usize::MAX / 2).send().await.unwrap().bytes().await.unwrap();
    let begin = Instant::now();
    let mut sorted = Vec::with_capacity(reps);
    for i in 0..reps {
        if begin.elapsed() > Duration::from_secs(10) {
            break;
        }
        let t = Instant::now();
        let r = make(i).send().await.unwrap();
        let status = r.status();
        let body = r.bytes().await.unwrap();
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        sorted.push(t.elapsed());
    }
    sorted.sort();
    Measure { name, sorted }
}

async fn bench() {
    let backends: Vec<Backend> = std::env::var("SCIM_SCALE_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .split(',')
        .map(|b| match b.trim() {
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            _ => Backend::Sqlite,
        })
        .collect();
    let sizes: Vec<usize> = std::env::var("SCIM_SCALE_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let reps = env_or("SCIM_SCALE_REPS", 100) as usize;
    let client = reqwest::Client::new();
    let mut table = Vec::new();
    for &backend in &backends {
        for &n in &sizes {
            let bench = BenchServer::start_on(backend, 1, |_| {}).await;
            let store = Store::open(&bench.db.url).await.unwrap();
            let t = Instant::now();
            let ids = seed(&store, n).await;
            println!("{} {n}: seeded in {:.1?}", backend.name(), t.elapsed());
            let auth = bench.bearer();
            let scim = bench.scim.clone();
            let get = |path: String| client.get(format!("{scim}{path}")).header("Authorization", &auth);
            let pick = |i: usize| (i.wrapping_mul(7919)) % n;

            // The cursor at the middle: walk there page by page.
            let t = Instant::now();
            let mut cursor = String::new();
            for _ in 0..(n / 2 / 100) {
                let page: Value = get("/Users".into())
                    .query(&[("cursor", cursor.as_str()), ("count", "100")])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                cursor = page["nextCursor"].as_str().unwrap().to_owned();
            }
            let walk = t.elapsed();
            let middle = (n / 2 + 1).to_string();

            let measures = vec![
                measure("GET /Users/{id}", reps, |i| {
                    get(format!("/Users/{}", ids[pick(i)]))
                })
                .await,
                measure("filter=userName eq", reps, |i| {
                    get("/Users".into())
                        .query(&[("filter", format!("userName eq \"{}\"", user_name(pick(i))))])
                })
                .await,
                measure("filter=emails co", reps, |i| {
                    get("/Users".into()).query(&[("filter", format!("emails co \"r{:06}@\"", pick(i)))])
                })
                .await,
                measure("startIndex=1, 100 rows", reps, |_| {
                    get("/Users".into()).query(&[("startIndex", "1"), ("count", "100")])
                })
                .await,
                measure("startIndex=middle, 100 rows", reps, |_| {
                    get("/Users".into()).query(&[("startIndex", middle.as_str()), ("count", "100")])
                })
                .await,
                measure("cursor first page, 100 rows", reps, |_| {
                    get("/Users".into()).query(&[("cursor", ""), ("count", "100")])
                })
                .await,
                measure("cursor page at the middle, 100 rows", reps, |_| {
                    get("/Users".into()).query(&[("cursor", cursor.as_str()), ("count", "100")])
                })
                .await,
            ];
            println!(
                "  walked to the middle by cursor ({} pages) in {walk:.1?}; load average {}",
                n / 2 / 100,
                load_average().unwrap_or_default()
            );
            for m in &measures {
                println!(
                    "  {:<38} p50 {:>8.2} ms  p95 {:>8.2} ms  ({} requests)",
                    m.name,
                    m.p50(),
                    pct(&m.sorted, 0.95),
                    m.sorted.len()
                );
            }
            let ratio = measures[6].p50() / measures[5].p50();
            println!("  cursor middle / cursor first page: {ratio:.2} (target <= 2)");

            if Some(&n) == sizes.iter().max() {
                explain(&store, &ids[n / 2], &user_name(n / 2)).await;
            }
            table.push((backend, n, measures));
            store.close().await;
            bench.shutdown().await;
        }
    }

    println!(
        "\nLatency, p50 ms (p95), one request at a time; load average {}",
        load_average().unwrap_or_default()
    );
    let names: Vec<&str> = table
        .first()
        .map_or(Vec::new(), |(_, _, m)| m.iter().map(|m| m.name).collect());
    print!("| measure |");
    for (backend, n, _) in &table {
        print!(" {} {n} |", backend.name());
    }
    println!();
    print!("|---|");
    for _ in &table {
        print!("---:|");
    }
    println!();
    for (k, name) in names.iter().enumerate() {
        print!("| {name} |");
        for (_, _, m) in &table {
            print!(" {:.2} ({:.2}) |", m[k].p50(), pct(&m[k].sorted, 0.95));
        }
        println!();
    }
}

/// The plans of the by-id, eq and page queries the server runs.
async fn explain(store: &Store, id: &str, name: &str) {
    let kind = Kind::User;
    let q = |f: Option<&str>, offset: i64| ScimQuery {
        filter: f.map(|f| filter::translate(kind, &f.parse::<scim_v2::filter::Filter>().unwrap()).unwrap()),
        order: None,
        offset,
        limit: 100,
    };
    let show = |title: &str, lines: Vec<String>| {
        println!("  EXPLAIN {title}:");
        for l in lines {
            println!("    {l}");
        }
    };
    show(
        "GET /Users/{id}",
        store.scim_explain_get(ScimTable::Users, id).await.unwrap(),
    );
    let eq = format!("userName eq \"{name}\"");
    show(
        "filter=userName eq",
        store
            .scim_explain_list(ScimTable::Users, &q(Some(&eq), 0), false, None)
            .await
            .unwrap(),
    );
    let co = "emails co \"r050000@\"";
    show(
        "filter=emails co",
        store
            .scim_explain_list(ScimTable::Users, &q(Some(co), 0), false, None)
            .await
            .unwrap(),
    );
    let after = devconsole::store::predicate::After {
        key: devconsole::store::predicate::KeyValue::Null,
        created_at: 0,
        id: id.to_owned(),
    };
    show(
        "cursor page (keyset)",
        store
            .scim_explain_list(ScimTable::Users, &q(None, 0), true, Some(&after))
            .await
            .unwrap(),
    );
    show(
        "startIndex page at the middle (OFFSET)",
        store
            .scim_explain_list(ScimTable::Users, &q(None, 50_000), false, None)
            .await
            .unwrap(),
    );
}
