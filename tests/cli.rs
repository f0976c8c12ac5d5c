//! The scriptable CLI end to end: the real `devconsole` binary against a real server, both a
//! remote `devconsole serve` (over HTTP, signed in with `devconsole login`) and the embedded
//! server on a temporary data dir. JSON output is parsed, exit codes and files checked, and
//! every secret is looked for in the process list and in the logs.

mod common;

use common::{BIN, PASSWORD, TestDb};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The documented exit codes.
const OK: i32 = 0;
const CHECK_FAILED: i32 = 1;
const USAGE: i32 = 2;
const AUTH: i32 = 3;
const PERMISSION: i32 = 4;
const NOT_FOUND: i32 = 5;
const CONFLICT: i32 = 6;
const UNREACHABLE: i32 = 7;

/// One user's machine: a data dir (sessions, embedded database) and a config dir.
struct Home {
    dir: tempfile::TempDir,
    /// Everything every CLI run wrote to stderr, for the secrets check.
    stderr: Arc<Mutex<String>>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            stderr: Arc::default(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("DEVCONSOLE_DATA_DIR", self.data_dir())
            .env("DEVCONSOLE_CONFIG_DIR", self.path("config"))
            .env("DEVCONSOLE_LOG", "trace")
            .env_remove("DEVCONSOLE_DATABASE_URL")
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .current_dir(self.dir.path());
        cmd
    }

    fn finish(&self, out: Output) -> Run {
        let run = Run {
            code: out.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        self.stderr.lock().unwrap().push_str(&run.stderr);
        run
    }

    /// Runs with stdin closed (no terminal: guards must refuse rather than ask).
    fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        self.finish(out)
    }

    fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        self.finish(out)
    }

    /// Runs while scanning every process's argv, and this one's environment, for `secrets`.
    fn run_watched(&self, args: &[&str], secrets: &dyn Fn() -> Vec<String>) -> Run {
        let child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let scans = Arc::new(Mutex::new(Vec::<String>::new()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scanner = {
            let (scans, done) = (scans.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    scans.lock().unwrap().push(process_table(pid));
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let out = child.wait_with_output().unwrap();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        scanner.join().unwrap();
        let run = self.finish(out);
        let scans = scans.lock().unwrap();
        assert!(!scans.is_empty());
        for secret in secrets() {
            for scan in scans.iter() {
                assert!(!scan.contains(&secret), "a secret is in the process list");
            }
        }
        run
    }

    fn db(&self) -> String {
        format!("sqlite://{}", self.data_dir().join("console.db").display())
    }
}

/// Every process's argv, and `pid`'s environment.
fn process_table(pid: u32) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
                all.push_str(&String::from_utf8_lossy(&bytes));
                all.push('\n');
            }
        }
    }
    if let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ")) {
        all.push_str(&String::from_utf8_lossy(&bytes));
    }
    all
}

/// The secret in `path` once it is written, for [`Home::run_watched`].
fn file_secret(path: &Path) -> impl Fn() -> Vec<String> + use<> {
    let path = path.to_path_buf();
    move || {
        std::fs::read_to_string(&path)
            .map(|t| vec![t.trim().to_owned()])
            .unwrap_or_default()
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read_secret(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().trim_end().to_owned()
}

/// Moves a token's issue and last use back by `days` in the database: a test-only edit
/// standing in for time passing on the server.
fn age_token(db_url: &str, days: i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let ms = days * 86_400_000;
        let sql = "UPDATE dedicated_tokens SET issued_at = issued_at - $1, \
             last_used_at = CASE WHEN last_used_at IS NULL THEN NULL ELSE last_used_at - $1 END \
             WHERE state = 'active'";
        // The harness may have put the server on PostgreSQL (DEVCONSOLE_TEST_DATABASE_URL).
        let done = if db_url.starts_with("postgres") {
            let mut conn = db_url
                .parse::<sqlx::postgres::PgConnectOptions>()
                .unwrap()
                .connect()
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(ms)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        } else {
            let mut conn = db_url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .connect()
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(ms)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        };
        assert_eq!(done, 1);
    });
}

