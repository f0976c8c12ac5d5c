//! The console server: console API, OAuth2 token endpoint and SCIM 2.0 API.
//!
//! [`start`] runs it in-process on any address (127.0.0.1:0 included) and returns its bound
//! address and a handle to stop it; `devconsole serve` and the TUI's embedded mode both use it.

pub mod activity;
mod auth;
mod console;
pub mod error;
pub mod limits;
pub mod listener;
pub mod metrics;
mod oauth;
pub mod scim;
pub mod tls;

use crate::clock::{Clock, SystemClock};
use crate::store::Store;
use crate::tokens::{TokenConfig, TokenService};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::trace::TraceLayer;

pub use auth::{Caller, hash_password};
pub use error::ApiError;
pub use limits::LoginLimits;
pub use listener::ConnLimits;
pub use tls::{TlsError, TlsFiles, TlsReloader};

/// Largest console API request body.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
pub struct ServerConfig {
    pub database_url: String,
    /// Database pool size (its `scim_query_budget` is taken from [`Self::scim_query_budget`]).
    pub pool: crate::store::PoolSettings,
    pub listen: SocketAddr,
    pub clock: Arc<dyn Clock>,
    pub tokens: TokenConfig,
    /// A session ends after this long without a request.
    pub session_idle: time::Duration,
    /// A session ends this long after sign-in, however busy (default 7 days).
    pub session_lifetime: time::Duration,
    /// Peers whose `X-Forwarded-For` is believed (`serve --trusted-proxy`); empty: nobody's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub login_limits: LoginLimits,
    /// Token requests per minute per client ID at `POST /oauth2/v2.0/token`.
    pub oauth_per_minute: u32,
    /// SCIM requests per minute per app.
    pub scim_per_minute: u32,
    /// Wall-clock time one SCIM database call may run before it is refused (`400 tooMany`).
    pub scim_query_budget: std::time::Duration,
    /// Base URL used in SCIM `meta.location`; defaults to `http(s)://<bound address>`.
    pub public_url: Option<String>,
    /// Provisioning activity retention.
    pub activity: activity::ActivityConfig,
    /// Connection cap, header/keep-alive/body timeouts and the shutdown deadline.
    pub conn: ConnLimits,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Where to serve Prometheus metrics (`GET /metrics`); off when `None`.
    pub metrics_listen: Option<SocketAddr>,
}

impl ServerConfig {
    pub fn new(database_url: impl Into<String>, listen: SocketAddr) -> Self {
        ServerConfig {
            database_url: database_url.into(),
            pool: crate::store::PoolSettings::default(),
            listen,
            clock: Arc::new(SystemClock),
            tokens: TokenConfig::default(),
            session_idle: time::Duration::hours(12),
            session_lifetime: time::Duration::days(7),
            trusted_proxies: Vec::new(),
            login_limits: LoginLimits::default(),
            oauth_per_minute: 30,
            scim_per_minute: 240,
            scim_query_budget: crate::store::SCIM_QUERY_BUDGET,
            public_url: None,
            activity: activity::ActivityConfig::default(),
            conn: ConnLimits::default(),
            tls: None,
            metrics_listen: None,
        }
    }
}

/// What every handler shares.
pub struct Inner {
    pub store: Store,
    pub tokens: TokenService,
    pub clock: Arc<dyn Clock>,
    pub config: ServerConfig,
    pub base_url: String,
    oauth_limiter: limits::ClusterLimiter,
    pub scim_limiter: limits::ClusterLimiter,
    pub metrics: metrics::Metrics,
    /// Records SCIM calls in the background.
    pub activity: activity::Recorder,
}

pub type AppState = Arc<Inner>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not open the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("could not listen on {addr} for metrics: {source}")]
    BindMetrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    addr: SocketAddr,
    tls: Option<TlsReloader>,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// PostgreSQL: the task that applies other instances' token changes to this one's cache.
    watcher: Option<JoinHandle<()>>,
    /// The metrics listener's address, its stop signal and task, when metrics are on.
    metrics: Option<(SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>)>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` or `https://` and the bound address.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Where `GET /metrics` is served, when `metrics_listen` was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _, _)| *addr)
    }

    /// Reloads the TLS certificate and key from their files (`devconsole serve` does on SIGHUP).
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        self.tls.clone()
    }

    /// Signs in the built-in local super admin, which has no password and cannot log in over
    /// HTTP. Only code in this process can call this; the TUI's embedded mode does.
    pub async fn mint_local_session(&self) -> Result<SecretString, ApiError> {
        auth::mint_local_session(&self.state).await
    }

    /// Stops accepting connections, lets in-flight requests finish within the shutdown deadline
    /// (then cuts them), and closes the database.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Some((_, stop, task)) = self.metrics.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(watcher) = self.watcher.take() {
            watcher.abort();
        }
        self.state.activity.stop().await;
        // A task cut at the deadline may still be returning its database connection.
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.state.store.close())
            .await
            .is_err()
        {
            tracing::warn!("the database did not close within 5 s");
        }
        result
    }

    /// Runs until `signal` resolves, then shuts down gracefully.
    pub async fn serve_until(self, signal: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        self.shutdown().await
    }
}

