//! tmux's own clipboard: a named paste buffer, loaded with `load-buffer -w` so tmux also sets
//! the outer terminal's clipboard (tmux ≥ 3.2, with its default `set-clipboard external`).
//! The secret goes to tmux on stdin, never in argv.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The buffer the console owns.
pub const BUFFER: &str = "devconsole";
/// A tmux command that takes longer is treated as failed (a wedged server must not freeze the UI).
const TMUX_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `tmux args…` with `input` on stdin; returns stdout (zeroized on drop) or why it failed.
fn run(args: &[&str], input: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut child = Command::new("tmux")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tmux: {e}"))?;
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().expect("piped");
        stdin
            .write_all(bytes)
            .map_err(|e| format!("tmux {}: {e}", args[0]))?;
    }
    let end = Instant::now() + TMUX_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("tmux {} did not answer", args[0]));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = Zeroizing::new(out.stdout);
    if out.status.success() {
        Ok(stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        Err(format!("tmux {}: {err}", args[0]))
    }
}

/// Loads `text` into our buffer and the outer terminal's clipboard.
pub fn load(text: &[u8]) -> Result<(), String> {
    run(&["load-buffer", "-b", BUFFER, "-w", "-"], Some(text)).map(drop)
}

/// The buffer's contents, if it exists.
pub fn read() -> Result<Zeroizing<Vec<u8>>, String> {
    run(&["show-buffer", "-b", BUFFER], None)
}

pub fn delete() -> Result<(), String> {
    run(&["delete-buffer", "-b", BUFFER], None).map(drop)
}

/// `allow-passthrough` is on (or `all`): a DCS-wrapped OSC 52 reaches the outer terminal.
pub fn passthrough_on() -> bool {
    run(&["show", "-gv", "allow-passthrough"], None).is_ok_and(|out| {
        let v = String::from_utf8_lossy(&out);
        matches!(v.trim(), "on" | "all")
    })
}

/// After the console has quit, tmux itself deletes our buffer when the auto-clear delay is up,
/// so quitting never clears a copy early and never leaves it forever.
pub fn delete_later(after: Duration) -> Result<(), String> {
    let cmd = format!(
        "sleep {}; tmux delete-buffer -b {BUFFER} 2>/dev/null; true",
        after.as_secs().max(1)
    );
    run(&["run-shell", "-b", &cmd], None).map(drop)
}
