//! The attribute definitions this server implements (RFC 7643 §7), as one source of truth for
//! `/Schemas`, input validation, filters, sorting, attribute selection and PATCH.

use serde_json::{Value, json};
use std::sync::LazyLock;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const WORKS_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:works:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The languages LINE WORKS accepts for `preferredLanguage`.
pub const LANGUAGES: &[&str] = &["ko-KR", "ja-JP", "en-US", "zh-CN", "zh-TW"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Boolean,
    Integer,
    DateTime,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Default,
    Request,
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Ty,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub unique: bool,
    pub canonical: &'static [&'static str],
    pub refs: &'static [&'static str],
    pub description: &'static str,
    pub sub: Vec<Attr>,
}

impl Attr {
    fn new(name: &'static str, ty: Ty, description: &'static str) -> Self {
        Attr {
            name,
            ty,
            multi: false,
            required: false,
            case_exact: matches!(ty, Ty::Reference),
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            unique: false,
            canonical: &[],
            refs: &[],
            description,
            sub: Vec::new(),
        }
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }
    fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    fn refs(mut self, refs: &'static [&'static str]) -> Self {
        self.refs = refs;
        self
    }
    fn sub(mut self, sub: Vec<Attr>) -> Self {
        self.sub = sub;
        self
    }

    pub fn sub_attr(&self, name: &str) -> Option<&Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": match self.ty {
                Ty::String => "string",
                Ty::Boolean => "boolean",
                Ty::Integer => "integer",
                Ty::DateTime => "dateTime",
                Ty::Reference => "reference",
                Ty::Complex => "complex",
            },
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Default => "default",
                Returned::Request => "request",
            },
            "uniqueness": if self.unique { "server" } else { "none" },
        });
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if !self.refs.is_empty() {
            v["referenceTypes"] = json!(self.refs);
        }
        if !self.sub.is_empty() {
            v["subAttributes"] = Value::Array(self.sub.iter().map(Attr::to_json).collect());
        }
        v
    }
}

fn s(name: &'static str, description: &'static str) -> Attr {
    Attr::new(name, Ty::String, description)
}

/// The usual `value`/`display`/`type`/`primary` multi-valued attribute.
fn multi(name: &'static str, value: Attr, types: &'static [&'static str], description: &'static str) -> Attr {
    Attr::new(name, Ty::Complex, description).multi().sub(vec![
        value,
        s(
            "display",
            "A human-readable name, primarily used for display purposes.",
        ),
        s("type", "A label indicating the attribute's function.").canonical(types),
        Attr::new(
            "primary",
            Ty::Boolean,
            "Indicates the 'primary' or preferred value; at most one value may be primary.",
        ),
    ])
}

#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: Vec<Attr>,
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/scim/v2/Schemas/{}", self.id),
            }
        })
    }
}

pub static USER: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account",
    attrs: vec![
        s(
            "userName",
            "Unique identifier for the User: an email address of at most 90 characters whose \
             local part has 2 to 40 characters.",
        )
        .required()
        .unique(),
        Attr::new("name", Ty::Complex, "The components of the user's real name.").sub(vec![
            s("formatted", "The full name, formatted for display."),
            s("familyName", "The family name of the User."),
            s("givenName", "The given name of the User."),
            s("middleName", "The middle name(s) of the User."),
            s("honorificPrefix", "The honorific prefix(es) of the User."),
            s("honorificSuffix", "The honorific suffix(es) of the User."),
        ]),
        s(
            "displayName",
            "The name of the User, suitable for display to end-users.",
        ),
        s(
            "nickName",
            "The casual way to address the user (at most 100 characters).",
        ),
        Attr::new(
            "profileUrl",
            Ty::Reference,
            "A fully qualified URL pointing to the User's profile.",
        )
        .refs(&["external"]),
        s("title", "The user's title, such as \"Vice President\"."),
        s(
            "userType",
            "The relationship between the organization and the user.",
        ),
        s(
            "preferredLanguage",
            "The User's preferred written or spoken language.",
        )
        .canonical(LANGUAGES),
        s("locale", "The User's default location for localization."),
        s("timezone", "The User's time zone in the Olson database format."),
        Attr::new(
            "active",
            Ty::Boolean,
            "The User's administrative status. DELETE deactivates the user (active=false).",
        ),
        multi(
            "emails",
            s("value", "Email address for the User."),
            &["work", "home", "other", "alias"],
            "Email addresses for the user.",
        ),
        multi(
            "phoneNumbers",
            s("value", "Phone number of the User."),
            &["work", "home", "mobile", "fax", "pager", "other"],
            "Phone numbers for the User.",
        ),
        multi(
            "ims",
            s("value", "Instant messaging address for the User."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            "Instant messaging addresses for the User.",
        ),
        multi(
            "photos",
            Attr::new("value", Ty::Reference, "URL of a photo of the User.").refs(&["external"]),
            &["photo", "thumbnail"],
            "URLs of photos of the User.",
        ),
        Attr::new(
            "addresses",
            Ty::Complex,
            "A physical mailing address for this User.",
        )
        .multi()
        .sub(vec![
            s("formatted", "The full mailing address, formatted for display."),
            s("streetAddress", "The full street address component."),
            s("locality", "The city or locality component."),
            s("region", "The state or region component."),
            s("postalCode", "The zip code or postal code component."),
            s("country", "The country name component."),
            s("type", "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
            Attr::new("primary", Ty::Boolean, "Indicates the preferred mailing address."),
        ]),
        Attr::new(
            "groups",
            Ty::Complex,
            "The groups the user belongs to directly, read-only.",
        )
        .multi()
        .read_only()
        .sub(vec![
            s("value", "The identifier of the User's group.").read_only(),
            Attr::new(
                "$ref",
                Ty::Reference,
                "The URI of the corresponding Group resource.",
            )
            .refs(&["Group"])
            .read_only(),
            s("display", "A human-readable name of the group.").read_only(),
            s("type", "The membership type: direct.")
                .canonical(&["direct"])
                .read_only(),
        ]),
        multi(
            "entitlements",
            s("value", "The value of an entitlement."),
            &[],
            "A list of entitlements for the User.",
        ),
        multi(
            "roles",
            s("value", "The value of a role."),
            &[],
            "A list of roles for the User.",
        ),
    ],
});

