//! Copying a one-time secret to wherever the admin's clipboard actually is, and saying honestly
//! where it went.
//!
//! Admins often run the console over SSH on a jump host, inside tmux or GNU screen. The routes,
//! in the order `auto` tries them:
//! - **tmux** (`$TMUX`): `tmux load-buffer -b devconsole -w -` puts the secret in a named tmux
//!   buffer and has tmux set the outer terminal's clipboard, with tmux's default options (≥ 3.2).
//!   The buffer is read back, so the message can say "verified". If that fails: OSC 52, wrapped
//!   in tmux's passthrough only when `tmux show -gv allow-passthrough` says on, else plain
//!   (which tmux accepts with `set-clipboard on`).
//! - **GNU screen** (`$STY`): OSC 52 in screen's DCS passthrough.
//! - **SSH or no display**: plain OSC 52. A native clipboard there would be the wrong machine's.
//! - **Local desktop**: the native clipboard (arboard, read back) plus OSC 52.
//!
//! OSC 52 is never acknowledged, so it is reported as "sent", not "copied".
//!
//! # Auto-clear never destroys the only copy
//! After `clear_after`, only what still holds our secret is cleared: the native clipboard if it
//! still holds it (compared by SHA-256 digest; this type never keeps the secret), our tmux buffer
//! if it still holds it. A blind OSC 52 clear (an empty payload, which would also wipe whatever
//! the user copied since) is opt-in (`clipboard_clear_osc52`). Quitting clears nothing at once:
//! "copy, close, quit, paste" must paste the secret. A pending tmux clear is handed to tmux.
//!
//! # What stays out of our reach
//! Buffers we build around the secret (base64 text, wrapped bytes, read-backs) are zeroized.
//! Copies made by arboard, the X server, a clipboard manager, the terminal or tmux are not ours
//! to wipe; arboard is asked to keep the secret out of clipboard-manager histories.

mod tmux;

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::secret::{digest, digest_eq};

pub use tmux::BUFFER as TMUX_BUFFER;

/// The `clipboard` config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    /// tmux buffer in tmux; OSC 52 under SSH, screen or without a display; else native plus OSC 52.
    #[default]
    Auto,
    /// The local system clipboard only (arboard).
    Native,
    /// The terminal's clipboard only, through the OSC 52 escape sequence (wrapped as needed).
    Osc52,
    /// No copying; the user selects the text or writes it to a file.
    Off,
}

/// How an OSC 52 sequence was wrapped on its way to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// As is (outside multiplexers, or into tmux with `set-clipboard on`).
    Plain,
    /// tmux's DCS passthrough (`allow-passthrough on`).
    Tmux,
    /// GNU screen's DCS passthrough.
    Screen,
}

/// What a copy did, for an honest status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    /// In the tmux buffer `devconsole` (and, through tmux, the terminal's clipboard).
    TmuxBuffer {
        verified: bool,
    },
    /// The system clipboard; `osc52` when a sequence was also sent.
    Native {
        verified: bool,
        osc52: bool,
    },
    /// Only an OSC 52 sequence; nothing confirms it arrived.
    Osc52 {
        wrap: Wrap,
        in_tmux: bool,
    },
    Disabled,
    /// Nothing was copied; the reason never contains the secret.
    Failed(String),
}

impl CopyOutcome {
    /// The status line for this outcome: it names the route that was used.
    pub fn message(&self) -> String {
        let checked = |v: bool| {
            if v {
                ", verified"
            } else {
                " (could not read it back)"
            }
        };
        match self {
            CopyOutcome::TmuxBuffer { verified } => format!(
                "Copied to tmux buffer {TMUX_BUFFER} (and your terminal's clipboard){}.",
                checked(*verified)
            ),
            CopyOutcome::Native { verified, osc52 } => format!(
                "Copied (system clipboard){}{}.",
                checked(*verified),
                if *osc52 { "; also sent via OSC 52" } else { "" }
            ),
            CopyOutcome::Osc52 { wrap: Wrap::Plain, in_tmux: false } => {
                "Sent via OSC 52; your terminal must allow it.".into()
            }
            CopyOutcome::Osc52 { wrap: Wrap::Plain, in_tmux: true } => {
                "Sent via OSC 52 to tmux (needs set-clipboard on; paste with prefix ]); your terminal must allow it.".into()
            }
            CopyOutcome::Osc52 { wrap: Wrap::Tmux, .. } => {
                "Sent via OSC 52 through tmux passthrough; your terminal must allow it.".into()
            }
            CopyOutcome::Osc52 { wrap: Wrap::Screen, .. } => {
                "Sent via OSC 52 through GNU screen; your terminal must allow it.".into()
            }
            CopyOutcome::Disabled => {
                "The clipboard is off (clipboard = \"off\"); select the text or press w to write a file.".into()
            }
            CopyOutcome::Failed(reason) => {
                format!("Could not copy to a clipboard ({reason}); select the text or press w to write a file.")
            }
        }
    }
}

