//! Shared by the SCIM benches (`scim_load`, `hostile`): a real server on 127.0.0.1 over a
//! temporary SQLite file, a developer signed in on the console, and one provisioning app with
//! SCIM on and its token; plus the small statistics both print.
#![allow(dead_code)] // each bench uses part of it

use devconsole::client::ConsoleClient;
use devconsole::server::{self, RunningServer, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A started server with its app. The database lives as long as this value.
pub struct BenchServer {
    pub server: RunningServer,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `{base}/scim/v2`
    pub scim: String,
    pub console: ConsoleClient,
    pub app: Uuid,
    pub token: SecretString,
    /// The SQLite file (with its `-wal` next to it).
    pub db_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl BenchServer {
    /// Starts a server on a fresh database; `tune` adjusts its configuration (the SCIM rate
    /// limit is lifted first: benches measure the server, not the limiter).
    pub async fn start(tune: impl FnOnce(&mut ServerConfig)) -> BenchServer {
        let dir = tempfile::tempdir().unwrap();
        let db_file = dir.path().join("bench.db");
        let db = format!("sqlite://{}", db_file.display());
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
        config.scim_per_minute = u32::MAX;
        tune(&mut config);
        let server = server::start(config).await.unwrap();
        let base = server.base_url();
        let mut console = ConsoleClient::new(&base).unwrap();
        console.login("bench", password).await.unwrap();
        let app = console.create_app("Load", "benchmark").await.unwrap().app.id;
        console.enable_scim(app, true).await.unwrap();
        let token = console.issue_token(app).await.unwrap().token;
        BenchServer {
            scim: format!("{base}/scim/v2"),
            server,
            base,
            console,
            app,
            token,
            db_file,
            _dir: dir,
        }
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
