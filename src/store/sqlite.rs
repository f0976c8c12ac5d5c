//! The SQLite backend: the embedded default (`sqlite://…`, a file beside the console).

use super::{PoolSettings, StoreResult};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if needed) the database file, runs migrations, and returns the console's
/// pool and SCIM's (whose time budget `store/scim.rs` sets per checkout).
pub(super) async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<(SqlitePool, SqlitePool)> {
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
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        // A ping before each acquire is one more hop to the connection's worker thread per
        // query; a local SQLite connection does not go stale between uses.
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await?;
    restrict_to_owner(&filename);
    MIGRATOR.run(&pool).await?;
    let scim = SqlitePoolOptions::new()
        .max_connections(super::SCIM_CONNECTIONS)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok((pool, scim))
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
