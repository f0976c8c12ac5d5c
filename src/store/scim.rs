//! SCIM users and groups. Resources are stored as their SCIM JSON plus the columns that must be
//! unique or indexed; list queries take a WHERE fragment built by the SCIM filter translator,
//! whose values always arrive as bound arguments.

use super::{Store, StoreError, StoreResult, is_unique_violation};
use crate::clock::{from_millis, to_millis};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use time::OffsetDateTime;

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

/// A bound argument of a translated filter or sort expression.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlArg {
    Text(String),
    Int(i64),
    Real(f64),
}

/// A piece of SQL over the table alias `t` with anonymous `?` placeholders, and their values
/// in order. The SQL text never contains client input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlFragment {
    pub sql: String,
    pub args: Vec<SqlArg>,
}

#[derive(Debug, Clone, Default)]
pub struct ScimQuery {
    pub filter: Option<SqlFragment>,
    /// Sort expression and whether it is descending.
    pub order: Option<(SqlFragment, bool)>,
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
    () => {
        "(SELECT json_group_array(json_array(g.id, g.display_name)) FROM scim_group_members m \
         JOIN scim_groups g ON g.id = m.group_id WHERE m.member_id = t.id) AS groups"
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

type Tx<'c> = sqlx::Transaction<'c, sqlx::Sqlite>;

fn bind_args<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    args: &'q [SqlArg],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for a in args {
        q = match a {
            SqlArg::Text(s) => q.bind(s.as_str()),
            SqlArg::Int(i) => q.bind(*i),
            SqlArg::Real(f) => q.bind(*f),
        };
    }
    q
}