/// The parts of the environment that decide where `auto` copies to. Injectable so the decision
/// can be tested without touching the process environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClipboardEnv {
    /// `SSH_CONNECTION` or `SSH_TTY` is set: a native clipboard would be the remote host's.
    pub ssh: bool,
    /// `TMUX` is set.
    pub tmux: bool,
    /// `STY` is set: inside GNU screen.
    pub screen: bool,
    /// A desktop is reachable (`DISPLAY` or `WAYLAND_DISPLAY` on Linux/BSD; always on macOS
    /// and Windows).
    pub display: bool,
}

impl ClipboardEnv {
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Builds the environment from a lookup function; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let set = |name: &str| lookup(name).is_some_and(|v| !v.is_empty());
        let display = if cfg!(any(target_os = "macos", windows)) {
            true
        } else {
            set("DISPLAY") || set("WAYLAND_DISPLAY")
        };
        Self {
            ssh: set("SSH_CONNECTION") || set("SSH_TTY"),
            tmux: set("TMUX"),
            screen: set("STY"),
            display,
        }
    }
}

/// Which paths a copy takes, decided from the mode and environment (tmux options are asked at
/// copy time, since they can change while the console runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Try the tmux buffer first.
    pub tmux_buffer: bool,
    pub native: bool,
    pub osc52: bool,
}

impl Route {
    pub fn decide(mode: ClipboardMode, env: ClipboardEnv) -> Self {
        let (tmux_buffer, native, osc52) = match mode {
            ClipboardMode::Auto if env.tmux => (true, false, true),
            ClipboardMode::Auto if env.ssh || env.screen || !env.display => (false, false, true),
            ClipboardMode::Auto => (false, true, true),
            ClipboardMode::Native => (false, true, false),
            ClipboardMode::Osc52 => (false, false, true),
            ClipboardMode::Off => (false, false, false),
        };
        Self {
            tmux_buffer,
            native,
            osc52,
        }
    }
}

const OSC52_OPEN: &[u8] = b"\x1b]52;c;";
const ST: &[u8] = b"\x1b\\";
const TMUX_OPEN: &[u8] = b"\x1bPtmux;";
/// GNU screen drops DCS strings longer than its buffer, so the sequence goes in short pieces.
const SCREEN_CHUNK: usize = 76;

/// The OSC 52 "copy to clipboard" sequence for `payload` (`ESC ] 52 ; c ; base64 ESC \`, the
/// bytes crossterm's `CopyToClipboard` writes), optionally in tmux's DCS passthrough with every
/// inner ESC doubled.
///
/// Built here rather than by crossterm because crossterm base64-encodes into a temporary `String`
/// that is freed without being wiped; this writes the base64 straight into one buffer of the
/// exact final size (so it never reallocates and leaves no stray copy) that is zeroized on drop.
pub fn osc52_sequence(payload: &[u8], tmux: bool) -> Zeroizing<Vec<u8>> {
    let b64_len = base64::encoded_len(payload.len(), true).expect("a secret's length fits in usize");
    // Doubling applies to the two ESCs of the inner sequence, one in its opener and one in ST.
    let total = if tmux {
        TMUX_OPEN.len() + OSC52_OPEN.len() + 1 + b64_len + ST.len() + 1 + ST.len()
    } else {
        OSC52_OPEN.len() + b64_len + ST.len()
    };
    let mut buf = Zeroizing::new(vec![0u8; total]);
    let mut at = 0;
    if tmux {
        at = put(&mut buf, at, TMUX_OPEN);
        at = put(&mut buf, at, b"\x1b");
    }
    at = put(&mut buf, at, OSC52_OPEN);
    let written = BASE64
        .encode_slice(payload, &mut buf[at..at + b64_len])
        .expect("buffer sized with encoded_len");
    debug_assert_eq!(written, b64_len);
    at += b64_len;
    if tmux {
        at = put(&mut buf, at, b"\x1b");
    }
    at = put(&mut buf, at, ST);
    if tmux {
        at = put(&mut buf, at, ST);
    }
    debug_assert_eq!(at, total);
    buf
}

/// OSC 52 for GNU screen: the sequence (ended by BEL, since an inner ST would end the DCS) cut
/// into pieces of at most 76 bytes, each in its own `ESC P … ESC \`.
pub fn screen_sequence(payload: &[u8]) -> Zeroizing<Vec<u8>> {
    let b64_len = base64::encoded_len(payload.len(), true).expect("a secret's length fits in usize");
    let inner_len = OSC52_OPEN.len() + b64_len + 1;
    let mut inner = Zeroizing::new(vec![0u8; inner_len]);
    let at = put(&mut inner, 0, OSC52_OPEN);
    BASE64
        .encode_slice(payload, &mut inner[at..at + b64_len])
        .expect("buffer sized with encoded_len");
    inner[inner_len - 1] = 0x07;
    let chunks = inner_len.div_ceil(SCREEN_CHUNK);
    let mut buf = Zeroizing::new(Vec::with_capacity(inner_len + chunks * 4));
    for chunk in inner.chunks(SCREEN_CHUNK) {
        buf.extend_from_slice(b"\x1bP");
        buf.extend_from_slice(chunk);
        buf.extend_from_slice(ST);
    }
    debug_assert_eq!(buf.len(), buf.capacity());
    buf
}

