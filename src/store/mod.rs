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

mod activity;
mod console;
mod limits;
mod postgres;
pub mod predicate;
mod scim;
mod sqlite;

pub use activity::*;

pub use console::*;
pub use limits::*;
#[allow(unused_imports)]
pub use scim::*;

use std::str::FromStr;
use uuid::Uuid;

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

/// The PostgreSQL `NOTIFY` channel on which a committed change to an app's tokens (revoked,
/// retired, SCIM switched, app deleted) names the app, so every instance drops its cached
/// verifications of them at once.
pub(crate) const APP_CHANGES_CHANNEL: &str = "devconsole_app_changes";

/// What [`AppChanges::next`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppChange {
    /// Another (or this) instance committed a change to this app's tokens.
    App(Uuid),
    /// The listening connection was lost (and is being re-made): changes may have been
    /// missed, so forget everything.
    Lost,
}

/// Changes committed by any instance on the same PostgreSQL database ([`Store::app_changes`]).
pub struct AppChanges {
    listener: sqlx::postgres::PgListener,
}

impl AppChanges {
    /// Waits for the next change. An error means the database is unreachable right now; the
    /// caller should forget everything, wait a little and call again (it reconnects).
    pub async fn next(&mut self) -> StoreResult<AppChange> {
        Ok(match self.listener.try_recv().await? {
            Some(n) => match Uuid::parse_str(n.payload()) {
                Ok(id) => AppChange::App(id),
                Err(_) => AppChange::Lost,
            },
            None => AppChange::Lost,
        })
    }
}

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs are PostgreSQL; anything else is a SQLite URL.
    pub fn of_url(url: &str) -> Backend {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Connection pool settings (`serve --db-pool-size`, `--scim-query-budget-ms`).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections in the pool. SQLite serialises writers anyway; PostgreSQL serves this many
    /// queries at once per instance.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the request fails.
    pub acquire_timeout: std::time::Duration,
    /// Wall-clock time one SCIM database call may run before it is stopped (`400 tooMany`):
    /// SQLite's progress handler interrupts it; PostgreSQL cancels the statement
    /// (`statement_timeout` on the SCIM connections).
    pub scim_query_budget: std::time::Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 8,
            acquire_timeout: std::time::Duration::from_secs(30),
            scim_query_budget: SCIM_QUERY_BUDGET,
        }
    }
}

/// The connection pool of one backend.
#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The console's database: one API over SQLite or PostgreSQL.
///
/// An enum over the two pools rather than a trait: every method is written once, and a
/// `match` (the `on_pool!`/`on_tx!` macros) runs the same query on whichever pool this is, so
/// most SQL is shared and type-checked against both drivers. Where the dialects differ (row
/// locks, JSON, filters) the arms say so side by side. A trait object would need boxed futures
/// and a second copy of every portable query.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// SCIM's own connections ([`SCIM_CONNECTIONS`]), each under the SCIM time budget, so SCIM
    /// load cannot take the console's connections.
    scim: Pool,
    settings: PoolSettings,
}

impl std::fmt::Debug for Store {
    // The pool's options hold the connection password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$c` bound to the store's pool (`&SqlitePool` or `&PgPool`). The body is
/// compiled once per backend, so it must read its rows inside.
/// With `$c, $pg => …`, `$pg` is a `bool` that is true on PostgreSQL, for choosing between
/// two `&'static str` queries where the dialects differ.
macro_rules! on_pool {
    ($store:expr, $c:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($c) => $body,
            $crate::store::Pool::Postgres($c) => $body,
        }
    };
    ($store:expr, $c:ident, $pg:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($c) => {
                let $pg = false;
                $body
            }
            $crate::store::Pool::Postgres($c) => {
                let $pg = true;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$c` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`); pass it to queries as `&mut *$c`.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.tx {
            $crate::store::TxInner::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::TxInner::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// A value both drivers can decode.
pub(crate) trait Decodes:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}
impl<T> Decodes for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// A row of either backend, read by column name; lets a row mapper be written once.
pub(crate) trait Cols {
    fn try_get<T: Decodes>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl Cols for sqlx::sqlite::SqliteRow {
    fn try_get<T: Decodes>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

impl Cols for sqlx::postgres::PgRow {
    fn try_get<T: Decodes>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

/// A write transaction. Every primitive on it runs inside the transaction; nothing is visible
/// to others until [`Tx::commit`], and dropping it rolls back.
///
/// On SQLite it is `BEGIN IMMEDIATE`: it holds the database's write lock from the start, so a
/// read inside it is already as good as `SELECT … FOR UPDATE`. On PostgreSQL it is a READ
/// COMMITTED transaction, and the `lock_*` primitives take the row locks (`FOR UPDATE`) or
/// advisory locks that serialise writers, across instances too.
pub struct Tx {
    tx: TxInner,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl Store {
    /// Opens the database at `url` with default pool settings, creating a SQLite file if
    /// needed, and runs migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        Self::open_with(url, PoolSettings::default()).await
    }

    /// Opens the database at `url` (`sqlite://…` or `postgres://…`) and runs migrations.
    /// Migrations are safe when several instances start at once: each backend's migrator holds
    /// a lock while it runs (SQLite's write lock, a PostgreSQL advisory lock).
    pub async fn open_with(url: &str, settings: PoolSettings) -> StoreResult<Store> {
        let (pool, scim) = match Backend::of_url(url) {
            Backend::Sqlite => {
                let (pool, scim) = sqlite::connect(url, &settings).await?;
                (Pool::Sqlite(pool), Pool::Sqlite(scim))
            }
            Backend::Postgres => {
                let (pool, scim) = postgres::connect(url, &settings).await?;
                (Pool::Postgres(pool), Pool::Postgres(scim))
            }
        };
        let store = Store { pool, scim, settings };
        store.backfill_name_skeletons().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn pool_settings(&self) -> &PoolSettings {
        &self.settings
    }

    pub async fn close(&self) {
        match &self.scim {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
        on_pool!(self, p => p.close().await)
    }

    /// Readiness: takes a connection from the pool and reads the schema (`/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, p, pg => {
            sqlx::query(if pg {
                "SELECT count(*) FROM pg_catalog.pg_class"
            } else {
                "SELECT count(*) FROM sqlite_master"
            })
            .fetch_one(p)
            .await?;
            Ok(())
        })
    }

    /// PostgreSQL: a listener for changes other instances commit ([`APP_CHANGES_CHANNEL`]), on
    /// a connection of its own. SQLite: `None` (one process per file is the norm; the
    /// verification cache's short lifetime covers several).
    pub async fn app_changes(&self) -> StoreResult<Option<AppChanges>> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(p) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(p).await?;
                listener.listen(APP_CHANGES_CHANNEL).await?;
                Ok(Some(AppChanges { listener }))
            }
        }
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let tx = match &self.pool {
            Pool::Sqlite(p) => TxInner::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => TxInner::Postgres(p.begin().await?),
        };
        Ok(Tx { tx })
    }
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match self.tx {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
