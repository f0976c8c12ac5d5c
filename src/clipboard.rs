//! Copying a one-time secret to wherever the admin's clipboard actually is.
//!
//! Admins often run the console over SSH on a jump host, inside tmux. A native clipboard
//! (arboard) there either fails ("can't open display") or fills the wrong machine's clipboard,
//! so [`ClipboardMode::Auto`] sends OSC 52 to the terminal instead, wrapped for tmux. On a local
//! desktop it uses arboard and also sends OSC 52, because a native copy that "succeeds" is no
//! proof that the clipboard the user pastes from received it.
//!
//! A clipboard problem is never fatal: arboard is opened lazily on the first native copy and any
//! error becomes an OSC 52 fallback or [`CopyOutcome::Failed`], whose message asks the user to
//! select the text instead.
//!
//! # Auto-clear
//! After `clear_after`, and on quit ([`Clipboard::clear_now`]):
//! - the native clipboard is cleared only if it still holds our secret, checked by comparing a
//!   SHA-256 digest, so this type never keeps the secret itself;
//! - OSC 52 cannot be read back, so it is cleared by sending an empty payload. That overwrites
//!   whatever is in the terminal's clipboard, including something the user copied after us. When
//!   the native clipboard was also used and no longer holds our secret, the user has copied
//!   something else since, so the OSC 52 clear is skipped to avoid clobbering it.
//!
//! # What stays out of our reach
//! Buffers we build around the secret (base64 text, tmux-wrapped bytes, clipboard read-backs) are
//! zeroized. Copies made by arboard, the X server, a clipboard manager, the terminal or tmux are
//! not ours to wipe; arboard is asked to keep the secret out of clipboard-manager histories.
//!
//! # tmux
//! Inside tmux the sequence is wrapped in a DCS passthrough (`ESC P tmux; … ESC \`), which tmux
//! forwards only with `set -g allow-passthrough on` (off by default since tmux 3.3). The plain
//! form would need `set-clipboard on`, which also keeps the secret in a tmux paste buffer.

use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::secret::{digest, digest_eq};

/// The `clipboard` config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    /// OSC 52 under SSH or without a display (tmux-wrapped in tmux), else native plus OSC 52.
    #[default]
    Auto,
    /// The local system clipboard only (arboard).
    Native,
    /// The terminal's clipboard only, through the OSC 52 escape sequence.
    Osc52,
    /// No copying; the user selects the text.
    Off,
}

/// What a copy did, for an honest status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Native,
    Osc52,
    NativeAndOsc52,
    Disabled,
    /// Nothing was copied; the reason never contains the secret.
    Failed(String),
}

impl CopyOutcome {
    /// The status line for this outcome. OSC 52 is never acknowledged by a terminal, so it is
    /// reported as "sent", not "copied".
    pub fn message(&self) -> String {
        match self {
            CopyOutcome::Native => "Copied to the clipboard.".to_owned(),
            CopyOutcome::Osc52 => "Sent to your terminal's clipboard (OSC 52). Terminals do not confirm \
                                   this; if pasting does not work, select the text manually."
                .to_owned(),
            CopyOutcome::NativeAndOsc52 => {
                "Copied to the clipboard and sent to your terminal's clipboard (OSC 52).".to_owned()
            }
            CopyOutcome::Disabled => {
                "The clipboard is off (clipboard = \"off\"); select the text manually.".to_owned()
            }
            CopyOutcome::Failed(reason) => {
                format!("Could not copy to a clipboard ({reason}); select the text manually.")
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
    /// `TMUX` is set: OSC 52 needs the tmux passthrough wrapper.
    pub tmux: bool,
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
            display,
        }
    }
}

/// Which paths a copy takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub native: bool,
    pub osc52: bool,
    /// Wrap OSC 52 in the tmux DCS passthrough.
    pub tmux: bool,
}

impl Route {
    pub fn decide(mode: ClipboardMode, env: ClipboardEnv) -> Self {
        let (native, osc52) = match mode {
            ClipboardMode::Auto if env.ssh || !env.display => (false, true),
            ClipboardMode::Auto => (true, true),
            ClipboardMode::Native => (true, false),
            ClipboardMode::Osc52 => (false, true),
            ClipboardMode::Off => (false, false),
        };
        Self {
            native,
            osc52,
            tmux: osc52 && env.tmux,
        }
    }
}

