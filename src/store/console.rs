//! The console's tables: admins, sessions, login attempts, apps, tokens, keys, settings, audit.
//! Reads are on [`Store`]; writes are primitives on [`Tx`].

use super::{
    Cols, Store, StoreError, StoreResult, Tx, TxInner, on_pool, on_tx, parse_enum, parse_uuid, unique_as,
};

/// The first key of PostgreSQL advisory locks on sign-in attempts (the second is the
/// username's hash).
const ADVISORY_LOGIN: i32 = 0x6463_0001;
/// The same for the client address of sign-in attempts (the second key is the address's hash).
const ADVISORY_LOGIN_ADDRESS: i32 = 0x6463_0003;
/// The PostgreSQL advisory lock held while the first signing key is created.
const ADVISORY_KEYS: i32 = 0x6463_0002;
use crate::clock::{from_millis, to_millis};
use crate::wire::{Admin, AppType, AuditAction, AuditEvent, Outcome, Role, SsoSettings, TokenState};
use time::OffsetDateTime;
use uuid::Uuid;

/// An admin as stored, with the password hash the HTTP layer needs for login.
#[derive(Clone)]
pub struct AdminRecord {
    pub admin: Admin,
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for AdminRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminRecord")
            .field("admin", &self.admin)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// What [`Store::record_token_use`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// This use is now the token's last recorded use.
    Recorded,
    /// Not written: a use at this time (after the cut-off) is already on record.
    Recent(OffsetDateTime),
    /// The token is no longer active (revoked, expired or gone).
    NotActive,
}

/// A session and the admin behind it.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub admin: Admin,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// A client app as stored.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub id: Uuid,
    pub app_type: AppType,
    pub name: String,
    pub description: String,
    pub client_id: String,
    pub client_secret_digest: String,
    pub scim_enabled: bool,
    pub service_account: Option<String>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// (admin id, username) of each member, sorted by username.
    pub members: Vec<(Uuid, String)>,
}

impl AppRecord {
    pub fn is_member(&self, admin_id: Uuid) -> bool {
        self.members.iter().any(|(id, _)| *id == admin_id)
    }
}

/// An app name with the keys that make it unique; see [`crate::validate::AppName`].
pub struct NameKeys<'a> {
    pub name: &'a str,
    /// Lower case: the pre-0002 uniqueness key, kept in step.
    pub key: &'a str,
    /// UTS #39 confusable skeleton of the lower-cased NFKC name.
    pub skeleton: &'a str,
}

pub struct NewApp<'a> {
    pub id: Uuid,
    pub name: NameKeys<'a>,
    pub description: &'a str,
    pub client_id: &'a str,
    pub client_secret_digest: &'a str,
    pub created_by: &'a str,
    pub now: OffsetDateTime,
}

/// A dedicated token's row. `state` is as stored; a stored `Active` token may already be past
/// its expiry, which [`crate::tokens`] decides.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: Uuid,
    pub app_id: Uuid,
    pub digest: String,
    pub state: TokenState,
    pub issued_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

impl TokenRecord {
    /// The moment validity is counted from: the last recorded use, or the issue.
    pub fn renewed_at(&self) -> OffsetDateTime {
        self.last_used_at.unwrap_or(self.issued_at)
    }
}

/// A token row joined with what verification needs to know about its app.
#[derive(Debug, Clone)]
pub struct TokenForVerify {
    pub token: TokenRecord,
    pub client_id: String,
    pub service_account: Option<String>,
    pub scim_enabled: bool,
}

pub struct NewAuditEvent<'a> {
    pub at: OffsetDateTime,
    pub actor: &'a str,
    pub action: AuditAction,
    pub app_id: Option<Uuid>,
    pub app_name: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: Option<&'a str>,
    pub address: Option<&'a str>,
}

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Copy)]
pub struct AuditFilter {
    pub app_id: Option<Uuid>,
    /// Only rows with an id below this (the cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Recent failed (or still running) sign-in attempts.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginFailures {
    pub for_username: u64,
    pub oldest_for_username: Option<OffsetDateTime>,
    pub from_address: u64,
    pub oldest_from_address: Option<OffsetDateTime>,
}

pub struct SigningKeyRecord {
    pub kid: String,
    pub private_der: zeroize::Zeroizing<Vec<u8>>,
    pub public_raw: Vec<u8>,
}

// Column lists as macros so queries stay `&'static str` (sqlx refuses runtime-built SQL).
macro_rules! app_columns {
    () => {
        "id, app_type, name, description, client_id, client_secret_digest, \
         scim_enabled, service_account, created_by, created_at, updated_at"
    };
}
macro_rules! token_columns {
    () => {
        "t.id, t.app_id, t.digest, t.state, t.issued_at, t.last_used_at, t.revoked_at"
    };
}
/// Each app's newest token, one index probe per app: a backward read of
/// `dedicated_tokens_latest (app_id, issued_at, id)` that stops at its first entry. SQLite:
/// the newest id per app, then that row by primary key; `CROSS JOIN` fixes the join order
/// (apps outside), since with statistics the planner may otherwise scan every token.
const LATEST_TOKENS_SQLITE: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM client_apps a CROSS JOIN dedicated_tokens t WHERE t.id = (SELECT newest.id \
     FROM dedicated_tokens newest WHERE newest.app_id = a.id \
     ORDER BY newest.issued_at DESC, newest.id DESC LIMIT 1)"
);
/// PostgreSQL: the same probe as a LATERAL join (an `IN` form makes its planner hash-join a
/// scan of every token).
const LATEST_TOKENS_POSTGRES: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM client_apps a CROSS JOIN LATERAL (SELECT ",
    token_columns!(),
    " FROM dedicated_tokens t WHERE t.app_id = a.id ORDER BY t.issued_at DESC, t.id DESC LIMIT 1) t"
);

