//! `/console/v1`: sessions, admins, provisioning apps, dedicated tokens, settings and audit.
//!
//! Every change opens one transaction, applies the rules, writes its audit record in the same
//! transaction and commits: a change is never left unaudited, and an audit failure never leaves
//! a half-done change behind.

use super::auth::{self, Caller, ClientAddr};
use super::error::{ApiJson, AppId};
use super::{ApiError, AppState};
use crate::secret;
use crate::store::{AppRecord, AuditFilter, NameKeys, NewApp, NewAuditEvent, StoreError, Tx};
use crate::tokens::IssueTokenError;
use crate::validate;
use crate::wire::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(login))
        .route("/sessions/current", axum::routing::delete(logout))
        .route("/me", get(me))
        .route("/admins", get(list_admins).post(create_admin))
        .route("/apps", get(list_apps).post(create_app))
        .route("/apps/{id}", get(get_app).patch(update_app).delete(delete_app))
        .route("/apps/{id}/members", put(set_members))
        .route("/apps/{id}/client-secret", post(reissue_client_secret))
        .route("/apps/{id}/scim", put(set_scim))
        .route(
            "/apps/{id}/token",
            get(get_token).post(issue_token).delete(revoke_token),
        )
        .route("/settings/sso", get(get_sso).put(put_sso))
        .route("/audit", get(list_audit))
}

type ApiResult<T> = Result<T, ApiError>;

/// Writes one audit record in a transaction of its own: for refusals, where nothing changed.
async fn audit_alone(state: &AppState, event: NewAuditEvent<'_>) -> ApiResult<()> {
    let mut tx = state.store.begin().await?;
    tx.insert_audit(&event).await?;
    tx.commit().await?;
    Ok(())
}

/// Commits `tx` with the caller's success record.
async fn commit_with(mut tx: Tx, event: NewAuditEvent<'_>) -> ApiResult<()> {
    tx.insert_audit(&event).await?;
    tx.commit().await?;
    Ok(())
}

/// Abandons `tx`, audits the refusal and passes it on.
async fn refused<T>(
    state: &AppState,
    tx: Tx,
    caller: &Caller,
    action: AuditAction,
    app: &AppRecord,
    err: ApiError,
) -> ApiResult<T> {
    drop(tx);
    let now = state.clock.now();
    audit_alone(
        state,
        caller.event(now, action, Some(app), Outcome::Failure, Some(&err.message)),
    )
    .await?;
    Err(err)
}

/// Begins a transaction holding the app, and checks the caller may change it.
async fn lock_managed_app(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    action: AuditAction,
) -> ApiResult<(Tx, AppRecord)> {
    caller.require_developers_authority()?;
    let mut tx = state.store.begin().await?;
    let app = tx.lock_app(id).await?.ok_or_else(ApiError::app_not_found)?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(state, tx, caller, action, &app, e).await;
    }
    Ok((tx, app))
}

async fn load_app(state: &AppState, id: Uuid) -> ApiResult<AppRecord> {
    state.store.app(id).await?.ok_or_else(ApiError::app_not_found)
}

/// The SSO user-key warning from the source document, when it applies.
async fn sso_warnings(state: &AppState) -> ApiResult<Vec<String>> {
    let sso = state.store.sso_settings().await?;
    if sso.enabled && sso.user_key != SsoUserKey::LineworksAccount && state.store.any_scim_enabled().await? {
        Ok(vec![
            "To use provisioning and SSO at the same time, select LINE WORKS Account as the User Key \
             in SSO Type; the current SSO user key will not match provisioned accounts."
                .to_owned(),
        ])
    } else {
        Ok(Vec::new())
    }
}

fn view(
    state: &AppState,
    caller: &Caller,
    app: AppRecord,
    token: Option<&crate::store::TokenRecord>,
    warnings: &[String],
) -> ClientApp {
    ClientApp {
        can_manage: caller.can_manage(&app),
        token: token.map(|t| state.tokens.describe(t)),
        id: app.id,
        app_type: app.app_type,
        name: app.name,
        description: app.description,
        client_id: app.client_id,
        scim_enabled: app.scim_enabled,
        service_account: app.service_account,
        members: app.members.into_iter().map(|(_, u)| u).collect(),
        created_by: app.created_by,
        created_at: app.created_at,
        updated_at: app.updated_at,
        warnings: warnings.to_vec(),
        scim_base_url: format!("{}/scim/v2", state.base_url.trim_end_matches('/')),
    }
}

