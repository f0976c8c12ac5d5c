//! SCIM Error responses (RFC 7644 §3.12).

use super::schema;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const SCIM_JSON: &str = "application/scim+json";

/// `scimType` values RFC 7644 §3.12 defines, and RFC 9865's pagination errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865 §2.2: a cursor this server did not issue, altered, or from another query.
    InvalidCursor,
    /// RFC 9865 §2.2: a cursor older than `cursorTimeout`.
    ExpiredCursor,
    /// RFC 9865 §2.2: a cursor page's `count` is not a positive integer.
    InvalidCount,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
            ScimType::InvalidCount => "invalidCount",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    pub retry_after: Option<u64>,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        ScimError {
            scim_type: Some(scim_type),
            ..Self::new(StatusCode::BAD_REQUEST, detail)
        }
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn uniqueness(detail: impl Into<String>) -> Self {
        ScimError {
            scim_type: Some(ScimType::Uniqueness),
            ..Self::new(StatusCode::CONFLICT, detail)
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server failed to complete the request; it has been logged",
        )
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        if crate::store::is_over_budget(&e) {
            return super::caps::over_budget();
        }
        // Writes that lost a deadlock every time they ran (each is retried) are the server
        // being busy, not a fault: nothing was written.
        if crate::store::is_deadlock(&e) {
            tracing::warn!("SCIM write lost a deadlock on every attempt");
            return ScimError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory is busy with conflicting writes; retry shortly",
            );
        }
        // SQLite's own limits ("expression tree is too large", "pattern too complex") refuse
        // the request, not the server.
        if let StoreError::Db(db) = &e
            && let Some(d) = db.as_database_error()
            && super::caps::is_refused_expression(d.message())
        {
            return ScimError::invalid_filter(format!(
                "the directory cannot run this filter ({}); simplify it",
                d.message()
            ));
        }
        match e {
            StoreError::NotFound => ScimError::not_found("no resource has that id"),
            StoreError::Conflict(what) => ScimError::uniqueness(format!("that {what} is already taken")),
            StoreError::Db(sqlx::Error::PoolTimedOut) => {
                tracing::error!("SCIM store: pool timed out");
                ScimError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the directory is busy; retry shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "SCIM store error");
                ScimError::internal()
            }
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.as_str().into();
        }
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
