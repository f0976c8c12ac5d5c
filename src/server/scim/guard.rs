//! Every SCIM request: a Dedicated Token of an app with SCIM enabled, within the app's rate.

use super::caps;
use super::error::ScimError;
use super::serial::Shared;
use crate::server::AppState;
use crate::server::activity::refused;
use crate::tokens::{Refusal, TokenApp, VerifyError};
use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub async fn guard(
    State(state): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(&req) else {
        return ScimError::unauthorized("a Dedicated Token is required: Authorization: Bearer <token>")
            .into_response();
    };
    let verified = match state.tokens.check(token).await {
        Ok(v) => v,
        Err(Refusal {
            error: VerifyError::Store(e),
            ..
        }) => {
            tracing::error!(error = %e, "token store unavailable during SCIM authentication");
            return ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the token store is unavailable; retry shortly",
            )
            .into_response();
        }
        Err(Refusal { error, app }) => {
            let error = ScimError::unauthorized(error.to_string());
            // A token of ours that no longer works still names its app: tell its owners.
            return match app {
                Some(app) => refused(&state, &req, &app, error),
                None => error.into_response(),
            };
        }
    };
    let app = TokenApp {
        app_id: verified.app_id,
        client_id: verified.client_id.clone(),
    };
    if let Err(wait) = state.scim_limiter.check(&verified.app_id.to_string()).await {
        let mut e = ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this app is over its SCIM rate of {} requests per minute",
                state.config.scim_per_minute
            ),
        );
        e.retry_after = Some(wait);
        return refused(&state, &req, &app, e);
    }
    // A bounded number of SCIM requests hold buffers and database time at once, so a flood of
    // large ones cannot take the memory or the CPU; the rest wait their turn, briefly.
    let permit = match tokio::time::timeout(caps::QUEUE_WAIT, shared.in_flight.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            let mut e = ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the directory is busy ({} SCIM requests at once); retry shortly",
                    caps::MAX_IN_FLIGHT
                ),
            );
            e.retry_after = Some(1);
            return refused(&state, &req, &app, e);
        }
    };
    req.extensions_mut().insert(verified);
    let response = next.run(req).await;
    drop(permit);
    response
}
