//! Turning client JSON into a stored resource (normalise, validate) and a stored resource into
//! a response (id, meta, computed attributes, attribute selection).

#[cfg(test)]
use super::error::ScimType;
use super::error::{ScimError, ScimResult};
use super::schema::{self, Attr, Kind, Mutability, Returned, Ty};
use crate::store::ScimRow;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const USER_NAME_MAX: usize = 90;
pub const LOCAL_PART: std::ops::RangeInclusive<usize> = 2..=40;
pub const EXTERNAL_ID_MAX: usize = 100;
pub const NICK_NAME_MAX: usize = 100;
pub const FULL_NAME_MAX: usize = 80;
pub const GROUP_NAME_MAX: usize = 100;
pub const EXTENSION_VALUE_MAX: usize = 100;

/// Normalises a client-supplied resource: attribute names to their canonical spelling,
/// read-only and unknown attributes dropped (RFC 7644 §3.5.1: "SHALL be ignored"), nulls and
/// empty values removed, types checked. Then checks the resource's own rules.
pub fn normalize(kind: Kind, input: &Value) -> ScimResult<Map<String, Value>> {
    let Value::Object(obj) = input else {
        return Err(ScimError::invalid_syntax("the resource must be a JSON object"));
    };
    if let Some(schemas) = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v)
    {
        let ok = schemas.as_array().is_some_and(|a| {
            a.iter().all(Value::is_string)
                && a.iter()
                    .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(kind.core().id)))
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must be an array of URIs that includes {}",
                kind.core().id
            )));
        }
    }
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if key.eq_ignore_ascii_case("externalId") {
            match value {
                Value::Null => {}
                Value::String(s) if s.chars().count() > EXTERNAL_ID_MAX => {
                    return Err(ScimError::invalid_value(format!(
                        "externalId must be at most {EXTERNAL_ID_MAX} characters"
                    )));
                }
                Value::String(s) if !s.is_empty() => {
                    out.insert("externalId".into(), value.clone());
                }
                Value::String(_) => {}
                _ => return Err(ScimError::invalid_value("externalId must be a string")),
            }
            continue;
        }
        if let Some(ext) = kind.extension(key) {
            match value {
                Value::Null => {}
                Value::Object(_) => {
                    let m = normalize_object(&ext.attrs, value, ext.id)?;
                    if !m.is_empty() {
                        out.insert(ext.id.into(), Value::Object(m));
                    }
                }
                _ => return Err(ScimError::invalid_value(format!("{} must be an object", ext.id))),
            }
            continue;
        }
        if let Some(attr) = kind.core().attr(key)
            && attr.mutability != Mutability::ReadOnly
            && let Some(v) = normalize_value(attr, value, attr.name)?
        {
            out.insert(attr.name.into(), v);
        }
    }
    check_rules(kind, &out)?;
    Ok(out)
}

fn normalize_object(attrs: &[Attr], value: &Value, at: &str) -> ScimResult<Map<String, Value>> {
    let Value::Object(obj) = value else {
        return Err(ScimError::invalid_value(format!("{at} must be an object")));
    };
    let mut out = Map::new();
    for (key, v) in obj {
        if let Some(attr) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(key))
            && attr.mutability != Mutability::ReadOnly
            && let Some(v) = normalize_value(attr, v, &format!("{at}.{}", attr.name))?
        {
            out.insert(attr.name.into(), v);
        }
    }
    Ok(out)
}

/// `Ok(None)` for a value that asserts nothing (null, empty array, empty object).
pub fn normalize_value(attr: &Attr, value: &Value, at: &str) -> ScimResult<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        // One value where a list is expected was made a list of one by `normalize`.
        let Value::Array(items) = value else {
            return Err(ScimError::invalid_value(format!("{at} must be an array")));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(attr, item, at)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "{at}: at most one value may be primary"
            )));
        }
        return Ok(Some(Value::Array(out)));
    }
    normalize_single(attr, value, at)
}

