//! HTTPS end to end with a CA made in the test (rcgen): `serve --tls-cert/--tls-key`, the
//! console's `ca_cert`, certificate errors that say what was wrong and which setting fixes it,
//! and the certificate reloaded on SIGHUP.

mod common;
mod net_support;

use devconsole::client::{ClientError, ConsoleClient};
use devconsole::server::{ServerConfig, TlsFiles};
use devconsole::wire::Role;
use net_support::Term;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn make_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `names` from `ca`, written to `dir/<stem>.{crt,key}`.
fn leaf(ca: &Ca, names: &[&str], expired: bool, dir: &Path, stem: &str) -> TlsFiles {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    if expired {
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(30);
        params.not_after = now - time::Duration::days(1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let files = TlsFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

fn write_ca(ca: &Ca, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, &ca.pem).unwrap();
    path
}

async fn tls_app(files: TlsFiles) -> common::TestApp {
    let app = common::app()
        .configure(move |c: &mut ServerConfig| c.tls = Some(files))
        .spawn()
        .await;
    app.admin("alice", Role::Developer).await;
    app
}

async fn login(client: &mut ConsoleClient) -> Result<(), ClientError> {
    client
        .login("alice", SecretString::from(common::PASSWORD))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn https_with_a_private_ca_needs_ca_cert_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, dir.path(), "ca.pem");
    let app = tls_app(leaf(
        &ca,
        &["localhost", "127.0.0.1"],
        false,
        dir.path(),
        "server",
    ))
    .await;
    let url = app.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // With ca_cert: signed in over HTTPS.
    let mut client = ConsoleClient::builder(&url)
        .ca_cert(Some(ca_file.clone()))
        .build()
        .unwrap();
    login(&mut client).await.expect("login over HTTPS with ca_cert");
    assert_eq!(client.me().await.unwrap().username, "alice");

    // Without: refused, naming the problem and the setting.
    let mut client = ConsoleClient::new(&url).unwrap();
    let err = login(&mut client).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Certificate { .. }), "{err:?}");
    assert!(text.contains("unknown issuer"), "{text}");
    assert!(text.contains("ca_cert = "), "{text}");

    // A different CA in ca_cert: still unknown, and the message names the file given.
    let other = write_ca(&make_ca("someone else"), dir.path(), "other.pem");
    let mut client = ConsoleClient::builder(&url)
        .ca_cert(Some(other.clone()))
        .build()
        .unwrap();
    let text = login(&mut client).await.unwrap_err().to_string();
    assert!(
        text.contains("unknown issuer") && text.contains(&other.display().to_string()),
        "{text}"
    );

    // Plain http:// against the HTTPS port: told to use https://.
    let plain = url.replacen("https://", "http://", 1);
    let mut client = ConsoleClient::new(&plain).unwrap();
    let err = login(&mut client).await.unwrap_err();
    assert_eq!(err.code(), Some("https_required"), "{err:?}");
    assert!(err.to_string().contains("https://"), "{err}");

    // A ca_cert that is not a certificate.
    std::fs::write(dir.path().join("junk.pem"), "not a pem").unwrap();
    let err = ConsoleClient::builder(&url)
        .ca_cert(Some(dir.path().join("junk.pem")))
        .build()
        .unwrap_err();
    assert!(matches!(err, ClientError::CaCert { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.pem"), "{err}");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_wrong_name_and_an_expired_certificate_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, dir.path(), "ca.pem");

    let app = tls_app(leaf(&ca, &["console.example.com"], false, dir.path(), "named")).await;
    let mut client = ConsoleClient::builder(&app.url())
        .ca_cert(Some(ca_file.clone()))
        .build()
        .unwrap();
    let text = login(&mut client).await.unwrap_err().to_string();
    assert!(text.contains("not valid for the name \"127.0.0.1\""), "{text}");
    app.shutdown().await.unwrap();

    let app = tls_app(leaf(&ca, &["127.0.0.1"], true, dir.path(), "expired")).await;
    let mut client = ConsoleClient::builder(&app.url())
        .ca_cert(Some(ca_file))
        .build()
        .unwrap();
    let text = login(&mut client).await.unwrap_err().to_string();
    assert!(text.contains("expired certificate"), "{text}");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn serve_refuses_to_start_with_a_key_that_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let a = leaf(&ca, &["127.0.0.1"], false, dir.path(), "a");
    let b = leaf(&ca, &["127.0.0.1"], false, dir.path(), "b");
    let mut config = ServerConfig::new(
        format!("sqlite://{}", dir.path().join("c.db").display()),
        ([127, 0, 0, 1], 0).into(),
    );
    config.tls = Some(TlsFiles {
        cert: a.cert.clone(),
        key: b.key.clone(),
    });
    let err = devconsole::server::start(config.clone())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("does not belong to the certificate"),
        "{err}"
    );
    config.tls = Some(TlsFiles {
        cert: dir.path().join("missing.crt"),
        key: a.key,
    });
    let err = devconsole::server::start(config).await.err().expect("refused");
    assert!(err.to_string().contains("missing.crt"), "{err}");
}

/// Polls `f` until it returns true, for at most the harness deadline.
async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + common::deadline();
    while !f().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_and_a_bad_one_is_not_taken() {
    let home = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, home.path(), "ca.pem");
    // First a certificate for "localhost" only.
    let files = leaf(&ca, &["localhost"], false, home.path(), "live");
    let cert_arg = files.cert.display().to_string();
    let key_arg = files.key.display().to_string();
    let server = net_support::start_server(
        home.path(),
        common::PASSWORD,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    let port = server.listen.rsplit(':').next().unwrap().to_owned();
    let by_name = format!("https://localhost:{port}");
    let by_ip = format!("https://127.0.0.1:{port}");
    let client = |url: &str| {
        ConsoleClient::builder(url)
            .ca_cert(Some(ca_file.clone()))
            .build()
            .unwrap()
    };
    login(&mut client(&by_name)).await.expect("localhost is covered");
    let text = login(&mut client(&by_ip)).await.unwrap_err().to_string();
    assert!(text.contains("not valid for the name"), "{text}");

    // Replace it with one for 127.0.0.1 and signal.
    let next = leaf(&ca, &["127.0.0.1"], false, home.path(), "next");
    std::fs::copy(&next.cert, &files.cert).unwrap();
    std::fs::copy(&next.key, &files.key).unwrap();
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) }, 0);
    eventually("the new certificate", async || {
        login(&mut client(&by_ip)).await.is_ok()
    })
    .await;

    // A broken file and another SIGHUP: the server keeps the certificate it has.
    std::fs::write(&files.cert, "garbage").unwrap();
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) }, 0);
    // Judged once the server has read the broken file and said so, not after a guessed sleep.
    server.wait_for_log("TLS certificate NOT reloaded");
    login(&mut client(&by_ip))
        .await
        .expect("still serving the last good certificate");
}

