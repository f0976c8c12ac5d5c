//! `devconsole admin …`: act on the local database directly (bootstrap, recovery). They never
//! talk to a server, so `--server`/`--profile` are refused rather than ignored.

use crate::admins;
use crate::server;
use crate::store::Store;
use crate::wire::Role;
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use secrecy::SecretString;
use std::io::Read;

#[derive(Debug, clap::Args)]
pub struct Database {
    /// Database URL (default: sqlite file console.db in the platform data dir).
    #[arg(long, env = "DEVCONSOLE_DATABASE_URL")]
    pub database: Option<String>,
}

impl Database {
    pub fn url(&self) -> Result<String> {
        match &self.database {
            Some(url) => Ok(url.clone()),
            None => crate::paths::default_database_url().wrap_err("creating the data directory"),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an admin who can sign in to the console.
    Create {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from standard input (one line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        db: Database,
    },
    /// Replace an admin's password; their sessions end.
    SetPassword {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        db: Database,
    },
    /// List admins.
    List {
        #[command(flatten)]
        db: Database,
    },
    /// Change an admin's role; their sessions end. The last super admin cannot be demoted.
    SetRole {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        db: Database,
    },
    /// Delete an admin, ending their sessions and removing them from app access permissions.
    /// Refused for the last super admin, and for the only member of an app unless
    /// --reassign-to names who takes those apps over.
    Delete {
        name: String,
        /// An admin with Developers authority who becomes a member of every app NAME is the only
        /// member of.
        #[arg(long, value_name = "ADMIN")]
        reassign_to: Option<String>,
        #[command(flatten)]
        db: Database,
    },
    /// End a sign-in lockout: a username's (clears its recent failed attempts), or with
    /// --address a client address's.
    #[command(group(clap::ArgGroup::new("who").required(true).args(["name", "address"])))]
    Unlock {
        name: Option<String>,
        /// Unlock this client address instead (all usernames tried from it lose those failures).
        #[arg(long, value_name = "IP")]
        address: Option<String>,
        #[command(flatten)]
        db: Database,
    },
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    match s {
        "super-admin" => Ok(Role::SuperAdmin),
        "developer" => Ok(Role::Developer),
        "admin" => Ok(Role::Admin),
        _ => Err("expected super-admin, developer or admin".into()),
    }
}

fn read_password() -> Result<SecretString> {
    let mut raw = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut raw)
        .wrap_err("reading the password from stdin")?;
    let password = raw.trim_end_matches(['\n', '\r']);
    if password.chars().count() < 12 {
        bail!("the password must be at least 12 characters");
    }
    if password.contains('\n') {
        bail!("the password must be a single line");
    }
    Ok(SecretString::from(password.to_owned()))
}

fn hash(password: &SecretString) -> Result<String> {
    server::hash_password(password).map_err(|e| eyre!("hashing the password: {e}"))
}

pub async fn run(command: AdminCommand) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        AdminCommand::Create {
            name,
            role,
            password_stdin: _,
            db,
        } => {
            let name = crate::validate::username(&name).map_err(|e| eyre!("username {e}"))?;
            let password = read_password()?;
            let hash = hash(&password)?;
            let store = Store::open(&db.url()?).await?;
            let admin = store
                .create_admin(&name, role, Some(&hash), now)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::Conflict(_) => {
                        eyre!("an admin named {name} already exists")
                    }
                    other => other.into(),
                })?;
            store.close().await;
            println!("created {} ({})", admin.username, admin.role.label());
        }
        AdminCommand::SetPassword {
            name,
            password_stdin: _,
            db,
        } => {
            let password = read_password()?;
            let store = Store::open(&db.url()?).await?;
            let ended = admins::set_password(&store, &name, &hash(&password)?, now).await;
            store.close().await;
            let ended = ended?;
            println!("password replaced for {name}; {ended} session(s) ended");
        }
        AdminCommand::SetRole { name, role, db } => {
            let store = Store::open(&db.url()?).await?;
            let ended = admins::set_role(&store, &name, role, now).await;
            store.close().await;
            let ended = ended?;
            println!("{name} is now {}; {ended} session(s) ended", role.label());
        }
        AdminCommand::List { db } => {
            let store = Store::open(&db.url()?).await?;
            for admin in store.list_admins().await? {
                println!("{:<32} {}", admin.username, admin.role.label());
            }
            store.close().await;
        }
        AdminCommand::Delete {
            name,
            reassign_to,
            db,
        } => {
            let store = Store::open(&db.url()?).await?;
            let handed = admins::delete(&store, &name, reassign_to.as_deref(), now).await;
            store.close().await;
            let handed = handed?;
            match reassign_to {
                Some(heir) if !handed.is_empty() => {
                    println!("deleted {name}; {heir} now manages {}", handed.join(", "))
                }
                _ => println!("deleted {name}"),
            }
        }
        AdminCommand::Unlock { name, address, db } => {
            let store = Store::open(&db.url()?).await?;
            let (who, cleared) = match (&name, &address) {
                (_, Some(address)) => (address, admins::unlock_address(&store, address, now).await),
                (Some(name), None) => (name, admins::unlock(&store, name, now).await),
                (None, None) => unreachable!("clap requires a name or --address"),
            };
            store.close().await;
            println!("unlocked {who} ({} failed sign-in(s) cleared)", cleared?);
        }
    }
    Ok(())
}