pub static GROUP: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group",
    attrs: vec![
        s(
            "displayName",
            "A human-readable name for the Group, unique regardless of case (at most 100 characters).",
        )
        .required()
        .unique(),
        Attr::new(
            "members",
            Ty::Complex,
            "A list of members of the Group: users or groups.",
        )
        .multi()
        .sub(vec![
            s("value", "Identifier of the member of this Group.").immutable(),
            Attr::new("$ref", Ty::Reference, "The URI of the member resource.")
                .refs(&["User", "Group"])
                .immutable(),
            s(
                "display",
                "A human-readable name of the member, as the client gave it.",
            ),
            s("type", "The type of the member: User or Group.")
                .canonical(&["User", "Group"])
                .immutable(),
        ]),
    ],
});

pub static WORKS_USER: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: WORKS_USER_SCHEMA,
    name: "WorksUser",
    description: "LINE WORKS user attributes",
    attrs: vec![
        s(
            "employeeNumber",
            "The member's employee number in the organisation (at most 100 characters).",
        ),
        s(
            "organization",
            "The name of the organisation (company) the member belongs to.",
        ),
        s(
            "department",
            "The member's primary department or organisation unit.",
        ),
        s("position", "The member's position, such as \"Manager\"."),
        s("level", "The member's job level or grade."),
        s(
            "workLocation",
            "Where the member works, such as an office or site name.",
        ),
        s("task", "The member's duties, shown in the member profile."),
    ],
});

/// The Enterprise User extension (RFC 7643 §4.3, §8.7.1), which Entra ID and Okta map to by
/// default. `manager.$ref` and `manager.displayName` are filled in by the server when the user
/// that `manager.value` names exists, so both are read-only here (the RFC lets `$ref` be
/// written; a client-supplied one could only disagree with the server's).
pub static ENTERPRISE_USER: LazyLock<Schema> = LazyLock::new(|| Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attrs: vec![
        s(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person, typically based on order of \
             hire or association with an organization (at most 100 characters).",
        ),
        s("costCenter", "Identifies the name of a cost center."),
        s("organization", "Identifies the name of an organization."),
        s("division", "Identifies the name of a division."),
        s("department", "Identifies the name of a department."),
        Attr::new(
            "manager",
            Ty::Complex,
            "The User's manager: the 'id' of another User. It may name a user that does not \
             exist yet; $ref and displayName appear once it does.",
        )
        .sub(vec![
            s(
                "value",
                "The id of the SCIM resource representing the User's manager.",
            ),
            Attr::new(
                "$ref",
                Ty::Reference,
                "The URI of the SCIM resource representing the User's manager, filled in by the server.",
            )
            .refs(&["User"])
            .read_only(),
            s(
                "displayName",
                "The displayName of the User's manager, filled in by the server.",
            )
            .read_only(),
        ]),
    ],
});

