//! `/console/v1`: sessions, admins, provisioning apps, dedicated tokens, settings and audit.

use super::auth::{self, Caller};
use super::error::{ApiJson, ApiQuery, AppId};
use super::{ApiError, AppState};
use crate::secret;
use crate::store::{AppRecord, NewApp, NewAuditEvent, StoreError};
use crate::tokens::IssueTokenError;
use crate::validate;
use crate::wire::*;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::net::SocketAddr;
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

/// Writes an audit event; a failure to audit fails the request rather than going unrecorded.
async fn audit(
    state: &AppState,
    actor: &str,
    action: &str,
    app: Option<&AppRecord>,
    outcome: Outcome,
    detail: Option<&str>,
) -> ApiResult<()> {
    state
        .store
        .audit(NewAuditEvent {
            at: state.clock.now(),
            actor,
            action,
            app_id: app.map(|a| a.id),
            app_name: app.map(|a| a.name.as_str()),
            outcome,
            detail,
        })
        .await?;
    Ok(())
}

/// Audits a refused attempt and passes the refusal on.
async fn refused<T>(
    state: &AppState,
    caller: &Caller,
    action: &str,
    app: &AppRecord,
    err: ApiError,
) -> ApiResult<T> {
    audit(
        state,
        caller.username(),
        action,
        Some(app),
        Outcome::Failure,
        Some(&err.message),
    )
    .await?;
    Err(err)
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
    ApiError::bad_request("invalid_field", format!("{field} {e}"))
}

fn name_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "name_taken",
            "another client app already has that name (names are compared regardless of case)",
        ),
        other => other.into(),
    }
}

// ---- sessions and admins -----------------------------------------------------------------

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    let (token, admin) = auth::login(&state, &req.username, &req.password, &peer.ip().to_string()).await?;
    let expires_at = state.clock.now() + state.config.session_idle;
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
    state.store.delete_session(&caller.session_digest).await?;
    audit(
        &state,
        caller.username(),
        "session.logout",
        None,
        Outcome::Success,
        None,
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
            "weak_password",
            "the password must be at least 12 characters",
        ));
    }
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    let admin = state
        .store
        .create_admin(&username, req.role, Some(&hash), state.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict("username_taken", "an admin with that username already exists")
            }
            other => other.into(),
        })?;
    let detail = format!("created {} ({})", admin.username, admin.role.as_str());
    audit(
        &state,
        caller.username(),
        "admin.create",
        None,
        Outcome::Success,
        Some(&detail),
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
    let name = validate::app_name(&req.name).map_err(|e| text_error("name", e))?;
    let description =
        validate::app_description(&req.description).map_err(|e| text_error("description", e))?;
    let client_secret = secret::generate("dcs_");
    let client_id = new_client_id();
    let app = state
        .store
        .insert_app(NewApp {
            name: &name,
            description: &description,
            client_id: &client_id,
            client_secret_digest: &secret::digest(client_secret.expose_secret()),
            creator: &caller.admin,
            now: state.clock.now(),
        })
        .await
        .map_err(name_conflict)?;
    audit(
        &state,
        caller.username(),
        "app.create",
        Some(&app),
        Outcome::Success,
        None,
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
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "app.update", &app, e).await;
    }
    let name = req
        .name
        .as_deref()
        .map(validate::app_name)
        .transpose()
        .map_err(|e| text_error("name", e))?;
    let description = req
        .description
        .as_deref()
        .map(validate::app_description)
        .transpose()
        .map_err(|e| text_error("description", e))?;
    if name.is_none() && description.is_none() {
        return Err(ApiError::bad_request(
            "nothing_to_update",
            "send a name, a description, or both",
        ));
    }
    state
        .store
        .update_app(id, name.as_deref(), description.as_deref(), state.clock.now())
        .await
        .map_err(name_conflict)?;
    let detail = match (&name, &description) {
        (Some(n), _) if *n != app.name => Some(format!("renamed from {:?}", app.name)),
        _ => None,
    };
    audit(
        &state,
        caller.username(),
        "app.update",
        Some(&app),
        Outcome::Success,
        detail.as_deref(),
    )
    .await?;
    Ok(Json(view_one(&state, &caller, id).await?))
}

