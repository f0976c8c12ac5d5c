//! What the app asks the runtime to do ([`Command`]) and what comes back ([`Reply`]), paired by
//! a [`RequestId`] rather than by what they say: two requests of the same kind in flight (a
//! reload and a retry, or an issue on a slow link) stay distinct.

use crate::client::ClientError;
use crate::tui::screens::activity::ScimSummary;
use crate::wire::{
    ActivityPage, Admin, AppCreated, AuditEvent, ClientApp, ClientSecretIssued, IssuedToken, ScimChanged,
};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Instant;
use uuid::Uuid;

/// Names one request from send to reply. Ids grow, so the newest request sorts last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl RequestId {
    /// A reply no request asked for (the embedded server failing to start).
    pub const UNSOLICITED: RequestId = RequestId(0);
}

/// The kind of a request, shared by its command and its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Login,
    Load,
    LoadAudit,
    LoadActivity,
    LoadScimSummary,
    Create,
    Update,
    Delete,
    ReissueSecret,
    SetScim,
    IssueToken,
    RevokeToken,
    Copy,
    Write,
    Logout,
    Health,
    TestToken,
    Start,
}

impl Kind {
    /// What the spinner says while it runs.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Login => "signing in",
            Kind::Load => "loading",
            Kind::LoadAudit => "loading the audit log",
            Kind::LoadActivity => "loading provisioning activity",
            Kind::LoadScimSummary => "loading the last SCIM calls",
            Kind::Create => "creating the app",
            Kind::Update => "saving",
            Kind::Delete => "deleting",
            Kind::ReissueSecret => "reissuing the client secret",
            Kind::SetScim => "switching SCIM",
            Kind::IssueToken => "issuing the token",
            Kind::RevokeToken => "revoking the token",
            Kind::Copy => "copying",
            Kind::Write => "writing the file",
            Kind::Logout => "signing out",
            Kind::Health => "checking the server",
            Kind::TestToken => "testing the token",
            Kind::Start => "starting",
        }
    }

    /// Changes something on the server: a second press while one is pending does nothing.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Kind::Create
                | Kind::Update
                | Kind::Delete
                | Kind::ReissueSecret
                | Kind::SetScim
                | Kind::IssueToken
                | Kind::RevokeToken
        )
    }
}

/// Work for the runtime: each becomes one spawned task making one or two client calls.
#[derive(Debug)]
pub enum Command {
    Login {
        username: String,
        password: SecretString,
    },
    LoadMe,
    LoadApps,
    LoadApp(Uuid),
    CreateApp {
        name: String,
        description: String,
    },
    /// Only the fields that changed are `Some`.
    UpdateApp {
        id: Uuid,
        name: Option<String>,
        description: Option<String>,
    },
    DeleteApp(Uuid),
    SetMembers {
        id: Uuid,
        members: Vec<String>,
    },
    ReissueSecret(Uuid),
    SetScim {
        id: Uuid,
        enabled: bool,
    },
    IssueToken(Uuid),
    RevokeToken(Uuid),
    LoadAudit(Option<Uuid>),
    /// A page of provisioning activity (`cursor: None` for the first).
    LoadActivity {
        app: Option<Uuid>,
        failed_only: bool,
        cursor: Option<String>,
    },
    /// The manage page's last SCIM call and last SCIM error.
    LoadScimSummary(Uuid),
    /// Copy the open secret modal's secret; the runtime owns the clipboard and the terminal.
    CopySecret,
    /// Copy a client ID (not a secret: no auto-clear).
    CopyText(String),
    /// Write the open secret to a new file (0600, never overwriting), relative to the cwd.
    WriteSecret(PathBuf),
    /// Copy an app's SCIM base URL (not a secret; the same clipboard path).
    CopyScimUrl(String),
    TestToken(SecretString),
    /// End the session on the server (`DELETE /sessions/current`) and return to the login.
    Logout,
}

