//! What the interop tests share: the shared harness's real server on 127.0.0.1 over a fresh
//! database, an app with SCIM on and a Dedicated Token made through the console API, and a
//! client that speaks raw HTTP the way a provider does (its own headers, its own bodies), plus
//! the recorded provider exchanges under `tests/fixtures/interop/` and their replayer.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::path::PathBuf;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const WORKS: &str = "urn:ietf:params:scim:schemas:extension:works:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The shared harness's SCIM environment (tests/common: a fresh database of the selected
/// backend), seen as a provider sees it.
pub struct Env {
    pub server: common::TestApp,
    pub(crate) token: SecretString,
    pub(crate) http: reqwest::Client,
    /// The SCIM base URL, as a provider is configured with it (`…/scim/v2`).
    pub scim: String,
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn env() -> Env {
    let e = common::scim_env().await;
    Env {
        server: e.server,
        token: e.token,
        http: e.http,
        scim: e.scim,
    }
}

impl Env {
    /// Sends `body` (if any) as the provider would: raw JSON with the given content type.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, content_type: &str) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(self.token.expose_secret());
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(b.to_string());
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None, "").await
    }

    pub async fn send(&self, method: Method, path: &str, body: &Value) -> Answer {
        self.call(method, path, Some(body), "application/scim+json").await
    }

    /// GET with the query parameters URL-encoded, as providers send filters.
    pub async fn query(&self, path: &str, params: &[(&str, &str)]) -> Answer {
        let qs = serde_urlencoded::to_string(params).unwrap();
        self.get(&format!("{path}?{qs}")).await
    }
}

/// Reads a recorded fixture under `tests/fixtures/interop/`.
pub fn fixture(path: &str) -> Value {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/interop")
        .join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Asserts that every member of `expected` is in `actual` with the same value, recursively
/// (arrays element by element). The providers' documents show the members a response must
/// carry; extra members (`meta.location`, `meta.version`) are allowed.
#[track_caller]
pub fn assert_contains(actual: &Value, expected: &Value) {
    fn walk(actual: &Value, expected: &Value, at: &str) -> Result<(), String> {
        match (actual, expected) {
            (Value::Object(a), Value::Object(e)) => {
                for (k, ev) in e {
                    let av = a.get(k).ok_or_else(|| format!("{at}.{k} is missing"))?;
                    walk(av, ev, &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            (Value::Array(a), Value::Array(e)) => {
                if a.len() != e.len() {
                    return Err(format!("{at} has {} elements, expected {}", a.len(), e.len()));
                }
                for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                    walk(av, ev, &format!("{at}[{i}]"))?;
                }
                Ok(())
            }
            (a, e) if a == e => Ok(()),
            (a, e) => Err(format!("{at} is {a}, expected {e}")),
        }
    }
    if let Err(e) = walk(actual, expected, "$") {
        panic!("{e}\nactual: {actual:#}\nexpected (subset): {expected:#}");
    }
}

/// Asserts a SCIM error of the given status (and scimType, if any).
#[track_caller]
pub fn assert_error(a: &Answer, status: StatusCode, scim_type: Option<&str>) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["schemas"], serde_json::json!([ERROR]), "{}", a.body);
    assert_eq!(a.body["scimType"].as_str(), scim_type, "{}", a.body);
}

/// One recorded request/response pair from a provider's documentation
/// (`tests/fixtures/interop/<provider>/<name>.json`; its `source` names the document and
/// section, its `notes` every change made to it and every deliberate difference).
#[derive(Debug, Clone)]
pub struct Exchange {
    pub name: String,
    pub source: String,
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub status: StatusCode,
    pub response: Option<Value>,
}

impl Exchange {
    pub fn load(provider: &str, name: &str) -> Exchange {
        let f = fixture(&format!("{provider}/{name}.json"));
        assert!(
            f["source"].as_str().is_some_and(|s| s.starts_with("https://")),
            "{name}: no source"
        );
        let req = &f["request"];
        Exchange {
            name: name.to_owned(),
            source: f["source"].as_str().unwrap().to_owned(),
            method: req["method"].as_str().unwrap().parse().unwrap(),
            path: req["path"].as_str().unwrap().to_owned(),
            body: req.get("body").cloned(),
            status: StatusCode::from_u16(f["response"]["status"].as_u64().unwrap() as u16).unwrap(),
            response: f["response"].get("body").cloned(),
        }
    }

    /// The documented response body, minus the members only the document's server could
    /// know (its clock), at JSON pointers.
    pub fn expected(&self, drop: &[&str]) -> Value {
        let mut v = self.response.clone().unwrap_or(Value::Null);
        for p in drop {
            remove_pointer(&mut v, p);
        }
        v
    }
}

/// Removes the member at a JSON pointer, if there.
pub fn remove_pointer(v: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(o)) = v.pointer_mut(parent) {
        o.remove(last);
    }
}

