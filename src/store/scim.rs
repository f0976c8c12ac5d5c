//! SCIM users and groups. Resources are stored as their SCIM JSON (TEXT on SQLite, JSONB on
//! PostgreSQL) plus the columns that must be unique or indexed. List queries take a
//! backend-neutral [`Pred`] from the SCIM filter translator, rendered here per backend with
//! every client value bound.

use super::predicate::{After, KeyValue, Pred, Render, Sort};
use super::{Cols, Pool, QueryPlan, Store, StoreError, StoreResult, is_unique_violation, on_pool};
use crate::clock::{from_millis, to_millis};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, QueryBuilder};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Connections for SCIM. The console, login and token checks use the other pool, so however
/// hard SCIM is driven they always find a connection.
pub const SCIM_CONNECTIONS: u32 = 4;
/// Wall-clock time one SCIM database call may run before it is stopped (`400 tooMany`).
pub const SCIM_QUERY_BUDGET: Duration = Duration::from_secs(2);
/// SQLite virtual-machine steps between two looks at the clock.
const BUDGET_CHECK_STEPS: i32 = 1000;

/// Did the database stop this call because it ran past the SCIM time budget? SQLite: the
/// progress handler interrupted it (`SQLITE_INTERRUPT`, 9). PostgreSQL: `statement_timeout`
/// cancelled it (SQLSTATE 57014 `query_canceled`).
pub fn is_over_budget(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(e)
        if matches!(e.as_database_error().and_then(|d| d.code()).as_deref(), Some("9") | Some("57014")))
}

/// Did PostgreSQL break a deadlock (SQLSTATE 40P01) by failing this transaction? A user's
/// write also writes its reports' rows ([`BUMP_REPORTS_POSTGRES`]); it locks them all in id
/// order first ([`LOCK_WITH_REPORTS_POSTGRES`]), but a report that appears between that lock and
/// the write is locked out of order. The failed transaction rolled back whole and can run again.
pub fn is_deadlock(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(e)
        if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("40P01"))
}

/// How many times a write runs when PostgreSQL keeps choosing it as a deadlock's victim.
const DEADLOCK_ATTEMPTS: u32 = 4;

/// What [`Store::scim_delete_group`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupDelete {
    Deleted,
    Missing,
    /// Not deleted: the group is at this version, not the one expected.
    Changed(i64),
}

/// Timestamps are stored in milliseconds; a write returns them at that precision too, so a
/// POST's `meta.created` reads the same as every later GET.
fn stored_precision(t: OffsetDateTime) -> OffsetDateTime {
    from_millis(to_millis(t))
}

