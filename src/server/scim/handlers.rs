//! SCIM endpoints: discovery, Users, Groups, and searches.

use super::error::{SCIM_JSON, ScimError, ScimResult};
use super::resource::{self, Selection};
use super::schema::{self, Kind};
use super::{enterprise, filter, normalize, patch};
use crate::server::AppState;
use crate::store::{ScimQuery, ScimRow, ScimTable, ScimWrite};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_v2::filter::Filter;
use scim_v2::models::others::{SortOrder, TolerantSearchRequest};
use serde_json::{Map, Value, json};

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

fn json_body(body: Result<Bytes, BytesRejection>) -> ScimResult<Value> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ScimError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over the {} byte limit", super::BODY_LIMIT),
            )
        } else {
            ScimError::invalid_syntax(format!("could not read the request body: {e}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))
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
}

fn parse_filter(raw: &str) -> ScimResult<Filter> {
    raw.parse::<Filter>()
        .map_err(|e| ScimError::invalid_filter(format!("the filter does not parse: {e}")))
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
        let (start_index, count) = effective(int("startIndex")?, int("count")?);
        Ok(ListParams {
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
        let (start_index, count) = effective(req.start_index, req.count);
        let filter = match req.filter {
            None => None,
            Some(scim_v2::filter::MaybeFilter::Valid(f)) => Some(f),
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

async fn list(state: &AppState, kind: Kind, p: &ListParams) -> ScimResult<Response> {
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

pub async fn list_users(State(state): State<AppState>, RawQuery(q): RawQuery) -> ScimResult<Response> {
    list(&state, Kind::User, &ListParams::from_query(q.as_deref())?).await
}

pub async fn list_groups(State(state): State<AppState>, RawQuery(q): RawQuery) -> ScimResult<Response> {
    list(&state, Kind::Group, &ListParams::from_query(q.as_deref())?).await
}

pub async fn search_users(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    list(&state, Kind::User, &ListParams::from_search(body)?).await
}

pub async fn search_groups(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    list(&state, Kind::Group, &ListParams::from_search(body)?).await
}

/// `POST /.search`: users then groups. An attribute only one type has matches nothing in the
/// other; a filter neither type understands is an error.
pub async fn search_all(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let p = ListParams::from_search(body)?;
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

/// Checks members exist, and fills in their `type` and `$ref`.
async fn resolve_members(
    state: &AppState,
    own_id: &str,
    r: &mut Map<String, Value>,
) -> ScimResult<Vec<String>> {
    let Some(Value::Array(members)) = r.get_mut("members") else {
        return Ok(Vec::new());
    };
    let mut ids: Vec<String> = Vec::new();
    for m in members.iter() {
        let id = m
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if id == own_id {
            return Err(ScimError::invalid_value("a group cannot be a member of itself"));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let targets = state.store.scim_member_targets(&ids).await?;
    let mut seen = Vec::new();
    members.retain(|m| {
        let id = m
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let first = !seen.contains(&id);
        seen.push(id);
        first
    });
    for m in members.iter_mut() {
        let id = m["value"].as_str().unwrap_or_default().to_owned();
        let t = targets
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ScimError::invalid_value(format!("member {id} is neither a User nor a Group")))?;
        let actual = if t.is_group { Kind::Group } else { Kind::User };
        let obj = m.as_object_mut().ok_or_else(ScimError::internal)?;
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
        obj.insert(
            "$ref".into(),
            resource::location(&state.base_url, actual, &id).into(),
        );
    }
    Ok(ids)
}

/// Validated resource → the row to write.
async fn prepare(
    state: &AppState,
    kind: Kind,
    id: &str,
    mut r: Map<String, Value>,
) -> ScimResult<(String, Option<String>, bool, String, Vec<String>)> {
    let members = if kind == Kind::Group {
        resolve_members(state, id, &mut r).await?
    } else {
        enterprise::check(id, &r)?;
        Vec::new()
    };
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
    Ok((unique, external_id, active, Value::Object(r).to_string(), members))
}

async fn create(state: AppState, kind: Kind, body: Result<Bytes, BytesRejection>) -> ScimResult<Response> {
    let mut body = json_body(body)?;
    normalize::resource(kind, &mut body);
    let mut r = resource::normalize(kind, &body)?;
    if kind == Kind::User && !r.contains_key("active") {
        r.insert("active".into(), Value::Bool(true));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let (unique, external_id, active, text, members) = prepare(&state, kind, &id, r).await?;
    let row = state
        .store
        .scim_insert(
            table(kind),
            &ScimWrite {
                id: &id,
                unique: &unique,
                external_id: external_id.as_deref(),
                active,
                resource: &text,
                members: &members,
            },
            state.clock.now(),
        )
        .await?;
    show(&state, kind, &row, StatusCode::CREATED, &Selection::default()).await
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

/// Read, change in memory, validate, write once if nobody wrote in between (else retry).
async fn modify(
    state: &AppState,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    change: impl Fn(&mut Map<String, Value>) -> ScimResult<()>,
) -> ScimResult<ScimRow> {
    for _ in 0..5 {
        let row = load(state, kind, id).await?;
        check_if_match(headers, row.version)?;
        let mut r: Map<String, Value> = serde_json::from_str(&row.resource).map_err(|e| {
            tracing::error!(%id, error = %e, "corrupt SCIM resource");
            ScimError::internal()
        })?;
        change(&mut r)?;
        let r = resource::normalize(kind, &Value::Object(r))?;
        let (unique, external_id, active, text, members) = prepare(state, kind, id, r).await?;
        let written = state
            .store
            .scim_replace(
                table(kind),
                &ScimWrite {
                    id,
                    unique: &unique,
                    external_id: external_id.as_deref(),
                    active,
                    resource: &text,
                    members: &members,
                },
                row.version,
                state.clock.now(),
            )
            .await?;
        if let Some(row) = written {
            return Ok(row);
        }
    }
    Err(ScimError::new(
        StatusCode::CONFLICT,
        "the resource is being changed concurrently; retry",
    ))
}

async fn replace(
    state: AppState,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let mut body = json_body(body)?;
    normalize::resource(kind, &mut body);
    let new = resource::normalize(kind, &body)?;
    let row = modify(&state, kind, &id, &headers, |r| {
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
    })
    .await?;
    show(&state, kind, &row, StatusCode::OK, &Selection::default()).await
}

pub async fn replace_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    replace(s, Kind::User, id, headers, body).await
}

pub async fn replace_group(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    replace(s, Kind::Group, id, headers, body).await
}

async fn patch_one(
    state: AppState,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    q: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    let sel = selection_of(q.as_deref())?;
    let mut body = json_body(body)?;
    normalize::patch(kind, &mut body);
    let op = patch::parse(&body)?;
    let row = modify(&state, kind, &id, &headers, |r| {
        patch::apply(kind, r, &op.operations)
    })
    .await?;
    show(&state, kind, &row, StatusCode::OK, &sel).await
}

pub async fn patch_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    patch_one(s, Kind::User, id, headers, q, body).await
}

pub async fn patch_group(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ScimResult<Response> {
    patch_one(s, Kind::Group, id, headers, q, body).await
}

/// DELETE deactivates a user, as LINE WORKS does; a later GET shows `active: false`.
pub async fn delete_user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    modify(&s, Kind::User, &id, &headers, |r| {
        r.insert("active".into(), Value::Bool(false));
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete_group(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ScimResult<Response> {
    let row = load(&s, Kind::Group, &id).await?;
    check_if_match(&headers, row.version)?;
    if !s.store.scim_delete_group(&id, s.clock.now()).await? {
        return Err(ScimError::not_found(format!("no Group has id {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
