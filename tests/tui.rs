//! The real `devconsole` binary in a pseudo-terminal: embedded mode on a temporary data dir,
//! a panic that must restore the terminal, and a remote server killed mid-session.
//! Every wait is for something on screen (or the process exiting), with a generous deadline.

mod common;
mod tui_support;

use tui_support::{BIN, Term, find, jwt_on_screen, osc52_payload};

#[test]
fn add_app_enable_scim_issue_copy_and_restart() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Term::spawn(&[], home.path(), &[]);
    t.wait_for("No client apps yet");
    t.wait_for("embedded");

    // Add a provisioning app; its client secret is shown once.
    t.send("a");
    t.wait_for("Provisioning management");
    t.send("Okta sync");
    t.send("\t");
    t.send("Provision users from Okta");
    t.send("\r");
    t.wait_for("This client secret is shown only once");
    t.send(" ");
    t.send("\r");
    t.wait_for("1. Basic information");

    // Enable SCIM, confirming first.
    t.wait_for("Issue (disabled: SCIM is off");
    t.send("s");
    t.wait_for("Switch Enable SCIM on for Okta sync?");
    t.send("y");
    t.wait_for("[ ON  ]");

    // Issue the token: the modal shows a JWT.
    t.send("i");
    let screen = t.wait_for("This token is shown only once");
    let (jwt, rows) = jwt_on_screen(&screen).unwrap_or_else(|| panic!("no JWT on screen:\n{screen}"));
    assert!(jwt.starts_with("eyJ"), "{jwt}");

    // `y` sends it over OSC 52 (no DISPLAY here, so `auto` picks OSC 52).
    let before = t.raw().len();
    t.send("y");
    t.wait_for("Sent via OSC 52");
    let raw = t.wait_raw("an OSC 52 sequence", |r| osc52_payload(r, before).is_some());
    assert_eq!(
        osc52_payload(&raw, before).unwrap(),
        jwt,
        "OSC 52 carries exactly the token"
    );

    // Esc alone does not close it; acknowledging does, and the token is gone from the screen.
    t.send("\x1b");
    t.wait_for("Not closed");
    t.send(" ");
    t.send("\r");
    let screen = t.wait_until("the modal to close", |s| {
        !s.contains("Issue Long-lived Token") && s.contains("active · ")
    });
    assert!(!screen.contains(&jwt));
    for row in &rows {
        assert!(
            !screen.contains(row.as_str()),
            "a piece of the token is still on screen:\n{screen}"
        );
    }
    assert!(jwt_on_screen(&screen).is_none());

    // "Connect a provider": the embedded server's SCIM base URL, flagged as unreachable for a
    // provider, and `y` copies exactly that URL.
    t.send("p");
    let screen = t.wait_for("Connect a provider · Okta sync");
    let url = screen
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:") && w.ends_with("/scim/v2"))
        .unwrap_or_else(|| panic!("no SCIM base URL on screen:\n{screen}"))
        .to_owned();
    assert!(screen.contains("Loopback address"), "{screen}");
    let before = t.raw().len();
    t.send("y");
    let raw = t.wait_raw("an OSC 52 sequence", |r| osc52_payload(r, before).is_some());
    assert_eq!(osc52_payload(&raw, before).unwrap(), url);
    t.send("\x1b");
    t.wait_until("the panel to close", |s| !s.contains("Connect a provider"));

    t.send("q");
    assert!(t.wait_exit().success());
    drop(t);

    // Restart on the same data dir: the app is still listed, with an active token.
    let mut t = Term::spawn(&[], home.path(), &[]);
    let screen = t.wait_until("Okta sync with an active token", |s| {
        s.lines()
            .any(|l| l.contains("Okta sync") && l.contains("on") && l.contains("active · 90 d left"))
    });
    assert!(!screen.contains(&jwt));
    t.send("\x03");
    assert!(t.wait_exit().success(), "Ctrl-C quits cleanly");
    let log = std::fs::read_to_string(home.path().join("data/devconsole.log")).unwrap();
    assert!(!log.contains(&jwt), "the token is in the log");
}

