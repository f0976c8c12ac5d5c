//! All SQL lives here. Handlers and services call typed methods; nothing else sees a query.
//!
//! The shape is backend-neutral: [`Store`] reads, and [`Store::begin`] hands out a [`Tx`] whose
//! methods are small transactional primitives (lock the app, find the active token, insert the
//! token, insert the audit row, …). The rules that combine them live in [`crate::tokens`] and
//! the HTTP handlers, so a change and its audit record always commit together. No sqlx type
//! appears in a public signature, so a PostgreSQL backend can sit behind the same methods.
//!
//! The SQL is kept portable (numbered `$n` parameters, BIGINT millisecond timestamps, partial
//! unique indexes, `INSERT … ON CONFLICT`).

mod console;
pub mod predicate;
mod scim;

pub use console::*;
#[allow(unused_imports)]
pub use scim::*;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the payload names what clashed.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

/// Maps a unique violation to [`StoreError::Conflict`] naming `what`.
fn unique_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(what)
        } else {
            e.into()
        }
    }
}

fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad uuid {s:?}")))
}

fn parse_enum<T: FromStr>(s: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("unexpected value {s:?}")))
}

/// The database holds digests, not secrets, but still nobody else needs to read it.
fn restrict_to_owner(db: &std::path::Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
}

/// The console's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

/// A write transaction. Every primitive on it runs inside the transaction; nothing is visible
/// to others until [`Tx::commit`], and dropping it rolls back.
///
/// On SQLite it is `BEGIN IMMEDIATE`: it holds the database's write lock from the start, so a
/// read inside it is already as good as `SELECT … FOR UPDATE`. The `lock_*` primitives say what a
/// backend with row locks must lock.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // Reads through a memory map skip a read() syscall per page.
            .pragma("mmap_size", "268435456");
        let filename = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A ping before each acquire is one more hop to the connection's worker thread per
            // query; a local SQLite connection does not go stale between uses.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        restrict_to_owner(&filename);
        MIGRATOR.run(&pool).await?;
        let store = Store { pool };
        store.backfill_name_skeletons().await?;
        Ok(store)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(Tx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
        })
    }
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.tx
    }
}
