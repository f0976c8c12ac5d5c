//! Proxies: the embedded console and loopback servers never go through one, whatever the
//! environment says; a remote server goes through the configured proxy, and errors name it.

mod common;
mod net_support;

use devconsole::client::{ClientError, ConsoleClient, ProxySetting};
use devconsole::server::{self, ServerConfig};
use net_support::{FakeProxy, PROXY_VARS, ProxyAnswer, Term};
use secrecy::SecretString;

fn all_proxy_vars(url: &str) -> Vec<(&'static str, &str)> {
    PROXY_VARS.iter().map(|k| (*k, url)).collect()
}

#[test]
fn the_embedded_console_sends_nothing_to_the_proxy() {
    let proxy = FakeProxy::start(ProxyAnswer::BadGateway);
    let home = tempfile::tempdir().unwrap();
    let mut t = Term::spawn_wide(&[], home.path(), &all_proxy_vars(&proxy.url));
    t.wait_for("No client apps yet");
    t.wait_for("embedded");
    // A write too, so the session goes out on a POST as well as on reads.
    t.send("a");
    t.wait_for("Provisioning management");
    t.send("Okta sync");
    t.send("\r");
    t.wait_for("This client secret is shown only once");
    assert_eq!(
        proxy.heads(),
        Vec::<String>::new(),
        "the proxy saw the embedded console's traffic"
    );
}

#[test]
fn a_loopback_server_is_reached_directly_despite_the_proxy_variables() {
    let proxy = FakeProxy::start(ProxyAnswer::BadGateway);
    let home = tempfile::tempdir().unwrap();
    let password = "correct-horse-battery";
    let server = net_support::start_server(home.path(), password, &[]);
    for host in ["127.0.0.1", "localhost"] {
        let port = server.listen.rsplit(':').next().unwrap();
        let url = format!("http://{host}:{port}");
        let mut t = Term::spawn_wide(&["--server", &url], home.path(), &all_proxy_vars(&proxy.url));
        t.wait_for("Password");
        t.send("alice\t");
        t.send(password);
        t.send("\r");
        t.wait_for("alice · Developers authority");
        t.wait_for("No client apps yet");
    }
    assert_eq!(
        proxy.heads(),
        Vec::<String>::new(),
        "the proxy saw loopback traffic"
    );
}

#[test]
fn a_remote_server_goes_through_the_system_proxy_and_the_error_names_it() {
    let proxy = FakeProxy::start(ProxyAnswer::BadGateway);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        "[profiles.corp]\nserver = \"http://console.corp.test:8787\"\nusername = \"alice\"\n",
    )
    .unwrap();
    let mut t = Term::spawn_wide(
        &["--profile", "corp"],
        home.path(),
        &[("HTTP_PROXY", proxy.url.as_str())],
    );
    t.wait_until("the login form", |s| s.contains("Password"));
    t.send("correct-horse-battery\r");
    let proxy_host = proxy.url.trim_start_matches("http://");
    t.wait_until("an error naming the proxy", |s| {
        s.contains("proxy") && s.contains(proxy_host)
    });
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with("POST http://console.corp.test:8787/console/v1/sessions HTTP/1.1"),
        "{heads:?}"
    );
}

#[tokio::test]
async fn a_configured_proxy_is_used_and_named_in_every_kind_of_error() {
    // The proxy answers, but not as a devconsole server would.
    let proxy = FakeProxy::start(ProxyAnswer::BadGateway);
    let client = ConsoleClient::builder("http://console.corp.test:8787")
        .proxy(ProxySetting::Url(proxy.url.clone()))
        .build()
        .unwrap();
    assert_eq!(client.proxy(), Some(proxy.url.as_str()));
    let err = client.me().await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ClientError::Protocol { status: 502, .. }),
        "{err:?}"
    );
    assert!(
        text.contains(&format!("the proxy {} may have answered", proxy.url)),
        "{text}"
    );
    assert!(
        proxy.heads()[0].starts_with("GET http://console.corp.test:8787/console/v1/me HTTP/1.1"),
        "{:?}",
        proxy.heads()
    );

    // Nothing listens where the proxy should be. Credentials in the proxy URL stay out of the message.
    let closed = net_support::ClosedPort::new();
    let dead = closed.url();
    let with_password = dead.replace("http://", "http://bob:hunter2hunter2@");
    let client = ConsoleClient::builder("https://console.corp.test")
        .proxy(ProxySetting::Url(with_password))
        .build()
        .unwrap();
    let err = client.me().await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_unreachable(), "{err:?}");
    assert!(text.contains(&format!("through the proxy {dead}")), "{text}");
    assert!(text.contains("proxy = \"none\""), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!format!("{client:?}").contains("hunter2"));

    // proxy = "none" and loopback servers: no proxy at all.
    let client = ConsoleClient::builder("http://console.corp.test:8787")
        .proxy(ProxySetting::None)
        .build()
        .unwrap();
    assert_eq!(client.proxy(), None);
    for url in [
        "http://127.0.0.1:1",
        "http://[::1]:1",
        "http://localhost:1",
        "http://a.localhost:1",
    ] {
        let client = ConsoleClient::builder(url)
            .proxy(ProxySetting::Url(proxy.url.clone()))
            .build()
            .unwrap();
        assert_eq!(client.proxy(), None, "{url}");
    }
}

#[tokio::test]
async fn common_url_mistakes_are_explained() {
    for (url, root) in [
        (
            "https://console.example.com/console/v1",
            "https://console.example.com",
        ),
        (
            "https://console.example.com/console/v1/",
            "https://console.example.com",
        ),
        (
            "https://c.example.com/devconsole/scim/v2",
            "https://c.example.com/devconsole",
        ),
    ] {
        let err = ConsoleClient::new(url).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ClientError::BadUrlHint { .. }), "{err:?}");
        assert!(text.contains(&format!("use {root} ")), "{text}");
    }

    // https:// against a server that speaks plain HTTP.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let running = server::start(ServerConfig::new(db, ([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let https = format!("https://{}", running.addr());
    let mut client = ConsoleClient::new(&https).unwrap();
    let err = client
        .login("alice", SecretString::from("correct-horse-battery"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("did not answer with TLS"), "{text}");
    assert!(text.contains(&format!("try http://{}", running.addr())), "{text}");
    running.shutdown().await.unwrap();
}
