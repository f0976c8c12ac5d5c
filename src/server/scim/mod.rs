//! SCIM 2.0 API under `/scim/v2`: owned by the SCIM API work (issue 4).

use super::AppState;
use axum::Router;

pub fn router(_state: AppState) -> Router<AppState> {
    Router::new().route("/ServiceProviderConfig", axum::routing::get(|| async { "{}" }))
}
