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

/// Connects and runs migrations, and returns the console's pool and SCIM's. sqlx's migrator
/// holds a PostgreSQL advisory lock while it runs, so instances starting together apply each
/// migration once.
///
/// SCIM's connections carry `statement_timeout` = the SCIM time budget from their first
/// statement on, so the budget costs no round trip per query; a statement over it is cancelled
/// by the server (SQLSTATE 57014, see [`super::is_over_budget`]).
pub(super) async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<(PgPool, PgPool)> {
    let options = PgConnectOptions::from_str(url)?.application_name("devconsole");
    // One more than asked for: the change listener (`Store::app_changes`) holds one for good.
    let pool = pool_options(settings.max_connections.max(1) + 1, settings)
        .connect_with(options.clone())
        .await?;
    MIGRATOR.run(&pool).await?;
    let budget_ms = settings.scim_query_budget.as_millis().max(1);
    let scim_options = options
        .application_name("devconsole-scim")
        .options([("statement_timeout", format!("{budget_ms}ms"))]);
    let scim = pool_options(super::SCIM_CONNECTIONS, settings)
        .connect_with(scim_options)
        .await?;
    Ok((pool, scim))
}

fn pool_options(max: u32, settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(settings.acquire_timeout)
        // A pooled connection may have been cut by a failover or an idle timeout in between:
        // check it before handing it out.
        .test_before_acquire(true)
        // Recycle connections now and then, so a replaced server or DNS change is picked up.
        .idle_timeout(std::time::Duration::from_secs(600))
        .max_lifetime(std::time::Duration::from_secs(1800))
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
