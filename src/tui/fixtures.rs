//! Sample data for snapshot tests and benchmarks: fixed clock, CJK and hostile names.

use super::app::{App, Connection, Link};
use super::keymap::Keymap;
use crate::wire::{Admin, AppType, AuditEvent, ClientApp, DedicatedToken, Outcome, Role, TokenState};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

pub const NOW: OffsetDateTime = datetime!(2026-11-27 09:00 UTC);
/// A name that tries to recolour the terminal and reverse the text after it.
pub const HOSTILE_NAME: &str = "evil\x1b[31mred\u{202E}gpj.exe";
pub const CJK_NAME: &str = "人事システム連携プロビジョニング";

pub fn admin() -> Admin {
    Admin {
        id: Uuid::from_u128(1),
        username: "alice".into(),
        role: Role::Developer,
        created_at: NOW,
    }
}

pub fn connection() -> Connection {
    Connection {
        label: "profile prod".into(),
        server: "https://console.example.com".into(),
        admin: Some(admin()),
        link: Link::Online,
        remote: true,
    }
}

pub fn token(state: TokenState, days_left: i64) -> DedicatedToken {
    DedicatedToken {
        token_id: Uuid::from_u128(77),
        state,
        issued_at: NOW - time::Duration::days(90 - days_left),
        last_used_at: Some(NOW - time::Duration::days(90 - days_left)),
        expires_at: NOW + time::Duration::days(days_left),
        revoked_at: (state == TokenState::Revoked).then(|| NOW - time::Duration::days(2)),
    }
}

pub fn client_app(n: u128, name: &str) -> ClientApp {
    ClientApp {
        id: Uuid::from_u128(n),
        app_type: AppType::Provisioning,
        name: name.into(),
        description: String::new(),
        client_id: format!("CID{n:017}"),
        scim_enabled: false,
        service_account: None,
        members: vec!["alice".into()],
        created_by: "alice".into(),
        created_at: NOW,
        updated_at: NOW,
        token: None,
        can_manage: true,
        warnings: Vec::new(),
        scim_base_url: "https://console.example.com/scim/v2".into(),
    }
}

/// Four apps: an active token, a CJK name, a hostile name, and one the admin may not change.
pub fn sample_apps() -> Vec<ClientApp> {
    let mut okta = client_app(10, "Okta sync");
    okta.description = "Provisions users from Okta.\nOwned by the identity team.".into();
    okta.scim_enabled = true;
    okta.service_account = Some("CID00000000000000010.serviceaccount".into());
    okta.token = Some(token(TokenState::Active, 89));
    let mut cjk = client_app(11, CJK_NAME);
    cjk.description = "人事データから LINE WORKS へ".into();
    cjk.scim_enabled = true;
    cjk.token = Some(token(TokenState::Revoked, 40));
    let mut hostile = client_app(12, HOSTILE_NAME);
    hostile.description = "desc \x1b]52;c;aGk=\x07 with an OSC 52 injection".into();
    let mut other = client_app(13, "Payroll bridge");
    other.members = vec!["bob".into()];
    other.created_by = "bob".into();
    other.can_manage = false;
    other.scim_enabled = true;
    other.token = Some(token(TokenState::Expired, -3));
    vec![okta, cjk, hostile, other]
}

pub fn audit_events() -> Vec<AuditEvent> {
    let ev = |id: i64, action: &str, app: Option<&str>, outcome: Outcome, detail: Option<&str>| AuditEvent {
        id,
        at: NOW - time::Duration::minutes(id),
        actor: "alice".into(),
        action: action.parse().expect("a known audit action"),
        app_id: app.map(|_| Uuid::from_u128(10)),
        app_name: app.map(str::to_owned),
        outcome,
        detail: detail.map(str::to_owned),
        address: None,
        count: 1,
        last_at: None,
    };
    vec![
        ev(
            1,
            "token.issue",
            Some("Okta sync"),
            Outcome::Success,
            Some("token 00000000-0000-0000-0000-00000000004d"),
        ),
        ev(2, "app.scim.enable", Some("Okta sync"), Outcome::Success, None),
        ev(3, "app.create", Some(CJK_NAME), Outcome::Success, None),
        ev(
            4,
            "token.issue",
            Some(HOSTILE_NAME),
            Outcome::Failure,
            Some("SCIM is off for this app"),
        ),
        ev(5, "session.login", None, Outcome::Success, None),
    ]
}

/// A console on the app list with [`sample_apps`], a fixed clock and colour on or off.
pub fn app_with(apps: Vec<ClientApp>, color: bool) -> App {
    let mut app = App::new(Keymap::defaults(), connection(), color);
    app.now = NOW;
    app.set_apps(apps);
    app
}

/// `n` apps named "app 00001"… for benchmarks.
pub fn many_apps(n: usize) -> Vec<ClientApp> {
    (0..n)
        .map(|i| {
            let mut a = client_app(1000 + i as u128, &format!("app {i:05}"));
            if i % 3 == 0 {
                a.scim_enabled = true;
                a.token = Some(token(TokenState::Active, (i % 90) as i64));
            }
            a
        })
        .collect()
}

/// A provider sync as the activity log records it, newest first: two creates, a create refused
/// because userName is not an email, a deactivation, and a group.
pub fn activity_events() -> Vec<crate::wire::ActivityEvent> {
    use crate::wire::{ActivityEvent, ScimOperation as Op, ScimResourceType as Res};
    let ev = |id: i64,
              op: Op,
              res: Res,
              name: &str,
              status: u16,
              scim_type: Option<&str>,
              detail: Option<&str>| {
        ActivityEvent {
            id,
            at: NOW - time::Duration::seconds(id * 7),
            app_id: Uuid::from_u128(10),
            app_name: Some("Okta sync".into()),
            operation: op,
            resource_type: Some(res),
            resource_id: Some(format!("00000000-0000-0000-0000-{id:012}")),
            name: Some(name.into()),
            status,
            outcome: if status < 400 {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            scim_type: scim_type.map(str::to_owned),
            detail: detail.map(str::to_owned),
        }
    };
    vec![
        ev(1, Op::Create, Res::Group, "Engineering", 201, None, None),
        ev(
            2,
            Op::Patch,
            Res::User,
            "carol@example.com",
            200,
            None,
            Some("active: false"),
        ),
        ev(
            3,
            Op::Create,
            Res::User,
            "dave",
            400,
            Some("invalidValue"),
            Some(
                "userName must be an email address of at most 90 characters whose local part has 2-40 \
                 characters and starts with a letter or digit; got \"dave\". In Entra ID map userName \
                 from mail, in Okta set the application username format to Email.",
            ),
        ),
        ev(4, Op::Create, Res::User, "bob@example.com", 201, None, None),
        ev(5, Op::Create, Res::User, "alice@example.com", 201, None, None),
    ]
}
