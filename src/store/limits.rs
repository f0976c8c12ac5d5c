//! Cluster-wide request rates: one GCRA ("generic cell rate algorithm") state per limiter key,
//! shared by every instance through the database. An instance takes several permits in one
//! statement (see `server::limits::ClusterLimiter`), so the per-request cost stays low.

use super::{Store, StoreResult, on_pool};

/// What [`Store::rate_take`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateTake {
    /// The permits were taken.
    Taken,
    /// Not taken: the key's theoretical arrival time (µs), to say how long to wait.
    Refused { tat_us: i64 },
}

impl Store {
    /// Takes permits worth `cost_us` of the key's rate at `now_us`, if that keeps the key within
    /// its burst (`burst_us`): `tat = max(tat, now) + cost`, allowed while `tat - now <= burst`.
    /// Checked and written in one statement, so instances cannot both take the last permit.
    pub async fn rate_take(
        &self,
        key: &str,
        now_us: i64,
        cost_us: i64,
        burst_us: i64,
    ) -> StoreResult<RateTake> {
        on_pool!(self, c, pg => {
            let taken: Option<i64> = sqlx::query_scalar(if pg {
                "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) ON CONFLICT (key) DO UPDATE \
                 SET tat = GREATEST(rate_limits.tat, $2) + $3 \
                 WHERE GREATEST(rate_limits.tat, $2) + $3 - $2 <= $4 RETURNING tat"
            } else {
                "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) ON CONFLICT (key) DO UPDATE \
                 SET tat = MAX(rate_limits.tat, $2) + $3 \
                 WHERE MAX(rate_limits.tat, $2) + $3 - $2 <= $4 RETURNING tat"
            })
            .bind(key)
            .bind(now_us)
            .bind(cost_us)
            .bind(burst_us)
            .fetch_optional(c)
            .await?;
            if taken.is_some() {
                return Ok(RateTake::Taken);
            }
            let tat: Option<i64> = sqlx::query_scalar("SELECT tat FROM rate_limits WHERE key = $1")
                .bind(key)
                .fetch_optional(c)
                .await?;
            Ok(RateTake::Refused { tat_us: tat.unwrap_or(now_us) })
        })
    }

    /// Drops keys whose rate has fully recovered (their state equals no state).
    pub async fn rate_prune(&self, now_us: i64) -> StoreResult<u64> {
        on_pool!(self, c => {
            let done = sqlx::query("DELETE FROM rate_limits WHERE tat < $1")
                .bind(now_us)
                .execute(c)
                .await?;
            Ok(done.rows_affected())
        })
    }
}
