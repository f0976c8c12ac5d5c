//! Exit codes and the one error type of the scriptable CLI. The codes are documented in the
//! README and are part of the interface: scripts branch on them.

use crate::client::ClientError;
use std::fmt;

/// Every exit status the CLI uses. Distinct per cause so cron jobs and monitors can tell a
/// finding from a broken setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// A check found something (`tokens expiring` found a token).
    CheckFailed = 1,
    /// Bad arguments, a refused guard (no `--yes`, `--out -` to a terminal), or a request the
    /// server rejected as invalid.
    Usage = 2,
    /// Not signed in, the session ended, or wrong credentials.
    Authentication = 3,
    /// Signed in, but not allowed (no Developers authority, not an app member).
    Permission = 4,
    NotFound = 5,
    /// Already exists or in a conflicting state (an active token, a taken name, an existing
    /// `--out` file).
    Conflict = 6,
    /// The server could not be reached or did not answer in time.
    Unreachable = 7,
    /// Anything else: a server error, a local I/O error.
    Failure = 8,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A failed command: the exit status and a sentence for stderr. Never carries a secret.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// Local I/O on `what` failed.
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Self {
        Self::failure(format!("{what}: {e}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Api { status, .. } => match status {
                401 => Exit::Authentication,
                403 => Exit::Permission,
                404 => Exit::NotFound,
                409 => Exit::Conflict,
                400 | 413 | 415 | 422 => Exit::Usage,
                _ => Exit::Failure,
            },
            // A refused certificate is a server we cannot safely reach.
            ClientError::Unreachable { .. }
            | ClientError::Timeout { .. }
            | ClientError::Certificate { .. } => Exit::Unreachable,
            ClientError::BadUrl(_) | ClientError::BadUrlHint { .. } | ClientError::CaCert { .. } => {
                Exit::Usage
            }
            ClientError::Protocol { .. } => Exit::Failure,
        };
        // Server text is shown to a terminal: no escapes may pass.
        CliError::new(exit, crate::tui::text::sanitize(&e.to_string(), false))
    }
}

pub type CliResult<T = Exit> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let all = [
            Exit::Ok,
            Exit::CheckFailed,
            Exit::Usage,
            Exit::Authentication,
            Exit::Permission,
            Exit::NotFound,
            Exit::Conflict,
            Exit::Unreachable,
            Exit::Failure,
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn api_errors_map_by_status() {
        let api = |status| ClientError::Api {
            status,
            code: "x".into(),
            message: "no\x1b[2J".into(),
        };
        assert_eq!(CliError::from(api(401)).exit, Exit::Authentication);
        assert_eq!(CliError::from(api(403)).exit, Exit::Permission);
        assert_eq!(CliError::from(api(404)).exit, Exit::NotFound);
        assert_eq!(CliError::from(api(409)).exit, Exit::Conflict);
        assert_eq!(CliError::from(api(400)).exit, Exit::Usage);
        assert_eq!(CliError::from(api(500)).exit, Exit::Failure);
        assert!(!CliError::from(api(500)).message.contains('\x1b'));
        let down = ClientError::Unreachable {
            url: "http://x".into(),
            reason: "refused".into(),
        };
        assert_eq!(CliError::from(down).exit, Exit::Unreachable);
    }
}
