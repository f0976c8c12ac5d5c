//! The opt-in session cache (`session_cache = true`): one 0600 file per server in the data dir.

use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::{Path, PathBuf};

fn path(dir: &Path, server: &str) -> PathBuf {
    let key = crate::secret::digest(server.trim_end_matches('/'));
    dir.join(format!("session-{}", &key[..16]))
}

pub fn load(dir: &Path, server: &str) -> Option<SecretString> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path(dir, server)).ok()?);
    let token = text.trim();
    (!token.is_empty()).then(|| SecretString::from(token.to_owned()))
}

pub fn store(dir: &Path, server: &str, token: &SecretString) -> std::io::Result<()> {
    let path = path(dir, server);
    // Recreated rather than truncated, so the mode is always 0600 from the first byte.
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

/// Forgets the saved session for `server` (signing out, `devconsole logout`). True if there
/// was one.
pub fn remove(dir: &Path, server: &str) -> std::io::Result<bool> {
    match std::fs::remove_file(path(dir, server)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_cached_per_server_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), "https://a.example").is_none());
        store(
            dir.path(),
            "https://a.example/",
            &SecretString::from("dcsess_one"),
        )
        .unwrap();
        store(dir.path(), "https://a.example", &SecretString::from("dcsess_two")).unwrap();
        assert_eq!(
            load(dir.path(), "https://a.example").unwrap().expose_secret(),
            "dcsess_two"
        );
        assert!(load(dir.path(), "https://b.example").is_none());
        assert!(!remove(dir.path(), "https://b.example").unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = std::fs::read_dir(dir.path()).unwrap().next().unwrap().unwrap();
            assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
