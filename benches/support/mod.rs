//! Shared by the SCIM benches (`scim_load`, `hostile`, `scim_scale`): a real server on 127.0.0.1
//! over a temporary database, a developer signed in on the console, and one provisioning app
//! with SCIM on and its token; plus the small statistics they print.
//!
//! Backend: SQLite (a temporary file) unless `SCIM_BENCH_BACKEND=postgres`; PostgreSQL runs on
//! a fresh database (`CREATE DATABASE devconsole_bench_…`, dropped at the end) on the server
//! `SCIM_BENCH_DATABASE_URL` names (its role needs CREATEDB; the password from a passfile), else
//! on a throwaway cluster started with `.ci/pg-cluster` and stopped by [`finish`].
#![allow(dead_code)] // each bench uses part of it

use devconsole::client::ConsoleClient;
use devconsole::server::{self, RunningServer, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `SCIM_BENCH_BACKEND`: `sqlite` (default) or `postgres`.
    pub fn from_env() -> Backend {
        match std::env::var("SCIM_BENCH_BACKEND").as_deref() {
            Ok("postgres") | Ok("postgresql") | Ok("pg") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// The PostgreSQL server benches create their databases on: (admin URL, cluster dir if we
/// started one).
static POSTGRES: Mutex<Option<(String, Option<PathBuf>)>> = Mutex::new(None);

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `SCIM_BENCH_DATABASE_URL`, else a throwaway cluster (started once per process).
fn postgres_admin() -> String {
    let mut slot = POSTGRES.lock().unwrap();
    if let Some((url, _)) = slot.as_ref() {
        return url.clone();
    }
    if let Ok(url) = std::env::var("SCIM_BENCH_DATABASE_URL")
        && !url.is_empty()
    {
        *slot = Some((url.clone(), None));
        return url;
    }
    let dir = tempfile::Builder::new()
        .prefix("devconsole-bench-pg")
        .tempdir()
        .unwrap()
        .keep();
    let out = std::process::Command::new(repo_file(".ci/pg-cluster"))
        .arg("start")
        .arg(&dir)
        .output()
        .expect("run .ci/pg-cluster");
    assert!(
        out.status.success(),
        "could not start a PostgreSQL cluster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // The password stays out of the environment: read from the cluster's passfile into the
    // URL this process alone uses (and never prints).
    let pgpass = std::fs::read_to_string(dir.join("pgpass")).unwrap();
    let password = pgpass.trim().rsplit(':').next().unwrap().to_owned();
    let mut parsed = reqwest::Url::parse(&url).unwrap();
    parsed.set_password(Some(&password)).unwrap();
    let url = parsed.to_string();
    *slot = Some((url.clone(), Some(dir)));
    url
}

/// Stops the throwaway PostgreSQL cluster, if this process started one.
pub fn finish() {
    if let Some((_, Some(dir))) = POSTGRES.lock().unwrap().take() {
        let _ = std::process::Command::new(repo_file(".ci/pg-cluster"))
            .arg("stop")
            .arg(&dir)
            .output();
    }
}

/// A fresh database for one bench server; dropped (PostgreSQL) or deleted (SQLite) with it.
pub struct BenchDb {
    pub backend: Backend,
    pub url: String,
    /// SQLite: the file (with its `-wal` next to it); PostgreSQL: a path that does not exist.
    pub db_file: PathBuf,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl BenchDb {
    pub async fn fresh(backend: Backend) -> BenchDb {
        let dir = tempfile::tempdir().unwrap();
        let db_file = dir.path().join("bench.db");
        match backend {
            Backend::Sqlite => BenchDb {
                backend,
                url: format!("sqlite://{}", db_file.display()),
                db_file,
                dir,
                postgres: None,
            },
            Backend::Postgres => {
                use sqlx::{Connection, Executor};
                let admin = postgres_admin();
                let name = format!("devconsole_bench_{}", Uuid::new_v4().simple());
                let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
                c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .unwrap();
                c.close().await.ok();
                let mut url = reqwest::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                BenchDb {
                    backend,
                    url: url.to_string(),
                    db_file,
                    dir,
                    postgres: Some((name, admin)),
                }
            }
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        let _ = &self.dir;
        if let Some((name, admin)) = self.postgres.take() {
            // On a thread of its own: this may run inside the bench's runtime.
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        use sqlx::{Connection, Executor};
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ = c.execute(sqlx::AssertSqlSafe(drop)).await;
                            let _ = c.close().await;
                        }
                    })
            })
            .join()
            .ok();
        }
    }
}

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A started server with its app. The database lives as long as this value.
pub struct BenchServer {
    pub server: RunningServer,
    /// More instances on the same database (`start_on` with `instances > 1`).
    pub others: Vec<RunningServer>,
    /// `{base}/scim/v2` of every instance, the first one first.
    pub scims: Vec<String>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `{base}/scim/v2`
    pub scim: String,
    pub console: ConsoleClient,
    pub app: Uuid,
    pub token: SecretString,
    /// The SQLite file (with its `-wal` next to it).
    pub db_file: PathBuf,
    pub db: BenchDb,
}

impl BenchServer {
    /// Starts a server on a fresh SQLite database; `tune` adjusts its configuration (the SCIM
    /// rate limit is lifted first: benches measure the server, not the limiter).
    pub async fn start(tune: impl FnOnce(&mut ServerConfig)) -> BenchServer {
        Self::start_on(Backend::Sqlite, 1, tune).await
    }

    /// Starts `instances` servers (`server::start`) on one fresh database of `backend`.
    pub async fn start_on(
        backend: Backend,
        instances: usize,
        tune: impl FnOnce(&mut ServerConfig),
    ) -> BenchServer {
        let db = BenchDb::fresh(backend).await;
        let password = SecretString::from("benchmark password");
        let store = Store::open(&db.url).await.unwrap();
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
        let mut config = ServerConfig::new(db.url.clone(), "127.0.0.1:0".parse().unwrap());
        config.scim_per_minute = u32::MAX;
        tune(&mut config);
        let server = server::start(config.clone()).await.unwrap();
        let mut others = Vec::new();
        for _ in 1..instances.max(1) {
            others.push(server::start(config.clone()).await.unwrap());
        }
        let base = server.base_url();
        let mut console = ConsoleClient::new(&base).unwrap();
        console.login("bench", password).await.unwrap();
        let app = console.create_app("Load", "benchmark").await.unwrap().app.id;
        console.enable_scim(app, true).await.unwrap();
        let token = console.issue_token(app).await.unwrap().token;
        let scims = std::iter::once(&server)
            .chain(&others)
            .map(|s| format!("{}/scim/v2", s.base_url()))
            .collect();
        BenchServer {
            scim: format!("{base}/scim/v2"),
            scims,
            server,
            others,
            base,
            console,
            app,
            token,
            db_file: db.db_file.clone(),
            db,
        }
    }

    /// The SCIM base URL of instance `i % instances`: a round-robin client.
    pub fn scim_rr(&self, i: usize) -> &str {
        &self.scims[i % self.scims.len()]
    }

    /// `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token.expose_secret())
    }

    /// Bytes of the database and its WAL.
    pub fn db_bytes(&self) -> u64 {
        let wal = self.db_file.with_extension("db-wal");
        [&self.db_file, &wal]
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum()
    }

    pub async fn shutdown(self) {
        for other in self.others {
            other.shutdown().await.unwrap();
        }
        self.server.shutdown().await.unwrap();
    }
}

/// An environment knob with a default.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile of sorted durations, in milliseconds (NaN when empty).
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The machine's 1-minute load average, for the figures' context (Linux; None elsewhere).
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