fn wrapped(payload: &[u8], wrap: Wrap) -> Zeroizing<Vec<u8>> {
    match wrap {
        Wrap::Plain => osc52_sequence(payload, false),
        Wrap::Tmux => osc52_sequence(payload, true),
        Wrap::Screen => screen_sequence(payload),
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
    at + bytes.len()
}

/// The platform clipboard as this module uses it; arboard in the product.
trait NativeClipboard: Send {
    fn set_text(&mut self, text: &str) -> Result<(), String>;
    fn get_text(&mut self) -> Result<Zeroizing<String>, String>;
    fn clear(&mut self) -> Result<(), String>;
}

struct Arboard(arboard::Clipboard);

impl NativeClipboard for Arboard {
    fn set_text(&mut self, text: &str) -> Result<(), String> {
        #[cfg(target_os = "macos")]
        use arboard::SetExtApple as _;
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "android", target_os = "emscripten"))
        ))]
        use arboard::SetExtLinux as _;
        #[cfg(windows)]
        use arboard::SetExtWindows as _;
        self.0
            .set()
            .exclude_from_history()
            .text(text)
            .map_err(|e| e.to_string())
    }

    fn get_text(&mut self) -> Result<Zeroizing<String>, String> {
        self.0.get_text().map(Zeroizing::new).map_err(|e| e.to_string())
    }

    fn clear(&mut self) -> Result<(), String> {
        self.0.clear().map_err(|e| e.to_string())
    }
}

type Connect = Box<dyn FnMut() -> Result<Box<dyn NativeClipboard>, String> + Send>;

fn connect_arboard() -> Result<Box<dyn NativeClipboard>, String> {
    arboard::Clipboard::new()
        .map(|c| Box::new(Arboard(c)) as Box<dyn NativeClipboard>)
        .map_err(|e| e.to_string())
}

enum Native {
    /// Not opened yet: opening may touch the display server, so it waits for the first copy.
    Untried,
    /// Kept for the whole session: on X11 the contents vanish when the instance is dropped.
    Ready(Box<dyn NativeClipboard>),
    /// Opening failed once; not retried, so a dead display cannot stall every copy.
    Unavailable(String),
}

/// A secret we put somewhere and may have to clear.
struct Pending {
    /// `None`: no auto-clear.
    deadline: Option<Instant>,
    /// SHA-256 of the secret, for compare-then-clear.
    digest: String,
    native: bool,
    tmux_buffer: bool,
    /// An OSC 52 copy was sent, wrapped like this.
    osc52: Option<Wrap>,
}

/// The console's clipboard: one per session, kept until quit.
pub struct Clipboard {
    route: Route,
    env: ClipboardEnv,
    clear_after: Option<Duration>,
    /// Opt-in: at the deadline, overwrite the terminal's clipboard with an empty OSC 52.
    blind_osc52_clear: bool,
    /// Whether to use tmux at all (off in unit tests, which have no tmux server).
    use_tmux: bool,
    native: Native,
    connect: Connect,
    pending: Option<Pending>,
}

impl fmt::Debug for Clipboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let native = match &self.native {
            Native::Untried => "untried",
            Native::Ready(_) => "ready",
            Native::Unavailable(_) => "unavailable",
        };
        f.debug_struct("Clipboard")
            .field("route", &self.route)
            .field("clear_after", &self.clear_after)
            .field("native", &native)
            .field("clear_pending", &self.pending.is_some())
            .finish()
    }
}

impl Clipboard {
    pub fn new(mode: ClipboardMode, clear_after: Option<Duration>) -> Self {
        Self::with_env(mode, clear_after, ClipboardEnv::from_env())
    }

    /// Like [`Clipboard::new`] with the environment given rather than read.
    pub fn with_env(mode: ClipboardMode, clear_after: Option<Duration>, env: ClipboardEnv) -> Self {
        let mut c = Self::with_connect(mode, env, clear_after, Box::new(connect_arboard));
        c.use_tmux = env.tmux;
        c
    }

    fn with_connect(
        mode: ClipboardMode,
        env: ClipboardEnv,
        clear_after: Option<Duration>,
        connect: Connect,
    ) -> Self {
        Self {
            route: Route::decide(mode, env),
            env,
            clear_after,
            blind_osc52_clear: false,
            use_tmux: false,
            native: Native::Untried,
            connect,
            pending: None,
        }
    }

    /// Opt in to clearing an OSC 52 copy blindly at the deadline (never on quit).
    pub fn with_blind_osc52_clear(mut self, on: bool) -> Self {
        self.blind_osc52_clear = on;
        self
    }

