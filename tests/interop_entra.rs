//! Microsoft Entra ID's published SCIM requests and responses, replayed in order against a
//! real server. The exchanges are recorded in `tests/fixtures/interop/entra/*.json`; each
//! names its source (document URL and section) and notes every change and every deliberate
//! difference. The documents:
//! - "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
//!   <https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups>
//!   (§ SCIM protocol requests and responses; § Handling provisioning and deprovisioning of users)
//! - "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user
//!   provisioning service",
//!   <https://learn.microsoft.com/en-us/entra/identity/app-provisioning/application-provisioning-config-problem-scim-compatibility>
//!   (§ Flags to alter the SCIM behavior: the requests sent with and without `aadOptscim062020`)
//!
//! Where devconsole differs on purpose (userName must be an email; DELETE deactivates; a
//! group PATCH answers 200 with the group where the tutorial suggests 204), the test asserts
//! devconsole's documented behaviour and says so; README § "Connecting Entra ID and Okta" says
//! what to configure in Entra ID.

mod interop_support;

use interop_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Entra ID's user agent is not in the documents; this one says what the requests are.
const UA: &str = "devconsole interop replay (Microsoft Entra ID documentation)";

fn load(name: &str) -> Exchange {
    Exchange::load("entra", name)
}

/// The members of a documented response that this step is about (the tutorial's responses
/// often show a different user than the one its request created).
fn pick(v: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone())))
            .collect(),
    )
}

const CLOCK: &[&str] = &["/meta/created", "/meta/lastModified"];

