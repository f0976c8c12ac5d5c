//! Provisioning activity: which app's token made which SCIM call, and how it ended.
//!
//! - [`record`]: a layer inside the SCIM guard (it needs the verified token) that turns every
//!   write, and every failed read, into a [`NewActivity`];
//! - [`Recorder`]: hands rows to a background task that writes them in batches, so a SCIM
//!   request never waits on the activity table. The queue is bounded: when it is full a row is
//!   dropped and counted, never the request;
//! - a pruner that keeps the table within [`ActivityConfig`] (age and rows per app), in slices;
//! - the console API: `GET /console/v1/activity` and `GET /console/v1/apps/{id}/activity`.

use super::AppState;
use super::auth::Caller;
use super::console::{PageBounds, PageQuery};
use super::error::ApiError;
use crate::clock::Clock;
use crate::store::{ActivityQuery, NewActivity, Store};
use crate::tokens::TokenApp;
use crate::tokens::VerifiedToken;
use crate::wire::{ActivityPage, Outcome, ScimOperation, ScimResourceType};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

type ApiResult<T> = Result<T, ApiError>;

/// Largest page the activity API returns.
pub const PAGE_MAX: i64 = 200;
/// Rows waiting to be written before new ones are dropped.
const QUEUE: usize = 10_000;
/// Rows written per transaction.
const BATCH: usize = 500;
/// Longest stored userName/displayName, resource id and error detail (in characters).
const NAME_MAX: usize = 256;
const ID_MAX: usize = 128;
const DETAIL_MAX: usize = 2_000;

/// How much activity is kept: rows older than `max_age` or beyond an app's newest
/// `max_rows_per_app` are pruned every `prune_every`.
#[derive(Debug, Clone)]
pub struct ActivityConfig {
    pub max_age: time::Duration,
    pub max_rows_per_app: i64,
    pub prune_every: Duration,
    /// How often closed refusal windows are swept for their counts ([`REFUSAL_WINDOW`]).
    pub refusal_sweep: Duration,
    /// Whether SCIM calls are recorded at all. Always on in `serve` and the console; off only
    /// where recording's own cost is measured (`cargo bench --bench scim_load`) or tested.
    pub record: bool,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            max_age: time::Duration::days(30),
            max_rows_per_app: 100_000,
            prune_every: Duration::from_secs(600),
            refusal_sweep: Duration::from_secs(10),
            record: true,
        }
    }
}

enum Msg {
    Row(Box<NewActivity>),
    /// Answered once every row sent before it is written.
    Flush(oneshot::Sender<()>),
}

/// The handle the SCIM layer records through; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Refusals of an app's token, collapsed per app, status and reason (see [`Recorder::refusal`]).
    refusals: Arc<Mutex<HashMap<RefusalKey, Collapsed>>>,
    clock: Arc<dyn Clock>,
}

/// App, status and reason of a refusal: one collapse window each.
type RefusalKey = (Uuid, u16, String);

/// The open collapse window of one app's refusals with one status and reason.
struct Collapsed {
    since: time::OffsetDateTime,
    /// The refusal recorded when the window opened; the summary row repeats it.
    first: NewActivity,
    /// Refusals in the window after the one recorded.
    more: u64,
}

impl Collapsed {
    fn closed(&self, now: time::OffsetDateTime) -> bool {
        now < self.since || now - self.since >= REFUSAL_WINDOW
    }

    /// The row that counts the refusals folded into this window, if there were any.
    fn summary(&self, now: time::OffsetDateTime) -> Option<NewActivity> {
        (self.more > 0).then(|| {
            let since = self
                .since
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let more = format!("{} more like this since {since}", self.more);
            NewActivity {
                at: now,
                detail: Some(match &self.first.detail {
                    Some(d) => format!("{d}; {more}"),
                    None => more,
                }),
                ..self.first.clone()
            }
        })
    }
}

/// One row per app and refusal status per window, and a row counting the rest once it closes.
pub const REFUSAL_WINDOW: time::Duration = time::Duration::minutes(1);
/// Open windows kept at most (one per app, status and reason; only real apps have one).
const REFUSAL_KEYS: usize = 10_000;