#[test]
fn a_panic_in_a_spawned_task_restores_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Term::spawn(&[], home.path(), &[("DEVCONSOLE_TEST_PANIC", "1")]);
    let status = t.wait_exit();
    assert!(!status.success(), "a panic must exit non-zero: {status:?}");
    let raw = t.wait_raw("the panic report", |r| {
        find(r, b"test panic in a spawned task").is_some()
    });
    let entered = find(&raw, b"\x1b[?1049h").expect("entered the alternate screen");
    let left = find(&raw, b"\x1b[?1049l").expect("left the alternate screen");
    assert!(left > entered);
    let shown = raw[left..]
        .windows(6)
        .position(|w| w == b"\x1b[?25h")
        .or_else(|| find(&raw[..left], b"\x1b[?25h").filter(|i| *i > entered));
    assert!(shown.is_some(), "the cursor was shown again");
    let report = find(&raw, b"test panic in a spawned task").unwrap();
    assert!(
        report > left,
        "the report is printed after the terminal is restored"
    );
}

/// `devconsole serve` (tests/common) on a free port over a new database with one developer
/// admin, alice. The database lives as long as the server.
fn start_server(password: &str) -> (Server, String) {
    let db = common::TestDb::fresh();
    let out = db.create_admin_cli("alice", "developer", password);
    assert!(out.status.success(), "admin create failed");
    let process = common::ServeProcess::start(&db, &[]);
    let url = process.url();
    (Server { process, _db: db }, url)
}

struct Server {
    process: common::ServeProcess,
    _db: common::TestDb,
}

#[test]
fn killing_the_server_is_reported_and_the_console_keeps_running() {
    let home = tempfile::tempdir().unwrap();
    let password = "correct-horse-battery";
    let (mut server, url) = start_server(password);
    let mut t = Term::spawn(&["--server", &url], home.path(), &[]);
    t.wait_for("Sign in");
    t.send("alice\t");
    t.send(password);
    t.send("\r");
    t.wait_for("alice · Developers authority");
    t.wait_for("No client apps yet");

    server.process.kill();
    t.send("r");
    t.wait_for("server unreachable");
    t.wait_for("cannot reach the server");
    // Still responsive: the help overlay opens and closes.
    t.send("?");
    t.wait_for("Keys (from the live keymap)");
    t.send("?");
    t.wait_until("help to close", |s| !s.contains("Keys (from the live keymap)"));
    assert!(t.running(), "the console is still running");
    t.send("q");
    assert!(t.wait_exit().success(), "q quits cleanly");
}

#[test]
fn an_embedded_server_that_cannot_start_is_reported_and_r_retries() {
    let home = tempfile::tempdir().unwrap();
    // A directory where the database file should be: SQLite cannot open it.
    let blocker = home.path().join("data/console.db");
    std::fs::create_dir_all(&blocker).unwrap();
    let mut t = Term::spawn(&[], home.path(), &[]);
    t.wait_for("the embedded server did not start");
    t.wait_for("server unreachable");
    std::fs::remove_dir(&blocker).unwrap();
    t.send("r");
    t.wait_for("No client apps yet");
    t.wait_for("● online");
    t.send("q");
    assert!(t.wait_exit().success());
}