/// A query's plan ([`Store::explain_latest_tokens`], [`Store::scim_plan_page`]).
#[derive(Debug, Clone, Default)]
pub struct QueryPlan {
    /// One line per plan node (SQLite: `EXPLAIN QUERY PLAN`'s details).
    pub lines: Vec<String>,
    /// PostgreSQL only: rows read per table, over every loop, those a filter then dropped
    /// included.
    pub rows_read: std::collections::HashMap<String, i64>,
}

impl QueryPlan {
    /// From PostgreSQL's `EXPLAIN (ANALYZE, FORMAT JSON)`.
    pub(crate) fn from_postgres(plan: &serde_json::Value) -> QueryPlan {
        let mut out = QueryPlan::default();
        if let Some(root) = plan.get(0).and_then(|p| p.get("Plan")) {
            out.walk(root, 0);
        }
        out
    }

    /// Flattens one node of PostgreSQL's JSON plan (and its children).
    fn walk(&mut self, node: &serde_json::Value, depth: usize) {
        let text = |k: &str| node.get(k).and_then(|v| v.as_str());
        let num = |k: &str| node.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let loops = num("Actual Loops");
        let rows = num("Actual Rows") * loops;
        let removed = num("Rows Removed by Filter") * loops;
        let mut line = format!("{}{}", "  ".repeat(depth), text("Node Type").unwrap_or("?"));
        if let Some(index) = text("Index Name") {
            line.push_str(&format!(" using {index}"));
        }
        if let Some(table) = text("Relation Name") {
            line.push_str(&format!(" on {table} {}", text("Alias").unwrap_or("")));
            *self.rows_read.entry(table.to_owned()).or_default() += (rows + removed) as i64;
        }
        line.push_str(&format!(" (rows={rows} loops={loops})"));
        self.lines.push(line);
        for child in node.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
            self.walk(child, depth + 1);
        }
    }
}

macro_rules! audit_columns {
    () => {
        "id, at, actor, action, app_id, app_name, outcome, detail, address, count, last_at"
    };
}

fn admin_from_row(row: &impl Cols) -> StoreResult<AdminRecord> {
    let role: String = row.try_get("role")?;
    Ok(AdminRecord {
        admin: Admin {
            id: parse_uuid(&row.try_get::<String>("id")?)?,
            username: row.try_get("username")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
            created_at: from_millis(row.try_get("created_at")?),
        },
        password_hash: row.try_get("password_hash")?,
    })
}

fn app_from_row(row: &impl Cols) -> StoreResult<AppRecord> {
    Ok(AppRecord {
        id: parse_uuid(&row.try_get::<String>("id")?)?,
        app_type: AppType::Provisioning,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        client_id: row.try_get("client_id")?,
        client_secret_digest: row.try_get("client_secret_digest")?,
        scim_enabled: row.try_get("scim_enabled")?,
        service_account: row.try_get("service_account")?,
        created_by: row.try_get("created_by")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        members: Vec::new(),
    })
}

fn token_from_row(row: &impl Cols) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: parse_uuid(&row.try_get::<String>("id")?)?,
        app_id: parse_uuid(&row.try_get::<String>("app_id")?)?,
        digest: row.try_get("digest")?,
        state: parse_enum(&row.try_get::<String>("state")?)?,
        issued_at: from_millis(row.try_get("issued_at")?),
        last_used_at: row.try_get::<Option<i64>>("last_used_at")?.map(from_millis),
        revoked_at: row.try_get::<Option<i64>>("revoked_at")?.map(from_millis),
    })
}

fn audit_from_row(r: &impl Cols) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        at: from_millis(r.try_get("at")?),
        actor: r.try_get("actor")?,
        action: parse_enum(&r.try_get::<String>("action")?)?,
        app_id: r
            .try_get::<Option<String>>("app_id")?
            .as_deref()
            .map(parse_uuid)
            .transpose()?,
        app_name: r.try_get("app_name")?,
        outcome: parse_enum(&r.try_get::<String>("outcome")?)?,
        detail: r.try_get("detail")?,
        address: r.try_get("address")?,
        count: r.try_get::<i64>("count")?.max(1) as u64,
        last_at: r.try_get::<Option<i64>>("last_at")?.map(from_millis),
    })
}

