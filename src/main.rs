//! `devconsole`: the terminal console (no subcommand), `devconsole serve`, and admin commands.

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use devconsole::server::{self, ServerConfig};
use devconsole::store::Store;
use devconsole::wire::Role;
use secrecy::SecretString;
use std::io::Read;
use std::net::SocketAddr;

#[derive(Parser)]
#[command(
    name = "devconsole",
    version,
    about = "Developer Console for provisioning apps and long-lived SCIM tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    console: devconsole::tui::Options,
}

#[derive(Subcommand)]
enum Command {
    /// Run the console server: console API, OAuth2 token endpoint and SCIM 2.0 API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        listen: SocketAddr,
        #[command(flatten)]
        db: Database,
        /// Public base URL, used in SCIM `meta.location` (default: http://<listen>).
        #[arg(long)]
        public_url: Option<String>,
        /// SCIM requests per minute per app.
        #[arg(long, default_value_t = 240)]
        scim_rate_limit: u32,
        /// Minutes between recorded uses of a token (renewal writes are coalesced).
        #[arg(long, default_value_t = 10)]
        renew_interval_minutes: i64,
        #[command(flatten)]
        net: server::listener::ServeNetArgs,
    },
    /// Bootstrap and operate a server's admins.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(clap::Args)]
struct Database {
    /// Database URL (default: sqlite file console.db in the platform data dir).
    #[arg(long, env = "DEVCONSOLE_DATABASE_URL")]
    database: Option<String>,
}

impl Database {
    fn url(&self) -> Result<String> {
        match &self.database {
            Some(url) => Ok(url.clone()),
            None => devconsole::paths::default_database_url().wrap_err("creating the data directory"),
        }
    }
}

#[derive(Subcommand)]
enum AdminCommand {
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
    /// Replace an admin's password.
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
    /// Delete an admin, ending their sessions and removing them from app access permissions.
    Delete {
        name: String,
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => devconsole::tui::run(cli.console),
        Some(command) => {
            color_eyre::install()?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,sqlx=warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run_command(command))
        }
    }
}

async fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Serve {
            listen,
            db,
            public_url,
            scim_rate_limit,
            renew_interval_minutes,
            net,
        } => {
            let mut config = ServerConfig::new(db.url()?, listen);
            config.public_url = public_url;
            config.scim_per_minute = scim_rate_limit;
            if renew_interval_minutes < 0 {
                bail!("--renew-interval-minutes must not be negative");
            }
            config.tokens.renew_interval = time::Duration::minutes(renew_interval_minutes);
            net.apply(&mut config);
            let running = server::start(config).await?;
            #[cfg(unix)]
            if let Some(reloader) = running.tls_reloader() {
                tokio::spawn(server::tls::reload_on_sighup(reloader));
            }
            eprintln!("devconsole server listening on {}", running.base_url());
            running.serve_until(shutdown_signal()).await?;
            eprintln!("devconsole server stopped");
            Ok(())
        }
        Command::Admin(admin) => run_admin(admin).await,
    }
}

async fn run_admin(command: AdminCommand) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    match command {
        AdminCommand::Create {
            name,
            role,
            password_stdin: _,
            db,
        } => {
            let name = devconsole::validate::username(&name).map_err(|e| eyre!("username {e}"))?;
            let password = read_password()?;
            let hash = hash(&password)?;
            let store = Store::open(&db.url()?).await?;
            let admin = store
                .create_admin(&name, role, Some(&hash), now)
                .await
                .map_err(|e| match e {
                    devconsole::store::StoreError::Conflict(_) => {
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
            store
                .set_admin_password(&name, &hash(&password)?)
                .await
                .map_err(|_| eyre!("no admin named {name}"))?;
            store.close().await;
            println!("password replaced for {name}");
        }
        AdminCommand::List { db } => {
            let store = Store::open(&db.url()?).await?;
            for admin in store.list_admins().await? {
                println!("{:<32} {}", admin.username, admin.role.label());
            }
            store.close().await;
        }
        AdminCommand::Delete { name, db } => {
            let store = Store::open(&db.url()?).await?;
            store
                .delete_admin(&name)
                .await
                .map_err(|_| eyre!("no admin named {name}"))?;
            store.close().await;
            println!("deleted {name}");
        }
    }
    Ok(())
}

fn hash(password: &SecretString) -> Result<String> {
    server::hash_password(password).map_err(|e| eyre!("hashing the password: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}
