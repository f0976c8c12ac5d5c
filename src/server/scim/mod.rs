//! SCIM 2.0 API under `/scim/v2` (RFC 7643/7644), guarded by Dedicated Tokens.
//!
//! - [`guard`]: bearer token verification (which renews the token), the per-app rate limit;
//! - [`schema`]: the attribute definitions everything else is driven by;
//! - [`resource`]: input normalisation and validation, rendering and attribute selection;
//! - [`normalize`]: provider quirks, rewritten into standard requests before anything else;
//! - [`enterprise`]: the Enterprise User extension's manager references;
//! - [`filter`]: filter → SQL translation; [`patch`]: PATCH operations;
//! - [`cursor`]: RFC 9865 cursors (signed keyset positions);
//! - [`handlers`]: discovery, Users, Groups and `/.search`.

pub mod caps;
mod cursor;
pub mod enterprise;
pub mod error;
pub mod filter;
mod guard;
mod handlers;
pub mod normalize;
pub mod patch;
pub mod resource;
pub mod schema;
mod serial;

use super::AppState;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use error::{SCIM_JSON, ScimError};
use std::sync::Arc;

/// Largest SCIM request body.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn router(state: AppState) -> Router<AppState> {
    use handlers::*;
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_by_id))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/.search", post(search_all))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside the guard, so they see the verified app: metrics, and activity recording.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::server::metrics::scim,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::server::activity::record,
        ))
        .layer(axum::middleware::from_fn_with_state(state, guard::guard))
        .layer(Extension(Arc::new(serial::Shared::default())))
        .layer(Extension(Arc::new(cursor::CursorKey::default())))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(scim_json))
}

/// Every error under `/scim/v2` is a SCIM Error in `application/scim+json`, including the
/// ones axum writes itself (a path that is not UTF-8, say) as plain text.
async fn scim_json(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    if is_scim || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.to_owned(),
    };
    if status.is_server_error() {
        tracing::error!(%status, %detail, "SCIM: a non-SCIM error response");
    }
    ScimError::new(status, detail).into_response()
}
