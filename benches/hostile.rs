//! Hostile load (issue 7): a real server on 127.0.0.1 with a temporary SQLite file.
//!
//! 1. Time to refuse each capped request (target: each ≤ 50 ms).
//! 2. `/healthz` and console `GET /console/v1/me` p50/p99 while 4 clients send worst-case PATCHes
//!    and filters (target: p99 ≤ 100 ms).
//! 3. Database growth from 2,000 hostile login attempts (60 KB usernames; target ≤ 1 MB).
//!
//! Run: `cargo bench --bench hostile` (env: HOSTILE_SECONDS, default 10).

mod support;

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{BenchServer, GROUP, PATCH_OP, USER, pct};

/// A capped request: name, method, path, JSON body, filter.
type Capped = (
    &'static str,
    reqwest::Method,
    String,
    Option<Value>,
    Option<String>,
);

#[tokio::main]
async fn main() {
    let seconds = support::env_or("HOSTILE_SECONDS", 10);
    let bench = BenchServer::start(|c| c.scim_per_minute = 10_000_000).await;
    let base = bench.base.clone();
    let console = &bench.console;
    let token = secrecy::ExposeSecret::expose_secret(&bench.token).to_owned();
    let http = reqwest::Client::new();
    let scim = bench.scim.clone();
    let req = |m: reqwest::Method, p: &str| http.request(m, format!("{scim}{p}")).bearer_auth(&token);

    // A directory to filter over: 2,000 users.
    let mut ids = Vec::new();
    for i in 0..2000 {
        let r = req(reqwest::Method::POST, "/Users")
            .json(
                &json!({"schemas": [USER], "userName": format!("user{i}@example.com"),
                          "emails": [{"value": format!("user{i}@example.com"), "type": "work"}]}),
            )
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    let target = format!("/Users/{}", ids[0]);
    let group: Value = req(reqwest::Method::POST, "/Groups")
        .json(&json!({"schemas": [GROUP], "displayName": "G"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gpath = format!("/Groups/{}", group["id"].as_str().unwrap());

    let emails: Vec<Value> = (0..20_000)
        .map(|i| json!({"value": format!("e{i}@example.com")}))
        .collect();
    let patch = |ops: Value| json!({"schemas": [PATCH_OP], "Operations": ops});
    let long_terms = (0..1000)
        .map(|i| format!("title eq \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let heavy = (0..25)
        .map(|i| format!("emails[value co \"nobody{i}\" or type eq \"fax{i}\"]"))
        .collect::<Vec<_>>()
        .join(" or ");
    let capped: Vec<Capped> = vec![
        (
            "PATCH adding 20,000 emails",
            reqwest::Method::PATCH,
            target.clone(),
            Some(patch(json!([{"op": "add", "path": "emails", "value": emails}]))),
            None,
        ),
        (
            "PATCH with 101 operations",
            reqwest::Method::PATCH,
            target.clone(),
            Some(patch(Value::Array(
                (0..101)
                    .map(|i| json!({"op": "replace", "path": "title", "value": i.to_string()}))
                    .collect(),
            ))),
            None,
        ),
        (
            "POST group with 50,000 unknown members",
            reqwest::Method::POST,
            "/Groups".into(),
            Some(json!({"schemas": [GROUP], "displayName": "Huge",
                        "members": (0..50_000).map(|i| json!({"value": i.to_string()})).collect::<Vec<_>>()})),
            None,
        ),
        (
            "PATCH naming 1,001 members",
            reqwest::Method::PATCH,
            gpath.clone(),
            Some(patch(json!([{"op": "add", "path": "members",
                "value": (0..1001).map(|i| json!({"value": i.to_string()})).collect::<Vec<_>>()}]))),
            None,
        ),
        (
            "PATCH growing a user past 256 KiB",
            reqwest::Method::PATCH,
            target.clone(),
            Some(patch(json!([{"op": "add", "path": "addresses",
                "value": (0..3).map(|i| json!({"formatted": format!("{i}{}", "x".repeat(100_000))})).collect::<Vec<_>>()}]))),
            None,
        ),
        (
            "filter with 1,000 terms",
            reqwest::Method::GET,
            "/Users".into(),
            None,
            Some(long_terms),
        ),
        (
            "filter with a 60,000-character co value",
            reqwest::Method::GET,
            "/Users".into(),
            None,
            Some(format!("userName co \"{}\"", "a".repeat(60_000))),
        ),
    ];

    println!("## Time to refuse each capped request (10 tries each)\n");
    println!("| request | status | median ms | max ms |\n|---|---:|---:|---:|");
    for (name, method, path, body, filter) in &capped {
        let mut times = Vec::new();
        let mut status = 0;
        for _ in 0..10 {
            let mut r = req(method.clone(), path);
            if let Some(b) = body {
                r = r.json(b);
            }
            if let Some(f) = filter {
                r = r.query(&[("filter", f)]);
            }
            let t = Instant::now();
            let resp = r.send().await.unwrap();
            status = resp.status().as_u16();
            let _ = resp.bytes().await;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "| {name} | {status} | {:.1} | {:.1} |",
            pct(&times, 0.5),
            pct(&times, 1.0)
        );
    }

    // 4 hostile clients: worst-case PATCHes and filters, back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let stop = stop.clone();
        let http = http.clone();
        let token = token.clone();
        let url = if c % 2 == 0 {
            format!("{scim}{target}")
        } else {
            format!("{scim}/Users")
        };
        let body = patch(json!([{"op": "add", "path": "emails",
            "value": (0..20_000).map(|i| json!({"value": format!("c{c}e{i}@example.com")})).collect::<Vec<_>>()}]));
        let heavy = heavy.clone();
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let r = if c % 2 == 0 {
                    http.patch(&url).bearer_auth(&token).json(&body)
                } else {
                    http.get(&url)
                        .bearer_auth(&token)
                        .query(&[("filter", heavy.as_str())])
                };
                if let Ok(resp) = r.send().await {
                    let _ = resp.bytes().await;
                }
                n += 1;
            }
            n
        }));
    }
    let session = console;
    let mut health = Vec::new();
    let mut me = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        let t = Instant::now();
        let ok = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        health.push(t.elapsed());
        assert!(ok);
        let t = Instant::now();
        session.me().await.unwrap();
        me.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for c in clients {
        sent += c.await.unwrap();
    }
    health.sort();
    me.sort();
    println!("\n## Under 4 hostile clients for {seconds} s ({sent} hostile requests)\n");
    println!("| probe | samples | p50 ms | p99 ms |\n|---|---:|---:|---:|");
    println!(
        "| GET /healthz | {} | {:.1} | {:.1} |",
        health.len(),
        pct(&health, 0.5),
        pct(&health, 0.99)
    );
    println!(
        "| GET /console/v1/me | {} | {:.1} | {:.1} |",
        me.len(),
        pct(&me, 0.5),
        pct(&me, 0.99)
    );

    // 2,000 hostile login attempts with 60 KB usernames.
    let before = bench.db_bytes();
    let name = "x".repeat(60_000);
    for i in 0..2000 {
        let _ = http
            .post(format!("{base}/console/v1/sessions"))
            .header("X-Forwarded-For", format!("10.0.{}.{}", i / 250, i % 250))
            .json(&json!({"username": format!("{name}{i}"), "password": "wrong"}))
            .send()
            .await;
    }
    let after = bench.db_bytes();
    println!(
        "\n## 2,000 hostile login attempts (60 KB usernames)\n\ndatabase + WAL: {before} → {after} bytes (growth {} bytes)",
        after.saturating_sub(before)
    );
    bench.shutdown().await;
}
