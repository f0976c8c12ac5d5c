//! Terminals as they are: `TERM=dumb` on a real pty, and no ANSI codes where they do not belong
//! (a pipe, a log file, `NO_COLOR`) in `serve` logs and in error reports. The real binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

mod tui_support;

use tui_support::{BIN, ClosedPort, Term, deadline, find};

fn sqlite_url(home: &std::path::Path) -> String {
    format!("sqlite://{}", home.join("server.db").display())
}

/// A config.toml the console refuses: the report about it goes through color-eyre.
fn bad_config(home: &std::path::Path) {
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(home.join("config/config.toml"), "clipbaord = \"osc52\"\n").unwrap();
}

#[test]
fn term_dumb_on_a_real_terminal_is_refused_in_one_plain_line() {
    let home = tempfile::tempdir().unwrap();
    let mut t = Term::spawn(&[], home.path(), &[("TERM", "dumb")]);
    let status = t.wait_exit();
    let screen = t.wait_until("the refusal", |s| s.contains("TERM is dumb"));
    assert_eq!(status.exit_code(), 2, "{screen}");
    let text: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    // One logical line (the pty wraps it at 100 columns), no source location.
    assert!(text.concat().contains("use the subcommands"), "{screen}");
    assert!(
        !screen.contains(".rs:") && !screen.contains("Location"),
        "{screen}"
    );
    let raw = t.raw();
    assert!(
        find(&raw, b"\x1b[?1049h").is_none(),
        "the alternate screen was entered on a dumb terminal"
    );
    assert!(
        !raw.contains(&0x1b),
        "escape codes sent to a dumb terminal: {raw:?}"
    );
}

#[test]
fn serve_logs_into_a_pipe_carry_no_ansi_codes() {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &sqlite_url(home.path()),
        ])
        .env_remove("NO_COLOR")
        .env("DEVCONSOLE_DATA_DIR", home.path().join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + deadline();
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.contains("console server listening"))
    {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no 'listening' log line; got {seen:?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for line in &seen {
        assert!(!line.contains('\x1b'), "ANSI code in a piped log line: {line:?}");
    }
    assert!(seen.iter().any(|l| l.contains("INFO")), "{seen:?}");
}

#[test]
fn serve_logs_on_a_terminal_are_coloured_unless_no_color() {
    // On a terminal, colour is the default: this is what the NO_COLOR run must not show.
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let home = tempfile::tempdir().unwrap();
        let db = sqlite_url(home.path());
        let env: Vec<(&str, &str)> = no_color.map(|v| ("NO_COLOR", v)).into_iter().collect();
        let mut t = Term::spawn(
            &["serve", "--listen", "127.0.0.1:0", "--database", &db],
            home.path(),
            &env,
        );
        t.wait_for("console server listening");
        let raw = t.raw();
        let log = &raw[..find(&raw, b"listening").unwrap()];
        assert_eq!(
            log.contains(&0x1b),
            coloured,
            "NO_COLOR={no_color:?}: {}",
            String::from_utf8_lossy(log)
        );
    }
}

/// Runs the binary with stdin closed and output piped (as in a script or cron), colour not
/// turned off; (succeeded, stderr).
fn piped(args: &[&str], home: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        // A backtrace is opt-in (RUST_BACKTRACE); the report itself must stand alone.
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("DEVCONSOLE_DATA_DIR", home.join("data"))
        .env("DEVCONSOLE_CONFIG_DIR", home.join("config"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The same on a terminal with NO_COLOR: every byte it wrote, once it printed `expect`.
fn on_a_terminal_with_no_color(args: &[&str], home: &std::path::Path, expect: &str) -> Vec<u8> {
    let mut t = Term::spawn(args, home, &[("NO_COLOR", "1")]);
    t.wait_exit();
    t.wait_until(expect, |s| s.contains(expect));
    t.raw()
}

#[test]
fn console_errors_carry_no_ansi_codes_into_a_pipe_or_with_no_color() {
    // A config error (a color-eyre report).
    let home = tempfile::tempdir().unwrap();
    bad_config(home.path());
    let (ok, err) = piped(&[], home.path());
    assert!(!ok && err.contains("clipbaord"), "{err}");
    assert!(!err.contains('\x1b'), "ANSI codes in a piped error: {err:?}");
    assert!(
        !err.contains(".rs:"),
        "a config error is not a bug: no source location: {err}"
    );
    let raw = on_a_terminal_with_no_color(&[], home.path(), "clipbaord");
    assert!(
        !raw.contains(&0x1b),
        "ANSI codes with NO_COLOR: {}",
        String::from_utf8_lossy(&raw)
    );

    // A usage error (clap) and a CLI failure (an unreachable server).
    let home = tempfile::tempdir().unwrap();
    let closed = ClosedPort::new();
    let dead = closed.url();
    for (args, expect) in [
        (&["--no-such-flag"][..], "--no-such-flag"),
        (&["--server", &dead, "apps", "list"][..], "devconsole:"),
    ] {
        let (ok, err) = piped(args, home.path());
        assert!(!ok && err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains('\x1b'), "{args:?}: ANSI codes in a pipe: {err:?}");
        let raw = on_a_terminal_with_no_color(args, home.path(), expect);
        assert!(
            !raw.contains(&0x1b),
            "{args:?} with NO_COLOR: {}",
            String::from_utf8_lossy(&raw)
        );
    }
}
