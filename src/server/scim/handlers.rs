//! SCIM endpoints: discovery, Users, Groups, and searches.

use super::cursor::{self, CursorKey};
use super::error::ScimType;
use super::error::{SCIM_JSON, ScimError, ScimResult};
use super::resource::{self, Selection};
use super::schema::{self, Kind};
use super::serial::Shared;
use super::{caps, enterprise, filter, normalize, patch};
use crate::server::AppState;
use crate::store::{GroupDelete, ScimQuery, ScimRow, ScimTable, ScimWrite};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_v2::filter::Filter;
use scim_v2::models::others::{SortOrder, TolerantSearchRequest};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Largest page, and the default page size (LINE WORKS: count defaults to 100, max 100).
pub const MAX_COUNT: i64 = 100;

fn table(kind: Kind) -> ScimTable {
    match kind {
        Kind::User => ScimTable::Users,
        Kind::Group => ScimTable::Groups,
    }
}

fn respond(status: StatusCode, body: &Value, version: Option<i64>, location: Option<String>) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    if let Some(v) = version
        && let Ok(v) = HeaderValue::from_str(&resource::etag(v))
    {
        h.insert(header::ETAG, v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    r
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> ScimResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over the {} byte limit", super::BODY_LIMIT),
            )
        } else {
            ScimError::invalid_syntax(format!("could not read the request body: {e}"))
        }
    })
}

fn parse_json(bytes: &[u8]) -> ScimResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
}

fn json_body(body: Result<Bytes, BytesRejection>) -> ScimResult<Value> {
    parse_json(&body_bytes(body)?)
}

/// Inputs up to this size are handled on the async worker: a thread hop costs more than they do.
const INLINE_BYTES: usize = 16 * 1024;

/// Runs CPU work over `weight` bytes of JSON; large inputs go to the blocking pool so they never
/// hold up an async worker (and with it `/healthz` and the console).
async fn cpu<T: Send + 'static>(
    weight: usize,
    work: impl FnOnce() -> ScimResult<T> + Send + 'static,
) -> ScimResult<T> {
    if weight < INLINE_BYTES {
        return work();
    }
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "SCIM work panicked");
        ScimError::internal()
    })?
}

pub async fn not_found() -> ScimError {
    ScimError::not_found("there is no such SCIM endpoint")
}

pub async fn method_not_allowed() -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this SCIM endpoint does not accept that method",
    )
}

// ---- discovery -------------------------------------------------------------------------

fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub async fn service_provider_config(State(state): State<AppState>) -> Response {
    respond(
        StatusCode::OK,
        &schema::service_provider_config(&state.base_url),
        None,
        None,
    )
}

pub async fn resource_types(State(state): State<AppState>) -> Response {
    let all: Vec<Value> = [Kind::User, Kind::Group]
        .into_iter()
        .map(|k| schema::resource_type(k, &state.base_url))
        .collect();
    let n = all.len() as i64;
    respond(StatusCode::OK, &list_response(all, n, 1), None, None)
}

pub async fn resource_type(State(state): State<AppState>, Path(id): Path<String>) -> ScimResult<Response> {
    let kind = [Kind::User, Kind::Group]
        .into_iter()
        .find(|k| k.name() == id)
        .ok_or_else(|| ScimError::not_found("no resource type has that id"))?;
    Ok(respond(
        StatusCode::OK,
        &schema::resource_type(kind, &state.base_url),
        None,
        None,
    ))
}

pub async fn schemas(State(state): State<AppState>) -> Response {
    let all: Vec<Value> = schema::all_schemas()
        .iter()
        .map(|s| s.to_json(&state.base_url))
        .collect();
    let n = all.len() as i64;
    respond(StatusCode::OK, &list_response(all, n, 1), None, None)
}

pub async fn schema_by_id(State(state): State<AppState>, Path(id): Path<String>) -> ScimResult<Response> {
    let s = schema::all_schemas()
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ScimError::not_found("no schema has that id"))?;
    Ok(respond(StatusCode::OK, &s.to_json(&state.base_url), None, None))
}

// ---- lists and searches ----------------------------------------------------------------

#[derive(Debug, Default)]
struct ListParams {
    filter: Option<Filter>,
    sort_by: Option<String>,
    descending: bool,
    start_index: i64,
    count: i64,
    selection: Selection,
    /// RFC 9865: `cursor` was sent (empty for the first page).
    cursor: Option<String>,
}

