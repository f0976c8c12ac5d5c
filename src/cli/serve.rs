//! `devconsole serve`: the console server until SIGINT/SIGTERM.

use crate::server::{self, ServerConfig};
use color_eyre::eyre::Result;
use std::net::SocketAddr;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: super::admin::Database,
    /// Public base URL, used in SCIM `meta.location` (default: http://<listen>).
    #[arg(long)]
    pub public_url: Option<String>,
    /// SCIM requests per minute per app.
    #[arg(long, default_value_t = 240)]
    pub scim_rate_limit: u32,
    /// Minutes between recorded uses of a token (renewal writes are coalesced); less than
    /// the 90-day validity (at most 129599).
    #[arg(long, default_value_t = 10, value_parser = parse_renew_interval)]
    pub renew_interval_minutes: u32,
    /// Milliseconds a token's verification may be served from memory. It bounds how late a
    /// revoke made on another instance can bite when that instance cannot tell this one (always
    /// on SQLite; on PostgreSQL only while the change listener is down).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub token_cache_ms: u64,
    /// Hours a console session lasts after sign-in, however busy (the idle limit is 12 h).
    #[arg(long, default_value_t = 168, value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub session_lifetime_hours: u32,
    /// A proxy (address or CIDR) whose X-Forwarded-For names the real client; repeat for
    /// several. From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Days of provisioning activity (SCIM calls) kept.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub activity_retention_days: u32,
    /// Most provisioning activity rows kept per app (the oldest go first).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub activity_max_rows_per_app: u32,
    #[command(flatten)]
    pub net: server::listener::ServeNetArgs,
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Serve Prometheus metrics at http://ADDR/metrics on a separate listener (off by default;
    /// keep it on a private address).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Database pool settings.
#[derive(Debug, clap::Args)]
pub struct PoolArgs {
    /// Database connections per instance (PostgreSQL: keep instances × this under the
    /// server's max_connections).
    #[arg(long, env = "DEVCONSOLE_DB_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Milliseconds one SCIM database call may run before it is stopped and refused with
    /// 400 tooMany (SQLite: interrupted; PostgreSQL: statement_timeout).
    #[arg(long, alias = "scim-statement-timeout-ms", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub scim_query_budget_ms: u64,
}

impl PoolArgs {
    fn apply(&self, config: &mut ServerConfig) {
        config.pool.max_connections = self.db_pool_size;
        config.scim_query_budget = std::time::Duration::from_millis(self.scim_query_budget_ms);
    }
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

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut config = ServerConfig::new(args.db.url()?, args.listen);
    config.public_url = args.public_url;
    config.scim_per_minute = args.scim_rate_limit;
    config.tokens.renew_interval = time::Duration::minutes(i64::from(args.renew_interval_minutes));
    config.tokens.cache_ttl = std::time::Duration::from_millis(args.token_cache_ms);
    config.session_lifetime = time::Duration::hours(i64::from(args.session_lifetime_hours));
    config.trusted_proxies = args.trusted_proxies;
    config.activity.max_age = time::Duration::days(i64::from(args.activity_retention_days));
    config.activity.max_rows_per_app = i64::from(args.activity_max_rows_per_app);
    args.net.apply(&mut config);
    args.pool.apply(&mut config);
    config.metrics_listen = args.metrics_listen;
    // The signal handlers go in before the server binds: from the moment it accepts a
    // connection (and says it listens), SIGTERM is a graceful stop and SIGHUP a reload, never
    // the default action that kills the process and its in-flight requests.
    let shutdown = shutdown_signal()?;
    #[cfg(unix)]
    let hangup = match &config.tls {
        Some(_) => Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| color_eyre::eyre::eyre!("cannot listen for SIGHUP (TLS reloads): {e}"))?,
        ),
        None => None,
    };
    let running = server::start(config).await?;
    if let Some(addr) = running.metrics_addr() {
        eprintln!("devconsole metrics on http://{addr}/metrics");
    }
    #[cfg(unix)]
    if let (Some(reloader), Some(hangup)) = (running.tls_reloader(), hangup) {
        tokio::spawn(server::tls::reload_on_sighup(reloader, hangup));
    }
    eprintln!("devconsole server listening on {}", running.base_url());
    running.serve_until(shutdown).await?;
    eprintln!("devconsole server stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed by this call, not when the future
/// is first polled.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let cannot = |e: std::io::Error| color_eyre::eyre::eyre!("cannot listen for SIGINT/SIGTERM: {e}");
        let mut interrupt = signal(SignalKind::interrupt()).map_err(cannot)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
