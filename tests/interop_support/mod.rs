//! What the interop tests share: a real `devconsole` server on 127.0.0.1 over a temporary
//! SQLite file, an app with SCIM on and a Dedicated Token made through the console API, and a
//! client that speaks raw HTTP the way a provider does (its own headers, its own bodies).
#![allow(dead_code)]

use devconsole::client::ConsoleClient;
use devconsole::server::{self, RunningServer, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::path::PathBuf;
use time::OffsetDateTime;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const WORKS: &str = "urn:ietf:params:scim:schemas:extension:works:2.0:User";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

pub struct Env {
    _dir: tempfile::TempDir,
    pub server: RunningServer,
    token: SecretString,
    http: reqwest::Client,
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
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("interop.db").display());
    let password = SecretString::from("correct horse battery staple");
    let store = Store::open(&db_url).await.unwrap();
    store
        .create_admin(
            "dev",
            Role::Developer,
            Some(&server::hash_password(&password).unwrap()),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    store.close().await;
    let server = server::start(ServerConfig::new(db_url, "127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let mut console = ConsoleClient::new(&server.base_url()).unwrap();
    console.login("dev", password).await.unwrap();
    let app = console
        .create_app("Directory sync", "interop tests")
        .await
        .unwrap()
        .app
        .id;
    console.enable_scim(app, true).await.unwrap();
    let token = console.issue_token(app).await.unwrap().token;
    let scim = format!("{}/scim/v2", server.base_url());
    Env {
        _dir: dir,
        server,
        token,
        http: reqwest::Client::new(),
        scim,
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
