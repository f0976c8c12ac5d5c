//! The one pseudo-terminal harness, shared by tests/tui*.rs and (through tests/net_support)
//! tests/net*.rs: the real `devconsole` binary on a pty, its output drained on a thread into a
//! vt100 screen and a raw byte log. Every wait is for a condition, with a long deadline that only
//! a failing test ever reaches.
#![allow(dead_code)]

use base64::Engine as _;
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_devconsole");

/// How long any one wait may take before the test fails. Generous: under a full parallel suite
/// on two cores a console can take many seconds to draw; a passing test never waits this long.
pub fn deadline() -> Duration {
    if std::env::var_os("CI").is_some() {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(90)
    }
}

/// Every proxy variable a client library might read.
pub const PROXY_VARS: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// Variables of the developer's session that would change what the console does.
const SCRUBBED: [&str; 13] = [
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "SSH_CONNECTION",
    "SSH_TTY",
    "TMUX",
    "STY",
    "NO_COLOR",
    "NO_PROXY",
    "no_proxy",
    "LC_ALL",
    "LC_CTYPE",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
];

/// Marks of a synchronized update (DEC mode 2026): the console brackets every frame in them.
const BEGIN_UPDATE: &[u8] = b"\x1b[?2026h";
const END_UPDATE: &[u8] = b"\x1b[?2026l";

/// What the child wrote: every byte, the emulated terminal, and the screen's text as of the last
/// complete frame. A read of the pty can end mid-frame, and a test must never judge a half-drawn
/// screen (CI once saw the help overlay's title before its rows).
struct Output {
    parser: vt100::Parser,
    raw: Vec<u8>,
    frame: String,
    in_update: bool,
    /// The pty reported end of file: every process that had it open has closed it, so
    /// everything they wrote is in `raw`.
    eof: bool,
}

impl Output {
    fn take(&mut self, chunk: &[u8]) {
        let old = self.raw.len();
        self.raw.extend_from_slice(chunk);
        // A mark may straddle two reads: look back a mark's length.
        let mut i = old.saturating_sub(BEGIN_UPDATE.len() - 1);
        let mut fed = old;
        while i + BEGIN_UPDATE.len() <= self.raw.len() {
            let window = &self.raw[i..i + BEGIN_UPDATE.len()];
            let (begin, end) = (window == BEGIN_UPDATE, window == END_UPDATE);
            if !(begin || end) {
                i += 1;
                continue;
            }
            i += BEGIN_UPDATE.len();
            self.parser.process(&self.raw[fed..i]);
            fed = i;
            self.in_update = begin;
            if end {
                self.publish();
            }
        }
        self.parser.process(&self.raw[fed..]);
        if !self.in_update {
            self.publish();
        }
    }

    fn publish(&mut self) {
        self.frame = self.parser.screen().contents();
    }
}