impl Command {
    pub fn kind(&self) -> Kind {
        match self {
            Command::Login { .. } => Kind::Login,
            Command::LoadMe | Command::LoadApps | Command::LoadApp(_) => Kind::Load,
            Command::CreateApp { .. } => Kind::Create,
            Command::UpdateApp { .. } | Command::SetMembers { .. } => Kind::Update,
            Command::DeleteApp(_) => Kind::Delete,
            Command::ReissueSecret(_) => Kind::ReissueSecret,
            Command::SetScim { .. } => Kind::SetScim,
            Command::IssueToken(_) => Kind::IssueToken,
            Command::RevokeToken(_) => Kind::RevokeToken,
            Command::LoadAudit(_) => Kind::LoadAudit,
            Command::LoadActivity { .. } => Kind::LoadActivity,
            Command::LoadScimSummary(_) => Kind::LoadScimSummary,
            Command::CopySecret | Command::CopyText(_) | Command::CopyScimUrl(_) => Kind::Copy,
            Command::WriteSecret(_) => Kind::Write,
            Command::TestToken(_) => Kind::TestToken,
            Command::Logout => Kind::Logout,
        }
    }

    /// The app this command is about, if one.
    pub fn target(&self) -> Option<Uuid> {
        match self {
            Command::LoadApp(id)
            | Command::UpdateApp { id, .. }
            | Command::DeleteApp(id)
            | Command::SetMembers { id, .. }
            | Command::ReissueSecret(id)
            | Command::SetScim { id, .. }
            | Command::IssueToken(id)
            | Command::RevokeToken(id)
            | Command::LoadScimSummary(id) => Some(*id),
            Command::LoadAudit(app) | Command::LoadActivity { app, .. } => *app,
            _ => None,
        }
    }

    /// What the spinner says while this runs.
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }
}

/// A request in flight, as the app remembers it (never the command itself: it may hold a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub kind: Kind,
    pub target: Option<Uuid>,
}

/// Results of commands, as they come back from the tasks.
#[derive(Debug)]
pub enum Reply {
    LoggedIn(Result<Admin, ClientError>),
    Me(Result<Admin, ClientError>),
    Apps(Result<Vec<ClientApp>, ClientError>),
    App(Uuid, Result<ClientApp, ClientError>),
    Created(Result<AppCreated, ClientError>),
    Updated(Result<ClientApp, ClientError>),
    Deleted(Uuid, Result<(), ClientError>),
    SecretReissued(Uuid, Result<ClientSecretIssued, ClientError>),
    ScimChanged(Result<ScimChanged, ClientError>),
    TokenIssued(Uuid, Result<IssuedToken, ClientError>),
    TokenRevoked(Uuid, Result<(), ClientError>),
    Audit(Option<Uuid>, Result<Vec<AuditEvent>, ClientError>),
    /// A page of activity; `more` when it continues the loaded list.
    Activity {
        more: bool,
        result: Result<ActivityPage, ClientError>,
    },
    ScimSummary(Uuid, Result<ScimSummary, ClientError>),
    /// Where the copy went, and when the clipboard will be cleared if it still holds it.
    Copied {
        message: String,
        clears_at: Option<Instant>,
    },
    /// The file the secret was written to, or why not.
    Written(Result<PathBuf, String>),
    /// What copying the SCIM base URL did.
    ScimUrlCopied(String),
    TokenTested(Result<(u16, String), ClientError>),
    /// The embedded server could not start, or the connection could not be set up.
    StartFailed(String),
    /// The session ended on the server (or could not be ended: the error says why).
    LoggedOut(Result<(), ClientError>),
    /// The heartbeat (`/healthz`, unauthenticated) answered or not.
    Health(Result<(), ClientError>),
}

impl Reply {
    pub fn kind(&self) -> Kind {
        match self {
            Reply::LoggedIn(_) => Kind::Login,
            Reply::Me(_) | Reply::Apps(_) | Reply::App(..) => Kind::Load,
            Reply::Created(_) => Kind::Create,
            Reply::Updated(_) => Kind::Update,
            Reply::Deleted(..) => Kind::Delete,
            Reply::SecretReissued(..) => Kind::ReissueSecret,
            Reply::ScimChanged(_) => Kind::SetScim,
            Reply::TokenIssued(..) => Kind::IssueToken,
            Reply::TokenRevoked(..) => Kind::RevokeToken,
            Reply::Audit(..) => Kind::LoadAudit,
            Reply::Activity { .. } => Kind::LoadActivity,
            Reply::ScimSummary(..) => Kind::LoadScimSummary,
            Reply::Copied { .. } | Reply::ScimUrlCopied(_) => Kind::Copy,
            Reply::Written(_) => Kind::Write,
            Reply::TokenTested(_) => Kind::TestToken,
            Reply::StartFailed(_) => Kind::Start,
            Reply::LoggedOut(_) => Kind::Logout,
            Reply::Health(_) => Kind::Health,
        }
    }
}
