//! The accept loop and each connection's life: HTTP/1.1 over TCP (or TLS), with
//!
//! - a cap on open connections: at the cap, the oldest connection that is not inside a request
//!   is closed to make room (as nginx reuses keep-alive connections), and when every connection
//!   is busy the newcomer gets a 503 and is closed;
//! - a header timeout (from a new connection, or from the first byte of a request on a kept-alive
//!   one, to the end of the request head), a keep-alive idle timeout, and a deadline for reading
//!   a request body;
//! - a shutdown deadline: connections waiting for a request close at once, requests in flight
//!   get until the deadline, then everything left is cut.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits and timeouts; every value is in the README's "Limits and timeouts" table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections at most (lowered at start if the process's file limit cannot hold it).
    pub max_connections: usize,
    /// From accept (or a request's first byte) to the end of the request head, TLS handshake included.
    pub header_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long.
    pub keep_alive_timeout: Duration,
    /// From the end of the request head to the end of its body.
    pub body_timeout: Duration,
    /// After a stop is asked for, requests in flight get this long; then the server exits anyway.
    pub shutdown_deadline: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 1000,
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            shutdown_deadline: Duration::from_secs(20),
        }
    }
}

/// File descriptors kept for the database, logs and the listener itself.
const FD_RESERVE: u64 = 128;

/// Raises the soft open-file limit to the hard one and returns how many connections fit.
#[cfg(unix)]
fn connection_budget(wanted: usize) -> usize {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return wanted;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
        let fits = (lim.rlim_cur as u64).saturating_sub(FD_RESERVE).max(1);
        if (wanted as u64) > fits {
            tracing::warn!(
                wanted,
                fits,
                "the open-file limit (ulimit -n) cannot hold max_connections; using the lower value"
            );
            return fits as usize;
        }
        wanted
    }
}

#[cfg(not(unix))]
fn connection_budget(wanted: usize) -> usize {
    wanted
}

/// Where a connection is in its life, for the timeouts and for eviction.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request: the first (`fresh`) or the next one on a kept-alive connection.
    Waiting { since: Instant, fresh: bool },
    /// Some bytes of a request head (or of the TLS handshake) have arrived.
    Head { since: Instant },
    /// Inside the service: `n` requests in flight.
    Busy { n: u32 },
}

struct Track {
    phase: Mutex<Phase>,
    evict: Notify,
}

impl Track {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) {
        let mut p = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        *p = f(*p);
    }

    fn is_between_requests(&self) -> bool {
        !matches!(self.phase(), Phase::Busy { .. })
    }

    /// When the connection times out in its current phase; `None` while a request is in flight.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        match self.phase() {
            Phase::Waiting { since, fresh: true } | Phase::Head { since } => {
                Some(since + limits.header_timeout)
            }
            Phase::Waiting { since, fresh: false } => Some(since + limits.keep_alive_timeout),
            Phase::Busy { .. } => None,
        }
    }

    /// Resolves once the current phase's deadline has passed.
    ///
    /// A phase change never moves a deadline closer than `recheck` from now, so sleeping at most
    /// `recheck` at a time is enough to notice every change in time.
    async fn expired(&self, limits: &ConnLimits) {
        let recheck = limits.header_timeout.min(limits.keep_alive_timeout);
        loop {
            let now = Instant::now();
            match self.deadline(limits) {
                Some(deadline) if now >= deadline => return,
                Some(deadline) => tokio::time::sleep_until(deadline.min(now + recheck)).await,
                None => tokio::time::sleep(recheck).await,
            }
        }
    }
}

/// Marks a request in flight for as long as it lives.
struct BusyGuard(Arc<Track>);

impl BusyGuard {
    fn enter(track: Arc<Track>) -> BusyGuard {
        track.set(|p| match p {
            Phase::Busy { n } => Phase::Busy { n: n + 1 },
            _ => Phase::Busy { n: 1 },
        });
        BusyGuard(track)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.set(|p| match p {
            Phase::Busy { n } if n > 1 => Phase::Busy { n: n - 1 },
            _ => Phase::Waiting {
                since: Instant::now(),
                fresh: false,
            },
        });
    }
}