fn normalize_single(attr: &Attr, value: &Value, at: &str) -> ScimResult<Option<Value>> {
    let wrong = |what: &str| ScimError::invalid_value(format!("{at} must be {what}"));
    Ok(match attr.ty {
        _ if value.is_null() => None,
        Ty::Complex => {
            let m = normalize_object(&attr.sub, value, at)?;
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Ty::String | Ty::Reference => match value {
            Value::String(_) => Some(value.clone()),
            _ => return Err(wrong("a string")),
        },
        // Booleans sent as strings ("False") were made booleans by `normalize`.
        Ty::Boolean => match value {
            Value::Bool(_) => Some(value.clone()),
            _ => return Err(wrong("a boolean")),
        },
        Ty::Integer => match value {
            Value::Number(n) if n.is_i64() => Some(value.clone()),
            _ => return Err(wrong("an integer")),
        },
        Ty::DateTime => match value {
            Value::String(s) if OffsetDateTime::parse(s, &Rfc3339).is_ok() => Some(value.clone()),
            _ => return Err(wrong("an RFC 3339 date-time")),
        },
    })
}

/// The rules beyond types: LINE WORKS's userName, language and length limits.
fn check_rules(kind: Kind, r: &Map<String, Value>) -> ScimResult<()> {
    let text = |k: &str| r.get(k).and_then(Value::as_str);
    match kind {
        Kind::User => {
            let user_name =
                text("userName").ok_or_else(|| ScimError::invalid_value("userName is required"))?;
            check_user_name(user_name)?;
            if let Some(lang) = text("preferredLanguage")
                && !schema::LANGUAGES.contains(&lang)
            {
                return Err(ScimError::invalid_value(format!(
                    "preferredLanguage must be one of {}",
                    schema::LANGUAGES.join(", ")
                )));
            }
            if text("nickName").is_some_and(|n| n.chars().count() > NICK_NAME_MAX) {
                return Err(ScimError::invalid_value(format!(
                    "nickName must be at most {NICK_NAME_MAX} characters"
                )));
            }
            if let Some(name) = r.get("name") {
                let part = |k: &str| {
                    name.get(k)
                        .and_then(Value::as_str)
                        .map_or(0, |s| s.chars().count())
                };
                if part("familyName") + part("givenName") > FULL_NAME_MAX {
                    return Err(ScimError::invalid_value(format!(
                        "name.familyName and name.givenName together must be at most {FULL_NAME_MAX} characters"
                    )));
                }
            }
            check_extension_lengths(kind, r)?;
        }
        Kind::Group => {
            let name = text("displayName")
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| ScimError::invalid_value("displayName is required"))?;
            if name.chars().count() > GROUP_NAME_MAX {
                return Err(ScimError::invalid_value(format!(
                    "displayName must be at most {GROUP_NAME_MAX} characters"
                )));
            }
            for m in r.get("members").and_then(Value::as_array).into_iter().flatten() {
                if m.get("value").and_then(Value::as_str).is_none_or(str::is_empty) {
                    return Err(ScimError::invalid_value(
                        "every member needs a value (the member's id)",
                    ));
                }
                if let Some(t) = m.get("type").and_then(Value::as_str)
                    && !t.eq_ignore_ascii_case("user")
                    && !t.eq_ignore_ascii_case("group")
                {
                    return Err(ScimError::invalid_value("a member's type must be User or Group"));
                }
            }
        }
    }
    Ok(())
}

