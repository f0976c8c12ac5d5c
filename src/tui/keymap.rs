//! The live keymap: actions, their keys (defaults from assets/config.toml, overridable), and
//! the help text generated from it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

/// Where an action applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    AppList,
    ManageApp,
    SecretModal,
    Activity,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::AppList => "Client app list",
            Context::ManageApp => "Manage client app",
            Context::SecretModal => "One-time secret",
            Context::Activity => "Provisioning activity",
        }
    }
}

macro_rules! actions {
    ($($variant:ident $name:literal $ctx:ident $hint:literal $help:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];
            /// The name used in config.toml `[keys]`.
            pub fn name(self) -> &'static str { match self { $(Action::$variant => $name),* } }
            pub fn context(self) -> Context { match self { $(Action::$variant => Context::$ctx),* } }
            pub fn help(self) -> &'static str { match self { $(Action::$variant => $help),* } }
            /// The one or two words the hint bar shows after the key.
            pub fn hint(self) -> &'static str { match self { $(Action::$variant => $hint),* } }
        }
    };
}

actions! {
    Quit "quit" Global "quit" "quit";
    Help "help" Global "help" "show or hide this help";
    Back "back" Global "back" "go back, close, or clear the filter";
    Refresh "refresh" Global "refresh" "reload from the server (and retry when unreachable)";
    Up "up" Global "up" "move up";
    Down "down" Global "scroll" "move down";
    Top "top" Global "top" "go to the first row";
    Bottom "bottom" Global "bottom" "go to the last row";
    PageUp "page_up" Global "page up" "page up";
    PageDown "page_down" Global "page down" "page down";
    Filter "filter" AppList "filter" "filter the list as you type";
    Sort "sort" AppList "sort" "sort: age/name/expiry/last use";
    Expiring "expiring" AppList "expiring" "only tokens expiring in N days";
    AddApp "add_app" AppList "add" "add a client app";
    Open "open" AppList "open" "open the selected app";
    DeleteApp "delete_app" AppList "delete" "delete the selected app (type its name to confirm)";
    AuditLog "audit_log" AppList "audit" "audit log (all apps, or this app on its page)";
    Activity "activity" AppList "activity" "provisioning activity: SCIM calls (all apps, or this app)";
    Edit "edit" ManageApp "edit" "edit the app name and description";
    EditMembers "edit_members" ManageApp "members" "edit the app access permission members";
    ReissueSecret "reissue_secret" ManageApp "secret" "reissue the client secret (shown once)";
    ToggleScim "toggle_scim" ManageApp "SCIM" "switch Enable SCIM on or off (asks first)";
    IssueToken "issue_token" ManageApp "issue" "issue a Dedicated Token (shown once)";
    RevokeToken "revoke_token" ManageApp "revoke" "revoke the active token (type the app name)";
    ConnectProvider "connect_provider" ManageApp "provider" "Connect a provider: what to paste into Entra ID or Okta";
    CopyScimUrl "copy_scim_url" ManageApp "copy URL" "copy the SCIM base URL";
    Copy "copy" SecretModal "copy" "copy the secret to the clipboard";
    TestToken "test_token" SecretModal "test" "test the token with one SCIM request";
    Acknowledge "acknowledge" SecretModal "stored" "tick \"I have stored this\"";
    ActivityDetail "activity_detail" Activity "detail" "the selected call on the whole screen (again: back)";
    FailedOnly "failed_only" Activity "failed only" "show only failed SCIM calls, or all again";
    WriteFile "write_file" SecretModal "write" "write the secret to a new file (mode 0600)";
    OneLine "one_line" SecretModal "one line" "show the secret unwrapped, for tmux copy mode";
    CopyClientId "copy_client_id" AppList "copy ID" "copy the client ID (list and app page)";
    Logout "logout" Global "log out" "sign out and end the session on the server";
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapError {
    #[error("[keys]: there is no action named {0:?}")]
    UnknownAction(String),
    #[error(
        "[keys] {action}: cannot read the key {key:?} (try \"x\", \"ctrl-d\", \"enter\", \"pgdn\", \"f5\")"
    )]
    BadKey { action: String, key: String },
    #[error("[keys] {action}: needs at least one key")]
    NoKeys { action: String },
}

