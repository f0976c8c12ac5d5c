//! What one SCIM request may ask of the server. Each refusal is a SCIM error that names the
//! limit, so a provider's log says what to change. The README's "Limits and timeouts" table
//! lists these.

use super::error::{ScimError, ScimResult, ScimType};
use super::schema::Kind;
use scim_v2::filter::{AttrExp, CompValue, Filter, ValFilter};
use serde_json::{Map, Value};
use std::time::Duration;

/// Values of one multi-valued attribute of a resource (emails, phoneNumbers, …), except a
/// group's members.
pub const MAX_VALUES_PER_ATTRIBUTE: usize = 100;
/// Members of one group (and so of one POST or PUT).
pub const MAX_GROUP_MEMBERS: usize = 10_000;
/// Member values one PATCH names, over all its operations.
pub const MAX_MEMBERS_PER_PATCH: usize = 1_000;
/// Operations in one PATCH.
pub const MAX_PATCH_OPERATIONS: usize = 100;
/// A stored User, as JSON.
pub const MAX_USER_BYTES: usize = 256 * 1024;
/// A stored Group, as JSON: room for [`MAX_GROUP_MEMBERS`] members with their `$ref`s.
pub const MAX_GROUP_BYTES: usize = 2 * 1024 * 1024;
/// A filter's text, before it is parsed.
pub const MAX_FILTER_CHARS: usize = 4096;
/// Attribute expressions in one filter, `[...]` value filters included.
pub const MAX_FILTER_TERMS: usize = 50;
/// A string a filter compares with.
pub const MAX_FILTER_VALUE_CHARS: usize = 256;
/// A PATCH operation's `path`.
pub const MAX_PATH_CHARS: usize = 1024;
/// SCIM requests served at once; the rest wait (up to [`QUEUE_WAIT`]) for a turn.
pub const MAX_IN_FLIGHT: usize = 16;
/// How long a SCIM request waits for a turn before it gets 503 with Retry-After.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

pub fn max_bytes(kind: Kind) -> usize {
    match kind {
        Kind::User => MAX_USER_BYTES,
        Kind::Group => MAX_GROUP_BYTES,
    }
}

/// The stored form of a resource is within its size limit.
pub fn check_size(kind: Kind, bytes: usize) -> ScimResult<()> {
    let max = max_bytes(kind);
    if bytes > max {
        return Err(ScimError::invalid_value(format!(
            "the {} would be {bytes} bytes stored, over the limit of {max} bytes per {}",
            kind.name(),
            kind.name()
        )));
    }
    Ok(())
}

fn too_many_values(name: &str, n: usize, max: usize) -> ScimError {
    ScimError::invalid_value(format!(
        "{name} has {n} values, over the limit of {max} values per attribute"
    ))
}