fn row_from(row: &sqlx::sqlite::SqliteRow) -> StoreResult<ScimRow> {
    let groups = match row.try_get::<Option<String>, _>("groups") {
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

impl Store {
    pub async fn scim_insert(
        &self,
        table: ScimTable,
        w: &ScimWrite<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<ScimRow> {
        let mut tx = self.sqlite_pool()?.begin_with("BEGIN IMMEDIATE").await?;
        let q = match table {
            ScimTable::Users => sqlx::query(
                "INSERT INTO scim_users (id, user_name, user_name_key, external_id, active, resource, \
                 version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind(w.id)
            .bind(w.unique)
            .bind(w.unique.to_lowercase())
            .bind(w.external_id)
            .bind(w.active),
            ScimTable::Groups => sqlx::query(
                "INSERT INTO scim_groups (id, display_name, display_name_key, external_id, resource, \
                 version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind(w.id)
            .bind(w.unique)
            .bind(w.unique.to_lowercase())
            .bind(w.external_id),
        };
        q.bind(w.resource)
            .bind(to_millis(now))
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_or(e, table))?;
        if table == ScimTable::Groups {
            Self::scim_set_members(&mut tx, w.id, w.members).await?;
        }
        tx.commit().await?;
        Ok(ScimRow {
            id: w.id.to_owned(),
            resource: w.resource.to_owned(),
            version: 1,
            created_at: now,
            updated_at: now,
            groups: None,
        })
    }

    async fn scim_set_members(tx: &mut Tx<'_>, group_id: &str, members: &[String]) -> StoreResult<()> {
        sqlx::query("DELETE FROM scim_group_members WHERE group_id = ?")
            .bind(group_id)
            .execute(&mut **tx)
            .await?;
        for m in members {
            sqlx::query("INSERT OR IGNORE INTO scim_group_members (group_id, member_id) VALUES (?, ?)")
                .bind(group_id)
                .bind(m)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn scim_get(&self, table: ScimTable, id: &str) -> StoreResult<Option<ScimRow>> {
        let sql = match table {
            ScimTable::Users => concat!(
                "SELECT t.id, t.resource, t.version, t.created_at, t.updated_at, ",
                user_groups_column!(),
                " FROM scim_users t WHERE t.id = ?"
            ),
            ScimTable::Groups => {
                "SELECT id, resource, version, created_at, updated_at FROM scim_groups WHERE id = ?"
            }
        };
        let row = sqlx::query(sql).bind(id).fetch_optional(self.sqlite_pool()?).await?;
        row.as_ref().map(row_from).transpose()
    }

    /// Replaces a resource if it is still at `expected_version`. `Ok(None)`: it has changed
    /// (or gone) since it was read.
    pub async fn scim_replace(
        &self,
        table: ScimTable,
        w: &ScimWrite<'_>,
        expected_version: i64,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ScimRow>> {
        let mut tx = self.sqlite_pool()?.begin_with("BEGIN IMMEDIATE").await?;
        let q = match table {
            ScimTable::Users => sqlx::query(
                "UPDATE scim_users SET user_name = ?, user_name_key = ?, external_id = ?, active = ?, \
                 resource = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ? \
                 RETURNING id, resource, version, created_at, updated_at",
            )
            .bind(w.unique)
            .bind(w.unique.to_lowercase())
            .bind(w.external_id)
            .bind(w.active),
            ScimTable::Groups => sqlx::query(
                "UPDATE scim_groups SET display_name = ?, display_name_key = ?, external_id = ?, \
                 resource = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ? \
                 RETURNING id, resource, version, created_at, updated_at",
            )
            .bind(w.unique)
            .bind(w.unique.to_lowercase())
            .bind(w.external_id),
        };
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
        if table == ScimTable::Groups {
            Self::scim_set_members(&mut tx, w.id, w.members).await?;
        }
        tx.commit().await?;
        Ok(Some(row_from(&row)?))
    }

    /// One page of a filtered, sorted list, and the total number of matches.
    pub async fn scim_list(&self, table: ScimTable, q: &ScimQuery) -> StoreResult<(i64, Vec<ScimRow>)> {
        let from = format!("FROM {} t", table.name());
        let where_sql = q
            .filter
            .as_ref()
            .map(|f| format!(" WHERE {}", f.sql))
            .unwrap_or_default();
        let no_args = Vec::new();
        let filter_args = q.filter.as_ref().map(|f| &f.args).unwrap_or(&no_args);

        if q.limit > 0 {
            let (order_sql, order_args) = match &q.order {
                Some((expr, desc)) => (
                    format!(
                        "ORDER BY ({}) IS NULL, ({}) {}, t.created_at, t.id",
                        expr.sql,
                        expr.sql,
                        if *desc { "DESC" } else { "ASC" }
                    ),
                    [expr.args.clone(), expr.args.clone()].concat(),
                ),
                None => ("ORDER BY t.created_at, t.id".to_owned(), Vec::new()),
            };
            let groups = match table {
                ScimTable::Users => concat!(", ", user_groups_column!()),
                ScimTable::Groups => "",
            };
            // The total rides along as a window count, so a page is one round trip.
            let page_sql = format!(
                "SELECT t.id, t.resource, t.version, t.created_at, t.updated_at{groups}, \
                 COUNT(*) OVER () AS total {from}{where_sql} {order_sql} LIMIT ? OFFSET ?"
            );
            let mut args = filter_args.clone();
            args.extend(order_args);
            args.push(SqlArg::Int(q.limit));
            args.push(SqlArg::Int(q.offset));
            let rows = bind_args(sqlx::query(AssertSqlSafe(page_sql)), &args)
                .fetch_all(self.sqlite_pool()?)
                .await?;
            if let Some(first) = rows.first() {
                let total: i64 = first.try_get("total")?;
                return Ok((total, rows.iter().map(row_from).collect::<StoreResult<_>>()?));
            }
        }
        // No rows on this page (count=0, or startIndex past the end): count on its own.
        let count_sql = format!("SELECT COUNT(*) AS n {from}{where_sql}");
        let total: i64 = bind_args(sqlx::query(AssertSqlSafe(count_sql)), filter_args)
            .fetch_one(self.sqlite_pool()?)
            .await?
            .try_get("n")?;
        Ok((total, Vec::new()))
    }

    /// Deletes a group and removes it from the groups it was a member of.
    pub async fn scim_delete_group(&self, id: &str, now: OffsetDateTime) -> StoreResult<bool> {
        let mut tx = self.sqlite_pool()?.begin_with("BEGIN IMMEDIATE").await?;
        let parents = sqlx::query(
            "SELECT g.id, g.resource FROM scim_groups g JOIN scim_group_members m ON m.group_id = g.id \
             WHERE m.member_id = ?",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for parent in &parents {
            let pid: String = parent.try_get("id")?;
            let text: String = parent.try_get("resource")?;
            let mut resource: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("group {pid}: {e}")))?;
            if let Some(members) = resource.get_mut("members").and_then(|m| m.as_array_mut()) {
                members.retain(|m| m.get("value").and_then(|v| v.as_str()) != Some(id));
                if members.is_empty()
                    && let Some(obj) = resource.as_object_mut()
                {
                    obj.remove("members");
                }
            }
            sqlx::query(
                "UPDATE scim_groups SET resource = ?, version = version + 1, updated_at = ? WHERE id = ?",
            )
            .bind(resource.to_string())
            .bind(to_millis(now))
            .bind(&pid)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM scim_group_members WHERE member_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM scim_groups WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Which of `ids` exist as users or groups, with their display names.
    pub async fn scim_member_targets(&self, ids: &[String]) -> StoreResult<Vec<MemberTarget>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT id, 0 AS is_group, user_name AS display FROM scim_users \
             WHERE id IN (SELECT value FROM json_each(?1)) \
             UNION ALL SELECT id, 1 AS is_group, display_name AS display FROM scim_groups \
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(self.sqlite_pool()?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberTarget {
                    id: r.try_get("id")?,
                    is_group: r.try_get::<i64, _>("is_group")? == 1,
                    display: r.try_get("display")?,
                })
            })
            .collect()
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
        let list = serde_json::to_string(user_ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT m.member_id, g.id, g.display_name FROM scim_group_members m \
             JOIN scim_groups g ON g.id = m.group_id \
             WHERE m.member_id IN (SELECT value FROM json_each(?)) ORDER BY g.display_name_key",
        )
        .bind(list)
        .fetch_all(self.sqlite_pool()?)
        .await?;
        for r in &rows {
            out.entry(r.try_get("member_id")?)
                .or_default()
                .push((r.try_get("id")?, r.try_get("display_name")?));
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
        let list = serde_json::to_string(keys).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT k.value AS key, u.id, \
                    COALESCE(json_extract(u.resource, '$.displayName'), u.user_name) AS name, 0 AS by_external \
             FROM json_each(?1) AS k JOIN scim_users u ON u.id = k.value \
             UNION ALL \
             SELECT k.value, u.id, COALESCE(json_extract(u.resource, '$.displayName'), u.user_name), 1 \
             FROM json_each(?1) AS k JOIN scim_users u ON u.external_id = k.value \
             ORDER BY 4, 2",
        )
        .bind(list)
        .fetch_all(&self.pool)
        .await?;
        let mut by_external: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for r in &rows {
            let key: String = r.try_get("key")?;
            let user = (r.try_get("id")?, r.try_get("name")?);
            if r.try_get::<i64, _>("by_external")? == 0 {
                out.insert(key, user);
            } else {
                by_external.entry(key).or_default().push(user);
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
        assert!(s.scim_delete_group("child", now).await.unwrap());
        let parent = s.scim_get(ScimTable::Groups, "parent").await.unwrap().unwrap();
        assert_eq!(parent.resource, "{}");
        assert_eq!(parent.version, 2);
        assert!(!s.scim_delete_group("child", now).await.unwrap());
    }
}