#[tokio::test]
async fn user_lifecycle_create_query_update_disable_delete_and_restore() {
    let env = env().await;
    let mut r = Replay::new(&env, UA);

    // Test Connection: a query that matches nothing is 200 with an empty list, not 404.
    let x = load("05_get_user_by_query_zero_results");
    let a = r.send(&x).await;
    let mut want = x.expected(&[]);
    want["itemsPerPage"] = json!(0); // resources on this page (RFC 7644 §3.4.2), not the page size
    r.assert_shape(&a, &want);

    let x = load("01_create_user");
    let a = r.send(&x).await;
    let id = a.body["id"].as_str().unwrap().to_owned();
    r.bind("48af03ac28ad4fb88478", &id);
    r.assert_shape(&a, &x.expected(CLOCK));
    assert_eq!(
        a.body["schemas"],
        json!([USER]),
        "no enterprise attributes were sent"
    );
    assert!(
        a.body.get("roles").is_none(),
        "an empty roles list asserts nothing"
    );
    assert_eq!(
        a.headers[reqwest::header::LOCATION],
        format!("{}/Users/{id}", env.scim).as_str()
    );
    let external_id = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";

    let x = load("02_get_user");
    r.bind("5d48a0a8e9f04aa38008", &id);
    r.bind("58342554-38d6-4ec8-948c-50044d0a33fd", external_id);
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(CLOCK));

    // Before 5171a35d… names our user, it names nobody.
    let x = load("03_get_user_not_found");
    let a = r.send(&x).await;
    r.assert_shape(&a, &pick(&x.expected(&[]), &["schemas", "status"]));

    let x = load("04_get_user_by_query");
    r.bind("2441309d85324e7793ae", &id);
    r.bind("7fce0092-d52e-4f76-b727-3955bd72c939", external_id);
    let a = r.send(&x).await;
    let mut want = x.expected(&[]);
    for p in CLOCK {
        remove_pointer(&mut want, &format!("/Resources/0{p}"));
    }
    want["itemsPerPage"] = json!(1);
    r.assert_shape(&a, &want);

    let x = load("06_update_user_multi_valued");
    r.bind("6764549bef60420686bc", &id);
    r.bind("6c75de36-30fa-4d2d-a196-6bdcdb6b6539", external_id);
    let a = r.send(&x).await;
    let mut want = x.expected(CLOCK);
    // Stored as sent: devconsole does not recompute name.formatted.
    want["name"]["formatted"] = json!("givenName familyName");
    r.assert_shape(&a, &want);

    let x = load("07_update_user_single_valued");
    r.bind("5171a35d82074e068ce2", &id);
    let a = r.send(&x).await;
    r.assert_shape(
        &a,
        &pick(&x.expected(CLOCK), &["schemas", "id", "userName", "active"]),
    );

    let x = load("08_disable_user");
    let a = r.send(&x).await;
    let mut want = pick(&x.expected(&[]), &["schemas", "active"]);
    want["id"] = json!(id);
    want["meta"] = json!({"resourceType": "User"}); // the document's "Users" is a typo for the type name
    r.assert_shape(&a, &want);
    // Entra ID's validator then reads the user back by filter and expects `active` on it.
    let a = env
        .query(
            "/Users",
            &[(
                "filter",
                "userName eq \"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com\"",
            )],
        )
        .await;
    assert_eq!(a.body["Resources"][0]["active"], false, "{}", a.body);

    let x = load("10_reactivate_user");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));

    // Without aadOptscim062020, Entra ID sends the boolean as the string "False".
    let x = load("09_disable_user_string_boolean");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert_eq!(a.body["active"], json!(false), "a JSON boolean, not a string");
    let a = r.send(&load("10_reactivate_user")).await;
    assert_eq!(a.body["active"], true);

    // DELETE: 204 as documented, but devconsole deactivates instead of deleting (LINE WORKS
    // semantics): the user is still there, inactive, and can be restored.
    let x = load("11_delete_user");
    let a = r.send(&x).await;
    assert_eq!(a.body, Value::Null);
    let a = env.get(&format!("/Users/{id}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["active"], false);
    let a = r.send(&load("10_reactivate_user")).await;
    assert_eq!(a.body["active"], true);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn group_create_get_rename_and_member_add_remove() {
    let env = env().await;
    let mut r = Replay::new(&env, UA);
    let a = r.send(&load("01_create_user")).await;
    let user = a.body["id"].as_str().unwrap().to_owned();

    let x = load("12_create_group");
    let a = r.send(&x).await;
    let group = a.body["id"].as_str().unwrap().to_owned();
    r.bind("927fa2c08dcb4a7fae9e", &group);
    let mut want = x.expected(CLOCK);
    // devconsole omits an empty members list (RFC 7643 §2.5).
    remove_pointer(&mut want, "/members");
    r.assert_shape(&a, &want);
    assert!(a.body.get("members").is_none(), "{}", a.body);
    assert_eq!(
        a.body["schemas"],
        json!([GROUP]),
        "the ADSCIM schema URI is not echoed"
    );
    let external_id = "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159";

    let x = load("13_get_group");
    r.bind("40734ae655284ad3abcc", &group);
    r.bind("60f1bb27-2e1e-402d-bcc4-ec999564a194", external_id);
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(CLOCK));

    let x = load("14_get_group_by_display_name");
    r.bind("8c601452cc934a9ebef9", &group);
    r.bind("0db508eb-91e2-46e4-809c-30dcbda0c685", external_id);
    let a = r.send(&x).await;
    let mut want = x.expected(&[]);
    for p in CLOCK {
        remove_pointer(&mut want, &format!("/Resources/0{p}"));
    }
    want["itemsPerPage"] = json!(1);
    r.assert_shape(&a, &want);

    // Group PATCHes: the tutorial suggests 204; devconsole answers 200 with the group
    // (RFC 7644 §3.5.2 allows either, and Entra ID accepts both).
    let x = load("15_update_group_non_member_attributes");
    r.bind("fa2ce26709934589afc5", &group);
    let a = r.send_expecting(&x, StatusCode::OK).await;
    assert_eq!(
        a.body["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    let x = load("16_update_group_add_members");
    r.bind("a99962b9f99d4c4fac67", &group);
    r.bind("f648f8d5ea4e4cd38e9c", &user);
    let a = r.send_expecting(&x, StatusCode::OK).await;
    assert_eq!(
        a.body["members"],
        json!([{"value": user, "type": "User", "$ref": format!("{}/Users/{user}", env.scim)}])
    );
    let u = env.get(&format!("/Users/{user}")).await;
    assert_eq!(u.body["groups"][0]["value"], group.as_str(), "{}", u.body);

    // The answer can leave the members out, as the tutorial advises for large groups.
    let rename = json!({"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Renamed"}]});
    let a = env
        .call(
            reqwest::Method::PATCH,
            &format!("/Groups/{group}?excludedAttributes=members"),
            Some(&rename),
            "application/scim+json",
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["displayName"], "Renamed");
    assert!(a.body.get("members").is_none(), "{}", a.body);
    assert_eq!(
        env.get(&format!("/Groups/{group}")).await.body["members"][0]["value"],
        user.as_str()
    );

    // Without aadOptscim062020: remove by a value list.
    let x = load("17_update_group_remove_members");
    let a = r.send_expecting(&x, StatusCode::OK).await;
    assert!(a.body.get("members").is_none(), "{}", a.body);

    // With the flag: remove by a filter path.
    r.send_expecting(&load("16_update_group_add_members"), StatusCode::OK)
        .await;
    let x = load("18_remove_member_by_filter");
    r.bind("7f4bc1a3-285e-48ae-8202-5accb43efb0e", &user);
    let a = r.send_expecting(&x, StatusCode::OK).await;
    assert!(a.body.get("members").is_none(), "{}", a.body);
    let u = env.get(&format!("/Users/{user}")).await;
    assert!(u.body.get("groups").is_none(), "{}", u.body);

    let x = load("19_delete_group");
    r.bind("cdb1ce18f65944079d37", &group);
    r.send(&x).await;
    let a = env.get(&format!("/Groups/{group}")).await;
    assert_error(&a, StatusCode::NOT_FOUND, None);
    env.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn enterprise_extension_paths_and_manager() {
    let env = env().await;
    let mut r = Replay::new(&env, UA);

    let x = load("22_provision_user_with_enterprise_schema");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert!(a.body.get(ENTERPRISE).is_none(), "null attributes assert nothing");
    let joy = a.body["id"].as_str().unwrap().to_owned();

    // Without aadOptscim062020: one Replace per attribute, the extension by URN path.
    let x = load("20_replace_multiple_attributes_without_flag");
    r.bind("ac56b4e5-e079-46d0-810e-85ddbd223b09", &joy);
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert_eq!(a.body["emails"][0]["value"], "TestBcwqnm@test.microsoft.com");

    // With the flag: a value object whose keys are paths, the extension's included.
    let x = load("21_replace_multiple_attributes_with_flag");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert_eq!(a.body["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    assert_eq!(a.body["externalId"], "Eqpj", "untouched by the second request");
    let stored = env.get(&format!("/Users/{joy}")).await;
    assert_eq!(stored.body[ENTERPRISE], json!({"employeeNumber": "Aklq"}));

    // The manager, linked by a later PATCH as Entra ID does.
    let a = r.send(&load("01_create_user")).await;
    let manager = a.body["id"].as_str().unwrap().to_owned();
    let x = load("23_update_manager");
    r.bind("a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", &joy);
    r.bind("00aa00aa-bb11-cc22-dd33-44ee44ee44ee", &manager);
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert_eq!(
        a.body[ENTERPRISE]["manager"],
        json!({"value": manager, "$ref": format!("{}/Users/{manager}", env.scim),
               "displayName": "Test_User_00aa00aa-bb11-cc22-dd33@testuser.com"}),
        "filled in from the manager, whose userName stands in for its missing displayName"
    );

    // Entra ID checks a reference attribute's current value before updating it.
    let x = load("24_query_manager_reference");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    assert_eq!(
        a.body["Resources"][0],
        json!({"schemas": [USER, ENTERPRISE], "id": joy})
    );
    let other = x
        .path
        .replace("00aa00aa-bb11-cc22-dd33-44ee44ee44ee", "someone-else");
    let a = r
        .send(&Exchange {
            path: other,
            ..x.clone()
        })
        .await;
    assert_eq!(a.body["totalResults"], 0, "{}", a.body);

    // The bare-string manager Entra ID sends in practice, and removal.
    let a = env
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{joy}"),
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": manager}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body[ENTERPRISE]["manager"]["value"], manager.as_str());
    let a = env
        .send(
            reqwest::Method::PATCH,
            &format!("/Users/{joy}"),
            &json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Remove", "path": format!("{ENTERPRISE}:manager")}]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body[ENTERPRISE], json!({"employeeNumber": "Aklq"}));

    let x = load("25_discover_schema");
    let a = r.send(&x).await;
    r.assert_shape(&a, &x.expected(&[]));
    let ids: Vec<&str> = a.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for want in [USER, GROUP, ENTERPRISE] {
        assert!(ids.contains(&want), "{ids:?}");
    }
    env.server.shutdown().await.unwrap();
}