/// Every multi-valued attribute of a normalised resource (extensions included) is within its
/// value limit.
pub fn check_values(kind: Kind, r: &Map<String, Value>) -> ScimResult<()> {
    for (name, v) in r {
        match v {
            Value::Array(items) => {
                let max = if kind == Kind::Group && name == "members" {
                    MAX_GROUP_MEMBERS
                } else {
                    MAX_VALUES_PER_ATTRIBUTE
                };
                if items.len() > max {
                    return Err(if max == MAX_GROUP_MEMBERS {
                        ScimError::invalid_value(format!(
                            "the group would have {} members, over the limit of {max} members per group",
                            items.len()
                        ))
                    } else {
                        too_many_values(name, items.len(), max)
                    });
                }
            }
            // Extension objects hold attributes of their own.
            Value::Object(o) => {
                for (sub, v) in o {
                    if let Value::Array(items) = v
                        && items.len() > MAX_VALUES_PER_ATTRIBUTE
                    {
                        return Err(too_many_values(
                            &format!("{name}:{sub}"),
                            items.len(),
                            MAX_VALUES_PER_ATTRIBUTE,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// How many values `v` carries for a multi-valued attribute.
fn value_count(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Null => 0,
        _ => 1,
    }
}

/// Checks a PATCH body before it is parsed: operation count, path lengths, values per
/// attribute and members named. Cheap, so a hostile body is refused before any real work.
pub fn check_patch_body(kind: Kind, body: &Value) -> ScimResult<()> {
    let Some(ops) = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
        .and_then(|(_, v)| v.as_array())
    else {
        return Ok(()); // the parser says what is wrong
    };
    if ops.len() > MAX_PATCH_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "the PATCH has {} operations, over the limit of {MAX_PATCH_OPERATIONS} operations per PATCH",
            ops.len()
        )));
    }
    let mut members = 0usize;
    for op in ops {
        let Some(op) = op.as_object() else { continue };
        let field = |name: &str| {
            op.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let path = field("path").and_then(Value::as_str);
        let value = field("value");
        if let Some(p) = path
            && p.chars().count() > MAX_PATH_CHARS
        {
            return Err(ScimError::invalid_path(format!(
                "a PATCH path is over the limit of {MAX_PATH_CHARS} characters"
            )));
        }
        let named: Vec<(&str, usize)> = match (path, value) {
            (Some(p), v) => {
                // `emails[type eq "work"].value` → emails; `urn:…:User:name.givenName` → name.
                let attr = p.split('[').next().unwrap_or(p);
                let attr = attr.rsplit(':').next().unwrap_or(attr);
                let attr = attr.split('.').next().unwrap_or(attr);
                vec![(attr, v.map_or(1, value_count).max(1))]
            }
            (None, Some(Value::Object(o))) => o
                .iter()
                .filter(|(_, v)| v.is_array())
                .map(|(k, v)| (k.as_str(), value_count(v)))
                .collect(),
            _ => Vec::new(),
        };
        for (attr, n) in named {
            if kind == Kind::Group && attr.eq_ignore_ascii_case("members") {
                members += n;
            } else if n > MAX_VALUES_PER_ATTRIBUTE {
                return Err(too_many_values(attr, n, MAX_VALUES_PER_ATTRIBUTE));
            }
        }
    }
    if members > MAX_MEMBERS_PER_PATCH {
        return Err(ScimError::invalid_value(format!(
            "the PATCH names {members} members, over the limit of {MAX_MEMBERS_PER_PATCH} members per PATCH"
        )));
    }
    Ok(())
}

/// A POST or PUT names at most [`MAX_GROUP_MEMBERS`] members; checked on the raw body so 60,000
/// unknown ids are refused before any is looked up.
pub fn check_members_in_body(kind: Kind, body: &Value) -> ScimResult<()> {
    if kind != Kind::Group {
        return Ok(());
    }
    let n = body
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("members")))
        .map_or(0, |(_, v)| value_count(v));
    if n > MAX_GROUP_MEMBERS {
        return Err(ScimError::invalid_value(format!(
            "the request names {n} members, over the limit of {MAX_GROUP_MEMBERS} members per group"
        )));
    }
    Ok(())
}

/// A filter's text is short enough to parse.
pub fn check_filter_text(raw: &str) -> ScimResult<()> {
    if raw.chars().count() > MAX_FILTER_CHARS {
        return Err(ScimError::invalid_filter(format!(
            "the filter is over the limit of {MAX_FILTER_CHARS} characters"
        )));
    }
    Ok(())
}

/// A parsed filter has at most [`MAX_FILTER_TERMS`] terms and no value over
/// [`MAX_FILTER_VALUE_CHARS`].
pub fn check_filter(f: &Filter) -> ScimResult<()> {
    let mut terms = 0;
    count_filter(f, &mut terms)?;
    if terms > MAX_FILTER_TERMS {
        return Err(ScimError::invalid_filter(format!(
            "the filter has {terms} terms, over the limit of {MAX_FILTER_TERMS} terms per filter"
        )));
    }
    Ok(())
}

fn check_term(e: &AttrExp, terms: &mut usize) -> ScimResult<()> {
    *terms += 1;
    if let AttrExp::Comparison(_, _, CompValue::Str(s)) = e {
        let n = s.chars().count();
        if n > MAX_FILTER_VALUE_CHARS {
            return Err(ScimError::invalid_filter(format!(
                "a filter value has {n} characters, over the limit of {MAX_FILTER_VALUE_CHARS} characters per value"
            )));
        }
    }
    Ok(())
}

// Recursion is bounded: scim_v2's parser refuses nesting deeper than 64.
fn count_filter(f: &Filter, terms: &mut usize) -> ScimResult<()> {
    match f {
        Filter::Attr(e) => check_term(e, terms),
        Filter::ValuePath(vp) => count_val_filter(&vp.filter, terms),
        Filter::Not(inner) => count_filter(inner, terms),
        Filter::And(items) | Filter::Or(items) => {
            for i in items.as_slice() {
                count_filter(i, terms)?;
            }
            Ok(())
        }
    }
}

fn count_val_filter(f: &ValFilter, terms: &mut usize) -> ScimResult<()> {
    match f {
        ValFilter::Attr(e) => check_term(e, terms),
        ValFilter::Not(inner) => count_val_filter(inner, terms),
        ValFilter::And(items) | ValFilter::Or(items) => {
            for i in items.as_slice() {
                count_val_filter(i, terms)?;
            }
            Ok(())
        }
    }
}

/// Is this error a refusal of the database's own limits, i.e. of the filter?
pub fn is_refused_expression(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("expression tree is too large")
        || m.contains("pattern too complex")
        || m.contains("too many sql variables")
        || m.contains("string or blob too big")
}

/// `tooMany` (RFC 7644 §3.12: "more results than the server is willing to calculate"): the
/// query ran past its time budget (`ServerConfig::scim_query_budget`, 2 s by default).
pub fn over_budget() -> ScimError {
    ScimError::bad(
        ScimType::TooMany,
        "the query ran past the directory's time budget; narrow the filter",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_caps_name_their_limit() {
        let many = (0..51)
            .map(|i| format!("title eq \"{i}\""))
            .collect::<Vec<_>>()
            .join(" or ");
        let e = check_filter(&many.parse().unwrap()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        assert!(e.detail.contains("50 terms"), "{}", e.detail);
        let long = format!("title co \"{}\"", "x".repeat(257));
        let e = check_filter(&long.parse().unwrap()).unwrap_err();
        assert!(e.detail.contains("256 characters"), "{}", e.detail);
        let nested = format!("emails[{}]", many);
        assert!(check_filter(&nested.parse().unwrap()).is_err());
        assert!(check_filter(&"title eq \"x\"".parse().unwrap()).is_ok());
    }

    #[test]
    fn patch_body_caps_count_members_and_values() {
        let ops = |n: usize, op: Value| json!({"Operations": vec![op; n]});
        let one = json!({"op": "add", "path": "emails", "value": [{"value": "a@example.com"}]});
        assert!(check_patch_body(Kind::User, &ops(100, one.clone())).is_ok());
        let e = check_patch_body(Kind::User, &ops(101, one)).unwrap_err();
        assert!(e.detail.contains("100 operations"), "{}", e.detail);
        let members = |n: usize| -> Value {
            json!({"op": "add", "path": "members",
                   "value": (0..n).map(|i| json!({"value": i.to_string()})).collect::<Vec<_>>()})
        };
        assert!(check_patch_body(Kind::Group, &ops(2, members(500))).is_ok());
        let e = check_patch_body(Kind::Group, &ops(2, members(501))).unwrap_err();
        assert!(e.detail.contains("1000 members per PATCH"), "{}", e.detail);
        let pathless =
            json!({"Operations": [{"op": "add", "value": {"emails": vec![json!({"value": "x"}); 101]}}]});
        let e = check_patch_body(Kind::User, &pathless).unwrap_err();
        assert!(e.detail.contains("100 values per attribute"), "{}", e.detail);
    }
}