/// `devconsole serve` on a free port over its own database, with its log captured at TRACE.
struct Server {
    child: Child,
    url: String,
    db: TestDb,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(admins: &[(&str, &str)]) -> Server {
        let db = TestDb::fresh();
        for (name, role) in admins {
            let out = db.create_admin_cli(name, role, PASSWORD);
            assert!(out.status.success(), "{out:?}");
        }
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database", db.url()])
            .env("RUST_LOG", "trace")
            .env_remove("DEVCONSOLE_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut sent = false;
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&String::from_utf8_lossy(&buf[..n]));
                if !sent && let Some(at) = log.find("listening on http://") {
                    let rest = &log[at + "listening on ".len()..];
                    if let Some(end) = rest.find('\n') {
                        let _ = tx.send(rest[..end].trim().to_owned());
                        sent = true;
                    }
                }
            }
        });
        let url = rx.recv_timeout(common::deadline()).expect("the server started");
        Server { child, url, db, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login(home: &Home, server: &Server, user: &str) {
    home.run_with_stdin(
        &[
            "login",
            "--server",
            &server.url,
            "--username",
            user,
            "--password-stdin",
        ],
        PASSWORD,
    )
    .expect(OK);
}

/// Lines of a table fit 80 columns and carry no colour when stdout is not a terminal.
#[track_caller]
fn assert_table(out: &str) {
    for line in out.lines() {
        assert!(
            unicode_width::UnicodeWidthStr::width(line) <= 80,
            "wider than 80: {line:?}"
        );
        assert!(!line.contains('\x1b'), "colour in a pipe: {line:?}");
    }
}

fn find_app<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|a| a["name"] == name)
}

