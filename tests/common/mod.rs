//! The shared integration-test harness, in the style of zero2prod's `spawn_app`: the real
//! server (`server::start`) on 127.0.0.1:0 over a fresh temporary database per test, and helpers
//! to sign in, create apps and issue tokens the way a console user or SCIM client would.
//!
//! ```ignore
//! mod common;
//! let app = common::spawn_app().await;                        // system clock, default config
//! let app = common::app().clock(clock).configure(|c| c.scim_per_minute = 3).spawn().await;
//! let dev = app.signed_in("dev", Role::Developer).await;      // admin + logged-in ConsoleClient
//! let scim = common::scim_env().await;                       // + a SCIM-enabled app and its token
//! let serve = common::ServeProcess::start(&common::TestDb::fresh(), &[]);  // real `devconsole serve`
//! ```
//!
//! Backend: SQLite (a file in a temporary directory) by default. `DEVCONSOLE_TEST_DATABASE_URL`
//! (a PostgreSQL URL whose role may CREATE DATABASE) selects PostgreSQL: each test gets a new
//! database there, dropped when the test ends; see [`TestDb::fresh`] and `.ci/run`.
//!
//! Every test binary includes this module and uses a subset of it.
#![allow(dead_code)]

use devconsole::client::ConsoleClient;
use devconsole::clock::{Clock, ManualClock, SystemClock};
use devconsole::server::{self, RunningServer, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};
use uuid::Uuid;

/// The password of every admin the harness creates.
pub const PASSWORD: &str = "correct horse battery staple";
/// The real binary, for tests that run `devconsole serve` or admin commands as processes.
pub const BIN: &str = env!("CARGO_BIN_EXE_devconsole");

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// How long a test waits for a process to come up; CI machines are slower.
pub fn deadline() -> StdDuration {
    if std::env::var_os("CI").is_some() {
        StdDuration::from_secs(60)
    } else {
        StdDuration::from_secs(30)
    }
}

// ---------------------------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------------------------

/// Which backend this test run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server that `DEVCONSOLE_TEST_DATABASE_URL` names, if set.
fn postgres_admin_url() -> Option<String> {
    std::env::var("DEVCONSOLE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl Backend {
    /// SQLite unless `DEVCONSOLE_TEST_DATABASE_URL` is set.
    pub fn selected() -> Backend {
        if postgres_admin_url().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Runs a future to completion on a runtime of its own, on another thread, so it works from
/// synchronous tests and from inside a tokio test alike (and from `Drop`).
fn run_aside<T: Send>(f: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        })
        .join()
        .unwrap()
    })
}