/// Replays recorded exchanges against the server the way one provider sends them, mapping
/// the ids in the documents to the ids this server assigned.
pub struct Replay<'a> {
    pub env: &'a Env,
    user_agent: &'static str,
    ids: Vec<(String, String)>,
}

impl<'a> Replay<'a> {
    pub fn new(env: &'a Env, user_agent: &'static str) -> Self {
        Replay {
            env,
            user_agent,
            ids: Vec::new(),
        }
    }

    /// From now on, `doc_id` in a recorded path, body or response means `ours`.
    pub fn bind(&mut self, doc_id: &str, ours: &str) {
        self.ids.push((doc_id.to_owned(), ours.to_owned()));
    }

    pub fn map(&self, text: &str) -> String {
        self.ids
            .iter()
            .fold(text.to_owned(), |t, (doc, ours)| t.replace(doc, ours))
    }

    pub fn map_value(&self, v: &Value) -> Value {
        serde_json::from_str(&self.map(&v.to_string())).unwrap()
    }

    /// Sends the exchange's request (ids mapped; a path's filter URL-encoded as providers do)
    /// and asserts the documented status.
    pub async fn send(&self, x: &Exchange) -> Answer {
        self.send_expecting(x, x.status).await
    }

    /// As [`send`](Self::send), where devconsole deliberately answers another status (the
    /// caller says why).
    pub async fn send_expecting(&self, x: &Exchange, status: StatusCode) -> Answer {
        let path = self.map(&x.path);
        let path = match path.split_once('?') {
            Some((p, q)) => {
                let pairs: Vec<(String, String)> = q
                    .split('&')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        let decode = |s: &str| {
                            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("x={s}"))
                                .unwrap()
                                .remove(0)
                                .1
                        };
                        (decode(k), decode(v))
                    })
                    .collect();
                format!("{p}?{}", serde_urlencoded::to_string(&pairs).unwrap())
            }
            None => path,
        };
        let mut req = self
            .env
            .http
            .request(x.method.clone(), format!("{}{path}", self.env.scim))
            .bearer_auth(self.env.token.expose_secret())
            .header(reqwest::header::USER_AGENT, self.user_agent);
        if let Some(b) = &x.body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(self.map_value(b).to_string());
        }
        let r = req.send().await.unwrap();
        let status_got = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", x.name))
        };
        assert_eq!(
            status_got, status,
            "{} ({}): {} {path} answered {body:#}",
            x.name, x.source, x.method
        );
        if !text.is_empty() {
            assert_eq!(
                headers[reqwest::header::CONTENT_TYPE],
                "application/scim+json",
                "{}",
                x.name
            );
        }
        Answer {
            status: status_got,
            headers,
            body,
        }
    }

    /// Asserts the answer carries every member the document shows (ids mapped).
    #[track_caller]
    pub fn assert_shape(&self, answer: &Answer, expected: &Value) {
        assert_contains(&answer.body, &self.map_value(expected));
    }
}
