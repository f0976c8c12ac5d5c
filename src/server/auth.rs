//! Sessions and who may do what.

use super::{ApiError, AppState};
use crate::secret;
use crate::store::{AppRecord, NewAuditEvent, Tx};
use crate::validate;
use crate::wire::{Admin, AuditAction, ErrorCode, Outcome, Role};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use std::net::{IpAddr, SocketAddr};
use time::OffsetDateTime;

/// The built-in super admin of embedded mode. Not a valid username, so nobody can create or
/// log in as it.
pub const LOCAL_ADMIN: &str = "(local)";

/// An authenticated console caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub admin: Admin,
    /// Digest of the session token, for logout.
    pub session_digest: String,
    /// Where the request came from, for the audit log.
    pub address: String,
}

impl Caller {
    pub fn username(&self) -> &str {
        &self.admin.username
    }

    /// An audit record of something this caller did.
    pub fn event<'a>(
        &'a self,
        at: OffsetDateTime,
        action: AuditAction,
        app: Option<&'a AppRecord>,
        outcome: Outcome,
        detail: Option<&'a str>,
    ) -> NewAuditEvent<'a> {
        NewAuditEvent {
            at,
            actor: self.username(),
            action,
            app_id: app.map(|a| a.id),
            app_name: app.map(|a| a.name.as_str()),
            outcome,
            detail,
            address: Some(&self.address),
        }
    }

    /// Super admins and admins with Developers authority.
    pub fn require_developers_authority(&self) -> Result<(), ApiError> {
        if self.admin.role.has_developers_authority() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                ErrorCode::DevelopersAuthorityRequired,
                "Developers authority is required to create, get, update and delete provisioning apps",
            ))
        }
    }

    pub fn require_super_admin(&self) -> Result<(), ApiError> {
        if self.admin.role == Role::SuperAdmin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                ErrorCode::SuperAdminRequired,
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
                ErrorCode::NotAppMember,
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

/// The caller's address: the TCP peer, or, when the peer is one of `serve --trusted-proxy`, the
/// nearest untrusted hop named in `X-Forwarded-For` (read right to left). From anyone else the
/// header is ignored, so it cannot be used to dodge the per-address lockout or forge the log.
pub fn client_address(parts: &Parts, trusted: &[ipnet::IpNet]) -> String {
    let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
        return "unknown".to_owned();
    };
    let mut address = peer.ip().to_canonical();
    if trusted.iter().any(|net| net.contains(&address)) {
        let hops = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    address = ip.to_canonical();
                    if !trusted.iter().any(|net| net.contains(&address)) {
                        break;
                    }
                }
                // A hop we cannot read ends the chain; keep the last one we trust.
                Err(_) => break,
            }
        }
    }
    address.to_string()
}