/// A fresh, empty database that belongs to one test and disappears with it.
pub struct TestDb {
    backend: Backend,
    url: String,
    dir: tempfile::TempDir,
    /// PostgreSQL: the database this test created (dropped with it) and the admin URL.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A new database: a file in a new temporary directory on SQLite; on PostgreSQL, a new
    /// database (`CREATE DATABASE devconsole_test_…`) on the server `DEVCONSOLE_TEST_DATABASE_URL`
    /// names, whose role needs CREATEDB.
    pub fn fresh() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match postgres_admin_url() {
            None => TestDb {
                backend: Backend::Sqlite,
                url: format!("sqlite://{}", dir.path().join("console.db").display()),
                dir,
                postgres: None,
            },
            Some(admin) => {
                let name = format!("devconsole_test_{}", Uuid::new_v4().simple());
                let create = format!("CREATE DATABASE \"{name}\"");
                run_aside(async {
                    use sqlx::{Connection, Executor};
                    let mut c = sqlx::PgConnection::connect(&admin)
                        .await
                        .expect("connect to DEVCONSOLE_TEST_DATABASE_URL");
                    c.execute(sqlx::AssertSqlSafe(create))
                        .await
                        .expect("create the test database");
                    c.close().await.ok();
                });
                let mut url = reqwest::Url::parse(&admin).expect("DEVCONSOLE_TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    backend: Backend::Postgres,
                    url: url.to_string(),
                    dir,
                    postgres: Some((name, admin)),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What `--database` / `ServerConfig::database_url` takes.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The temporary directory of this test (the SQLite files live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite database file.
    pub fn sqlite_file(&self) -> PathBuf {
        self.dir.path().join("console.db")
    }

    /// The store, opened (and migrated) directly; close it when done.
    pub async fn store(&self) -> Store {
        Store::open(&self.url).await.expect("open the test database")
    }

    /// Creates an admin with [`PASSWORD`] straight in the store (no HTTP).
    pub async fn create_admin(&self, username: &str, role: Role, now: time::OffsetDateTime) {
        let store = self.store().await;
        let hash = server::hash_password(&SecretString::from(PASSWORD)).unwrap();
        store
            .create_admin(username, role, Some(&hash), now)
            .await
            .expect("create admin");
        store.close().await;
    }

    /// Runs one raw SQL statement, for tests that tamper with rows behind the server's back.
    /// Keep such SQL portable (it must run on every backend).
    pub async fn execute(&self, sql: &'static str) -> u64 {
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let done = sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
                done.rows_affected()
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let done = sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
                done.rows_affected()
            }
        }
    }

    /// A single integer from a raw query, e.g. `SELECT COUNT(*) FROM …`.
    pub async fn scalar_i64(&self, sql: &'static str) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&self.url).await.unwrap();
                let (value,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                value
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let (value,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                value
            }
        }
    }

    /// Every row of every table as text (PostgreSQL), for tests that look for secrets at rest.
    /// On SQLite, read the files under [`TestDb::dir`] instead: they include the WAL.
    pub async fn postgres_dump(&self) -> String {
        assert_eq!(self.backend, Backend::Postgres);
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut out = String::new();
        for (table,) in tables {
            let sql = format!("SELECT coalesce(string_agg(x::text, E'\\n'), '') FROM \"{table}\" x");
            let (text,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_one(&pool)
                .await
                .unwrap();
            out.push_str(&text);
            out.push('\n');
        }
        pool.close().await;
        out
    }

    /// `admin create NAME --role ROLE --password-stdin` with the real binary.
    pub fn create_admin_cli(&self, username: &str, role: &str, password: &str) -> std::process::Output {
        let mut child = std::process::Command::new(BIN)
            .args([
                "admin",
                "create",
                username,
                "--role",
                role,
                "--password-stdin",
                "--database",
                &self.url,
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run devconsole admin create");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((name, admin)) = self.postgres.take() {
            // FORCE: a server the test left running still holds connections.
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            run_aside(async move {
                use sqlx::{Connection, Executor};
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = c.execute(sqlx::AssertSqlSafe(drop)).await;
                    let _ = c.close().await;
                }
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The in-process server
// ---------------------------------------------------------------------------------------------

type Configure = Box<dyn FnOnce(&mut ServerConfig)>;

/// Options for [`TestApp`]; start with [`app`].
#[derive(Default)]
pub struct AppBuilder {
    clock: Option<ManualClock>,
    configure: Vec<Configure>,
}

/// A builder for a test server: `app().clock(c).configure(|c| …).spawn().await`.
pub fn app() -> AppBuilder {
    AppBuilder::default()
}

/// The real server on 127.0.0.1 over a fresh database, system clock, default settings.
pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

impl AppBuilder {
    /// Runs the server on this clock (tests move it with `advance`).
    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Tunes the server's configuration before it starts; kept across [`TestApp::restart`].
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig) + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let db = TestDb::fresh();
        let mut config = ServerConfig::new(db.url(), "127.0.0.1:0".parse().unwrap());
        if let Some(clock) = &self.clock {
            config.clock = Arc::new(clock.clone());
        }
        for f in self.configure {
            f(&mut config);
        }
        let server = server::start(config.clone()).await.expect("server starts");
        TestApp {
            db,
            config,
            clock: self.clock,
            server: Some(server),
            http: reqwest::Client::new(),
        }
    }
}

/// A running test server and its database. Call [`TestApp::shutdown`] at the end of a test
/// to close the database cleanly (dropping it leaves the server task to the runtime's end).
pub struct TestApp {
    pub db: TestDb,
    /// The configuration it runs with (listen is 127.0.0.1:0, so a restart gets a new port).
    pub config: ServerConfig,
    clock: Option<ManualClock>,
    server: Option<RunningServer>,
    pub http: reqwest::Client,
}

impl TestApp {
    /// The running server.
    pub fn server(&self) -> &RunningServer {
        self.server.as_ref().expect("the server is running")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server().base_url()
    }

    pub fn base_url(&self) -> String {
        self.url()
    }

    pub fn db_url(&self) -> &str {
        self.db.url()
    }

    /// The manual clock given to the builder.
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("this test app runs on the system clock; pass one with app().clock(…)")
    }

    /// The server's notion of now.
    pub fn now(&self) -> time::OffsetDateTime {
        match &self.clock {
            Some(c) => c.now(),
            None => SystemClock.now(),
        }
    }

    /// A second server on the same database and clock (another "instance"), tuned by `tune`;
    /// shut it down yourself.
    pub async fn sibling(&self, tune: impl FnOnce(&mut ServerConfig)) -> RunningServer {
        let mut config = self.config.clone();
        tune(&mut config);
        server::start(config).await.expect("second instance starts")
    }

    /// Stops the server (closing the database) and starts it again over the same database.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().shutdown().await.unwrap();
        self.server = Some(server::start(self.config.clone()).await.expect("server restarts"));
    }

    pub async fn shutdown(mut self) -> std::io::Result<()> {
        match self.server.take() {
            Some(s) => s.shutdown().await,
            None => Ok(()),
        }
    }

    /// Creates an admin with [`PASSWORD`].
    pub async fn admin(&self, username: &str, role: Role) {
        self.db.create_admin(username, role, self.now()).await;
    }

    /// Creates an admin and returns a signed-in client for them.
    pub async fn signed_in(&self, username: &str, role: Role) -> ConsoleClient {
        self.admin(username, role).await;
        self.login(username).await
    }

    /// Signs in an existing admin whose password is [`PASSWORD`].
    pub async fn login(&self, username: &str) -> ConsoleClient {
        let mut client = ConsoleClient::new(&self.url()).unwrap();
        client
            .login(username, SecretString::from(PASSWORD))
            .await
            .expect("login");
        client
    }

    /// A provisioning app made by `console`, SCIM switched on, and its Dedicated Token.
    pub async fn provisioning_app(&self, console: &ConsoleClient, name: &str) -> (Uuid, SecretString) {
        let app = console
            .create_app(name, "made by the test harness")
            .await
            .expect("create app")
            .app
            .id;
        console.enable_scim(app, true).await.expect("enable SCIM");
        let token = console.issue_token(app).await.expect("issue token").token;
        (app, token)
    }

    /// A raw console-style request; returns the status and the JSON body (Null when empty,
    /// a JSON string when the body is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        session: Option<&ConsoleClient>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.url()));
        if let Some(token) = session.and_then(|c| c.session()) {
            req = req.bearer_auth(token.expose_secret());
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }
}

// ---------------------------------------------------------------------------------------------
// A SCIM client's view: a server, a developer `dev`, an app with SCIM on and its token
// ---------------------------------------------------------------------------------------------

/// Everything a SCIM test needs. `server` is the [`TestApp`]; `app` the provisioning app's id.
pub struct ScimEnv {
    pub server: TestApp,
    pub console: ConsoleClient,
    pub app: Uuid,
    pub token: SecretString,
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT/scim/v2`
    pub scim: String,
}

/// A SCIM answer: status, headers and the JSON body (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// [`ScimEnv`] on the system clock with default settings.
pub async fn scim_env() -> ScimEnv {
    scim_env_with(app()).await
}

/// [`ScimEnv`] on a server built by `builder`.
pub async fn scim_env_with(builder: AppBuilder) -> ScimEnv {
    let server = builder.spawn().await;
    let console = server.signed_in("dev", Role::Developer).await;
    let (app, token) = server.provisioning_app(&console, "Directory sync").await;
    let scim = format!("{}/scim/v2", server.url());
    ScimEnv {
        server,
        console,
        app,
        token,
        http: reqwest::Client::new(),
        scim,
    }
}

impl ScimEnv {
    /// A request to `/scim/v2{path}` carrying the token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.scim))
            .bearer_auth(self.token.expose_secret())
    }

    /// Sends; every non-empty answer must be JSON with the SCIM media type.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        if !text.is_empty() {
            assert_eq!(
                headers[reqwest::header::CONTENT_TYPE],
                "application/scim+json",
                "{text}"
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, ops: Value) -> Answer {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        self.send(self.req(reqwest::Method::PATCH, path).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.req(reqwest::Method::DELETE, path)).await
    }

    /// POST /Users (the core schema is filled in); asserts 201 and returns the resource.
    pub async fn create_user(&self, body: Value) -> Value {
        let mut body = body;
        body["schemas"] = json!([USER]);
        let a = self.post("/Users", body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body
    }

    /// userNames matching a filter, sorted.
    pub async fn matching(&self, filter: &str) -> Vec<String> {
        let a = self
            .send(
                self.req(reqwest::Method::GET, "/Users")
                    .query(&[("filter", filter)]),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{filter}: {}", a.body);
        let mut names: Vec<String> = a.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }
}

// ---------------------------------------------------------------------------------------------
// The real `devconsole serve` as a process
// ---------------------------------------------------------------------------------------------

/// A free TCP port on 127.0.0.1, racy by nature: another test binding port 0 can take it before
/// it is used. Start servers with [`ServeProcess`] (port 0, announced) and use
/// `tui_support::ClosedPort` for an address where nothing listens.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `devconsole serve` on a free port; killed (and reaped) when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`, as the server announced it; known once [`ServeProcess::ready`] returns.
    pub listen: String,
    announced: Option<std::sync::mpsc::Receiver<String>>,
    /// The first lines the server wrote to stderr, for a failure message.
    stderr: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What `devconsole serve` prints once it is bound, before the address.
const LISTENING: &str = "devconsole server listening on ";

impl ServeProcess {
    /// Starts `devconsole serve --listen 127.0.0.1:0 --database URL EXTRA…` and waits until it
    /// is listening. Its stdout is discarded.
    pub fn start(db: &TestDb, extra: &[&str]) -> ServeProcess {
        Self::spawn(db, extra).ready()
    }

    /// Starts the process without waiting; call [`ServeProcess::ready`] (lets several start at
    /// the same moment).
    pub fn spawn(db: &TestDb, extra: &[&str]) -> ServeProcess {
        Self::spawn_on(db.url(), extra, |_| {})
    }

    /// `devconsole serve` over `database_url`, on a port the kernel picks as the server binds
    /// (`--listen 127.0.0.1:0`); [`ServeProcess::ready`] reads it from the server's own
    /// "listening on" line. A port picked here and bound later by the server could be taken in
    /// between by any other test binding port 0. `tune` adjusts the command (resource limits,
    /// environment) before it starts.
    pub fn spawn_on(
        database_url: &str,
        extra: &[&str],
        tune: impl FnOnce(&mut std::process::Command),
    ) -> ServeProcess {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", database_url])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        tune(&mut cmd);
        let mut child = cmd.spawn().expect("spawn devconsole serve");
        let pipe = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = stderr.clone();
        std::thread::spawn(move || {
            // Read to the end, whatever comes after the address: a full pipe would stall the
            // server's logging.
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.split(LISTENING).nth(1) {
                    let addr = url.rsplit("://").next().unwrap_or(url).trim().to_owned();
                    let _ = tx.send(addr);
                }
                let mut lines = lines.lock().unwrap();
                if lines.len() < 10_000 {
                    lines.push(line);
                }
            }
        });
        ServeProcess {
            child,
            listen: String::new(),
            announced: Some(rx),
            stderr,
        }
    }

    /// Waits until the server says it is listening, and where.
    pub fn ready(mut self) -> ServeProcess {
        use std::sync::mpsc::RecvTimeoutError;
        let announced = self.announced.take().expect("ready() is called once");
        match announced.recv_timeout(deadline()) {
            Ok(addr) => self.listen = addr,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().expect("reap devconsole serve");
                panic!(
                    "the server exited ({status}) before listening; stderr:\n{}",
                    self.stderr_lines()
                )
            }
            Err(RecvTimeoutError::Timeout) => panic!(
                "the server did not start listening within {:?}; stderr:\n{}",
                deadline(),
                self.stderr_lines()
            ),
        }
        self
    }

    fn stderr_lines(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until the server has logged a line containing `text` (its stderr, info and up).
    pub fn wait_for_log(&self, text: &str) {
        let end = Instant::now() + deadline();
        while !self.stderr.lock().unwrap().iter().any(|l| l.contains(text)) {
            assert!(
                Instant::now() < end,
                "the server never logged {text:?}; stderr:\n{}",
                self.stderr_lines()
            );
            std::thread::sleep(StdDuration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    pub fn kill(&mut self) {
        self.child.kill().expect("kill devconsole serve");
        self.child.wait().expect("reap devconsole serve");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
