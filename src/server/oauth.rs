//! `POST /oauth2/v2.0/token`: the client-credentials grant that yields the long-lived token.
//!
//! It follows the console button's rules (SCIM on, one active token), so a lost token is
//! replaced the same way: revoke in the console, then ask again.

use super::AppState;
use crate::secret;
use crate::store::NewAuditEvent;
use crate::tokens::IssueTokenError;
use crate::wire::{OAuthError, OAuthToken, Outcome};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::net::SocketAddr;

struct Refusal {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic: bool,
    retry_after: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
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
            error: self.error.into(),
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    match issue(&state, &peer, &headers, &body).await {
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

async fn issue(
    state: &AppState,
    peer: &SocketAddr,
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
            "invalid_request",
            "send the request as application/x-www-form-urlencoded",
        ));
    }
    let mut form: HashMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the form body could not be parsed",
        )
    })?;
    let form_secret = form.remove("client_secret").map(SecretString::from);
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ));
        }
        None => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
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
                "invalid_request",
                "send client credentials either with HTTP Basic or in the form, not both",
            ));
        }
        (Some(creds), None, None) => creds,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_id and client_secret are required",
            ));
        }
    };

    let limit_key = format!("{client_id}|{}", peer.ip());
    if let Err(wait) = state.oauth_limiter.check(&limit_key) {
        return Err(Refusal {
            retry_after: Some(wait),
            ..Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                format!("too many token requests; retry in {wait} s"),
            )
        });
    }

    let now = state.clock.now();
    let app = state
        .store
        .app_by_client_id(&client_id)
        .await
        .map_err(|_| server_error())?;
    let authenticated = app.as_ref().filter(|a| {
        secret::digest_eq(
            &a.client_secret_digest,
            &secret::digest(client_secret.expose_secret()),
        )
    });
    let Some(app) = authenticated else {
        let _ = state
            .store
            .audit(NewAuditEvent {
                at: now,
                actor: &peer.ip().to_string(),
                action: "oauth.token",
                app_id: app.as_ref().map(|a| a.id),
                app_name: app.as_ref().map(|a| a.name.as_str()),
                outcome: Outcome::Failure,
                detail: Some("client authentication failed"),
            })
            .await;
        return Err(Refusal {
            basic: used_basic,
            ..Refusal::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        });
    };

    let result = state.tokens.issue_token(app.id).await;
    let (outcome, detail) = match &result {
        Ok(t) => (Outcome::Success, format!("token {}", t.token_id)),
        Err(e) => (Outcome::Failure, e.to_string()),
    };
    state
        .store
        .audit(NewAuditEvent {
            at: now,
            actor: &client_id,
            action: "token.issue",
            app_id: Some(app.id),
            app_name: Some(&app.name),
            outcome,
            detail: Some(&detail),
        })
        .await
        .map_err(|_| server_error())?;
    match result {
        Ok(issued) => Ok(OAuthToken {
            access_token: issued.token,
            token_type: "Bearer".into(),
            expires_in: (issued.expires_at - issued.issued_at).whole_seconds(),
        }),
        Err(IssueTokenError::ScimDisabled) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "SCIM is disabled for this app; enable SCIM in the console first",
        )),
        Err(IssueTokenError::TokenExists) => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "this app already has an active long-lived token; revoke it in the console before requesting a new one",
        )),
        Err(_) => Err(server_error()),
    }
}

fn server_error() -> Refusal {
    Refusal::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the server could not issue a token",
    )
}
