//! Token issue latency and verification throughput.
//!
//! `cargo bench --bench tokens` — prints p50/p99 issue latency (through the HTTP console API and
//! through the token service alone) and verifications per second with a warm cache and with no
//! cache (every verification reads the database).

use devconsole::client::ConsoleClient;
use devconsole::clock::{Clock, SystemClock};
use devconsole::server::{self, ServerConfig};
use devconsole::store::{NameKeys, NewApp, Store};
use devconsole::tokens::{TokenConfig, TokenService};
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ISSUES: usize = 400;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<44} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3
    );
}

async fn verify_rate(service: &TokenService, token: &str, for_how_long: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < for_how_long {
        for _ in 0..100 {
            service.verify(token).await.expect("verifies");
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn service_with(url: &str, cache_ttl: Duration) -> TokenService {
    let store = Store::open(url).await.unwrap();
    let config = TokenConfig {
        cache_ttl,
        ..TokenConfig::default()
    };
    TokenService::new(store, Arc::new(SystemClock), config)
        .await
        .unwrap()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());

    // Through the HTTP console API, as the console's Issue Token button does it.
    let running = server::start(ServerConfig::new(url.clone(), "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let client = ConsoleClient::new(&running.base_url())
        .unwrap()
        .with_session(running.mint_local_session().await.unwrap());
    let mut ids = Vec::with_capacity(ISSUES);
    for i in 0..ISSUES {
        let app = client
            .create_app(&format!("bench app {i}"), "")
            .await
            .unwrap()
            .app;
        client.enable_scim(app.id, true).await.unwrap();
        ids.push(app.id);
    }
    let mut http_samples = Vec::with_capacity(ISSUES);
    let mut last_token = None;
    for id in &ids {
        let start = Instant::now();
        let issued = client.issue_token(*id).await.unwrap();
        http_samples.push(start.elapsed());
        last_token = Some(issued.token);
    }
    report("issue via POST /console/v1/apps/{id}/token", http_samples);
    running.shutdown().await.unwrap();

    // The token service alone (transaction + EdDSA signature + digest).
    let store = Store::open(&url).await.unwrap();
    let service = service_with(&url, TokenConfig::default().cache_ttl).await;
    let mut service_samples = Vec::with_capacity(ISSUES);
    for i in 0..ISSUES {
        let name = format!("service app {i}");
        let client_id = format!("svc{i}");
        let app_id = uuid::Uuid::now_v7();
        let mut tx = store.begin().await.unwrap();
        tx.insert_app(&NewApp {
            id: app_id,
            name: NameKeys {
                name: &name,
                key: &devconsole::validate::name_key(&name),
                skeleton: &devconsole::validate::name_skeleton(&name),
            },
            description: "",
            client_id: &client_id,
            client_secret_digest: "unused",
            created_by: "bencher",
            now: SystemClock.now(),
        })
        .await
        .unwrap();
        tx.set_scim(app_id, true, SystemClock.now()).await.unwrap();
        tx.commit().await.unwrap();
        let start = Instant::now();
        let mut tx = store.begin().await.unwrap();
        service.issue_token(&mut tx, app_id).await.unwrap();
        tx.commit().await.unwrap();
        service_samples.push(start.elapsed());
    }
    report("issue via TokenService::issue_token", service_samples);

    let token = last_token.unwrap();
    let token = token.expose_secret();
    let hit = verify_rate(&service, token, Duration::from_secs(3)).await;
    println!("verify, cache hit (500 ms TTL)                 {hit:>10.0} verifications/s");
    let uncached = service_with(&url, Duration::ZERO).await;
    let miss = verify_rate(&uncached, token, Duration::from_secs(3)).await;
    println!("verify, cache miss (every call reads SQLite)   {miss:>10.0} verifications/s");
}