/// A cursor page's `count` (RFC 9865 §2): a positive integer, at most [`MAX_COUNT`] (more is
/// served as [`MAX_COUNT`], as `maxPageSize` says); absent means [`MAX_COUNT`].
fn cursor_count(raw: Option<&str>) -> ScimResult<i64> {
    let Some(raw) = raw else {
        return Ok(MAX_COUNT);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n.min(MAX_COUNT)),
        _ => Err(ScimError::bad(
            ScimType::InvalidCount,
            format!("count must be an integer from 1 to {MAX_COUNT} with a cursor, not {raw:?}"),
        )),
    }
}

/// `cursor` and `startIndex` ask for two different pagination methods.
fn both_methods() -> ScimError {
    ScimError::invalid_value(
        "send either cursor (cursor-based pagination, RFC 9865) or startIndex (index-based), not both",
    )
}

fn parse_filter(raw: &str) -> ScimResult<Filter> {
    caps::check_filter_text(raw)?;
    let f = raw
        .parse::<Filter>()
        .map_err(|e| ScimError::invalid_filter(format!("the filter does not parse: {e}")))?;
    caps::check_filter(&f)?;
    Ok(f)
}

fn effective(start_index: Option<i64>, count: Option<i64>) -> (i64, i64) {
    (
        start_index.unwrap_or(1).max(1),
        count.unwrap_or(MAX_COUNT).clamp(0, MAX_COUNT),
    )
}

impl ListParams {
    fn from_query(raw: Option<&str>) -> ScimResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ScimError::invalid_syntax(format!("bad query string: {e}")))?;
        let get = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let int = |name: &str| -> ScimResult<Option<i64>> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer")))
                })
                .transpose()
        };
        let descending = match get("sortOrder") {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                ));
            }
        };
        let cursor = get("cursor").map(str::to_owned);
        let (start_index, count) = if cursor.is_some() {
            if get("startIndex").is_some() {
                return Err(both_methods());
            }
            (1, cursor_count(get("count"))?)
        } else {
            effective(int("startIndex")?, int("count")?)
        };
        Ok(ListParams {
            cursor,
            filter: get("filter")
                .filter(|f| !f.trim().is_empty())
                .map(parse_filter)
                .transpose()?,
            sort_by: get("sortBy").filter(|s| !s.is_empty()).map(str::to_owned),
            descending,
            start_index,
            count,
            selection: Selection::parse(get("attributes"), get("excludedAttributes")),
        })
    }

    fn from_search(body: Result<Bytes, BytesRejection>) -> ScimResult<Self> {
        let body = json_body(body)?;
        if let Some(raw) = body
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("filter")))
            .and_then(|(_, v)| v.as_str())
        {
            caps::check_filter_text(raw)?;
        }
        let field = |name: &str| {
            body.as_object()
                .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .map(|(_, v)| v.clone())
        };
        let cursor = match field("cursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => Some(c),
            Some(_) => return Err(ScimError::bad(ScimType::InvalidCursor, "cursor must be a string")),
        };
        let cursor_count = match (&cursor, field("count")) {
            (None, _) => None,
            (Some(_), None | Some(Value::Null)) => Some(MAX_COUNT),
            (Some(_), Some(v)) => Some(cursor_count(Some(&v.to_string()))?),
        };
        if cursor.is_some() && field("startIndex").is_some_and(|v| !v.is_null()) {
            return Err(both_methods());
        }
        let req: TolerantSearchRequest = serde_json::from_value(body)
            .map_err(|e| ScimError::invalid_syntax(format!("not a SearchRequest: {e}")))?;
        if !req
            .schemas
            .iter()
            .any(|s| s.eq_ignore_ascii_case(schema::SEARCH_REQUEST))
        {
            return Err(ScimError::invalid_syntax(format!(
                "a search body must list {}",
                schema::SEARCH_REQUEST
            )));
        }
        let (start_index, count) = match cursor_count {
            Some(n) => (1, n),
            None => effective(req.start_index, req.count),
        };
        let filter = match req.filter {
            None => None,
            Some(scim_v2::filter::MaybeFilter::Valid(f)) => {
                caps::check_filter(&f)?;
                Some(f)
            }
            Some(scim_v2::filter::MaybeFilter::Invalid(e)) => {
                return Err(ScimError::invalid_filter(format!(
                    "the filter does not parse: {}",
                    e.error
                )));
            }
        };
        Ok(ListParams {
            filter,
            sort_by: req.sort_by,
            descending: req.sort_order == Some(SortOrder::Descending),
            start_index,
            count,
            selection: Selection::from_lists(&req.attributes, &req.excluded_attributes),
            cursor,
        })
    }

    fn query(&self, kind: Kind) -> ScimResult<ScimQuery> {
        Ok(ScimQuery {
            filter: self
                .filter
                .as_ref()
                .map(|f| {
                    let mut f = f.clone();
                    normalize::filter(kind, &mut f);
                    filter::translate(kind, &f)
                })
                .transpose()?,
            order: self
                .sort_by
                .as_deref()
                .map(|s| filter::sort_order(kind, s, self.descending))
                .transpose()?,
            offset: self.start_index - 1,
            limit: self.count,
        })
    }
}