/// A child process on a pty.
pub struct Term {
    output: Arc<Mutex<Output>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Term {
    /// 100×30, `TERM=xterm-256color`, a UTF-8 locale, data and config dirs under `home`, and
    /// nothing from the developer's desktop, tmux, proxy or colour settings; then `extra_env`.
    pub fn spawn(args: &[&str], home: &Path, extra_env: &[(&str, &str)]) -> Term {
        Term::spawn_sized(args, home, extra_env, (30, 100))
    }

    /// 160×30: room for long connection errors on one line (tests/net*.rs).
    pub fn spawn_wide(args: &[&str], home: &Path, extra_env: &[(&str, &str)]) -> Term {
        Term::spawn_sized(args, home, extra_env, (30, 160))
    }

    pub fn spawn_sized(args: &[&str], home: &Path, extra_env: &[(&str, &str)], size: (u16, u16)) -> Term {
        Term::spawn_program(BIN, args, home, extra_env, size)
    }

    /// Any program (tmux, screen, a shell) on the pty, with the same clean environment.
    pub fn spawn_program(
        program: &str,
        args: &[&str],
        home: &Path,
        extra_env: &[(&str, &str)],
        (rows, cols): (u16, u16),
    ) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.cwd(home);
        for k in SCRUBBED.into_iter().chain(PROXY_VARS) {
            cmd.env_remove(k);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("DEVCONSOLE_DATA_DIR", home.join("data"));
        cmd.env("DEVCONSOLE_CONFIG_DIR", home.join("config"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn devconsole");
        // Without this the reader never sees EOF after the child exits.
        drop(pair.slave);
        let output = Arc::new(Mutex::new(Output {
            parser: vt100::Parser::new(rows.try_into().unwrap(), cols.try_into().unwrap(), 0),
            raw: Vec::new(),
            frame: String::new(),
            in_update: false,
            eof: false,
        }));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().take(&buf[..n]),
                }
            }
            // An update the child never ended (it died mid-frame) still shows what it drew.
            let mut output = sink.lock().unwrap();
            output.publish();
            output.eof = true;
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Term {
            output,
            writer,
            child,
            master: pair.master,
        }
    }

    /// Resizes the pty (the child gets SIGWINCH) and the emulated screen.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let mut output = self.output.lock().unwrap();
        output
            .parser
            .screen_mut()
            .set_size(rows.try_into().unwrap(), cols.try_into().unwrap());
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// The screen as of the last complete frame.
    pub fn screen(&self) -> String {
        self.output.lock().unwrap().frame.clone()
    }

    /// Every byte the child wrote to the terminal so far.
    pub fn raw(&self) -> Vec<u8> {
        self.output.lock().unwrap().raw.clone()
    }

    /// Waits until the screen satisfies `ok`; on timeout fails showing the screen.
    pub fn wait_until(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Whatever it printed last may still be on its way through the pty.
                self.wait_eof();
                let screen = self.screen();
                if ok(&screen) {
                    return screen;
                }
                panic!("devconsole exited ({status:?}) while waiting for {what}; screen:\n{screen}");
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for(&mut self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |s| s.contains(text))
    }

    /// Waits until the raw output satisfies `ok`.
    pub fn wait_raw(&self, what: &str, ok: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let end = Instant::now() + deadline();
        loop {
            let raw = self.raw();
            if ok(&raw) {
                return raw;
            }
            assert!(Instant::now() < end, "timed out waiting for {what} in the output");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After the child exited: waits until the reader has seen the pty's end of file, so that
    /// the screen and the raw log hold everything it wrote (under load the reader thread can
    /// lag the exit by any amount). A process the child left holding the pty (none of ours
    /// does) only costs the deadline: what was read by then is judged.
    fn wait_eof(&self) {
        let end = Instant::now() + deadline();
        while !self.output.lock().unwrap().eof && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the child is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit; then for the reader to drain what it wrote last.
    pub fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let end = Instant::now() + deadline();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.wait_eof();
                return status;
            }
            assert!(
                Instant::now() < end,
                "devconsole did not exit; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens, for as long as this lives: bound (so no other
/// socket can take it, as another test could take a port picked and released) but never
/// listening, so every connection to it is refused.
pub struct ClosedPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        // No SO_REUSEADDR: a listener cannot share the port.
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind(([127, 0, 0, 1], 0).into()).expect("bind 127.0.0.1:0");
        let port = socket.local_addr().expect("its address").port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first OSC 52 payload after `from`, decoded.
pub fn osc52_payload(raw: &[u8], from: usize) -> Option<String> {
    let start = from + find(&raw[from..], b"\x1b]52;c;")? + 7;
    let end = start + raw[start..].iter().position(|b| *b == 0x07 || *b == 0x1b)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&raw[start..end])
        .expect("OSC 52 payload is base64");
    Some(String::from_utf8(bytes).expect("utf-8 payload"))
}

/// The JWT as the modal shows it: consecutive rows of base64url and dots, joined.
pub fn jwt_on_screen(screen: &str) -> Option<(String, Vec<String>)> {
    let is_token_row = |l: &str| {
        let t = l.trim();
        t.len() >= 20
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let lines: Vec<&str> = screen.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.trim().starts_with("eyJ") && is_token_row(l))?;
    let rows: Vec<String> = lines[first..]
        .iter()
        .take_while(|l| is_token_row(l))
        .map(|l| l.trim().to_owned())
        .collect();
    let token = rows.concat();
    let parts: Vec<&str> = token.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then_some((token, rows))
}
