//! The typed HTTP client for the console API. The TUI talks to a server only through this,
//! embedded mode included, and so do the integration tests.

use crate::wire::*;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use uuid::Uuid;

/// How long an idle connection stays in the client's pool: under every idle limit a server is
/// likely to have (ours: 10 s for a connection that never carried a request).
pub const POOL_IDLE: Duration = Duration::from_secs(4);

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
    /// A URL that parses but is a known mistake (a base URL ending in `/console/v1`, say).
    #[error("server URL {url:?}: {hint}")]
    BadUrlHint { url: String, hint: String },
    /// The server's TLS certificate was refused; `problem` says why and what setting fixes it.
    #[error("the server at {url} {problem}")]
    Certificate { url: String, problem: String },
    /// The `ca_cert` file could not be used.
    #[error("ca_cert {path}: {reason}")]
    CaCert { path: String, reason: String },
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
            ClientError::Unreachable { .. } | ClientError::Timeout { .. } | ClientError::Certificate { .. }
        )
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// How the console reaches a server through a proxy: `proxy = "system" | "none" | "<url>"`.
/// `Debug` masks a URL's credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` from the environment, as curl reads them.
    #[default]
    System,
    /// Never a proxy.
    None,
    /// This proxy for every remote server (`NO_PROXY` still applies).
    Url(String),
}

impl std::str::FromStr for ProxySetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "system" => Ok(ProxySetting::System),
            "none" => Ok(ProxySetting::None),
            url => {
                // Echoed so a typo can be found, but masked: the value may carry a password.
                let shown = mask_userinfo(url);
                let parsed = reqwest::Url::parse(url).map_err(|_| {
                    format!("proxy must be \"system\", \"none\" or a URL such as \"http://proxy:3128\", not {shown:?}")
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    return Err(format!(
                        "proxy URL {shown:?} must be http://HOST:PORT or https://HOST:PORT"
                    ));
                }
                Ok(ProxySetting::Url(url.to_owned()))
            }
        }
    }
}

impl std::fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxySetting::System => f.write_str("System"),
            ProxySetting::None => f.write_str("None"),
            ProxySetting::Url(url) => f.debug_tuple("Url").field(&mask_userinfo(url)).finish(),
        }
    }
}

/// `raw` with everything up to its last `@` (after any `scheme://`) masked. Works on text that
/// does not parse as a URL too, where a parser's idea of "the password" can't be trusted.
fn mask_userinfo(raw: &str) -> String {
    match raw.rfind('@') {
        None => raw.to_owned(),
        Some(at) => {
            let keep = raw[..at].find("://").map_or(0, |i| i + 3);
            format!("{}***{}", &raw[..keep], &raw[at..])
        }
    }
}

impl<'de> serde::Deserialize<'de> for ProxySetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Transport options for [`ConsoleClient`]: what the TUI, the CLI and the tests share.
///
/// ```no_run
/// # use devconsole::client::{ConsoleClient, ProxySetting};
/// let client = ConsoleClient::builder("https://console.example.com")
///     .proxy(ProxySetting::System)
///     .ca_cert(Some("/etc/ssl/corp-ca.pem".into()))
///     .build()?;
/// # Ok::<(), devconsole::client::ClientError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConsoleClientBuilder {
    base: String,
    proxy: ProxySetting,
    ca_cert: Option<std::path::PathBuf>,
    timeout: Duration,
    connect_timeout: Duration,
}

impl ConsoleClientBuilder {
    /// Default [`ProxySetting::System`]. Loopback servers never go through a proxy whatever this says.
    pub fn proxy(mut self, proxy: ProxySetting) -> Self {
        self.proxy = proxy;
        self
    }

    /// A PEM file of CA certificates trusted on top of the system store and the bundled web roots.
    pub fn ca_cert(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.ca_cert = path;
        self
    }

