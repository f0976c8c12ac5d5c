//! All SQL lives here. Handlers and services call typed methods; nothing else sees a query.
//!
//! The SQL is kept portable (numbered `$n` parameters, BIGINT millisecond timestamps, partial
//! unique indexes) so a PostgreSQL backend can be added behind the same methods.

pub mod predicate;
mod scim;

#[allow(unused_imports)]
pub use scim::*;

use crate::clock::{from_millis, to_millis};
use crate::wire::{Admin, AppType, AuditEvent, Outcome, Role, SsoSettings};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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

fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad uuid {s:?}")))
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

/// The console's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

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

pub struct NewApp<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub client_id: &'a str,
    pub client_secret_digest: &'a str,
    pub creator: &'a Admin,
    pub now: OffsetDateTime,
}

/// A dedicated token's row. `state` is as stored; a stored `active` token may already be past
/// its expiry, which [`crate::tokens`] decides.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: Uuid,
    pub app_id: Uuid,
    pub digest: String,
    pub state: String,
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

#[derive(Debug)]
pub enum IssueRefusal {
    AppNotFound,
    ScimDisabled,
    TokenExists,
}

#[derive(Debug)]
pub enum IssueError<E> {
    Refused(IssueRefusal),
    Sign(E),
    Store(StoreError),
}

impl<E> From<sqlx::Error> for IssueError<E> {
    fn from(e: sqlx::Error) -> Self {
        IssueError::Store(StoreError::Db(e))
    }
}

/// What [`Store::issue_token`] hands the signer: everything the JWT needs.
pub struct TokenToSign<'a> {
    pub jti: Uuid,
    pub client_id: &'a str,
    pub service_account: &'a str,
    pub issued_at: OffsetDateTime,
}

pub struct NewAuditEvent<'a> {
    pub at: OffsetDateTime,
    pub actor: &'a str,
    pub action: &'a str,
    pub app_id: Option<Uuid>,
    pub app_name: Option<&'a str>,
    pub outcome: Outcome,
    pub detail: Option<&'a str>,
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

