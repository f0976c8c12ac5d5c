//! Prometheus metrics: counters and histograms updated by two small layers, token gauges read
//! from the store at scrape time, served on their own listener (`serve --metrics-listen`) so the
//! public port never exposes them.
//!
//! - [`track`] wraps the whole router: request latency per surface and method, rate-limited
//!   requests, sign-in failures and lockouts, and SCIM requests the guard refused.
//! - [`scim`] sits inside the SCIM guard, where the caller's app is known: SCIM requests by app,
//!   method, resource type and status.
//! - [`serve`] answers `GET /metrics` in the OpenMetrics text format (which Prometheus reads).

use super::AppState;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::time::Instant;

/// Which part of the server a request was for.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Surface {
    Console,
    OAuth,
    Scim,
    Health,
    Other,
}

impl Surface {
    fn of(path: &str) -> Surface {
        if path.starts_with("/console/") {
            Surface::Console
        } else if path.starts_with("/oauth2/") {
            Surface::OAuth
        } else if path.starts_with("/scim/") {
            Surface::Scim
        } else if path == "/healthz" || path == "/readyz" {
            Surface::Health
        } else {
            Surface::Other
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Surface::Console => "console",
            Surface::OAuth => "oauth",
            Surface::Scim => "scim",
            Surface::Health => "health",
            Surface::Other => "other",
        }
    }
}

/// A bounded method label: anything unusual is `OTHER`, so a client cannot mint label values.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// The SCIM resource type a path under `/scim/v2` is about (bounded set).
fn resource_type(path: &str) -> &'static str {
    let path = path.strip_prefix("/scim/v2").unwrap_or(path);
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "Users" => "User",
        "Groups" => "Group",
        ".search" => "search",
        "Schemas" => "Schema",
        "ResourceTypes" => "ResourceType",
        "ServiceProviderConfig" => "ServiceProviderConfig",
        "Bulk" => "Bulk",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    surface: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScimLabels {
    /// The app's client ID; empty when the token names no app of ours (made up, malformed).
    client_id: String,
    method: &'static str,
    resource_type: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SurfaceLabels {
    surface: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    client_id: String,
    app: String,
}

/// Latency buckets from half a millisecond to ten seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Every metric of one server. Each server has its own registry (tests and the embedded server
/// run several in one process).
pub struct Metrics {
    registry: Registry,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    scim_requests: Family<ScimLabels, Counter>,
    rate_limited: Family<SurfaceLabels, Counter>,
    login_failures: Counter,
    login_lockouts: Counter,
    tokens: Family<StateLabels, Gauge>,
    expiry: Family<AppLabels, Gauge>,
    last_used: Family<AppLabels, Gauge>,
    /// One scrape at a time: the gauges are refreshed and encoded together.
    scrape: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("devconsole");
        let latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by surface (console, oauth, scim, health, other) and method",
            latency.clone(),
        );
        let scim_requests = Family::<ScimLabels, Counter>::default();
        registry.register(
            "scim_requests",
            "SCIM requests by app (client_id; empty when the token names no app of ours), method, resource type and status",
            scim_requests.clone(),
        );
        let rate_limited = Family::<SurfaceLabels, Counter>::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by a rate limit (sign-in lockouts are counted separately)",
            rate_limited.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Console sign-ins refused for a wrong username or password",
            login_failures.clone(),
        );
        let login_lockouts = Counter::default();
        registry.register(
            "login_lockouts",
            "Console sign-ins refused because the username or address is locked out after failures",
            login_lockouts.clone(),
        );
        let tokens = Family::<StateLabels, Gauge>::default();
        registry.register(
            "tokens",
            "Apps' current long-lived tokens by state (active, expired, revoked)",
            tokens.clone(),
        );
        let expiry = Family::<AppLabels, Gauge>::default();
        registry.register(
            "token_expiry_seconds",
            "Seconds until an app's active token expires (every use renews it)",
            expiry.clone(),
        );
        let last_used = Family::<AppLabels, Gauge>::default();
        registry.register(
            "token_last_used_timestamp_seconds",
            "Unix time of the last recorded use of an app's active token (its issue time if never used)",
            last_used.clone(),
        );
        Metrics {
            registry,
            latency,
            scim_requests,
            rate_limited,
            login_failures,
            login_lockouts,
            tokens,
            expiry,
            last_used,
            scrape: tokio::sync::Mutex::new(()),
        }
    }

    /// Reads the token gauges from the store and renders everything.
    pub async fn render(&self, state: &AppState) -> Result<String, String> {
        let _one = self.scrape.lock().await;
        let apps = state.store.list_apps().await.map_err(|e| e.to_string())?;
        let latest = state.store.latest_tokens().await.map_err(|e| e.to_string())?;
        let now = state.clock.now();
        self.tokens.clear();
        self.expiry.clear();
        self.last_used.clear();
        for s in ["active", "expired", "revoked"] {
            self.tokens.get_or_create(&StateLabels { state: s }).set(0);
        }
        for app in apps {
            let Some(record) = latest.get(&app.id) else {
                continue;
            };
            let token = state.tokens.describe(record);
            self.tokens
                .get_or_create(&StateLabels {
                    state: token.state.as_str(),
                })
                .inc();
            if token.state == crate::wire::TokenState::Active {
                let labels = AppLabels {
                    client_id: app.client_id.clone(),
                    app: app.name.clone(),
                };
                self.expiry
                    .get_or_create(&labels)
                    .set((token.expires_at - now).whole_seconds());
                let used = token.last_used_at.unwrap_or(token.issued_at);
                self.last_used.get_or_create(&labels).set(used.unix_timestamp());
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| format!("encoding metrics: {e}"))?;
        Ok(out)
    }
}