/// Every extension value (works:2.0, and enterprise including `manager.value`) is a string of
/// at most [`EXTENSION_VALUE_MAX`] characters.
fn check_extension_lengths(kind: Kind, r: &Map<String, Value>) -> ScimResult<()> {
    for ext in kind.extensions() {
        let Some(Value::Object(values)) = r.get(ext.id) else {
            continue;
        };
        for (k, v) in values {
            let (at, text) = match v {
                Value::Object(o) => (format!("{k}.value"), o.get("value").and_then(Value::as_str)),
                other => (k.clone(), other.as_str()),
            };
            if text.is_some_and(|s| s.chars().count() > EXTENSION_VALUE_MAX) {
                return Err(ScimError::invalid_value(format!(
                    "{}:{at} must be at most {EXTENSION_VALUE_MAX} characters",
                    ext.id
                )));
            }
        }
    }
    Ok(())
}

/// LINE WORKS login IDs: an email of at most 90 characters whose local part has 2 to 40
/// characters and starts with a letter or digit.
pub fn check_user_name(s: &str) -> ScimResult<()> {
    let bad = |why: &str| ScimError::invalid_value(format!("userName {why}"));
    if s.chars().count() > USER_NAME_MAX {
        return Err(bad(&format!("must be at most {USER_NAME_MAX} characters")));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(bad("must be an email address"));
    };
    if !LOCAL_PART.contains(&local.chars().count()) {
        return Err(bad("must have a local part (before @) of 2 to 40 characters"));
    }
    let local_ok = local.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !local_ok || !domain_ok {
        return Err(bad(
            "must be an email address (letters, digits, '.', '_', '-', '+'), starting with a letter or digit",
        ));
    }
    Ok(())
}