/// A connection from SCIM's pool, already under the time budget.
enum ScimConn {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

/// Runs `$body` with `$c` a SCIM connection (`PoolConnection` of either backend; pass it to
/// queries as `&mut *$c`) and `$pg` true on PostgreSQL.
macro_rules! on_scim {
    ($store:expr, $c:ident, $pg:ident => $body:expr) => {
        match $store.scim_conn().await? {
            ScimConn::Sqlite(mut $c) => {
                let $pg = false;
                let _ = $pg;
                $body
            }
            ScimConn::Postgres(mut $c) => {
                let $pg = true;
                let _ = $pg;
                $body
            }
        }
    };
}

/// The reports of a user: every other user whose Enterprise `manager.value` is one of three
/// keys (the user's id, or an externalId it had or has). Their representation shows the
/// manager's name (filled in when read), so a write that changes that name, or which user a
/// key finds, must give them a new version (ETag) and `meta.lastModified` too. The expression
/// is the one index `scim_users_by_manager` (migration 0010) is built on.
const BUMP_REPORTS_SQLITE: &str = "UPDATE scim_users SET version = version + 1, updated_at = $1 \
     WHERE json_extract(resource, '$.\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\".manager.value') \
     IN ($2, $3, $4) AND id <> $5";
const BUMP_REPORTS_POSTGRES: &str = "UPDATE scim_users SET version = version + 1, updated_at = $1 \
     WHERE (resource #>> '{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,manager,value}') \
     IN ($2, $3, $4) AND id <> $5";
/// A user and its reports (as [`BUMP_REPORTS_POSTGRES`] finds them), locked in id order.
const LOCK_WITH_REPORTS_POSTGRES: &str = "SELECT id FROM scim_users \
     WHERE id = $1 OR (resource #>> '{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,manager,value}') \
     IN ($2, $3, $4) ORDER BY id FOR NO KEY UPDATE";
/// What a report shows of a user as its manager (as [`Store::scim_user_refs`] reads it), and
/// the externalId a report may name it by; read before a replace.
const SHOWN_SQLITE: &str = "SELECT COALESCE(json_extract(resource, '$.displayName'), user_name), external_id \
     FROM scim_users WHERE id = $1 AND version = $2";
const SHOWN_POSTGRES: &str = "SELECT COALESCE(resource ->> 'displayName', user_name), external_id \
     FROM scim_users WHERE id = $1 AND version = $2";

/// Runs [`BUMP_REPORTS_SQLITE`] in `$tx` (a SCIM transaction inside `on_scim!`).
macro_rules! bump_reports {
    ($tx:ident, $pg:ident, $user:expr, $keys:expr, $now:expr) => {{
        let keys: [Option<&str>; 3] = $keys;
        sqlx::query(if $pg {
            BUMP_REPORTS_POSTGRES
        } else {
            BUMP_REPORTS_SQLITE
        })
        .bind(to_millis($now))
        .bind(keys[0])
        .bind(keys[1])
        .bind(keys[2])
        .bind($user)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// The name reports show for the user `w` writes: its displayName, else its userName.
fn shown_name(w: &ScimWrite<'_>) -> String {
    serde_json::from_str::<serde_json::Value>(w.resource)
        .ok()
        .and_then(|r| r.get("displayName")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| w.unique.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimTable {
    Users,
    Groups,
}

impl ScimTable {
    fn name(self) -> &'static str {
        match self {
            ScimTable::Users => "scim_users",
            ScimTable::Groups => "scim_groups",
        }
    }
    fn unique_attr(self) -> &'static str {
        match self {
            ScimTable::Users => "userName",
            ScimTable::Groups => "displayName",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScimQuery {
    pub filter: Option<Pred>,
    pub order: Option<Sort>,
    pub offset: i64,
    pub limit: i64,
}

/// A stored resource: its SCIM JSON without `id` and `meta`, and the metadata.
#[derive(Debug, Clone)]
pub struct ScimRow {
    pub id: String,
    pub resource: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// A user's direct groups (id, displayName), when the read loaded them.
    pub groups: Option<Vec<(String, String)>>,
}

/// A user's direct groups as one JSON column, so a read needs no second query.
macro_rules! user_groups_column {
    (sqlite) => {
        "(SELECT json_group_array(json_array(g.id, g.display_name)) FROM scim_group_members m \
         JOIN scim_groups g ON g.id = m.group_id WHERE m.member_id = t.id) AS groups"
    };
    (postgres) => {
        "COALESCE((SELECT json_agg(json_build_array(g.id, g.display_name))::text \
         FROM scim_group_members m JOIN scim_groups g ON g.id = m.group_id \
         WHERE m.member_id = t.id), '[]') AS groups"
    };
}

/// The row columns; PostgreSQL hands the JSONB back as text.
macro_rules! row_columns {
    (sqlite) => {
        "t.id, t.resource, t.version, t.created_at, t.updated_at"
    };
    (postgres) => {
        "t.id, t.resource::text AS resource, t.version, t.created_at, t.updated_at"
    };
}

/// What a create or replace writes.
#[derive(Debug)]
pub struct ScimWrite<'a> {
    pub id: &'a str,
    /// userName or group displayName.
    pub unique: &'a str,
    pub external_id: Option<&'a str>,
    /// Users only.
    pub active: bool,
    pub resource: &'a str,
    /// Groups only: member ids.
    pub members: &'a [String],
}

/// An existing resource a group member points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTarget {
    pub id: String,
    pub is_group: bool,
    pub display: String,
}

fn row_from(row: &impl Cols) -> StoreResult<ScimRow> {
    let groups = match row.try_get::<Option<String>>("groups") {
        Ok(Some(text)) => Some(
            serde_json::from_str::<Vec<(String, String)>>(&text)
                .map_err(|e| StoreError::Corrupt(format!("user groups: {e}")))?,
        ),
        _ => None,
    };
    Ok(ScimRow {
        groups,
        id: row.try_get("id")?,
        resource: row.try_get("resource")?,
        version: row.try_get("version")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

/// A group's membership rows, inside a write transaction.
///
/// [`Members::members_exist`] runs BEFORE the group's own row is written, and
/// [`Members::set_members`] after it. SQLite: the write transaction already excludes every
/// other writer. PostgreSQL: the members are read `FOR KEY SHARE` (which blocks a delete but
/// not an update), so a group delete either committed first and the member is seen gone, or
/// waits for this commit and then sees, and removes, the rows written here. Every writer locks
/// a member before the group that contains it (a delete locks the group, then its parents), so
/// the lock order is the same everywhere and cannot deadlock.
trait Members {
    /// Does every one of `members` exist as a user or group?
    async fn members_exist(&mut self, members: &[String]) -> StoreResult<bool>;
    /// Makes the membership rows of `group_id` match `members`, changing only what differs.
    async fn set_members(&mut self, group_id: &str, members: &[String]) -> StoreResult<()>;
}

impl Members for sqlx::SqliteConnection {
    async fn members_exist(&mut self, members: &[String]) -> StoreResult<bool> {
        if members.is_empty() {
            return Ok(true);
        }
        let list = serde_json::to_string(members).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let missing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM json_each($1) AS j \
             WHERE NOT EXISTS (SELECT 1 FROM scim_users u WHERE u.id = j.value) \
             AND NOT EXISTS (SELECT 1 FROM scim_groups g WHERE g.id = j.value)",
        )
        .bind(&list)
        .fetch_one(&mut *self)
        .await?;
        Ok(missing == 0)
    }

    async fn set_members(&mut self, group_id: &str, members: &[String]) -> StoreResult<()> {
        let list = serde_json::to_string(members).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "DELETE FROM scim_group_members WHERE group_id = $1 \
             AND member_id NOT IN (SELECT value FROM json_each($2))",
        )
        .bind(group_id)
        .bind(&list)
        .execute(&mut *self)
        .await?;
        if !members.is_empty() {
            sqlx::query(
                "INSERT OR IGNORE INTO scim_group_members (group_id, member_id) \
                 SELECT $1, value FROM json_each($2)",
            )
            .bind(group_id)
            .bind(&list)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }
}

impl Members for sqlx::PgConnection {
    async fn members_exist(&mut self, members: &[String]) -> StoreResult<bool> {
        if members.is_empty() {
            return Ok(true);
        }
        let (wanted, found): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(DISTINCT m) FROM unnest($1::text[]) AS m), \
                    (SELECT COUNT(*) FROM (SELECT id FROM scim_users WHERE id = ANY($1::text[]) \
                                           ORDER BY id FOR KEY SHARE) u) \
                  + (SELECT COUNT(*) FROM (SELECT id FROM scim_groups WHERE id = ANY($1::text[]) \
                                           ORDER BY id FOR KEY SHARE) g)",
        )
        .bind(members)
        .fetch_one(&mut *self)
        .await?;
        Ok(found >= wanted)
    }

    async fn set_members(&mut self, group_id: &str, members: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM scim_group_members WHERE group_id = $1 AND member_id <> ALL($2::text[])")
            .bind(group_id)
            .bind(members)
            .execute(&mut *self)
            .await?;
        if !members.is_empty() {
            sqlx::query(
                "INSERT INTO scim_group_members (group_id, member_id) \
                 SELECT $1, m FROM unnest($2::text[]) AS m ON CONFLICT (group_id, member_id) DO NOTHING",
            )
            .bind(group_id)
            .bind(members)
            .execute(&mut *self)
            .await?;
        }
        Ok(())
    }
}

/// `SELECT` list with the row columns (and a user's groups) for table alias `t`.
fn select_row(qb_sql: &mut String, table: ScimTable, pg: bool) {
    qb_sql.push_str("SELECT ");
    qb_sql.push_str(if pg {
        row_columns!(postgres)
    } else {
        row_columns!(sqlite)
    });
    if table == ScimTable::Users {
        qb_sql.push_str(", ");
        qb_sql.push_str(if pg {
            user_groups_column!(postgres)
        } else {
            user_groups_column!(sqlite)
        });
    }
}

/// A `startIndex` page (`prefix` is empty, or `EXPLAIN …`): the rows alone, so the database
/// stops after `offset + limit` of them in list order. The total is [`count_query`].
fn offset_query<'a, DB>(prefix: &str, table: ScimTable, q: &'a ScimQuery, pg: bool) -> QueryBuilder<DB>
where
    DB: Render,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut head = String::from(prefix);
    select_row(&mut head, table, pg);
    head.push_str(" FROM ");
    head.push_str(table.name());
    head.push_str(" t");
    let mut qb = QueryBuilder::<DB>::new(head);
    if let Some(f) = &q.filter {
        qb.push(" WHERE ");
        DB::push_where(&mut qb, f);
    }
    DB::push_order_by(&mut qb, q.order.as_ref());
    qb.push(" LIMIT ");
    qb.push_bind(q.limit);
    qb.push(" OFFSET ");
    qb.push_bind(q.offset);
    qb
}

/// The number of matches of the filter (`totalResults`): a count alone, which the database
/// answers from an index where it can, without reading or sorting the resources.
fn count_query<DB>(prefix: &str, table: ScimTable, q: &ScimQuery) -> QueryBuilder<DB>
where
    DB: Render,
{
    let mut qb = QueryBuilder::<DB>::new(format!("{prefix}SELECT COUNT(*) AS n FROM {} t", table.name()));
    if let Some(f) = &q.filter {
        qb.push(" WHERE ");
        DB::push_where(&mut qb, f);
    }
    qb
}

/// The read transaction a list runs in, so its count and its page see the same rows: SQLite
/// keeps one WAL snapshot from the first read to the end; PostgreSQL's REPEATABLE READ gives
/// both statements one snapshot.
const READ_SNAPSHOT_SQLITE: &str = "BEGIN";
const READ_SNAPSHOT_POSTGRES: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// A keyset page's query, one row over the page (`prefix` is empty, or `EXPLAIN …`).
fn keyset_query<'a, DB>(
    prefix: &str,
    table: ScimTable,
    q: &'a ScimQuery,
    after: Option<&'a After>,
    pg: bool,
) -> QueryBuilder<DB>
where
    DB: Render,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut head = String::from(prefix);
    select_row(&mut head, table, pg);
    let mut qb = QueryBuilder::<DB>::new(head);
    DB::push_sort_key(&mut qb, q.order.as_ref());
    qb.push(format!(" FROM {} t WHERE ", table.name()));
    if let Some(f) = &q.filter {
        qb.push("(");
        DB::push_where(&mut qb, f);
        qb.push(") AND ");
    }
    match after {
        Some(a) => DB::push_after(&mut qb, q.order.as_ref(), a),
        None => {
            qb.push(if pg { "TRUE" } else { "1" });
        }
    }
    DB::push_order_by(&mut qb, q.order.as_ref());
    // One row more than the page says whether there is a next page.
    qb.push(" LIMIT ");
    qb.push_bind(q.limit.max(1) + 1);
    qb
}

/// The database's plan for a query, one line per row of `EXPLAIN [QUERY PLAN]`.
async fn explain<'a, DB>(
    conn: &mut DB::Connection,
    mut qb: QueryBuilder<DB>,
    pg: bool,
) -> StoreResult<Vec<String>>
where
    DB: Render,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    DB::Row: Cols,
{
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(if pg {
                r.try_get::<String>("QUERY PLAN")?
            } else {
                r.try_get::<String>("detail")?
            })
        })
        .collect()
}