async fn view_one(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<ClientApp> {
    let app = load_app(state, id).await?;
    let token = state.store.latest_token(id).await?;
    let warnings = sso_warnings(state).await?;
    Ok(view(state, caller, app, token.as_ref(), &warnings))
}

fn text_error(field: &'static str, e: validate::TextError) -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidField, format!("{field} {e}"))
}

fn name_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            ErrorCode::NameTaken,
            "another client app already has that name, or one that looks the same \
             (names are compared regardless of case and of look-alike characters)",
        ),
        other => other.into(),
    }
}

/// A validated app name and its uniqueness keys.
struct AppName {
    name: String,
    key: String,
    skeleton: String,
}

impl AppName {
    fn parse(raw: &str) -> ApiResult<AppName> {
        let name = validate::app_name(raw).map_err(|e| text_error("name", e))?;
        Ok(AppName {
            key: validate::name_key(&name),
            skeleton: validate::name_skeleton(&name),
            name,
        })
    }

    fn keys(&self) -> NameKeys<'_> {
        NameKeys {
            name: &self.name,
            key: &self.key,
            skeleton: &self.skeleton,
        }
    }
}

// ---- sessions and admins -----------------------------------------------------------------

async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    let (token, admin) = auth::login(&state, &req.username, &req.password, &address).await?;
    let expires_at = state.clock.now() + state.config.session_idle.min(state.config.session_lifetime);
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            token,
            expires_at,
            admin,
        }),
    ))
}