/// A key as the keymap compares it: code plus the modifiers that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
}

/// `KeyCode` subset with an ordering, so the keymap can live in a BTreeMap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    Insert,
}

impl Key {
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Insert => KeyCodeOrd::Insert,
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        })
    }

    /// Parses "q", "G", "?", "ctrl-d", "alt-x", "enter", "esc", "pgdn", "f5", "space".
    pub fn parse(spec: &str) -> Option<Key> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = spec;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCodeOrd::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCodeOrd::Enter,
                "esc" | "escape" => KeyCodeOrd::Esc,
                "tab" => KeyCodeOrd::Tab,
                "backtab" => KeyCodeOrd::BackTab,
                "backspace" => KeyCodeOrd::Backspace,
                "delete" | "del" => KeyCodeOrd::Delete,
                "up" => KeyCodeOrd::Up,
                "down" => KeyCodeOrd::Down,
                "left" => KeyCodeOrd::Left,
                "right" => KeyCodeOrd::Right,
                "home" => KeyCodeOrd::Home,
                "end" => KeyCodeOrd::End,
                "pgup" | "pageup" => KeyCodeOrd::PageUp,
                "pgdn" | "pagedown" => KeyCodeOrd::PageDown,
                "insert" => KeyCodeOrd::Insert,
                "space" => KeyCodeOrd::Char(' '),
                f if f.starts_with('f') => {
                    KeyCodeOrd::F(f[1..].parse().ok().filter(|n| (1..=24).contains(n))?)
                }
                _ => return None,
            },
        };
        Some(Key { code, ctrl, alt })
    }

    /// The inverse of [`Key::parse`], for the help overlay and hints.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCodeOrd::Char(' ') => "Space".to_owned(),
            KeyCodeOrd::Char(c) => c.to_string(),
            KeyCodeOrd::F(n) => format!("F{n}"),
            KeyCodeOrd::Enter => "Enter".into(),
            KeyCodeOrd::Esc => "Esc".into(),
            KeyCodeOrd::Tab => "Tab".into(),
            KeyCodeOrd::BackTab => "Shift-Tab".into(),
            KeyCodeOrd::Backspace => "Backspace".into(),
            KeyCodeOrd::Delete => "Del".into(),
            KeyCodeOrd::Up => "↑".into(),
            KeyCodeOrd::Down => "↓".into(),
            KeyCodeOrd::Left => "←".into(),
            KeyCodeOrd::Right => "→".into(),
            KeyCodeOrd::Home => "Home".into(),
            KeyCodeOrd::End => "End".into(),
            KeyCodeOrd::PageUp => "PgUp".into(),
            KeyCodeOrd::PageDown => "PgDn".into(),
            KeyCodeOrd::Insert => "Ins".into(),
        };
        match (self.ctrl, self.alt) {
            (true, _) => format!("Ctrl-{}", base.to_uppercase()),
            (_, true) => format!("Alt-{base}"),
            _ => base,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    keys: BTreeMap<Action, Vec<Key>>,
}