/// Renders stored rows, adding each user's groups.
async fn render_rows(
    state: &AppState,
    kind: Kind,
    rows: &[ScimRow],
    sel: &Selection,
) -> ScimResult<Vec<Value>> {
    // Reads carry each user's groups; rows returned by a write do not, so look them up.
    let missing: Vec<String> = rows
        .iter()
        .filter(|r| kind == Kind::User && r.groups.is_none())
        .map(|r| r.id.clone())
        .collect();
    let looked_up = state.store.scim_groups_of(&missing).await?;
    let mut full = rows
        .iter()
        .map(|row| {
            let groups = row
                .groups
                .as_deref()
                .or_else(|| looked_up.get(&row.id).map(Vec::as_slice));
            resource::render(kind, row, &state.base_url, groups)
        })
        .collect::<ScimResult<Vec<Value>>>()?;
    if kind == Kind::User {
        enterprise::fill_managers(&state.store, &state.base_url, &mut full).await?;
    }
    Ok(full
        .into_iter()
        .map(|f| {
            if sel.is_empty() {
                f
            } else {
                resource::project(kind, f, sel)
            }
        })
        .collect())
}

async fn list(state: &AppState, keys: &CursorKey, kind: Kind, p: &ListParams) -> ScimResult<Response> {
    if let Some(c) = &p.cursor {
        return list_by_cursor(state, keys, kind, p, c).await;
    }
    let q = p.query(kind)?;
    let (total, rows) = state.store.scim_list(table(kind), &q).await?;
    let resources = render_rows(state, kind, &rows, &p.selection).await?;
    Ok(respond(
        StatusCode::OK,
        &list_response(resources, total, p.start_index),
        None,
        None,
    ))
}