/// Attributes common to every resource (RFC 7643 §3.1).
pub fn common_attrs() -> &'static [Attr] {
    static COMMON: LazyLock<Vec<Attr>> = LazyLock::new(|| {
        vec![
            s("id", "Unique identifier assigned by the service provider.")
                .exact()
                .read_only()
                .always()
                .unique(),
            s(
                "externalId",
                "An identifier defined by the provisioning client (at most 100 characters).",
            )
            .exact(),
            Attr::new("meta", Ty::Complex, "Resource metadata.")
                .read_only()
                .sub(vec![
                    s("resourceType", "The name of the resource type.")
                        .exact()
                        .read_only(),
                    Attr::new("created", Ty::DateTime, "When the resource was added.").read_only(),
                    Attr::new(
                        "lastModified",
                        Ty::DateTime,
                        "When the resource was last updated.",
                    )
                    .read_only(),
                    Attr::new("location", Ty::Reference, "The URI of the resource.").read_only(),
                    s("version", "The version (ETag) of the resource.")
                        .exact()
                        .read_only(),
                ]),
        ]
    });
    &COMMON
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
    pub fn endpoint(self) -> &'static str {
        match self {
            Kind::User => "Users",
            Kind::Group => "Groups",
        }
    }
    pub fn core(self) -> &'static Schema {
        match self {
            Kind::User => &USER,
            Kind::Group => &GROUP,
        }
    }
    pub fn extensions(self) -> &'static [&'static Schema] {
        static USER_EXTENSIONS: LazyLock<[&'static Schema; 2]> =
            LazyLock::new(|| [&*ENTERPRISE_USER, &*WORKS_USER]);
        match self {
            Kind::User => &*USER_EXTENSIONS,
            Kind::Group => &[],
        }
    }
    pub fn extension(self, urn: &str) -> Option<&'static Schema> {
        self.extensions()
            .iter()
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// Where an attribute path lands in a stored resource.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `Some(urn)` for an extension attribute, stored under the URN key.
    pub extension: Option<&'static str>,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl Resolved {
    /// The JSON key of the top-level attribute, and the sub-attribute key if any.
    pub fn json_path(&self) -> String {
        let mut p = String::from("$");
        if let Some(urn) = self.extension {
            p.push_str(&format!(".\"{urn}\""));
        }
        p.push_str(&format!(".\"{}\"", self.attr.name));
        if let Some(sub) = self.sub
            && !self.attr.multi
        {
            p.push_str(&format!(".\"{}\"", sub.name));
        }
        p
    }

    /// The attribute a value is compared against: the sub-attribute, else the attribute.
    pub fn leaf(&self) -> &'static Attr {
        self.sub.unwrap_or(self.attr)
    }
}

/// Resolves `[uri:]name[.sub]` against a resource type, case-insensitively.
/// `None` means the path names nothing this server knows.
pub fn resolve(kind: Kind, uri: Option<&str>, name: &str, sub: Option<&str>) -> Option<Resolved> {
    let (extension, schema_attr): (Option<&'static str>, Option<&'static Attr>) = match uri {
        None => (
            None,
            kind.core()
                .attr(name)
                .or_else(|| common_attrs().iter().find(|a| a.name.eq_ignore_ascii_case(name))),
        ),
        Some(u) if u.eq_ignore_ascii_case(kind.core().id) => (
            None,
            kind.core()
                .attr(name)
                .or_else(|| common_attrs().iter().find(|a| a.name.eq_ignore_ascii_case(name))),
        ),
        Some(u) => match kind.extension(u) {
            Some(ext) => (Some(ext.id), ext.attr(name)),
            None => return None,
        },
    };
    let attr = schema_attr?;
    let sub = match sub {
        None => None,
        Some(s) => Some(attr.sub_attr(s)?),
    };
    Some(Resolved { extension, attr, sub })
}

pub fn all_schemas() -> [&'static Schema; 4] {
    [&USER, &GROUP, &ENTERPRISE_USER, &WORKS_USER]
}

pub fn service_provider_config(base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://developers.worksmobile.com/jp/docs/scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": 100},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        // RFC 9865 §4. Index stays the default so existing clients see no change.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": super::handlers::MAX_COUNT,
            "maxPageSize": super::handlers::MAX_COUNT,
            "cursorTimeout": super::cursor::CURSOR_TIMEOUT_SECONDS,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Dedicated Token",
            "description": "A long-lived token issued for a provisioning app in the Developer Console, \
                            sent as 'Authorization: Bearer <token>'. Each use renews its 90-day validity.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base_url}/scim/v2/ServiceProviderConfig"),
        }
    })
}

pub fn resource_type(kind: Kind, base_url: &str) -> Value {
    let mut v = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": format!("/{}", kind.endpoint()),
        "description": match kind { Kind::User => "User Account", Kind::Group => "Group" },
        "schema": kind.core().id,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base_url}/scim/v2/ResourceTypes/{}", kind.name()),
        }
    });
    let ext: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|s| json!({"schema": s.id, "required": false}))
        .collect();
    if !ext.is_empty() {
        v["schemaExtensions"] = Value::Array(ext);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_case_insensitively_and_extensions_by_urn() {
        let r = resolve(Kind::User, None, "USERNAME", None).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert_eq!(r.json_path(), "$.\"userName\"");
        let r = resolve(Kind::User, None, "name", Some("FamilyName")).unwrap();
        assert_eq!(r.json_path(), "$.\"name\".\"familyName\"");
        let r = resolve(Kind::User, Some(WORKS_USER_SCHEMA), "employeeNumber", None).unwrap();
        assert_eq!(
            r.json_path(),
            format!("$.\"{WORKS_USER_SCHEMA}\".\"employeeNumber\"")
        );
        assert!(resolve(Kind::User, None, "password", None).is_none());
        assert!(resolve(Kind::Group, None, "userName", None).is_none());
        assert!(resolve(Kind::User, Some("urn:nope"), "x", None).is_none());
    }
}
