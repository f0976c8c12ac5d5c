//! The console as admins run it in the field: inside a real tmux server (isolated socket, no
//! user config), on jump hosts with stock options. Every wait is for something on screen.

use base64::Engine as _;
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod tui_support;

use tui_support::{BIN, deadline, find};

/// Bytes an attached tmux client received.
type Output_ = Arc<Mutex<Vec<u8>>>;

/// A private tmux server running the console in session `main`, window 0, pane 0.
struct Tmux {
    sock: String,
    home: PathBuf,
    client: Option<(Box<dyn Child + Send + Sync>, Output_)>,
}

struct Opts<'a> {
    /// Extra tmux.conf lines (`set -g set-clipboard on`, ...).
    conf: &'a str,
    /// config.toml for the console.
    config: &'a str,
    env: &'a [(&'a str, &'a str)],
    args: &'a [&'a str],
    size: (u16, u16),
    /// Run an interactive shell (prompt `shell$ `, job control on) instead of the console.
    shell: bool,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Opts {
            conf: "",
            config: "",
            env: &[],
            args: &[],
            size: (100, 30),
            shell: false,
        }
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Tmux {
    fn start(home: &Path, o: Opts) -> Tmux {
        let sock = format!(
            "tf-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        std::fs::create_dir_all(home.join("config")).unwrap();
        std::fs::write(home.join("config/config.toml"), o.config).unwrap();
        let conf = home.join("tmux.conf");
        std::fs::write(
            &conf,
            format!(
                "set -g remain-on-exit on\nset -g status off\nset -g history-limit 100\n{}\n",
                o.conf
            ),
        )
        .unwrap();
        let t = Tmux {
            sock,
            home: home.to_path_buf(),
            client: None,
        };
        let mut cmd = vec![
            "-f".to_owned(),
            conf.display().to_string(),
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            "main".into(),
            "-c".into(),
            home.display().to_string(),
            "-x".into(),
            o.size.0.to_string(),
            "-y".into(),
            o.size.1.to_string(),
        ];
        let mut env = vec![
            (
                "DEVCONSOLE_DATA_DIR".to_owned(),
                home.join("data").display().to_string(),
            ),
            (
                "DEVCONSOLE_CONFIG_DIR".to_owned(),
                home.join("config").display().to_string(),
            ),
        ];
        env.extend(o.env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for (k, v) in &env {
            cmd.push("-e".into());
            cmd.push(format!("{k}={v}"));
        }
        cmd.push("--".into());
        if o.shell {
            cmd.extend(["env".into(), "PS1=shell$ ".into(), "bash".into()]);
            cmd.extend(["--norc".into(), "--noprofile".into(), "-i".into()]);
        } else {
            cmd.push(BIN.into());
            cmd.extend(o.args.iter().map(|s| s.to_string()));
        }
        let out = t.run(&cmd.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-u", "-L", &self.sock]);
        // The server inherits this environment: nothing from the developer's desktop or session.
        c.env_clear();
        c.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        c.env("HOME", &self.home);
        c.env("TERM", "xterm-256color");
        c.env("LANG", "C.UTF-8");
        c.env("TMUX_TMPDIR", &self.home);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run tmux")
    }

    /// Types text literally.
    fn keys(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "main", "-l", text]);
        assert!(out.status.success(), "{out:?}");
    }

    /// Presses named keys: "Enter", "Space", "Tab", "C-c".
    fn key(&self, name: &str) {
        let out = self.run(&["send-keys", "-t", "main", name]);
        assert!(out.status.success(), "{out:?}");
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout).into_owned()
    }

    /// The screen with wrapped lines joined, as tmux copy mode selects them; the same on two
    /// captures in a row, so never a frame tmux is half-way through drawing (every frame
    /// rewrites the unwrapped secret's row).
    fn screen_joined(&self) -> String {
        let capture = || {
            String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-J", "-t", "main"]).stdout)
                .into_owned()
        };
        let mut last = capture();
        loop {
            std::thread::sleep(Duration::from_millis(25));
            let screen = capture();
            if screen == last {
                return screen;
            }
            last = screen;
        }
    }

    fn pane_dead(&self) -> bool {
        let out = self.run(&["display", "-p", "-t", "main", "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Waits until the screen satisfies `ok` on two captures in a row, the same both times:
    /// tmux 3.3 draws a frame as it reads it, so one capture can catch a frame half-drawn.
    fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline();
        let mut last: Option<String> = None;
        loop {
            let screen = self.screen();
            if ok(&screen) && last.as_ref() == Some(&screen) {
                return screen;
            }
            last = ok(&screen).then(|| screen.clone());
            if self.pane_dead() {
                // Nothing more will be drawn.
                if last.is_some() {
                    return screen;
                }
                panic!(
                    "devconsole exited while waiting for {what}; screen:\n{screen}\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; screen:\n{screen}\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The end of the console's log, for a failure message: what it was waiting on.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.home.join("data/devconsole.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "devconsole.log (last lines):\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |s| s.contains(text))
    }

    fn wait_dead(&self) {
        let end = Instant::now() + deadline();
        while !self.pane_dead() {
            assert!(
                Instant::now() < end,
                "devconsole did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Attaches a client on a pseudo-terminal, standing in for the admin's terminal: what tmux
    /// sends to the outer terminal (OSC 52 included) is collected.
    fn attach(&mut self, size: (u16, u16)) {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: size.1,
                cols: size.0,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new("tmux");
        cmd.args(["-u", "-L", &self.sock, "attach", "-t", "main"]);
        cmd.env_clear();
        cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        cmd.env("HOME", &self.home);
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("TMUX_TMPDIR", &self.home);
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let raw = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let r = raw.clone();
        std::thread::spawn(move || {
            let _keep = pair.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                r.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        self.client = Some((child, raw));
        // Wait until the client is attached.
        let end = Instant::now() + deadline();
        loop {
            let out = self.run(&["list-clients", "-t", "main"]);
            if !out.stdout.is_empty() {
                break;
            }
            assert!(Instant::now() < end, "tmux client did not attach");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn client_raw(&self) -> Vec<u8> {
        self.client
            .as_ref()
            .map(|(_, r)| r.lock().unwrap().clone())
            .unwrap_or_default()
    }

    fn buffer(&self, name: Option<&str>) -> Option<String> {
        let mut args = vec!["show-buffer"];
        if let Some(n) = name {
            args.extend(["-b", n]);
        }
        let out = self.run(&args);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if let Some((mut child, _)) = self.client.take() {
            let _ = child.kill();
        }
        let _ = self.run(&["kill-server"]);
    }
}

/// Every OSC 52 payload in `raw`, decoded.
fn osc52_payloads(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&raw[from..], b"\x1b]52;") {
        let start = from + at + 5;
        let semi = start + raw[start..].iter().position(|b| *b == b';').unwrap() + 1;
        let Some(len) = raw[semi..].iter().position(|b| *b == 0x07 || *b == 0x1b) else {
            break;
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&raw[semi..semi + len])
            .unwrap_or_default();
        out.push(String::from_utf8_lossy(&bytes).into_owned());
        from = semi + len;
    }
    out
}

/// Embedded console: add an app, close its client secret, enable SCIM, issue a token, and
/// return the token as tmux copy mode selects the unwrapped display (one line, no breaks).
fn issue_token(t: &Tmux) -> String {
    t.wait_for("No client apps yet");
    t.keys("a");
    t.wait_for("Provisioning management");
    t.keys("Okta sync");
    t.key("Enter");
    t.wait_for("This client secret is shown only once");
    t.key("Space");
    t.key("Enter");
    t.wait_for("Issue (disabled: SCIM is off");
    t.keys("s");
    t.wait_for("Switch Enable SCIM on");
    t.keys("y");
    t.wait_for("[ ON  ]");
    t.keys("i");
    t.wait_for("This token is shown only once");
    t.keys("u");
    t.wait_for("Shown unwrapped");
    let joined = t.screen_joined();
    let line = joined
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("eyJ"))
        .unwrap_or_else(|| panic!("no unwrapped token line:\n{joined}"));
    assert_eq!(line.split('.').count(), 3, "one JWT on one line: {line}");
    assert!(
        line.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "nothing but the token on its line: {line:?}"
    );
    line.to_owned()
}

#[test]
fn tmux_default_options_copy_goes_to_a_named_buffer_and_is_verified() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Tmux::start(home.path(), Opts::default());
    t.attach((100, 30));
    let token = issue_token(&t);
    t.keys("y");
    let screen = t.wait_for("Copied to tmux buffer devconsole");
    assert!(screen.contains("verified"), "{screen}");
    assert_eq!(t.buffer(Some("devconsole")).as_deref(), Some(token.as_str()));
    // `load-buffer -w` also set the outer terminal's clipboard, through tmux.
    let end = Instant::now() + deadline();
    while !osc52_payloads(&t.client_raw()).contains(&token) {
        assert!(
            Instant::now() < end,
            "tmux sent no OSC 52 with the token to its client"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(screen.contains("Clipboard clears in"), "{screen}");
}

#[test]
fn tmux_set_clipboard_on_takes_plain_osc52_into_a_buffer() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        home.path(),
        Opts {
            conf: "set -g set-clipboard on",
            config: "clipboard = \"osc52\"\n",
            ..Opts::default()
        },
    );
    let token = issue_token(&t);
    t.keys("y");
    t.wait_for("Sent via OSC 52 to tmux");
    let end = Instant::now() + deadline();
    while t.buffer(None).as_deref() != Some(token.as_str()) {
        assert!(
            Instant::now() < end,
            "tmux's newest buffer is {:?}",
            t.buffer(None)
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn tmux_passthrough_on_forwards_osc52_to_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Tmux::start(
        home.path(),
        Opts {
            conf: "set -g allow-passthrough on",
            config: "clipboard = \"osc52\"\n",
            ..Opts::default()
        },
    );
    t.attach((100, 30));
    let token = issue_token(&t);
    let before = t.client_raw().len();
    t.keys("y");
    t.wait_for("Sent via OSC 52 through tmux passthrough");
    let end = Instant::now() + deadline();
    loop {
        let raw = t.client_raw();
        if osc52_payloads(&raw[before..]).contains(&token) {
            break;
        }
        assert!(
            Instant::now() < end,
            "no OSC 52 with the token reached the terminal"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(
        t.buffer(Some("devconsole")),
        None,
        "osc52 mode leaves tmux buffers alone"
    );
}

#[test]
fn shrinking_the_terminal_and_pressing_q_keeps_the_secret_modal() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        home.path(),
        Opts {
            size: (80, 24),
            ..Opts::default()
        },
    );
    issue_token(&t);
    let out = t.run(&["resize-window", "-t", "main", "-x", "60", "-y", "20"]);
    assert!(out.status.success(), "{out:?}");
    t.wait_for("a secret is open");
    t.keys("q");
    t.key("Escape");
    t.run(&["resize-window", "-t", "main", "-x", "80", "-y", "24"]);
    // The keys and the resize reach the console by different paths (the pty and SIGWINCH), in
    // either order: wait for the modal with the attempt to leave pointed out. Had q quit, the
    // pane would be dead and the wait would fail saying so.
    t.wait_until("the modal back, pointing out the attempt to leave", |s| {
        s.contains("This token is shown only once") && s.contains("Not closed")
    });
    assert!(!t.pane_dead(), "q quit past an open secret");
    // Ctrl-C asks once more, then quits.
    t.key("C-c");
    t.wait_for("Ctrl-C again quits");
    assert!(!t.pane_dead());
    t.key("C-c");
    t.wait_dead();
}

#[test]
fn write_refuses_to_overwrite_and_creates_a_private_file() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(home.path(), Opts::default());
    let token = issue_token(&t);
    // The console's working directory is tmux's: the test's home.
    let cwd = t.run(&["display", "-p", "-t", "main", "#{pane_current_path}"]);
    let dir = PathBuf::from(String::from_utf8_lossy(&cwd.stdout).trim());
    std::fs::write(dir.join("Okta_sync.token"), "keep me").unwrap();
    t.keys("w");
    t.wait_for("File name (new file, mode 0600): Okta_sync.token");
    t.key("Enter");
    t.wait_for("already exists and was left alone");
    assert_eq!(
        std::fs::read_to_string(dir.join("Okta_sync.token")).unwrap(),
        "keep me"
    );
    t.key("BSpace");
    t.key("BSpace");
    t.key("BSpace");
    t.key("BSpace");
    t.key("BSpace");
    t.keys("jwt");
    t.key("Enter");
    t.wait_for("(mode 0600)");
    let path = dir.join("Okta_sync.jwt");
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim_end(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(dir.join("Okta_sync.token"));
}

// ---- against a real `devconsole serve` ---------------------------------------------------

mod common;

const PASSWORD: &str = "correct-horse-battery";

struct Server {
    process: common::ServeProcess,
    db: common::TestDb,
}

fn server_with(user: &str, role: &str) -> Server {
    let db = common::TestDb::fresh();
    let out = db.create_admin_cli(user, role, PASSWORD);
    assert!(out.status.success(), "admin create failed: {out:?}");
    let process = common::ServeProcess::start(&db, &[]);
    Server { process, db }
}

fn scalar(db: &common::TestDb, sql: &'static str) -> i64 {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(db.scalar_i64(sql))
}

fn sign_in(t: &Tmux, user: &str) {
    t.wait_for("Sign in");
    t.keys(user);
    t.key("Tab");
    t.keys(PASSWORD);
    t.key("Enter");
}

#[test]
fn an_admin_without_developers_authority_is_told_why_not_loading_forever() {
    let home = tempfile::tempdir().unwrap();
    let server = server_with("bob", "admin");
    let url = server.process.url();
    let t = Tmux::start(
        home.path(),
        Opts {
            args: &["--server", &url],
            ..Opts::default()
        },
    );
    sign_in(&t, "bob");
    let screen = t.wait_for("has no Developers authority");
    assert!(
        screen.contains("super admin") && screen.contains("press r to retry"),
        "{screen}"
    );
    assert!(!screen.contains("Loading client apps"), "{screen}");
    // The console logs each failed request: the retry has been answered once a second one is.
    let failed = || {
        std::fs::read_to_string(home.path().join("data/devconsole.log"))
            .unwrap_or_default()
            .matches("request failed")
            .count()
    };
    let before = failed();
    assert!(before >= 1, "the refused load is logged");
    t.keys("r");
    let end = Instant::now() + deadline();
    while failed() == before {
        assert!(Instant::now() < end, "r sent no retry:\n{}", t.log_tail());
        std::thread::sleep(Duration::from_millis(25));
    }
    let screen = t.wait_for("has no Developers authority");
    assert!(!screen.contains("Loading client apps"), "{screen}");
}

#[test]
fn the_heartbeat_notices_a_dead_server_without_a_keypress() {
    let home = tempfile::tempdir().unwrap();
    let mut server = server_with("alice", "developer");
    let url = server.process.url();
    let t = Tmux::start(
        home.path(),
        Opts {
            args: &["--server", &url],
            ..Opts::default()
        },
    );
    sign_in(&t, "alice");
    t.wait_for("No client apps yet");
    t.wait_for("● online");
    server.process.kill();
    // No key is pressed: only the heartbeat can find out.
    let screen = t.wait_for("server unreachable");
    assert!(screen.contains("Lost the server"), "{screen}");
}

#[test]
fn quitting_ends_the_session_on_the_server_and_logout_keeps_the_username() {
    let home = tempfile::tempdir().unwrap();
    let server = server_with("alice", "developer");
    let url = server.process.url();
    let t = Tmux::start(
        home.path(),
        Opts {
            args: &["--server", &url],
            ..Opts::default()
        },
    );
    sign_in(&t, "alice");
    t.wait_for("No client apps yet");
    assert_eq!(scalar(&server.db, "SELECT count(*) FROM sessions"), 1);
    // Ctrl-O signs out: the session ends, the login screen keeps the username.
    t.key("C-o");
    let screen = t.wait_for("Signed out");
    assert!(screen.contains("Username  alice"), "{screen}");
    assert_eq!(scalar(&server.db, "SELECT count(*) FROM sessions"), 0);
    t.keys(PASSWORD);
    t.key("Enter");
    t.wait_for("No client apps yet");
    assert_eq!(scalar(&server.db, "SELECT count(*) FROM sessions"), 1);
    t.keys("q");
    t.wait_dead();
    assert_eq!(
        scalar(&server.db, "SELECT count(*) FROM sessions"),
        0,
        "quitting left the session alive on the server"
    );
}

/// A TCP relay that delays every chunk (a slow link), and can lose the reply to the first
/// token issue: the request reaches the server, the answer never reaches the console.
struct SlowLink {
    addr: String,
    /// Token issue requests that went through.
    issues: Arc<AtomicU32>,
}

impl SlowLink {
    fn start(upstream: String, delay: Duration, lose_first_issue_reply: bool) -> SlowLink {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::AtomicBool;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let lose = Arc::new(AtomicBool::new(lose_first_issue_reply));
        let issues = Arc::new(AtomicU32::new(0));
        let counted = issues.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                // A failed accept or connect loses that one connection (the console sees it
                // as a dropped link and retries), never the relay: under load either can fail.
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let cut = Arc::new(AtomicBool::new(false));
                let counted = counted.clone();
                let pump = |mut from: TcpStream,
                            mut to: TcpStream,
                            upward: bool,
                            cut: Arc<AtomicBool>,
                            lose: Arc<AtomicBool>| {
                    let counted = counted.clone();
                    std::thread::spawn(move || {
                        use std::io::Write;
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            std::thread::sleep(delay);
                            let chunk = &buf[..n];
                            if upward && find(chunk, b"POST ").is_some() && find(chunk, b"/token ").is_some()
                            {
                                counted.fetch_add(1, Ordering::SeqCst);
                            }
                            if upward
                                && find(chunk, b"POST ").is_some()
                                && find(chunk, b"/token ").is_some()
                                && lose.swap(false, Ordering::SeqCst)
                            {
                                cut.store(true, Ordering::SeqCst);
                            }
                            if !upward && cut.load(Ordering::SeqCst) {
                                // The reply is lost: drop the connection instead.
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                let _ = from.shutdown(std::net::Shutdown::Both);
                                break;
                            }
                            if to.write_all(chunk).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                };
                pump(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    true,
                    cut.clone(),
                    lose.clone(),
                );
                pump(server, client, false, cut, lose.clone());
            }
        });
        SlowLink { addr, issues }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Remote console through `link`: sign in, add an app, enable SCIM; on its manage page.
fn app_with_scim_on(t: &Tmux) {
    sign_in(t, "alice");
    t.wait_for("No client apps yet");
    t.keys("a");
    t.wait_for("Provisioning management");
    t.keys("Okta sync");
    t.key("Enter");
    t.wait_for("This client secret is shown only once");
    t.key("Space");
    t.key("Enter");
    t.wait_for("Issue (disabled: SCIM is off");
    t.keys("s");
    t.wait_for("Switch Enable SCIM on");
    t.keys("y");
    t.wait_for("[ ON  ]");
    t.wait_until("the spinner to stop", |s| {
        !s.contains("…  ") && s.contains("[i] Issue Long-lived Token")
    });
}

#[test]
fn issue_pressed_twice_on_a_slow_link_issues_once_without_an_error() {
    let home = tempfile::tempdir().unwrap();
    let server = server_with("alice", "developer");
    let link = SlowLink::start(server.process.listen.clone(), Duration::from_millis(300), false);
    let url = link.url();
    let t = Tmux::start(
        home.path(),
        Opts {
            args: &["--server", &url],
            ..Opts::default()
        },
    );
    app_with_scim_on(&t);
    t.keys("i");
    t.keys("i");
    let screen = t.wait_for("This token is shown only once");
    // One request through the same link after both presses (keys are handled in order): by
    // the time its answer is on screen, a second issue request would have been counted and
    // its 409 shown. A condition, not a sleep.
    t.keys("t");
    let screen_after = t.wait_until("the token test's answer", |s| {
        s.contains("HTTP ") || s.contains("test failed")
    });
    for s in [&screen, &screen_after] {
        assert!(
            !s.contains("409") && !s.contains("already"),
            "an error under the fresh token:\n{s}"
        );
    }
    assert_eq!(scalar(&server.db, "SELECT count(*) FROM dedicated_tokens"), 1);
    assert_eq!(
        link.issues.load(Ordering::SeqCst),
        1,
        "the second i sent a second request"
    );
}

#[test]
fn a_lost_issue_reply_is_found_out_and_revoke_and_reissue_recovers() {
    let home = tempfile::tempdir().unwrap();
    let server = server_with("alice", "developer");
    let link = SlowLink::start(server.process.listen.clone(), Duration::from_millis(20), true);
    let url = link.url();
    let t = Tmux::start(
        home.path(),
        Opts {
            args: &["--server", &url],
            ..Opts::default()
        },
    );
    app_with_scim_on(&t);
    t.keys("i");
    let screen = t.wait_for("this console never showed");
    assert!(screen.contains("Revoke it and issue a new one"), "{screen}");
    assert_eq!(
        scalar(&server.db, "SELECT count(*) FROM dedicated_tokens"),
        1,
        "the lost one"
    );
    t.keys("y");
    t.wait_for("This token is shown only once");
    assert_eq!(scalar(&server.db, "SELECT count(*) FROM dedicated_tokens"), 2);
    assert_eq!(
        scalar(
            &server.db,
            "SELECT count(*) FROM dedicated_tokens WHERE revoked_at IS NOT NULL"
        ),
        1,
        "the unseen token was revoked"
    );
}

// ---- terminals as they are ---------------------------------------------------------------

#[test]
fn lang_c_draws_ascii_and_80x23_is_enough() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        home.path(),
        Opts {
            env: &[("LANG", "C"), ("LC_ALL", "C")],
            size: (80, 23),
            ..Opts::default()
        },
    );
    let screen = t.wait_for("No client apps yet");
    assert!(!screen.contains("too small"), "80x23 is accepted:\n{screen}");
    assert!(screen.contains("+ Client apps (0) -"), "ASCII borders:\n{screen}");
    assert!(screen.is_ascii(), "nothing outside ASCII under LANG=C:\n{screen}");
    t.keys("q");
    t.wait_dead();
}

#[test]
fn without_a_terminal_the_console_says_so_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    for (term, stdin_tty_hint) in [("xterm-256color", "not a TTY"), ("dumb", "not a TTY")] {
        let out = Command::new(BIN)
            .env("TERM", term)
            .env("DEVCONSOLE_DATA_DIR", home.path().join("data"))
            .env("DEVCONSOLE_CONFIG_DIR", home.path().join("config"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains(stdin_tty_hint) && !err.contains(".rs:") && !err.contains('\x1b'),
            "{err}"
        );
    }
}

#[test]
fn ctrl_z_suspends_to_the_shell_and_fg_brings_the_console_back() {
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        home.path(),
        Opts {
            shell: true,
            ..Opts::default()
        },
    );
    t.wait_for("shell$");
    t.keys(BIN);
    t.key("Enter");
    t.wait_for("No client apps yet");
    // Leave something half done: the add form with a name typed.
    t.keys("a");
    t.wait_for("Provisioning management");
    t.keys("Okta sync");
    t.wait_for("Okta sync");
    t.key("C-z");
    let screen = t.wait_until("the shell's prompt after Ctrl-Z", |s| {
        s.contains("Stopped") && s.trim_end().ends_with("shell$")
    });
    // The main screen is back as the shell left it: none of the console is drawn on it.
    for gone in ["Okta sync", "Provisioning management", "devconsole  API"] {
        assert!(
            !screen.contains(gone),
            "{gone:?} left on the shell's screen:\n{screen}"
        );
    }
    t.keys("fg");
    t.key("Enter");
    // Redrawn in full, with the half-typed form as it was.
    let screen = t.wait_until("the console redrawn after fg", |s| {
        s.contains("Okta sync") && s.contains("Provisioning management") && s.contains("embedded")
    });
    assert!(!screen.contains("Stopped"), "{screen}");
    // And responsive: Enter creates the app.
    t.key("Enter");
    t.wait_for("This client secret is shown only once");
    t.key("Space");
    t.key("Enter");
    t.wait_for("Issue (disabled: SCIM is off");
    t.keys("q");
    // Prompts: the one that started it, the one `fg` was typed at, and a new one.
    t.wait_until("the shell's prompt after quitting", |s| {
        s.trim_end().ends_with("shell$") && s.matches("shell$").count() >= 3
    });
}

#[test]
fn ctrl_z_with_no_shell_to_return_to_leaves_the_console_running() {
    // The console is the pane's own process (`tmux new-session devconsole`): there is no job
    // control to come back from, so stopping must not happen (the kernel drops SIGTSTP for an
    // orphaned process group) and the console carries on, redrawn.
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(home.path(), Opts::default());
    t.wait_for("No client apps yet");
    t.key("C-z");
    t.keys("a");
    t.wait_for("Provisioning management");
    t.key("Escape");
    t.wait_for("No client apps yet");
    t.keys("q");
    t.wait_dead();
}
