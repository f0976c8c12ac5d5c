//! Clipboard: a thin stand-in with the agreed API, replaced at merge by the clipboard branch.
//! It only implements what the console needs to run: OSC 52 (tmux-wrapped under `$TMUX`) and
//! a lazily created native clipboard.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    #[default]
    Auto,
    Native,
    Osc52,
    Off,
}

/// What a copy did, for an honest status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOutcome {
    Native,
    Osc52,
    NativeAndOsc52,
    Disabled,
    Failed(String),
}

impl CopyOutcome {
    pub fn message(&self) -> String {
        match self {
            CopyOutcome::Native => "copied".into(),
            CopyOutcome::Osc52 => "sent to your terminal's clipboard (OSC 52)".into(),
            CopyOutcome::NativeAndOsc52 => "copied (and sent to your terminal's clipboard via OSC 52)".into(),
            CopyOutcome::Disabled => "the clipboard is off in config.toml; select the text instead".into(),
            CopyOutcome::Failed(why) => format!("copy failed: {why}; select the text instead"),
        }
    }
}

pub struct Clipboard {
    mode: ClipboardMode,
    clear_after: Option<Duration>,
    native: Option<arboard::Clipboard>,
    deadline: Option<Instant>,
    owned: bool,
}

fn osc52(payload: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(payload.as_bytes());
    let seq = format!("\x1b]52;c;{b64}\x07");
    if std::env::var_os("TMUX").is_some() {
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else {
        seq
    }
}

fn remote_or_headless() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("SSH_CONNECTION") || set("SSH_TTY") || !(set("DISPLAY") || set("WAYLAND_DISPLAY")) && cfg!(unix)
}

impl Clipboard {
    pub fn new(mode: ClipboardMode, clear_after: Option<Duration>) -> Self {
        Clipboard {
            mode,
            clear_after,
            native: None,
            deadline: None,
            owned: false,
        }
    }

    fn native(&mut self) -> Result<&mut arboard::Clipboard, String> {
        if self.native.is_none() {
            self.native = Some(arboard::Clipboard::new().map_err(|e| e.to_string())?);
        }
        Ok(self.native.as_mut().expect("just set"))
    }

    fn send_osc52(term: &mut dyn Write, text: &str) -> bool {
        term.write_all(osc52(text).as_bytes()).is_ok() && term.flush().is_ok()
    }

    pub fn copy(&mut self, secret: &SecretString, term: &mut dyn Write) -> CopyOutcome {
        let text = secret.expose_secret();
        let outcome = match self.mode {
            ClipboardMode::Off => return CopyOutcome::Disabled,
            ClipboardMode::Osc52 => match Self::send_osc52(term, text) {
                true => CopyOutcome::Osc52,
                false => CopyOutcome::Failed("could not write to the terminal".into()),
            },
            ClipboardMode::Native => match self
                .native()
                .and_then(|c| c.set_text(text).map_err(|e| e.to_string()))
            {
                Ok(()) => CopyOutcome::Native,
                Err(e) => CopyOutcome::Failed(e),
            },
            ClipboardMode::Auto if remote_or_headless() => match Self::send_osc52(term, text) {
                true => CopyOutcome::Osc52,
                false => CopyOutcome::Failed("could not write to the terminal".into()),
            },
            ClipboardMode::Auto => {
                let native = self
                    .native()
                    .and_then(|c| c.set_text(text).map_err(|e| e.to_string()));
                match (native, Self::send_osc52(term, text)) {
                    (Ok(()), true) => CopyOutcome::NativeAndOsc52,
                    (Ok(()), false) => CopyOutcome::Native,
                    (Err(_), true) => CopyOutcome::Osc52,
                    (Err(e), false) => CopyOutcome::Failed(e),
                }
            }
        };
        if !matches!(outcome, CopyOutcome::Failed(_)) {
            self.owned = true;
            self.deadline = self.clear_after.map(|d| Instant::now() + d);
        }
        outcome
    }

    pub fn tick(&mut self, term: &mut dyn Write) {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.clear_now(term);
        }
    }

    pub fn clear_now(&mut self, term: &mut dyn Write) {
        if !self.owned {
            return;
        }
        self.owned = false;
        self.deadline = None;
        if let Some(native) = self.native.as_mut() {
            let _ = native.clear();
        }
        if matches!(self.mode, ClipboardMode::Osc52 | ClipboardMode::Auto) {
            let _ = Self::send_osc52(term, "");
        }
    }
}