async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let mut tx = state.store.begin().await?;
    tx.delete_session(&caller.session_digest).await?;
    let now = state.clock.now();
    commit_with(
        tx,
        caller.event(now, AuditAction::SessionLogout, None, Outcome::Success, None),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(caller: Caller) -> Json<Admin> {
    Json(caller.admin)
}

async fn list_admins(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Admin>>> {
    caller.require_developers_authority()?;
    Ok(Json(state.store.list_admins().await?))
}

async fn create_admin(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAdmin>,
) -> ApiResult<(StatusCode, Json<Admin>)> {
    caller.require_super_admin()?;
    let username = validate::username(&req.username).map_err(|e| text_error("username", e))?;
    if req.password.expose_secret().chars().count() < 12 {
        return Err(ApiError::bad_request(
            ErrorCode::WeakPassword,
            "the password must be at least 12 characters",
        ));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    let now = state.clock.now();
    let admin = Admin {
        id: Uuid::now_v7(),
        username,
        role: req.role,
        created_at: now,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_admin(&admin, Some(&hash)).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::conflict(
            ErrorCode::UsernameTaken,
            "an admin with that username already exists",
        ),
        other => other.into(),
    })?;
    let detail = format!("created {} ({})", admin.username, admin.role.as_str());
    commit_with(
        tx,
        caller.event(
            now,
            AuditAction::AdminCreate,
            None,
            Outcome::Success,
            Some(&detail),
        ),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(admin)))
}

// ---- apps ---------------------------------------------------------------------------------

async fn list_apps(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ClientApp>>> {
    caller.require_developers_authority()?;
    let apps = state.store.list_apps().await?;
    let tokens = state.store.latest_tokens().await?;
    let warnings = sso_warnings(&state).await?;
    Ok(Json(
        apps.into_iter()
            .map(|app| {
                let token = tokens.get(&app.id);
                view(&state, &caller, app, token, &warnings)
            })
            .collect(),
    ))
}

async fn create_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApp>,
) -> ApiResult<(StatusCode, Json<AppCreated>)> {
    caller.require_developers_authority()?;
    let name = AppName::parse(&req.name)?;
    let description =
        validate::app_description(&req.description).map_err(|e| text_error("description", e))?;
    let client_secret = secret::generate("dcs_");
    let client_id = new_client_id();
    let id = Uuid::now_v7();
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    tx.insert_app(&NewApp {
        id,
        name: name.keys(),
        description: &description,
        client_id: &client_id,
        client_secret_digest: &secret::digest(client_secret.expose_secret()),
        created_by: &caller.admin.username,
        now,
    })
    .await
    .map_err(name_conflict)?;
    tx.add_member(id, caller.admin.id).await?;
    let app = tx.lock_app(id).await?.ok_or(StoreError::NotFound)?;
    commit_with(
        tx,
        caller.event(now, AuditAction::AppCreate, Some(&app), Outcome::Success, None),
    )
    .await?;
    let warnings = sso_warnings(&state).await?;
    let app = view(&state, &caller, app, None, &warnings);
    Ok((StatusCode::CREATED, Json(AppCreated { app, client_secret })))
}

/// A client ID: not a secret, but unguessable so apps cannot be enumerated.
fn new_client_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

async fn get_app(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<Json<ClientApp>> {
    caller.require_developers_authority()?;
    Ok(Json(view_one(&state, &caller, id).await?))
}

async fn update_app(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
    ApiJson(req): ApiJson<UpdateApp>,
) -> ApiResult<Json<ClientApp>> {
    let (mut tx, app) = lock_managed_app(&state, &caller, id, AuditAction::AppUpdate).await?;
    let name = req.name.as_deref().map(AppName::parse).transpose()?;
    let description = req
        .description
        .as_deref()
        .map(validate::app_description)
        .transpose()
        .map_err(|e| text_error("description", e))?;
    if name.is_none() && description.is_none() {
        return Err(ApiError::bad_request(
            ErrorCode::NothingToUpdate,
            "send a name, a description, or both",
        ));
    }
    let now = state.clock.now();
    let keys = name.as_ref().map(AppName::keys);
    tx.update_app(id, keys.as_ref(), description.as_deref(), now)
        .await
        .map_err(name_conflict)?;
    let detail = match &name {
        Some(n) if n.name != app.name => Some(format!("renamed from {:?}", app.name)),
        _ => None,
    };
    commit_with(
        tx,
        caller.event(
            now,
            AuditAction::AppUpdate,
            Some(&app),
            Outcome::Success,
            detail.as_deref(),
        ),
    )
    .await?;
    Ok(Json(view_one(&state, &caller, id).await?))
}

async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<StatusCode> {
    let (mut tx, app) = lock_managed_app(&state, &caller, id, AuditAction::AppDelete).await?;
    tx.delete_app(id).await?;
    let now = state.clock.now();
    commit_with(
        tx,
        caller.event(now, AuditAction::AppDelete, Some(&app), Outcome::Success, None),
    )
    .await?;
    state.tokens.forget_app(id);
    Ok(StatusCode::NO_CONTENT)
}

async fn set_members(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
    ApiJson(req): ApiJson<SetMembers>,
) -> ApiResult<Json<ClientApp>> {
    let (mut tx, app) = lock_managed_app(&state, &caller, id, AuditAction::AppMembers).await?;
    if req.members.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::NoMembers,
            "an app needs at least one member in its access permission",
        ));
    }
    let mut ids = Vec::with_capacity(req.members.len());
    for username in &req.members {
        let record = tx.lock_admin(username).await?.ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::UnknownAdmin,
                format!(
                    "there is no admin named {:?}",
                    validate::username(username).unwrap_or_else(|_| "(invalid)".into())
                ),
            )
        })?;
        if !record.admin.role.has_developers_authority() {
            return Err(ApiError::bad_request(
                ErrorCode::MemberLacksAuthority,
                format!(
                    "{} does not have Developers authority, so cannot manage provisioning apps",
                    record.admin.username
                ),
            ));
        }
        if !ids.contains(&record.admin.id) {
            ids.push(record.admin.id);
        }
    }
    let now = state.clock.now();
    tx.set_members(id, &ids, now).await?;
    let mut names: Vec<_> = req.members.iter().map(|m| m.to_lowercase()).collect();
    names.sort();
    names.dedup();
    let detail = format!("members: {}", names.join(", "));
    commit_with(
        tx,
        caller.event(
            now,
            AuditAction::AppMembers,
            Some(&app),
            Outcome::Success,
            Some(&detail),
        ),
    )
    .await?;
    Ok(Json(view_one(&state, &caller, id).await?))
}

