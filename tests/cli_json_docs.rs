//! The README documents the JSON the CLI prints (`--output json`: the console API's own wire
//! types). This checks the documented field lists against what a real server answers, so the
//! documentation cannot drift from the shapes scripts depend on.

mod common;

use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The top-level field names of "`Type` is `{a, b: …, c: [..]}`" in the README's Scriptable CLI
/// section.
fn documented(readme: &str, ty: &str) -> BTreeSet<String> {
    let section = &readme[readme.find("## Scriptable CLI").expect("the CLI section")..];
    let marker = format!("`{ty}` is");
    let at = section
        .find(&marker)
        .unwrap_or_else(|| panic!("the README does not document {ty}"));
    let rest = &section[at + marker.len()..];
    let open = rest.find('{').unwrap();
    let mut depth = 0;
    let mut fields = BTreeSet::new();
    let mut current = String::new();
    for c in rest[open..].chars() {
        match c {
            '{' | '[' | '(' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    fields.insert(current.clone());
                    break;
                }
                if depth == 1 {
                    continue;
                }
            }
            ',' if depth == 1 => {
                fields.insert(current.clone());
                current.clear();
                continue;
            }
            _ => {}
        }
        if depth == 1 {
            current.push(c);
        }
    }
    fields
        .into_iter()
        .map(|f| {
            let f = f.replace(['`', '\n'], " ");
            f.split(':').next().unwrap().trim().to_owned()
        })
        .filter(|f| !f.is_empty())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_readme_documents_every_field_the_cli_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let env = common::scim_env().await;
    env.create_user(json!({"userName": "ada@example.com"})).await;
    let c = &env.console;
    let app = serde_json::to_value(c.get_app(env.app).await.unwrap()).unwrap();
    let token = serde_json::to_value(c.token(env.app).await.unwrap()).unwrap();
    let audit = serde_json::to_value(&c.audit_page(None, 1, None).await.unwrap().events[0]).unwrap();
    let activity = serde_json::to_value(
        &c.activity_page(None, &Default::default(), 1, None)
            .await
            .unwrap()
            .events[0],
    )
    .unwrap();
    for (ty, value) in [
        ("ClientApp", &app),
        ("DedicatedToken", &token),
        ("AuditEvent", &audit),
        ("ActivityEvent", &activity),
    ] {
        assert_eq!(documented(&readme, ty), keys(value), "{ty}: {value}");
    }
    env.server.shutdown().await.unwrap();
}