/// Every scriptable command against `devconsole serve`, signed in with `devconsole login`.
#[test]
fn remote_server_end_to_end() {
    let server = Server::start(&[("alice", "developer"), ("bob", "developer"), ("carol", "admin")]);
    let url = server.url.clone();
    let home = Home::new();
    let remote = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &url]);
        home.run(&all)
    };

    // Not signed in; a wrong password; an unreachable server.
    assert!(
        remote(&["apps", "list"])
            .expect(AUTH)
            .stderr
            .contains("devconsole login")
    );
    home.run_with_stdin(
        &[
            "login",
            "--server",
            &url,
            "--username",
            "alice",
            "--password-stdin",
        ],
        "not the password at all",
    )
    .expect(AUTH);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    home.run_with_stdin(
        &[
            "login",
            "--server",
            &closed,
            "--username",
            "alice",
            "--password-stdin",
        ],
        PASSWORD,
    )
    .expect(UNREACHABLE);

    // Sign in: the session is saved 0600 in the data dir, as the console's session cache.
    login(&home, &server, "alice");
    let sessions: Vec<PathBuf> = std::fs::read_dir(home.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("session-"))
        .collect();
    assert_eq!(sessions.len(), 1);
    assert_eq!(mode(&sessions[0]), 0o600);
    let session = read_secret(&sessions[0]);
    assert!(!session.is_empty());

    // Create: the client secret goes only to --out, 0600; never overwritten without --force.
    let secret_file = home.path("okta.secret");
    let created = home
        .run_watched(
            &[
                "apps",
                "create",
                "--name",
                "Okta sync",
                "--description",
                "nightly",
                "--out",
                "okta.secret",
                "--output",
                "json",
                "--server",
                &url,
            ],
            &file_secret(&secret_file),
        )
        .expect(OK);
    let app = created.json();
    assert_eq!(app["name"], "Okta sync");
    assert!(app.get("client_secret").is_none());
    assert_eq!(mode(&secret_file), 0o600);
    let first_secret = read_secret(&secret_file);
    assert!(first_secret.len() > 20);
    assert!(!created.stdout.contains(&first_secret));
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let app_id = app["id"].as_str().unwrap().to_owned();

    let refused = remote(&["apps", "create", "--name", "Second", "--out", "okta.secret"]).expect(CONFLICT);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(read_secret(&secret_file), first_secret);
    let list = remote(&["apps", "list", "--output", "json"]).expect(OK).json();
    assert!(
        find_app(&list, "Second").is_none(),
        "a refused --out created nothing on the server"
    );

    // A profile names the same server: its saved session is found by URL, and `login
    // --profile` takes the profile's username.
    std::fs::create_dir_all(home.path("config")).unwrap();
    std::fs::write(
        home.path("config").join("config.toml"),
        format!("[profiles.prod]\nserver = \"{url}/\"\nusername = \"alice\"\n"),
    )
    .unwrap();
    let via_profile = home
        .run(&["apps", "list", "--profile", "prod", "--output", "json"])
        .expect(OK)
        .json();
    assert!(find_app(&via_profile, "Okta sync").is_some());
    let relogin = home
        .run_with_stdin(&["login", "--profile", "prod", "--password-stdin"], PASSWORD)
        .expect(OK);
    assert!(relogin.stdout.contains("as alice"), "{}", relogin.stdout);

    // List, show by name, client ID and id.
    let table = remote(&["apps", "list"]).expect(OK).stdout;
    assert_table(&table);
    assert!(table.contains("Okta sync") && table.contains(&client_id));
    for key in ["Okta sync", client_id.as_str(), app_id.as_str()] {
        let shown = remote(&["apps", "show", key, "--output", "json"])
            .expect(OK)
            .json();
        assert_eq!(shown["id"], app_id.as_str());
    }
    assert_table(&remote(&["apps", "show", "Okta sync"]).expect(OK).stdout);
    remote(&["apps", "show", "nope"]).expect(NOT_FOUND);

    // SCIM on, then a token to a 0600 file; the token works and is in no process's argv.
    let on = remote(&["apps", "scim", "Okta sync", "on", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(on["scim_enabled"], true);
    let token_file = home.path("okta.token");
    let issued = {
        let token_file = token_file.clone();
        let mut args = vec![
            "token",
            "issue",
            "Okta sync",
            "--out",
            "okta.token",
            "--output",
            "json",
        ];
        args.extend(["--server", &url]);
        home.run_watched(&args, &move || {
            std::fs::read_to_string(&token_file)
                .map(|t| vec![t.trim().to_owned()])
                .unwrap_or_default()
        })
        .expect(OK)
    };
    let meta = issued.json();
    assert_eq!(meta["state"], "active");
    assert_eq!(mode(&token_file), 0o600);
    let token = read_secret(&token_file);
    assert!(!issued.stdout.contains(&token));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = devconsole::client::ConsoleClient::new(&url).unwrap();
    let (status, _) = rt
        .block_on(client.test_scim_token(&secrecy::SecretString::from(token.clone())))
        .unwrap();
    assert_eq!(status, 200);
    // A scripted sync: a create and a failing create show in `activity`.
    let scim_user = |name: &str| {
        rt.block_on(
            reqwest::Client::new()
                .post(format!("{url}/scim/v2/Users"))
                .bearer_auth(&token)
                .json(&serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name
                }))
                .send(),
        )
        .unwrap()
        .status()
        .as_u16()
    };
    assert_eq!(scim_user("ada@example.com"), 201);
    assert_eq!(scim_user("ada@example.com"), 409);
    let activity = remote(&["activity", "--app", "Okta sync", "--output", "json"])
        .expect(OK)
        .json();
    let ops: Vec<(String, u64)> = activity
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "create")
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(ops.contains(&("ada@example.com".into(), 201)), "{activity}");
    assert!(ops.contains(&("ada@example.com".into(), 409)), "{activity}");
    let failed = remote(&["activity", "--failed", "--output", "json"])
        .expect(OK)
        .json();
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "failure")
    );
    assert!(failed.as_array().unwrap().iter().any(|e| e["status"] == 409));
    assert_table(&remote(&["activity"]).expect(OK).stdout);

    // A second issue conflicts with the active token and creates no file.
    remote(&["token", "issue", "Okta sync", "--out", "again.token"]).expect(CONFLICT);
    assert!(!home.path("again.token").exists());
    // --out - is for pipes only; here stdout is a pipe, so it is allowed, but not with JSON.
    remote(&["token", "issue", "Okta sync", "--out", "-", "--output", "json"]).expect(USAGE);

    let status = remote(&["token", "status", "okta sync", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(status["state"], "active");
    assert!(status.get("token").is_none());
    assert_table(&remote(&["token", "status", "Okta sync"]).expect(OK).stdout);

    // Expiry monitoring: nothing within 14 days; a token aged 80 days is found (exit 1).
    let none = remote(&["tokens", "expiring", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(none, Value::Array(vec![]));
    age_token(server.db.url(), 80);
    let found = remote(&["tokens", "expiring", "--within", "14d", "--output", "json"]).expect(CHECK_FAILED);
    let found = found.json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["client_id"], client_id.as_str());
    assert_eq!(found[0]["token"]["state"], "active");
    let table = remote(&["tokens", "expiring"]).expect(CHECK_FAILED).stdout;
    assert_table(&table);
    assert!(
        table.contains("Okta sync") && (table.contains("(9d)") || table.contains("(10d)")),
        "{table}"
    );
    remote(&["tokens", "expiring", "--within", "5d"]).expect(OK);
    remote(&["tokens", "expiring", "--within", "soon"]).expect(USAGE);

    // Members; permission errors for others.
    let members = remote(&[
        "apps",
        "members",
        "Okta sync",
        "--set",
        "alice,bob",
        "--output",
        "json",
    ])
    .expect(OK)
    .json();
    assert_eq!(members["members"], serde_json::json!(["alice", "bob"]));
    remote(&["apps", "members", "Okta sync", "--set", "carol"]).expect(USAGE);
    let carol = Home::new();
    login(&carol, &server, "carol");
    carol.run(&["apps", "list", "--server", &url]).expect(PERMISSION);

    // Destructive commands refuse without --yes when there is no terminal, changing nothing.
    remote(&["token", "revoke", "Okta sync"]).expect(USAGE);
    remote(&["apps", "delete", "Okta sync"]).expect(USAGE);
    remote(&["apps", "scim", "Okta sync", "off"]).expect(USAGE);
    let still = remote(&["token", "status", "Okta sync", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(still["state"], "active");

    // Client secret: reissued to a file; the old secret stops working, the new one works.
    let reissued =
        remote(&["apps", "secret", "Okta sync", "--reissue", "--out", "okta.secret"]).expect(CONFLICT);
    assert!(reissued.stderr.contains("--force"));
    assert_eq!(
        read_secret(&secret_file),
        first_secret,
        "a refused --out reissued nothing"
    );
    home.run_watched(
        &[
            "apps",
            "secret",
            "Okta sync",
            "--reissue",
            "--out",
            "okta.secret",
            "--force",
            "--server",
            &url,
        ],
        &file_secret(&secret_file),
    )
    .expect(OK);
    assert_eq!(mode(&secret_file), 0o600);
    let second_secret = read_secret(&secret_file);
    assert_ne!(second_secret, first_secret);
    let piped = remote(&["apps", "secret", "Okta sync", "--reissue", "--out", "-"]).expect(OK);
    let third_secret = piped.stdout.trim().to_owned();
    assert_eq!(piped.stdout.lines().count(), 1, "stdout carries only the secret");
    let oauth = |s: &str| {
        rt.block_on(client.client_credentials_token(&client_id, &secrecy::SecretString::from(s.to_owned())))
    };
    // The old secret is an invalid client; the new one is accepted (and refused a second
    // token only because the app already has an active one).
    assert_eq!(oauth(&second_secret).unwrap_err().code(), Some("invalid_client"));
    let third = oauth(&third_secret).unwrap_err();
    assert!(third.to_string().contains("active long-lived token"), "{third:?}");

    // Revoke, SCIM off, audit, delete.
    remote(&["token", "revoke", "Okta sync", "--yes"]).expect(OK);
    let revoked = remote(&["token", "status", "Okta sync", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(revoked["state"], "revoked");
    let off = remote(&["apps", "scim", "Okta sync", "off", "--yes", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(off["scim_enabled"], false);
    let audit = remote(&["audit", "--app", "Okta sync", "--since", "1h", "--output", "json"])
        .expect(OK)
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "app.create",
        "token.issue",
        "token.revoke",
        "app.client_secret.reissue",
    ] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["app_name"] == "Okta sync")
    );
    let future = remote(&["audit", "--since", "2999-01-01T00:00:00Z", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(future, Value::Array(vec![]));
    assert_table(&remote(&["audit", "--limit", "5"]).expect(OK).stdout);
    remote(&["apps", "delete", "Okta sync", "--yes"]).expect(OK);
    remote(&["apps", "show", "Okta sync"]).expect(NOT_FOUND);

    // admin acts locally and refuses a server rather than ignoring it.
    let admin = home.run(&["admin", "list", "--server", &url]);
    assert_eq!(admin.code, USAGE);
    assert!(admin.stderr.contains("--server"), "{}", admin.stderr);

    // Log out: the session ends on the server and the file is gone.
    home.run(&["logout", "--server", &url]).expect(OK);
    assert!(!sessions[0].exists());
    remote(&["apps", "list"]).expect(AUTH);

    // No secret in any log: the server's (at TRACE) or the CLI's (at TRACE).
    let logs = format!("{}\n{}", server.log(), home.stderr.lock().unwrap());
    assert!(
        logs.contains("DEBUG") || logs.contains("TRACE"),
        "logs were captured"
    );
    for secret in [
        &first_secret,
        &second_secret,
        &third_secret,
        &token,
        &session,
        &PASSWORD.to_owned(),
    ] {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
    }
}

/// The same commands with no server configured: the embedded server on the local data dir.
#[test]
fn embedded_server_end_to_end() {
    let home = Home::new();
    home.run(&["apps", "list", "--output", "json"]).expect(OK);
    let secret_file = home.path("entra.secret");
    let created = home
        .run_watched(
            &[
                "apps",
                "create",
                "--name",
                "Entra",
                "--out",
                "entra.secret",
                "--output",
                "json",
            ],
            &file_secret(&secret_file),
        )
        .expect(OK)
        .json();
    assert_eq!(created["created_by"], "(local)");
    assert_eq!(mode(&secret_file), 0o600);
    let first_secret = read_secret(&secret_file);
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let app_id = created["id"].as_str().unwrap().to_owned();
    // Show by name, client ID and id.
    for key in ["Entra", client_id.as_str(), app_id.as_str()] {
        let shown = home
            .run(&["apps", "show", key, "--output", "json"])
            .expect(OK)
            .json();
        assert_eq!(shown["id"], app_id.as_str());
    }
    assert_table(&home.run(&["apps", "show", "Entra"]).expect(OK).stdout);
    home.run(&["apps", "show", "Okta"]).expect(NOT_FOUND);
    // Members: an admin made with `admin create` on the same local database.
    home.run_with_stdin(
        &[
            "admin",
            "create",
            "bob",
            "--role",
            "developer",
            "--password-stdin",
        ],
        PASSWORD,
    )
    .expect(OK);
    let members = home
        .run(&["apps", "members", "Entra", "--set", "bob", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(members["members"], serde_json::json!(["bob"]));
    home.run(&["apps", "members", "Entra", "--set", "nobody"])
        .expect(USAGE);
    let list = home.run(&["apps", "list", "--output", "json"]).expect(OK).json();
    assert!(find_app(&list, "Entra").is_some());
    home.run(&["token", "issue", "Entra", "--out", "entra.token"])
        .expect(CONFLICT); // SCIM is off
    assert!(!home.path("entra.token").exists());
    home.run(&["apps", "scim", "Entra", "on"]).expect(OK);
    let token_file = home.path("entra.token");
    let tf = token_file.clone();
    home.run_watched(&["token", "issue", "Entra", "--out", "entra.token"], &move || {
        std::fs::read_to_string(&tf)
            .map(|t| vec![t.trim().to_owned()])
            .unwrap_or_default()
    })
    .expect(OK);
    assert_eq!(mode(&token_file), 0o600);
    let token = read_secret(&token_file);
    home.run(&["token", "issue", "Entra", "--out", "entra.token", "--force"])
        .expect(CONFLICT);
    assert_eq!(
        read_secret(&token_file),
        token,
        "a refused issue leaves the file alone"
    );

    home.run(&["tokens", "expiring"]).expect(OK);

    // A provider syncs against `serve` on the same database; the embedded CLI then finds each
    // call in `activity`.
    scim_sync_against_serve(&home, &token);
    let activity = home
        .run(&["activity", "--app", "Entra", "--output", "json"])
        .expect(OK)
        .json();
    let calls: Vec<(String, u64, String)> = activity
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
                e["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("patch".to_owned(), 200, "active: false".to_owned()),
            ("create".to_owned(), 409, calls[1].2.clone()),
            ("create".to_owned(), 201, String::new()),
        ],
        "{activity}"
    );
    assert!(!calls[1].2.is_empty(), "the SCIM error detail is kept");
    let failed = home
        .run(&["activity", "--failed", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["status"], 409);
    assert_table(&home.run(&["activity"]).expect(OK).stdout);

    // The client secret: reissued to the file (--force), 0600, a new value.
    home.run(&["apps", "secret", "Entra", "--reissue", "--out", "entra.secret"])
        .expect(CONFLICT);
    assert_eq!(read_secret(&secret_file), first_secret);
    home.run_watched(
        &[
            "apps",
            "secret",
            "Entra",
            "--reissue",
            "--out",
            "entra.secret",
            "--force",
        ],
        &file_secret(&secret_file),
    )
    .expect(OK);
    assert_eq!(mode(&secret_file), 0o600);
    let second_secret = read_secret(&secret_file);
    assert_ne!(second_secret, first_secret);

    age_token(&home.db(), 85);
    let found = home
        .run(&["tokens", "expiring", "--output", "json"])
        .expect(CHECK_FAILED)
        .json();
    assert_eq!(found[0]["name"], "Entra");

    let status = home
        .run(&["token", "status", "Entra", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(status["state"], "active");
    home.run(&["apps", "scim", "Entra", "off"]).expect(USAGE);
    home.run(&["token", "revoke", "Entra", "--yes"]).expect(OK);
    home.run(&["tokens", "expiring"]).expect(OK);
    let off = home
        .run(&["apps", "scim", "Entra", "off", "--yes", "--output", "json"])
        .expect(OK)
        .json();
    assert_eq!(off["scim_enabled"], false);
    let audit = home
        .run(&["audit", "--app", "Entra", "--since", "1h", "--output", "json"])
        .expect(OK)
        .json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "app.create",
        "token.issue",
        "token.revoke",
        "app.client_secret.reissue",
    ] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(audit.as_array().unwrap().iter().all(|e| e["app_name"] == "Entra"));
    assert_table(&home.run(&["audit", "--limit", "3"]).expect(OK).stdout);
    home.run(&["apps", "delete", "Entra", "--yes"]).expect(OK);
    let list = home.run(&["apps", "list", "--output", "json"]).expect(OK).json();
    assert!(find_app(&list, "Entra").is_none());
    // Login and logout are for remote servers.
    home.run(&["login"]).expect(USAGE);
    home.run(&["logout"]).expect(USAGE);

    // Each run's one-off local session is ended when the command finishes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sessions: i64 = rt.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = home
            .db()
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(sessions, 0);
    let logs = home.stderr.lock().unwrap().clone();
    for secret in [&token, &first_secret, &second_secret] {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
    }
}

/// `devconsole serve` on the embedded database for a moment: a provider's sync (a create, a
/// failing create, a deactivation) with `token`, then a graceful stop (SIGTERM), which writes
/// the queued activity.
fn scim_sync_against_serve(home: &Home, token: &str) {
    let mut serve = common::ServeProcess::spawn_on(&home.db(), &[], |c| {
        c.env_remove("DEVCONSOLE_DATABASE_URL");
    })
    .ready();
    let listen = serve.listen.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let scim = format!("http://{listen}/scim/v2");
        let user = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com"
        });
        let created = http
            .post(format!("{scim}/Users"))
            .bearer_auth(token)
            .json(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let dup = http
            .post(format!("{scim}/Users"))
            .bearer_auth(token)
            .json(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(dup.status(), 409);
        let off = http
            .patch(format!("{scim}/Users/{id}"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": false}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(off.status(), 200);
    });
    assert_eq!(unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) }, 0);
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "serve stopped cleanly: {status:?}");
}

#[test]
fn completions_man_page_and_usage_errors() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = home.run(&["completions", shell]).expect(OK);
        assert!(
            out.stdout.contains("devconsole") && out.stdout.contains("expiring"),
            "{shell}"
        );
    }
    let man = home.run(&["man"]).expect(OK);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH"),
        "{}",
        &man.stdout[..200]
    );
    assert!(man.stdout.contains("tokens"));
    home.run(&["completions", "tcsh"]).expect(USAGE);
    home.run(&["apps", "frobnicate"]).expect(USAGE);
    home.run(&["serve", "--server", "http://127.0.0.1:1"])
        .expect(USAGE);
    home.run(&["apps", "list", "--server", "http://x", "--profile", "p"])
        .expect(USAGE);
    home.run(&["apps", "list", "--profile", "missing"]).expect(USAGE);
}