    /// Where copies go, e.g. to tell the user up front.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The auto-clear delay, e.g. for "cleared in 30 s" in the modal.
    pub fn clear_after(&self) -> Option<Duration> {
        self.clear_after
    }

    /// Whether a copied secret is still waiting to be cleared.
    pub fn clear_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// When the pending clear is due, for a countdown.
    pub fn clear_deadline(&self) -> Option<Instant> {
        self.pending.as_ref().and_then(|p| p.deadline)
    }

    /// Copies; any OSC 52 sequence is written to `term` (the terminal's writer, e.g. stdout).
    pub fn copy(&mut self, secret: &SecretString, term: &mut dyn Write) -> CopyOutcome {
        self.copy_at(Instant::now(), secret, term)
    }

    /// Copies plain text that is not a secret (a client ID): same routes, no auto-clear.
    pub fn copy_text(&mut self, text: &str, term: &mut dyn Write) -> CopyOutcome {
        let before = self.pending.take();
        let outcome = self.copy_at(Instant::now(), &SecretString::from(text.to_owned()), term);
        // A client ID is not worth clearing, but a secret still pending must still be cleared.
        self.pending = before;
        outcome
    }

    /// Call on every tick: clears the clipboard when the auto-clear deadline has passed.
    pub fn tick(&mut self, term: &mut dyn Write) {
        self.tick_at(Instant::now(), term);
    }

    /// On quit: nothing is cleared at once (the user may be about to paste). A pending tmux
    /// clear is handed to tmux to run when it is due.
    pub fn on_quit(&mut self) {
        let Some(p) = self.pending.take() else { return };
        if p.tmux_buffer
            && let Some(deadline) = p.deadline
            && let Err(e) = tmux::delete_later(deadline.saturating_duration_since(Instant::now()))
        {
            tracing::warn!("could not schedule the tmux buffer clear: {e}");
        }
    }

    fn osc52_wrap(&self) -> Wrap {
        if self.env.tmux {
            if self.use_tmux && tmux::passthrough_on() {
                Wrap::Tmux
            } else {
                Wrap::Plain
            }
        } else if self.env.screen {
            Wrap::Screen
        } else {
            Wrap::Plain
        }
    }

    fn copy_at(&mut self, now: Instant, secret: &SecretString, term: &mut dyn Write) -> CopyOutcome {
        let route = self.route;
        if !route.native && !route.osc52 && !route.tmux_buffer {
            return CopyOutcome::Disabled;
        }
        let text = secret.expose_secret();
        let mut errors = Vec::new();

        if route.tmux_buffer && self.use_tmux {
            match tmux::load(text.as_bytes()) {
                Ok(()) => {
                    let verified = tmux::read().is_ok_and(|back| back.as_slice() == text.as_bytes());
                    self.replace_pending(now, text, term, |p| p.tmux_buffer = true);
                    return CopyOutcome::TmuxBuffer { verified };
                }
                Err(e) => errors.push(e),
            }
        }

        let native = route.native.then(|| self.native_set(text));
        let wrap = self.osc52_wrap();
        let osc52 = route.osc52.then(|| {
            write_sequence(term, &wrapped(text.as_bytes(), wrap))
                .map_err(|e| format!("could not write to the terminal: {e}"))
        });
        let native_ok = matches!(native, Some(Ok(_)));
        let osc52_ok = matches!(osc52, Some(Ok(())));
        if native_ok || osc52_ok {
            self.replace_pending(now, text, term, |p| {
                p.native = native_ok;
                p.osc52 = osc52_ok.then_some(wrap);
            });
        }
        match (native, osc52) {
            (Some(Ok(verified)), o) => CopyOutcome::Native {
                verified,
                osc52: matches!(o, Some(Ok(()))),
            },
            (_, Some(Ok(()))) => CopyOutcome::Osc52 {
                wrap,
                in_tmux: self.env.tmux,
            },
            (n, o) => {
                errors.extend(n.and_then(Result::err));
                errors.extend(o.and_then(Result::err));
                CopyOutcome::Failed(errors.join("; "))
            }
        }
    }

    /// Records a new copy; a previous secret this copy did not overwrite is cleared now rather
    /// than left behind untracked.
    fn replace_pending(
        &mut self,
        now: Instant,
        text: &str,
        term: &mut dyn Write,
        set: impl FnOnce(&mut Pending),
    ) {
        let mut next = Pending {
            deadline: self.clear_after.map(|d| now + d),
            digest: digest(text),
            native: false,
            tmux_buffer: false,
            osc52: None,
        };
        set(&mut next);
        if let Some(prev) = self.pending.take() {
            let stale = Pending {
                native: prev.native && !next.native,
                tmux_buffer: prev.tmux_buffer && !next.tmux_buffer,
                osc52: None,
                ..prev
            };
            if next.osc52.is_none() {
                next.osc52 = prev.osc52;
            }
            self.clear(stale, term);
        }
        self.pending = Some(next);
    }

