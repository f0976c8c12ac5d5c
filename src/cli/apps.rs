//! `apps …`, `token …`, `tokens expiring` and `audit`: the console's app screens as commands.

use super::connect::Connection;
use super::exit::{CliError, CliResult, Exit};
use super::output::{self, Cell, OutputArgs, Tone, col, flex, print_json, print_lines};
use super::prompt::confirm;
use super::secret_out::{OutArgs, SecretSink};
use crate::client::ConsoleClient;
use crate::wire::{ClientApp, DedicatedToken, TokenState};
use clap::{Subcommand, ValueEnum};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// List provisioning apps.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show one app: details, members, SCIM and its token.
    Show {
        /// The app's name, client ID or id.
        app: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Create a provisioning app; its client secret goes to --out (shown only once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        out: OutArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete an app, revoking its token.
    Delete {
        app: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Replace the app access permission: the admins who may update and delete the app.
    Members {
        app: String,
        /// Usernames, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
        set: Vec<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Turn SCIM on or off. Turning it off revokes the app's token.
    Scim {
        app: String,
        state: Switch,
        /// Do not ask for confirmation (needed to turn SCIM off).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Reissue the client secret (the old one stops working at once); the new one goes to --out.
    Secret {
        app: String,
        /// Required: reissuing is the only thing this command does.
        #[arg(long, required = true)]
        reissue: bool,
        #[command(flatten)]
        out: OutArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue the app's long-lived token (SCIM must be on); it goes to --out, shown only once.
    Issue {
        app: String,
        #[command(flatten)]
        out: OutArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The app's token: state, last use and expiry (never the token itself).
    Status {
        app: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Revoke the app's token. SCIM calls with it fail at once.
    Revoke {
        app: String,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Apps whose token expires within the window, or has expired. Exits 1 when any are found.
    Expiring {
        /// The window, e.g. 14d, 36h, 2w.
        #[arg(long, default_value = "14d", value_parser = parse_span)]
        within: time::Duration,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only events about this app (name, client ID or id).
    #[arg(long)]
    pub app: Option<String>,
    /// Only events at or after this time: RFC 3339 (2026-11-27T09:00:00Z) or an age (24h, 7d).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many events, newest first (fetched page by page).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Args)]
pub struct ActivityArgs {
    /// Only this app's SCIM calls (name, client ID or id).
    #[arg(long)]
    pub app: Option<String>,
    /// Only failed calls.
    #[arg(long)]
    pub failed: bool,
    /// Only calls about this resource type.
    #[arg(long, value_parser = ["User", "Group"])]
    pub resource: Option<String>,
    /// At most this many calls, newest first (fetched page by page).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Events per request when paging the audit log.
const AUDIT_PAGE: u32 = 200;

/// A `--since` value: a time, or an age resolved against the clock when the command runs.
#[derive(Debug, Clone, Copy)]
pub enum Since {
    At(OffsetDateTime),
    Ago(time::Duration),
}

impl Since {
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Since::At(t) => t,
            Since::Ago(d) => now - d,
        }
    }
}

/// `14d`, `36h`, `90m`, `2w`, `30s`.
pub fn parse_span(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a span like 14d, 36h or 2w"))?;
    if n > 100 * 365 {
        return Err(format!("{s:?} is too long"));
    }
    match unit {
        "s" => Ok(time::Duration::seconds(n)),
        "m" => Ok(time::Duration::minutes(n)),
        "h" => Ok(time::Duration::hours(n)),
        "d" => Ok(time::Duration::days(n)),
        "w" => Ok(time::Duration::weeks(n)),
        _ => Err(format!("{s:?}: use a number and s, m, h, d or w (14d)")),
    }
}

fn parse_since(s: &str) -> Result<Since, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(Since::At(t));
    }
    parse_span(s)
        .map(Since::Ago)
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor an age like 24h"))
}

/// An app by id, client ID or name (exact, then ignoring case).
pub async fn resolve(client: &ConsoleClient, key: &str) -> CliResult<ClientApp> {
    if let Ok(id) = Uuid::parse_str(key) {
        return Ok(client.get_app(id).await?);
    }
    let apps = client.list_apps().await?;
    if let Some(app) = apps.iter().find(|a| a.client_id == key || a.name == key) {
        return Ok(app.clone());
    }
    let folded: Vec<&ClientApp> = apps
        .iter()
        .filter(|a| a.name.to_lowercase() == key.to_lowercase())
        .collect();
    match folded.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CliError::new(
            Exit::NotFound,
            format!(
                "no app has the name, client ID or id {:?}",
                crate::tui::text::sanitize(key, false)
            ),
        )),
        _ => Err(CliError::usage(format!(
            "several apps match {:?}; use the client ID",
            crate::tui::text::sanitize(key, false)
        ))),
    }
}

fn token_cells(token: Option<&DedicatedToken>, now: OffsetDateTime) -> (Cell, Cell) {
    match token {
        None => (Cell::new("none").tone(Tone::Dim), Cell::new("")),
        Some(t) => match t.state {
            TokenState::Active => {
                let soon = t.expires_at - now <= time::Duration::days(14);
                (
                    Cell::new("active").tone(if soon { Tone::Warn } else { Tone::Good }),
                    Cell::new(format!(
                        "{} ({})",
                        output::when(t.expires_at),
                        output::left(t.expires_at, now)
                    ))
                    .tone(if soon { Tone::Warn } else { Tone::Plain }),
                )
            }
            TokenState::Expired => (
                Cell::new("expired").tone(Tone::Bad),
                Cell::new(output::when(t.expires_at)).tone(Tone::Bad),
            ),
            TokenState::Revoked => (Cell::new("revoked").tone(Tone::Dim), Cell::new("")),
        },
    }
}

fn app_rows(apps: &[ClientApp], color: bool) -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let rows: Vec<Vec<Cell>> = apps
        .iter()
        .map(|a| {
            let (state, expires) = token_cells(a.token.as_ref(), now);
            vec![
                Cell::new(&a.name),
                Cell::new(&a.client_id),
                if a.scim_enabled {
                    Cell::new("on").tone(Tone::Good)
                } else {
                    Cell::new("off").tone(Tone::Dim)
                },
                state,
                expires,
            ]
        })
        .collect();
    output::table(
        &[
            flex("NAME", 40),
            col("CLIENT ID", 24),
            col("SCIM", 4),
            col("TOKEN", 7),
            col("EXPIRES (UTC)", 24),
        ],
        &rows,
        output::WIDTH,
        color,
    )
}

fn token_details(t: &DedicatedToken, now: OffsetDateTime) -> Vec<(&'static str, Cell)> {
    let (state, expires) = token_cells(Some(t), now);
    let mut pairs = vec![
        ("Token ID", Cell::new(t.token_id.to_string())),
        ("State", state),
        ("Issued", Cell::new(output::when(t.issued_at))),
        (
            "Last used",
            Cell::new(t.last_used_at.map_or("never".into(), output::when)),
        ),
    ];
    if t.state != TokenState::Revoked {
        pairs.push(("Expires (UTC)", expires));
    }
    if let Some(r) = t.revoked_at {
        pairs.push(("Revoked", Cell::new(output::when(r))));
    }
    pairs
}

fn show_app(app: &ClientApp, color: bool) -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let mut pairs = vec![
        ("Name", Cell::new(&app.name)),
        ("Type", Cell::new(app.app_type.label())),
        ("Id", Cell::new(app.id.to_string())),
        ("Client ID", Cell::new(&app.client_id)),
        ("Description", Cell::new(&app.description)),
        (
            "SCIM",
            if app.scim_enabled {
                Cell::new("enabled").tone(Tone::Good)
            } else {
                Cell::new("disabled").tone(Tone::Dim)
            },
        ),
        (
            "Service account",
            Cell::new(
                app.service_account
                    .as_deref()
                    .unwrap_or("(created on the first token issue)"),
            ),
        ),
        ("Members", Cell::new(app.members.join(", "))),
        (
            "Created",
            Cell::new(format!("{} by {}", output::when(app.created_at), app.created_by)),
        ),
        (
            "You may manage",
            Cell::new(if app.can_manage { "yes" } else { "no" }),
        ),
    ];
    match &app.token {
        Some(t) => pairs.extend(token_details(t, now)),
        None => pairs.push(("Token", Cell::new("none issued").tone(Tone::Dim))),
    }
    for w in &app.warnings {
        pairs.push(("Warning", Cell::new(w).tone(Tone::Warn)));
    }
    output::details(&pairs, output::WIDTH, color)
}

fn issued_view(token: &crate::wire::IssuedToken) -> DedicatedToken {
    DedicatedToken {
        token_id: token.token_id,
        state: TokenState::Active,
        issued_at: token.issued_at,
        last_used_at: None,
        expires_at: token.expires_at,
        revoked_at: None,
    }
}

/// A message for people: on stdout, or stderr when stdout carries a secret or JSON.
fn say(to_stderr: bool, line: String) {
    if to_stderr {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

pub async fn apps(conn: &Connection, command: AppsCommand) -> CliResult {
    let client = &conn.client;
    let color = output::color_enabled();
    match command {
        AppsCommand::List { output } => {
            let apps = client.list_apps().await?;
            if output.json() {
                print_json(&apps)?;
            } else if apps.is_empty() {
                print_lines(&["no provisioning apps".into()])?;
            } else {
                print_lines(&app_rows(&apps, color))?;
            }
        }
        AppsCommand::Show { app, output } => {
            let app = resolve(client, &app).await?;
            if output.json() {
                print_json(&app)?;
            } else {
                print_lines(&show_app(&app, color))?;
            }
        }
        AppsCommand::Create {
            name,
            description,
            out,
            output,
        } => {
            if out.out.as_os_str() == "-" && output.json() {
                return Err(CliError::usage("--out - and --output json both want stdout"));
            }
            let sink = SecretSink::open(&out)?;
            let created = client.create_app(&name, &description).await?;
            let quiet = sink.is_stdout() || output.json();
            let written = sink.write(&created.client_secret).map_err(|mut e| {
                e.message = format!(
                    "the app was created, but its client secret could not be saved ({}); reissue it with `devconsole apps secret {} --reissue --out FILE`",
                    e.message, created.app.client_id
                );
                e
            })?;
            if output.json() {
                print_json(&created.app)?;
            }
            say(
                quiet,
                format!(
                    "created app {} (client ID {}); client secret {}",
                    crate::tui::text::sanitize(&created.app.name, false),
                    created.app.client_id,
                    written.describe()
                ),
            );
        }
        AppsCommand::Delete { app, yes } => {
            let app = resolve(client, &app).await?;
            confirm(
                yes,
                &format!(
                    "permanently delete app {} and revoke its token",
                    crate::tui::text::sanitize(&app.name, false)
                ),
                &app.name,
            )?;
            client.delete_app(app.id).await?;
            say(
                false,
                format!("deleted app {}", crate::tui::text::sanitize(&app.name, false)),
            );
        }
        AppsCommand::Members { app, set, output } => {
            let app = resolve(client, &app).await?;
            let members: Vec<String> = set
                .iter()
                .map(|m| m.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect();
            let updated = client.set_members(app.id, &members).await?;
            if output.json() {
                print_json(&updated)?;
            } else {
                say(
                    false,
                    format!(
                        "members of {}: {}",
                        crate::tui::text::sanitize(&updated.name, false),
                        crate::tui::text::sanitize(&updated.members.join(", "), false)
                    ),
                );
            }
        }
        AppsCommand::Scim {
            app,
            state,
            yes,
            output,
        } => {
            let app = resolve(client, &app).await?;
            let on = state == Switch::On;
            let active = app.token.as_ref().is_some_and(|t| t.state == TokenState::Active);
            if !on && app.scim_enabled {
                let action = if active {
                    format!(
                        "turn SCIM off for {} and revoke its active token",
                        crate::tui::text::sanitize(&app.name, false)
                    )
                } else {
                    format!(
                        "turn SCIM off for {}",
                        crate::tui::text::sanitize(&app.name, false)
                    )
                };
                confirm(yes, &action, &app.name)?;
            }
            let changed = client.enable_scim(app.id, on).await?;
            if output.json() {
                print_json(&changed.app)?;
            } else {
                let mut line = format!(
                    "SCIM is {} for {}",
                    if changed.app.scim_enabled { "on" } else { "off" },
                    crate::tui::text::sanitize(&changed.app.name, false)
                );
                if let Some(id) = changed.revoked_token_id {
                    line.push_str(&format!("; token {id} was revoked"));
                }
                say(false, line);
            }
        }
        AppsCommand::Secret { app, reissue: _, out } => {
            let app = resolve(client, &app).await?;
            let sink = SecretSink::open(&out)?;
            let quiet = sink.is_stdout();
            let issued = client.reissue_client_secret(app.id).await?;
            let written = sink.write(&issued.client_secret).map_err(|mut e| {
                e.message = format!(
                    "a new client secret was issued, but could not be saved ({}); the old one no longer works: reissue again",
                    e.message
                );
                e
            })?;
            say(
                quiet,
                format!(
                    "reissued the client secret of {} (client ID {}); the old one no longer works; new secret {}",
                    crate::tui::text::sanitize(&app.name, false),
                    issued.client_id,
                    written.describe()
                ),
            );
        }
    }
    Ok(Exit::Ok)
}

pub async fn token(conn: &Connection, command: TokenCommand) -> CliResult {
    let client = &conn.client;
    let color = output::color_enabled();
    match command {
        TokenCommand::Issue { app, out, output } => {
            if out.out.as_os_str() == "-" && output.json() {
                return Err(CliError::usage("--out - and --output json both want stdout"));
            }
            let app = resolve(client, &app).await?;
            let sink = SecretSink::open(&out)?;
            let quiet = sink.is_stdout() || output.json();
            let issued = client.issue_token(app.id).await?;
            let written = sink.write(&issued.token).map_err(|mut e| {
                e.message = format!(
                    "a token was issued, but could not be saved ({}); revoke it and issue a new one",
                    e.message
                );
                e
            })?;
            if output.json() {
                print_json(&issued_view(&issued))?;
            }
            say(
                quiet,
                format!(
                    "issued a token for {}: expires {} UTC unless used (each use renews it); token {}",
                    crate::tui::text::sanitize(&app.name, false),
                    output::when(issued.expires_at),
                    written.describe()
                ),
            );
        }
        TokenCommand::Status { app, output } => {
            let app = resolve(client, &app).await?;
            let token = client.token(app.id).await?;
            if output.json() {
                print_json(&token)?;
            } else {
                let pairs = token_details(&token, OffsetDateTime::now_utc());
                print_lines(&output::details(&pairs, output::WIDTH, color))?;
            }
        }
        TokenCommand::Revoke { app, yes } => {
            let app = resolve(client, &app).await?;
            confirm(
                yes,
                &format!(
                    "revoke the token of {}; SCIM calls with it fail at once",
                    crate::tui::text::sanitize(&app.name, false)
                ),
                &app.name,
            )?;
            client.revoke_token(app.id).await?;
            say(
                false,
                format!(
                    "revoked the token of {}",
                    crate::tui::text::sanitize(&app.name, false)
                ),
            );
        }
    }
    Ok(Exit::Ok)
}

/// Active tokens that expire within `within` of `now`, and expired ones of apps that still
/// have SCIM on: both mean a sync that is about to break, or has.
pub fn expiring(apps: Vec<ClientApp>, within: time::Duration, now: OffsetDateTime) -> Vec<ClientApp> {
    apps.into_iter()
        .filter(|a| match &a.token {
            Some(t) if t.state == TokenState::Active => t.expires_at - now <= within,
            Some(t) if t.state == TokenState::Expired => a.scim_enabled,
            _ => false,
        })
        .collect()
}

pub async fn tokens(conn: &Connection, command: TokensCommand) -> CliResult {
    let TokensCommand::Expiring { within, output } = command;
    let found = expiring(conn.client.list_apps().await?, within, OffsetDateTime::now_utc());
    if output.json() {
        print_json(&found)?;
    } else if found.is_empty() {
        print_lines(&["no token expires within the window".into()])?;
    } else {
        print_lines(&app_rows(&found, output::color_enabled()))?;
    }
    Ok(if found.is_empty() {
        Exit::Ok
    } else {
        Exit::CheckFailed
    })
}

pub async fn audit(conn: &Connection, args: AuditArgs) -> CliResult {
    let client = &conn.client;
    let app = match &args.app {
        Some(key) => Some(resolve(client, key).await?.id),
        None => None,
    };
    // Newest first, page by page, until the limit or the first event before --since.
    let since = args.since.map(|s| s.resolve(OffsetDateTime::now_utc()));
    let limit = args.limit as usize;
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: loop {
        let page = client
            .audit_page(app, args.limit.min(AUDIT_PAGE), cursor.as_deref())
            .await?;
        for event in page.events {
            if since.is_some_and(|since| event.at < since) || events.len() >= limit {
                break 'pages;
            }
            events.push(event);
        }
        match page.next_cursor {
            Some(next) if events.len() < limit => cursor = Some(next),
            _ => break,
        }
    }
    if args.output.json() {
        return print_json(&events).map(|_| Exit::Ok);
    }
    if events.is_empty() {
        print_lines(&["no audit events".into()])?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<Cell>> = events
        .iter()
        .map(|e| {
            let failed = e.outcome == crate::wire::Outcome::Failure;
            vec![
                Cell::new(output::when(e.at)),
                Cell::new(&e.actor),
                Cell::new(e.action.as_str()).tone(if failed { Tone::Bad } else { Tone::Plain }),
                Cell::new(e.app_name.as_deref().unwrap_or("")),
                Cell::new(match (e.detail.as_deref(), e.count) {
                    (d, n) if n > 1 => format!("{} (×{n})", d.unwrap_or("")),
                    (Some(d), _) => d.to_owned(),
                    (None, _) => if failed { "failed" } else { "" }.to_owned(),
                }),
            ]
        })
        .collect();
    print_lines(&output::table(
        &[
            col("AT (UTC)", 16),
            col("ACTOR", 16),
            col("ACTION", 26),
            flex("APP", 20),
            flex("DETAIL", 60),
        ],
        &rows,
        output::WIDTH,
        output::color_enabled(),
    ))?;
    Ok(Exit::Ok)
}

/// `devconsole activity`: recorded SCIM calls, newest first.
pub async fn activity(conn: &Connection, args: ActivityArgs) -> CliResult {
    use crate::wire::{ActivityFilter, Outcome, ScimResourceType};
    let client = &conn.client;
    let app = match &args.app {
        Some(key) => Some(resolve(client, key).await?.id),
        None => None,
    };
    let filter = ActivityFilter {
        outcome: args.failed.then_some(Outcome::Failure),
        resource_type: match args.resource.as_deref() {
            Some("User") => Some(ScimResourceType::User),
            Some("Group") => Some(ScimResourceType::Group),
            _ => None,
        },
    };
    let limit = args.limit as usize;
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .activity_page(app, &filter, args.limit.min(AUDIT_PAGE), cursor.as_deref())
            .await?;
        events.extend(page.events);
        match page.next_cursor {
            Some(next) if events.len() < limit => cursor = Some(next),
            _ => break,
        }
    }
    events.truncate(limit);
    if args.output.json() {
        return print_json(&events).map(|_| Exit::Ok);
    }
    if events.is_empty() {
        print_lines(&["no SCIM activity recorded".into()])?;
        return Ok(Exit::Ok);
    }
    let rows: Vec<Vec<Cell>> = events
        .iter()
        .map(|e| {
            let failed = e.outcome == Outcome::Failure;
            let what = match (&e.resource_type, &e.name) {
                (Some(t), Some(n)) => format!("{} {n}", t.as_str()),
                (Some(t), None) => t.as_str().to_owned(),
                (None, _) => String::new(),
            };
            let detail = match (&e.scim_type, &e.detail) {
                (Some(t), Some(d)) => format!("{t}: {d}"),
                (None, Some(d)) => d.clone(),
                (Some(t), None) => t.clone(),
                (None, None) => String::new(),
            };
            vec![
                Cell::new(output::when(e.at)),
                Cell::new(e.app_name.as_deref().unwrap_or("")),
                Cell::new(e.operation.as_str()),
                Cell::new(e.status.to_string()).tone(if failed { Tone::Bad } else { Tone::Good }),
                Cell::new(what),
                Cell::new(detail),
            ]
        })
        .collect();
    print_lines(&output::table(
        &[
            col("AT (UTC)", 16),
            flex("APP", 16),
            col("OP", 7),
            col("STATUS", 6),
            flex("RESOURCE", 30),
            flex("ERROR", 60),
        ],
        &rows,
        output::WIDTH,
        output::color_enabled(),
    ))?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_since() {
        assert_eq!(parse_span("14d").unwrap(), time::Duration::days(14));
        assert_eq!(parse_span("36h").unwrap(), time::Duration::hours(36));
        assert_eq!(parse_span("2w").unwrap(), time::Duration::weeks(2));
        assert!(parse_span("14").is_err());
        assert!(parse_span("d").is_err());
        assert!(parse_span("99999999999d").is_err());
        assert!(matches!(
            parse_since("2026-11-27T09:00:00Z").unwrap(),
            Since::At(_)
        ));
        assert!(matches!(parse_since("24h").unwrap(), Since::Ago(_)));
        assert!(parse_since("yesterday").is_err());
    }
}
