//! The console's "Connect a provider" panel shows the server's SCIM base URL: it must be the URL
//! a provider can actually call, and follow `--public-url`.

mod common;

use devconsole::wire::Role;
use secrecy::ExposeSecret;

#[tokio::test]
async fn the_reported_scim_base_url_is_the_one_scim_answers_on() {
    let env = common::scim_env().await;
    let app = env.console.get_app(env.app).await.unwrap();
    assert_eq!(app.scim_base_url, env.scim, "no public URL: the bound address");
    // What a provider does with it: append the endpoint and send the Dedicated Token.
    let answer = env
        .http
        .get(format!("{}/ServiceProviderConfig", app.scim_base_url))
        .bearer_auth(env.token.expose_secret())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // Listed apps carry it too.
    let listed = env.console.list_apps().await.unwrap();
    assert!(listed.iter().all(|a| a.scim_base_url == env.scim));
}

#[tokio::test]
async fn the_scim_base_url_follows_the_public_url() {
    let server = common::app()
        .configure(|c| c.public_url = Some("https://console.example.com/".into()))
        .spawn()
        .await;
    let console = server.signed_in("dev", Role::Developer).await;
    let (id, _token) = server.provisioning_app(&console, "Entra sync").await;
    let app = console.get_app(id).await.unwrap();
    assert_eq!(app.scim_base_url, "https://console.example.com/scim/v2");
}