    fn tick_at(&mut self, now: Instant, term: &mut dyn Write) {
        let due = matches!(&self.pending, Some(Pending { deadline: Some(d), .. }) if now >= *d);
        if due && let Some(p) = self.pending.take() {
            self.clear(p, term);
        }
    }

    /// Sets the native clipboard; `Ok(true)` when reading it back gave the same text.
    fn native_set(&mut self, text: &str) -> Result<bool, String> {
        if matches!(self.native, Native::Untried) {
            self.native = match (self.connect)() {
                Ok(c) => Native::Ready(c),
                Err(e) => Native::Unavailable(e),
            };
        }
        match &mut self.native {
            Native::Ready(c) => {
                c.set_text(text)
                    .map_err(|e| format!("the system clipboard failed: {e}"))?;
                Ok(c.get_text().is_ok_and(|back| back.as_str() == text))
            }
            Native::Unavailable(e) => Err(format!("no system clipboard: {e}")),
            Native::Untried => unreachable!("opened above"),
        }
    }

    /// Clears what still holds our secret; never touches what the user copied since.
    fn clear(&mut self, pending: Pending, term: &mut dyn Write) {
        let mut someone_else = false;
        if pending.native
            && let Native::Ready(c) = &mut self.native
        {
            // Unreadable (e.g. now an image) means someone copied something else.
            let ours = c
                .get_text()
                .is_ok_and(|now| digest_eq(&digest(&now), &pending.digest));
            if ours {
                if let Err(e) = c.clear() {
                    tracing::warn!("could not clear the system clipboard: {e}");
                }
            } else {
                someone_else = true;
            }
        }
        if pending.tmux_buffer {
            let ours = tmux::read()
                .is_ok_and(|now| digest_eq(&digest(&String::from_utf8_lossy(&now)), &pending.digest));
            if ours && let Err(e) = tmux::delete() {
                tracing::warn!("could not delete the tmux buffer: {e}");
            }
        }
        if let Some(wrap) = pending.osc52
            && self.blind_osc52_clear
            && !someone_else
            && let Err(e) = write_sequence(term, &wrapped(b"", wrap))
        {
            tracing::warn!("could not clear the terminal's clipboard: {e}");
        }
    }
}

