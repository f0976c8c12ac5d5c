//! The Enterprise User extension (RFC 7643 §4.3) end to end: discovery, storage, `schemas`,
//! filters and sorting, PATCH by URN path, attribute selection, manager references, and its
//! coexistence with the works:2.0 extension.

mod interop_support;

use interop_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create(env: &Env, body: Value) -> Value {
    let a = env.send(Method::POST, "/Users", &body).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    a.body
}

fn user(name: &str, enterprise: Value) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": format!("{name}@example.com"),
        "displayName": name,
        ENTERPRISE: enterprise,
    })
}

async fn user_names(env: &Env, params: &[(&str, &str)]) -> Vec<String> {
    let a = env.query("/Users", params).await;
    assert_eq!(a.status, StatusCode::OK, "{params:?}: {}", a.body);
    a.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn discovery_serves_the_enterprise_schema_and_resource_type_extension() {
    let env = env().await;
    let a = env.get(&format!("/Schemas/{ENTERPRISE}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["id"], ENTERPRISE);
    assert_eq!(a.body["name"], "EnterpriseUser");
    let names: Vec<&str> = a.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager"
        ]
    );
    let manager = &a.body["attributes"][5];
    assert_eq!(manager["type"], "complex");
    assert_eq!(manager["multiValued"], false);
    let subs: Vec<(&str, &str)> = manager["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), x["mutability"].as_str().unwrap()))
        .collect();
    assert_eq!(
        subs,
        [
            ("value", "readWrite"),
            ("$ref", "readOnly"),
            ("displayName", "readOnly")
        ]
    );
    assert_eq!(manager["subAttributes"][1]["referenceTypes"], json!(["User"]));

    let a = env.get("/ResourceTypes/User").await;
    assert_eq!(
        a.body["schemaExtensions"],
        json!([{"schema": ENTERPRISE, "required": false}, {"schema": WORKS, "required": false}])
    );
    let a = env.get("/Schemas").await;
    assert!(
        a.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == ENTERPRISE),
        "{}",
        a.body
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_extension_is_stored_returned_and_listed_in_schemas_only_when_present() {
    let env = env().await;
    let created = create(
        &env,
        user(
            "ann",
            json!({
                "employeeNumber": "E1", "costCenter": "CC-7", "organization": "Example Corp",
                "division": "R&D", "department": "Platform",
                "unknownAttribute": "ignored",
            }),
        ),
    )
    .await;
    assert_eq!(created["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(
        created[ENTERPRISE],
        json!({"employeeNumber": "E1", "costCenter": "CC-7", "organization": "Example Corp",
               "division": "R&D", "department": "Platform"})
    );
    let id = created["id"].as_str().unwrap();
    let a = env.get(&format!("/Users/{id}")).await;
    assert_eq!(a.body[ENTERPRISE], created[ENTERPRISE]);
    assert_eq!(a.body["schemas"], json!([USER, ENTERPRISE]));

    // Without the extension, `schemas` does not list it.
    let plain = create(&env, json!({"schemas": [USER], "userName": "bob@example.com"})).await;
    assert_eq!(plain["schemas"], json!([USER]));
    assert!(plain.get(ENTERPRISE).is_none());

    // The extension is validated like the rest: a string, at most 100 characters.
    let a = env
        .send(
            Method::POST,
            "/Users",
            &user("cat", json!({"department": "x".repeat(101)})),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    let a = env
        .send(Method::POST, "/Users", &user("cat", json!({"costCenter": 7})))
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn enterprise_attributes_filter_and_sort_like_core_attributes() {
    let env = env().await;
    create(
        &env,
        user("ann", json!({"employeeNumber": "E2", "department": "Sales"})),
    )
    .await;
    create(
        &env,
        user("bob", json!({"employeeNumber": "e1", "department": "Platform"})),
    )
    .await;
    create(&env, user("cat", json!({"employeeNumber": "E3"}))).await;
    create(&env, json!({"schemas": [USER], "userName": "dan@example.com"})).await;

    let f = |q: &str| q.replace("ENT", ENTERPRISE);
    // caseExact=false, as RFC 7643 §4.3 defines it.
    assert_eq!(
        user_names(&env, &[("filter", &f("ENT:employeeNumber eq \"E1\""))]).await,
        ["bob@example.com"]
    );
    assert_eq!(
        user_names(
            &env,
            &[("filter", &f("ENT:department pr")), ("sortBy", "userName")]
        )
        .await,
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        user_names(
            &env,
            &[("filter", &f("not (ENT:department pr)")), ("sortBy", "userName")]
        )
        .await,
        ["cat@example.com", "dan@example.com"]
    );
    assert_eq!(
        user_names(
            &env,
            &[
                ("filter", &f("ENT:employeeNumber pr")),
                ("sortBy", &f("ENT:employeeNumber"))
            ]
        )
        .await,
        ["bob@example.com", "ann@example.com", "cat@example.com"]
    );
    assert_eq!(
        user_names(
            &env,
            &[
                ("filter", &f("ENT:employeeNumber pr")),
                ("sortBy", &f("ENT:employeeNumber")),
                ("sortOrder", "descending")
            ]
        )
        .await,
        ["cat@example.com", "ann@example.com", "bob@example.com"]
    );
    // The same through POST /Users/.search.
    let a = env
        .send(
            Method::POST,
            "/Users/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": f("ENT:department eq \"sales\""),
            }),
        )
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    // An unknown enterprise attribute is an invalid filter.
    let a = env
        .query("/Users", &[("filter", &f("ENT:shoeSize eq \"9\""))])
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn patch_by_urn_path_value_object_and_remove() {
    let env = env().await;
    let u = create(&env, json!({"schemas": [USER], "userName": "ann@example.com"})).await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());
    let patch = |ops: Value| json!({"schemas": [PATCH_OP], "Operations": ops});

    let a = env
        .send(
            Method::PATCH,
            &path,
            &patch(json!([
                {"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "Platform"},
                {"op": "replace", "path": format!("{ENTERPRISE}:employeeNumber"), "value": "E7"},
            ])),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(
        a.body[ENTERPRISE],
        json!({"department": "Platform", "employeeNumber": "E7"})
    );

    // The whole extension by its URN, and in a path-less value object.
    let a = env
        .send(
            Method::PATCH,
            &path,
            &patch(json!([
                {"op": "add", "path": ENTERPRISE, "value": {"costCenter": "CC-1"}},
                {"op": "replace", "value": {ENTERPRISE: {"division": "R&D", "department": "Platform"}}},
            ])),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body[ENTERPRISE],
        json!({"division": "R&D", "department": "Platform"})
    );

    // Removing the last attribute removes the extension from `schemas`.
    for attr in ["division", "department"] {
        let a = env
            .send(
                Method::PATCH,
                &path,
                &patch(json!([{"op": "remove", "path": format!("{ENTERPRISE}:{attr}")}])),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let a = env.get(&path).await;
    assert_eq!(a.body["schemas"], json!([USER]), "{}", a.body);
    assert!(a.body.get(ENTERPRISE).is_none());

    // Unknown attributes and read-only manager parts are refused, and change nothing.
    let a = env
        .send(
            Method::PATCH,
            &path,
            &patch(json!([
                {"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "X"},
                {"op": "add", "path": format!("{ENTERPRISE}:shoeSize"), "value": "9"},
            ])),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidPath"));
    let a = env
        .send(
            Method::PATCH,
            &path,
            &patch(json!([
                {"op": "replace", "path": format!("{ENTERPRISE}:manager.displayName"), "value": "X"},
            ])),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("mutability"));
    assert!(env.get(&path).await.body.get(ENTERPRISE).is_none());
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn attributes_and_excluded_attributes_select_enterprise_attributes() {
    let env = env().await;
    let boss = create(&env, user("boss", json!({"department": "Board"}))).await;
    let u = create(
        &env,
        user(
            "ann",
            json!({"employeeNumber": "E1", "department": "Platform",
                   "manager": {"value": boss["id"]}}),
        ),
    )
    .await;
    let path = format!("/Users/{}", u["id"].as_str().unwrap());

    let a = env
        .query(
            &path,
            &[("attributes", &format!("userName,{ENTERPRISE}:employeeNumber"))],
        )
        .await;
    assert_eq!(
        a.body,
        json!({"schemas": [USER, ENTERPRISE], "id": u["id"], "userName": "ann@example.com",
               ENTERPRISE: {"employeeNumber": "E1"}})
    );
    let a = env
        .query(
            &path,
            &[("attributes", &format!("{ENTERPRISE}:manager.displayName"))],
        )
        .await;
    assert_eq!(
        a.body[ENTERPRISE],
        json!({"manager": {"displayName": "boss"}}),
        "{}",
        a.body
    );
    let a = env.query(&path, &[("attributes", ENTERPRISE)]).await;
    assert_eq!(a.body[ENTERPRISE]["department"], "Platform");
    assert!(a.body.get("userName").is_none());

    let a = env
        .query(
            &path,
            &[(
                "excludedAttributes",
                &format!("{ENTERPRISE}:manager,{ENTERPRISE}:department"),
            )],
        )
        .await;
    assert_eq!(a.body[ENTERPRISE], json!({"employeeNumber": "E1"}));
    assert_eq!(a.body["userName"], "ann@example.com");
    let a = env.query(&path, &[("excludedAttributes", ENTERPRISE)]).await;
    assert!(a.body.get(ENTERPRISE).is_none(), "{}", a.body);
    // Lists take the same selection.
    let a = env
        .query(
            "/Users",
            &[
                ("filter", &format!("{ENTERPRISE}:employeeNumber eq \"E1\"")),
                ("attributes", &format!("{ENTERPRISE}:department")),
            ],
        )
        .await;
    assert_eq!(
        a.body["Resources"][0][ENTERPRISE],
        json!({"department": "Platform"})
    );
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn manager_may_name_a_user_that_does_not_exist_yet() {
    let env = env().await;
    // Okta sends the manager's Okta id, which becomes the manager's externalId once Okta
    // provisions the manager, possibly after the report.
    let report = create(
        &env,
        json!({"schemas": [USER, ENTERPRISE], "userName": "ann@example.com", "externalId": "00u-ann",
               ENTERPRISE: {"manager": {"value": "00u-boss"}}}),
    )
    .await;
    assert_eq!(report[ENTERPRISE]["manager"], json!({"value": "00u-boss"}));
    let path = format!("/Users/{}", report["id"].as_str().unwrap());
    assert_eq!(
        env.get(&path).await.body[ENTERPRISE]["manager"],
        json!({"value": "00u-boss"})
    );

    let boss = create(
        &env,
        json!({"schemas": [USER], "userName": "boss@example.com", "externalId": "00u-boss",
               "displayName": "The Boss"}),
    )
    .await;
    let boss_id = boss["id"].as_str().unwrap();
    let boss_ref = format!("{}/Users/{boss_id}", env.scim);
    let a = env.get(&path).await;
    assert_eq!(
        a.body[ENTERPRISE]["manager"],
        json!({"value": "00u-boss", "$ref": boss_ref, "displayName": "The Boss"})
    );
    // Filled in on lists too, and never stale: a rename shows at once.
    let rename = json!({"schemas": [PATCH_OP],
                        "Operations": [{"op": "replace", "path": "displayName", "value": "Chief"}]});
    let a = env
        .send(Method::PATCH, &format!("/Users/{boss_id}"), &rename)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = env
        .query(
            "/Users",
            &[("filter", &format!("{ENTERPRISE}:manager.value eq \"00u-boss\""))],
        )
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    assert_eq!(
        a.body["Resources"][0][ENTERPRISE]["manager"]["displayName"],
        "Chief"
    );

    // By id (as Entra ID sends it), and the complex attribute compared by its value.
    let other = create(
        &env,
        json!({"schemas": [USER, ENTERPRISE], "userName": "cat@example.com",
               ENTERPRISE: {"manager": {"value": boss_id}}}),
    )
    .await;
    assert_eq!(other[ENTERPRISE]["manager"]["$ref"], boss_ref);
    assert_eq!(other[ENTERPRISE]["manager"]["displayName"], "Chief");
    let a = env
        .query(
            "/Users",
            &[("filter", &format!("{ENTERPRISE}:manager eq \"{boss_id}\""))],
        )
        .await;
    assert_eq!(a.body["totalResults"], 1, "{}", a.body);
    assert_eq!(a.body["Resources"][0]["userName"], "cat@example.com");
    // Computed parts are not stored, so they cannot be filtered on.
    let a = env
        .query(
            "/Users",
            &[(
                "filter",
                &format!("{ENTERPRISE}:manager.displayName eq \"Chief\""),
            )],
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidFilter"));
    // A client-sent $ref or displayName is ignored (read-only), not stored.
    let a = env
        .send(
            Method::POST,
            "/Users",
            &json!({"schemas": [USER, ENTERPRISE], "userName": "dan@example.com",
                    ENTERPRISE: {"manager": {"value": "nobody", "$ref": "https://evil.example/x",
                                             "displayName": "Forged"}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body[ENTERPRISE]["manager"], json!({"value": "nobody"}));
    // Nobody manages themselves.
    let a = env
        .send(
            Method::PATCH,
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ENTERPRISE}:manager.value"), "value": report["id"]}]}),
        )
        .await;
    assert_error(&a, StatusCode::BAD_REQUEST, Some("invalidValue"));
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn works_and_enterprise_extensions_coexist_on_one_user() {
    let env = env().await;
    let u = create(
        &env,
        json!({
            "schemas": [USER, ENTERPRISE, WORKS],
            "userName": "ann@example.com",
            ENTERPRISE: {"employeeNumber": "E-100", "department": "Platform"},
            WORKS: {"employeeNumber": "W-100", "department": "Tokyo Platform", "position": "Lead"},
        }),
    )
    .await;
    assert_eq!(u["schemas"], json!([USER, ENTERPRISE, WORKS]));
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "E-100");
    assert_eq!(u[WORKS]["employeeNumber"], "W-100");
    let path = format!("/Users/{}", u["id"].as_str().unwrap());

    // Same attribute name, separate values: a filter or PATCH names one by its URN.
    assert_eq!(
        user_names(
            &env,
            &[("filter", &format!("{WORKS}:employeeNumber eq \"W-100\""))]
        )
        .await,
        ["ann@example.com"]
    );
    assert!(
        user_names(
            &env,
            &[("filter", &format!("{WORKS}:employeeNumber eq \"E-100\""))]
        )
        .await
        .is_empty()
    );
    let a = env
        .send(
            Method::PATCH,
            &path,
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Sales"},
                {"op": "remove", "path": WORKS}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(
        a.body[ENTERPRISE],
        json!({"employeeNumber": "E-100", "department": "Sales"})
    );
    // PUT replaces both; an omitted extension is removed.
    let a = env
        .send(
            Method::PUT,
            &path,
            &json!({"schemas": [USER, WORKS], "userName": "ann@example.com",
                    WORKS: {"level": "L5"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["schemas"], json!([USER, WORKS]));
    assert!(a.body.get(ENTERPRISE).is_none());
    env.server.shutdown().await.unwrap();
}