/// The socket, noting when bytes of a new request arrive.
struct Tracked<IO> {
    inner: IO,
    track: Arc<Track>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.track.set(|p| match p {
                Phase::Waiting { since, fresh } => Phase::Head {
                    // A fresh connection's header time counts from accept.
                    since: if fresh { since } else { Instant::now() },
                },
                other => other,
            });
        }
        result
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that fails once its deadline has passed, however the bytes trickle in.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    /// Set when the deadline cut the body, so the answer can be a 408 whatever the handler made of it.
    fired: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimeout(Duration);

impl http_body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.fired.store(true, std::sync::atomic::Ordering::Relaxed);
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(self.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that keeps its connection marked busy until it is sent or dropped.
struct GuardedBody {
    inner: Body,
    _busy: BusyGuard,
}

impl http_body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// 408, in the SCIM error shape under `/scim/`, the console's elsewhere; the connection closes.
fn body_timeout_response(timeout: Duration, scim: bool) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    let detail = format!("the request body was not received within {} s", timeout.as_secs());
    let (body, content_type) = if scim {
        (
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "408",
                "detail": detail,
            }),
            "application/scim+json",
        )
    } else {
        (
            serde_json::json!({"code": "request_timeout", "message": detail}),
            "application/json",
        )
    };
    let mut response = axum::response::Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
Retry-After: 1\r\nConnection: close\r\nContent-Length: 91\r\n\r\n\
{\"code\":\"server_busy\",\"message\":\"the server is at its connection limit; try again shortly\"}";

const HTTPS_ONLY_RESPONSE: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\
Connection: close\r\nContent-Length: 83\r\n\r\n\
{\"code\":\"https_required\",\"message\":\"this server speaks HTTPS: use an https:// URL\"}";

/// Everything the accept loop hands each connection.
#[derive(Clone)]
pub(super) struct Shared {
    pub app: Router,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub limits: ConnLimits,
}

/// Serves until `stop` fires (or is dropped), then drains within the shutdown deadline.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Shared,
    stop: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let max = connection_budget(shared.limits.max_connections.max(1));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let open: Arc<Mutex<BTreeMap<u64, Arc<Track>>>> = Arc::default();
    // Refusals are written by short tasks; bound them too.
    let refusals = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    let mut next_id: u64 = 0;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let track = Arc::new(Track {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                fresh: true,
            }),
            evict: Notify::new(),
        });
        {
            let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
            if open.len() >= max {
                let idle = open
                    .iter()
                    .find(|(_, t)| t.is_between_requests())
                    .map(|(id, _)| *id);
                match idle.and_then(|id| open.remove(&id)) {
                    Some(victim) => victim.evict.notify_one(),
                    None => {
                        drop(open);
                        refuse(stream, &refusals, shared.tls.is_none());
                        continue;
                    }
                }
            }
            next_id += 1;
            open.insert(next_id, track.clone());
        }
        let id = next_id;
        let (shared, open, shutdown) = (shared.clone(), open.clone(), shutdown_rx.clone());
        tasks.spawn(async move {
            connection(stream, peer, shared, track, shutdown).await;
            open.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        });
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    let in_flight = tasks.len();
    let deadline = shared.limits.shutdown_deadline;
    if tokio::time::timeout(deadline, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(
            left = tasks.len(),
            of = in_flight,
            ?deadline,
            "shutdown deadline reached; cutting the connections still open"
        );
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    Ok(())
}

