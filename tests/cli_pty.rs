//! The scriptable CLI on a real terminal: the real `devconsole` binary in a pseudo-terminal
//! (portable-pty). What only a terminal shows: the typed confirmation of destructive commands,
//! the `login` password prompt (no echo; the password in no process's argv or environment),
//! `--out -` refusing a terminal, and colour (on a terminal, never with `NO_COLOR`).

mod common;

use common::{BIN, PASSWORD, TestDb, deadline};
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: u32 = 2;
const AUTH: u32 = 3;

/// One user's machine: data and config dirs.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs without a terminal (stdin closed, output piped); (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .env("DEVCONSOLE_DATA_DIR", self.path("data"))
            .env("DEVCONSOLE_CONFIG_DIR", self.path("config"))
            .env_remove("DEVCONSOLE_DATABASE_URL")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap()
    }

    fn pty(&self, args: &[&str], env: &[(&str, &str)]) -> Pty {
        Pty::spawn(args, self.dir.path(), env)
    }
}

/// A child on a pseudo-terminal; everything it writes is collected.
struct Pty {
    out: Arc<Mutex<Vec<u8>>>,
    /// Set once the reader saw the pty's end of file: everything written is in `out`.
    eof: Arc<std::sync::atomic::AtomicBool>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Pty {
    fn spawn(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.cwd(home);
        for k in ["NO_COLOR", "DEVCONSOLE_DATABASE_URL", "RUST_LOG"] {
            cmd.env_remove(k);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("DEVCONSOLE_DATA_DIR", home.join("data"));
        cmd.env("DEVCONSOLE_CONFIG_DIR", home.join("config"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let out = Arc::new(Mutex::new(Vec::new()));
        let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let (sink, done) = (out.clone(), eof.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let writer = pair.master.take_writer().unwrap();
        Pty {
            out,
            eof,
            writer,
            child,
            master: pair.master,
        }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for(&mut self, text: &str) {
        let end = Instant::now() + deadline();
        while !self.output().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                // It may have written the text just before exiting.
                self.wait_eof();
                assert!(
                    self.output().contains(text),
                    "exited ({status:?}) before {text:?}:\n{}",
                    self.output()
                );
                return;
            }
            assert!(Instant::now() < end, "no {text:?} in:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the terminal echoes what is typed (the slave's termios, read on the master).
    fn echoes(&self) -> bool {
        let fd = self.master.as_raw_fd().expect("a unix pty");
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    }

    /// Waits until the program has turned echo off (it prints its prompt just before).
    fn wait_echo_off(&mut self) {
        let end = Instant::now() + deadline();
        while self.echoes() {
            assert!(Instant::now() < end, "echo stayed on:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn type_line(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\r").unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits for the exit; the exit code and everything written.
    fn finish(mut self) -> (u32, String) {
        let end = Instant::now() + deadline();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < end, "did not exit:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(10));
        };
        // Let the reader drain what was written last.
        self.wait_eof();
        (status.exit_code(), self.output())
    }

    /// After the exit: waits until the reader has seen the pty's end of file, so the output
    /// is complete however far the reader thread lags under load.
    fn wait_eof(&self) {
        let end = Instant::now() + deadline();
        while !self.eof.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                Instant::now() < end,
                "the pty stayed open after the exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn app_names(home: &Home) -> Vec<String> {
    home.json(&["apps", "list", "--output", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

fn token_state(home: &Home, app: &str) -> String {
    home.json(&["token", "status", app, "--output", "json"])["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A destructive command without `--yes` asks on a terminal for the app's name: a wrong name
/// refuses (exit 2) and changes nothing; the right one proceeds.
#[test]
fn destructive_commands_ask_for_the_apps_name_on_a_terminal() {
    let home = Home::new();
    let (code, _, err) = home.run(&["apps", "create", "--name", "Okta sync", "--out", "okta.secret"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(home.run(&["apps", "scim", "Okta sync", "on"]).0, 0);
    assert_eq!(
        home.run(&["token", "issue", "Okta sync", "--out", "okta.token"])
            .0,
        0
    );

    // token revoke: wrong name, then the right one.
    let mut pty = home.pty(&["token", "revoke", "Okta sync"], &[]);
    pty.wait_for("Type Okta sync to confirm: ");
    pty.type_line("okta sync");
    let (code, out) = pty.finish();
    assert_eq!(code, USAGE, "{out}");
    assert!(out.contains("did not match; nothing was changed"), "{out}");
    assert_eq!(token_state(&home, "Okta sync"), "active");
    let mut pty = home.pty(&["token", "revoke", "Okta sync"], &[]);
    pty.wait_for("Type Okta sync to confirm: ");
    pty.type_line("Okta sync");
    let (code, out) = pty.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("revoked the token of Okta sync"), "{out}");
    assert_eq!(token_state(&home, "Okta sync"), "revoked");

    // apps scim off: an empty answer refuses.
    let mut pty = home.pty(&["apps", "scim", "Okta sync", "off"], &[]);
    pty.wait_for("to confirm: ");
    pty.type_line("");
    assert_eq!(pty.finish().0, USAGE);
    assert_eq!(
        home.json(&["apps", "show", "Okta sync", "--output", "json"])["scim_enabled"],
        true
    );

    // apps delete: a look-alike refuses; the exact name deletes.
    let mut pty = home.pty(&["apps", "delete", "Okta sync"], &[]);
    pty.wait_for("permanently delete app Okta sync");
    pty.wait_for("Type Okta sync to confirm: ");
    pty.type_line("Okta sync ");
    let (code, out) = pty.finish();
    assert_eq!(code, USAGE, "{out}");
    assert_eq!(app_names(&home), ["Okta sync"]);
    let mut pty = home.pty(&["apps", "delete", "Okta sync"], &[]);
    pty.wait_for("Type Okta sync to confirm: ");
    pty.type_line("Okta sync");
    let (code, out) = pty.finish();
    assert_eq!(code, 0, "{out}");
    assert!(app_names(&home).is_empty());
}

/// `--out -` writes a secret to stdout only when stdout is not a terminal; refused before any
/// request, so nothing is created, issued or reissued.
#[test]
fn out_dash_refuses_a_terminal_before_asking_the_server() {
    let home = Home::new();
    let pty = home.pty(&["apps", "create", "--name", "Entra", "--out", "-"], &[]);
    let (code, out) = pty.finish();
    assert_eq!(code, USAGE, "{out}");
    assert!(out.contains("refusing to print a secret to a terminal"), "{out}");
    assert!(app_names(&home).is_empty(), "no app was created");

    assert_eq!(
        home.run(&["apps", "create", "--name", "Entra", "--out", "entra.secret"])
            .0,
        0
    );
    let first = std::fs::read_to_string(home.path("entra.secret")).unwrap();
    assert_eq!(home.run(&["apps", "scim", "Entra", "on"]).0, 0);
    let (code, out) = home.pty(&["token", "issue", "Entra", "--out", "-"], &[]).finish();
    assert_eq!(code, USAGE, "{out}");
    assert!(out.contains("refusing to print a secret to a terminal"), "{out}");
    assert_eq!(
        home.json(&["apps", "show", "Entra", "--output", "json"])["token"],
        Value::Null,
        "no token was issued"
    );
    let (code, out) = home
        .pty(&["apps", "secret", "Entra", "--reissue", "--out", "-"], &[])
        .finish();
    assert_eq!(code, USAGE, "{out}");
    let audit = home.json(&["audit", "--app", "Entra", "--output", "json"]);
    assert!(
        !audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "app.client_secret.reissue"),
        "the secret was not reissued: {audit}"
    );
    assert_eq!(std::fs::read_to_string(home.path("entra.secret")).unwrap(), first);
}

/// Tables are coloured on a terminal, and not when NO_COLOR is set.
#[test]
fn tables_are_coloured_on_a_terminal_unless_no_color() {
    let home = Home::new();
    assert_eq!(
        home.run(&["apps", "create", "--name", "Entra", "--out", "s"]).0,
        0
    );
    let (code, out) = home.pty(&["apps", "list"], &[]).finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Entra") && out.contains("\x1b["), "{out:?}");
    let (code, out) = home.pty(&["apps", "list"], &[("NO_COLOR", "1")]).finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Entra") && !out.contains("\x1b["), "{out:?}");
}

/// Every process's argv, and `pid`'s environment.
fn process_table(pid: Option<u32>) -> String {
    let mut all = String::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
                all.push_str(&String::from_utf8_lossy(&bytes));
                all.push('\n');
            }
        }
    }
    if let Some(pid) = pid
        && let Ok(bytes) = std::fs::read(format!("/proc/{pid}/environ"))
    {
        all.push_str(&String::from_utf8_lossy(&bytes));
    }
    all
}

/// `devconsole login` on a terminal: asks for the username (echoed) and the password (not
/// echoed); the password is never in any process's argv or the CLI's environment; a wrong one
/// exits 3 and saves nothing; the right one saves the session.
#[test]
fn login_prompts_for_the_password_without_echo() {
    let db = TestDb::fresh();
    let out = db.create_admin_cli("alice", "developer", PASSWORD);
    assert!(out.status.success(), "{out:?}");
    let server = common::ServeProcess::start(&db, &[]);
    let url = server.url();
    let home = Home::new();
    let sessions = |home: &Home| {
        std::fs::read_dir(home.path("data"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("session-"))
                    .count()
            })
            .unwrap_or(0)
    };

    let wrong = "wrong horse battery staple";
    let mut pty = home.pty(&["login", "--server", &url], &[]);
    pty.wait_for("Username for ");
    pty.type_line("alice");
    pty.wait_for("Password for alice");
    pty.wait_echo_off();
    pty.type_line(wrong);
    let (code, out) = pty.finish();
    assert_eq!(code, AUTH, "{out}");
    assert!(out.contains("alice"), "the username is echoed: {out}");
    assert!(!out.contains(wrong), "the password was echoed: {out}");
    assert_eq!(sessions(&home), 0);

    let mut pty = home.pty(&["login", "--server", &url, "--username", "alice"], &[]);
    let pid = pty.child.process_id();
    pty.wait_for("Password for alice");
    pty.wait_echo_off();
    pty.type_line(PASSWORD);
    // Scan argv of every process and the CLI's environment while it signs in.
    let mut scans = 0;
    while pty.child.try_wait().unwrap().is_none() {
        assert!(
            !process_table(pid).contains(PASSWORD),
            "the password is in the process list"
        );
        scans += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let (code, out) = pty.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signed in to"), "{out}");
    assert!(!out.contains(PASSWORD), "the password was echoed: {out}");
    assert!(scans > 0 || sessions(&home) == 1);
    assert_eq!(sessions(&home), 1);
    // The saved session works.
    let (code, _, err) = home.run(&["apps", "list", "--server", &url]);
    assert_eq!(code, 0, "{err}");
}