    /// Whole-request timeout (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn build(self) -> ClientResult<ConsoleClient> {
        let base = self.base.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(base));
        }
        for suffix in ["/console/v1", "/scim/v2", "/oauth2/v2.0/token"] {
            if let Some(root) = base.strip_suffix(suffix) {
                return Err(ClientError::BadUrlHint {
                    url: base.clone(),
                    hint: format!("the server URL is the server's root: use {root} (without {suffix})"),
                });
            }
        }
        let proxy = resolve_proxy(&parsed, &self.proxy)?;
        // Never the environment's proxies: the one proxy for this server (if any) is set below.
        let mut http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // Drop idle connections well before a server would: ours closes a connection that
            // never carried a request 10 s after accepting it (hyper pools the loser of its
            // connect/checkout race unused) and a kept-alive one after 75 s; reusing one as the
            // server closes it loses the request ("connection closed before message completed").
            .pool_idle_timeout(POOL_IDLE)
            .user_agent(concat!("devconsole/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = &proxy {
            let mut rp = reqwest::Proxy::all(p.uri.as_str()).map_err(|e| ClientError::BadUrlHint {
                url: p.shown.clone(),
                hint: format!("the proxy URL is not usable: {e}"),
            })?;
            if let Some(auth) = &p.auth {
                rp = rp.custom_http_auth(auth.clone());
            }
            http = http.proxy(rp);
        }
        if let Some(path) = &self.ca_cert {
            for cert in read_ca_file(path)? {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| ClientError::Unreachable {
            url: base.clone(),
            reason: e.to_string(),
        })?;
        Ok(ConsoleClient {
            http,
            base,
            proxy: proxy.map(|p| p.shown),
            ca_cert: self.ca_cert,
            session: None,
        })
    }
}

/// The proxy chosen for one server, with its credentials kept apart from the shown form.
struct ChosenProxy {
    uri: String,
    /// `scheme://host:port`, never credentials: this goes into error messages.
    shown: String,
    auth: Option<http::HeaderValue>,
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

fn resolve_proxy(server: &reqwest::Url, setting: &ProxySetting) -> ClientResult<Option<ChosenProxy>> {
    // The embedded server and any loopback server carry the session in the clear over
    // loopback; a proxy must never see it.
    if is_loopback(server) {
        return Ok(None);
    }
    let matcher = match setting {
        ProxySetting::None => return Ok(None),
        ProxySetting::System => hyper_util::client::proxy::matcher::Matcher::from_env(),
        ProxySetting::Url(url) => {
            let no = ["NO_PROXY", "no_proxy"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
                .unwrap_or_default();
            hyper_util::client::proxy::matcher::Matcher::builder()
                .all(url.clone())
                .no(no)
                .build()
        }
    };
    let dst: http::Uri = server
        .as_str()
        .parse()
        .map_err(|_| ClientError::BadUrl(server.to_string()))?;
    let Some(intercept) = matcher.intercept(&dst) else {
        return Ok(None);
    };
    let uri = intercept.uri();
    let shown = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""))
    );
    Ok(Some(ChosenProxy {
        uri: uri.to_string(),
        shown,
        auth: intercept.basic_auth().cloned(),
    }))
}

fn read_ca_file(path: &std::path::Path) -> ClientResult<Vec<reqwest::Certificate>> {
    let bad = |reason: String| ClientError::CaCert {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()
        ));
    }
    Ok(certs)
}

/// A console API client bound to one server and, after [`ConsoleClient::login`] or
/// [`ConsoleClient::with_session`], one session. Build it with [`ConsoleClient::builder`].
#[derive(Clone)]
pub struct ConsoleClient {
    http: reqwest::Client,
    base: String,
    /// The proxy in use for this server, shown without credentials.
    proxy: Option<String>,
    ca_cert: Option<std::path::PathBuf>,
    session: Option<SecretString>,
}

impl std::fmt::Debug for ConsoleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleClient")
            .field("base", &self.base)
            .field("proxy", &self.proxy)
            .field("signed_in", &self.session.is_some())
            .finish()
    }
}

impl ConsoleClient {
    /// A client with the default transport: system proxies for remote servers (never for
    /// loopback), system and web roots, 15 s timeout.
    pub fn new(base_url: &str) -> ClientResult<Self> {
        Self::builder(base_url).build()
    }

