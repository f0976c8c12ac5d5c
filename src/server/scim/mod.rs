//! SCIM 2.0 API under `/scim/v2` (RFC 7643/7644), guarded by Dedicated Tokens.
//!
//! - [`guard`]: bearer token verification (which renews the token), the per-app rate limit;
//! - [`schema`]: the attribute definitions everything else is driven by;
//! - [`resource`]: input normalisation and validation, rendering and attribute selection;
//! - [`normalize`]: provider quirks, rewritten into standard requests before anything else;
//! - [`enterprise`]: the Enterprise User extension's manager references;
//! - [`filter`]: filter → SQL translation; [`patch`]: PATCH operations;
//! - [`handlers`]: discovery, Users, Groups and `/.search`.

pub mod enterprise;
pub mod error;
pub mod filter;
mod guard;
mod handlers;
pub mod normalize;
pub mod patch;
pub mod resource;
pub mod schema;

use super::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

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
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}