/// The caller's address as an extractor; see [`client_address`].
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(parts, &state.config.trusted_proxies)))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized("sign in first: send Authorization: Bearer <session token>")
        })?;
        let digest = secret::digest(token);
        let session =
            state.store.session(&digest).await?.ok_or_else(|| {
                ApiError::unauthorized("the session is unknown or has ended; sign in again")
            })?;
        let now = state.clock.now();
        if now - session.created_at >= state.config.session_lifetime {
            state.store.drop_session(&digest).await?;
            return Err(ApiError::unauthorized(format!(
                "the session reached its maximum lifetime of {} h; sign in again",
                state.config.session_lifetime.whole_hours()
            )));
        }
        if now - session.last_seen_at >= state.config.session_idle {
            state.store.drop_session(&digest).await?;
            return Err(ApiError::unauthorized(
                "the session expired after being idle; sign in again",
            ));
        }
        // Coalesce: a busy console should not write on every request.
        if now - session.last_seen_at >= time::Duration::minutes(1) {
            state.store.touch_session(&digest, now).await?;
        }
        Ok(Caller {
            admin: session.admin,
            session_digest: digest,
            address: client_address(parts, &state.config.trusted_proxies),
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

/// The window a refused sign-in is counted in, for collapsing audit rows.
fn window_bucket(now: OffsetDateTime, window: time::Duration) -> i128 {
    let w = window.whole_milliseconds().max(1);
    (now - OffsetDateTime::UNIX_EPOCH).whole_milliseconds() / w
}

fn seconds_until(t: Option<OffsetDateTime>, window: time::Duration, now: OffsetDateTime) -> u64 {
    t.map(|oldest| (oldest + window - now).whole_seconds().max(1) as u64)
        .unwrap_or(1)
}

/// Checks a username and password; on success opens a session and returns its token.
///
/// The attempt is reserved in the database before the password is checked, inside one write
/// transaction that first counts the recent failures: so at most `max_failures_per_username`
/// passwords are ever checked per window, whatever the concurrency, across restarts and across
/// instances. Refusals are audited collapsed, one row per (claimed name, address, window).
pub async fn login(
    state: &AppState,
    username: &str,
    password: &SecretString,
    address: &str,
) -> Result<(SecretString, Admin), ApiError> {
    let now = state.clock.now();
    let limits = &state.config.login_limits;
    let window = time::Duration::try_from(limits.window).unwrap_or(time::Duration::minutes(15));
    let valid = validate::username(username).is_ok();
    let actor = validate::claimed_name_for_log(username, valid);
    let user_key = if valid {
        username.to_lowercase()
    } else {
        actor.clone()
    };
    let bucket = window_bucket(now, window);
    let failed = |detail: &'static str| NewAuditEvent {
        at: now,
        actor: &actor,
        action: AuditAction::SessionLogin,
        app_id: None,
        app_name: None,
        outcome: Outcome::Failure,
        detail: Some(detail),
        address: Some(address),
    };
    // Wrong passwords and lockout refusals are counted on separate rows, so each row's detail
    // says what its count is of.
    let failed_key = format!("login-failed|{actor}|{address}|{bucket}");

    let mut tx = state.store.begin().await?;
    tx.lock_login(&user_key, address).await?;
    tx.prune_login_attempts(now - window).await?;
    let f = tx.login_failures(&user_key, address, now - window).await?;
    let user_locked = f.for_username >= limits.max_failures_per_username as u64;
    if user_locked || f.from_address >= limits.max_failures_per_address as u64 {
        let wait = if user_locked {
            seconds_until(f.oldest_for_username, window, now)
        } else {
            seconds_until(f.oldest_from_address, window, now)
        };
        if user_locked {
            tx.insert_audit_collapsed(
                &failed("rate limited: too many failed sign-ins for this username"),
                &format!("login-locked|{actor}|{address}|{bucket}"),
            )
            .await?;
        } else {
            // One row per address however many usernames it sprays.
            let ev = NewAuditEvent {
                actor: "(any username)",
                ..failed("rate limited: too many failed sign-ins from this address")
            };
            tx.insert_audit_collapsed(&ev, &format!("login-address|{address}|{bucket}"))
                .await?;
        }
        tx.commit().await?;
        return Err(ApiError::too_many(
            format!("too many failed sign-ins; try again in {wait} s"),
            wait,
        ));
    }
    let attempt = tx.insert_login_attempt(&user_key, address, now).await?;
    if !valid {
        // No admin can have this name, so there is no password to check.
        tx.finish_login_attempt(attempt, Outcome::Failure).await?;
        tx.insert_audit_collapsed(&failed("wrong username or password"), &failed_key)
            .await?;
        tx.commit().await?;
        return Err(ApiError::unauthorized("wrong username or password"));
    }
    tx.commit().await?;

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

    let mut tx = state.store.begin().await?;
    let Some(record) = record.filter(|_| ok) else {
        tx.finish_login_attempt(attempt, Outcome::Failure).await?;
        tx.insert_audit_collapsed(&failed("wrong username or password"), &failed_key)
            .await?;
        tx.commit().await?;
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    tx.finish_login_attempt(attempt, Outcome::Success).await?;
    tx.clear_login_failures(&user_key).await?;
    let token = open_session(&mut tx, &record.admin, now).await?;
    tx.insert_audit(&NewAuditEvent {
        actor: &record.admin.username,
        outcome: Outcome::Success,
        detail: None,
        ..failed("")
    })
    .await?;
    tx.commit().await?;
    Ok((token, record.admin))
}

async fn open_session(tx: &mut Tx, admin: &Admin, now: OffsetDateTime) -> Result<SecretString, ApiError> {
    let token = secret::generate("dcsess_");
    tx.insert_session(&secret::digest(token.expose_secret()), admin.id, now)
        .await?;
    Ok(token)
}

pub async fn mint_local_session(state: &AppState) -> Result<SecretString, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let admin = match tx.lock_admin(LOCAL_ADMIN).await? {
        Some(record) => record.admin,
        None => {
            let admin = Admin {
                id: uuid::Uuid::now_v7(),
                username: LOCAL_ADMIN.to_owned(),
                role: Role::SuperAdmin,
                created_at: now,
            };
            tx.insert_admin(&admin, None).await?;
            admin
        }
    };
    let token = open_session(&mut tx, &admin, now).await?;
    tx.commit().await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(peer: [u8; 4], forwarded: &[&str]) -> Parts {
        let mut req = axum::http::Request::builder();
        for f in forwarded {
            req = req.header("x-forwarded-for", *f);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
        parts
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_address(&parts([203, 0, 113, 7], &["1.2.3.4"]), &trusted),
            "203.0.113.7"
        );
        // From a trusted proxy: the nearest untrusted hop, read right to left, so a client cannot
        // put a fake address in front.
        assert_eq!(
            client_address(
                &parts([10, 0, 0, 5], &["6.6.6.6, 198.51.100.2, 10.1.1.1"]),
                &trusted
            ),
            "198.51.100.2"
        );
        assert_eq!(
            client_address(&parts([10, 0, 0, 5], &["6.6.6.6", "198.51.100.2"]), &trusted),
            "198.51.100.2",
            "several headers are one list"
        );
        // A hop that is not an address ends the chain at the last trusted one.
        assert_eq!(
            client_address(&parts([10, 0, 0, 5], &["198.51.100.2, garbage"]), &trusted),
            "10.0.0.5"
        );
        assert_eq!(client_address(&parts([10, 0, 0, 5], &[]), &trusted), "10.0.0.5");
        assert_eq!(
            client_address(&parts([10, 0, 0, 5], &["1.2.3.4"]), &[]),
            "10.0.0.5"
        );
    }
}