const OSC52_OPEN: &[u8] = b"\x1b]52;c;";
const ST: &[u8] = b"\x1b\\";
const TMUX_OPEN: &[u8] = b"\x1bPtmux;";

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

/// A secret we put on a clipboard and still have to clear.
struct Pending {
    /// `None`: no auto-clear, only [`Clipboard::clear_now`].
    deadline: Option<Instant>,
    /// SHA-256 of the secret, if it went to the native clipboard.
    native_digest: Option<String>,
    /// An OSC 52 copy was sent (and whether it was tmux-wrapped).
    osc52: Option<bool>,
}

/// The console's clipboard: one per session, kept until quit.
pub struct Clipboard {
    route: Route,
    clear_after: Option<Duration>,
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
        Self::with_connect(Route::decide(mode, env), clear_after, Box::new(connect_arboard))
    }

    fn with_connect(route: Route, clear_after: Option<Duration>, connect: Connect) -> Self {
        Self {
            route,
            clear_after,
            native: Native::Untried,
            connect,
            pending: None,
        }
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

    /// Copies; any OSC 52 sequence is written to `term` (the terminal's writer, e.g. stdout).
    pub fn copy(&mut self, secret: &SecretString, term: &mut dyn Write) -> CopyOutcome {
        self.copy_at(Instant::now(), secret, term)
    }

    /// Call on every tick: clears the clipboard when the auto-clear deadline has passed.
    pub fn tick(&mut self, term: &mut dyn Write) {
        self.tick_at(Instant::now(), term);
    }

    /// Clears now if we still own a copied secret (on quit).
    pub fn clear_now(&mut self, term: &mut dyn Write) {
        if let Some(pending) = self.pending.take() {
            self.clear(pending, term);
        }
    }

    fn copy_at(&mut self, now: Instant, secret: &SecretString, term: &mut dyn Write) -> CopyOutcome {
        let route = self.route;
        if !route.native && !route.osc52 {
            return CopyOutcome::Disabled;
        }
        let text = secret.expose_secret();

        let native = route.native.then(|| self.native_set(text));
        let osc52 = route.osc52.then(|| {
            write_sequence(term, &osc52_sequence(text.as_bytes(), route.tmux))
                .map_err(|e| format!("could not write to the terminal: {e}"))
        });
        let native_ok = matches!(native, Some(Ok(())));
        let osc52_ok = matches!(osc52, Some(Ok(())));

        // A previous secret that this copy did not overwrite natively is cleared now rather than
        // left behind untracked.
        let previous = self.pending.take();
        let mut carried_osc52 = None;
        if let Some(prev) = previous {
            if prev.native_digest.is_some() && !native_ok {
                self.clear(Pending { osc52: None, ..prev }, term);
            } else {
                carried_osc52 = prev.osc52;
            }
        }
        if native_ok || osc52_ok || carried_osc52.is_some() {
            self.pending = Some(Pending {
                deadline: self.clear_after.map(|d| now + d),
                native_digest: native_ok.then(|| digest(text)),
                osc52: if osc52_ok { Some(route.tmux) } else { carried_osc52 },
            });
        }

        match (native, osc52) {
            (Some(Ok(())), Some(Ok(()))) => CopyOutcome::NativeAndOsc52,
            (Some(Ok(())), _) => CopyOutcome::Native,
            (_, Some(Ok(()))) => CopyOutcome::Osc52,
            (Some(Err(n)), Some(Err(o))) => CopyOutcome::Failed(format!("{n}; {o}")),
            (Some(Err(e)), None) | (None, Some(Err(e))) => CopyOutcome::Failed(e),
            (None, None) => unreachable!("route with neither path returned Disabled above"),
        }
    }

    fn tick_at(&mut self, now: Instant, term: &mut dyn Write) {
        let due = matches!(&self.pending, Some(Pending { deadline: Some(d), .. }) if now >= *d);
        if due {
            self.clear_now(term);
        }
    }

    fn native_set(&mut self, text: &str) -> Result<(), String> {
        if matches!(self.native, Native::Untried) {
            self.native = match (self.connect)() {
                Ok(c) => Native::Ready(c),
                Err(e) => Native::Unavailable(e),
            };
        }
        match &mut self.native {
            Native::Ready(c) => c
                .set_text(text)
                .map_err(|e| format!("the system clipboard failed: {e}")),
            Native::Unavailable(e) => Err(format!("no system clipboard: {e}")),
            Native::Untried => unreachable!("opened above"),
        }
    }

    fn clear(&mut self, pending: Pending, term: &mut dyn Write) {
        let native_still_ours = match (&pending.native_digest, &mut self.native) {
            (Some(ours), Native::Ready(c)) => {
                // Unreadable (e.g. now an image) means someone copied something else.
                let ours_now = c.get_text().is_ok_and(|now| digest_eq(&digest(&now), ours));
                if ours_now && let Err(e) = c.clear() {
                    tracing::warn!("could not clear the system clipboard: {e}");
                }
                Some(ours_now)
            }
            _ => None,
        };
        if let Some(tmux) = pending.osc52
            && native_still_ours != Some(false)
            && let Err(e) = write_sequence(term, &osc52_sequence(b"", tmux))
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

    /// Every OSC 52 payload in `bytes`, decoded, in order; unwraps tmux passthrough first.
    fn osc52_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
        let text = std::str::from_utf8(bytes).expect("sequences are ASCII");
        let unwrapped = text
            .replace("\x1bPtmux;", "")
            .replace("\x1b\x1b", "\x1b")
            .replace("\x1b\\\x1b\\", "\x1b\\");
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
        (
            Clipboard::with_connect(Route::decide(mode, env), clear_after, connect),
            desk,
        )
    }

    fn no_display(mode: ClipboardMode, env: ClipboardEnv) -> (Clipboard, Arc<Mutex<u32>>) {
        let attempts = Arc::new(Mutex::new(0));
        let counter = attempts.clone();
        let connect: Connect = Box::new(move || {
            *counter.lock().unwrap() += 1;
            Err("X11 server connection timed out because it was unreachable".to_owned())
        });
        (
            Clipboard::with_connect(Route::decide(mode, env), Some(Duration::from_secs(30)), connect),
            attempts,
        )
    }

    const LOCAL: ClipboardEnv = ClipboardEnv {
        ssh: false,
        tmux: false,
        display: true,
    };
    const SSH: ClipboardEnv = ClipboardEnv {
        ssh: true,
        tmux: false,
        display: true,
    };
    const SSH_TMUX: ClipboardEnv = ClipboardEnv {
        ssh: true,
        tmux: true,
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
        assert_eq!(
            osc52_sequence(b"", true).as_slice(),
            b"\x1bPtmux;\x1b\x1b]52;c;\x1b\x1b\\\x1b\\"
        );
        // The buffer is exactly the sequence: no slack that could hide a second copy.
        let seq = osc52_sequence(JWT.as_bytes(), true);
        assert_eq!(seq.len(), seq.capacity());
        assert_eq!(osc52_payloads(&seq), vec![JWT.as_bytes().to_vec()]);
    }

    #[test]
    fn auto_mode_decision_table() {
        let env = |ssh, tmux, display| ClipboardEnv { ssh, tmux, display };
        let route = |native, osc52, tmux| Route { native, osc52, tmux };
        let table = [
            // local desktop: native plus OSC 52
            (
                ClipboardMode::Auto,
                env(false, false, true),
                route(true, true, false),
            ),
            (
                ClipboardMode::Auto,
                env(false, true, true),
                route(true, true, true),
            ),
            // SSH, even with a (forwarded) display: OSC 52 only
            (
                ClipboardMode::Auto,
                env(true, false, true),
                route(false, true, false),
            ),
            (
                ClipboardMode::Auto,
                env(true, true, true),
                route(false, true, true),
            ),
            (
                ClipboardMode::Auto,
                env(true, false, false),
                route(false, true, false),
            ),
            // no display: OSC 52 only
            (
                ClipboardMode::Auto,
                env(false, false, false),
                route(false, true, false),
            ),
            (
                ClipboardMode::Auto,
                env(false, true, false),
                route(false, true, true),
            ),
            // explicit modes ignore SSH and display
            (
                ClipboardMode::Native,
                env(true, true, false),
                route(true, false, false),
            ),
            (
                ClipboardMode::Osc52,
                env(false, false, true),
                route(false, true, false),
            ),
            (
                ClipboardMode::Osc52,
                env(false, true, true),
                route(false, true, true),
            ),
            (
                ClipboardMode::Off,
                env(true, true, false),
                route(false, false, false),
            ),
            (
                ClipboardMode::Off,
                env(false, false, true),
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
        let local_display = cfg!(any(target_os = "macos", windows));
        assert_eq!(
            from(&[]),
            ClipboardEnv {
                ssh: false,
                tmux: false,
                display: local_display
            }
        );
        assert!(from(&[("SSH_CONNECTION", "10.0.0.1 5 10.0.0.2 22")]).ssh);
        assert!(from(&[("SSH_TTY", "/dev/pts/3")]).ssh);
        assert!(!from(&[("SSH_TTY", "")]).ssh, "empty counts as unset");
        assert!(from(&[("TMUX", "/tmp/tmux-1000/default,123,0")]).tmux);
        assert!(from(&[("DISPLAY", ":0")]).display);
        assert!(from(&[("WAYLAND_DISPLAY", "wayland-0")]).display);
    }

    #[test]
    fn osc52_copy_payload_decodes_to_exactly_the_secret() {
        for env in [SSH, SSH_TMUX] {
            let (mut cb, desk) = with_desk(ClipboardMode::Osc52, env, None);
            let mut term = Vec::new();
            assert_eq!(cb.copy(&secret(JWT), &mut term), CopyOutcome::Osc52);
            assert_eq!(osc52_payloads(&term), vec![JWT.as_bytes().to_vec()]);
            assert_eq!(term.starts_with(b"\x1bPtmux;"), env.tmux);
            assert_eq!(
                desk.contents(),
                None,
                "osc52 mode never touches the native clipboard"
            );
        }
    }

    #[test]
    fn off_mode_writes_nothing_and_says_so() {
        let (mut cb, desk) = with_desk(ClipboardMode::Off, SSH_TMUX, Some(Duration::ZERO));
        let mut term = Vec::new();
        let outcome = cb.copy(&secret(JWT), &mut term);
        assert_eq!(outcome, CopyOutcome::Disabled);
        assert!(outcome.message().contains("select the text manually"));
        cb.tick_at(Instant::now() + Duration::from_secs(60), &mut term);
        cb.clear_now(&mut term);
        assert!(term.is_empty());
        assert_eq!(desk.contents(), None);
        assert!(!cb.clear_pending());
    }

    #[test]
    fn tick_clears_once_after_the_deadline_and_not_before() {
        let (mut cb, _) = with_desk(ClipboardMode::Osc52, SSH_TMUX, Some(Duration::from_secs(30)));
        let t0 = Instant::now();
        let mut term = Vec::new();
        cb.copy_at(t0, &secret(JWT), &mut term);
        term.clear();

        cb.tick_at(t0 + Duration::from_secs(29), &mut term);
        assert!(term.is_empty(), "nothing before the deadline");
        assert!(cb.clear_pending());

        cb.tick_at(t0 + Duration::from_secs(30), &mut term);
        assert_eq!(term.as_slice(), osc52_sequence(b"", true).as_slice());
        assert!(!cb.clear_pending());

        term.clear();
        cb.tick_at(t0 + Duration::from_secs(31), &mut term);
        cb.clear_now(&mut term);
        assert!(term.is_empty(), "cleared exactly once");
    }

    #[test]
    fn without_auto_clear_only_quit_clears() {
        let (mut cb, _) = with_desk(ClipboardMode::Osc52, SSH, None);
        let mut term = Vec::new();
        cb.copy(&secret(JWT), &mut term);
        term.clear();
        cb.tick_at(Instant::now() + Duration::from_secs(86_400), &mut term);
        assert!(term.is_empty());
        cb.clear_now(&mut term);
        assert_eq!(term.as_slice(), b"\x1b]52;c;\x1b\\");
    }

    #[test]
    fn native_clears_only_while_it_still_holds_our_secret() {
        let t0 = Instant::now();
        let after = t0 + Duration::from_secs(30);

        // Still ours: both the native and the terminal clipboard are cleared.
        let (mut cb, desk) = with_desk(ClipboardMode::Auto, LOCAL, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        assert_eq!(
            cb.copy_at(t0, &secret(JWT), &mut term),
            CopyOutcome::NativeAndOsc52
        );
        assert_eq!(desk.contents().as_deref(), Some(JWT));
        assert_eq!(osc52_payloads(&term), vec![JWT.as_bytes().to_vec()]);
        term.clear();
        cb.tick_at(after, &mut term);
        assert_eq!(desk.contents(), None);
        assert_eq!(term.as_slice(), b"\x1b]52;c;\x1b\\");

        // The user copied something else since: neither clipboard is touched.
        let (mut cb, desk) = with_desk(ClipboardMode::Auto, LOCAL, Some(Duration::from_secs(30)));
        cb.copy_at(t0, &secret(JWT), &mut term);
        desk.user_copies("an address the user copied later");
        term.clear();
        cb.tick_at(after, &mut term);
        assert_eq!(
            desk.contents().as_deref(),
            Some("an address the user copied later")
        );
        assert!(
            term.is_empty(),
            "a blind OSC 52 clear would clobber the user's copy"
        );
        assert!(!cb.clear_pending());
    }

    #[test]
    fn quit_clears_the_native_clipboard() {
        let (mut cb, desk) = with_desk(ClipboardMode::Native, LOCAL, Some(Duration::from_secs(30)));
        let mut term = Vec::new();
        assert_eq!(cb.copy(&secret(JWT), &mut term), CopyOutcome::Native);
        assert!(term.is_empty(), "native mode sends no OSC 52");
        cb.clear_now(&mut term);
        assert_eq!(desk.contents(), None);
        assert!(term.is_empty());
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
        // auto on a desktop whose display is gone: OSC 52 carries it, and opening is not retried.
        let (mut cb, attempts) = no_display(ClipboardMode::Auto, LOCAL);
        let mut term = Vec::new();
        assert_eq!(cb.copy(&secret(JWT), &mut term), CopyOutcome::Osc52);
        assert_eq!(osc52_payloads(&term), vec![JWT.as_bytes().to_vec()]);
        assert_eq!(cb.copy(&secret(JWT), &mut term), CopyOutcome::Osc52);
        assert_eq!(*attempts.lock().unwrap(), 1);

        // native only: an honest failure that names the cause and the way out.
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
        let message = outcome.message();
        assert!(
            message.contains("select the text manually") && !message.contains(JWT),
            "{message}"
        );
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
        assert!(!reason.contains(JWT));
        cb.tick_at(Instant::now() + Duration::from_secs(60), &mut Broken);
        cb.clear_now(&mut Broken);
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
            CopyOutcome::Native => assert!(env.display, "native copy cannot succeed without a display"),
            CopyOutcome::Failed(reason) => assert!(reason.contains("system clipboard"), "{reason}"),
            other => panic!("native mode gave {other:?}"),
        }
        if !env.display {
            assert!(matches!(outcome, CopyOutcome::Failed(_)), "{outcome:?}");
        }
        cb.clear_now(&mut term);
        assert!(term.is_empty());
    }

    #[test]
    fn clipboard_keeps_a_digest_not_the_secret() {
        let (mut cb, _) = with_desk(ClipboardMode::Auto, LOCAL, Some(Duration::from_secs(30)));
        let s = secret(JWT);
        cb.copy(&s, &mut Vec::new());
        let pending = cb.pending.as_ref().expect("a clear is pending");
        let kept = pending.native_digest.as_deref().expect("native digest kept");
        assert_eq!(kept, digest(JWT));
        assert!(!kept.contains(JWT));
        let debug = format!("{cb:?}");
        assert!(!debug.contains(JWT) && !debug.contains(kept), "{debug}");
        assert!(debug.contains("clear_pending: true"), "{debug}");
    }

    #[test]
    fn clipboard_can_move_to_the_ui_task() {
        fn assert_send<T: Send>() {}
        assert_send::<Clipboard>();
    }

    #[test]
    fn messages_are_honest() {
        assert_eq!(CopyOutcome::Native.message(), "Copied to the clipboard.");
        assert!(
            CopyOutcome::Osc52
                .message()
                .starts_with("Sent to your terminal's clipboard (OSC 52).")
        );
        assert!(!CopyOutcome::Osc52.message().to_lowercase().contains("copied"));
        let both = CopyOutcome::NativeAndOsc52.message();
        assert!(
            both.contains("Copied to the clipboard") && both.contains("(OSC 52)"),
            "{both}"
        );
        assert!(
            CopyOutcome::Failed("x".into())
                .message()
                .contains("select the text manually")
        );
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