/// The value a resource's `schemas` attribute carries.
pub fn schemas_of(kind: Kind, r: &Map<String, Value>) -> Value {
    let mut s = vec![Value::from(kind.core().id)];
    for ext in kind.extensions() {
        if r.contains_key(ext.id) {
            s.push(ext.id.into());
        }
    }
    Value::Array(s)
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

pub fn location(base_url: &str, kind: Kind, id: &str) -> String {
    format!("{base_url}/scim/v2/{}/{id}", kind.endpoint())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The full representation of a stored resource.
pub fn render(
    kind: Kind,
    row: &ScimRow,
    base_url: &str,
    groups: Option<&[(String, String)]>,
) -> ScimResult<Value> {
    let mut r: Map<String, Value> = serde_json::from_str(&row.resource).map_err(|e| {
        tracing::error!(id = %row.id, error = %e, "corrupt SCIM resource");
        ScimError::internal()
    })?;
    if let Some(groups) = groups.filter(|g| !g.is_empty()) {
        let list = groups
            .iter()
            .map(|(id, name)| {
                serde_json::json!({
                    "value": id,
                    "$ref": location(base_url, Kind::Group, id),
                    "display": name,
                    "type": "direct",
                })
            })
            .collect();
        r.insert("groups".into(), Value::Array(list));
    }
    r.insert("schemas".into(), schemas_of(kind, &r));
    r.insert("id".into(), Value::String(row.id.clone()));
    r.insert(
        "meta".into(),
        serde_json::json!({
            "resourceType": kind.name(),
            "created": rfc3339(row.created_at),
            "lastModified": rfc3339(row.updated_at),
            "location": location(base_url, kind, &row.id),
            "version": etag(row.version),
        }),
    );
    Ok(Value::Object(r))
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.9), as parsed attribute paths.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl Selection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let split = |s: Option<&str>| -> Vec<String> {
            s.into_iter()
                .flat_map(|s| s.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Selection {
            attributes: split(attributes),
            excluded: split(excluded),
        }
    }

    pub fn from_lists(attributes: &[String], excluded: &[String]) -> Self {
        Selection {
            attributes: attributes.to_vec(),
            excluded: excluded.to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.excluded.is_empty()
    }
}

/// A selection entry split into (extension URN if any, attribute, sub-attribute).
/// `None` attribute: the entry names a whole extension.
fn split_path(kind: Kind, p: &str) -> Option<(Option<&'static str>, Option<String>, Option<String>)> {
    // A bare extension URN selects the whole extension.
    if let Some(ext) = kind.extension(p) {
        return Some((Some(ext.id), None, None));
    }
    let (ext, rest) = match p.rsplit_once(':') {
        Some((urn, rest)) => {
            if urn.eq_ignore_ascii_case(kind.core().id) {
                (None, rest)
            } else {
                (Some(kind.extension(urn)?.id), rest)
            }
        }
        None => (None, p),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n.to_owned(), Some(s.to_owned())),
        None => (rest.to_owned(), None),
    };
    Some((ext, Some(name), sub))
}

fn key_of(m: &Map<String, Value>, name: &str) -> Option<String> {
    m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Applies attribute selection to a rendered resource. `id` and `schemas` are always returned.
pub fn project(kind: Kind, full: Value, sel: &Selection) -> Value {
    let Value::Object(mut full) = full else {
        return full;
    };
    if !sel.attributes.is_empty() {
        let mut out = Map::new();
        for always in ["schemas", "id"] {
            if let Some(v) = full.get(always) {
                out.insert(always.into(), v.clone());
            }
        }
        for p in &sel.attributes {
            let Some((ext, name, sub)) = split_path(kind, p) else {
                continue;
            };
            let (src, dst): (Option<&Map<String, Value>>, &mut Map<String, Value>) = match ext {
                Some(urn) => {
                    let Some(Value::Object(e)) = full.get(urn) else {
                        continue;
                    };
                    if name.is_none() {
                        out.insert(urn.into(), Value::Object(e.clone()));
                        continue;
                    }
                    let dst = out
                        .entry(urn.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()))
                        .as_object_mut()
                        .expect("inserted an object");
                    (Some(e), dst)
                }
                None => (Some(&full), &mut out),
            };
            let (Some(src), Some(name)) = (src, name) else {
                continue;
            };
            let Some(key) = key_of(src, &name) else { continue };
            let value = &src[&key];
            match sub {
                None => {
                    dst.insert(key, value.clone());
                }
                Some(sub) => {
                    let pick = |v: &Value| -> Option<Value> {
                        let o = v.as_object()?;
                        let k = key_of(o, &sub)?;
                        Some(Value::Object(Map::from_iter([(k.clone(), o[&k].clone())])))
                    };
                    let merged = match value {
                        Value::Array(items) => {
                            // Merge with what an earlier entry (e.g. emails.type) already picked.
                            let prev = dst
                                .get(&key)
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            let next: Vec<Value> = items
                                .iter()
                                .enumerate()
                                .map(|(i, item)| {
                                    let mut base = prev.get(i).cloned().unwrap_or(Value::Object(Map::new()));
                                    if let (Some(b), Some(Value::Object(p))) =
                                        (base.as_object_mut(), pick(item))
                                    {
                                        b.extend(p);
                                    }
                                    base
                                })
                                .collect();
                            Some(Value::Array(next))
                        }
                        other => pick(other).map(|p| {
                            let mut base = dst.get(&key).cloned().unwrap_or(Value::Object(Map::new()));
                            if let (Some(b), Value::Object(p)) = (base.as_object_mut(), p) {
                                b.extend(p);
                            }
                            base
                        }),
                    };
                    if let Some(m) = merged {
                        dst.insert(key, m);
                    }
                }
            }
        }
        // Drop extension objects that ended up empty.
        out.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
        return Value::Object(out);
    }
    for p in &sel.excluded {
        let Some((ext, name, sub)) = split_path(kind, p) else {
            continue;
        };
        let target = match ext {
            Some(urn) => match name {
                None => {
                    full.remove(urn);
                    continue;
                }
                Some(_) => match full.get_mut(urn).and_then(Value::as_object_mut) {
                    Some(e) => e,
                    None => continue,
                },
            },
            None => &mut full,
        };
        let Some(name) = name else { continue };
        let Some(key) = key_of(target, &name) else {
            continue;
        };
        if ext.is_none() && is_always_returned(kind, &key) {
            continue;
        }
        match sub {
            None => {
                target.remove(&key);
            }
            Some(sub) => match target.get_mut(&key) {
                Some(Value::Array(items)) => {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        if let Some(k) = key_of(item, &sub) {
                            item.remove(&k);
                        }
                    }
                }
                Some(Value::Object(o)) => {
                    if let Some(k) = key_of(o, &sub) {
                        o.remove(&k);
                    }
                }
                _ => {}
            },
        }
    }
    let ext_ids: Vec<&str> = kind.extensions().iter().map(|s| s.id).collect();
    full.retain(|k, v| !(ext_ids.contains(&k.as_str()) && matches!(v, Value::Object(o) if o.is_empty())));
    Value::Object(full)
}

fn is_always_returned(kind: Kind, key: &str) -> bool {
    key == "id"
        || key == "schemas"
        || kind
            .core()
            .attr(key)
            .is_some_and(|a| a.returned == Returned::Always)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_name_rules_follow_line_works() {
        assert!(check_user_name("ab@example.com").is_ok());
        assert!(check_user_name("a@example.com").is_err());
        assert!(check_user_name(&format!("{}@example.com", "a".repeat(41))).is_err());
        assert!(check_user_name(&format!("{}@example.com", "a".repeat(40))).is_ok());
        assert!(check_user_name(&format!("ab@{}.com", "d".repeat(90))).is_err());
        assert!(check_user_name("_ab@example.com").is_err());
        assert!(check_user_name("not-an-email").is_err());
        assert!(check_user_name("ab@localhost").is_err());
    }

    #[test]
    fn normalize_canonicalises_names_and_drops_read_only_and_unknown() {
        let r = normalize(
            Kind::User,
            &json!({
                "schemas": [schema::USER_SCHEMA],
                "USERNAME": "ann@example.com",
                "id": "client-chosen",
                "password": "never stored",
                "Emails": [{"Value": "ann@example.com", "primary": true}],
                "name": {"givenName": null},
                "preferredLanguage": "ja-JP",
            }),
        )
        .unwrap();
        assert_eq!(
            Value::Object(r),
            json!({
                "userName": "ann@example.com",
                "emails": [{"value": "ann@example.com", "primary": true}],
                "preferredLanguage": "ja-JP",
            })
        );
    }

    #[test]
    fn normalize_refuses_bad_values() {
        let bad = |v: Value| normalize(Kind::User, &v).unwrap_err().scim_type;
        assert_eq!(bad(json!({"userName": "x"})), Some(ScimType::InvalidValue));
        assert_eq!(
            bad(json!({"userName": "ann@example.com", "preferredLanguage": "fr-FR"})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            bad(json!({"userName": "ann@example.com", "externalId": "x".repeat(101)})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            bad(json!({"userName": "ann@example.com", "emails": [
                {"value": "a@example.com", "primary": true}, {"value": "b@example.com", "primary": true}]})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            bad(json!({"userName": "ann@example.com", "active": 3})),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(bad(json!(["not", "an", "object"])), Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn projection_keeps_id_and_schemas_and_selects_sub_attributes() {
        let full = json!({
            "schemas": [schema::USER_SCHEMA], "id": "1", "userName": "a@example.com",
            "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@example.com", "type": "work"}],
            "meta": {"resourceType": "User"}
        });
        let sel = Selection::parse(Some("name.givenName,emails.type"), None);
        assert_eq!(
            project(Kind::User, full.clone(), &sel),
            json!({"schemas": [schema::USER_SCHEMA], "id": "1", "name": {"givenName": "A"},
                   "emails": [{"type": "work"}]})
        );
        let sel = Selection::parse(None, Some("emails,meta,id"));
        assert_eq!(
            project(Kind::User, full, &sel),
            json!({"schemas": [schema::USER_SCHEMA], "id": "1", "userName": "a@example.com",
                   "name": {"givenName": "A", "familyName": "B"}})
        );
    }
}