async fn reissue_client_secret(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<Json<ClientSecretIssued>> {
    let action = AuditAction::AppClientSecretReissue;
    let (mut tx, app) = lock_managed_app(&state, &caller, id, action).await?;
    let client_secret = secret::generate("dcs_");
    let now = state.clock.now();
    tx.set_client_secret_digest(id, &secret::digest(client_secret.expose_secret()), now)
        .await?;
    commit_with(tx, caller.event(now, action, Some(&app), Outcome::Success, None)).await?;
    Ok(Json(ClientSecretIssued {
        client_id: app.client_id,
        client_secret,
    }))
}

async fn set_scim(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
    ApiJson(req): ApiJson<SetScim>,
) -> ApiResult<Json<ScimChanged>> {
    let action = if req.enabled {
        AuditAction::AppScimEnable
    } else {
        AuditAction::AppScimDisable
    };
    let (mut tx, app) = lock_managed_app(&state, &caller, id, action).await?;
    let now = state.clock.now();
    tx.set_scim(id, req.enabled, now).await?;
    // Turning SCIM off revokes the active token in the same transaction.
    let revoked_token_id = if req.enabled {
        None
    } else {
        state.tokens.revoke(&mut tx, id).await?
    };
    let detail = revoked_token_id.map(|t| format!("revoked token {t}"));
    commit_with(
        tx,
        caller.event(now, action, Some(&app), Outcome::Success, detail.as_deref()),
    )
    .await?;
    state.tokens.forget_app(id);
    Ok(Json(ScimChanged {
        app: view_one(&state, &caller, id).await?,
        revoked_token_id,
    }))
}

// ---- dedicated token ----------------------------------------------------------------------

async fn get_token(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<Json<DedicatedToken>> {
    caller.require_developers_authority()?;
    load_app(&state, id).await?;
    let token =
        state.store.latest_token(id).await?.ok_or_else(|| {
            ApiError::not_found(ErrorCode::NoToken, "no token has been issued for this app")
        })?;
    Ok(Json(state.tokens.describe(&token)))
}

async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let action = AuditAction::TokenIssue;
    let (mut tx, app) = lock_managed_app(&state, &caller, id, action).await?;
    match state.tokens.issue_token(&mut tx, id).await {
        Ok(issued) => {
            let detail = format!("token {}", issued.token_id);
            let now = state.clock.now();
            commit_with(
                tx,
                caller.event(now, action, Some(&app), Outcome::Success, Some(&detail)),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(issued)))
        }
        Err(e) => refused(&state, tx, &caller, action, &app, issue_error(e)).await,
    }
}