/// One page and the total, on either backend: the count first, then the page (skipped when it
/// would be empty). Run inside a read snapshot ([`READ_SNAPSHOT_SQLITE`]).
async fn list_page<DB>(
    conn: &mut DB::Connection,
    table: ScimTable,
    q: &ScimQuery,
    pg: bool,
) -> StoreResult<(i64, Vec<ScimRow>)>
where
    DB: Render,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Row: Cols,
{
    let total: i64 = count_query::<DB>("", table, q)
        .build()
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    let rows = if q.limit > 0 && q.offset < total {
        let found = offset_query::<DB>("", table, q, pg)
            .build()
            .fetch_all(&mut *conn)
            .await?;
        found.iter().map(row_from).collect::<StoreResult<_>>()?
    } else {
        Vec::new()
    };
    Ok((total, rows))
}

/// One keyset page ([`Store::scim_list_after`]).
#[derive(Debug, Clone)]
pub struct ScimPage {
    /// Matches of the filter, on every page.
    pub total: i64,
    pub rows: Vec<ScimRow>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<After>,
}

/// The `sort_key` column as read back, whatever its type on this backend.
fn key_from(row: &impl Cols) -> KeyValue {
    if let Ok(v) = row.try_get::<Option<String>>("sort_key") {
        return v.map_or(KeyValue::Null, KeyValue::Text);
    }
    if let Ok(Some(v)) = row.try_get::<Option<i64>>("sort_key") {
        return KeyValue::Int(v);
    }
    if let Ok(Some(v)) = row.try_get::<Option<bool>>("sort_key") {
        return KeyValue::Bool(v);
    }
    if let Ok(Some(v)) = row.try_get::<Option<f64>>("sort_key") {
        return KeyValue::Real(v);
    }
    KeyValue::Null
}

