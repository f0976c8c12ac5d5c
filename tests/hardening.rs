//! Issue 7 (console side), end to end against the real server on 127.0.0.1: each test here
//! failed on the code before its fix.

mod common;

use devconsole::wire::Role;
use reqwest::StatusCode;
use serde_json::json;

/// Item 12: a token issue and its audit record commit together. When the audit write fails,
/// the caller gets an error and no token exists that nobody holds; once auditing works again
/// the app can be issued a token (it is not stuck behind a phantom active one).
#[tokio::test]
async fn a_failed_audit_write_leaves_no_token_behind() {
    let h = common::spawn_app().await;
    let console = h.signed_in("dev", Role::Developer).await;
    let app = console.create_app("Audited sync", "").await.unwrap().app;
    console.enable_scim(app.id, true).await.unwrap();

    // Make every audit insert of a token issue fail, behind the server's back.
    h.db.execute(
        "CREATE TRIGGER refuse_issue_audit BEFORE INSERT ON audit_events \
         WHEN NEW.action = 'token.issue' BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
    )
    .await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/console/v1/apps/{}/token", app.id),
            Some(&console),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.get("token").is_none(),
        "no token may be handed out unaudited"
    );
    assert_eq!(
        h.db.scalar_i64("SELECT COUNT(*) FROM dedicated_tokens").await,
        0,
        "the issue rolled back with its audit record"
    );

    h.db.execute("DROP TRIGGER refuse_issue_audit").await;
    let (status, body) = h
        .call(
            "POST",
            &format!("/console/v1/apps/{}/token", app.id),
            Some(&console),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        h.db.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE action = 'token.issue'")
            .await,
        1
    );
    h.shutdown().await.unwrap();
}

/// Item 12 for the other mutations: an app deletion whose audit write fails leaves the app.
#[tokio::test]
async fn every_change_rolls_back_when_its_audit_record_cannot_be_written() {
    let h = common::spawn_app().await;
    let console = h.signed_in("dev", Role::Developer).await;
    let app = console.create_app("Kept", "").await.unwrap().app;
    h.db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'audit disk full'); END",
    )
    .await;
    let path = format!("/console/v1/apps/{}", app.id);
    let (status, _) = h.call("DELETE", &path, Some(&console), None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call("PATCH", &path, Some(&console), Some(json!({"name": "Renamed"})))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call(
            "PUT",
            &format!("{path}/scim"),
            Some(&console),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = h
        .call(
            "POST",
            "/console/v1/apps",
            Some(&console),
            Some(json!({"type": "provisioning", "name": "New"})),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    h.db.execute("DROP TRIGGER refuse_audit").await;

    let (status, body) = h.call("GET", &path, Some(&console), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the app was deleted without an audit record"
    );
    assert_eq!(body["name"], "Kept");
    assert_eq!(body["scim_enabled"], false);
    assert_eq!(h.db.scalar_i64("SELECT COUNT(*) FROM client_apps").await, 1);
    h.shutdown().await.unwrap();
}
