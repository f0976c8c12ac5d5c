//! `devconsole`: the terminal console (no subcommand), `devconsole serve`, and admin commands.

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use devconsole::admins;
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
        /// Minutes between recorded uses of a token (renewal writes are coalesced); less than
        /// the 90-day validity (at most 129599).
        #[arg(long, default_value_t = 10, value_parser = parse_renew_interval)]
        renew_interval_minutes: u32,
        /// Hours a console session lasts after sign-in, however busy (the idle limit is 12 h).
        #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u32).range(1..=8760))]
        session_lifetime_hours: u32,
        /// A proxy (address or CIDR) whose X-Forwarded-For names the real client; repeat for
        /// several. From any other peer the header is ignored.
        #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr)]
        trusted_proxies: Vec<ipnet::IpNet>,
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
    /// End a username's sign-in lockout (clears its recent failed attempts).
    Unlock {
        name: String,
        #[command(flatten)]
        db: Database,
    },
}

/// The longest renew interval: one minute less than the 90-day validity, or a token in use
/// would still expire between recorded uses.
const RENEW_INTERVAL_MAX_MINUTES: u32 = 90 * 24 * 60 - 1;

fn parse_renew_interval(s: &str) -> std::result::Result<u32, String> {
    let too_big = || {
        format!(
            "must be less than the 90-day token validity: at most {RENEW_INTERVAL_MAX_MINUTES} minutes \
             (the default is 10)"
        )
    };
    let minutes: u64 = s.trim().parse().map_err(|_| match s.trim().parse::<i128>() {
        Ok(n) if n < 0 => "must not be negative".to_owned(),
        Ok(_) => too_big(),
        Err(_) => "expected a whole number of minutes".to_owned(),
    })?;
    if minutes > u64::from(RENEW_INTERVAL_MAX_MINUTES) {
        return Err(too_big());
    }
    Ok(minutes as u32)
}

fn parse_cidr(s: &str) -> std::result::Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))
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
            session_lifetime_hours,
            trusted_proxies,
            net,
        } => {
            let mut config = ServerConfig::new(db.url()?, listen);
            config.public_url = public_url;
            config.scim_per_minute = scim_rate_limit;
            config.tokens.renew_interval = time::Duration::minutes(i64::from(renew_interval_minutes));
            config.session_lifetime = time::Duration::hours(i64::from(session_lifetime_hours));
            config.trusted_proxies = trusted_proxies;
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
        AdminCommand::Unlock { name, db } => {
            let store = Store::open(&db.url()?).await?;
            let cleared = admins::unlock(&store, &name, now).await;
            store.close().await;
            println!("unlocked {name} ({} failed sign-in(s) cleared)", cleared?);
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