/// A keyset page: the rows after `after` in list order, found through the order's index
/// rather than by skipping, so a page deep in the list costs what the first one does. The
/// total is a separate `COUNT(*)` over the filter alone, in the same read snapshot.
async fn list_after<DB>(
    conn: &mut DB::Connection,
    table: ScimTable,
    q: &ScimQuery,
    after: Option<&After>,
    pg: bool,
) -> StoreResult<ScimPage>
where
    DB: Render,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Row: Cols,
{
    let mut qb = keyset_query::<DB>("", table, q, after, pg);
    let found = qb.build().fetch_all(&mut *conn).await?;
    let limit = usize::try_from(q.limit.max(1)).unwrap_or(usize::MAX);
    let more = found.len() > limit;
    let mut rows = Vec::with_capacity(found.len().min(limit));
    let mut next = None;
    for (i, r) in found.iter().take(limit).enumerate() {
        let row = row_from(r)?;
        if more && i + 1 == limit {
            next = Some(After {
                key: if q.order.is_some() {
                    key_from(r)
                } else {
                    KeyValue::Null
                },
                created_at: r.try_get("created_at")?,
                id: row.id.clone(),
            });
        }
        rows.push(row);
    }
    let total: i64 = count_query::<DB>("", table, q)
        .build()
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")?;
    Ok(ScimPage { total, rows, next })
}