fn write_sequence(term: &mut dyn Write, seq: &[u8]) -> std::io::Result<()> {
    term.write_all(seq)?;
    term.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl";

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    /// Every OSC 52 payload in `bytes`, decoded, in order; unwraps tmux and screen passthrough.
    fn osc52_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
        let text = std::str::from_utf8(bytes).expect("sequences are ASCII");
        let unwrapped = text
            .replace("\x1bPtmux;", "")
            .replace("\x1b\x1b", "\x1b")
            .replace("\x1b\\\x1b\\", "\x1b\\")
            .replace("\x1b\\\x1bP", "")
            .replace("\x1bP", "")
            .replace('\x07', "\x1b\\");
        unwrapped
            .split("\x1b]52;c;")
            .skip(1)
            .map(|rest| {
                let b64 = rest.split("\x1b\\").next().unwrap();
                BASE64.decode(b64).expect("valid base64")
            })
            .collect()
    }

    /// An in-memory system clipboard shared with the test, standing in for a desktop session.
    #[derive(Clone, Default)]
    struct Desk(Arc<Mutex<Option<String>>>);

    impl Desk {
        fn contents(&self) -> Option<String> {
            self.0.lock().unwrap().clone()
        }
        fn user_copies(&self, s: &str) {
            *self.0.lock().unwrap() = Some(s.to_owned());
        }
    }

    impl NativeClipboard for Desk {
        fn set_text(&mut self, text: &str) -> Result<(), String> {
            self.user_copies(text);
            Ok(())
        }
        fn get_text(&mut self) -> Result<Zeroizing<String>, String> {
            self.contents()
                .map(Zeroizing::new)
                .ok_or_else(|| "empty".to_owned())
        }
        fn clear(&mut self) -> Result<(), String> {
            *self.0.lock().unwrap() = None;
            Ok(())
        }
    }

    fn with_desk(mode: ClipboardMode, env: ClipboardEnv, clear_after: Option<Duration>) -> (Clipboard, Desk) {
        let desk = Desk::default();
        let handle = desk.clone();
        let connect: Connect = Box::new(move || Ok(Box::new(handle.clone()) as Box<dyn NativeClipboard>));
        (Clipboard::with_connect(mode, env, clear_after, connect), desk)
    }

    fn no_display(mode: ClipboardMode, env: ClipboardEnv) -> (Clipboard, Arc<Mutex<u32>>) {
        let attempts = Arc::new(Mutex::new(0));
        let counter = attempts.clone();
        let connect: Connect = Box::new(move || {
            *counter.lock().unwrap() += 1;
            Err("X11 server connection timed out because it was unreachable".to_owned())
        });
        (
            Clipboard::with_connect(mode, env, Some(Duration::from_secs(30)), connect),
            attempts,
        )
    }

    const LOCAL: ClipboardEnv = ClipboardEnv {
        ssh: false,
        tmux: false,
        screen: false,
        display: true,
    };
    const SSH: ClipboardEnv = ClipboardEnv {
        ssh: true,
        tmux: false,
        screen: false,
        display: true,
    };
    const SCREEN: ClipboardEnv = ClipboardEnv {
        ssh: true,
        tmux: false,
        screen: true,
        display: false,
    };

    #[test]
    fn osc52_bytes_are_exact_and_match_crossterm() {
        assert_eq!(osc52_sequence(b"foo", false).as_slice(), b"\x1b]52;c;Zm9v\x1b\\");
        assert_eq!(osc52_sequence(b"", false).as_slice(), b"\x1b]52;c;\x1b\\");

        use crossterm::Command as _;
        for input in ["foo", "fo", "f", "", JWT] {
            let mut reference = String::new();
            crossterm::clipboard::CopyToClipboard::to_clipboard_from(input)
                .write_ansi(&mut reference)
                .unwrap();
            assert_eq!(
                osc52_sequence(input.as_bytes(), false).as_slice(),
                reference.as_bytes(),
                "{input}"
            );
        }
    }

    #[test]
    fn tmux_wrapped_bytes_are_exact() {
        assert_eq!(
            osc52_sequence(b"foo", true).as_slice(),
            b"\x1bPtmux;\x1b\x1b]52;c;Zm9v\x1b\x1b\\\x1b\\"
        );
        // The buffer is exactly the sequence: no slack that could hide a second copy.
        let seq = osc52_sequence(JWT.as_bytes(), true);
        assert_eq!(seq.len(), seq.capacity());
        assert_eq!(osc52_payloads(&seq), vec![JWT.as_bytes().to_vec()]);
    }

    #[test]
    fn screen_wrapping_is_chunked_dcs_ending_in_bel() {
        assert_eq!(
            screen_sequence(b"foo").as_slice(),
            b"\x1bP\x1b]52;c;Zm9v\x07\x1b\\"
        );
        let long = "x".repeat(430);
        let seq = screen_sequence(long.as_bytes());
        assert_eq!(seq.len(), seq.capacity(), "built without reallocating");
        for piece in seq.split(|b| *b == b'P').skip(1) {
            assert!(piece.len() <= SCREEN_CHUNK + 3, "a DCS piece is short");
        }
        assert_eq!(osc52_payloads(&seq), vec![long.as_bytes().to_vec()]);
    }

    #[test]
    fn auto_mode_decision_table() {
        let env = |ssh, tmux, screen, display| ClipboardEnv {
            ssh,
            tmux,
            screen,
            display,
        };
        let route = |tmux_buffer, native, osc52| Route {
            tmux_buffer,
            native,
            osc52,
        };
        let table = [
            (
                ClipboardMode::Auto,
                env(false, false, false, true),
                route(false, true, true),
            ),
            (
                ClipboardMode::Auto,
                env(false, true, false, true),
                route(true, false, true),
            ),
            (
                ClipboardMode::Auto,
                env(true, true, false, false),
                route(true, false, true),
            ),
            (
                ClipboardMode::Auto,
                env(true, false, false, true),
                route(false, false, true),
            ),
            (
                ClipboardMode::Auto,
                env(false, false, true, true),
                route(false, false, true),
            ),
            (
                ClipboardMode::Auto,
                env(false, false, false, false),
                route(false, false, true),
            ),
            (
                ClipboardMode::Native,
                env(true, true, false, false),
                route(false, true, false),
            ),
            (
                ClipboardMode::Osc52,
                env(false, true, false, true),
                route(false, false, true),
            ),
            (
                ClipboardMode::Off,
                env(true, true, true, false),
                route(false, false, false),
            ),
        ];
        for (mode, e, want) in table {
            assert_eq!(Route::decide(mode, e), want, "{mode:?} {e:?}");
        }
    }

    #[test]
    fn env_is_read_from_the_variables_named_in_the_issue() {
        use std::ffi::OsString;
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, OsString)> = vars.iter().map(|(k, v)| (k.to_string(), v.into())).collect();
            ClipboardEnv::from_lookup(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        assert!(from(&[("SSH_CONNECTION", "10.0.0.1 5 10.0.0.2 22")]).ssh);
        assert!(from(&[("SSH_TTY", "/dev/pts/3")]).ssh);
        assert!(!from(&[("SSH_TTY", "")]).ssh, "empty counts as unset");
        assert!(from(&[("TMUX", "/tmp/tmux-1000/default,123,0")]).tmux);
        assert!(from(&[("STY", "1234.pts-0.host")]).screen);
        assert!(from(&[("DISPLAY", ":0")]).display);
        assert!(from(&[("WAYLAND_DISPLAY", "wayland-0")]).display);
    }

    #[test]
    fn osc52_copy_payload_decodes_to_exactly_the_secret_and_names_the_route() {
        for (env, wrap) in [(SSH, Wrap::Plain), (SCREEN, Wrap::Screen)] {
            let (mut cb, desk) = with_desk(ClipboardMode::Auto, env, None);
            let mut term = Vec::new();
            let outcome = cb.copy(&secret(JWT), &mut term);
            assert_eq!(outcome, CopyOutcome::Osc52 { wrap, in_tmux: false });
            assert_eq!(osc52_payloads(&term), vec![JWT.as_bytes().to_vec()]);
            assert_eq!(desk.contents(), None, "never the remote host's clipboard");
            assert!(
                outcome.message().starts_with("Sent via OSC 52"),
                "{}",
                outcome.message()
            );
        }
        let screen = CopyOutcome::Osc52 {
            wrap: Wrap::Screen,
            in_tmux: false,
        }
        .message();
        assert!(screen.contains("GNU screen"), "{screen}");
    }

    #[test]
    fn off_mode_writes_nothing_and_says_so() {
        let (mut cb, desk) = with_desk(ClipboardMode::Off, SSH, Some(Duration::ZERO));
        let mut term = Vec::new();
        let outcome = cb.copy(&secret(JWT), &mut term);
        assert_eq!(outcome, CopyOutcome::Disabled);
        assert!(outcome.message().contains("write a file"));
        cb.tick_at(Instant::now() + Duration::from_secs(60), &mut term);
        cb.on_quit();
        assert!(term.is_empty());
        assert_eq!(desk.contents(), None);
    }

    #[test]
    fn osc52_is_cleared_only_when_opted_in_and_never_on_quit() {
        let t0 = Instant::now();
        // Default: no blind clear at the deadline.
        let (mut cb, _) = with_desk(ClipboardMode::Osc52, SSH, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        cb.copy_at(t0, &secret(JWT), &mut term);
        term.clear();
        cb.tick_at(t0 + Duration::from_secs(31), &mut term);
        assert!(
            term.is_empty(),
            "a blind clear would wipe what the user copied since"
        );
        assert!(!cb.clear_pending());

        // Opted in: cleared once, at the deadline and not before.
        let (cb, _) = with_desk(ClipboardMode::Osc52, SSH, Some(Duration::from_secs(30)));
        let mut cb = cb.with_blind_osc52_clear(true);
        cb.copy_at(t0, &secret(JWT), &mut term);
        term.clear();
        cb.tick_at(t0 + Duration::from_secs(29), &mut term);
        assert!(term.is_empty());
        cb.tick_at(t0 + Duration::from_secs(30), &mut term);
        assert_eq!(term.as_slice(), b"\x1b]52;c;\x1b\\");
        term.clear();
        cb.tick_at(t0 + Duration::from_secs(60), &mut term);
        assert!(term.is_empty(), "cleared exactly once");

        // Quit before the deadline: nothing is sent, so "copy, close, quit, paste" works.
        let (cb, _) = with_desk(ClipboardMode::Osc52, SSH, Some(Duration::from_secs(30)));
        let mut cb = cb.with_blind_osc52_clear(true);
        cb.copy_at(t0, &secret(JWT), &mut term);
        term.clear();
        cb.on_quit();
        assert!(term.is_empty(), "quit sent {term:?}");
    }

    #[test]
    fn native_clears_only_while_it_still_holds_our_secret_and_not_on_quit() {
        let t0 = Instant::now();
        let after = t0 + Duration::from_secs(30);

        let (mut cb, desk) = with_desk(ClipboardMode::Native, LOCAL, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        let outcome = cb.copy_at(t0, &secret(JWT), &mut term);
        assert_eq!(
            outcome,
            CopyOutcome::Native {
                verified: true,
                osc52: false
            }
        );
        assert!(outcome.message().contains("system clipboard") && outcome.message().contains("verified"));
        assert_eq!(desk.contents().as_deref(), Some(JWT));
        cb.tick_at(after, &mut term);
        assert_eq!(desk.contents(), None);

        let (mut cb, desk) = with_desk(ClipboardMode::Auto, LOCAL, Some(Duration::from_secs(30)));
        cb.copy_at(t0, &secret(JWT), &mut term);
        desk.user_copies("an address the user copied later");
        cb.tick_at(after, &mut term);
        assert_eq!(
            desk.contents().as_deref(),
            Some("an address the user copied later")
        );

        let (mut cb, desk) = with_desk(ClipboardMode::Native, LOCAL, Some(Duration::from_secs(30)));
        cb.copy_at(t0, &secret(JWT), &mut term);
        cb.on_quit();
        assert_eq!(desk.contents().as_deref(), Some(JWT), "quit keeps the only copy");
    }

    #[test]
    fn a_second_copy_replaces_the_first() {
        let t0 = Instant::now();
        let (mut cb, desk) = with_desk(ClipboardMode::Native, LOCAL, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        cb.copy_at(t0, &secret("first"), &mut term);
        cb.copy_at(t0 + Duration::from_secs(20), &secret(JWT), &mut term);
        cb.tick_at(t0 + Duration::from_secs(35), &mut term);
        assert_eq!(
            desk.contents().as_deref(),
            Some(JWT),
            "deadline restarts on each copy"
        );
        cb.tick_at(t0 + Duration::from_secs(50), &mut term);
        assert_eq!(desk.contents(), None);
    }

    #[test]
    fn no_display_falls_back_or_fails_honestly() {
        let (mut cb, attempts) = no_display(ClipboardMode::Auto, LOCAL);
        let mut term = Vec::new();
        assert!(matches!(
            cb.copy(&secret(JWT), &mut term),
            CopyOutcome::Osc52 { .. }
        ));
        assert_eq!(osc52_payloads(&term), vec![JWT.as_bytes().to_vec()]);
        cb.copy(&secret(JWT), &mut term);
        assert_eq!(*attempts.lock().unwrap(), 1);

        let (mut cb, _) = no_display(ClipboardMode::Native, LOCAL);
        let mut term = Vec::new();
        let outcome = cb.copy(&secret(JWT), &mut term);
        let CopyOutcome::Failed(reason) = &outcome else {
            panic!("expected Failed, got {outcome:?}")
        };
        assert!(
            reason.contains("no system clipboard") && reason.contains("unreachable"),
            "{reason}"
        );
        assert!(!outcome.message().contains(JWT));
        assert!(term.is_empty());
        assert!(!cb.clear_pending(), "nothing was copied, nothing to clear");
    }

    #[test]
    fn a_broken_terminal_writer_is_reported_not_fatal() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe closed"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (mut cb, _) = no_display(ClipboardMode::Auto, LOCAL);
        let outcome = cb.copy(&secret(JWT), &mut Broken);
        let CopyOutcome::Failed(reason) = &outcome else {
            panic!("expected Failed, got {outcome:?}")
        };
        assert!(
            reason.contains("no system clipboard") && reason.contains("pipe closed"),
            "{reason}"
        );
        cb.tick_at(Instant::now() + Duration::from_secs(60), &mut Broken);
        cb.on_quit();
    }

    /// The real arboard, in whatever environment the tests run: never a panic, and without a
    /// display an honest failure.
    #[test]
    fn real_arboard_never_panics() {
        let env = ClipboardEnv::from_env();
        let mut cb = Clipboard::with_env(ClipboardMode::Native, Some(Duration::ZERO), env);
        let mut term = Vec::new();
        let outcome = cb.copy(&secret("devconsole clipboard test (not a secret)"), &mut term);
        match &outcome {
            CopyOutcome::Native { .. } => {
                assert!(env.display, "native copy cannot succeed without a display")
            }
            CopyOutcome::Failed(reason) => assert!(reason.contains("system clipboard"), "{reason}"),
            other => panic!("native mode gave {other:?}"),
        }
        cb.tick(&mut term);
        assert!(term.is_empty());
    }

    #[test]
    fn clipboard_keeps_a_digest_not_the_secret() {
        let (mut cb, _) = with_desk(ClipboardMode::Auto, LOCAL, Some(Duration::from_secs(30)));
        cb.copy(&secret(JWT), &mut Vec::new());
        let pending = cb.pending.as_ref().expect("a clear is pending");
        assert_eq!(pending.digest, digest(JWT));
        let debug = format!("{cb:?}");
        assert!(
            !debug.contains(JWT) && !debug.contains(&pending.digest),
            "{debug}"
        );
        assert!(debug.contains("clear_pending: true"), "{debug}");
    }

    #[test]
    fn copying_a_client_id_keeps_the_pending_secret_clear() {
        let t0 = Instant::now();
        let (mut cb, desk) = with_desk(ClipboardMode::Native, LOCAL, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        cb.copy_at(t0, &secret(JWT), &mut term);
        cb.copy_text("CID0001", &mut term);
        assert_eq!(desk.contents().as_deref(), Some("CID0001"));
        assert!(cb.clear_pending());
        cb.tick_at(t0 + Duration::from_secs(31), &mut term);
        assert_eq!(
            desk.contents().as_deref(),
            Some("CID0001"),
            "not ours any more: kept"
        );
    }

    #[test]
    fn clipboard_can_move_to_the_ui_task() {
        fn assert_send<T: Send>() {}
        assert_send::<Clipboard>();
    }

    #[test]
    fn mode_reads_from_config_in_lowercase() {
        #[derive(serde::Deserialize)]
        struct C {
            clipboard: ClipboardMode,
        }
        for (text, mode) in [
            ("auto", ClipboardMode::Auto),
            ("native", ClipboardMode::Native),
            ("osc52", ClipboardMode::Osc52),
            ("off", ClipboardMode::Off),
        ] {
            let c: C = toml::from_str(&format!("clipboard = \"{text}\"")).unwrap();
            assert_eq!(c.clipboard, mode);
        }
        assert!(toml::from_str::<C>("clipboard = \"OSC52\"").is_err());
    }
}
