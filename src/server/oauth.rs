//! `POST /oauth2/v2.0/token`: the client-credentials grant that yields the long-lived token.
//!
//! It follows the console button's rules (SCIM on, one active token), so a lost token is
//! replaced the same way: revoke in the console, then ask again.

use super::AppState;
use super::auth::ClientAddr;
use crate::secret;
use crate::store::NewAuditEvent;
use crate::tokens::IssueTokenError;
use crate::wire::{AuditAction, OAuthError, OAuthErrorCode, OAuthToken, Outcome};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;

struct Refusal {
    status: StatusCode,
    error: OAuthErrorCode,
    description: String,
    basic: bool,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Refusal {
            status,
            error,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = Json(OAuthError {
            error: self.error,
            error_description: self.description,
        });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED && self.basic {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"devconsole\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-urlencoded id and secret).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, SecretString)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(&format!("v={}", s.replace('&', "%26"))).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
    };
    Some((unescape(id)?, SecretString::from(unescape(secret)?)))
}

pub async fn token(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &address, &headers, &body).await {
        Ok(token) => {
            let mut response = (StatusCode::OK, Json(token)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// Parses the form, refusing a parameter sent twice (RFC 6749 §3.2: "Request and response
/// parameters MUST NOT be included more than once").
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, Refusal> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "the form body could not be parsed",
        )
    })?;
    let mut form = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if form.contains_key(&name) {
            let shown: String = name.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                format!("the parameter {shown:?} is sent more than once; send each parameter once"),
            ));
        }
        form.insert(name, value);
    }
    Ok(form)
}

/// A client ID this server could have issued: 20 ASCII letters and digits.
fn looks_like_client_id(s: &str) -> bool {
    s.len() == 20 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn issue(
    state: &AppState,
    address: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<OAuthToken, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let mut form = parse_form(body)?;
    let form_secret = form.remove("client_secret").map(SecretString::from);
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::UnsupportedGrantType,
                "only grant_type=client_credentials is supported",
            ));
        }
        None => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                "grant_type is required",
            ));
        }
    }
    let basic = basic_credentials(headers);
    let used_basic = basic.is_some();
    let (client_id, client_secret) = match (basic, form.remove("client_id"), form_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                "send client credentials either with HTTP Basic or in the form, not both",
            ));
        }
        (Some(creds), None, None) => creds,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                OAuthErrorCode::InvalidRequest,
                "client_id and client_secret are required",
            ));
        }
    };

    let plausible = looks_like_client_id(&client_id);
    let actor = crate::validate::claimed_name_for_log(&client_id, plausible);
    let limit_key = format!("{actor}|{address}");
    if let Err(wait) = state.oauth_limiter.check(&limit_key).await {
        return Err(Refusal {
            retry_after: Some(wait),
            ..Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                OAuthErrorCode::TemporarilyUnavailable,
                format!("too many token requests; retry in {wait} s"),
            )
        });
    }

    let now = state.clock.now();
    let app = if plausible {
        state
            .store
            .app_by_client_id(&client_id)
            .await
            .map_err(|_| server_error())?
    } else {
        None
    };
    let authenticated = app.as_ref().filter(|a| {
        secret::digest_eq(
            &a.client_secret_digest,
            &secret::digest(client_secret.expose_secret()),
        )
    });
    let Some(app) = authenticated else {
        // Collapsed, so refused requests grow the log by a bounded amount per address.
        let window =
            time::Duration::try_from(state.config.login_limits.window).unwrap_or(time::Duration::minutes(15));
        let bucket = (now - time::OffsetDateTime::UNIX_EPOCH).whole_milliseconds()
            / window.whole_milliseconds().max(1);
        // A known app with a wrong secret: one row per client ID, address and window. Made-up
        // IDs: one row per address and window however many it sprays; the first is named.
        let (event_actor, detail, key) = match &app {
            Some(_) => (
                actor.as_str(),
                "client authentication failed".to_owned(),
                format!("oauth|{actor}|{address}|{bucket}"),
            ),
            None => (
                "(unknown client_id)",
                format!("client authentication failed: unknown client_id (first: {actor})"),
                format!("oauth-unknown|{address}|{bucket}"),
            ),
        };
        let event = NewAuditEvent {
            at: now,
            actor: event_actor,
            action: AuditAction::OAuthToken,
            app_id: app.as_ref().map(|a| a.id),
            app_name: app.as_ref().map(|a| a.name.as_str()),
            outcome: Outcome::Failure,
            detail: Some(&detail),
            address: Some(address),
        };
        let recorded = async {
            let mut tx = state.store.begin().await?;
            tx.insert_audit_collapsed(&event, &key).await?;
            tx.commit().await
        };
        if let Err(e) = recorded.await {
            tracing::error!(error = %e, "could not audit a refused token request");
        }
        return Err(Refusal {
            basic: used_basic,
            ..Refusal::new(
                StatusCode::UNAUTHORIZED,
                OAuthErrorCode::InvalidClient,
                "client authentication failed",
            )
        });
    };

    let event = |outcome, detail: &str| -> (Outcome, String) { (outcome, detail.to_owned()) };
    let mut tx = state.store.begin().await.map_err(|_| server_error())?;
    let result = state.tokens.issue_token(&mut tx, app.id).await;
    let (outcome, detail) = match &result {
        Ok(t) => event(Outcome::Success, &format!("token {}", t.token_id)),
        Err(e) => event(Outcome::Failure, &e.to_string()),
    };
    if result.is_err() {
        // Nothing the refused issue did may stay; the refusal is audited on its own.
        drop(tx);
        tx = state.store.begin().await.map_err(|_| server_error())?;
    }
    let audited = async {
        tx.insert_audit(&NewAuditEvent {
            at: now,
            actor: &client_id,
            action: AuditAction::TokenIssue,
            app_id: Some(app.id),
            app_name: Some(&app.name),
            outcome,
            detail: Some(&detail),
            address: Some(address),
        })
        .await?;
        tx.commit().await
    };
    audited.await.map_err(|e| {
        tracing::error!(error = %e, "could not record a token issue; nothing was issued");
        server_error()
    })?;
    match result {
        Ok(issued) => Ok(OAuthToken {
            access_token: issued.token,
            token_type: "Bearer".into(),
            expires_in: (issued.expires_at - issued.issued_at).whole_seconds(),
        }),
        Err(IssueTokenError::ScimDisabled) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::UnauthorizedClient,
            "SCIM is disabled for this app; enable SCIM in the console first",
        )),
        Err(IssueTokenError::TokenExists) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "this app already has an active long-lived token; revoke it in the console before requesting a new one",
        )),
        Err(_) => Err(server_error()),
    }
}

fn server_error() -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        OAuthErrorCode::ServerError,
        "the server could not issue a token",
    )
}