/// Reads an app by `$column` (`id` or `client_id`) and its members on connection `$c`, with
/// `$suffix` appended to the app query (`FOR UPDATE` to lock it on PostgreSQL).
macro_rules! app_in {
    ($c:expr, $column:literal, $value:expr, $suffix:literal) => {{
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM client_apps WHERE ",
            $column,
            " = $1",
            $suffix
        ))
        .bind($value)
        .fetch_optional(&mut *$c)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let mut app = app_from_row(&row)?;
                let rows = sqlx::query(
                    "SELECT a.id, a.username FROM app_members m JOIN admins a ON a.id = m.admin_id \
                     WHERE m.app_id = $1 ORDER BY a.username_key",
                )
                .bind(app.id.to_string())
                .fetch_all(&mut *$c)
                .await?;
                for row in rows {
                    app.members.push((
                        parse_uuid(&row.try_get::<String>("id")?)?,
                        row.try_get("username")?,
                    ));
                }
                Ok(Some(app))
            }
        }
    }};
}

fn affected(rows: u64) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

// ---- reads --------------------------------------------------------------------------------

impl Store {
    pub async fn admin_by_username(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        on_pool!(self, c => {
            let row = sqlx::query(
                "SELECT id, username, role, password_hash, created_at FROM admins WHERE username_key = $1",
            )
            .bind(username.to_lowercase())
            .fetch_optional(c)
            .await?;
            row.as_ref().map(admin_from_row).transpose()
        })
    }

    pub async fn list_admins(&self) -> StoreResult<Vec<Admin>> {
        on_pool!(self, c => {
            let rows = sqlx::query(
                "SELECT id, username, role, password_hash, created_at FROM admins ORDER BY username_key",
            )
            .fetch_all(c)
            .await?;
            rows.iter().map(|r| admin_from_row(r).map(|a| a.admin)).collect()
        })
    }