impl Recorder {
    /// Starts the writer, the pruner and the sweeper of refusal windows on the current runtime.
    pub fn start(store: Store, clock: Arc<dyn Clock>, config: ActivityConfig) -> Recorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut recorder = Recorder {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            tasks: Arc::default(),
            refusals: Arc::default(),
            clock: clock.clone(),
        };
        let sweeper = {
            let (recorder, clock) = (recorder.clone(), clock.clone());
            let every = config.refusal_sweep;
            async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    recorder.sweep(clock.now());
                }
            }
        };
        recorder.tasks = Arc::new(Mutex::new(vec![
            tokio::spawn(write_loop(store.clone(), rx)),
            tokio::spawn(prune_loop(store, clock, config)),
            tokio::spawn(sweeper),
        ]));
        recorder
    }

    /// Records a refusal of an app's token, collapsed: the first in a window is recorded at
    /// once, the rest of that window only counted, and when the window closes one more row
    /// says how many ("…; 57 more like this since …"). A sync job retrying with a revoked token
    /// every second thus writes two rows a minute, not sixty, and the log still adds up.
    pub fn refusal(&self, row: NewActivity) {
        let now = row.at;
        let mut rows = Vec::with_capacity(2);
        {
            let mut open = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            // The reason is the server's own sentence (revoked, expired, over the rate…).
            let key = (row.app_id, row.status, row.detail.clone().unwrap_or_default());
            match open.get_mut(&key) {
                Some(c) if !c.closed(now) => c.more += 1,
                Some(c) => {
                    rows.extend(c.summary(now));
                    *c = Collapsed {
                        since: now,
                        first: row.clone(),
                        more: 0,
                    };
                    rows.push(row);
                }
                None => {
                    if open.len() >= REFUSAL_KEYS {
                        self.sweep_locked(&mut open, now, &mut rows);
                    }
                    if open.len() >= REFUSAL_KEYS {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    } else {
                        open.insert(
                            key,
                            Collapsed {
                                since: now,
                                first: row.clone(),
                                more: 0,
                            },
                        );
                        rows.push(row);
                    }
                }
            }
        }
        for row in rows {
            self.record(row);
        }
    }

    /// Closes the refusal windows that have run their time: each writes its count, if any.
    pub fn sweep(&self, now: time::OffsetDateTime) {
        let mut rows = Vec::new();
        {
            let mut open = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            self.sweep_locked(&mut open, now, &mut rows);
        }
        for row in rows {
            self.record(row);
        }
    }

    fn sweep_locked(
        &self,
        open: &mut HashMap<RefusalKey, Collapsed>,
        now: time::OffsetDateTime,
        rows: &mut Vec<NewActivity>,
    ) {
        open.retain(|_, c| {
            if c.closed(now) {
                rows.extend(c.summary(now));
                false
            } else {
                true
            }
        });
    }

    /// Queues a row; never waits. A full queue drops the row (and counts it).
    pub fn record(&self, row: NewActivity) {
        if self.tx.try_send(Msg::Row(Box::new(row))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "activity queue full: SCIM calls not recorded");
            }
        }
    }

    /// Rows dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the writer and the pruner (before the database closes).
    pub async fn stop(&self) {
        // Open refusal windows write their counts now rather than never.
        let mut rows = Vec::new();
        {
            let mut open = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            for (_, c) in open.drain() {
                rows.extend(c.summary(self.clock.now()));
            }
        }
        for row in rows {
            self.record(row);
        }
        self.flush().await;
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            task.abort();
        }
    }

    /// Waits until every row queued so far is written (a reader sees its own sync).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
}

