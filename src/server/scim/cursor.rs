//! RFC 9865 cursors: opaque, signed keyset positions.
//!
//! A cursor is `base64url(payload) "." base64url(tag)`: the payload (JSON) names the resource
//! type, a fingerprint of the query (filter, sortBy, sortOrder), the last row's sort key,
//! `created_at` and id, and when it was issued; the tag is HMAC-SHA-256 over the payload with
//! a key every instance on the database shares (`scim_cursor_keys`). So a cursor is good on
//! any instance, an altered or made-up one is refused (`invalidCursor`) before anything in it
//! reaches SQL, and one used with a different query, or after [`CURSOR_TIMEOUT`], is refused
//! too. The server keeps nothing per cursor: issuing one costs no memory or rows.

use super::error::{ScimError, ScimResult, ScimType};
use super::schema::Kind;
use crate::store::Store;
use crate::store::predicate::{After, KeyValue, Sort, key_fits};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use scim_v2::filter::Filter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

/// How long a cursor stays good after it was issued (`cursorTimeout`). Cursors hold nothing on
/// the server, so this only bounds how stale a position may be; an import of 100,000 users at
/// 100 a page asks for each next page within seconds.
pub const CURSOR_TIMEOUT_SECONDS: i64 = 3600;
/// A clock this far ahead on another instance still issues cursors accepted here.
const SKEW_MS: i64 = 5 * 60 * 1000;
/// Longest cursor accepted (a sort key is at most a capped attribute value).
pub const MAX_CURSOR_CHARS: usize = 16 * 1024;
/// Bytes of the HMAC tag kept.
const TAG_BYTES: usize = 16;
const VERSION: u8 = 1;

/// The shared signing key, read from the database once per process.
#[derive(Default)]
pub struct CursorKey {
    key: OnceCell<Vec<u8>>,
}

impl CursorKey {
    async fn get(&self, store: &Store, now: OffsetDateTime) -> ScimResult<&[u8]> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let candidate: [u8; 32] = rand::random();
                store.scim_cursor_key(&candidate, now).await
            })
            .await?;
        Ok(key)
    }
}

/// The query a cursor belongs to. RFC 9865 §2: every later page repeats the first page's
/// parameters; `attributes` and `count` may differ without harm, the rest may not.
pub struct Query<'a> {
    pub kind: Kind,
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a str>,
    pub descending: bool,
}

impl Query<'_> {
    fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.kind.name().as_bytes());
        h.update([0]);
        if let Some(f) = self.filter {
            h.update(f.to_string().as_bytes());
        }
        h.update([0]);
        if let Some(s) = self.sort_by {
            h.update(s.to_ascii_lowercase().as_bytes());
        }
        h.update([0, u8::from(self.descending)]);
        hex(&h.finalize()[..12])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    /// Fingerprint of the query.
    q: String,
    /// The sort key of the last row sent.
    k: Value,
    /// Its created_at (ms) and id.
    c: i64,
    i: String,
    /// Issued at (ms).
    t: i64,
}

fn tag(key: &[u8], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(payload.as_bytes());
    mac
}

fn key_json(k: &KeyValue) -> Value {
    match k {
        KeyValue::Null => Value::Null,
        KeyValue::Bool(b) => Value::Bool(*b),
        KeyValue::Int(i) => Value::from(*i),
        KeyValue::Real(f) => Value::from(*f),
        KeyValue::Text(s) => Value::String(s.clone()),
    }
}

fn key_value(v: &Value) -> Option<KeyValue> {
    Some(match v {
        Value::Null => KeyValue::Null,
        Value::Bool(b) => KeyValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => KeyValue::Int(i),
            None => KeyValue::Real(n.as_f64()?),
        },
        Value::String(s) => KeyValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

fn invalid(detail: &str) -> ScimError {
    ScimError::bad(
        ScimType::InvalidCursor,
        format!(
            "{detail}. Send an empty cursor for the first page, then each response's nextCursor \
             with the same filter, sortBy and sortOrder"
        ),
    )
}

/// Issues the cursor for the page after `after`.
pub async fn issue(
    keys: &CursorKey,
    store: &Store,
    query: &Query<'_>,
    after: &After,
    now: OffsetDateTime,
) -> ScimResult<String> {
    let key = keys.get(store, now).await?;
    let payload = Payload {
        v: VERSION,
        q: query.fingerprint(),
        k: key_json(&after.key),
        c: after.created_at,
        i: after.id.clone(),
        t: crate::clock::to_millis(now),
    };
    let text = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).map_err(|_| ScimError::internal())?);
    let mac = tag(key, &text).finalize().into_bytes();
    Ok(format!("{text}.{}", URL_SAFE_NO_PAD.encode(&mac[..TAG_BYTES])))
}

/// Reads a cursor sent with `query`: where its page starts, or the RFC 9865 error.
pub async fn read(
    keys: &CursorKey,
    store: &Store,
    query: &Query<'_>,
    sort: Option<&Sort>,
    cursor: &str,
    now: OffsetDateTime,
) -> ScimResult<After> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid("the cursor is longer than any this server issues"));
    }
    let (text, sent_tag) = cursor
        .split_once('.')
        .ok_or_else(|| invalid("the cursor is not one this server issued"))?;
    let sent_tag = URL_SAFE_NO_PAD
        .decode(sent_tag)
        .map_err(|_| invalid("the cursor is not one this server issued"))?;
    let key = keys.get(store, now).await?;
    tag(key, text)
        .verify_truncated_left(&sent_tag)
        .ok()
        .filter(|_| sent_tag.len() == TAG_BYTES)
        .ok_or_else(|| invalid("the cursor was not issued by this server or has been altered"))?;
    let payload: Payload = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|p: &Payload| p.v == VERSION)
        .ok_or_else(|| invalid("the cursor is not one this server issued"))?;
    if payload.q != query.fingerprint() {
        return Err(invalid(
            "the cursor belongs to a different query (resource type, filter, sortBy or sortOrder)",
        ));
    }
    let now_ms = crate::clock::to_millis(now);
    if payload.t > now_ms + SKEW_MS {
        return Err(invalid("the cursor was issued in the future"));
    }
    if now_ms - payload.t > CURSOR_TIMEOUT_SECONDS * 1000 {
        return Err(ScimError::bad(
            ScimType::ExpiredCursor,
            format!(
                "the cursor has expired: ask for the next page within cursorTimeout \
                 ({CURSOR_TIMEOUT_SECONDS} s) of the previous one, or start again with an empty cursor"
            ),
        ));
    }
    let key = key_value(&payload.k)
        .filter(|k| key_fits(sort, k))
        .ok_or_else(|| invalid("the cursor does not fit this query's sort order"))?;
    Ok(After {
        key,
        created_at: payload.c,
        id: payload.i,
    })
}