pub(super) fn issue_error(e: IssueTokenError) -> ApiError {
    match e {
        IssueTokenError::AppNotFound => ApiError::app_not_found(),
        IssueTokenError::ScimDisabled => ApiError::conflict(ErrorCode::ScimDisabled, e.to_string()),
        IssueTokenError::TokenExists => ApiError::conflict(ErrorCode::TokenExists, e.to_string()),
        IssueTokenError::Sign => ApiError::internal(),
        IssueTokenError::Store(e) => e.into(),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<StatusCode> {
    let action = AuditAction::TokenRevoke;
    let (mut tx, app) = lock_managed_app(&state, &caller, id, action).await?;
    match state.tokens.revoke(&mut tx, id).await? {
        Some(token_id) => {
            let detail = format!("token {token_id}");
            let now = state.clock.now();
            commit_with(
                tx,
                caller.event(now, action, Some(&app), Outcome::Success, Some(&detail)),
            )
            .await?;
            state.tokens.forget_app(id);
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::not_found(
            ErrorCode::NoActiveToken,
            "this app has no active token to revoke",
        )),
    }
}

// ---- settings and audit -------------------------------------------------------------------

async fn get_sso(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SsoSettings>> {
    caller.require_developers_authority()?;
    Ok(Json(state.store.sso_settings().await?))
}

async fn put_sso(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SsoSettings>,
) -> ApiResult<Json<SsoSettings>> {
    caller.require_developers_authority()?;
    let mut tx = state.store.begin().await?;
    tx.set_sso_settings(&req).await?;
    let detail = format!("enabled={} user_key={:?}", req.enabled, req.user_key);
    let now = state.clock.now();
    commit_with(
        tx,
        caller.event(
            now,
            AuditAction::SettingsSso,
            None,
            Outcome::Success,
            Some(&detail),
        ),
    )
    .await?;
    Ok(Json(req))
}

// ---- paged lists ------------------------------------------------------------------------------

/// A list's page sizes: `limit` defaults to `DEFAULT` and may be at most `MAX`.
pub trait PageBounds {
    const DEFAULT: i64;
    const MAX: i64;
}

/// Why a list query's paging half was refused. Both answer 400 `invalid_query`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit must be a whole number between 1 and {max}")]
    Limit { max: i64 },
    #[error("cursor is not one this server handed out; pass next_cursor back unchanged")]
    Cursor,
}

impl From<PageError> for ApiError {
    fn from(e: PageError) -> Self {
        ApiError::bad_request(ErrorCode::InvalidQuery, e.to_string())
    }
}

/// The query of a paged, newest-first list: `limit` and `cursor` (the `next_cursor` of the
/// previous page, which is the last row id shown), checked once here for every list; the rest
/// of the query string is the list's own filter `F` (with its own unknown-field checks).
#[derive(Debug)]
pub struct PageQuery<F> {
    pub filter: F,
    pub limit: i64,
    /// Only rows older than this id.
    pub before_id: Option<i64>,
}

impl<F: PageBounds> PageQuery<F> {
    /// Parses a raw query string.
    pub fn parse(query: &str) -> Result<Self, ApiError>
    where
        F: serde::de::DeserializeOwned,
    {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.to_string()))?;
        let (mut limit, mut cursor, mut rest) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in pairs {
            match k.as_str() {
                "limit" => limit.push(v),
                "cursor" => cursor.push(v),
                _ => rest.push((k, v)),
            }
        }
        let limit = match limit.as_slice() {
            [] => F::DEFAULT,
            [one] => one
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=F::MAX).contains(n))
                .ok_or(PageError::Limit { max: F::MAX })?,
            _ => return Err(PageError::Limit { max: F::MAX }.into()),
        };
        let before_id = match cursor.as_slice() {
            [] => None,
            [one] => Some(
                one.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or(PageError::Cursor)?,
            ),
            _ => return Err(PageError::Cursor.into()),
        };
        let rest = serde_urlencoded::to_string(&rest)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, e.to_string()))?;
        let filter = serde_urlencoded::from_str::<F>(&rest)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidQuery, format!("bad query: {e}")))?;
        Ok(PageQuery {
            filter,
            limit,
            before_id,
        })
    }

    /// The cursor of the next page: a full page may have more behind it.
    pub fn next_cursor(&self, shown: usize, last_id: Option<i64>) -> Option<String> {
        (shown as i64 == self.limit)
            .then(|| last_id.map(|id| id.to_string()))
            .flatten()
    }
}

impl<F, S> axum::extract::FromRequestParts<S> for PageQuery<F>
where
    F: PageBounds + serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Self::parse(parts.uri.query().unwrap_or(""))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    app: Option<Uuid>,
}

/// Largest audit page. Every stored field is bounded, so a page is bounded too.
pub const AUDIT_PAGE_MAX: i64 = 1000;

impl PageBounds for AuditQuery {
    const DEFAULT: i64 = 100;
    const MAX: i64 = AUDIT_PAGE_MAX;
}

async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    q: PageQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    caller.require_developers_authority()?;
    let events = state
        .store
        .list_audit(AuditFilter {
            app_id: q.filter.app,
            before_id: q.before_id,
            limit: q.limit,
        })
        .await?;
    let next_cursor = q.next_cursor(events.len(), events.last().map(|e| e.id));
    Ok(Json(AuditPage { events, next_cursor }))
}
