//! Issue 9 "Guarantees across instances": several real `devconsole serve` processes on one
//! database (PostgreSQL when `DEVCONSOLE_TEST_DATABASE_URL` is set, else one SQLite file): what
//! one instance does, the others see. Where a test needs to move time, it runs two in-process
//! servers (`server::start`, each with its own caches) on one database and one manual clock.

mod common;

use common::{PASSWORD, ServeProcess, TestDb};
use devconsole::client::{ClientError, ConsoleClient};
use devconsole::clock::{Clock, ManualClock};
use devconsole::wire::Role;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// Two instances started at the same moment on `db` (each with `extra` flags), and a
/// developer admin `dev`.
fn two_instances_with(db: &TestDb, extra_a: &[&str], extra_b: &[&str]) -> (ServeProcess, ServeProcess) {
    // Both start before either is ready: migrations and the first signing key race.
    let a = ServeProcess::spawn(db, extra_a);
    let b = ServeProcess::spawn(db, extra_b);
    let (a, b) = (a.ready(), b.ready());
    let out = db.create_admin_cli("dev", "developer", PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (a, b)
}

fn two_instances(db: &TestDb) -> (ServeProcess, ServeProcess) {
    two_instances_with(db, &[], &[])
}

async fn login(url: &str) -> ConsoleClient {
    let mut c = ConsoleClient::new(url).unwrap();
    c.login("dev", SecretString::from(PASSWORD)).await.unwrap();
    c
}

async fn scim_status(url: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{url}/scim/v2/Users?count=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Instance B's verification cache lifetime (`--token-cache-ms`). On SQLite, which has no
/// notifications, it is the documented bound on how late a change on A bites on B. On
/// PostgreSQL it is a minute, so that only A's NOTIFY can make B refuse within it.
fn b_cache(backend: common::Backend) -> Duration {
    match backend {
        common::Backend::Sqlite => Duration::from_millis(500),
        common::Backend::Postgres => Duration::from_secs(60),
    }
}

fn api_status(e: &ClientError) -> Option<u16> {
    e.status()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_sessions_and_tokens_are_shared() {
    let db = TestDb::fresh();
    let (a, b) = two_instances(&db);
    let on_a = login(&a.url()).await;
    // A session made on A works on B.
    let on_b = ConsoleClient::new(&b.url())
        .unwrap()
        .with_session(on_a.session().unwrap().clone());
    assert_eq!(on_b.me().await.unwrap().username, "dev");

    // A token issued on A is good on B: both instances sign and verify with one key set.
    let app = on_a.create_app("Shared", "").await.unwrap().app;
    on_a.enable_scim(app.id, true).await.unwrap();
    let token = on_a.issue_token(app.id).await.unwrap().token;
    assert_eq!(scim_status(&b.url(), token.expose_secret()).await, StatusCode::OK);
    assert_eq!(scim_status(&a.url(), token.expose_secret()).await, StatusCode::OK);
    // And one issued on B is good on A.
    on_b.revoke_token(app.id).await.unwrap();
    let from_b = on_b.issue_token(app.id).await.unwrap().token;
    assert_eq!(
        scim_status(&a.url(), from_b.expose_secret()).await,
        StatusCode::OK
    );

    // Logout on B ends the session on A.
    let mut b_session = on_b;
    b_session.logout().await.unwrap();
    assert_eq!(api_status(&on_a.me().await.unwrap_err()), Some(401));
}

/// After a change on A (done by `changed`): B refuses `token` within its cache lifetime.
/// Returns how long after the change B first refused it.
///
/// Conditions, not speed: on SQLite B may answer from its cache until the entry's lifetime has
/// run, and must check the database after, so a request sent once the lifetime has passed since
/// the change is refused however slow the machine is. On PostgreSQL B refuses while its
/// minute-long cache would still accept the token: only the notification explains that.
async fn refused_on_b(
    url: &str,
    token: &str,
    backend: common::Backend,
    changed: std::time::Instant,
) -> Duration {
    let lifetime = b_cache(backend);
    if backend == common::Backend::Sqlite {
        tokio::time::sleep_until((changed + lifetime).into()).await;
        assert_eq!(
            scim_status(url, token).await,
            StatusCode::UNAUTHORIZED,
            "still accepted after B's cache lifetime ({lifetime:?})"
        );
        return changed.elapsed();
    }
    loop {
        let status = scim_status(url, token).await;
        if status == StatusCode::UNAUTHORIZED {
            let after = changed.elapsed();
            assert!(
                after < lifetime,
                "refused only after B's cache lifetime ({lifetime:?}): A's notification never reached B"
            );
            return after;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            changed.elapsed() < lifetime,
            "still accepted after B's cache lifetime ({lifetime:?}): A's notification never reached B"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_scim_off_and_delete_on_a_are_refused_on_b() {
    let db = TestDb::fresh();
    let backend = db.backend();
    let b_cache_ms = b_cache(backend).as_millis().to_string();
    let (a, b) = two_instances_with(&db, &[], &["--token-cache-ms", &b_cache_ms]);
    let console = login(&a.url()).await;
    let app = console.create_app("Revocable", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();
    let mut latencies = Vec::new();

    // Revocation: B verified (and cached) the token, A revokes it.
    let token = console.issue_token(app.id).await.unwrap().token;
    assert_eq!(scim_status(&b.url(), token.expose_secret()).await, StatusCode::OK);
    console.revoke_token(app.id).await.unwrap();
    latencies.push(
        refused_on_b(
            &b.url(),
            token.expose_secret(),
            backend,
            std::time::Instant::now(),
        )
        .await,
    );

    // SCIM switched off on A.
    let token = console.issue_token(app.id).await.unwrap().token;
    assert_eq!(scim_status(&b.url(), token.expose_secret()).await, StatusCode::OK);
    console.enable_scim(app.id, false).await.unwrap();
    latencies.push(
        refused_on_b(
            &b.url(),
            token.expose_secret(),
            backend,
            std::time::Instant::now(),
        )
        .await,
    );

    // The app deleted on A.
    console.enable_scim(app.id, true).await.unwrap();
    let token = console.issue_token(app.id).await.unwrap().token;
    assert_eq!(scim_status(&b.url(), token.expose_secret()).await, StatusCode::OK);
    console.delete_app(app.id).await.unwrap();
    latencies.push(
        refused_on_b(
            &b.url(),
            token.expose_secret(),
            backend,
            std::time::Instant::now(),
        )
        .await,
    );
    eprintln!(
        "revocation latency on the other instance ({:?}): revoke {:?}, SCIM off {:?}, app deleted {:?}",
        db.backend(),
        latencies[0],
        latencies[1],
        latencies[2]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_active_token_under_concurrent_issues_on_both() {
    let db = TestDb::fresh();
    let (a, b) = two_instances(&db);
    let on_a = login(&a.url()).await;
    let on_b = login(&b.url()).await;
    let app = on_a.create_app("Contended", "").await.unwrap().app;
    on_a.enable_scim(app.id, true).await.unwrap();
    let attempts = (0..24).map(|i| {
        let c = if i % 2 == 0 { on_a.clone() } else { on_b.clone() };
        tokio::spawn(async move { c.issue_token(app.id).await })
    });
    let mut issued = 0;
    for r in futures::future::join_all(attempts).await {
        match r.unwrap() {
            Ok(_) => issued += 1,
            Err(e) => assert_eq!(e.code(), Some("token_exists"), "{e:?}"),
        }
    }
    assert_eq!(issued, 1, "exactly one issue succeeds across both instances");
    let active = db
        .scalar_i64("SELECT COUNT(*) FROM dedicated_tokens WHERE state = 'active'")
        .await;
    assert_eq!(active, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_earned_on_a_holds_on_b() {
    let db = TestDb::fresh();
    let (a, b) = two_instances(&db);
    for _ in 0..5 {
        let mut c = ConsoleClient::new(&a.url()).unwrap();
        let e = c
            .login("dev", SecretString::from("wrong password 123"))
            .await
            .unwrap_err();
        assert_eq!(api_status(&e), Some(401), "{e:?}");
    }
    let mut c = ConsoleClient::new(&b.url()).unwrap();
    let e = c.login("dev", SecretString::from(PASSWORD)).await.unwrap_err();
    assert_eq!(api_status(&e), Some(429), "{e:?}");
}

async fn create_user(http: &reqwest::Client, url: &str, token: &str, name: &str) -> Option<String> {
    let r = http
        .post(format!("{url}/scim/v2/Users"))
        .bearer_auth(token)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "emails": [{"value": name, "primary": true}],
        }))
        .send()
        .await
        .ok()?;
    if r.status() != StatusCode::CREATED {
        return None;
    }
    let body: Value = r.json().await.ok()?;
    Some(body["id"].as_str()?.to_owned())
}

async fn user_ids(http: &reqwest::Client, url: &str, token: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut start = 1;
    loop {
        let page: Value = http
            .get(format!("{url}/scim/v2/Users?startIndex={start}&count=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resources = page["Resources"].as_array().cloned().unwrap_or_default();
        if resources.is_empty() {
            return ids;
        }
        start += resources.len();
        ids.extend(resources.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_written_through_both_are_readable_on_both() {
    let db = TestDb::fresh();
    let (a, b) = two_instances(&db);
    let console = login(&a.url()).await;
    let app = console.create_app("Directory", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();
    let token = console.issue_token(app.id).await.unwrap().token;
    let token = token.expose_secret().to_owned();
    let http = reqwest::Client::new();
    let writes = (0..200).map(|i| {
        let (http, token) = (http.clone(), token.clone());
        let url = if i % 2 == 0 { a.url() } else { b.url() };
        async move { create_user(&http, &url, &token, &format!("user{i}@example.com")).await }
    });
    let mut written: Vec<String> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(|id| id.expect("every write is acknowledged"))
        .collect();
    written.sort();
    for url in [a.url(), b.url()] {
        let mut read = user_ids(&http, &url, &token).await;
        read.sort();
        assert_eq!(read, written, "all 200 users readable on {url}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_one_instance_loses_no_acknowledged_write() {
    let db = TestDb::fresh();
    let (mut a, b) = two_instances(&db);
    let console = login(&b.url()).await;
    let app = console.create_app("Crash", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();
    let token = console.issue_token(app.id).await.unwrap().token;
    let token = token.expose_secret().to_owned();
    let http = reqwest::Client::new();

    // Four writers keep A busy; A is killed while they run.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (http, token, url) = (http.clone(), token.clone(), a.url());
            let (acked, stop) = (acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(id) = create_user(&http, &url, &token, &format!("w{w}n{n}@example.com")).await
                    {
                        acked.lock().unwrap().push(id);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(acked.len() >= 40);
    // B serves every acknowledged write.
    let read: std::collections::HashSet<String> =
        user_ids(&http, &b.url(), &token).await.into_iter().collect();
    for id in &acked {
        assert!(read.contains(id), "acknowledged user {id} lost");
    }
}

/// Key rotation: an instance started after a new key was added signs with it; an instance
/// started before learns the new kid from the database instead of refusing the token.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_kid_reloads_the_keys_before_it_is_refused() {
    use devconsole::store::SigningKeyRecord;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let old = common::spawn_app().await;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let store = old.db.store().await;
    store
        .insert_signing_key(
            &SigningKeyRecord {
                kid: "rotated".into(),
                private_der: zeroize::Zeroizing::new(key.to_pkcs8_der().unwrap().as_bytes().to_vec()),
                public_raw: key.verifying_key().to_bytes().to_vec(),
            },
            old.now() + time::Duration::seconds(1),
        )
        .await
        .unwrap();
    store.close().await;
    let new = devconsole::server::start(old.config.clone()).await.unwrap();

    let console = old.signed_in("dev", devconsole::wire::Role::Developer).await;
    let app = console.create_app("Rotating", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();
    let on_new = ConsoleClient::new(&new.base_url())
        .unwrap()
        .with_session(console.session().unwrap().clone());
    let token = on_new.issue_token(app.id).await.unwrap().token;
    let header = jsonwebtoken::decode_header(token.expose_secret()).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some("rotated"),
        "the new instance signs with the newest key"
    );
    assert_eq!(
        scim_status(&old.url(), token.expose_secret()).await,
        StatusCode::OK
    );
    new.shutdown().await.unwrap();
}

/// Four instances started at the same moment on an empty database: migrations run once each
/// (every instance comes up), and they agree on one signing key, so a token issued on any of
/// them verifies on all.
#[tokio::test(flavor = "multi_thread")]
async fn instances_started_together_migrate_once_and_agree_on_one_key() {
    let db = TestDb::fresh();
    let spawned: Vec<ServeProcess> = (0..4).map(|_| ServeProcess::spawn(&db, &[])).collect();
    let instances: Vec<ServeProcess> = spawned.into_iter().map(ServeProcess::ready).collect();
    assert_eq!(db.scalar_i64("SELECT COUNT(*) FROM signing_keys").await, 1);
    let applied = db
        .scalar_i64("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .await;
    let distinct = db
        .scalar_i64("SELECT COUNT(DISTINCT version) FROM _sqlx_migrations")
        .await;
    assert_eq!(applied, distinct, "each migration recorded once");
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, expected);

    let out = db.create_admin_cli("dev", "developer", PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let console = login(&instances[0].url()).await;
    for (i, issuer) in instances.iter().enumerate() {
        let on_issuer = ConsoleClient::new(&issuer.url())
            .unwrap()
            .with_session(console.session().unwrap().clone());
        let app = on_issuer.create_app(&format!("App {i}"), "").await.unwrap().app;
        on_issuer.enable_scim(app.id, true).await.unwrap();
        let token = on_issuer.issue_token(app.id).await.unwrap().token;
        for other in &instances {
            assert_eq!(
                scim_status(&other.url(), token.expose_secret()).await,
                StatusCode::OK,
                "a token issued on instance {i} is refused on {}",
                other.url()
            );
        }
    }
}

/// Two in-process instances on one database and one manual clock, each with its own
/// verification cache (kept for an hour, so it can go stale), renewing every 10 minutes.
async fn two_in_process() -> (
    common::TestApp,
    devconsole::server::RunningServer,
    ConsoleClient,
    Uuid,
    String,
) {
    let a = common::app()
        .clock(ManualClock::new(time::OffsetDateTime::now_utc()))
        .configure(|c| c.tokens.cache_ttl = Duration::from_secs(3600))
        .spawn()
        .await;
    let b = a.sibling(|_| {}).await;
    let console = a.signed_in("dev", Role::Developer).await;
    let (app, token) = a.provisioning_app(&console, "Renewed").await;
    (a, b, console, app, token.expose_secret().to_owned())
}

async fn scim_ok(url: &str, token: &str) {
    assert_eq!(scim_status(url, token).await, StatusCode::OK, "on {url}");
}

/// The token expiry race: instance A's cache still says the token was last used 90 days ago,
/// but instance B renewed it a minute ago. A must not expire it: the expiry is decided by the
/// database row (a conditional UPDATE), not by A's stale entry.
#[tokio::test(flavor = "multi_thread")]
async fn a_stale_cache_on_one_instance_does_not_expire_a_token_the_other_just_renewed() {
    let (a, b, console, app, token) = two_in_process().await;
    let clock = a.clock().clone();
    scim_ok(&a.url(), &token).await; // A caches the token, used now (T0)
    clock.advance(time::Duration::days(90) - time::Duration::minutes(1));
    scim_ok(&b.base_url(), &token).await; // B renews it: last use T0 + 90 d - 1 min
    clock.advance(time::Duration::minutes(2));
    // A's entry says T0 + 90 d + 1 min is past validity; the database says otherwise.
    scim_ok(&a.url(), &token).await;
    scim_ok(&b.base_url(), &token).await;
    // (The console session has run out by now; read the row itself.)
    let _ = (console, app);
    assert_eq!(
        a.db.scalar_i64("SELECT COUNT(*) FROM dedicated_tokens WHERE state = 'active'")
            .await,
        1
    );
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

/// Renewal writes stay coalesced across instances: however the uses are spread over two
/// instances, a use is written at most once per renew interval (the write is a conditional
/// UPDATE … WHERE last_used_at <= now - interval).
#[tokio::test(flavor = "multi_thread")]
async fn renewal_writes_are_coalesced_across_instances() {
    let (a, b, console, app, token) = two_in_process().await;
    let clock = a.clock().clone();
    scim_ok(&a.url(), &token).await;
    scim_ok(&b.base_url(), &token).await;
    let first = console.token(app).await.unwrap().last_used_at.unwrap();
    for round in 1..=3 {
        clock.advance(time::Duration::minutes(11));
        let written = clock.now();
        // A writes this round's use; B, a second later, finds it on record and writes nothing,
        // though its own cache says the last use is 11 minutes old.
        scim_ok(&a.url(), &token).await;
        clock.advance(time::Duration::seconds(1));
        scim_ok(&b.base_url(), &token).await;
        scim_ok(&a.url(), &token).await;
        let last = console.token(app).await.unwrap().last_used_at.unwrap();
        assert_eq!(
            (last - written).whole_milliseconds(),
            0,
            "round {round}: B wrote a second use within the interval (first use {first}, last {last})"
        );
    }
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

/// Cluster-wide rate limits: SCIM requests of one app and OAuth token requests of one client,
/// spread over two instances, are admitted about as often as one instance would admit them
/// (its per-minute quota as a burst, then the quota's rate), within +10% — not twice.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_hold_for_the_cluster_not_per_instance() {
    let db = TestDb::fresh();
    let flags = ["--scim-rate-limit", "60"];
    let (a, b) = two_instances_with(&db, &flags, &flags);
    let console = login(&a.url()).await;
    let app = console.create_app("Limited", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();
    let token = console.issue_token(app.id).await.unwrap().token;
    let token = token.expose_secret().to_owned();
    let http = reqwest::Client::new();

    // What one instance admits in `elapsed`: the burst, then the rate.
    let one_instance =
        |per_minute: f64, elapsed: Duration| per_minute + per_minute * elapsed.as_secs_f64() / 60.0;

    let started = std::time::Instant::now();
    let mut admitted = 0;
    for i in 0..160 {
        let url = if i % 2 == 0 { a.url() } else { b.url() };
        match scim_status(&url, &token).await {
            StatusCode::OK => admitted += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    let bound = one_instance(60.0, started.elapsed());
    eprintln!("SCIM: {admitted} of 160 admitted by two instances; one instance's bound {bound:.1}");
    assert!(
        f64::from(admitted) <= 1.1 * bound,
        "{admitted} admitted, over {bound:.1} + 10%"
    );
    assert!(
        admitted >= 54,
        "only {admitted} admitted: the cluster starves the app"
    );

    // OAuth: 30 per minute per client ID and address (the default).
    let started = std::time::Instant::now();
    let mut admitted = 0;
    for i in 0..100 {
        let url = if i % 2 == 0 { a.url() } else { b.url() };
        let status = http
            .post(format!("{url}/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", app.client_id.as_str()),
                ("client_secret", "not the secret"),
            ])
            .send()
            .await
            .unwrap()
            .status();
        if status != StatusCode::TOO_MANY_REQUESTS {
            admitted += 1;
        }
    }
    let bound = one_instance(30.0, started.elapsed());
    eprintln!("OAuth: {admitted} of 100 admitted by two instances; one instance's bound {bound:.1}");
    assert!(
        f64::from(admitted) <= 1.1 * bound,
        "{admitted} admitted, over {bound:.1} + 10%"
    );
    assert!(admitted >= 27, "only {admitted} admitted");
}
