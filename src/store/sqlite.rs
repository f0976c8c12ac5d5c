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
    // Processes starting together on a new file are serialised by a lock file beside the
    // database, from the first connection to the last migration. The first connection switches
    // a new file to WAL, which needs the exclusive lock: two processes doing so at once can
    // deadlock, and SQLite then answers one of them "database is locked" at once, without
    // waiting out the busy timeout (the loser failed to start). And sqlx's SQLite migrator takes
    // no lock: both would apply the same migration. Once the file is in WAL mode and migrated,
    // the others' connections need no exclusive lock.
    let lock = migration_lock(&filename).await?;
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
    drop(lock);
    let scim = SqlitePoolOptions::new()
        .max_connections(super::SCIM_CONNECTIONS)
        .acquire_timeout(settings.acquire_timeout)
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    Ok((pool, scim))
}

/// An exclusive lock on `<database>-migrate.lock`, held until dropped (`None` in memory).
async fn migration_lock(db: &std::path::Path) -> StoreResult<Option<std::fs::File>> {
    if db.as_os_str().is_empty() || db.as_os_str() == ":memory:" {
        return Ok(None);
    }
    let mut path = db.as_os_str().to_owned();
    path.push("-migrate.lock");
    let file = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
    .map_err(sqlx::Error::Io)?;
    Ok(Some(file))
}

/// The database holds digests, not secrets, but still nobody else needs to read it.
fn restrict_to_owner(db: &std::path::Path) {
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm", "-migrate.lock"] {
        use std::os::unix::fs::PermissionsExt;
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
}