impl Store {
    /// One keyset page of a filtered, sorted list (RFC 9865 cursors): up to `q.limit` rows
    /// after `after` (from the start when `None`); `q.offset` is ignored. Under the SCIM time
    /// budget like every SCIM call.
    pub async fn scim_list_after(
        &self,
        table: ScimTable,
        q: &ScimQuery,
        after: Option<&After>,
    ) -> StoreResult<ScimPage> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let mut tx = c.begin_with(READ_SNAPSHOT_SQLITE).await?;
                let page = list_after::<sqlx::Sqlite>(&mut tx, table, q, after, false).await?;
                tx.commit().await?;
                Ok(page)
            }
            ScimConn::Postgres(mut c) => {
                let mut tx = c.begin_with(READ_SNAPSHOT_POSTGRES).await?;
                let page = list_after::<sqlx::Postgres>(&mut tx, table, q, after, true).await?;
                tx.commit().await?;
                Ok(page)
            }
        }
    }

    /// The plan of a list query: a keyset page when `keyset` (after `after`), else a
    /// `startIndex` page. For the README's figures and for checking index use.
    pub async fn scim_explain_list(
        &self,
        table: ScimTable,
        q: &ScimQuery,
        keyset: bool,
        after: Option<&After>,
    ) -> StoreResult<Vec<String>> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let qb = if keyset {
                    keyset_query::<sqlx::Sqlite>("EXPLAIN QUERY PLAN ", table, q, after, false)
                } else {
                    offset_query::<sqlx::Sqlite>("EXPLAIN QUERY PLAN ", table, q, false)
                };
                explain::<sqlx::Sqlite>(&mut c, qb, false).await
            }
            ScimConn::Postgres(mut c) => {
                let qb = if keyset {
                    keyset_query::<sqlx::Postgres>("EXPLAIN ", table, q, after, true)
                } else {
                    offset_query::<sqlx::Postgres>("EXPLAIN ", table, q, true)
                };
                explain::<sqlx::Postgres>(&mut c, qb, true).await
            }
        }
    }

    /// How the database runs a `startIndex` page query (not its count): SQLite's `EXPLAIN
    /// QUERY PLAN`; PostgreSQL runs it (`EXPLAIN ANALYZE`) and counts the rows each table's
    /// scans read. For checking that a page reads no more than it returns.
    pub async fn scim_plan_page(&self, table: ScimTable, q: &ScimQuery) -> StoreResult<QueryPlan> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let qb = offset_query::<sqlx::Sqlite>("EXPLAIN QUERY PLAN ", table, q, false);
                Ok(QueryPlan {
                    lines: explain::<sqlx::Sqlite>(&mut c, qb, false).await?,
                    rows_read: HashMap::new(),
                })
            }
            ScimConn::Postgres(mut c) => {
                let mut qb =
                    offset_query::<sqlx::Postgres>("EXPLAIN (ANALYZE, FORMAT JSON) ", table, q, true);
                let row = qb.build().fetch_one(&mut *c).await?;
                let plan: serde_json::Value = sqlx::Row::try_get(&row, "QUERY PLAN")?;
                Ok(QueryPlan::from_postgres(&plan))
            }
        }
    }

    /// The plan of [`Store::scim_get`] for `id`.
    pub async fn scim_explain_get(&self, table: ScimTable, id: &str) -> StoreResult<Vec<String>> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "EXPLAIN QUERY PLAN {}",
                    get_sql(table, false)
                )))
                .bind(id)
                .fetch_all(&mut *c)
                .await?;
                rows.iter().map(|r| Ok(r.try_get::<String>("detail")?)).collect()
            }
            ScimConn::Postgres(mut c) => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {}", get_sql(table, true))))
                    .bind(id)
                    .fetch_all(&mut *c)
                    .await?;
                rows.iter()
                    .map(|r| Ok(r.try_get::<String>("QUERY PLAN")?))
                    .collect()
            }
        }
    }

    /// Inserts many users in one transaction per call, for seeding benchmarks (and imports):
    /// no group members, no uniqueness retry. A clash fails the whole batch.
    pub async fn scim_insert_users(&self, users: &[ScimSeed]) -> StoreResult<()> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let mut tx = c.begin_with("BEGIN IMMEDIATE").await?;
                for u in users {
                    sqlx::query(
                        "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
                         version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
                    )
                    .bind(&u.id)
                    .bind(&u.user_name)
                    .bind(u.user_name.to_lowercase())
                    .bind(&u.external_id)
                    .bind(u.active)
                    .bind(&u.resource)
                    .bind(to_millis(u.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| unique_or(e, ScimTable::Users))?;
                }
                tx.commit().await?;
            }
            ScimConn::Postgres(mut c) => {
                // One statement per batch: the columns as arrays, unnested.
                let col = |f: &dyn Fn(&ScimSeed) -> String| users.iter().map(f).collect::<Vec<String>>();
                sqlx::query(
                    "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
                     version, created_at, updated_at) \
                     SELECT i, n, k, e, a, r::jsonb, 1, c, c \
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::bigint[]) \
                     AS s(i, n, k, e, a, r, c)",
                )
                .bind(col(&|u| u.id.clone()))
                .bind(col(&|u| u.user_name.clone()))
                .bind(col(&|u| u.user_name.to_lowercase()))
                .bind(users.iter().map(|u| u.external_id.clone()).collect::<Vec<Option<String>>>())
                .bind(users.iter().map(|u| u.active).collect::<Vec<bool>>())
                .bind(col(&|u| u.resource.clone()))
                .bind(users.iter().map(|u| to_millis(u.created_at)).collect::<Vec<i64>>())
                .execute(&mut *c)
                .await
                .map_err(|e| unique_or(e, ScimTable::Users))?;
            }
        }
        Ok(())
    }

    /// Refreshes the planner's statistics (after a bulk load; PostgreSQL's autovacuum and
    /// SQLite's `PRAGMA optimize` do it in their own time otherwise).
    pub async fn scim_analyze(&self) -> StoreResult<()> {
        on_pool!(self, p => {
            sqlx::query("ANALYZE").execute(p).await?;
            Ok(())
        })
    }

    /// The key that signs SCIM cursors, the same for every instance on this database: the
    /// first caller's `candidate` is stored, every later caller reads it back.
    pub async fn scim_cursor_key(&self, candidate: &[u8], now: OffsetDateTime) -> StoreResult<Vec<u8>> {
        on_pool!(self, p => {
            sqlx::query(
                "INSERT INTO scim_cursor_keys (id, secret, created_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(candidate)
            .bind(to_millis(now))
            .execute(p)
            .await?;
            Ok(sqlx::query_scalar("SELECT secret FROM scim_cursor_keys WHERE id = 1")
                .fetch_one(p)
                .await?)
        })
    }

    /// A SCIM connection under the time budget. SQLite: a progress handler interrupts its
    /// statements once the budget has passed; it is set afresh on every checkout, so one left
    /// by an abandoned call never outlives its own. PostgreSQL: the connection's
    /// `statement_timeout` (set when it was opened, store/postgres.rs).
    async fn scim_conn(&self) -> StoreResult<ScimConn> {
        Ok(match &self.scim {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                let deadline = Instant::now() + self.settings.scim_query_budget;
                conn.lock_handle()
                    .await?
                    .set_progress_handler(BUDGET_CHECK_STEPS, move || Instant::now() < deadline);
                ScimConn::Sqlite(conn)
            }
            Pool::Postgres(p) => ScimConn::Postgres(p.acquire().await?),
        })
    }

    /// Inserts a resource. `Ok(None)`: a group member named in `w` no longer exists.
    pub async fn scim_insert(
        &self,
        table: ScimTable,
        w: &ScimWrite<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ScimRow>> {
        let now = stored_precision(now);
        on_scim!(self, c, pg => {
            let mut tx = c.begin_with(if pg { "BEGIN" } else { "BEGIN IMMEDIATE" }).await?;
            if table == ScimTable::Groups && !tx.members_exist(w.members).await? {
                return Ok(None); // the transaction rolls back on drop
            }
            let sql = match (table, pg) {
                (ScimTable::Users, false) => {
                    "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
                     version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)"
                }
                (ScimTable::Users, true) => {
                    "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
                     version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, 1, $7, $8)"
                }
                (ScimTable::Groups, false) => {
                    "INSERT INTO scim_groups (id, display_name, display_name_key, external_id, resource, \
                     version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $7)"
                }
                (ScimTable::Groups, true) => {
                    "INSERT INTO scim_groups (id, display_name, display_name_key, external_id, resource, \
                     version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, 1, $6, $7)"
                }
            };
            let mut q = sqlx::query(sql)
                .bind(w.id)
                .bind(w.unique)
                .bind(w.unique.to_lowercase())
                .bind(w.external_id);
            if table == ScimTable::Users {
                q = q.bind(w.active);
            }
            q.bind(w.resource)
                .bind(to_millis(now))
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_or(e, table))?;
            if table == ScimTable::Users {
                // Reports that named this user's externalId before it existed now show it.
                bump_reports!(tx, pg, w.id, [Some(w.id), w.external_id, None], now);
            }
            if table == ScimTable::Groups {
                tx.set_members(w.id, w.members).await?;
            }
            tx.commit().await?;
            Ok(Some(ScimRow {
                id: w.id.to_owned(),
                resource: w.resource.to_owned(),
                version: 1,
                created_at: now,
                updated_at: now,
                groups: None,
            }))
        })
    }

    pub async fn scim_get(&self, table: ScimTable, id: &str) -> StoreResult<Option<ScimRow>> {
        on_scim!(self, c, pg => {
            let row = sqlx::query(get_sql(table, pg)).bind(id).fetch_optional(&mut *c).await?;
            row.as_ref().map(row_from).transpose()
        })
    }

    /// Replaces a resource if it is still at `expected_version`. `Ok(None)`: it has changed
    /// (or gone) since it was read, or a group member named in `w` no longer exists. A deadlock
    /// victim ([`is_deadlock`]) is run again: it rolled back, so the version it expects is
    /// still the stored one unless another write won meanwhile.
    pub async fn scim_replace(
        &self,
        table: ScimTable,
        w: &ScimWrite<'_>,
        expected_version: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ScimRow>> {
        let mut attempt = 1;
        loop {
            match self.scim_replace_once(table, w, expected_version, now).await {
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_ATTEMPTS => {
                    tracing::info!(
                        attempt,
                        "SCIM write chosen as a deadlock victim; running it again"
                    );
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn scim_replace_once(
        &self,
        table: ScimTable,
        w: &ScimWrite<'_>,
        expected_version: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ScimRow>> {
        let now = stored_precision(now);
        on_scim!(self, c, pg => {
            let mut tx = c.begin_with(if pg { "BEGIN" } else { "BEGIN IMMEDIATE" }).await?;
            if table == ScimTable::Groups && !tx.members_exist(w.members).await? {
                return Ok(None);
            }
            let shown_before: Option<(String, Option<String>)> = if table == ScimTable::Users {
                sqlx::query_as(if pg { SHOWN_POSTGRES } else { SHOWN_SQLITE })
                    .bind(w.id)
                    .bind(expected_version)
                    .fetch_optional(&mut *tx)
                    .await?
            } else {
                None
            };
            let old_external = shown_before.as_ref().and_then(|(_, e)| e.as_deref());
            // Reports show this user's name, and find it by id or externalId: when either
            // changes, they get a new version too.
            let bump = shown_before.as_ref().is_some_and(|(shown, external)| {
                *shown != shown_name(w) || external.as_deref() != w.external_id
            });
            let reports_of: [Option<&str>; 3] = [Some(w.id), old_external, w.external_id];
            if bump && pg {
                // This user and its reports, locked in id order before any is written: two
                // users who manage each other, written at once, would otherwise each lock their
                // own row first and deadlock on the other's.
                sqlx::query(LOCK_WITH_REPORTS_POSTGRES)
                    .bind(w.id)
                    .bind(reports_of[0])
                    .bind(reports_of[1])
                    .bind(reports_of[2])
                    .fetch_all(&mut *tx)
                    .await?;
            }
            let sql = match (table, pg) {
                (ScimTable::Users, false) => {
                    "UPDATE scim_users SET user_name = $1, user_name_key = $2, external_id = $3, \
                     active = $4, resource = $5, version = version + 1, updated_at = $6 \
                     WHERE id = $7 AND version = $8 \
                     RETURNING id, resource, version, created_at, updated_at"
                }
                (ScimTable::Users, true) => {
                    "UPDATE scim_users AS t SET user_name = $1, user_name_key = $2, external_id = $3, \
                     active = $4, resource = $5::jsonb, version = t.version + 1, updated_at = $6 \
                     WHERE t.id = $7 AND t.version = $8 \
                     RETURNING t.id, t.resource::text AS resource, t.version, t.created_at, t.updated_at"
                }
                (ScimTable::Groups, false) => {
                    "UPDATE scim_groups SET display_name = $1, display_name_key = $2, external_id = $3, \
                     resource = $4, version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7 \
                     RETURNING id, resource, version, created_at, updated_at"
                }
                (ScimTable::Groups, true) => {
                    "UPDATE scim_groups AS t SET display_name = $1, display_name_key = $2, external_id = $3, \
                     resource = $4::jsonb, version = t.version + 1, updated_at = $5 \
                     WHERE t.id = $6 AND t.version = $7 \
                     RETURNING t.id, t.resource::text AS resource, t.version, t.created_at, t.updated_at"
                }
            };
            let mut q = sqlx::query(sql)
                .bind(w.unique)
                .bind(w.unique.to_lowercase())
                .bind(w.external_id);
            if table == ScimTable::Users {
                q = q.bind(w.active);
            }
            let row = q
                .bind(w.resource)
                .bind(to_millis(now))
                .bind(w.id)
                .bind(expected_version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| unique_or(e, table))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let row = row_from(&row)?;
            if bump {
                bump_reports!(tx, pg, w.id, reports_of, now);
            }
            if table == ScimTable::Groups {
                tx.set_members(w.id, w.members).await?;
            }
            tx.commit().await?;
            Ok(Some(row))
        })
    }

    /// One page of a filtered, sorted list, and the total number of matches. Like every SCIM
    /// call it runs under the time budget ([`super::PoolSettings::scim_query_budget`]), so no
    /// filter holds a connection for long.
    pub async fn scim_list(&self, table: ScimTable, q: &ScimQuery) -> StoreResult<(i64, Vec<ScimRow>)> {
        match self.scim_conn().await? {
            ScimConn::Sqlite(mut c) => {
                let mut tx = c.begin_with(READ_SNAPSHOT_SQLITE).await?;
                let page = list_page::<sqlx::Sqlite>(&mut tx, table, q, false).await?;
                tx.commit().await?;
                Ok(page)
            }
            ScimConn::Postgres(mut c) => {
                let mut tx = c.begin_with(READ_SNAPSHOT_POSTGRES).await?;
                let page = list_page::<sqlx::Postgres>(&mut tx, table, q, true).await?;
                tx.commit().await?;
                Ok(page)
            }
        }
    }

    /// Deletes a group (if it is at `expected_version`, when given) and removes it from the
    /// groups it was a member of, all in one write transaction: each parent's JSON and version
    /// change together with the membership rows, so a concurrent writer of a parent sees the
    /// new version and re-reads instead of writing back the deleted member.
    pub async fn scim_delete_group(
        &self,
        id: &str,
        expected_version: Option<i64>,
        now: OffsetDateTime,
    ) -> StoreResult<GroupDelete> {
        let now = stored_precision(now);
        on_scim!(self, c, pg => {
            let mut tx = c.begin_with(if pg { "BEGIN" } else { "BEGIN IMMEDIATE" }).await?;
            // PostgreSQL: lock the group, then its parents (the order every writer takes: a
            // member before the group that contains it, see [`Members`]). Once the group is
            // locked no new membership naming it can commit, and the parents are read after
            // that, so none is missed and no parent's concurrent write is lost.
            let version: Option<i64> = sqlx::query_scalar(if pg {
                "SELECT version FROM scim_groups WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT version FROM scim_groups WHERE id = $1"
            })
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match (version, expected_version) {
                (None, _) => return Ok(GroupDelete::Missing),
                (Some(v), Some(e)) if v != e => return Ok(GroupDelete::Changed(v)),
                _ => {}
            }
            let parents = sqlx::query(if pg {
                "SELECT g.id, g.resource::text AS resource FROM scim_groups g \
                 JOIN scim_group_members m ON m.group_id = g.id WHERE m.member_id = $1 \
                 ORDER BY g.id FOR UPDATE OF g"
            } else {
                "SELECT g.id, g.resource FROM scim_groups g JOIN scim_group_members m ON m.group_id = g.id \
                 WHERE m.member_id = $1"
            })
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            for parent in &parents {
                let pid: String = parent.try_get("id")?;
                let text: String = parent.try_get("resource")?;
                let mut resource: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("group {pid}: {e}")))?;
                if let Some(members) = resource.get_mut("members").and_then(|m| m.as_array_mut()) {
                    members.retain(|m| m.get("value").and_then(|v| v.as_str()) != Some(id));
                    if members.is_empty()
                        && let Some(obj) = resource.as_object_mut()
                    {
                        obj.remove("members");
                    }
                }
                sqlx::query(if pg {
                    "UPDATE scim_groups SET resource = $1::jsonb, version = version + 1, updated_at = $2 \
                     WHERE id = $3"
                } else {
                    "UPDATE scim_groups SET resource = $1, version = version + 1, updated_at = $2 WHERE id = $3"
                })
                .bind(resource.to_string())
                .bind(to_millis(now))
                .bind(&pid)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("DELETE FROM scim_group_members WHERE member_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM scim_groups WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(GroupDelete::Deleted)
        })
    }

    /// Which of `ids` exist as users or groups, with their display names.
    pub async fn scim_member_targets(&self, ids: &[String]) -> StoreResult<Vec<MemberTarget>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, i64, String)> = match self.scim_conn().await? {
            ScimConn::Sqlite(mut p) => {
                let list = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT id, 0 AS is_group, user_name AS display FROM scim_users \
                     WHERE id IN (SELECT value FROM json_each($1)) \
                     UNION ALL SELECT id, 1 AS is_group, display_name AS display FROM scim_groups \
                     WHERE id IN (SELECT value FROM json_each($1))",
                )
                .bind(list)
                .fetch_all(&mut *p)
                .await?
            }
            ScimConn::Postgres(mut p) => {
                sqlx::query_as(
                    "SELECT id, 0::bigint AS is_group, user_name AS display FROM scim_users \
                     WHERE id = ANY($1) \
                     UNION ALL SELECT id, 1::bigint AS is_group, display_name AS display FROM scim_groups \
                     WHERE id = ANY($1)",
                )
                .bind(ids)
                .fetch_all(&mut *p)
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(id, is_group, display)| MemberTarget {
                id,
                is_group: is_group == 1,
                display,
            })
            .collect())
    }

    /// The groups each of `user_ids` is a direct member of: (group id, displayName).
    pub async fn scim_groups_of(
        &self,
        user_ids: &[String],
    ) -> StoreResult<HashMap<String, Vec<(String, String)>>> {
        let mut out: HashMap<String, Vec<(String, String)>> = HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String, String)> = match self.scim_conn().await? {
            ScimConn::Sqlite(mut p) => {
                let list = serde_json::to_string(user_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT m.member_id, g.id, g.display_name FROM scim_group_members m \
                     JOIN scim_groups g ON g.id = m.group_id \
                     WHERE m.member_id IN (SELECT value FROM json_each($1)) ORDER BY g.display_name_key",
                )
                .bind(list)
                .fetch_all(&mut *p)
                .await?
            }
            ScimConn::Postgres(mut p) => {
                sqlx::query_as(
                    "SELECT m.member_id, g.id, g.display_name FROM scim_group_members m \
                     JOIN scim_groups g ON g.id = m.group_id \
                     WHERE m.member_id = ANY($1) ORDER BY g.display_name_key",
                )
                .bind(user_ids)
                .fetch_all(&mut *p)
                .await?
            }
        };
        for (member, id, name) in rows {
            out.entry(member).or_default().push((id, name));
        }
        Ok(out)
    }

    /// Resolves user references (the Enterprise User extension's `manager.value`): each key
    /// that is a user's `id`, or else the `externalId` of exactly one user, maps to that user's
    /// (id, display name), the display name being its `displayName`, else its `userName`.
    /// Keys that name no user are left out.
    pub async fn scim_user_refs(&self, keys: &[String]) -> StoreResult<HashMap<String, (String, String)>> {
        let mut out = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String, String, i64)> = match self.scim_conn().await? {
            ScimConn::Sqlite(mut p) => {
                let list = serde_json::to_string(keys).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT k.value AS key, u.id, \
                            COALESCE(json_extract(u.resource, '$.displayName'), u.user_name) AS name, 0 AS by_external \
                     FROM json_each($1) AS k JOIN scim_users u ON u.id = k.value \
                     UNION ALL \
                     SELECT k.value, u.id, COALESCE(json_extract(u.resource, '$.displayName'), u.user_name), 1 \
                     FROM json_each($1) AS k JOIN scim_users u ON u.external_id = k.value \
                     ORDER BY 4, 2",
                )
                .bind(list)
                .fetch_all(&mut *p)
                .await?
            }
            ScimConn::Postgres(mut p) => {
                sqlx::query_as(
                    "SELECT k AS key, u.id, COALESCE(u.resource ->> 'displayName', u.user_name) AS name, \
                            0::bigint AS by_external \
                     FROM unnest($1::text[]) AS k JOIN scim_users u ON u.id = k \
                     UNION ALL \
                     SELECT k, u.id, COALESCE(u.resource ->> 'displayName', u.user_name), 1::bigint \
                     FROM unnest($1::text[]) AS k JOIN scim_users u ON u.external_id = k \
                     ORDER BY 4, 2",
                )
                .bind(keys)
                .fetch_all(&mut *p)
                .await?
            }
        };
        let mut by_external: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (key, id, name, external) in rows {
            if external == 0 {
                out.insert(key, (id, name));
            } else {
                by_external.entry(key).or_default().push((id, name));
            }
        }
        for (key, mut users) in by_external {
            // An externalId shared by several users names none of them.
            if users.len() == 1 && !out.contains_key(&key) {
                out.insert(key, users.remove(0));
            }
        }
        Ok(out)
    }
}

