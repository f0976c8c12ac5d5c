//! The JSON the console server speaks and the typed client reads: one definition for both.
//!
//! Fields that carry a secret use [`SecretString`]; they are serialized only by the response
//! types whose whole purpose is to hand that secret over once.

use crate::secret::serialize_secret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// An admin's role. `Developer` is an admin with Developers authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Developer,
    Admin,
}

impl Role {
    /// Only super admins and admins with Developers authority may see provisioning apps.
    pub fn has_developers_authority(self) -> bool {
        matches!(self, Role::SuperAdmin | Role::Developer)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "super_admin" | "super-admin" => Some(Role::SuperAdmin),
            "developer" => Some(Role::Developer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// How the Developer Console names the role.
    pub fn label(self) -> &'static str {
        match self {
            Role::SuperAdmin => "Super Admin",
            Role::Developer => "Developers authority",
            Role::Admin => "Admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    #[serde(serialize_with = "serialize_secret")]
    pub password: SecretString,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SessionCreated {
    #[serde(serialize_with = "serialize_secret")]
    pub token: SecretString,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub admin: Admin,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAdmin {
    pub username: String,
    pub role: Role,
    #[serde(serialize_with = "serialize_secret")]
    pub password: SecretString,
}

/// The kind of client app. Only provisioning apps exist in this console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppType {
    Provisioning,
}

impl AppType {
    pub fn as_str(self) -> &'static str {
        "provisioning"
    }

    /// The label the Developer Console uses.
    pub fn label(self) -> &'static str {
        "Provisioning management"
    }
}

/// A client app as the console shows it. Never carries the client secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientApp {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub app_type: AppType,
    pub name: String,
    pub description: String,
    pub client_id: String,
    pub scim_enabled: bool,
    /// Created automatically on the first token issue: `<client_id>.serviceaccount`.
    pub service_account: Option<String>,
    /// App access permission: the admins who may update and delete the app.
    pub members: Vec<String>,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The app's newest dedicated token, in any state; `None` if none was ever issued.
    pub token: Option<DedicatedToken>,
    /// Whether the caller may update, delete, switch SCIM or issue tokens for this app.
    pub can_manage: bool,
    /// Advice the console must show, e.g. the SSO user-key requirement.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Where an identity provider sends SCIM requests: `<public URL>/scim/v2` (Entra ID's
    /// "Tenant URL", Okta's "SCIM connector base URL"). Empty from a server that predates it.
    #[serde(default)]
    pub scim_base_url: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    #[serde(rename = "type")]
    pub app_type: AppType,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// The answer to creating an app: the only time its client secret is returned.
#[derive(Debug, Serialize, Deserialize)]
pub struct AppCreated {
    pub app: ClientApp,
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: SecretString,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMembers {
    pub members: Vec<String>,
}

/// A reissued client secret, shown once. The previous secret stops working at once.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClientSecretIssued {
    pub client_id: String,
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: SecretString,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetScim {
    pub enabled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ScimChanged {
    pub app: ClientApp,
    /// The token that turning SCIM off revoked, if there was an active one.
    pub revoked_token_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Revoked,
    Expired,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Revoked => "revoked",
            TokenState::Expired => "expired",
        }
    }
}

/// What the console may know about a long-lived token: everything except the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedicatedToken {
    pub token_id: Uuid,
    pub state: TokenState,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Last use (or issue) plus the validity period; every use moves it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A newly issued long-lived token: the only time the token itself is returned.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedToken {
    #[serde(serialize_with = "serialize_secret")]
    pub token: SecretString,
    pub token_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// RFC 6749 §5.1 success body of `POST /oauth2/v2.0/token`.
#[derive(Debug, Serialize, Deserialize)]
pub struct OAuthToken {
    #[serde(serialize_with = "serialize_secret")]
    pub access_token: SecretString,
    pub token_type: String,
    pub expires_in: i64,
}

/// RFC 6749 §5.2 error body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsoUserKey {
    LineworksAccount,
    Email,
    EmployeeNumber,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSettings {
    pub enabled: bool,
    pub user_key: SsoUserKey,
}

impl Default for SsoSettings {
    fn default() -> Self {
        SsoSettings {
            enabled: false,
            user_key: SsoUserKey::LineworksAccount,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who acted: an admin username, a client ID, or the address of an anonymous caller.
    pub actor: String,
    /// A dotted verb such as `token.issue` or `session.login`.
    pub action: String,
    pub app_id: Option<Uuid>,
    pub app_name: Option<String>,
    pub outcome: Outcome,
    /// Why it failed, or what changed. Never a secret.
    pub detail: Option<String>,
}

/// Every console API error: a stable snake_case code and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}
