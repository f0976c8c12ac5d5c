//! Property tests against a real server on 127.0.0.1 (issue 7, "Also"):
//!
//! - random filters over random users: what `GET /Users?filter=` returns (the SQL translation)
//!   is exactly what an in-memory evaluator of the same filter selects;
//! - random PATCH sequences: never a panic or a 5xx, a refused PATCH changes nothing, and the
//!   stored result always validates.
//!
//! Bounded (a few dozen cases each) so they run inside `cargo test`. The evaluator encodes the
//! documented semantics: `caseExact=false` attributes compare ignoring ASCII case; a comparison
//! with a missing single-valued attribute is false (whatever the operator); `emails op "x"`
//! compares each element's value, and `emails ne "x"` means no element equals x.

mod common;

use common::{PATCH_OP, ScimEnv as Env, USER};
use devconsole::server::scim::caps;
use devconsole::server::scim::resource;
use devconsole::server::scim::schema::Kind;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

async fn env() -> Env {
    common::scim_env_with(common::app().configure(|c| c.scim_per_minute = 1_000_000)).await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---- random users -------------------------------------------------------------------------

/// Short strings over an alphabet with case pairs and LIKE wildcards, so comparisons collide.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'b', 'A', 'B', '%', '_', '.', '1']),
        0..4,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn email_type() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["work", "home", "other"]).prop_map(str::to_owned)
}

#[derive(Debug, Clone)]
struct UserSpec {
    local: String,
    title: Option<String>,
    nick: Option<String>,
    external: Option<String>,
    active: bool,
    given: Option<String>,
    emails: Vec<(String, Option<String>)>,
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    (
        proptest::collection::vec(prop::sample::select(vec!['a', 'b', 'A', 'B', '1', '.']), 0..3),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text().prop_filter("externalId is never empty", |s| !s.is_empty())),
        any::<bool>(),
        proptest::option::of(text()),
        proptest::collection::vec((text(), proptest::option::of(email_type())), 0..3),
    )
        .prop_map(|(local, title, nick, external, active, given, emails)| UserSpec {
            local: local.into_iter().collect(),
            title,
            nick,
            external,
            active,
            given,
            emails,
        })
}

fn user_body(i: usize, u: &UserSpec) -> Value {
    let mut b = json!({
        "schemas": [USER],
        "userName": format!("u{}z{i}@ex.com", u.local),
        "active": u.active,
    });
    if let Some(t) = &u.title {
        b["title"] = json!(t);
    }
    if let Some(n) = &u.nick {
        b["nickName"] = json!(n);
    }
    if let Some(e) = &u.external {
        b["externalId"] = json!(e);
    }
    if let Some(g) = &u.given {
        b["name"] = json!({"givenName": g});
    }
    if !u.emails.is_empty() {
        b["emails"] = u
            .emails
            .iter()
            .map(|(v, t)| match t {
                Some(t) => json!({"value": v, "type": t}),
                None => json!({"value": v}),
            })
            .collect();
    }
    b
}

// ---- random filters -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
}

/// Attributes a filter can name, with where they live and their caseExact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    UserName,
    Title,
    NickName,
    ExternalId,
    GivenName,
    Emails,
    EmailsValue,
    EmailsType,
}

impl Attr {
    fn path(self) -> &'static str {
        match self {
            Attr::UserName => "userName",
            Attr::Title => "title",
            Attr::NickName => "nickName",
            Attr::ExternalId => "externalId",
            Attr::GivenName => "name.givenName",
            Attr::Emails => "emails",
            Attr::EmailsValue => "emails.value",
            Attr::EmailsType => "emails.type",
        }
    }
    fn case_exact(self) -> bool {
        self == Attr::ExternalId
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Value,
    Type,
}

#[derive(Debug, Clone)]
enum VF {
    Cmp(Sub, Op, String),
    Pr(Sub),
    Not(Box<VF>),
    And(Box<VF>, Box<VF>),
    Or(Box<VF>, Box<VF>),
}