/// An RFC 9865 cursor page: a keyset query after the cursor's position, so every page costs
/// the same however deep it is. `nextCursor` is sent on every page but the last.
async fn list_by_cursor(
    state: &AppState,
    keys: &CursorKey,
    kind: Kind,
    p: &ListParams,
    sent: &str,
) -> ScimResult<Response> {
    let q = p.query(kind)?;
    let query = cursor::Query {
        kind,
        filter: p.filter.as_ref(),
        sort_by: p.sort_by.as_deref(),
        descending: p.descending,
    };
    let now = state.clock.now();
    let after = if sent.is_empty() {
        None
    } else {
        Some(cursor::read(keys, &state.store, &query, q.order.as_ref(), sent, now).await?)
    };
    let page = state
        .store
        .scim_list_after(table(kind), &q, after.as_ref())
        .await?;
    let resources = render_rows(state, kind, &page.rows, &p.selection).await?;
    let mut body = json!({
        "schemas": [schema::LIST_RESPONSE],
        "totalResults": page.total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(next) = &page.next {
        body["nextCursor"] = Value::String(cursor::issue(keys, &state.store, &query, next, now).await?);
    }
    Ok(respond(StatusCode::OK, &body, None, None))
}

pub async fn list_users(
    State(state): State<AppState>,
    Extension(keys): Extension<Arc<CursorKey>>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    list(&state, &keys, Kind::User, &ListParams::from_query(q.as_deref())?).await
}

pub async fn list_groups(
    State(state): State<AppState>,
    Extension(keys): Extension<Arc<CursorKey>>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    list(&state, &keys, Kind::Group, &ListParams::from_query(q.as_deref())?).await
}

pub async fn search_users(
    State(state): State<AppState>,
    Extension(keys): Extension<Arc<CursorKey>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    list(&state, &keys, Kind::User, &ListParams::from_search(body)?).await
}

pub async fn search_groups(
    State(state): State<AppState>,
    Extension(keys): Extension<Arc<CursorKey>>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    list(&state, &keys, Kind::Group, &ListParams::from_search(body)?).await
}

/// `POST /.search`: users then groups. An attribute only one type has matches nothing in the
/// other; a filter neither type understands is an error.
pub async fn search_all(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let p = ListParams::from_search(body)?;
    if p.cursor.is_some() {
        // One keyset spans one table; across Users and Groups only startIndex pages.
        return Err(ScimError::bad(
            ScimType::InvalidCursor,
            "POST /.search pages by startIndex only; cursors work on /Users, /Groups and their /.search",
        ));
    }
    let mut plans = Vec::new();
    let mut first_err = None;
    for kind in [Kind::User, Kind::Group] {
        match p.query(kind) {
            Ok(q) => plans.push((kind, q)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if plans.is_empty() {
        return Err(first_err.unwrap_or_else(ScimError::internal));
    }
    let mut total = 0;
    let mut resources = Vec::new();
    let mut offset = p.start_index - 1;
    for (kind, mut q) in plans {
        q.offset = offset;
        q.limit = p.count - resources.len() as i64;
        let (n, rows) = state.store.scim_list(table(kind), &q).await?;
        total += n;
        offset = (offset - n).max(0);
        resources.extend(render_rows(&state, kind, &rows, &p.selection).await?);
    }
    Ok(respond(
        StatusCode::OK,
        &list_response(resources, total, p.start_index),
        None,
        None,
    ))
}

// ---- single resources ------------------------------------------------------------------

async fn load(state: &AppState, kind: Kind, id: &str) -> ScimResult<ScimRow> {
    state
        .store
        .scim_get(table(kind), id)
        .await?
        .ok_or_else(|| ScimError::not_found(format!("no {} has id {id}", kind.name())))
}

async fn show(
    state: &AppState,
    kind: Kind,
    row: &ScimRow,
    status: StatusCode,
    sel: &Selection,
) -> ScimResult<Response> {
    let body = render_rows(state, kind, std::slice::from_ref(row), sel)
        .await?
        .pop()
        .ok_or_else(ScimError::internal)?;
    let location =
        (status == StatusCode::CREATED).then(|| resource::location(&state.base_url, kind, &row.id));
    Ok(respond(status, &body, Some(row.version), location))
}

fn selection_of(q: Option<&str>) -> ScimResult<Selection> {
    Ok(ListParams::from_query(q)?.selection)
}

async fn get_one(state: AppState, kind: Kind, id: String, q: Option<String>) -> ScimResult<Response> {
    let sel = selection_of(q.as_deref())?;
    let row = load(&state, kind, &id).await?;
    show(&state, kind, &row, StatusCode::OK, &sel).await
}

pub async fn get_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    get_one(s, Kind::User, id, q).await
}

pub async fn get_group(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ScimResult<Response> {
    get_one(s, Kind::Group, id, q).await
}

/// A group's member ids, in order, with repeats dropped (the first is kept). Linear.
fn member_ids(own_id: &str, r: &mut Map<String, Value>) -> ScimResult<Vec<String>> {
    let Some(Value::Array(members)) = r.get_mut("members") else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::with_capacity(members.len());
    let mut ids = Vec::with_capacity(members.len());
    members.retain(|m| {
        let id = m.get("value").and_then(Value::as_str).unwrap_or_default();
        let first = seen.insert(id.to_owned());
        if first {
            ids.push(id.to_owned());
        }
        first
    });
    if seen.contains(own_id) {
        return Err(ScimError::invalid_value("a group cannot be a member of itself"));
    }
    Ok(ids)
}

/// Checks each member exists (`targets`: id → is a group), and fills in `type` and `$ref`.
fn fill_members(
    base_url: &str,
    r: &mut Map<String, Value>,
    targets: &HashMap<String, bool>,
) -> ScimResult<()> {
    let Some(Value::Array(members)) = r.get_mut("members") else {
        return Ok(());
    };
    for m in members.iter_mut() {
        let obj = m.as_object_mut().ok_or_else(ScimError::internal)?;
        let id = obj
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let is_group = *targets
            .get(&id)
            .ok_or_else(|| ScimError::invalid_value(format!("member {id} is neither a User nor a Group")))?;
        let actual = if is_group { Kind::Group } else { Kind::User };
        match obj.get("type").and_then(Value::as_str) {
            Some(given) if !given.eq_ignore_ascii_case(actual.name()) => {
                return Err(ScimError::invalid_value(format!(
                    "member {id} is a {}, not a {given}",
                    actual.name()
                )));
            }
            Some(_) => {}
            None => {
                obj.insert("type".into(), actual.name().into());
            }
        }
        obj.insert("$ref".into(), resource::location(base_url, actual, &id).into());
    }
    Ok(())
}

/// What a create or replace writes, owned.
struct Prepared {
    unique: String,
    external_id: Option<String>,
    active: bool,
    text: String,
    members: Vec<String>,
}

impl Prepared {
    fn write<'a>(&'a self, id: &'a str) -> ScimWrite<'a> {
        ScimWrite {
            id,
            unique: &self.unique,
            external_id: self.external_id.as_deref(),
            active: self.active,
            resource: &self.text,
            members: &self.members,
        }
    }
}

/// A validated resource → the row to write: members resolved, caps checked, serialised.
async fn prepare(
    state: &AppState,
    kind: Kind,
    id: &str,
    mut r: Map<String, Value>,
    weight: usize,
) -> ScimResult<Prepared> {
    caps::check_values(kind, &r)?;
    let members = if kind == Kind::Group {
        member_ids(id, &mut r)?
    } else {
        enterprise::check(id, &r)?;
        Vec::new()
    };
    let targets: HashMap<String, bool> = if members.is_empty() {
        HashMap::new()
    } else {
        state
            .store
            .scim_member_targets(&members)
            .await?
            .into_iter()
            .map(|t| (t.id, t.is_group))
            .collect()
    };
    let base_url = state.base_url.clone();
    cpu(weight, move || {
        fill_members(&base_url, &mut r, &targets)?;
        let unique_key = match kind {
            Kind::User => "userName",
            Kind::Group => "displayName",
        };
        let unique = r
            .get(unique_key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let external_id = r.get("externalId").and_then(Value::as_str).map(str::to_owned);
        let active = r.get("active") != Some(&Value::Bool(false));
        let text = Value::Object(r).to_string();
        caps::check_size(kind, text.len())?;
        Ok(Prepared {
            unique,
            external_id,
            active,
            text,
            members,
        })
    })
    .await
}

/// A member that vanished between the lookup and the write makes the write retry; the retry's
/// lookup then names it.
const WRITE_ATTEMPTS: usize = 5;

fn busy() -> ScimError {
    ScimError::new(
        StatusCode::CONFLICT,
        "the resource is being changed concurrently; retry",
    )
}

async fn create(state: AppState, kind: Kind, body: Result<Bytes, BytesRejection>) -> ScimResult<Response> {
    let bytes = body_bytes(body)?;
    let weight = bytes.len();
    let mut r = cpu(weight, move || {
        let mut body = parse_json(&bytes)?;
        caps::check_members_in_body(kind, &body)?;
        normalize::resource(kind, &mut body);
        resource::normalize(kind, &body)
    })
    .await?;
    if kind == Kind::User && !r.contains_key("active") {
        r.insert("active".into(), Value::Bool(true));
    }
    let id = uuid::Uuid::now_v7().to_string();
    for _ in 0..WRITE_ATTEMPTS {
        let p = prepare(&state, kind, &id, r.clone(), weight).await?;
        if let Some(row) = state
            .store
            .scim_insert(table(kind), &p.write(&id), state.clock.now())
            .await?
        {
            return show(&state, kind, &row, StatusCode::CREATED, &Selection::default()).await;
        }
    }
    Err(busy())
}

pub async fn create_user(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    create(s, Kind::User, body).await
}

pub async fn create_group(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    create(s, Kind::Group, body).await
}

/// `If-Match` against the current version: `*`, or any listed (weak) ETag.
fn check_if_match(headers: &HeaderMap, version: i64) -> ScimResult<()> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let v = v
        .to_str()
        .map_err(|_| ScimError::invalid_syntax("If-Match is not readable"))?;
    let current = version.to_string();
    let ok = v
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == current);
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            format!(
                "the resource has changed: its version is {}",
                resource::etag(version)
            ),
        ))
    }
}

/// A change to a resource's JSON, run on the blocking pool when the resource is large.
type Change = Arc<dyn Fn(&mut Map<String, Value>) -> ScimResult<()> + Send + Sync>;

/// Read, change in memory, validate, write. Writes to one resource take turns, so none fails
/// for a concurrent one; the version check on the write still guards against other instances.
async fn modify(
    state: &AppState,
    shared: &Shared,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    extra_weight: usize,
    change: Change,
) -> ScimResult<ScimRow> {
    let _turn = shared.turn(kind, id).await;
    for _ in 0..WRITE_ATTEMPTS {
        let row = load(state, kind, id).await?;
        check_if_match(headers, row.version)?;
        let weight = row.resource.len() + extra_weight;
        let change = change.clone();
        let (text, row_id) = (row.resource, row.id);
        let r = cpu(weight, move || {
            let mut r: Map<String, Value> = serde_json::from_str(&text).map_err(|e| {
                tracing::error!(id = %row_id, error = %e, "corrupt SCIM resource");
                ScimError::internal()
            })?;
            change(&mut r)?;
            resource::normalize(kind, &Value::Object(r))
        })
        .await?;
        let p = prepare(state, kind, id, r, weight).await?;
        let written = state
            .store
            .scim_replace(table(kind), &p.write(id), row.version, state.clock.now())
            .await?;
        if let Some(row) = written {
            return Ok(row);
        }
    }
    Err(busy())
}

async fn replace(
    state: AppState,
    shared: Arc<Shared>,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let bytes = body_bytes(body)?;
    let weight = bytes.len();
    let new = cpu(weight, move || {
        let mut body = parse_json(&bytes)?;
        caps::check_members_in_body(kind, &body)?;
        normalize::resource(kind, &mut body);
        resource::normalize(kind, &body)
    })
    .await?;
    let change: Change = Arc::new(move |r| {
        let kept_active = r.get("active").cloned();
        *r = new.clone();
        // A PUT that leaves `active` out keeps it: it must not quietly reactivate a member
        // that DELETE deactivated.
        if kind == Kind::User
            && !r.contains_key("active")
            && let Some(active) = kept_active
        {
            r.insert("active".into(), active);
        }
        Ok(())
    });
    let row = modify(&state, &shared, kind, &id, &headers, weight, change).await?;
    show(&state, kind, &row, StatusCode::OK, &Selection::default()).await
}

pub async fn replace_user(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    replace(s, shared, Kind::User, id, headers, body).await
}

pub async fn replace_group(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    replace(s, shared, Kind::Group, id, headers, body).await
}

async fn patch_one(
    state: AppState,
    shared: Arc<Shared>,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    q: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let sel = selection_of(q.as_deref())?;
    let bytes = body_bytes(body)?;
    let weight = bytes.len();
    let op = cpu(weight, move || {
        let mut body = parse_json(&bytes)?;
        // The caps count what the client sent, before normalisation rewrites it.
        caps::check_patch_body(kind, &body)?;
        normalize::patch(kind, &mut body);
        patch::parse(&body)
    })
    .await?;
    let change: Change = Arc::new(move |r| patch::apply(kind, r, &op.operations));
    let row = modify(&state, &shared, kind, &id, &headers, weight, change).await?;
    show(&state, kind, &row, StatusCode::OK, &sel).await
}

pub async fn patch_user(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    patch_one(s, shared, Kind::User, id, headers, q, body).await
}

pub async fn patch_group(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    patch_one(s, shared, Kind::Group, id, headers, q, body).await
}

/// DELETE deactivates a user, as LINE WORKS does; a later GET shows `active: false`.
pub async fn delete_user(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let change: Change = Arc::new(|r| {
        r.insert("active".into(), Value::Bool(false));
        Ok(())
    });
    modify(&s, &shared, Kind::User, &id, &headers, 0, change).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a group in its turn. With `If-Match`, the version checked is the version deleted:
/// the store deletes only if it is still current.
pub async fn delete_group(
    State(s): State<AppState>,
    Extension(shared): Extension<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let _turn = shared.turn(Kind::Group, &id).await;
    let row = load(&s, Kind::Group, &id).await?;
    check_if_match(&headers, row.version)?;
    let expected = headers.contains_key(header::IF_MATCH).then_some(row.version);
    match s.store.scim_delete_group(&id, expected, s.clock.now()).await? {
        GroupDelete::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        GroupDelete::Missing => Err(ScimError::not_found(format!("no Group has id {id}"))),
        // Changed by another instance between the read and the delete.
        GroupDelete::Changed(version) => check_if_match(&headers, version).and(Err(busy())),
    }
}
