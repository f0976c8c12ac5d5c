//! Terminal console configuration: `config.toml` in the config dir, over the defaults shipped in
//! `assets/config.toml`. Unknown keys are an error.

use crate::client::ProxySetting;
use crate::clipboard::ClipboardMode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shipped defaults; every key is present here.
pub const DEFAULT_CONFIG: &str = include_str!("../assets/config.toml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mouse: bool,
    pub session_cache: bool,
    /// `clipboard = "auto" | "native" | "osc52" | "off"`.
    pub clipboard: ClipboardMode,
    /// Seconds until a copied secret is cleared; 0 never clears.
    pub clipboard_clear_after_secs: u64,
    /// Also clear an OSC 52 copy at that time, blindly (it cannot be read back). Off by default.
    pub clipboard_clear_osc52: bool,
    /// `proxy = "system" | "none" | "<url>"` for remote servers without their own `proxy`.
    pub proxy: ProxySetting,
    pub profiles: BTreeMap<String, Profile>,
    /// Action name to key specs ("ctrl-d"); parsed by the console's keymap.
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub server: String,
    #[serde(default)]
    pub username: Option<String>,
    /// Overrides the top-level `proxy` for this server.
    #[serde(default)]
    pub proxy: Option<ProxySetting>,
    /// A PEM file of CA certificates trusted for this server, on top of the system store.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

/// The file as written: every key optional, none unknown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    mouse: Option<bool>,
    session_cache: Option<bool>,
    clipboard: Option<ClipboardMode>,
    clipboard_clear_after_secs: Option<u64>,
    clipboard_clear_osc52: Option<bool>,
    proxy: Option<ProxySetting>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no profile named {name:?} in {path}{}", known_profiles(.known))]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: Vec<String>,
    },
}

fn known_profiles(known: &[String]) -> String {
    if known.is_empty() {
        " (it defines no [profiles])".into()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

impl Config {
    pub fn clipboard_clear_after(&self) -> Option<Duration> {
        (self.clipboard_clear_after_secs > 0).then(|| Duration::from_secs(self.clipboard_clear_after_secs))
    }

    /// The shipped defaults.
    pub fn defaults() -> Config {
        let file: ConfigFile = toml::from_str(DEFAULT_CONFIG).expect("assets/config.toml is valid");
        Config {
            mouse: file.mouse.expect("assets/config.toml sets mouse"),
            session_cache: file.session_cache.expect("assets/config.toml sets session_cache"),
            clipboard: file.clipboard.expect("assets/config.toml sets clipboard"),
            clipboard_clear_after_secs: file
                .clipboard_clear_after_secs
                .expect("assets/config.toml sets clipboard_clear_after_secs"),
            clipboard_clear_osc52: file
                .clipboard_clear_osc52
                .expect("assets/config.toml sets clipboard_clear_osc52"),
            proxy: file.proxy.expect("assets/config.toml sets proxy"),
            profiles: file.profiles,
            keys: file.keys,
        }
    }

    /// Defaults overlaid with `text` (the contents of `path`, named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe(&e, text),
        })?;
        let mut config = Config::defaults();
        if let Some(mouse) = file.mouse {
            config.mouse = mouse;
        }
        if let Some(cache) = file.session_cache {
            config.session_cache = cache;
        }
        if let Some(mode) = file.clipboard {
            config.clipboard = mode;
        }
        if let Some(secs) = file.clipboard_clear_after_secs {
            config.clipboard_clear_after_secs = secs;
        }
        if let Some(blind) = file.clipboard_clear_osc52 {
            config.clipboard_clear_osc52 = blind;
        }
        if let Some(proxy) = file.proxy {
            config.proxy = proxy;
        }
        config.profiles.extend(file.profiles);
        config.keys.extend(file.keys);
        Ok(config)
    }

    /// `config.toml` in the config dir, or the defaults when there is none.
    pub fn load() -> Result<(Config, PathBuf), ConfigError> {
        let path = crate::paths::config_dir().join("config.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Config::parse(&text, &path)?, path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Config::defaults(), path)),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// The proxy setting for `profile` (or for `--server`, with none).
    pub fn proxy_for(&self, profile: Option<&Profile>) -> ProxySetting {
        profile
            .and_then(|p| p.proxy.clone())
            .unwrap_or_else(|| self.proxy.clone())
    }

    /// The transport for one server: its proxy and trust settings, with a relative `ca_cert`
    /// taken from the config file's directory.
    pub fn client_builder(
        &self,
        server: &str,
        profile: Option<&Profile>,
        config_path: &Path,
    ) -> crate::client::ConsoleClientBuilder {
        let ca_cert = profile
            .and_then(|p| p.ca_cert.as_ref())
            .map(|ca| match config_path.parent() {
                Some(dir) if ca.is_relative() => dir.join(ca),
                _ => ca.clone(),
            });
        crate::client::ConsoleClient::builder(server)
            .proxy(self.proxy_for(profile))
            .ca_cert(ca_cert)
    }

    pub fn profile(&self, name: &str, path: &Path) -> Result<&Profile, ConfigError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::UnknownProfile {
                name: name.to_owned(),
                path: path.to_path_buf(),
                known: self.profiles.keys().cloned().collect(),
            })
    }
}

