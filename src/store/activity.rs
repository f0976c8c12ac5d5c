//! Provisioning activity rows: written in batches by `server::activity`'s recorder, read newest
//! first with an id cursor, pruned by age and by rows per app.

use super::{Cols, Store, StoreResult, on_pool, parse_enum, parse_uuid};
use crate::clock::{from_millis, to_millis};
use crate::wire::{ActivityEvent, Outcome, ScimOperation, ScimResourceType};
use time::OffsetDateTime;
use uuid::Uuid;

/// One SCIM call to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewActivity {
    pub app_id: Uuid,
    pub at: OffsetDateTime,
    pub operation: ScimOperation,
    pub resource_type: Option<ScimResourceType>,
    pub resource_id: Option<String>,
    pub name: Option<String>,
    pub status: u16,
    pub outcome: Outcome,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub app_id: Option<Uuid>,
    pub outcome: Option<Outcome>,
    pub resource_type: Option<ScimResourceType>,
    /// Only rows older than this id (the cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Writes a batch in one transaction, many rows per statement (each statement costs a
    /// round trip to the driver's worker; one per row made recording cost a quarter of the
    /// SCIM write throughput).
    pub async fn insert_activity(&self, rows: &[NewActivity]) -> StoreResult<()> {
        /// 10 parameters a row: well under both SQLite's and PostgreSQL's parameter limits.
        const ROWS_PER_STATEMENT: usize = 100;
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO scim_activity (app_id, at, operation, resource_type, resource_id, name, \
                     status, outcome, scim_type, detail) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.app_id.to_string())
                        .push_bind(to_millis(r.at))
                        .push_bind(r.operation.as_str())
                        .push_bind(r.resource_type.map(|t| t.as_str()))
                        .push_bind(r.resource_id.clone())
                        .push_bind(r.name.clone())
                        .push_bind(i64::from(r.status))
                        .push_bind(r.outcome.as_str())
                        .push_bind(r.scim_type.clone())
                        .push_bind(r.detail.clone());
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Newest first; the app's current name joined in (None once the app is deleted).
    pub async fn list_activity(&self, q: &ActivityQuery) -> StoreResult<Vec<ActivityEvent>> {
        on_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT a.id, a.app_id, a.at, a.operation, a.resource_type, a.resource_id, a.name, \
                 a.status, a.outcome, a.scim_type, a.detail, c.name AS app_name \
                 FROM scim_activity a LEFT JOIN client_apps c ON c.id = a.app_id \
                 WHERE ($1 IS NULL OR a.app_id = $1) AND ($2 IS NULL OR a.outcome = $2) \
                 AND ($3 IS NULL OR a.resource_type = $3) AND ($4 IS NULL OR a.id < $4) \
                 ORDER BY a.id DESC LIMIT $5",
            )
            .bind(q.app_id.map(|id| id.to_string()))
            .bind(q.outcome.map(|o| o.as_str()))
            .bind(q.resource_type.map(|t| t.as_str()))
            .bind(q.before_id)
            .bind(q.limit)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|row| {
                    let resource_type: Option<String> = row.try_get("resource_type")?;
                    let status: i64 = row.try_get("status")?;
                    Ok(ActivityEvent {
                        id: row.try_get("id")?,
                        at: from_millis(row.try_get("at")?),
                        app_id: parse_uuid(&row.try_get::<String>("app_id")?)?,
                        app_name: row.try_get("app_name")?,
                        operation: parse_enum(&row.try_get::<String>("operation")?)?,
                        resource_type: resource_type.as_deref().map(parse_enum).transpose()?,
                        resource_id: row.try_get("resource_id")?,
                        name: row.try_get("name")?,
                        status: u16::try_from(status).unwrap_or(0),
                        outcome: parse_enum(&row.try_get::<String>("outcome")?)?,
                        scim_type: row.try_get("scim_type")?,
                        detail: row.try_get("detail")?,
                    })
                })
                .collect()
        })
    }

    /// Deletes rows older than `before`, rows of deleted apps, and each app's rows beyond its
    /// newest `per_app`. Works in slices of `slice` rows so no single statement holds the write
    /// lock for long. Returns how many rows went.
    pub async fn prune_activity(&self, before: OffsetDateTime, per_app: i64, slice: i64) -> StoreResult<u64> {
        on_pool!(self, p => {
            let mut gone = 0;
            loop {
                let n = sqlx::query(
                    "DELETE FROM scim_activity WHERE id IN (SELECT id FROM scim_activity \
                     WHERE at < $1 OR app_id NOT IN (SELECT id FROM client_apps) LIMIT $2)",
                )
                .bind(to_millis(before))
                .bind(slice)
                .execute(p)
                .await?
                .rows_affected();
                gone += n;
                if n < slice as u64 {
                    break;
                }
            }
            let over = sqlx::query("SELECT app_id FROM scim_activity GROUP BY app_id HAVING COUNT(*) > $1")
                .bind(per_app)
                .fetch_all(p)
                .await?;
            for row in over {
                let app: String = row.try_get("app_id")?;
                // The id of the newest row to drop: everything at or below it goes.
                let cut: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM scim_activity WHERE app_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
                )
                .bind(&app)
                .bind(per_app)
                .fetch_optional(p)
                .await?;
                let Some(cut) = cut else { continue };
                loop {
                    let n = sqlx::query(
                        "DELETE FROM scim_activity WHERE id IN (SELECT id FROM scim_activity \
                         WHERE app_id = $1 AND id <= $2 LIMIT $3)",
                    )
                    .bind(&app)
                    .bind(cut)
                    .bind(slice)
                    .execute(p)
                    .await?
                    .rows_affected();
                    gone += n;
                    if n < slice as u64 {
                        break;
                    }
                }
            }
            Ok(gone)
        })
    }
}