/// Marks a response the SCIM guard refused although the token named its app (revoked, expired,
/// SCIM off, over its rate): [`track`] counts it under that app's client ID. Only tokens of
/// ours name an app, so made-up tokens cannot mint label values.
#[derive(Clone, Debug)]
pub struct ScimApp(pub String);

/// Marks a response the SCIM layer already counted, so [`track`] does not count it again.
#[derive(Clone, Copy)]
struct ScimCounted;

/// The outermost layer: latency, rate limits, sign-in failures, refused SCIM requests.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let surface = Surface::of(req.uri().path());
    let method = method_label(req.method());
    let sign_in = surface == Surface::Console
        && req.method() == Method::POST
        && req.uri().path() == "/console/v1/sessions";
    let resource = (surface == Surface::Scim).then(|| resource_type(req.uri().path()));
    let response = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .get_or_create(&HttpLabels {
            surface: surface.as_str(),
            method,
        })
        .observe(started.elapsed().as_secs_f64());
    let status = response.status();
    if sign_in {
        match status {
            StatusCode::UNAUTHORIZED => {
                m.login_failures.inc();
            }
            StatusCode::TOO_MANY_REQUESTS => {
                m.login_lockouts.inc();
            }
            _ => {}
        }
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        m.rate_limited
            .get_or_create(&SurfaceLabels {
                surface: surface.as_str(),
            })
            .inc();
    }
    if let Some(resource_type) = resource
        && response.extensions().get::<ScimCounted>().is_none()
    {
        let client_id = response
            .extensions()
            .get::<ScimApp>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        m.scim_requests
            .get_or_create(&ScimLabels {
                client_id,
                method,
                resource_type,
                status: status.as_u16(),
            })
            .inc();
    }
    response
}

/// Inside the SCIM guard: the request carries its verified token, so the app is known.
pub async fn scim(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(client_id) = req
        .extensions()
        .get::<crate::tokens::VerifiedToken>()
        .map(|v| v.client_id.clone())
    else {
        return next.run(req).await;
    };
    let method = method_label(req.method());
    let resource_type = resource_type(req.uri().path());
    let mut response = next.run(req).await;
    state
        .metrics
        .scim_requests
        .get_or_create(&ScimLabels {
            client_id,
            method,
            resource_type,
            status: response.status().as_u16(),
        })
        .inc();
    response.extensions_mut().insert(ScimCounted);
    response
}

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn scrape(State(state): State<AppState>) -> Response {
    match state.metrics.render(&state).await {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics scrape failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the metrics could not be read\n").into_response()
        }
    }
}

/// Binds the metrics listener: `GET /metrics` and nothing else.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves `GET /metrics` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state(state);
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_small_fixed_sets() {
        assert_eq!(resource_type("/scim/v2/Users/abc"), "User");
        assert_eq!(resource_type("/Groups"), "Group");
        assert_eq!(resource_type("/scim/v2/Users/.search"), "User");
        assert_eq!(resource_type("/scim/v2/.search"), "search");
        assert_eq!(resource_type("/scim/v2/%00evil"), "other");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(Surface::of("/scim/v2/Users").as_str(), "scim");
        assert_eq!(Surface::of("/console/v1/sessions").as_str(), "console");
        assert_eq!(Surface::of("/oauth2/v2.0/token").as_str(), "oauth");
        assert_eq!(Surface::of("/nope").as_str(), "other");
    }
}