    pub fn builder(base_url: &str) -> ConsoleClientBuilder {
        ConsoleClientBuilder {
            base: base_url.to_owned(),
            proxy: ProxySetting::System,
            ca_cert: None,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn with_timeout(base_url: &str, timeout: Duration) -> ClientResult<Self> {
        Self::builder(base_url).timeout(timeout).build()
    }

    /// The proxy this client goes through, as `scheme://host:port`, if any.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
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

    /// The server's address as errors show it, with the proxy when one is in the way.
    fn shown_url(&self) -> String {
        match &self.proxy {
            Some(proxy) => format!("{} (through the proxy {proxy})", self.base),
            None => self.base.clone(),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> ClientError {
        let url = self.shown_url();
        if e.is_timeout() {
            return ClientError::Timeout { url };
        }
        if let Some(tls) = find_cause::<rustls::Error>(&e) {
            return self.tls_error(tls);
        }
        if e.is_connect() || e.is_request() {
            let mut reason = root_cause(&e);
            let https = self.base.starts_with("https://");
            if let Some(proxy) = &self.proxy {
                reason.push_str(&format!(
                    "; check the proxy {proxy}, or set proxy = \"none\" (or NO_PROXY) if this server is reachable directly"
                ));
            } else if !https && is_closed_early(&reason) {
                reason.push_str("; if the server serves HTTPS, use an https:// URL");
            }
            ClientError::Unreachable { url, reason }
        } else {
            ClientError::Protocol {
                status: e.status().map_or(0, |s| s.as_u16()),
                reason: root_cause(&e),
            }
        }
    }

    /// An error answer that is not the API's JSON: most likely not a devconsole server at all.
    fn not_json_reason(&self, status: u16) -> String {
        let mut reason =
            "the error answer was not JSON, so it did not come from a devconsole server".to_owned();
        if let Some(proxy) = &self.proxy {
            reason.push_str(&format!("; the proxy {proxy} may have answered"));
            if status == 407 {
                reason.push_str(
                    " (407: it wants credentials, as http://user:password@host:port in proxy or HTTPS_PROXY)",
                );
            }
        } else if status == 404 {
            reason.push_str(&format!(
                "; check the server URL {}: it is the server's root, without /console/v1",
                self.base
            ));
        }
        reason
    }

    fn tls_error(&self, e: &rustls::Error) -> ClientError {
        use rustls::CertificateError as C;
        let host = reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let fix_trust = match &self.ca_cert {
            Some(path) => format!(
                "the CA in ca_cert ({}) did not sign it: point ca_cert at the CA that issued the server's certificate",
                path.display()
            ),
            None => "if the server uses a private or corporate CA, set ca_cert = \"/path/to/ca.pem\" in the profile in config.toml, or add the CA to the system trust store".to_owned(),
        };
        let problem = match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::UnknownIssuer => format!("presented a certificate signed by an unknown issuer; {fix_trust}"),
                C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                    "presented a certificate that is not valid for the name {host:?}; use a server URL with a name the certificate covers, or have the certificate reissued for {host:?}"
                ),
                C::Expired | C::ExpiredContext { .. } => {
                    "presented an expired certificate; the server's operator must renew it (devconsole serve reloads it on SIGHUP); also check this machine's clock".to_owned()
                }
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "presented a certificate that is not valid yet; check this machine's clock and the server's".to_owned()
                }
                C::Revoked => "presented a revoked certificate; the server's operator must replace it".to_owned(),
                C::BadSignature | C::BadEncoding => {
                    format!("presented a malformed certificate ({c:?}); the server's operator must replace it")
                }
                other => format!("presented a certificate that was refused ({other:?}); {fix_trust}"),
            },
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                let plain = self.base.replacen("https://", "http://", 1);
                format!("did not answer with TLS; it may serve plain HTTP: try {plain}")
            }
            other => format!("refused the TLS handshake: {other}"),
        };
        ClientError::Certificate {
            url: self.shown_url(),
            problem,
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
                reason: self.not_json_reason(status),
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

    /// The same server and transport, signed out (after a logout whose answer was lost).
    pub fn without_session(mut self) -> Self {
        self.session = None;
        self
    }

    /// `GET /healthz`: is the server there? Unauthenticated (no session is sent), so a heartbeat
    /// never extends a session; a short timeout keeps a dead link from piling up checks.
    pub async fn health(&self) -> ClientResult<()> {
        let req = self
            .http
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(4));
        self.empty(req).await
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

    /// One page of provisioning activity (SCIM calls), newest first, for one app or all; pass
    /// the page's `next_cursor` for the next.
    pub async fn activity_page(
        &self,
        app: Option<Uuid>,
        filter: &crate::wire::ActivityFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> ClientResult<crate::wire::ActivityPage> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(outcome) = filter.outcome {
            query.push(("outcome", outcome.as_str().to_owned()));
        }
        if let Some(resource) = filter.resource_type {
            query.push(("resource", resource.as_str().to_owned()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        match app {
            Some(id) => self.get(&format!("/console/v1/apps/{id}/activity?{query}")).await,
            None => self.get(&format!("/console/v1/activity?{query}")).await,
        }
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
                reason: self.not_json_reason(status.as_u16()),
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

/// Finds an error of type `T` in `e`'s chain, looking inside `io::Error`s too (whose `source()`
/// skips the wrapped error).
fn find_cause<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut next: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| find_cause::<T>(inner))
        {
            return Some(inner);
        }
        next = cause.source();
    }
    None
}

/// A plain-HTTP request to an HTTPS-only port usually ends with the connection closed.
fn is_closed_early(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("closed") || r.contains("reset") || r.contains("incomplete")
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