    /// The session with this digest and its admin.
    pub async fn session(&self, digest: &str) -> StoreResult<Option<SessionRecord>> {
        on_pool!(self, c => {
            let row = sqlx::query(
                "SELECT a.id, a.username, a.role, a.password_hash, a.created_at, \
                 s.created_at AS session_created_at, s.last_seen_at \
                 FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.digest = $1",
            )
            .bind(digest)
            .fetch_optional(c)
            .await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(SessionRecord {
                    admin: admin_from_row(&row)?.admin,
                    created_at: from_millis(row.try_get("session_created_at")?),
                    last_seen_at: from_millis(row.try_get("last_seen_at")?),
                })),
            }
        })
    }

    /// Records activity on a session; one statement, nothing to audit.
    pub async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> StoreResult<()> {
        on_pool!(self, c => {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE digest = $2")
                .bind(to_millis(now))
                .bind(digest)
                .execute(c)
                .await?;
            Ok(())
        })
    }

    /// Drops a session that ran out; one statement, nothing to audit.
    pub async fn drop_session(&self, digest: &str) -> StoreResult<()> {
        on_pool!(self, c => {
            sqlx::query("DELETE FROM sessions WHERE digest = $1")
                .bind(digest)
                .execute(c)
                .await?;
            Ok(())
        })
    }

    pub async fn app(&self, id: Uuid) -> StoreResult<Option<AppRecord>> {
        on_pool!(self, p => {
            let mut c = p.acquire().await?;
            app_in!(c, "id", id.to_string(), "")
        })
    }

    pub async fn app_by_client_id(&self, client_id: &str) -> StoreResult<Option<AppRecord>> {
        on_pool!(self, p => {
            let mut c = p.acquire().await?;
            app_in!(c, "client_id", client_id, "")
        })
    }

    /// Every app, ordered by creation.
    pub async fn list_apps(&self) -> StoreResult<Vec<AppRecord>> {
        on_pool!(self, c => {
            let rows = sqlx::query(concat!(
                "SELECT ",
                app_columns!(),
                " FROM client_apps ORDER BY created_at, id"
            ))
            .fetch_all(c)
            .await?;
            let mut apps = rows.iter().map(app_from_row).collect::<StoreResult<Vec<_>>>()?;
            if apps.is_empty() {
                return Ok(apps);
            }
            let rows = sqlx::query(
                "SELECT m.app_id, a.id, a.username FROM app_members m JOIN admins a ON a.id = m.admin_id \
                 ORDER BY a.username_key",
            )
            .fetch_all(c)
            .await?;
            let index: std::collections::HashMap<Uuid, usize> =
                apps.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
            for row in rows {
                let app_id = parse_uuid(&row.try_get::<String>("app_id")?)?;
                if let Some(&i) = index.get(&app_id) {
                    let admin_id = parse_uuid(&row.try_get::<String>("id")?)?;
                    apps[i].members.push((admin_id, row.try_get("username")?));
                }
            }
            Ok(apps)
        })
    }

    /// The app's newest token in any state.
    pub async fn latest_token(&self, app_id: Uuid) -> StoreResult<Option<TokenRecord>> {
        on_pool!(self, c => {
            let row = sqlx::query(concat!(
                "SELECT ",
                token_columns!(),
                " FROM dedicated_tokens t WHERE t.app_id = $1 \
                 ORDER BY t.issued_at DESC, t.id DESC LIMIT 1"
            ))
            .bind(app_id.to_string())
            .fetch_optional(c)
            .await?;
            row.as_ref().map(token_from_row).transpose()
        })
    }

    /// The newest token of every app (by `issued_at`, then id, as [`Store::latest_token`]),
    /// keyed by app id; for the app list and the token gauges. One index probe per app
    /// ([`LATEST_TOKENS_SQLITE`], [`LATEST_TOKENS_POSTGRES`]): the cost follows the number of apps, not of tokens ever issued.
    pub async fn latest_tokens(&self) -> StoreResult<std::collections::HashMap<Uuid, TokenRecord>> {
        on_pool!(self, c, pg => {
            let sql = if pg { LATEST_TOKENS_POSTGRES } else { LATEST_TOKENS_SQLITE };
            let rows = sqlx::query(sql).fetch_all(c).await?;
            rows.iter()
                .map(|row| token_from_row(row).map(|t| (t.app_id, t)))
                .collect()
        })
    }

    /// How the database runs [`Store::latest_tokens`], for its test and benchmark. PostgreSQL
    /// runs it (`EXPLAIN ANALYZE`) and also counts the rows each table's scans read.
    pub async fn explain_latest_tokens(&self) -> StoreResult<QueryPlan> {
        on_pool!(self, c, pg => {
            if !pg {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {LATEST_TOKENS_SQLITE}")))
                    .fetch_all(c)
                    .await?;
                let lines = rows.iter().map(|r| r.try_get::<String>("detail")).collect::<Result<_, _>>()?;
                return Ok(QueryPlan { lines, rows_read: Default::default() });
            }
            let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, FORMAT JSON) {LATEST_TOKENS_POSTGRES}"
            )))
            .fetch_one(c)
            .await?;
            Ok(QueryPlan::from_postgres(&plan))
        })
    }

    pub async fn token_for_verify(&self, jti: Uuid) -> StoreResult<Option<TokenForVerify>> {
        on_pool!(self, c => {
            let row = sqlx::query(concat!(
                "SELECT ",
                token_columns!(),
                ", a.client_id, a.service_account, a.scim_enabled \
                 FROM dedicated_tokens t JOIN client_apps a ON a.id = t.app_id WHERE t.id = $1"
            ))
            .bind(jti.to_string())
            .fetch_optional(c)
            .await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(TokenForVerify {
                    token: token_from_row(&row)?,
                    client_id: row.try_get("client_id")?,
                    service_account: row.try_get("service_account")?,
                    scim_enabled: row.try_get("scim_enabled")?,
                })),
            }
        })
    }

    /// Records a use of an active token, unless one was recorded after `renewed_before`
    /// (by any request on any instance): the condition is checked in the same statement, so
    /// however many instances serve a token, about one write per renew interval reaches the
    /// database. `last_used_at` only ever moves forward.
    pub async fn record_token_use(
        &self,
        jti: Uuid,
        now: OffsetDateTime,
        renewed_before: OffsetDateTime,
    ) -> StoreResult<TokenUse> {
        on_pool!(self, c => {
            let done = sqlx::query(
                "UPDATE dedicated_tokens SET last_used_at = $1 \
                 WHERE id = $2 AND state = 'active' AND (last_used_at IS NULL OR last_used_at <= $3) \
                 AND (last_used_at IS NULL OR last_used_at < $1)",
            )
            .bind(to_millis(now))
            .bind(jti.to_string())
            .bind(to_millis(renewed_before))
            .execute(c)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(TokenUse::Recorded);
            }
            let row: Option<(String, Option<i64>)> =
                sqlx::query_as("SELECT state, last_used_at FROM dedicated_tokens WHERE id = $1")
                    .bind(jti.to_string())
                    .fetch_optional(c)
                    .await?;
            Ok(match row {
                Some((state, Some(at))) if state == TokenState::Active.as_str() => TokenUse::Recent(from_millis(at)),
                _ => TokenUse::NotActive,
            })
        })
    }

    /// Marks an active token expired only if its last recorded use (or issue) is still at or
    /// before `renewed_before`, checked in the same statement: a use recorded a moment ago by
    /// another request or instance keeps it alive. Returns whether it was marked.
    pub async fn expire_token_if_idle(&self, jti: Uuid, renewed_before: OffsetDateTime) -> StoreResult<bool> {
        on_pool!(self, c => {
            let done = sqlx::query(
                "UPDATE dedicated_tokens SET state = 'expired' WHERE id = $1 AND state = 'active' \
                 AND COALESCE(last_used_at, issued_at) <= $2",
            )
            .bind(jti.to_string())
            .bind(to_millis(renewed_before))
            .execute(c)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        on_pool!(self, c => {
            let rows =
                sqlx::query("SELECT kid, private_der, public_raw FROM signing_keys ORDER BY created_at DESC")
                    .fetch_all(c)
                    .await?;
            rows.iter()
                .map(|r| {
                    Ok(SigningKeyRecord {
                        kid: r.try_get("kid")?,
                        private_der: zeroize::Zeroizing::new(r.try_get("private_der")?),
                        public_raw: r.try_get("public_raw")?,
                    })
                })
                .collect()
        })
    }

    /// The signing keys, newest first, after inserting `first` if there are none yet. The check
    /// and the insert happen under a lock (SQLite's write lock; a PostgreSQL advisory lock), so
    /// instances starting together on an empty database agree on one key.
    pub async fn signing_keys_or_insert(
        &self,
        first: &SigningKeyRecord,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut tx = self.begin().await?;
        if let TxInner::Postgres(c) = &mut tx.tx {
            sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
                .bind(ADVISORY_KEYS)
                .execute(&mut **c)
                .await?;
        }
        let count: i64 = on_tx!(tx, c => {
            sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
                .fetch_one(&mut *c)
                .await?
        });
        if count == 0 {
            on_tx!(tx, c => {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&first.kid)
                .bind(first.private_der.as_slice())
                .bind(&first.public_raw)
                .bind(to_millis(now))
                .execute(&mut *c)
                .await?;
            });
        }
        tx.commit().await?;
        self.signing_keys().await
    }

    pub async fn insert_signing_key(&self, key: &SigningKeyRecord, now: OffsetDateTime) -> StoreResult<()> {
        on_pool!(self, c => {
            sqlx::query(
                "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&key.kid)
            .bind(key.private_der.as_slice())
            .bind(&key.public_raw)
            .bind(to_millis(now))
            .execute(c)
            .await?;
            Ok(())
        })
    }

    pub async fn sso_settings(&self) -> StoreResult<SsoSettings> {
        on_pool!(self, c => {
            let row = sqlx::query("SELECT value FROM settings WHERE name = 'sso'")
                .fetch_optional(c)
                .await?;
            match row {
                None => Ok(SsoSettings::default()),
                Some(row) => serde_json::from_str(&row.try_get::<String>("value")?)
                    .map_err(|e| StoreError::Corrupt(format!("sso setting: {e}"))),
            }
        })
    }

    /// Whether any app has SCIM switched on; decides the SSO user-key warning.
    pub async fn any_scim_enabled(&self) -> StoreResult<bool> {
        on_pool!(self, c => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM client_apps WHERE scim_enabled")
                .fetch_one(c)
                .await?;
            Ok(row.try_get::<i64>("n")? > 0)
        })
    }

    /// Newest first.
    pub async fn list_audit(&self, f: AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        on_pool!(self, c => {
            let rows = sqlx::query(concat!(
                "SELECT ",
                audit_columns!(),
                " FROM audit_events WHERE ($1 IS NULL OR app_id = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3"
            ))
            .bind(f.app_id.map(|id| id.to_string()))
            .bind(f.before_id)
            .bind(f.limit)
            .fetch_all(c)
            .await?;
            rows.iter().map(audit_from_row).collect()
        })
    }

    /// Apps created before migration 0002 get their confusable skeleton here, since SQL cannot
    /// compute it. Two old names that turn out to be look-alikes keep both apps: the later one
    /// gets a skeleton suffixed with its id, and a warning is logged.
    pub(super) async fn backfill_name_skeletons(&self) -> StoreResult<()> {
        on_pool!(self, c => {
            let rows =
                sqlx::query("SELECT id, name FROM client_apps WHERE name_skeleton IS NULL ORDER BY created_at")
                    .fetch_all(c)
                    .await?;
            for row in rows {
                let id: String = row.try_get("id")?;
                let name: String = row.try_get("name")?;
                let skeleton = crate::validate::name_skeleton(&name);
                let done = sqlx::query("UPDATE client_apps SET name_skeleton = $1 WHERE id = $2")
                    .bind(&skeleton)
                    .bind(&id)
                    .execute(c)
                    .await;
                match done {
                    Ok(_) => {}
                    Err(e) if super::is_unique_violation(&e) => {
                        tracing::warn!(app = %id, "an existing app name looks like another's; rename one of them");
                        sqlx::query("UPDATE client_apps SET name_skeleton = $1 WHERE id = $2")
                            .bind(format!("{skeleton}#{id}"))
                            .bind(&id)
                            .execute(c)
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
    }
}

// ---- write primitives ----------------------------------------------------------------------

impl Tx {
    // -- audit

    pub async fn insert_audit(&mut self, e: &NewAuditEvent<'_>) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, app_id, app_name, outcome, detail, address) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(to_millis(e.at))
            .bind(e.actor)
            .bind(e.action.as_str())
            .bind(e.app_id.map(|id| id.to_string()))
            .bind(e.app_name)
            .bind(e.outcome.as_str())
            .bind(e.detail)
            .bind(e.address)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }

    /// Inserts the event, or, when a row with the same `collapse_key` exists, counts one more
    /// occurrence on it. Keeps anonymous refusals to one row per key.
    pub async fn insert_audit_collapsed(
        &mut self,
        e: &NewAuditEvent<'_>,
        collapse_key: &str,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, app_id, app_name, outcome, detail, address, \
                 count, last_at, collapse_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $1, $9) \
                 ON CONFLICT (collapse_key) DO UPDATE SET count = audit_events.count + 1, \
                 last_at = excluded.last_at",
            )
            .bind(to_millis(e.at))
            .bind(e.actor)
            .bind(e.action.as_str())
            .bind(e.app_id.map(|id| id.to_string()))
            .bind(e.app_name)
            .bind(e.outcome.as_str())
            .bind(e.detail)
            .bind(e.address)
            .bind(collapse_key)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }

    // -- admins

    pub async fn insert_admin(&mut self, admin: &Admin, password_hash: Option<&str>) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO admins (id, username, username_key, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(admin.id.to_string())
            .bind(&admin.username)
            .bind(admin.username.to_lowercase())
            .bind(admin.role.as_str())
            .bind(password_hash)
            .bind(to_millis(admin.created_at))
            .execute(&mut *c)
            .await
            .map_err(unique_as("username"))?;
            Ok(())
        })
    }

    /// Reads an admin inside the transaction (locked for the rest of it).
    pub async fn lock_admin(&mut self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let key = username.to_lowercase();
        match &mut self.tx {
            TxInner::Sqlite(c) => {
                let row = sqlx::query(
                    "SELECT id, username, role, password_hash, created_at FROM admins WHERE username_key = $1",
                )
                .bind(key)
                .fetch_optional(&mut **c)
                .await?;
                row.as_ref().map(admin_from_row).transpose()
            }
            TxInner::Postgres(c) => {
                let row = sqlx::query(
                    "SELECT id, username, role, password_hash, created_at FROM admins WHERE username_key = $1 \
                     FOR UPDATE",
                )
                .bind(key)
                .fetch_optional(&mut **c)
                .await?;
                row.as_ref().map(admin_from_row).transpose()
            }
        }
    }

    pub async fn set_admin_password(&mut self, admin_id: Uuid, password_hash: &str) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(admin_id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })
    }

    pub async fn set_admin_role(&mut self, admin_id: Uuid, role: Role) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("UPDATE admins SET role = $1 WHERE id = $2")
                .bind(role.as_str())
                .bind(admin_id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })
    }

    /// Deletes an admin; their sessions and memberships go with them (foreign keys).
    pub async fn delete_admin(&mut self, admin_id: Uuid) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("DELETE FROM admins WHERE id = $1")
                .bind(admin_id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })
    }

    /// Super admins other than `except` whose username is not `exclude_username`.
    pub async fn count_super_admins(&mut self, except: Uuid, exclude_username: &str) -> StoreResult<i64> {
        on_tx!(self, c => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM admins WHERE role = 'super_admin' AND id <> $1 AND username_key <> $2",
            )
            .bind(except.to_string())
            .bind(exclude_username.to_lowercase())
            .fetch_one(&mut *c)
            .await?;
            Ok(row.try_get("n")?)
        })
    }

    /// Apps whose only member is this admin.
    pub async fn apps_only_managed_by(&mut self, admin_id: Uuid) -> StoreResult<Vec<(Uuid, String)>> {
        on_tx!(self, c => {
            let rows = sqlx::query(
                "SELECT c.id, c.name FROM client_apps c JOIN app_members m ON m.app_id = c.id \
                 WHERE m.admin_id = $1 AND NOT EXISTS (SELECT 1 FROM app_members o \
                 WHERE o.app_id = c.id AND o.admin_id <> $1) ORDER BY c.name",
            )
            .bind(admin_id.to_string())
            .fetch_all(&mut *c)
            .await?;
            rows.iter()
                .map(|r| Ok((parse_uuid(&r.try_get::<String>("id")?)?, r.try_get("name")?)))
                .collect()
        })
    }

    /// Adds a member to an app; already being one is fine.
    pub async fn add_member(&mut self, app_id: Uuid, admin_id: Uuid) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO app_members (app_id, admin_id) VALUES ($1, $2) ON CONFLICT (app_id, admin_id) DO NOTHING",
            )
            .bind(app_id.to_string())
            .bind(admin_id.to_string())
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }

    // -- sessions

    pub async fn insert_session(
        &mut self,
        digest: &str,
        admin_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO sessions (digest, admin_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
            )
            .bind(digest)
            .bind(admin_id.to_string())
            .bind(to_millis(now))
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }

    pub async fn delete_session(&mut self, digest: &str) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query("DELETE FROM sessions WHERE digest = $1")
                .bind(digest)
                .execute(&mut *c)
                .await?;
            Ok(())
        })
    }

    /// Ends every session of an admin; returns how many there were.
    pub async fn delete_sessions_of(&mut self, admin_id: Uuid) -> StoreResult<u64> {
        on_tx!(self, c => {
            let done = sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
                .bind(admin_id.to_string())
                .execute(&mut *c)
                .await?;
            Ok(done.rows_affected())
        })
    }

    // -- sign-in attempts

    /// Serialises attempts for one username and for one address, since both limits are counted.
    /// SQLite's `BEGIN IMMEDIATE` already holds the write lock; PostgreSQL takes
    /// transaction-scoped advisory locks, which serialise the attempts of every instance. The
    /// address is always locked first, so two attempts never wait on each other in a cycle.
    pub async fn lock_login(&mut self, username_key: &str, address: &str) -> StoreResult<()> {
        match &mut self.tx {
            TxInner::Sqlite(_) => {}
            TxInner::Postgres(c) => {
                for (class, key) in [(ADVISORY_LOGIN_ADDRESS, address), (ADVISORY_LOGIN, username_key)] {
                    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                        .bind(class)
                        .bind(key)
                        .execute(&mut **c)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Failed or still-running attempts since `since`, for a username (not cleared by a later
    /// success or unlock) and for an address.
    pub async fn login_failures(
        &mut self,
        username_key: &str,
        address: &str,
        since: OffsetDateTime,
    ) -> StoreResult<LoginFailures> {
        on_tx!(self, c => {
            let since = to_millis(since);
            let user = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_attempts \
                 WHERE username_key = $1 AND at > $2 AND outcome <> 'success' AND NOT cleared",
            )
            .bind(username_key)
            .bind(since)
            .fetch_one(&mut *c)
            .await?;
            let addr = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM login_attempts \
                 WHERE address = $1 AND at > $2 AND outcome <> 'success'",
            )
            .bind(address)
            .bind(since)
            .fetch_one(&mut *c)
            .await?;
            Ok(LoginFailures {
                for_username: user.try_get::<i64>("n")? as u64,
                oldest_for_username: user.try_get::<Option<i64>>("oldest")?.map(from_millis),
                from_address: addr.try_get::<i64>("n")? as u64,
                oldest_from_address: addr.try_get::<Option<i64>>("oldest")?.map(from_millis),
            })
        })
    }

    /// Reserves an attempt (outcome pending); it counts as a failure until finished.
    pub async fn insert_login_attempt(
        &mut self,
        username_key: &str,
        address: &str,
        at: OffsetDateTime,
    ) -> StoreResult<i64> {
        on_tx!(self, c => {
            let row = sqlx::query(
                "INSERT INTO login_attempts (username_key, address, at, outcome, cleared) \
                 VALUES ($1, $2, $3, 'pending', FALSE) RETURNING id",
            )
            .bind(username_key)
            .bind(address)
            .bind(to_millis(at))
            .fetch_one(&mut *c)
            .await?;
            Ok(row.try_get("id")?)
        })
    }

    pub async fn finish_login_attempt(&mut self, id: i64, outcome: Outcome) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query("UPDATE login_attempts SET outcome = $1 WHERE id = $2")
                .bind(outcome.as_str())
                .bind(id)
                .execute(&mut *c)
                .await?;
            Ok(())
        })
    }

    /// Clears a username's failures (a success, or `admin unlock`); returns how many.
    pub async fn clear_login_failures(&mut self, username_key: &str) -> StoreResult<u64> {
        on_tx!(self, c => {
            let done = sqlx::query(
                "UPDATE login_attempts SET cleared = TRUE WHERE username_key = $1 AND NOT cleared \
                 AND outcome <> 'success'",
            )
            .bind(username_key)
            .execute(&mut *c)
            .await?;
            Ok(done.rows_affected())
        })
    }

    /// Clears an address's failures (`admin unlock --address`); returns how many. The rows go,
    /// so the usernames tried from there lose those failures too.
    pub async fn clear_address_failures(&mut self, address: &str) -> StoreResult<u64> {
        on_tx!(self, c => {
            let done =
                sqlx::query("DELETE FROM login_attempts WHERE address = $1 AND outcome <> 'success'")
                    .bind(address)
                    .execute(&mut *c)
                    .await?;
            Ok(done.rows_affected())
        })
    }

    /// Forgets attempts older than any window looks at.
    pub async fn prune_login_attempts(&mut self, before: OffsetDateTime) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query("DELETE FROM login_attempts WHERE at < $1")
                .bind(to_millis(before))
                .execute(&mut *c)
                .await?;
            Ok(())
        })
    }

    // -- apps

    pub async fn insert_app(&mut self, new: &NewApp<'_>) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO client_apps (id, app_type, name, name_key, name_skeleton, description, client_id, \
                 client_secret_digest, scim_enabled, service_account, created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, NULL, $9, $10, $10)",
            )
            .bind(new.id.to_string())
            .bind(AppType::Provisioning.as_str())
            .bind(new.name.name)
            .bind(new.name.key)
            .bind(new.name.skeleton)
            .bind(new.description)
            .bind(new.client_id)
            .bind(new.client_secret_digest)
            .bind(new.created_by)
            .bind(to_millis(new.now))
            .execute(&mut *c)
            .await
            .map_err(unique_as("app name"))?;
            Ok(())
        })
    }

    /// Reads an app inside the transaction and locks it for the rest of it.
    pub async fn lock_app(&mut self, id: Uuid) -> StoreResult<Option<AppRecord>> {
        match &mut self.tx {
            TxInner::Sqlite(c) => app_in!(*c, "id", id.to_string(), ""),
            TxInner::Postgres(c) => app_in!(*c, "id", id.to_string(), " FOR UPDATE"),
        }
    }

    pub async fn update_app(
        &mut self,
        id: Uuid,
        name: Option<&NameKeys<'_>>,
        description: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query(
                "UPDATE client_apps SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
                 name_skeleton = COALESCE($3, name_skeleton), description = COALESCE($4, description), \
                 updated_at = $5 WHERE id = $6",
            )
            .bind(name.map(|n| n.name))
            .bind(name.map(|n| n.key))
            .bind(name.map(|n| n.skeleton))
            .bind(description)
            .bind(to_millis(now))
            .bind(id.to_string())
            .execute(&mut *c)
            .await
            .map_err(unique_as("app name"))?;
            affected(done.rows_affected())
        })
    }

    pub async fn delete_app(&mut self, id: Uuid) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("DELETE FROM client_apps WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })?;
        self.notify_app_changed(id).await
    }

    /// PostgreSQL: tells every instance, when this transaction commits, to drop what it has
    /// cached about the app's tokens (`NOTIFY`, delivered only on commit, so never early).
    /// SQLite has no other instances to tell; their cache lifetime bounds the delay.
    async fn notify_app_changed(&mut self, app_id: Uuid) -> StoreResult<()> {
        if let TxInner::Postgres(c) = &mut self.tx {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(super::APP_CHANGES_CHANNEL)
                .bind(app_id.to_string())
                .execute(&mut **c)
                .await?;
        }
        Ok(())
    }

    /// Replaces the member list.
    pub async fn set_members(
        &mut self,
        id: Uuid,
        admin_ids: &[Uuid],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("UPDATE client_apps SET updated_at = $1 WHERE id = $2")
                .bind(to_millis(now))
                .bind(id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())?;
            sqlx::query("DELETE FROM app_members WHERE app_id = $1")
                .bind(id.to_string())
                .execute(&mut *c)
                .await?;
            for admin_id in admin_ids {
                self.add_member(id, *admin_id).await?;
            }
            Ok(())
        })
    }

    pub async fn set_client_secret_digest(
        &mut self,
        id: Uuid,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        on_tx!(self, c => {
            let done =
                sqlx::query("UPDATE client_apps SET client_secret_digest = $1, updated_at = $2 WHERE id = $3")
                    .bind(digest)
                    .bind(to_millis(now))
                    .bind(id.to_string())
                    .execute(&mut *c)
                    .await?;
            affected(done.rows_affected())
        })
    }

    pub async fn set_scim(&mut self, id: Uuid, enabled: bool, now: OffsetDateTime) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("UPDATE client_apps SET scim_enabled = $1, updated_at = $2 WHERE id = $3")
                .bind(enabled)
                .bind(to_millis(now))
                .bind(id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })?;
        self.notify_app_changed(id).await
    }

    pub async fn set_service_account(&mut self, app_id: Uuid, service_account: &str) -> StoreResult<()> {
        on_tx!(self, c => {
            let done = sqlx::query("UPDATE client_apps SET service_account = $1 WHERE id = $2")
                .bind(service_account)
                .bind(app_id.to_string())
                .execute(&mut *c)
                .await?;
            affected(done.rows_affected())
        })
    }

    // -- tokens

    /// The app's token stored as active, if any (possibly past its expiry).
    pub async fn active_token(&mut self, app_id: Uuid) -> StoreResult<Option<TokenRecord>> {
        on_tx!(self, c => {
            let row = sqlx::query(concat!(
                "SELECT ",
                token_columns!(),
                " FROM dedicated_tokens t WHERE t.app_id = $1 AND t.state = 'active'"
            ))
            .bind(app_id.to_string())
            .fetch_optional(&mut *c)
            .await?;
            row.as_ref().map(token_from_row).transpose()
        })
    }

    /// Inserts a token. The partial unique index makes a second active token for the app a
    /// [`StoreError::Conflict`], whatever the concurrency.
    pub async fn insert_token(&mut self, t: &TokenRecord) -> StoreResult<()> {
        on_tx!(self, c => {
            sqlx::query(
                "INSERT INTO dedicated_tokens (id, app_id, digest, state, issued_at, last_used_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(t.id.to_string())
            .bind(t.app_id.to_string())
            .bind(&t.digest)
            .bind(t.state.as_str())
            .bind(to_millis(t.issued_at))
            .bind(t.last_used_at.map(to_millis))
            .bind(t.revoked_at.map(to_millis))
            .execute(&mut *c)
            .await
            .map_err(unique_as("active token"))?;
            Ok(())
        })
    }

    /// Moves an active token to `Revoked` (stamping `at`) or `Expired`.
    pub async fn retire_token(&mut self, id: Uuid, state: TokenState, at: OffsetDateTime) -> StoreResult<()> {
        let app: Option<String> = on_tx!(self, c => {
            let revoked_at = (state == TokenState::Revoked).then(|| to_millis(at));
            sqlx::query_scalar(
                "UPDATE dedicated_tokens SET state = $1, revoked_at = COALESCE($2, revoked_at) \
                 WHERE id = $3 AND state = 'active' RETURNING app_id",
            )
            .bind(state.as_str())
            .bind(revoked_at)
            .bind(id.to_string())
            .fetch_optional(&mut *c)
            .await?
        });
        let app = app.ok_or(StoreError::NotFound)?;
        self.notify_app_changed(parse_uuid(&app)?).await
    }

    // -- settings and keys

    pub async fn set_sso_settings(&mut self, sso: &SsoSettings) -> StoreResult<()> {
        on_tx!(self, c => {
            let value = serde_json::to_string(sso).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ('sso', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(value)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }
}

impl Store {
    /// Creates an admin and records it, in one transaction; for `admin create`, tests and benches.
    pub async fn create_admin(
        &self,
        username: &str,
        role: Role,
        password_hash: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Admin> {
        let admin = Admin {
            id: Uuid::now_v7(),
            username: username.to_owned(),
            role,
            created_at: now,
        };
        let mut tx = self.begin().await?;
        tx.insert_admin(&admin, password_hash).await?;
        let detail = format!("created {} ({})", admin.username, role.as_str());
        tx.insert_audit(&NewAuditEvent {
            at: now,
            actor: "(command line)",
            action: AuditAction::AdminCreate,
            app_id: None,
            app_name: None,
            outcome: Outcome::Success,
            detail: Some(&detail),
            address: None,
        })
        .await?;
        tx.commit().await?;
        Ok(admin)
    }
}