#[test]
fn the_console_connects_with_ca_cert_and_explains_the_refusal_without() {
    let home = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, home.path(), "ca.pem");
    let files = leaf(&ca, &["127.0.0.1"], false, home.path(), "server");
    let cert_arg = files.cert.display().to_string();
    let key_arg = files.key.display().to_string();
    let server = net_support::start_server(
        home.path(),
        common::PASSWORD,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    let url = format!("https://{}", server.listen);
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!(
            "[profiles.trusted]\nserver = \"{url}\"\nusername = \"alice\"\nca_cert = \"{}\"\n\
             [profiles.plain]\nserver = \"{url}\"\nusername = \"alice\"\n",
            ca_file.display()
        ),
    )
    .unwrap();

    let mut t = Term::spawn_wide(&["--profile", "trusted"], home.path(), &[]);
    t.wait_until("the login form", |s| s.contains("Password"));
    t.send(common::PASSWORD);
    t.send("\r");
    t.wait_for("alice · Developers authority");
    drop(t);

    let mut t = Term::spawn_wide(&["--profile", "plain"], home.path(), &[]);
    t.wait_until("the login form", |s| s.contains("Password"));
    t.send(common::PASSWORD);
    t.send("\r");
    t.wait_until("a certificate error naming ca_cert", |s| {
        s.contains("unknown issuer") && s.contains("ca_cert")
    });
}

#[test]
fn the_cli_signs_in_with_ca_cert_and_explains_the_refusal_without() {
    use std::io::Write;
    let home = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, home.path(), "ca.pem");
    let files = leaf(&ca, &["127.0.0.1"], false, home.path(), "server");
    let cert_arg = files.cert.display().to_string();
    let key_arg = files.key.display().to_string();
    let server = net_support::start_server(
        home.path(),
        common::PASSWORD,
        &["--tls-cert", &cert_arg, "--tls-key", &key_arg],
    );
    let url = format!("https://{}", server.listen);
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!(
            "[profiles.trusted]\nserver = \"{url}\"\nca_cert = \"ca.pem\"\n\
             [profiles.plain]\nserver = \"{url}\"\n"
        ),
    )
    .unwrap();
    // A relative ca_cert is read from the config file's directory.
    std::fs::copy(&ca_file, home.path().join("config/ca.pem")).unwrap();
    let login = |profile: &str| {
        let mut child = std::process::Command::new(common::BIN)
            .args([
                "login",
                "--profile",
                profile,
                "--username",
                "alice",
                "--password-stdin",
            ])
            .env("DEVCONSOLE_DATA_DIR", home.path().join("data"))
            .env("DEVCONSOLE_CONFIG_DIR", home.path().join("config"))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n", common::PASSWORD).as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = login("trusted");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let refused = login("plain");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("unknown issuer") && stderr.contains("ca_cert"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_https_server_behind_a_proxy_is_reached_through_a_tunnel_the_proxy_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca("devconsole test CA");
    let ca_file = write_ca(&ca, dir.path(), "ca.pem");
    let app = tls_app(leaf(&ca, &["console.corp.test"], false, dir.path(), "server")).await;
    let proxy =
        net_support::FakeProxy::start(net_support::ProxyAnswer::Tunnel(app.server().addr().to_string()));
    let url = "https://console.corp.test:8443";
    let mut client = ConsoleClient::builder(url)
        .proxy(devconsole::client::ProxySetting::Url(proxy.url.clone()))
        .ca_cert(Some(ca_file))
        .build()
        .unwrap();
    login(&mut client).await.expect("login through the tunnel");
    assert_eq!(client.me().await.unwrap().username, "alice");
    let heads = proxy.heads();
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with("CONNECT console.corp.test:8443 HTTP/1.1")),
        "{heads:?}"
    );
    let seen = String::from_utf8_lossy(&proxy.tunnelled()).into_owned();
    assert!(!seen.is_empty(), "the tunnel carried the TLS session");
    assert!(!seen.contains("alice") && !seen.contains(common::PASSWORD) && !seen.contains("Bearer"));
    app.shutdown().await.unwrap();
}
