//! Where a secret goes: only a `--out FILE` created 0600 (never overwritten without `--force`),
//! or `--out -` when stdout is not a terminal. The destination is opened BEFORE the request
//! that creates the secret, so a refused file never costs a reissued secret.

use super::exit::{CliError, CliResult, Exit};
use secrecy::{ExposeSecret, SecretString};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, clap::Args)]
pub struct OutArgs {
    /// Write the secret to this file (created with mode 0600), or `-` for stdout when stdout
    /// is not a terminal. The secret is never printed otherwise.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace FILE if it exists (atomically, still mode 0600).
    #[arg(long)]
    pub force: bool,
}

/// An opened destination. Dropped without [`SecretSink::write`], it removes what it created.
#[derive(Debug)]
pub struct SecretSink {
    target: Target,
    written: bool,
}

#[derive(Debug)]
enum Target {
    Stdout,
    /// A new file at `path`; `staging` is set with `--force`: the temp file renamed over `path`.
    File {
        path: PathBuf,
        staging: Option<PathBuf>,
        file: Option<File>,
    },
}

/// Where the secret ended up, for the confirmation message.
pub enum Written {
    Stdout,
    File(PathBuf),
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl SecretSink {
    pub fn open(args: &OutArgs) -> CliResult<SecretSink> {
        if args.out.as_os_str() == "-" {
            if std::io::stdout().is_terminal() {
                return Err(CliError::usage(
                    "refusing to print a secret to a terminal: use --out FILE, or pipe stdout",
                ));
            }
            return Ok(SecretSink {
                target: Target::Stdout,
                written: false,
            });
        }
        let path = args.out.clone();
        let shown = path.display().to_string();
        if !args.force {
            let file = create_private(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => CliError::new(
                    Exit::Conflict,
                    format!("{shown} already exists; pass --force to replace it"),
                ),
                _ => CliError::io(format!("creating {shown}"), e),
            })?;
            return Ok(SecretSink {
                target: Target::File {
                    path,
                    staging: None,
                    file: Some(file),
                },
                written: false,
            });
        }
        if path.is_dir() {
            return Err(CliError::usage(format!("{shown} is a directory")));
        }
        let name = path
            .file_name()
            .ok_or_else(|| CliError::usage(format!("{shown} is not a file name")))?;
        let mut staged = std::ffi::OsString::from(".");
        staged.push(name);
        staged.push(format!(".{}.tmp", std::process::id()));
        let staging = path.with_file_name(staged);
        let file = create_private(&staging)
            .map_err(|e| CliError::io(format!("creating a file next to {shown}"), e))?;
        Ok(SecretSink {
            target: Target::File {
                path,
                staging: Some(staging),
                file: Some(file),
            },
            written: false,
        })
    }

    /// True when the secret goes to stdout, so other output must go to stderr.
    pub fn is_stdout(&self) -> bool {
        matches!(self.target, Target::Stdout)
    }

    pub fn write(mut self, secret: &SecretString) -> CliResult<Written> {
        let line = zeroize::Zeroizing::new(format!("{}\n", secret.expose_secret()));
        match &mut self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|e| CliError::io("writing the secret to stdout", e))?;
                self.written = true;
                Ok(Written::Stdout)
            }
            Target::File { path, staging, file } => {
                let mut f = file.take().expect("a sink is written once");
                let shown = path.display().to_string();
                f.write_all(line.as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| CliError::io(format!("writing {shown}"), e))?;
                drop(f);
                if let Some(staged) = staging.as_ref() {
                    std::fs::rename(staged, &*path)
                        .map_err(|e| CliError::io(format!("replacing {shown}"), e))?;
                }
                self.written = true;
                Ok(Written::File(path.clone()))
            }
        }
    }
}

impl Drop for SecretSink {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        if let Target::File { path, staging, .. } = &self.target {
            let _ = std::fs::remove_file(staging.as_ref().unwrap_or(path));
        }
    }
}

impl Written {
    pub fn describe(&self) -> String {
        match self {
            Written::Stdout => "written to stdout".into(),
            Written::File(p) => format!("written to {} (mode 0600)", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(path: &Path, force: bool) -> OutArgs {
        OutArgs {
            out: path.to_path_buf(),
            force,
        }
    }

    #[test]
    fn new_files_are_private_and_never_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let sink = SecretSink::open(&args(&path, false)).unwrap();
        sink.write(&SecretString::from("s3cret")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let err = SecretSink::open(&args(&path, false)).unwrap_err();
        assert_eq!(err.exit, Exit::Conflict);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");

        std::fs::write(dir.path().join("loose"), "old").unwrap();
        let loose = dir.path().join("loose");
        SecretSink::open(&args(&loose, true))
            .unwrap()
            .write(&SecretString::from("new"))
            .unwrap();
        assert_eq!(std::fs::read_to_string(&loose).unwrap(), "new\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&loose).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn an_unwritten_sink_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        drop(SecretSink::open(&args(&path, false)).unwrap());
        assert!(!path.exists());
        std::fs::write(&path, "keep").unwrap();
        drop(SecretSink::open(&args(&path, true)).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