impl Keymap {
    /// Builds the keymap from `[keys]` (the shipped defaults already merged with the user's).
    pub fn from_config(keys: &BTreeMap<String, Vec<String>>) -> Result<Keymap, KeymapError> {
        let mut map = BTreeMap::new();
        for (name, specs) in keys {
            let action = Action::from_name(name).ok_or_else(|| KeymapError::UnknownAction(name.clone()))?;
            if specs.is_empty() {
                return Err(KeymapError::NoKeys { action: name.clone() });
            }
            let parsed = specs
                .iter()
                .map(|s| {
                    Key::parse(s).ok_or_else(|| KeymapError::BadKey {
                        action: name.clone(),
                        key: s.clone(),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            map.insert(action, parsed);
        }
        Ok(Keymap { keys: map })
    }

    pub fn defaults() -> Keymap {
        Keymap::from_config(&crate::config::Config::defaults().keys).expect("shipped keymap is valid")
    }

    /// The action bound to `ev` among those valid in `contexts`, earlier contexts first.
    pub fn lookup(&self, ev: &KeyEvent, contexts: &[Context]) -> Option<Action> {
        let key = Key::from_event(ev)?;
        contexts.iter().find_map(|ctx| {
            self.keys
                .iter()
                .find(|(a, keys)| a.context() == *ctx && keys.contains(&key))
                .map(|(a, _)| *a)
        })
    }

    pub fn keys(&self, action: Action) -> &[Key] {
        self.keys.get(&action).map(Vec::as_slice).unwrap_or(&[])
    }

    /// "j/↓" for hints and help.
    pub fn label(&self, action: Action) -> String {
        let keys = self.keys(action);
        if keys.is_empty() {
            return "(unbound)".into();
        }
        keys.iter().map(Key::label).collect::<Vec<_>>().join("/")
    }

    /// The hint bar for these actions: "a add · Enter open", from the live keys.
    pub fn hints(&self, actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| format!("{} {}", self.label(*a), a.hint()))
            .collect()
    }

    /// (context, [(keys, what it does)]) in a stable order, for the help overlay.
    pub fn help(&self) -> Vec<(Context, Vec<(String, &'static str)>)> {
        [
            Context::Global,
            Context::AppList,
            Context::ManageApp,
            Context::SecretModal,
            Context::Activity,
        ]
        .into_iter()
        .map(|ctx| {
            let rows = Action::ALL
                .iter()
                .filter(|a| a.context() == ctx)
                .map(|a| (self.label(*a), a.help()))
                .collect();
            (ctx, rows)
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn every_action_has_a_default_key() {
        let km = Keymap::defaults();
        for a in Action::ALL {
            assert!(!km.keys(*a).is_empty(), "{} has no default key", a.name());
        }
    }

    #[test]
    fn parse_and_label_round_trip() {
        for spec in [
            "q", "G", "?", "ctrl-d", "enter", "esc", "pgdn", "f5", "space", "alt-x", "up",
        ] {
            let k = Key::parse(spec).unwrap_or_else(|| panic!("{spec}"));
            assert!(!k.label().is_empty());
        }
        assert_eq!(Key::parse("ctrl-d").unwrap().label(), "Ctrl-D");
        assert!(Key::parse("ctrl-").is_none());
        assert!(Key::parse("f99").is_none());
        assert!(Key::parse("bogus").is_none());
    }

    #[test]
    fn lookup_respects_context_and_modifiers() {
        let km = Keymap::defaults();
        let list = [Context::AppList, Context::Global];
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('d'), KeyModifiers::CONTROL), &list),
            Some(Action::DeleteApp)
        );
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('d'), KeyModifiers::NONE), &list),
            None
        );
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('G'), KeyModifiers::SHIFT), &list),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('i'), KeyModifiers::NONE), &list),
            None
        );
        let manage = [Context::ManageApp, Context::Global];
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('i'), KeyModifiers::NONE), &manage),
            Some(Action::IssueToken)
        );
    }

    #[test]
    fn overrides_replace_defaults_and_bad_ones_are_errors() {
        let mut keys = crate::config::Config::defaults().keys;
        keys.insert("quit".into(), vec!["ctrl-q".into()]);
        let km = Keymap::from_config(&keys).unwrap();
        let list = [Context::Global];
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('q'), KeyModifiers::CONTROL), &list),
            Some(Action::Quit)
        );
        assert_eq!(
            km.lookup(&ev(KeyCode::Char('q'), KeyModifiers::NONE), &list),
            None
        );
        keys.insert("qiut".into(), vec!["x".into()]);
        assert_eq!(
            Keymap::from_config(&keys).unwrap_err(),
            KeymapError::UnknownAction("qiut".into())
        );
        keys.remove("qiut");
        keys.insert("help".into(), vec!["hyper-x".into()]);
        assert!(matches!(
            Keymap::from_config(&keys),
            Err(KeymapError::BadKey { .. })
        ));
    }
}