/// How long the writer waits for more rows before writing a batch: a few transactions a second
/// under load instead of one per SCIM call, each holding the database's write lock briefly. A
/// reader's flush is answered at once.
const LINGER: Duration = Duration::from_millis(200);

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Msg>) {
    let mut rows = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let until = tokio::time::Instant::now() + LINGER;
        let mut msg = first;
        loop {
            match msg {
                Msg::Row(r) => rows.push(*r),
                Msg::Flush(done) => waiting.push(done),
            }
            if rows.len() >= BATCH {
                break;
            }
            // Once a reader waits, take only what is already queued; otherwise linger.
            let next = if waiting.is_empty() {
                tokio::time::timeout_at(until, rx.recv()).await.ok().flatten()
            } else {
                rx.try_recv().ok()
            };
            match next {
                Some(m) => msg = m,
                None => break,
            }
        }
        if !rows.is_empty()
            && let Err(e) = store.insert_activity(&rows).await
        {
            tracing::error!(error = %e, rows = rows.len(), "could not record SCIM activity");
        }
        rows.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn prune_loop(store: Store, clock: Arc<dyn Clock>, config: ActivityConfig) {
    let mut every = tokio::time::interval(config.prune_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match prune(&store, clock.as_ref(), &config).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned provisioning activity"),
            Err(e) => tracing::warn!(error = %e, "could not prune provisioning activity"),
        }
    }
}

/// One pruning pass (the background task's, and tests').
pub async fn prune(
    store: &Store,
    clock: &dyn Clock,
    config: &ActivityConfig,
) -> crate::store::StoreResult<u64> {
    store
        .prune_activity(clock.now() - config.max_age, config.max_rows_per_app, 5_000)
        .await
}

// ---- recording -------------------------------------------------------------------------------

/// What a SCIM path names: `/Users`, `/Users/{id}`, `/Groups/.search`, `/.search`, discovery.
fn target(path: &str) -> (Option<ScimResourceType>, Option<&str>) {
    let mut parts = path.trim_matches('/').split('/');
    let kind = match parts.next() {
        Some("Users") => Some(ScimResourceType::User),
        Some("Groups") => Some(ScimResourceType::Group),
        _ => None,
    };
    let id = parts.next().filter(|s| !s.is_empty() && *s != ".search");
    (kind, id)
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// What a SCIM request does, from its method and path.
fn operation(method: &Method, path: &str) -> ScimOperation {
    match *method {
        Method::POST if path.ends_with(".search") => ScimOperation::Read,
        Method::POST => ScimOperation::Create,
        Method::PUT => ScimOperation::Replace,
        Method::PATCH => ScimOperation::Patch,
        Method::DELETE => ScimOperation::Delete,
        _ => ScimOperation::Read,
    }
}

/// The SCIM guard refused `req` although its token names `app` (a revoked, expired or
/// superseded token of the app, SCIM off, over the app's rate, the server busy): recorded
/// against the app (collapsed, [`Recorder::refusal`]) and marked for the metrics layer.
pub fn refused(
    state: &AppState,
    req: &Request,
    app: &TokenApp,
    error: super::scim::error::ScimError,
) -> Response {
    let path = req.uri().path();
    let (resource_type, path_id) = target(path);
    let detail = clip(&error.detail, DETAIL_MAX);
    let mut response = error.into_response();
    if state.config.activity.record {
        state.activity.refusal(NewActivity {
            app_id: app.app_id,
            at: state.clock.now(),
            operation: operation(req.method(), path),
            resource_type,
            resource_id: path_id.map(|s| clip(s, ID_MAX)),
            name: None,
            status: response.status().as_u16(),
            outcome: Outcome::Failure,
            scim_type: None,
            detail: Some(detail),
        });
    }
    response
        .extensions_mut()
        .insert(super::metrics::ScimApp(app.client_id.clone()));
    response
}

/// Records each SCIM write, and each failed read, of the token's app.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = match req.extensions().get::<VerifiedToken>() {
        Some(token) if state.config.activity.record => token.clone(),
        _ => return next.run(req).await,
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (resource_type, path_id) = target(&path);
    let operation = operation(&method, &path);
    let path_id = path_id.map(|s| clip(s, ID_MAX));
    // A create or replace names its resource in the body: keep a copy to name failures too.
    let (req, sent_name) = if matches!(operation, ScimOperation::Create | ScimOperation::Replace) {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, super::scim::BODY_LIMIT).await {
            Ok(bytes) => {
                let name = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                    str_field(&v, "userName")
                        .or_else(|| str_field(&v, "displayName"))
                        .map(|s| clip(s, NAME_MAX))
                });
                (Request::from_parts(parts, Body::from(bytes)), name)
            }
            Err(_) => {
                let response = super::scim::error::ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is over the {} byte limit",
                        super::scim::BODY_LIMIT
                    ),
                )
                .into_response();
                state.activity.record(NewActivity {
                    app_id: token.app_id,
                    at: state.clock.now(),
                    operation,
                    resource_type,
                    resource_id: path_id,
                    name: None,
                    status: response.status().as_u16(),
                    outcome: Outcome::Failure,
                    scim_type: None,
                    detail: Some("the request body was too large".into()),
                });
                return response;
            }
        }
    } else {
        (req, None)
    };
    let response = next.run(req).await;
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    if operation == ScimOperation::Read && !failed {
        return response;
    }
    // Our own JSON, bounded by the resource size: read it to learn the id, name or error.
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 4 * super::scim::BODY_LIMIT)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
    let (scim_type, detail) = if failed {
        (
            str_field(&json, "scimType").map(|s| clip(s, 64)),
            str_field(&json, "detail").map(|s| clip(s, DETAIL_MAX)),
        )
    } else if json.get("active") == Some(&Value::Bool(false)) {
        // Which app deactivated a user is the question this log answers.
        (None, Some("active: false".to_owned()))
    } else if operation == ScimOperation::Delete && resource_type == Some(ScimResourceType::User) {
        (None, Some("deactivated (DELETE deactivates)".to_owned()))
    } else {
        (None, None)
    };
    let name = str_field(&json, "userName")
        .or_else(|| str_field(&json, "displayName"))
        .map(|s| clip(s, NAME_MAX))
        .or(sent_name);
    let resource_id = path_id.or_else(|| str_field(&json, "id").map(|s| clip(s, ID_MAX)));
    state.activity.record(NewActivity {
        app_id: token.app_id,
        at: state.clock.now(),
        operation,
        resource_type,
        resource_id,
        name,
        status: status.as_u16(),
        outcome: if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        scim_type,
        detail,
    });
    Response::from_parts(parts, Body::from(bytes))
}

