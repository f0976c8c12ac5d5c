//! The JSON the console server speaks and the typed client reads: one definition for both.
//!
//! Fields that carry a secret use [`SecretString`]; they are serialized only by the response
//! types whose whole purpose is to hand that secret over once.

use crate::secret::serialize_secret;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A fieldless enum that travels as a fixed string: `as_str`, `FromStr`, `Display` and serde
/// all use the same table.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant,)+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, UnknownVariant> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { what: stringify!($name), got: s.chars().take(64).collect() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A string that names no variant of a [`string_enum!`] type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {got:?}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub got: String,
}

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

string_enum! {
    /// A dedicated token's state. A stored `Active` token may already be past its expiry;
    /// [`crate::tokens`] decides what the console shows.
    pub enum TokenState {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
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
    pub error: OAuthErrorCode,
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

string_enum! {
    pub enum Outcome {
        Success = "success",
        Failure = "failure",
    }
}

string_enum! {
    /// What an audit event records: a dotted verb.
    pub enum AuditAction {
        SessionLogin = "session.login",
        SessionLogout = "session.logout",
        AdminCreate = "admin.create",
        AdminSetPassword = "admin.set_password",
        AdminSetRole = "admin.set_role",
        AdminDelete = "admin.delete",
        AdminUnlock = "admin.unlock",
        AppCreate = "app.create",
        AppUpdate = "app.update",
        AppDelete = "app.delete",
        AppMembers = "app.members",
        AppClientSecretReissue = "app.client_secret.reissue",
        AppScimEnable = "app.scim.enable",
        AppScimDisable = "app.scim.disable",
        TokenIssue = "token.issue",
        TokenRevoke = "token.revoke",
        OAuthToken = "oauth.token",
        SettingsSso = "settings.sso",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    /// When it happened; for a collapsed row, the first occurrence.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who acted: an admin username, a client ID, or a marked form of what an anonymous caller
    /// sent (see the README's "Audit log").
    pub actor: String,
    pub action: AuditAction,
    pub app_id: Option<Uuid>,
    pub app_name: Option<String>,
    pub outcome: Outcome,
    /// Why it failed, or what changed. Never a secret.
    pub detail: Option<String>,
    /// The caller's network address, when the change came over HTTP.
    #[serde(default)]
    pub address: Option<String>,
    /// Refused anonymous attempts are collapsed per actor, address and window: how many this
    /// row stands for.
    #[serde(default = "one")]
    pub count: u64,
    /// The latest occurrence of a collapsed row.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_at: Option<OffsetDateTime>,
}

fn one() -> u64 {
    1
}

/// One page of the audit log, newest first. Pass `next_cursor` back as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

string_enum! {
    /// Every console API error code. The wire carries it as a string ([`ErrorBody::code`]) so a
    /// client keeps working when a newer server adds one.
    pub enum ErrorCode {
        Unauthorized = "unauthorized",
        DevelopersAuthorityRequired = "developers_authority_required",
        SuperAdminRequired = "super_admin_required",
        NotAppMember = "not_app_member",
        RateLimited = "rate_limited",
        Internal = "internal",
        AppNotFound = "app_not_found",
        NotFound = "not_found",
        RouteNotFound = "route_not_found",
        MethodNotAllowed = "method_not_allowed",
        Conflict = "conflict",
        InvalidField = "invalid_field",
        NameTaken = "name_taken",
        UsernameTaken = "username_taken",
        WeakPassword = "weak_password",
        NothingToUpdate = "nothing_to_update",
        NoMembers = "no_members",
        UnknownAdmin = "unknown_admin",
        MemberLacksAuthority = "member_lacks_authority",
        ScimDisabled = "scim_disabled",
        TokenExists = "token_exists",
        NoToken = "no_token",
        NoActiveToken = "no_active_token",
        InvalidQuery = "invalid_query",
        MalformedJson = "malformed_json",
        InvalidBody = "invalid_body",
        UnsupportedMediaType = "unsupported_media_type",
        PayloadTooLarge = "payload_too_large",
        UnreadableBody = "unreadable_body",
    }
}

/// Every console API error: a stable snake_case code ([`ErrorCode`]) and a sentence for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

string_enum! {
    /// RFC 6749 §5.2 error codes of the token endpoint, plus `temporarily_unavailable`
    /// (registered in the OAuth Extensions Error Registry) for a rate-limited request (429).
    pub enum OAuthErrorCode {
        InvalidRequest = "invalid_request",
        InvalidClient = "invalid_client",
        UnauthorizedClient = "unauthorized_client",
        UnsupportedGrantType = "unsupported_grant_type",
        TemporarilyUnavailable = "temporarily_unavailable",
        ServerError = "server_error",
    }
}

// ---- provisioning activity (`GET /console/v1/activity`, `/apps/{id}/activity`) ----
string_enum! {
    /// What a recorded SCIM call did.
    pub enum ScimOperation {
        Create = "create",
        Replace = "replace",
        Patch = "patch",
        Delete = "delete",
        Read = "read",
        Authenticate = "authenticate",
    }
}

string_enum! {
    pub enum ScimResourceType {
        User = "User",
        Group = "Group",
    }
}

/// One recorded SCIM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub app_id: Uuid,
    pub app_name: Option<String>,
    pub operation: ScimOperation,
    pub resource_type: Option<ScimResourceType>,
    pub resource_id: Option<String>,
    /// userName or displayName.
    pub name: Option<String>,
    pub status: u16,
    pub outcome: Outcome,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
}

/// One page of provisioning activity, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub events: Vec<ActivityEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    pub outcome: Option<Outcome>,
    pub resource_type: Option<ScimResourceType>,
}