#[derive(Debug, Clone)]
enum F {
    Cmp(Attr, Op, String),
    Pr(Attr),
    Active(bool),
    Not(Box<F>),
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
    Emails(VF),
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![
        Op::Eq,
        Op::Ne,
        Op::Co,
        Op::Sw,
        Op::Ew,
        Op::Gt,
        Op::Ge,
        Op::Lt,
        Op::Le,
    ])
}

fn attr() -> impl Strategy<Value = Attr> {
    prop::sample::select(vec![
        Attr::UserName,
        Attr::Title,
        Attr::NickName,
        Attr::ExternalId,
        Attr::GivenName,
        Attr::Emails,
        Attr::EmailsValue,
        Attr::EmailsType,
    ])
}

fn operand(a: Attr) -> BoxedStrategy<String> {
    match a {
        Attr::EmailsType => prop_oneof![email_type(), text()].boxed(),
        Attr::UserName => prop_oneof![
            text(),
            (0..6usize, text()).prop_map(|(i, s)| format!("U{i}{s}")),
            Just("@EX.com".to_owned()),
        ]
        .boxed(),
        _ => text().boxed(),
    }
}

fn val_filter() -> impl Strategy<Value = VF> {
    let sub = prop::sample::select(vec![Sub::Value, Sub::Type]);
    let leaf = prop_oneof![
        (sub.clone(), op(), prop_oneof![text(), email_type()]).prop_map(|(s, o, v)| VF::Cmp(s, o, v)),
        sub.prop_map(VF::Pr),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| VF::Not(Box::new(f))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| VF::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| VF::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn filter() -> impl Strategy<Value = F> {
    let leaf = prop_oneof![
        4 => attr().prop_flat_map(|a| (Just(a), op(), operand(a))).prop_map(|(a, o, v)| F::Cmp(a, o, v)),
        1 => attr().prop_map(F::Pr),
        1 => any::<bool>().prop_map(F::Active),
        1 => val_filter().prop_map(F::Emails),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| F::Not(Box::new(f))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| F::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| F::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn sub_name(s: Sub) -> &'static str {
    match s {
        Sub::Value => "value",
        Sub::Type => "type",
    }
}

fn render_vf(f: &VF) -> String {
    match f {
        VF::Cmp(s, o, v) => format!("{} {} {}", sub_name(*s), o.name(), quoted(v)),
        VF::Pr(s) => format!("{} pr", sub_name(*s)),
        VF::Not(i) => format!("not ({})", render_vf(i)),
        VF::And(a, b) => format!("({} and {})", render_vf(a), render_vf(b)),
        VF::Or(a, b) => format!("({} or {})", render_vf(a), render_vf(b)),
    }
}

fn render(f: &F) -> String {
    match f {
        F::Cmp(a, o, v) => format!("{} {} {}", a.path(), o.name(), quoted(v)),
        F::Pr(a) => format!("{} pr", a.path()),
        F::Active(b) => format!("active eq {b}"),
        F::Not(i) => format!("not ({})", render(i)),
        F::And(a, b) => format!("({} and {})", render(a), render(b)),
        F::Or(a, b) => format!("({} or {})", render(a), render(b)),
        F::Emails(vf) => format!("emails[{}]", render_vf(vf)),
    }
}

// ---- the in-memory evaluator --------------------------------------------------------------

fn compare(op: Op, actual: &str, v: &str, case_exact: bool) -> bool {
    let (a, b) = if case_exact {
        (actual.to_owned(), v.to_owned())
    } else {
        (actual.to_ascii_lowercase(), v.to_ascii_lowercase())
    };
    let ord = a.as_bytes().cmp(b.as_bytes());
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Co => a.contains(&b),
        Op::Sw => a.starts_with(&b),
        Op::Ew => a.ends_with(&b),
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
    }
}

fn single(u: &Value, a: Attr) -> Option<&str> {
    match a {
        Attr::UserName => u["userName"].as_str(),
        Attr::Title => u["title"].as_str(),
        Attr::NickName => u["nickName"].as_str(),
        Attr::ExternalId => u["externalId"].as_str(),
        Attr::GivenName => u["name"]["givenName"].as_str(),
        _ => None,
    }
}

fn emails(u: &Value) -> Vec<&Value> {
    u["emails"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn elem_sub(e: &Value, s: Sub) -> Option<&str> {
    e[sub_name(s)].as_str()
}

fn eval_vf(e: &Value, f: &VF) -> bool {
    match f {
        VF::Cmp(s, o, v) => elem_sub(e, *s).is_some_and(|a| compare(*o, a, v, false)),
        VF::Pr(s) => elem_sub(e, *s).is_some(),
        VF::Not(i) => !eval_vf(e, i),
        VF::And(a, b) => eval_vf(e, a) && eval_vf(e, b),
        VF::Or(a, b) => eval_vf(e, a) || eval_vf(e, b),
    }
}

fn eval(u: &Value, f: &F) -> bool {
    match f {
        F::Cmp(a @ (Attr::Emails | Attr::EmailsValue | Attr::EmailsType), o, v) => {
            let sub = if *a == Attr::EmailsType {
                Sub::Type
            } else {
                Sub::Value
            };
            let elems = emails(u);
            let hit = |op| {
                elems
                    .iter()
                    .any(|e| elem_sub(e, sub).is_some_and(|x| compare(op, x, v, false)))
            };
            if *o == Op::Ne { !hit(Op::Eq) } else { hit(*o) }
        }
        F::Cmp(a, o, v) => single(u, *a).is_some_and(|x| compare(*o, x, v, a.case_exact())),
        F::Pr(Attr::Emails | Attr::EmailsValue) => {
            emails(u).iter().any(|e| elem_sub(e, Sub::Value).is_some())
        }
        F::Pr(Attr::EmailsType) => emails(u).iter().any(|e| elem_sub(e, Sub::Type).is_some()),
        F::Pr(a) => single(u, *a).is_some(),
        F::Active(b) => u["active"].as_bool() == Some(*b),
        F::Not(i) => !eval(u, i),
        F::And(a, b) => eval(u, a) && eval(u, b),
        F::Or(a, b) => eval(u, a) || eval(u, b),
        F::Emails(vf) => emails(u).iter().any(|e| eval_vf(e, vf)),
    }
}

#[test]
fn the_sql_translation_selects_exactly_what_the_filter_means() {
    let rt = runtime();
    let mut outer = TestRunner::new(Config {
        cases: 3,
        failure_persistence: None,
        ..Config::default()
    });
    outer
        .run(&proptest::collection::vec(user_spec(), 4..14), |specs| {
            let env = rt.block_on(env());
            let users: Vec<Value> = rt.block_on(async {
                let mut out = Vec::new();
                for (i, s) in specs.iter().enumerate() {
                    let a = env.post("/Users", user_body(i, s)).await;
                    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
                    out.push(a.body);
                }
                out
            });
            let mut inner = TestRunner::new(Config {
                cases: 48,
                failure_persistence: None,
                ..Config::default()
            });
            let checked = inner.run(&filter(), |f| {
                let text = render(&f);
                let a = rt.block_on(
                    env.send(
                        env.req(reqwest::Method::GET, "/Users")
                            .query(&[("filter", text.as_str())]),
                    ),
                );
                prop_assert_eq!(a.status, StatusCode::OK, "{}: {}", text, a.body);
                let mut got: Vec<String> = a.body["Resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["userName"].as_str().unwrap().to_owned())
                    .collect();
                let mut want: Vec<String> = users
                    .iter()
                    .filter(|u| eval(u, &f))
                    .map(|u| u["userName"].as_str().unwrap().to_owned())
                    .collect();
                got.sort();
                want.sort();
                prop_assert_eq!(got, want, "filter {}", text);
                Ok(())
            });
            rt.block_on(async { drop(env) });
            checked.map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .unwrap();
}

// ---- random PATCH sequences ---------------------------------------------------------------

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::from),
        text().prop_map(Value::String),
        email_type().prop_map(Value::String),
        Just(json!("True")),
        Just(json!("x@example.com")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop::sample::select(vec!["value", "type", "primary", "givenName", "display", "Bogus"]),
                    inner
                ),
                0..3
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn patch_path() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.9,
        prop::sample::select(vec![
            "emails",
            "emails.value",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[value co \"a\"].primary",
            "emails[not (type eq \"home\")]",
            "phoneNumbers",
            "phoneNumbers[type eq \"mobile\"].value",
            "name",
            "name.givenName",
            "name.familyName",
            "title",
            "nickName",
            "displayName",
            "active",
            "userName",
            "externalId",
            "preferredLanguage",
            "addresses[type eq \"work\"].locality",
            "urn:ietf:params:scim:schemas:extension:works:2.0:User",
            "urn:ietf:params:scim:schemas:extension:works:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "id",
            "meta.created",
            "groups",
            "nosuch",
            "emails[",
            "emails[type zz \"x\"]",
        ])
        .prop_map(str::to_owned),
    )
}

fn operation() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["add", "replace", "remove", "Add", "REPLACE", "bogus"]),
        patch_path(),
        proptest::option::of(any_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = Map::new();
            o.insert("op".into(), json!(op));
            if let Some(p) = path {
                o.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                o.insert("value".into(), v);
            }
            Value::Object(o)
        })
}

/// The stored form of a rendered user: what a client could send back.
fn as_input(u: &Value) -> Value {
    let mut u = u.clone();
    let o = u.as_object_mut().unwrap();
    for k in ["id", "meta", "groups"] {
        o.remove(k);
    }
    u
}

#[test]
fn random_patch_sequences_never_fail_the_server_and_always_leave_a_valid_user() {
    let rt = runtime();
    let env = rt.block_on(env());
    let id = rt.block_on(async {
        let a = env
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": "prop@example.com",
                       "emails": [{"value": "prop@example.com", "type": "work", "primary": true}]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["id"].as_str().unwrap().to_owned()
    });
    let path = format!("/Users/{id}");
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &proptest::collection::vec(proptest::collection::vec(operation(), 1..4), 1..5),
            |patches| {
                for ops in patches {
                    let before = rt.block_on(env.get(&path));
                    let body = json!({"schemas": [PATCH_OP], "Operations": ops});
                    let a = rt.block_on(env.send(env.req(reqwest::Method::PATCH, &path).json(&body)));
                    prop_assert!(
                        a.status == StatusCode::OK || a.status.is_client_error(),
                        "{} for {}: {}",
                        a.status,
                        body,
                        a.body
                    );
                    let after = rt.block_on(env.get(&path));
                    prop_assert_eq!(after.status, StatusCode::OK);
                    if a.status != StatusCode::OK {
                        prop_assert_eq!(
                            &after.body,
                            &before.body,
                            "a refused PATCH changed the user: {}",
                            body
                        );
                        prop_assert_eq!(a.body["schemas"][0].as_str(), Some(common::ERROR));
                    }
                    let input = as_input(&after.body);
                    let normalized = resource::normalize(Kind::User, &input);
                    prop_assert!(
                        normalized.is_ok(),
                        "stored user does not validate: {} ({:?})",
                        after.body,
                        normalized.err()
                    );
                    let normalized = normalized.unwrap();
                    prop_assert!(caps::check_values(Kind::User, &normalized).is_ok());
                    prop_assert!(
                        caps::check_size(Kind::User, Value::Object(normalized).to_string().len()).is_ok()
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}
