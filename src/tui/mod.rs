//! The terminal console: owned by the terminal console work (issue 3).

/// Command-line options of the console itself.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Console server URL; without it, an embedded server runs on the local data dir.
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Named server profile from config.toml.
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

pub fn run(_options: Options) -> color_eyre::Result<()> {
    color_eyre::eyre::bail!("the terminal console is not built yet; use `devconsole serve`")
}
