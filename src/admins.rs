//! What the `admin` subcommands do to the local database, with the rules the console API keeps:
//! a password or role change and a deletion end the admin's sessions; the last super admin
//! cannot be deleted or demoted; an app is never left without a member. Each change commits
//! with its audit record.

use crate::store::{NewAuditEvent, Store, StoreError, Tx};
use crate::wire::{Admin, AuditAction, Outcome, Role};
use time::OffsetDateTime;

/// The actor recorded for changes made with the `admin` subcommands.
pub const CLI_ACTOR: &str = "(command line)";

/// The built-in local admin of embedded mode; it cannot sign in over HTTP, so it does not count
/// as a super admin who can run a server.
const LOCAL_ADMIN: &str = "(local)";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no admin named {0}")]
    NoSuchAdmin(String),
    #[error(
        "{0} is the last super admin; create another super admin first (admin create NAME --role super-admin)"
    )]
    LastSuperAdmin(String),
    #[error(
        "{name} is the only member of {apps}; nobody else could manage {them}. Add another member in the console, \
         or pass --reassign-to ADMIN to hand {them} over"
    )]
    OnlyMember {
        name: String,
        apps: String,
        them: &'static str,
    },
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    #[error("--reassign-to {0}: {1}")]
    BadHeir(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn event<'a>(now: OffsetDateTime, action: AuditAction, detail: &'a str) -> NewAuditEvent<'a> {
    NewAuditEvent {
        at: now,
        actor: CLI_ACTOR,
        action,
        app_id: None,
        app_name: None,
        outcome: Outcome::Success,
        detail: Some(detail),
        address: None,
    }
}

async fn commit(
    mut tx: Tx,
    now: OffsetDateTime,
    action: AuditAction,
    detail: &str,
) -> Result<(), AdminError> {
    tx.insert_audit(&event(now, action, detail)).await?;
    tx.commit().await?;
    Ok(())
}

/// Begins a transaction holding the named admin.
async fn begin_with(store: &Store, name: &str) -> Result<(Tx, Admin), AdminError> {
    let mut tx = store.begin().await?;
    let admin = tx
        .lock_admin(name)
        .await?
        .ok_or_else(|| AdminError::NoSuchAdmin(name.to_owned()))?
        .admin;
    Ok((tx, admin))
}

/// Refuses when `admin` is the last super admin who can sign in.
async fn keep_a_super_admin(tx: &mut Tx, admin: &Admin) -> Result<(), AdminError> {
    if admin.role == Role::SuperAdmin && tx.count_super_admins(admin.id, LOCAL_ADMIN).await? == 0 {
        return Err(AdminError::LastSuperAdmin(admin.username.clone()));
    }
    Ok(())
}

/// Replaces a password and ends the admin's sessions. Returns how many sessions ended.
pub async fn set_password(
    store: &Store,
    name: &str,
    hash: &str,
    now: OffsetDateTime,
) -> Result<u64, AdminError> {
    let mut tx = store.begin().await?;
    let admin = tx
        .lock_admin(name)
        .await?
        .ok_or_else(|| AdminError::NoSuchAdmin(name.to_owned()))?;
    tx.set_admin_password(admin.admin.id, hash).await?;
    let ended = tx.delete_sessions_of(admin.admin.id).await?;
    let detail = format!(
        "password replaced for {}; {ended} session(s) ended",
        admin.admin.username
    );
    commit(tx, now, AuditAction::AdminSetPassword, &detail).await?;
    Ok(ended)
}

/// Changes a role and ends the admin's sessions. Refuses to demote the last super admin.
pub async fn set_role(store: &Store, name: &str, role: Role, now: OffsetDateTime) -> Result<u64, AdminError> {
    let (mut tx, admin) = begin_with(store, name).await?;
    if role != Role::SuperAdmin {
        keep_a_super_admin(&mut tx, &admin).await?;
    }
    tx.set_admin_role(admin.id, role).await?;
    let ended = tx.delete_sessions_of(admin.id).await?;
    let detail = format!(
        "{} is now {} (was {}); {ended} session(s) ended",
        admin.username,
        role.as_str(),
        admin.role.as_str()
    );
    commit(tx, now, AuditAction::AdminSetRole, &detail).await?;
    Ok(ended)
}

/// Deletes an admin (their sessions and memberships go too). Refuses to delete the last super
/// admin, or the only member of an app unless `reassign_to` names an admin with Developers
/// authority, who then becomes a member of those apps.
pub async fn delete(
    store: &Store,
    name: &str,
    reassign_to: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<String>, AdminError> {
    let (mut tx, admin) = begin_with(store, name).await?;
    keep_a_super_admin(&mut tx, &admin).await?;
    let orphans = tx.apps_only_managed_by(admin.id).await?;
    let names: Vec<String> = orphans.iter().map(|(_, n)| n.clone()).collect();
    if !orphans.is_empty() {
        let Some(heir_name) = reassign_to else {
            let apps = names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(AdminError::OnlyMember {
                name: admin.username,
                them: if orphans.len() == 1 { "it" } else { "them" },
                apps: if orphans.len() == 1 {
                    format!("the app {apps}")
                } else {
                    format!("the apps {apps}")
                },
            });
        };
        let heir = tx
            .lock_admin(heir_name)
            .await?
            .ok_or(AdminError::BadHeir(
                heir_name.to_owned(),
                "there is no such admin",
            ))?
            .admin;
        if heir.id == admin.id {
            return Err(AdminError::BadHeir(
                heir_name.to_owned(),
                "that is the admin being deleted",
            ));
        }
        if !heir.role.has_developers_authority() {
            return Err(AdminError::BadHeir(
                heir_name.to_owned(),
                "that admin lacks Developers authority, so cannot manage provisioning apps",
            ));
        }
        for (app_id, _) in &orphans {
            tx.add_member(*app_id, heir.id).await?;
        }
    }
    tx.delete_admin(admin.id).await?;
    let mut detail = format!("deleted {}", admin.username);
    if let Some(heir) = reassign_to.filter(|_| !names.is_empty()) {
        detail.push_str(&format!(
            "; {} handed to {heir}: {}",
            names.len(),
            names.join(", ")
        ));
    }
    commit(tx, now, AuditAction::AdminDelete, &detail).await?;
    Ok(names)
}

/// Clears a username's failed sign-ins, ending its lockout. Returns how many were cleared.
pub async fn unlock(store: &Store, name: &str, now: OffsetDateTime) -> Result<u64, AdminError> {
    let mut tx = store.begin().await?;
    let cleared = tx.clear_login_failures(&name.to_lowercase()).await?;
    let detail = format!("unlocked {name}: {cleared} failed sign-in(s) cleared");
    commit(tx, now, AuditAction::AdminUnlock, &detail).await?;
    Ok(cleared)
}

/// Clears a client address's failed sign-ins, ending its lockout (an office behind one NAT
/// address, say). Returns how many were cleared.
pub async fn unlock_address(store: &Store, address: &str, now: OffsetDateTime) -> Result<u64, AdminError> {
    let address = address
        .parse::<std::net::IpAddr>()
        .map_err(|_| AdminError::BadAddress(address.to_owned()))?
        .to_canonical()
        .to_string();
    let mut tx = store.begin().await?;
    let cleared = tx.clear_address_failures(&address).await?;
    let detail = format!("unlocked address {address}: {cleared} failed sign-in(s) cleared");
    commit(tx, now, AuditAction::AdminUnlock, &detail).await?;
    Ok(cleared)
}
