//! `devconsole serve`: the console server until SIGINT/SIGTERM.

use crate::server::{self, ServerConfig};
use color_eyre::eyre::{Result, bail};
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
    /// Minutes between recorded uses of a token (renewal writes are coalesced).
    #[arg(long, default_value_t = 10)]
    pub renew_interval_minutes: i64,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut config = ServerConfig::new(args.db.url()?, args.listen);
    config.public_url = args.public_url;
    config.scim_per_minute = args.scim_rate_limit;
    if args.renew_interval_minutes < 0 {
        bail!("--renew-interval-minutes must not be negative");
    }
    config.tokens.renew_interval = time::Duration::minutes(args.renew_interval_minutes);
    let running = server::start(config).await?;
    eprintln!("devconsole server listening on {}", running.base_url());
    running.serve_until(shutdown_signal()).await?;
    eprintln!("devconsole server stopped");
    Ok(())
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