async fn delete_app(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<StatusCode> {
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "app.delete", &app, e).await;
    }
    state.store.delete_app(id).await?;
    state.tokens.forget_app(id);
    audit(
        &state,
        caller.username(),
        "app.delete",
        Some(&app),
        Outcome::Success,
        None,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_members(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
    ApiJson(req): ApiJson<SetMembers>,
) -> ApiResult<Json<ClientApp>> {
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "app.members", &app, e).await;
    }
    if req.members.is_empty() {
        return Err(ApiError::bad_request(
            "no_members",
            "an app needs at least one member in its access permission",
        ));
    }
    let mut ids = Vec::with_capacity(req.members.len());
    for username in &req.members {
        let record = state.store.admin_by_username(username).await?.ok_or_else(|| {
            ApiError::bad_request(
                "unknown_admin",
                format!(
                    "there is no admin named {:?}",
                    crate::validate::username(username).unwrap_or_else(|_| "(invalid)".into())
                ),
            )
        })?;
        if !record.admin.role.has_developers_authority() {
            return Err(ApiError::bad_request(
                "member_lacks_authority",
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
    state.store.set_members(id, &ids, state.clock.now()).await?;
    let mut names: Vec<_> = req.members.iter().map(|m| m.to_lowercase()).collect();
    names.sort();
    names.dedup();
    let detail = format!("members: {}", names.join(", "));
    audit(
        &state,
        caller.username(),
        "app.members",
        Some(&app),
        Outcome::Success,
        Some(&detail),
    )
    .await?;
    Ok(Json(view_one(&state, &caller, id).await?))
}

async fn reissue_client_secret(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<Json<ClientSecretIssued>> {
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "app.client_secret.reissue", &app, e).await;
    }
    let client_secret = secret::generate("dcs_");
    state
        .store
        .set_client_secret_digest(
            id,
            &secret::digest(client_secret.expose_secret()),
            state.clock.now(),
        )
        .await?;
    audit(
        &state,
        caller.username(),
        "app.client_secret.reissue",
        Some(&app),
        Outcome::Success,
        None,
    )
    .await?;
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
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    let action = if req.enabled {
        "app.scim.enable"
    } else {
        "app.scim.disable"
    };
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, action, &app, e).await;
    }
    let revoked_token_id = state.store.set_scim(id, req.enabled, state.clock.now()).await?;
    state.tokens.forget_app(id);
    let detail = revoked_token_id.map(|t| format!("revoked token {t}"));
    audit(
        &state,
        caller.username(),
        action,
        Some(&app),
        Outcome::Success,
        detail.as_deref(),
    )
    .await?;
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
    let token = state
        .store
        .latest_token(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no_token", "no token has been issued for this app"))?;
    Ok(Json(state.tokens.describe(&token)))
}

async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "token.issue", &app, e).await;
    }
    match state.tokens.issue_token(id).await {
        Ok(issued) => {
            let detail = format!("token {}", issued.token_id);
            audit(
                &state,
                caller.username(),
                "token.issue",
                Some(&app),
                Outcome::Success,
                Some(&detail),
            )
            .await?;
            Ok((StatusCode::CREATED, Json(issued)))
        }
        Err(e) => refused(&state, &caller, "token.issue", &app, issue_error(e)).await,
    }
}

pub(super) fn issue_error(e: IssueTokenError) -> ApiError {
    match e {
        IssueTokenError::AppNotFound => ApiError::app_not_found(),
        IssueTokenError::ScimDisabled => ApiError::conflict("scim_disabled", e.to_string()),
        IssueTokenError::TokenExists => ApiError::conflict("token_exists", e.to_string()),
        IssueTokenError::Sign => ApiError::internal(),
        IssueTokenError::Store(e) => e.into(),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    AppId(id): AppId,
) -> ApiResult<StatusCode> {
    caller.require_developers_authority()?;
    let app = load_app(&state, id).await?;
    if let Err(e) = caller.require_manage(&app) {
        return refused(&state, &caller, "token.revoke", &app, e).await;
    }
    match state.tokens.revoke(id).await? {
        Some(token_id) => {
            let detail = format!("token {token_id}");
            audit(
                &state,
                caller.username(),
                "token.revoke",
                Some(&app),
                Outcome::Success,
                Some(&detail),
            )
            .await?;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::not_found(
            "no_active_token",
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
    state.store.set_sso_settings(&req).await?;
    let detail = format!("enabled={} user_key={:?}", req.enabled, req.user_key);
    audit(
        &state,
        caller.username(),
        "settings.sso",
        None,
        Outcome::Success,
        Some(&detail),
    )
    .await?;
    Ok(Json(req))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    app: Option<Uuid>,
    limit: Option<i64>,
}

async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    caller.require_developers_authority()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 1000",
        ));
    }
    Ok(Json(state.store.list_audit(q.app, limit).await?))
}
