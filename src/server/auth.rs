//! Sessions and who may do what.

use super::{ApiError, AppState};
use crate::secret;
use crate::store::{AppRecord, NewAuditEvent};
use crate::wire::{Admin, Outcome, Role};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

/// The built-in super admin of embedded mode. Not a valid username, so nobody can create or
/// log in as it.
pub const LOCAL_ADMIN: &str = "(local)";

/// An authenticated console caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub admin: Admin,
    /// Digest of the session token, for logout.
    pub session_digest: String,
}

impl Caller {
    pub fn username(&self) -> &str {
        &self.admin.username
    }

    /// Super admins and admins with Developers authority.
    pub fn require_developers_authority(&self) -> Result<(), ApiError> {
        if self.admin.role.has_developers_authority() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "developers_authority_required",
                "Developers authority is required to create, get, update and delete provisioning apps",
            ))
        }
    }

    pub fn require_super_admin(&self) -> Result<(), ApiError> {
        if self.admin.role == Role::SuperAdmin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "super_admin_required",
                "only a super admin may do this",
            ))
        }
    }

    pub fn can_manage(&self, app: &AppRecord) -> bool {
        self.admin.role == Role::SuperAdmin
            || (self.admin.role.has_developers_authority() && app.is_member(self.admin.id))
    }

    /// Members of the app's access permission, and super admins.
    pub fn require_manage(&self, app: &AppRecord) -> Result<(), ApiError> {
        self.require_developers_authority()?;
        if self.can_manage(app) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "not_app_member",
                "only members of this app's access permission, or a super admin, may change it",
            ))
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("sign in first: send Authorization: Bearer <session token>")
        })?;
        let digest = secret::digest(token);
        let (admin, last_seen) =
            state.store.session(&digest).await?.ok_or_else(|| {
                ApiError::unauthorized("the session is unknown or has ended; sign in again")
            })?;
        let now = state.clock.now();
        if now - last_seen >= state.config.session_idle {
            state.store.delete_session(&digest).await?;
            return Err(ApiError::unauthorized(
                "the session expired after being idle; sign in again",
            ));
        }
        // Coalesce: a busy console should not write on every request.
        if now - last_seen >= time::Duration::minutes(1) {
            state.store.touch_session(&digest, now).await?;
        }
        Ok(Caller {
            admin,
            session_digest: digest,
        })
    }
}

pub fn hash_password(password: &SecretString) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)?
        .to_string())
}

fn verify_password(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, so unknown usernames cost as much as wrong passwords.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&secret::generate("")).unwrap_or_default())
}

/// Checks a username and password; on success opens a session and returns its token.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &SecretString,
    address: &str,
) -> Result<(SecretString, Admin), ApiError> {
    let now = state.clock.now();
    let audit = |outcome, detail: Option<&'static str>| NewAuditEvent {
        at: now,
        actor: username,
        action: "session.login",
        app_id: None,
        app_name: None,
        outcome,
        detail,
    };
    if let Err(wait) = state.login_limiter.check(username, address) {
        state
            .store
            .audit(audit(Outcome::Failure, Some("rate limited")))
            .await?;
        return Err(ApiError::too_many(
            format!("too many failed sign-ins; try again in {wait} s"),
            wait,
        ));
    }
    let record = state.store.admin_by_username(username).await?;
    let password = password.clone();
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(record) = record.filter(|_| ok) else {
        state.login_limiter.record_failure(username, address);
        state
            .store
            .audit(audit(Outcome::Failure, Some("wrong username or password")))
            .await?;
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    state.login_limiter.record_success(username);
    let token = open_session(state, &record.admin).await?;
    state.store.audit(audit(Outcome::Success, None)).await?;
    Ok((token, record.admin))
}

async fn open_session(state: &AppState, admin: &Admin) -> Result<SecretString, ApiError> {
    let token = secret::generate("dcsess_");
    state
        .store
        .create_session(
            &secret::digest(token.expose_secret()),
            admin.id,
            state.clock.now(),
        )
        .await?;
    Ok(token)
}

pub async fn mint_local_session(state: &AppState) -> Result<SecretString, ApiError> {
    let now = state.clock.now();
    let admin = match state.store.admin_by_username(LOCAL_ADMIN).await? {
        Some(record) => record.admin,
        None => {
            state
                .store
                .create_admin(LOCAL_ADMIN, Role::SuperAdmin, None, now)
                .await?
        }
    };
    open_session(state, &admin).await
}
