//! The opt-in session cache (`session_cache = true`): one 0600 file per server in the data dir.

use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::PathBuf;

fn path(server: &str) -> PathBuf {
    let key = crate::secret::digest(server.trim_end_matches('/'));
    crate::paths::data_dir().join(format!("session-{}", &key[..16]))
}

pub fn load(server: &str) -> Option<SecretString> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path(server)).ok()?);
    let token = text.trim();
    (!token.is_empty()).then(|| SecretString::from(token.to_owned()))
}

pub fn store(server: &str, token: &SecretString) -> std::io::Result<()> {
    let path = path(server);
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(token.expose_secret().as_bytes())
}