#[test]
fn an_unknown_config_key_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        "mouse = true\nclipbaord = \"osc52\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .env("DEVCONSOLE_DATA_DIR", home.path().join("data"))
        .env("DEVCONSOLE_CONFIG_DIR", home.path().join("config"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config.toml") && stderr.contains("clipbaord"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("\x1b[?1049h"),
        "the terminal was not touched"
    );
}

#[test]
fn a_profile_with_the_session_cache_skips_the_login_next_time() {
    let home = tempfile::tempdir().unwrap();
    let password = "correct-horse-battery";
    let (_server, url) = start_server(password);
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        format!("session_cache = true\n[profiles.lab]\nserver = \"{url}\"\nusername = \"alice\"\n"),
    )
    .unwrap();
    let mut t = Term::spawn(&["--profile", "lab"], home.path(), &[]);
    t.wait_for("profile lab");
    // The username is pre-filled and the password field has the focus.
    t.wait_until("the pre-filled login form", |s| {
        s.contains("Username  alice") && s.contains("▶ Password")
    });
    t.send(password);
    t.send("\r");
    t.wait_for("alice · Developers authority");
    t.wait_for("No client apps yet");
    t.send("q");
    assert!(t.wait_exit().success());
    drop(t);

    let cached: Vec<_> = std::fs::read_dir(home.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("session-"))
        .collect();
    assert_eq!(cached.len(), 1, "one cached session");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(cached[0].metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    let mut t = Term::spawn(&["--profile", "lab"], home.path(), &[]);
    let screen = t.wait_for("alice · Developers authority");
    assert!(
        !screen.contains("Password"),
        "signed in from the cache:\n{screen}"
    );
    t.wait_for("No client apps yet");
    t.send("q");
    assert!(t.wait_exit().success());
}

#[test]
fn no_color_resize_and_key_overrides() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(
        home.path().join("config/config.toml"),
        "[keys]\nquit = [\"ctrl-q\"]\n",
    )
    .unwrap();
    let mut t = Term::spawn(&[], home.path(), &[("NO_COLOR", "1")]);
    t.wait_for("No client apps yet");
    t.send("a");
    t.wait_for("Provisioning management");
    t.send("Colourless");
    t.send("\r");
    t.wait_for("This client secret is shown only once");
    t.send(" \r");
    t.wait_for("1. Basic information");
    t.send("\x1b");
    t.wait_until("the list with the new app selected", |s| {
        s.contains("▶ Colourless")
    });
    let raw = t.raw();
    assert!(find(&raw, b"\x1b[7m").is_some(), "selection uses reverse video");
    for colour in [
        &b"38;5;"[..],
        b"48;5;",
        b"\x1b[31m",
        b"\x1b[32m",
        b"\x1b[33m",
        b"\x1b[36m",
    ] {
        assert!(find(&raw, colour).is_none(), "a colour was sent with NO_COLOR");
    }

    // Below 70×23 only the notice is drawn, until the next resize.
    let from = t.raw().len();
    t.resize(20, 70);
    let screen = t.wait_for("terminal too small: 70×20, need 70×23");
    assert!(!screen.contains("Colourless"));
    t.resize(30, 100);
    t.wait_for("▶ Colourless");
    // The clears a resize brings are part of the next frame's synchronized update: no terminal
    // (and no test) sees a blank screen between two frames.
    let raw = t.raw();
    let mut inside = false;
    for (i, w) in raw[from..].windows(8).enumerate() {
        match w {
            b"\x1b[?2026h" => inside = true,
            b"\x1b[?2026l" => inside = false,
            _ if w.starts_with(b"\x1b[2J") => assert!(
                inside,
                "a screen clear outside a synchronized update at byte {}",
                from + i
            ),
            _ => {}
        }
    }

    // The overridden quit key is the one in the help overlay, and the only one that works.
    t.send("?");
    let help = t.wait_for("Keys (from the live keymap)");
    assert!(help.contains("Ctrl-Q") && help.contains("quit"), "{help}");
    t.send("?");
    t.wait_until("help to close", |s| !s.contains("Keys (from the live keymap)"));
    t.send("q");
    t.send("?");
    t.wait_for("Keys (from the live keymap)");
    assert!(t.running(), "q no longer quits");
    t.send("\x11");
    assert!(t.wait_exit().success(), "Ctrl-Q quits");
}