impl Store {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
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
            .max_connections(8)
            // A ping before each acquire is one more hop to the connection's worker thread per
            // query; a local SQLite connection does not go stale between uses.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        restrict_to_owner(&filename);
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- admins -------------------------------------------------------------------------

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
        sqlx::query(
            "INSERT INTO admins (id, username, username_key, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(admin.id.to_string())
        .bind(username)
        .bind(username.to_lowercase())
        .bind(role.as_str())
        .bind(password_hash)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("username")
            } else {
                e.into()
            }
        })?;
        Ok(admin)
    }

    fn admin_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<AdminRecord> {
        let role: String = row.try_get("role")?;
        Ok(AdminRecord {
            admin: Admin {
                id: parse_uuid(&row.try_get::<String, _>("id")?)?,
                username: row.try_get("username")?,
                role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
                created_at: from_millis(row.try_get("created_at")?),
            },
            password_hash: row.try_get("password_hash")?,
        })
    }

    pub async fn admin_by_username(&self, username: &str) -> StoreResult<Option<AdminRecord>> {
        let row = sqlx::query(
            "SELECT id, username, role, password_hash, created_at FROM admins WHERE username_key = $1",
        )
        .bind(username.to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::admin_from_row).transpose()
    }

    pub async fn list_admins(&self) -> StoreResult<Vec<Admin>> {
        let rows = sqlx::query(
            "SELECT id, username, role, password_hash, created_at FROM admins ORDER BY username_key",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Self::admin_from_row(r).map(|a| a.admin))
            .collect()
    }

    pub async fn set_admin_password(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE admins SET password_hash = $1 WHERE username_key = $2")
            .bind(password_hash)
            .bind(username.to_lowercase())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Deletes an admin and, with them, their sessions and memberships.
    pub async fn delete_admin(&self, username: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM admins WHERE username_key = $1")
            .bind(username.to_lowercase())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    // ---- sessions -----------------------------------------------------------------------

    pub async fn create_session(&self, digest: &str, admin_id: Uuid, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (digest, admin_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(digest)
        .bind(admin_id.to_string())
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The admin behind a session and when the session was last seen.
    pub async fn session(&self, digest: &str) -> StoreResult<Option<(Admin, OffsetDateTime)>> {
        let row = sqlx::query(
            "SELECT a.id, a.username, a.role, a.password_hash, a.created_at, s.last_seen_at \
             FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.digest = $1",
        )
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let admin = Self::admin_from_row(&row)?.admin;
                Ok(Some((admin, from_millis(row.try_get("last_seen_at")?))))
            }
        }
    }

    pub async fn touch_session(&self, digest: &str, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE digest = $2")
            .bind(to_millis(now))
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, digest: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE digest = $1")
            .bind(digest)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- client apps --------------------------------------------------------------------

    fn app_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<AppRecord> {
        Ok(AppRecord {
            id: parse_uuid(&row.try_get::<String, _>("id")?)?,
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

    async fn load_members(&self, apps: &mut [AppRecord]) -> StoreResult<()> {
        if apps.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT m.app_id, a.id, a.username FROM app_members m JOIN admins a ON a.id = m.admin_id \
             ORDER BY a.username_key",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let app_id = parse_uuid(&row.try_get::<String, _>("app_id")?)?;
            if let Some(app) = apps.iter_mut().find(|a| a.id == app_id) {
                let admin_id = parse_uuid(&row.try_get::<String, _>("id")?)?;
                app.members.push((admin_id, row.try_get("username")?));
            }
        }
        Ok(())
    }

    /// Creates an app with its creator as the first member.
    pub async fn insert_app(&self, new: NewApp<'_>) -> StoreResult<AppRecord> {
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO client_apps (id, app_type, name, name_key, description, client_id, \
             client_secret_digest, scim_enabled, service_account, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, NULL, $8, $9, $9)",
        )
        .bind(id.to_string())
        .bind(AppType::Provisioning.as_str())
        .bind(new.name)
        .bind(crate::validate::name_key(new.name))
        .bind(new.description)
        .bind(new.client_id)
        .bind(new.client_secret_digest)
        .bind(&new.creator.username)
        .bind(to_millis(new.now))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("app name")
            } else {
                e.into()
            }
        })?;
        sqlx::query("INSERT INTO app_members (app_id, admin_id) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(new.creator.id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.app(id).await?.ok_or(StoreError::NotFound)
    }

    pub async fn app(&self, id: Uuid) -> StoreResult<Option<AppRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM client_apps WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        self.one_app(row).await
    }

    pub async fn app_by_client_id(&self, client_id: &str) -> StoreResult<Option<AppRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM client_apps WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        self.one_app(row).await
    }

    async fn one_app(&self, row: Option<sqlx::sqlite::SqliteRow>) -> StoreResult<Option<AppRecord>> {
        let Some(row) = row else { return Ok(None) };
        let mut apps = [Self::app_from_row(&row)?];
        let rows = sqlx::query(
            "SELECT a.id, a.username FROM app_members m JOIN admins a ON a.id = m.admin_id \
             WHERE m.app_id = $1 ORDER BY a.username_key",
        )
        .bind(apps[0].id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            apps[0].members.push((
                parse_uuid(&row.try_get::<String, _>("id")?)?,
                row.try_get("username")?,
            ));
        }
        let [app] = apps;
        Ok(Some(app))
    }

    /// Every app, ordered by creation.
    pub async fn list_apps(&self) -> StoreResult<Vec<AppRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            app_columns!(),
            " FROM client_apps ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut apps = rows
            .iter()
            .map(Self::app_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.load_members(&mut apps).await?;
        Ok(apps)
    }

    pub async fn update_app(
        &self,
        id: Uuid,
        name: Option<&str>,
        description: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE client_apps SET name = COALESCE($1, name), name_key = COALESCE($2, name_key), \
             description = COALESCE($3, description), updated_at = $4 WHERE id = $5",
        )
        .bind(name)
        .bind(name.map(crate::validate::name_key))
        .bind(description)
        .bind(to_millis(now))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("app name")
            } else {
                e.into()
            }
        })?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    pub async fn delete_app(&self, id: Uuid) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM client_apps WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Replaces the member list in one transaction.
    pub async fn set_members(&self, id: Uuid, admin_ids: &[Uuid], now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE client_apps SET updated_at = $1 WHERE id = $2")
            .bind(to_millis(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM app_members WHERE app_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        for admin_id in admin_ids {
            sqlx::query("INSERT INTO app_members (app_id, admin_id) VALUES ($1, $2)")
                .bind(id.to_string())
                .bind(admin_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_client_secret_digest(
        &self,
        id: Uuid,
        digest: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE client_apps SET client_secret_digest = $1, updated_at = $2 WHERE id = $3")
                .bind(digest)
                .bind(to_millis(now))
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    /// Switches SCIM. Turning it off revokes the active token in the same transaction and
    /// returns that token's id.
    pub async fn set_scim(&self, id: Uuid, enabled: bool, now: OffsetDateTime) -> StoreResult<Option<Uuid>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query("UPDATE client_apps SET scim_enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(enabled)
            .bind(to_millis(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revoked = if enabled {
            None
        } else {
            Self::revoke_in(&mut tx, id, now).await?
        };
        tx.commit().await?;
        Ok(revoked)
    }

    // ---- dedicated tokens ---------------------------------------------------------------

    fn token_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<TokenRecord> {
        Ok(TokenRecord {
            id: parse_uuid(&row.try_get::<String, _>("id")?)?,
            app_id: parse_uuid(&row.try_get::<String, _>("app_id")?)?,
            digest: row.try_get("digest")?,
            state: row.try_get("state")?,
            issued_at: from_millis(row.try_get("issued_at")?),
            last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?.map(from_millis),
            revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
        })
    }

    /// Issues a token atomically: checks SCIM, retires an active token that has run out,
    /// creates the service account on first issue, signs, and inserts. The partial unique
    /// index turns a lost race into [`IssueRefusal::TokenExists`].
    pub async fn issue_token<E>(
        &self,
        app_id: Uuid,
        now: OffsetDateTime,
        validity: time::Duration,
        sign: impl FnOnce(TokenToSign<'_>) -> Result<(String, secrecy::SecretString), E>,
    ) -> Result<(TokenRecord, secrecy::SecretString), IssueError<E>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let app =
            sqlx::query("SELECT client_id, scim_enabled, service_account FROM client_apps WHERE id = $1")
                .bind(app_id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(IssueError::Refused(IssueRefusal::AppNotFound))?;
        if !app.try_get::<bool, _>("scim_enabled")? {
            return Err(IssueError::Refused(IssueRefusal::ScimDisabled));
        }
        let client_id: String = app.try_get("client_id")?;
        let active = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM dedicated_tokens t WHERE t.app_id = $1 AND t.state = 'active'"
        ))
        .bind(app_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = active {
            let token = Self::token_from_row(&row).map_err(IssueError::Store)?;
            if token.renewed_at() + validity > now {
                return Err(IssueError::Refused(IssueRefusal::TokenExists));
            }
            sqlx::query("UPDATE dedicated_tokens SET state = 'expired' WHERE id = $1")
                .bind(token.id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let service_account = match app.try_get::<Option<String>, _>("service_account")? {
            Some(sa) => sa,
            None => {
                let sa = format!("{client_id}.serviceaccount");
                sqlx::query("UPDATE client_apps SET service_account = $1 WHERE id = $2")
                    .bind(&sa)
                    .bind(app_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sa
            }
        };
        let jti = Uuid::now_v7();
        let (digest, token) = sign(TokenToSign {
            jti,
            client_id: &client_id,
            service_account: &service_account,
            issued_at: now,
        })
        .map_err(IssueError::Sign)?;
        sqlx::query(
            "INSERT INTO dedicated_tokens (id, app_id, digest, state, issued_at) VALUES ($1, $2, $3, 'active', $4)",
        )
        .bind(jti.to_string())
        .bind(app_id.to_string())
        .bind(&digest)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                IssueError::Refused(IssueRefusal::TokenExists)
            } else {
                IssueError::Store(e.into())
            }
        })?;
        tx.commit().await?;
        let record = TokenRecord {
            id: jti,
            app_id,
            digest,
            state: "active".into(),
            issued_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((record, token))
    }

    async fn revoke_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        app_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let row = sqlx::query(
            "UPDATE dedicated_tokens SET state = 'revoked', revoked_at = $1 \
             WHERE app_id = $2 AND state = 'active' RETURNING id",
        )
        .bind(to_millis(now))
        .bind(app_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        row.map(|r| parse_uuid(&r.try_get::<String, _>("id")?))
            .transpose()
    }

    /// Revokes the app's active token, if any; returns its id.
    pub async fn revoke_token(&self, app_id: Uuid, now: OffsetDateTime) -> StoreResult<Option<Uuid>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let revoked = Self::revoke_in(&mut tx, app_id, now).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// The app's newest token in any state.
    pub async fn latest_token(&self, app_id: Uuid) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM dedicated_tokens t WHERE t.app_id = $1 \
             ORDER BY t.issued_at DESC, t.id DESC LIMIT 1"
        ))
        .bind(app_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::token_from_row).transpose()
    }

    /// The newest token of every app, keyed by app id; for the app list.
    pub async fn latest_tokens(&self) -> StoreResult<std::collections::HashMap<Uuid, TokenRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            " FROM dedicated_tokens t ORDER BY t.issued_at, t.id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut latest = std::collections::HashMap::new();
        for row in &rows {
            let t = Self::token_from_row(row)?;
            latest.insert(t.app_id, t);
        }
        Ok(latest)
    }

    pub async fn token_for_verify(&self, jti: Uuid) -> StoreResult<Option<TokenForVerify>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            token_columns!(),
            ", a.client_id, a.service_account, a.scim_enabled \
             FROM dedicated_tokens t JOIN client_apps a ON a.id = t.app_id WHERE t.id = $1"
        ))
        .bind(jti.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(TokenForVerify {
                token: Self::token_from_row(&row)?,
                client_id: row.try_get("client_id")?,
                service_account: row.try_get("service_account")?,
                scim_enabled: row.try_get("scim_enabled")?,
            })),
        }
    }

    /// Records a use; only an active token is renewed.
    pub async fn record_token_use(&self, jti: Uuid, now: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE dedicated_tokens SET last_used_at = $1 WHERE id = $2 AND state = 'active' \
             AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(to_millis(now))
        .bind(jti.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mark_token_expired(&self, jti: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE dedicated_tokens SET state = 'expired' WHERE id = $1 AND state = 'active'")
            .bind(jti.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- signing keys -------------------------------------------------------------------

    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows =
            sqlx::query("SELECT kid, private_der, public_raw FROM signing_keys ORDER BY created_at DESC")
                .fetch_all(&self.pool)
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
    }

    pub async fn insert_signing_key(&self, key: &SigningKeyRecord, now: OffsetDateTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(key.private_der.as_slice())
        .bind(&key.public_raw)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- settings -----------------------------------------------------------------------

    pub async fn sso_settings(&self) -> StoreResult<SsoSettings> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = 'sso'")
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(SsoSettings::default()),
            Some(row) => serde_json::from_str(&row.try_get::<String, _>("value")?)
                .map_err(|e| StoreError::Corrupt(format!("sso setting: {e}"))),
        }
    }

    pub async fn set_sso_settings(&self, sso: &SsoSettings) -> StoreResult<()> {
        let value = serde_json::to_string(sso).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ('sso', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether any app has SCIM switched on; decides the SSO user-key warning.
    pub async fn any_scim_enabled(&self) -> StoreResult<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM client_apps WHERE scim_enabled")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    // ---- audit --------------------------------------------------------------------------

    pub async fn audit(&self, e: NewAuditEvent<'_>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, app_id, app_name, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(to_millis(e.at))
        .bind(e.actor)
        .bind(e.action)
        .bind(e.app_id.map(|id| id.to_string()))
        .bind(e.app_name)
        .bind(match e.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        })
        .bind(e.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_audit(&self, app_id: Option<Uuid>, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, app_id, app_name, outcome, detail FROM audit_events \
             WHERE ($1 IS NULL OR app_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(app_id.map(|id| id.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    at: from_millis(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    app_id: r
                        .try_get::<Option<String>, _>("app_id")?
                        .as_deref()
                        .map(parse_uuid)
                        .transpose()?,
                    app_name: r.try_get("app_name")?,
                    outcome: if r.try_get::<String, _>("outcome")? == "success" {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
