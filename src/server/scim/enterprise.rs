//! The server-side part of the Enterprise User extension (RFC 7643 §4.3).
//!
//! A user's `manager` names another user by `id`. Providers send managers out of order: Entra
//! ID links a new user to a manager in a later PATCH, and the manager may be provisioned after
//! the report. So the stored resource keeps only `manager.value`, whatever it names. The
//! `$ref` and `displayName` are filled in at read time when that user exists, so they are
//! never stale after the manager is renamed.
//!
//! `manager.value` is the manager's `id`. Okta's default mapping sends the manager's Okta user
//! id instead, which is the `externalId` Okta gives the manager here; so a value that is no
//! user's `id` but exactly one user's `externalId` resolves to that user. `value` itself is
//! kept as sent, so a provider reading the user back sees what it wrote.

use super::error::{ScimError, ScimResult};
use super::resource;
use super::schema::{ENTERPRISE_USER_SCHEMA, Kind, Mutability, Resolved};
use crate::store::Store;
use serde_json::{Map, Value};

fn manager_of(r: &Map<String, Value>) -> Option<&str> {
    r.get(ENTERPRISE_USER_SCHEMA)?
        .get("manager")?
        .get("value")?
        .as_str()
}

/// A user cannot be their own manager. (A manager that does not exist yet is fine.)
pub fn check(id: &str, r: &Map<String, Value>) -> ScimResult<()> {
    let own_external = r.get("externalId").and_then(Value::as_str);
    if let Some(m) = manager_of(r)
        && (m == id || Some(m) == own_external)
    {
        return Err(ScimError::invalid_value(format!(
            "{ENTERPRISE_USER_SCHEMA}:manager.value cannot name the user itself"
        )));
    }
    Ok(())
}

/// Whether a resolved path names a value the server computes at read time (an extension's
/// read-only sub-attribute, such as `manager.displayName`): it is not stored, so a filter or
/// sort on it could only ever see nothing.
pub fn is_computed(r: &Resolved) -> bool {
    r.extension.is_some() && r.leaf().mutability == Mutability::ReadOnly
}

/// Fills in `manager.$ref` and `manager.displayName` on rendered users whose manager exists,
/// with one store lookup for the whole page.
pub async fn fill_managers(store: &Store, base_url: &str, users: &mut [Value]) -> ScimResult<()> {
    let mut ids: Vec<String> = users
        .iter()
        .filter_map(|u| manager_of(u.as_object()?))
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let found = store.scim_user_refs(&ids).await?;
    for user in users.iter_mut() {
        let Some(manager) = user
            .get_mut(ENTERPRISE_USER_SCHEMA)
            .and_then(|e| e.get_mut("manager"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let Some(id) = manager.get("value").and_then(Value::as_str) else {
            continue;
        };
        if let Some((user_id, name)) = found.get(id) {
            let location = resource::location(base_url, Kind::User, user_id);
            manager.insert("$ref".into(), Value::String(location));
            manager.insert("displayName".into(), Value::String(name.clone()));
        }
    }
    Ok(())
}