// ---- console API -----------------------------------------------------------------------------

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/activity", get(list_all))
        .route("/apps/{id}/activity", get(list_app))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityParams {
    outcome: Option<Outcome>,
    resource: Option<ScimResourceType>,
}

impl PageBounds for ActivityParams {
    const DEFAULT: i64 = 50;
    const MAX: i64 = PAGE_MAX;
}

async fn list_all(
    State(state): State<AppState>,
    caller: Caller,
    q: PageQuery<ActivityParams>,
) -> ApiResult<Json<ActivityPage>> {
    list(&state, &caller, None, q).await
}

async fn list_app(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    q: PageQuery<ActivityParams>,
) -> ApiResult<Json<ActivityPage>> {
    caller.require_developers_authority()?;
    if state.store.app(id).await?.is_none() {
        return Err(ApiError::app_not_found());
    }
    list(&state, &caller, Some(id), q).await
}

async fn list(
    state: &AppState,
    caller: &Caller,
    app_id: Option<Uuid>,
    q: PageQuery<ActivityParams>,
) -> ApiResult<Json<ActivityPage>> {
    caller.require_developers_authority()?;
    // Calls answered a moment ago may still be queued: a reader sees its own sync.
    state.activity.flush().await;
    let events = state
        .store
        .list_activity(&ActivityQuery {
            app_id,
            outcome: q.filter.outcome,
            resource_type: q.filter.resource,
            before_id: q.before_id,
            limit: q.limit,
        })
        .await?;
    let next_cursor = q.next_cursor(events.len(), events.last().map(|e| e.id));
    Ok(Json(ActivityPage { events, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_resource() {
        assert_eq!(target("/Users"), (Some(ScimResourceType::User), None));
        assert_eq!(target("/Users/abc"), (Some(ScimResourceType::User), Some("abc")));
        assert_eq!(target("/Groups/.search"), (Some(ScimResourceType::Group), None));
        assert_eq!(target("/.search"), (None, None));
        assert_eq!(target("/Schemas/x"), (None, Some("x")));
    }

    #[test]
    fn long_text_is_clipped_by_characters() {
        assert_eq!(clip("ab", 5), "ab");
        assert_eq!(clip("ユーザー名です", 3), "ユーザ…");
    }
}