/// One resource by id (with a user's groups).
fn get_sql(table: ScimTable, pg: bool) -> &'static str {
    match (table, pg) {
        (ScimTable::Users, false) => concat!(
            "SELECT ",
            row_columns!(sqlite),
            ", ",
            user_groups_column!(sqlite),
            " FROM scim_users t WHERE t.id = $1"
        ),
        (ScimTable::Users, true) => concat!(
            "SELECT ",
            row_columns!(postgres),
            ", ",
            user_groups_column!(postgres),
            " FROM scim_users t WHERE t.id = $1"
        ),
        (ScimTable::Groups, false) => {
            concat!(
                "SELECT ",
                row_columns!(sqlite),
                " FROM scim_groups t WHERE t.id = $1"
            )
        }
        (ScimTable::Groups, true) => {
            concat!(
                "SELECT ",
                row_columns!(postgres),
                " FROM scim_groups t WHERE t.id = $1"
            )
        }
    }
}

/// A user for [`Store::scim_insert_users`].
#[derive(Debug, Clone)]
pub struct ScimSeed {
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// The SCIM JSON without id and meta.
    pub resource: String,
    pub created_at: OffsetDateTime,
}

fn unique_or(e: sqlx::Error, table: ScimTable) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(table.unique_attr())
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        (dir, Store::open(&url).await.unwrap())
    }

    fn user<'a>(id: &'a str, name: &'a str, resource: &'a str) -> ScimWrite<'a> {
        ScimWrite {
            id,
            unique: name,
            external_id: None,
            active: true,
            resource,
            members: &[],
        }
    }

    #[tokio::test]
    async fn user_name_is_unique_regardless_of_case_and_versions_guard_replace() {
        let (_d, s) = store().await;
        let now = OffsetDateTime::UNIX_EPOCH;
        s.scim_insert(ScimTable::Users, &user("u1", "Ann@example.com", "{}"), now)
            .await
            .unwrap()
            .unwrap();
        let clash = s
            .scim_insert(ScimTable::Users, &user("u2", "ann@EXAMPLE.com", "{}"), now)
            .await;
        assert!(matches!(clash, Err(StoreError::Conflict("userName"))));
        let w = user("u1", "ann@example.com", r#"{"a":1}"#);
        assert!(
            s.scim_replace(ScimTable::Users, &w, 7, now)
                .await
                .unwrap()
                .is_none()
        );
        let row = s
            .scim_replace(ScimTable::Users, &w, 1, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.version, 2);
        assert_eq!(
            s.scim_get(ScimTable::Users, "u1")
                .await
                .unwrap()
                .unwrap()
                .resource,
            r#"{"a":1}"#
        );
    }

    #[tokio::test]
    async fn bulk_inserted_users_read_back_in_creation_order_and_clashes_insert_nothing() {
        let (_d, s) = store().await;
        let at = |ms| OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms);
        let seed = |id: &str, name: &str, ms| ScimSeed {
            id: id.into(),
            user_name: name.into(),
            external_id: None,
            active: true,
            resource: format!(r#"{{"userName":"{name}"}}"#),
            created_at: at(ms),
        };
        s.scim_insert_users(&[seed("b", "B@x.io", 2), seed("a", "a@x.io", 1)])
            .await
            .unwrap();
        let clash = s
            .scim_insert_users(&[seed("c", "c@x.io", 3), seed("d", "b@X.IO", 4)])
            .await;
        assert!(matches!(clash, Err(StoreError::Conflict("userName"))));
        let q = ScimQuery {
            limit: 10,
            ..ScimQuery::default()
        };
        let page = s.scim_list_after(ScimTable::Users, &q, None).await.unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(
            page.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(page.next.is_none());
        assert_eq!(page.rows[1].created_at, at(2));
        s.scim_analyze().await.unwrap();
        let plan = s
            .scim_explain_get(ScimTable::Users, "a")
            .await
            .unwrap()
            .join("\n");
        assert!(plan.contains("USING INDEX"), "{plan}");
    }

    #[tokio::test]
    async fn deleting_a_group_removes_it_from_its_parents() {
        let (_d, s) = store().await;
        let now = OffsetDateTime::UNIX_EPOCH;
        fn group<'a>(id: &'a str, name: &'a str, resource: &'a str, members: &'a [String]) -> ScimWrite<'a> {
            ScimWrite {
                id,
                unique: name,
                external_id: None,
                active: true,
                resource,
                members,
            }
        }
        s.scim_insert(ScimTable::Groups, &group("child", "Child", "{}", &[]), now)
            .await
            .unwrap();
        let members = ["child".to_string()];
        let parent = group("parent", "Parent", r#"{"members":[{"value":"child"}]}"#, &members);
        s.scim_insert(ScimTable::Groups, &parent, now).await.unwrap();
        assert_eq!(
            s.scim_groups_of(&["child".to_string()]).await.unwrap()["child"],
            [("parent".to_string(), "Parent".to_string())]
        );
        assert_eq!(
            s.scim_delete_group("child", Some(7), now).await.unwrap(),
            GroupDelete::Changed(1)
        );
        assert_eq!(
            s.scim_delete_group("child", Some(1), now).await.unwrap(),
            GroupDelete::Deleted
        );
        let parent = s.scim_get(ScimTable::Groups, "parent").await.unwrap().unwrap();
        assert_eq!(parent.resource, "{}");
        assert_eq!(parent.version, 2);
        assert_eq!(
            s.scim_delete_group("child", None, now).await.unwrap(),
            GroupDelete::Missing
        );
        // A write naming a member that does not exist is not made.
        let ghost = ["ghost".to_string()];
        let g = group("g2", "G2", "{}", &ghost);
        assert!(s.scim_insert(ScimTable::Groups, &g, now).await.unwrap().is_none());
        assert!(s.scim_get(ScimTable::Groups, "g2").await.unwrap().is_none());
    }
}
