//! `/metrics` after known traffic: the real server with its metrics listener on, scraped over
//! HTTP and read with a Prometheus text parser; every counter must equal the traffic sent.

mod common;

use common::{USER, app};
use devconsole::clock::{Clock, ManualClock};
use devconsole::wire::Role;
use prometheus_parse::{Sample, Scrape, Value};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn scrape_text(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("Prometheus text format")
}

/// The value of the one sample named `name` whose labels include all of `labels`; 0 if none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} matches {} samples",
        matching.len()
    );
    match matching.first().map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{name} is not a single value: {other:?}"),
    }
}

#[tokio::test]
async fn counters_and_gauges_match_the_traffic() {
    let clock = ManualClock::new(time::macros::datetime!(2026-11-27 09:00 UTC));
    let env = common::scim_env_with(app().clock(clock.clone()).configure(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.scim_per_minute = 7;
        c.login_limits.max_failures_per_username = 2;
    }))
    .await;
    let server = &env.server;
    let metrics_addr = server.server().metrics_addr().expect("metrics are on");
    assert_ne!(metrics_addr, server.server().addr(), "a separate listener");
    let client_id = env.console.get_app(env.app).await.unwrap().client_id;

    // SCIM: two creates, a failing create (duplicate userName), three user reads, a group read.
    for name in ["ada@example.com", "grace@example.com"] {
        env.create_user(json!({"userName": name})).await;
    }
    let dup = env
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ada@example.com"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    for _ in 0..3 {
        assert_eq!(env.get("/Users").await.status, StatusCode::OK);
    }
    assert_eq!(env.get("/Groups").await.status, StatusCode::OK);
    // The app's rate is 7 a minute: the 8th is refused before the handler.
    assert_eq!(env.get("/Users").await.status, StatusCode::TOO_MANY_REQUESTS);
    // A token that is not ours is refused by the guard.
    let bogus = env
        .http
        .get(format!("{}/Users", env.scim))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::UNAUTHORIZED);

    // Sign-ins: two wrong passwords, then the username is locked out.
    server.admin("eve", Role::Developer).await;
    for expected in [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let mut c = devconsole::client::ConsoleClient::new(&server.url()).unwrap();
        let err = c
            .login("eve", SecretString::from("definitely wrong password"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(expected.as_u16()));
    }

    // A second app whose token is revoked.
    let other = env.console.create_app("Second", "").await.unwrap().app.id;
    env.console.enable_scim(other, true).await.unwrap();
    env.console.issue_token(other).await.unwrap();
    env.console.revoke_token(other).await.unwrap();

    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let m = scrape_text(&text);

    let scim = |method: &str, resource: &str, status: &str, app: &str| {
        value(
            &m,
            "devconsole_scim_requests_total",
            &[
                ("client_id", app),
                ("method", method),
                ("resource_type", resource),
                ("status", status),
            ],
        )
    };
    assert_eq!(scim("POST", "User", "201", &client_id), 2.0, "{text}");
    assert_eq!(scim("POST", "User", "409", &client_id), 1.0);
    assert_eq!(scim("GET", "User", "200", &client_id), 3.0);
    assert_eq!(scim("GET", "Group", "200", &client_id), 1.0);
    // The guard refused it, but the token is the app's: counted under the app.
    assert_eq!(scim("GET", "User", "429", &client_id), 1.0);
    assert_eq!(scim("GET", "User", "429", ""), 0.0);
    // A token that is not ours names no app.
    assert_eq!(scim("GET", "User", "401", ""), 1.0);
    let all_scim: f64 = m
        .samples
        .iter()
        .filter(|s| s.metric == "devconsole_scim_requests_total")
        .map(|s| match s.value {
            Value::Counter(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(all_scim, 9.0, "each SCIM request is counted once");
    assert_eq!(
        value(
            &m,
            "devconsole_rate_limited_requests_total",
            &[("surface", "scim")]
        ),
        1.0
    );
    assert_eq!(value(&m, "devconsole_login_failures_total", &[]), 2.0);
    assert_eq!(value(&m, "devconsole_login_lockouts_total", &[]), 1.0);
    assert_eq!(
        value(
            &m,
            "devconsole_rate_limited_requests_total",
            &[("surface", "console")]
        ),
        0.0,
        "a lockout is not also counted as a rate limit"
    );

    // Latency histograms: one observation per request.
    let count = |surface: &str, method: &str| {
        value(
            &m,
            "devconsole_http_request_duration_seconds_count",
            &[("surface", surface), ("method", method)],
        )
    };
    assert_eq!(count("scim", "POST"), 3.0);
    assert_eq!(count("scim", "GET"), 6.0);
    let buckets = m
        .samples
        .iter()
        .find(|s| {
            s.metric == "devconsole_http_request_duration_seconds"
                && s.labels.get("surface") == Some("scim")
                && s.labels.get("method") == Some("POST")
        })
        .expect("the histogram");
    match &buckets.value {
        Value::Histogram(b) => {
            assert_eq!(b.last().unwrap().count, 3.0, "+Inf holds every observation");
            assert!(b.len() >= 10);
        }
        other => panic!("not a histogram: {other:?}"),
    }

    // Token gauges, read from the store at scrape time.
    assert_eq!(value(&m, "devconsole_tokens", &[("state", "active")]), 1.0);
    assert_eq!(value(&m, "devconsole_tokens", &[("state", "revoked")]), 1.0);
    assert_eq!(value(&m, "devconsole_tokens", &[("state", "expired")]), 0.0);
    // Every use renews the token: it was last used now, so it expires in exactly 90 days.
    assert_eq!(
        value(
            &m,
            "devconsole_token_expiry_seconds",
            &[("client_id", &client_id)]
        ),
        (90 * 86_400) as f64
    );
    assert_eq!(
        value(
            &m,
            "devconsole_token_last_used_timestamp_seconds",
            &[("client_id", &client_id)]
        ),
        clock.now().unix_timestamp() as f64
    );

    // Thirty days on, with no traffic, the gauges say so.
    clock.advance(time::Duration::days(30));
    let later = scrape_text(
        &http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(
        value(
            &later,
            "devconsole_token_expiry_seconds",
            &[("client_id", &client_id)]
        ),
        (60 * 86_400) as f64
    );

    // Not on the public port.
    let public = http
        .request(Method::GET, format!("{}/metrics", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let server = common::spawn_app().await;
    assert_eq!(server.server().metrics_addr(), None);
}

/// `devconsole serve --metrics-listen`: the flag reaches the server and the listener answers.
#[test]
fn serve_flag_opens_the_metrics_listener() {
    let db = common::TestDb::fresh();
    let mut child = Command::new(common::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db.url()])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server says where metrics are").unwrap();
        if let Some(rest) = line.strip_prefix("devconsole metrics on ") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = rt.block_on(async { reqwest::get(&url).await.unwrap().text().await.unwrap() });
    let _ = child.kill();
    let _ = child.wait();
    let m = scrape_text(&text);
    assert_eq!(value(&m, "devconsole_tokens", &[("state", "active")]), 0.0);
    assert!(
        m.samples
            .iter()
            .any(|s| s.metric == "devconsole_login_failures_total")
    );
}