/// At the cap with every connection busy: a plain 503 when we can afford to write one.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>, plain_http: bool) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let mut stream = stream;
        if plain_http {
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY_RESPONSE)).await;
        }
        let _ = stream.shutdown().await;
        drop(permit);
    });
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Shared,
    track: Arc<Track>,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = shared.limits.clone();
    let Some(tls) = shared.tls.clone() else {
        let io = Tracked {
            inner: stream,
            track: track.clone(),
        };
        return drive(io, peer, shared, track, shutdown).await;
    };
    // A plain HTTP request on the HTTPS port gets an answer it can show, not a broken handshake.
    let stream = tokio::select! {
        ready = sniff_tls(stream) => match ready {
            Some(stream) => stream,
            None => return,
        },
        _ = track.expired(&limits) => return,
        _ = track.evict.notified() => return,
        _ = shutdown.wait_for(|s| *s) => return,
    };
    let io = Tracked {
        inner: stream,
        track: track.clone(),
    };
    let tls_stream = tokio::select! {
        accepted = tls.accept(io) => match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
        },
        _ = track.expired(&limits) => return,
        _ = track.evict.notified() => return,
        _ = shutdown.wait_for(|s| *s) => return,
    };
    drive(tls_stream, peer, shared, track, shutdown).await
}

/// Waits for the first byte; a TLS handshake starts with 0x16. Anything else gets a 400.
async fn sniff_tls(mut stream: TcpStream) -> Option<TcpStream> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == 0x16 => Some(stream),
        Ok(1) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(HTTPS_ONLY_RESPONSE)).await;
            let _ = stream.shutdown().await;
            None
        }
        _ => None,
    }
}

async fn drive<IO>(
    io: IO,
    peer: SocketAddr,
    shared: Shared,
    track: Arc<Track>,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Shared { app, limits, .. } = shared;
    let body_timeout = limits.body_timeout;
    let service_track = track.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let busy = BusyGuard::enter(service_track.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scim = req.uri().path().starts_with("/scim/");
        let req = req.map(|body| {
            Body::new(DeadlineBody {
                inner: Body::new(body),
                deadline: Box::pin(tokio::time::sleep(body_timeout)),
                timeout: body_timeout,
                fired: fired.clone(),
            })
        });
        let app = app.clone();
        async move {
            let response = app.oneshot(req).await;
            let response = if fired.load(std::sync::atomic::Ordering::Relaxed) {
                Ok(body_timeout_response(body_timeout, scim))
            } else {
                response
            };
            // The request stays in flight until its response body has been sent.
            response.map(|response| {
                response.map(|body| {
                    Body::new(GuardedBody {
                        inner: body,
                        _busy: busy,
                    })
                })
            })
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own timers (Track) cover header and idle time; hyper's would merge the two.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = track.expired(&limits) => {
                tracing::debug!(%peer, "connection timed out waiting for a request");
                return;
            }
            _ = track.evict.notified() => {
                tracing::debug!(%peer, "idle connection closed to make room under the connection cap");
                return;
            }
            _ = shutdown.wait_for(|s| *s), if !draining => {
                draining = true;
                if track.is_between_requests() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// `devconsole serve` flags for connections and TLS.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeNetArgs {
    /// Open connections at most; at the cap the oldest idle one is closed to make room.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Seconds to receive a request head (TLS handshake included).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, default_value_t = 75, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub keep_alive_secs: u64,
    /// Seconds to receive a request body.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Seconds in-flight requests get after SIGTERM/SIGINT before the server exits anyway.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_deadline_secs: u64,
    /// Serve HTTPS with this PEM certificate chain (reloaded on SIGHUP); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServeNetArgs {
    /// Sets `config.conn` and `config.tls` from the flags.
    pub fn apply(&self, config: &mut super::ServerConfig) {
        config.conn = ConnLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(self.header_timeout_secs),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_secs),
            body_timeout: Duration::from_secs(self.body_timeout_secs),
            shutdown_deadline: Duration::from_secs(self.shutdown_deadline_secs),
        };
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            config.tls = Some(super::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_responses_have_the_right_content_length() {
        for raw in [BUSY_RESPONSE, HTTPS_ONLY_RESPONSE] {
            let text = std::str::from_utf8(raw).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(length, body.len(), "{text}");
            serde_json::from_str::<serde_json::Value>(body).unwrap();
        }
    }
}