/// Opens the database, binds, and serves in a background task.
pub async fn start(config: ServerConfig) -> Result<RunningServer, StartError> {
    let pool = crate::store::PoolSettings {
        scim_query_budget: config.scim_query_budget,
        ..config.pool.clone()
    };
    let store = Store::open_with(&config.database_url, pool).await?;
    let tokens = TokenService::new(store.clone(), config.clock.clone(), config.tokens.clone()).await?;
    // Listening before serving, so no change committed after this instance is up is missed.
    let changes = store.app_changes().await?;
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let base_url = config.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    });
    let activity = activity::Recorder::start(store.clone(), config.clock.clone(), config.activity.clone());
    let oauth_limiter = limits::ClusterLimiter::per_minute(store.clone(), "oauth", config.oauth_per_minute);
    let scim_limiter = limits::ClusterLimiter::per_minute(store.clone(), "scim", config.scim_per_minute);
    let state: AppState = Arc::new(Inner {
        store,
        tokens,
        clock: config.clock.clone(),
        oauth_limiter,
        scim_limiter,
        metrics: metrics::Metrics::new(),
        activity,
        base_url,
        config,
    });
    let metrics = match state.config.metrics_listen {
        Some(addr) => {
            let listener = metrics::bind(addr)
                .await
                .map_err(|source| StartError::BindMetrics { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| StartError::BindMetrics { addr, source })?;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(metrics::serve(listener, state.clone(), async {
                let _ = stopped.await;
            }));
            tracing::info!(addr = %bound, "metrics listening");
            Some((bound, stop, task))
        }
        None => None,
    };
    let watcher = changes.map(|changes| tokio::spawn(watch_app_changes(changes, Arc::downgrade(&state))));
    let app = router(state.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let (acceptor, reloader) = match tls {
        Some((acceptor, reloader)) => (Some(acceptor), Some(reloader)),
        None => (None, None),
    };
    let shared = listener::Shared {
        app,
        tls: acceptor,
        limits: state.config.conn.clone(),
    };
    let task = tokio::spawn(listener::serve(listener, shared, stopped));
    tracing::info!(%addr, tls = reloader.is_some(), "console server listening");
    Ok(RunningServer {
        addr,
        tls: reloader,
        state,
        stop: Some(stop),
        task,
        metrics,
        watcher,
    })
}

/// Applies the token changes every instance commits (PostgreSQL `LISTEN`) to this instance's
/// verification cache, so a revoke, SCIM switched off or an app deleted anywhere bites here
/// within milliseconds rather than after the cache lifetime. While the connection is down
/// nothing cached is trusted past its (short) lifetime anyway, and every reconnect forgets all.
async fn watch_app_changes(mut changes: crate::store::AppChanges, state: std::sync::Weak<Inner>) {
    use crate::store::AppChange;
    loop {
        let next = changes.next().await;
        let Some(state) = state.upgrade() else { return };
        match next {
            Ok(AppChange::App(app_id)) => state.tokens.forget_app(app_id),
            Ok(AppChange::Lost) => {
                tracing::warn!("lost the database change listener; reconnecting, cache dropped");
                state.tokens.forget_all();
            }
            Err(e) => {
                tracing::warn!(error = %e, "database change listener failed; retrying in 1 s");
                state.tokens.forget_all();
                drop(state);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .nest("/console/v1", console::router().merge(activity::routes()))
        .route("/oauth2/v2.0/token", axum::routing::post(oauth::token))
        .nest("/scim/v2", scim::router(state.clone()))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Spans name the path only: query strings can carry SCIM filters with personal data.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Load-balancer readiness: 200 when the database answers, else 503 saying why. Liveness
/// (`/healthz`) never touches the database, so a slow database does not get the process killed.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let problem = match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database check failed");
            "the database check failed".to_owned()
        }
        Err(_) => format!("the database did not answer within {} s", READY_TIMEOUT.as_secs()),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({"code": "not_ready", "message": problem})),
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found(crate::wire::ErrorCode::RouteNotFound, "there is no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::wire::ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    )
}
