//! The typed HTTP client for the console API. The TUI talks to a server only through this,
//! embedded mode included, and so do the integration tests.

use crate::wire::*;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server took longer than the client's timeout.
    #[error("the server at {url} did not answer in time")]
    Timeout { url: String },
    /// The answer was not what this client understands.
    #[error("unexpected answer from the server ({status}): {reason}")]
    Protocol { status: u16, reason: String },
    #[error("invalid server URL {0:?}")]
    BadUrl(String),
}

impl ClientError {
    /// The API's snake_case code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when the server could not be reached at all (as opposed to refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        )
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// A console API client bound to one server and, after [`ConsoleClient::login`] or
/// [`ConsoleClient::with_session`], one session.
#[derive(Clone)]
pub struct ConsoleClient {
    http: reqwest::Client,
    base: String,
    session: Option<SecretString>,
}

impl std::fmt::Debug for ConsoleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleClient")
            .field("base", &self.base)
            .field("signed_in", &self.session.is_some())
            .finish()
    }
}

impl ConsoleClient {
    pub fn new(base_url: &str) -> ClientResult<Self> {
        Self::with_timeout(base_url, Duration::from_secs(15))
    }

    pub fn with_timeout(base_url: &str, timeout: Duration) -> ClientResult<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl(base));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .user_agent(concat!("devconsole/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(ConsoleClient {
            http,
            base,
            session: None,
        })
    }

    /// Uses an existing session token (embedded mode, or a cached session).
    pub fn with_session(mut self, token: SecretString) -> Self {
        self.session = Some(token);
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn session(&self) -> Option<&SecretString> {
        self.session.as_ref()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.session {
            Some(token) => req.bearer_auth(token.expose_secret()),
            None => req,
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        if e.is_timeout() {
            ClientError::Timeout {
                url: self.base.clone(),
            }
        } else if e.is_connect() || e.is_request() {
            ClientError::Unreachable {
                url: self.base.clone(),
                reason: root_cause(&e),
            }
        } else {
            ClientError::Protocol {
                status: e.status().map_or(0, |s| s.as_u16()),
                reason: root_cause(&e),
            }
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> ClientResult<reqwest::Response> {
        let response = req.send().await.map_err(|e| self.transport_error(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status,
                code: body.code,
                message: body.message,
            }),
            Err(_) => Err(ClientError::Protocol {
                status,
                reason: "the error answer was not JSON".into(),
            }),
        }
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> ClientResult<T> {
        let response = self.send(req).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            status,
            reason: e.to_string(),
        })
    }

    async fn empty(&self, req: reqwest::RequestBuilder) -> ClientResult<()> {
        self.send(req).await.map(|_| ())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.json(self.request(Method::GET, path)).await
    }

    async fn with_body<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> ClientResult<T> {
        self.json(self.request(method, path).json(body)).await
    }

    // ---- sessions and admins ---------------------------------------------------------------

    /// Signs in; the client keeps the session for later calls.
    pub async fn login(&mut self, username: &str, password: SecretString) -> ClientResult<SessionCreated> {
        let body = LoginRequest {
            username: username.to_owned(),
            password,
        };
        let created: SessionCreated = self
            .with_body(Method::POST, "/console/v1/sessions", &body)
            .await?;
        self.session = Some(created.token.clone());
        Ok(created)
    }

    pub async fn logout(&mut self) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, "/console/v1/sessions/current"))
            .await?;
        self.session = None;
        Ok(())
    }

    pub async fn me(&self) -> ClientResult<Admin> {
        self.get("/console/v1/me").await
    }

    pub async fn list_admins(&self) -> ClientResult<Vec<Admin>> {
        self.get("/console/v1/admins").await
    }

    pub async fn create_admin(
        &self,
        username: &str,
        role: Role,
        password: SecretString,
    ) -> ClientResult<Admin> {
        let body = CreateAdmin {
            username: username.to_owned(),
            role,
            password,
        };
        self.with_body(Method::POST, "/console/v1/admins", &body).await
    }

    // ---- apps ------------------------------------------------------------------------------

    pub async fn list_apps(&self) -> ClientResult<Vec<ClientApp>> {
        self.get("/console/v1/apps").await
    }

    pub async fn create_app(&self, name: &str, description: &str) -> ClientResult<AppCreated> {
        let body = CreateApp {
            app_type: AppType::Provisioning,
            name: name.to_owned(),
            description: description.to_owned(),
        };
        self.with_body(Method::POST, "/console/v1/apps", &body).await
    }

    pub async fn get_app(&self, id: Uuid) -> ClientResult<ClientApp> {
        self.get(&format!("/console/v1/apps/{id}")).await
    }

    pub async fn update_app(&self, id: Uuid, update: &UpdateApp) -> ClientResult<ClientApp> {
        self.with_body(Method::PATCH, &format!("/console/v1/apps/{id}"), update)
            .await
    }

    pub async fn delete_app(&self, id: Uuid) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &format!("/console/v1/apps/{id}")))
            .await
    }

    pub async fn set_members(&self, id: Uuid, members: &[String]) -> ClientResult<ClientApp> {
        let body = SetMembers {
            members: members.to_vec(),
        };
        self.with_body(Method::PUT, &format!("/console/v1/apps/{id}/members"), &body)
            .await
    }

    pub async fn reissue_client_secret(&self, id: Uuid) -> ClientResult<ClientSecretIssued> {
        self.json(self.request(Method::POST, &format!("/console/v1/apps/{id}/client-secret")))
            .await
    }

    pub async fn enable_scim(&self, id: Uuid, enabled: bool) -> ClientResult<ScimChanged> {
        self.with_body(
            Method::PUT,
            &format!("/console/v1/apps/{id}/scim"),
            &SetScim { enabled },
        )
        .await
    }

    // ---- dedicated token -------------------------------------------------------------------

    pub async fn token(&self, id: Uuid) -> ClientResult<DedicatedToken> {
        self.get(&format!("/console/v1/apps/{id}/token")).await
    }

    /// The only call that ever returns the token itself.
    pub async fn issue_token(&self, id: Uuid) -> ClientResult<IssuedToken> {
        self.json(self.request(Method::POST, &format!("/console/v1/apps/{id}/token")))
            .await
    }

    pub async fn revoke_token(&self, id: Uuid) -> ClientResult<()> {
        self.empty(self.request(Method::DELETE, &format!("/console/v1/apps/{id}/token")))
            .await
    }

    // ---- settings and audit ----------------------------------------------------------------

    pub async fn sso_settings(&self) -> ClientResult<SsoSettings> {
        self.get("/console/v1/settings/sso").await
    }

    pub async fn set_sso_settings(&self, sso: SsoSettings) -> ClientResult<SsoSettings> {
        self.with_body(Method::PUT, "/console/v1/settings/sso", &sso)
            .await
    }

    /// The newest `limit` audit events (one page).
    pub async fn audit(&self, app: Option<Uuid>, limit: u32) -> ClientResult<Vec<AuditEvent>> {
        Ok(self.audit_page(app, limit, None).await?.events)
    }

    /// One page of the audit log, newest first; pass the page's `next_cursor` for the next.
    pub async fn audit_page(
        &self,
        app: Option<Uuid>,
        limit: u32,
        cursor: Option<&str>,
    ) -> ClientResult<AuditPage> {
        let mut path = format!("/console/v1/audit?limit={limit}");
        if let Some(id) = app {
            path.push_str(&format!("&app={id}"));
        }
        if let Some(cursor) = cursor {
            // Cursors are plain ASCII tokens this server handed out; encode anyway.
            let encoded: String = serde_urlencoded::to_string([("cursor", cursor)]).unwrap_or_default();
            path.push('&');
            path.push_str(&encoded);
        }
        self.get(&path).await
    }

    // ---- OAuth and SCIM --------------------------------------------------------------------

    /// `POST /oauth2/v2.0/token` with client credentials in the form. RFC 6749 errors come back
    /// as [`ClientError::Api`] with the OAuth `error` as the code.
    pub async fn client_credentials_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
    ) -> ClientResult<OAuthToken> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
        ];
        let response = self
            .http
            .post(format!("{}/oauth2/v2.0/token", self.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
                status: status.as_u16(),
                reason: e.to_string(),
            });
        }
        match serde_json::from_slice::<OAuthError>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status: status.as_u16(),
                code: e.error.as_str().to_owned(),
                message: e.error_description,
            }),
            Err(_) => Err(ClientError::Protocol {
                status: status.as_u16(),
                reason: "the error answer was not JSON".into(),
            }),
        }
    }

    /// Makes one authenticated SCIM request with a long-lived token, to prove it works.
    /// Returns the HTTP status and a one-line summary.
    pub async fn test_scim_token(&self, token: &SecretString) -> ClientResult<(u16, String)> {
        let response = self
            .http
            .get(format!("{}/scim/v2/Users?count=1", self.base))
            .bearer_auth(token.expose_secret())
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
        let summary = if status == StatusCode::OK {
            match body.get("totalResults").and_then(|v| v.as_u64()) {
                Some(n) => format!("SCIM accepted the token ({n} users visible)"),
                None => "SCIM accepted the token".to_owned(),
            }
        } else {
            let detail = body.get("detail").and_then(|v| v.as_str()).unwrap_or("no detail");
            format!("SCIM refused the token: {detail}")
        };
        Ok((status.as_u16(), summary))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