/// The parser's message and its line, without the source line toml's `Display` quotes: that
/// line may hold a proxy password.
fn describe(e: &toml::de::Error, text: &str) -> String {
    match e.span() {
        Some(span) => {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            format!("line {line}: {}", e.message().trim_end())
        }
        None => e.message().trim_end().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("/cfg/config.toml")
    }

    #[test]
    fn shipped_defaults_parse_and_are_safe() {
        let c = Config::defaults();
        assert!(!c.mouse, "mouse capture must be off by default");
        assert!(!c.session_cache, "sessions are in memory only by default");
        assert_eq!(c.clipboard, ClipboardMode::Auto);
        assert_eq!(c.clipboard_clear_after(), Some(Duration::from_secs(30)));
        assert_eq!(c.keys["quit"], vec!["q".to_owned()]);
        // The defaults file parses as a user file too.
        assert_eq!(Config::parse(DEFAULT_CONFIG, &p()).unwrap(), c);
    }

    #[test]
    fn user_file_overrides_only_what_it_sets() {
        let c = Config::parse(
            "mouse = true\nclipboard_clear_after_secs = 0\n[profiles.prod]\nserver = \"https://c.example\"\n\
             [keys]\nquit = [\"ctrl-q\"]\n",
            &p(),
        )
        .unwrap();
        assert!(c.mouse);
        assert_eq!(c.clipboard, ClipboardMode::Auto);
        assert_eq!(c.clipboard_clear_after(), None);
        assert_eq!(c.profile("prod", &p()).unwrap().server, "https://c.example");
        assert_eq!(c.keys["quit"], vec!["ctrl-q".to_owned()]);
        assert_eq!(c.keys["help"], vec!["?".to_owned()]);
        let c = Config::parse("clipboard = \"osc52\"\n", &p()).unwrap();
        assert_eq!(c.clipboard, ClipboardMode::Osc52);
    }

    #[test]
    fn unknown_keys_are_a_clear_error() {
        let err = Config::parse("mouse = true\nclipbaord = \"osc52\"\n", &p()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/cfg/config.toml"), "{text}");
        assert!(text.contains("clipbaord"), "{text}");
        let err = Config::parse("clipboard = \"xclip\"\n", &p()).unwrap_err();
        assert!(err.to_string().contains("xclip"), "{err}");
        let err = Config::parse("[profiles.a]\nserver = \"x\"\nport = 1\n", &p()).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
    }

    #[test]
    fn proxy_and_ca_cert_per_profile_over_the_top_level() {
        let c = Config::defaults();
        assert_eq!(c.proxy, ProxySetting::System);
        let c = Config::parse(
            "proxy = \"none\"\n[profiles.corp]\nserver = \"https://c\"\nproxy = \"http://proxy.corp:3128\"\n\
             ca_cert = \"corp-ca.pem\"\n[profiles.home]\nserver = \"https://h\"\n",
            &p(),
        )
        .unwrap();
        let corp = c.profile("corp", &p()).unwrap();
        assert_eq!(
            c.proxy_for(Some(corp)),
            ProxySetting::Url("http://proxy.corp:3128".into())
        );
        assert_eq!(
            c.proxy_for(Some(c.profile("home", &p()).unwrap())),
            ProxySetting::None
        );
        assert_eq!(c.proxy_for(None), ProxySetting::None);
        assert_eq!(corp.ca_cert.as_deref(), Some(Path::new("corp-ca.pem")));
        let err = Config::parse("proxy = \"squid\"\n", &p())
            .unwrap_err()
            .to_string();
        assert!(err.contains("system") && err.contains("squid"), "{err}");
        let err = Config::parse("proxy = \"ftp://p:21\"\n", &p())
            .unwrap_err()
            .to_string();
        assert!(err.contains("http://HOST:PORT"), "{err}");
    }

    #[test]
    fn a_proxy_password_is_never_echoed() {
        for text in [
            "proxy = \"http://alice:hunter2@proxy.corp:99999\"\n",
            "proxy = \"http://alice:hunter2@[bad\"\n",
            "proxy = \"ftp://alice:hunter2@p:21\"\n",
            "mouse = true\n[profiles.a]\nserver = \"https://c\"\nproxy = \"alice:hunter2@proxy\"\n",
            "proxy = \"http://alice:hunter2@proxy:3128\"\nmouse = \"yes\"\n",
        ] {
            let err = Config::parse(text, &p()).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("line "), "says where: {err}");
        }
        let err = Config::parse("mouse = true\nproxy = \"http://a:b@[x\"\n", &p())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("http://***@[x"), "{err}");
        let c = Config::parse("proxy = \"http://alice:hunter2@proxy:3128\"\n", &p()).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("***@proxy:3128"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_profile_names_the_known_ones() {
        let c = Config::parse("[profiles.prod]\nserver = \"https://c\"\n", &p()).unwrap();
        let err = c.profile("staging", &p()).unwrap_err().to_string();
        assert!(err.contains("staging") && err.contains("prod"), "{err}");
    }
}
