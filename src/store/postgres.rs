//! The PostgreSQL backend (`postgres://…`): several `devconsole serve` instances on one
//! database.
//!
//! The password belongs in a passfile (`~/.pgpass` or `PGPASSFILE`) or `PGPASSWORD`, not in the
//! URL on a command line. `sslmode`, `sslrootcert` and the other libpq URL parameters work.

use super::{PoolSettings, StoreResult};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects and runs migrations. sqlx's migrator holds a PostgreSQL advisory lock while it
/// runs, so instances starting together apply each migration once.
pub(super) async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<PgPool> {
    let options = PgConnectOptions::from_str(url)?.application_name("devconsole");
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections.max(1))
        .acquire_timeout(settings.acquire_timeout)
        // A pooled connection may have been cut by a failover or an idle timeout in between:
        // check it before handing it out.
        .test_before_acquire(true)
        // Recycle connections now and then, so a replaced server or DNS change is picked up.
        .idle_timeout(std::time::Duration::from_secs(600))
        .max_lifetime(std::time::Duration::from_secs(1800))
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    /// Every migration exists for both backends, under the same version and name.
    #[test]
    fn both_backends_hold_the_same_migration_versions() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        let sqlite = versions(&super::super::sqlite::MIGRATOR);
        assert!(sqlite.len() >= 3, "{sqlite:?}");
        assert_eq!(versions(&super::MIGRATOR), sqlite);
    }
}
