//! PATCH (RFC 7644 §3.5.2): operations are applied in order to an in-memory copy; the caller
//! validates the result and writes it once, so a failing operation changes nothing.

use super::error::{ScimError, ScimResult, ScimType};
use super::filter;
use super::schema::{self, Attr, Kind, Mutability, Ty};
use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use scim_v2::models::others::{OperationTarget, PatchOp, PatchOperation};
use serde_json::{Map, Value};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Parses a PatchOp body. Path syntax errors are `invalidPath`; the rest `invalidSyntax`.
pub fn parse(body: &Value) -> ScimResult<PatchOp> {
    let schemas_ok = body.get("schemas").and_then(Value::as_array).is_some_and(|a| {
        a.iter().any(|s| {
            s.as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(schema::PATCH_OP))
        })
    });
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "a PATCH body must list {}",
            schema::PATCH_OP
        )));
    }
    let op: PatchOp = serde_json::from_value(body.clone()).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("invalid SCIM path") {
            ScimError::invalid_path(msg)
        } else {
            ScimError::invalid_syntax(format!("not a valid PatchOp: {msg}"))
        }
    })?;
    if op.operations.is_empty() {
        return Err(ScimError::invalid_syntax(
            "a PatchOp needs at least one operation",
        ));
    }
    Ok(op)
}

pub fn apply(kind: Kind, r: &mut Map<String, Value>, ops: &[PatchOperation]) -> ScimResult<()> {
    for (i, op) in ops.iter().enumerate() {
        apply_one(kind, r, op).map_err(|mut e| {
            e.detail = format!("operation {}: {}", i + 1, e.detail);
            e
        })?;
    }
    Ok(())
}

fn apply_one(kind: Kind, r: &mut Map<String, Value>, op: &PatchOperation) -> ScimResult<()> {
    match op {
        PatchOperation::Add(t) => target(kind, r, Op::Add, t),
        PatchOperation::Replace(t) => target(kind, r, Op::Replace, t),
        PatchOperation::Remove { path, value } => at_path(kind, r, Op::Remove, path, value.as_ref()),
    }
}

fn target(kind: Kind, r: &mut Map<String, Value>, op: Op, t: &OperationTarget) -> ScimResult<()> {
    match t {
        OperationTarget::WithPath { path, value } => {
            let value = value
                .as_ref()
                .filter(|v| !v.is_null() || op == Op::Replace)
                .ok_or_else(|| ScimError::invalid_value("add and replace need a value"))?;
            at_path(kind, r, op, path, Some(value))
        }
        // `normalize::patch` turns every path-less value into one operation per attribute
        // (dropping read-only ones); this only serves callers that did not normalise.
        OperationTarget::WithoutPath { value } => {
            for (key, v) in value {
                let path = key
                    .parse::<PatchPath>()
                    .map_err(|_| ScimError::invalid_path(format!("{key:?} is not an attribute path")))?;
                at_path(kind, r, op, &path, Some(v))?;
            }
            Ok(())
        }
    }
}

fn no_attr(p: &impl std::fmt::Display) -> ScimError {
    ScimError::invalid_path(format!("{p} is not an attribute of this resource type"))
}

fn read_only(name: &str) -> ScimError {
    ScimError::bad(ScimType::Mutability, format!("{name} is read-only"))
}

fn at_path(
    kind: Kind,
    r: &mut Map<String, Value>,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> ScimResult<()> {
    let attr_path = match path {
        PatchPath::Attr(p) => p,
        PatchPath::Value(vp) => &vp.attr,
    };
    // `urn:…:works:2.0:User` parses as attribute `User` of `urn:…:works:2.0`: the whole extension.
    if let (PatchPath::Attr(p), Some(uri)) = (path, &attr_path.uri)
        && p.sub_attr.is_none()
        && let Some(ext) = kind.extension(&format!("{uri}:{}", p.name))
    {
        return extension_root(r, op, ext.id, value);
    }
    let res = filter::resolve_path(kind, attr_path).ok_or_else(|| no_attr(path))?;
    if res.attr.mutability == Mutability::ReadOnly
        || res.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
    {
        return Err(read_only(&attr_path.to_string()));
    }
    let container: &mut Map<String, Value> = match res.extension {
        Some(urn) => {
            if op == Op::Remove && !r.contains_key(urn) {
                return Ok(());
            }
            let e = r
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !e.is_object() {
                *e = Value::Object(Map::new());
            }
            e.as_object_mut().expect("made an object")
        }
        None => r,
    };
    let attr = res.attr;
    let result = match path {
        PatchPath::Attr(_) => match (attr.multi, res.sub) {
            (false, None) => single(container, attr, op, value),
            (false, Some(sub)) => {
                let parent = container
                    .entry(attr.name.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                match parent.as_object_mut() {
                    Some(obj) => single(obj, sub, op, value),
                    None => Err(ScimError::invalid_value(format!(
                        "{} is not an object",
                        attr.name
                    ))),
                }
            }
            (true, None) => multi(container, attr, op, value),
            (true, Some(sub)) => {
                if op == Op::Add {
                    return Err(ScimError::invalid_path(format!(
                        "add to {}.{} needs a value filter, e.g. {}[type eq \"work\"].{}",
                        attr.name, sub.name, attr.name, sub.name
                    )));
                }
                if let Some(Value::Array(items)) = container.get_mut(attr.name) {
                    for item in items.iter_mut().filter_map(Value::as_object_mut) {
                        single(item, sub, op, value)?;
                    }
                }
                Ok(())
            }
        },
        PatchPath::Value(vp) => {
            if !attr.multi || attr.ty != Ty::Complex || res.sub.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "{} does not take a value filter",
                    attr.name
                )));
            }
            let sub = match &vp.sub_attr {
                None => None,
                Some(s) => {
                    let sub = attr.sub_attr(s).ok_or_else(|| no_attr(path))?;
                    if sub.mutability == Mutability::ReadOnly {
                        return Err(read_only(&path.to_string()));
                    }
                    Some(sub)
                }
            };
            filtered(container, attr, &vp.filter, sub, op, value)
        }
    };
    // Leave no empty objects or arrays behind.
    container.retain(|_, v| {
        !matches!(v, Value::Object(o) if o.is_empty()) && !matches!(v, Value::Array(a) if a.is_empty())
    });
    if let Some(urn) = res.extension
        && r.get(urn).and_then(Value::as_object).is_some_and(Map::is_empty)
    {
        r.remove(urn);
    }
    result
}

fn extension_root(r: &mut Map<String, Value>, op: Op, urn: &str, value: Option<&Value>) -> ScimResult<()> {
    match op {
        Op::Remove => {
            r.remove(urn);
        }
        Op::Add | Op::Replace => {
            let Some(Value::Object(v)) = value else {
                return Err(ScimError::invalid_value(format!("{urn} takes an object")));
            };
            let e = r
                .entry(urn.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match (op, e.as_object_mut()) {
                (Op::Add, Some(existing)) => existing.extend(v.clone()),
                _ => *e = Value::Object(v.clone()),
            }
        }
    }
    Ok(())
}

/// A single-valued attribute (simple or complex) inside `obj`.
fn single(obj: &mut Map<String, Value>, attr: &Attr, op: Op, value: Option<&Value>) -> ScimResult<()> {
    match op {
        Op::Remove => {
            obj.remove(attr.name);
        }
        Op::Add | Op::Replace => {
            let v = value.cloned().unwrap_or(Value::Null);
            match (&v, attr.ty, op, obj.get_mut(attr.name)) {
                (Value::Null, ..) => {
                    obj.remove(attr.name);
                }
                (Value::Object(new), Ty::Complex, Op::Add, Some(Value::Object(existing))) => {
                    existing.extend(new.clone());
                }
                _ => {
                    obj.insert(attr.name.to_owned(), v);
                }
            }
        }
    }
    Ok(())
}

fn as_items(value: Option<&Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(v) => vec![v.clone()],
    }
}

fn clear_other_primaries(items: &mut [Value], keep: usize) {
    for (i, item) in items.iter_mut().enumerate() {
        if i != keep
            && let Some(o) = item.as_object_mut()
            && o.get("primary") == Some(&Value::Bool(true))
        {
            o.remove("primary");
        }
    }
}

/// `"primary": "True"` was made a boolean by `normalize`.
fn is_primary(v: &Value) -> bool {
    matches!(v.get("primary"), Some(Value::Bool(true)))
}

/// A whole multi-valued attribute inside `obj`.
fn multi(obj: &mut Map<String, Value>, attr: &Attr, op: Op, value: Option<&Value>) -> ScimResult<()> {
    match op {
        Op::Replace => {
            let items = as_items(value);
            if items.is_empty() {
                obj.remove(attr.name);
            } else {
                obj.insert(attr.name.to_owned(), Value::Array(items));
            }
        }
        Op::Add => {
            let list = obj
                .entry(attr.name.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let list = list.as_array_mut().expect("made an array");
            // Linear: values are compared by their JSON text (object keys are sorted).
            let mut present: HashSet<String> = list.iter().map(Value::to_string).collect();
            let mut new_primary = None;
            for item in as_items(value) {
                if !present.insert(item.to_string()) {
                    continue;
                }
                if is_primary(&item) {
                    new_primary = Some(list.len());
                }
                list.push(item);
            }
            if let Some(keep) = new_primary {
                clear_other_primaries(list, keep);
            }
        }
        Op::Remove => {
            // Entra ID's `remove members` with a value list became a filter path in
            // `normalize`. Any other value would be ignored, and removing every value when the
            // client named some (or an empty list of them) would lose data.
            match value {
                None | Some(Value::Null) => {
                    obj.remove(attr.name);
                }
                Some(Value::Array(a)) if a.is_empty() => {}
                Some(_) => {
                    return Err(ScimError::invalid_value(format!(
                        "remove of {} takes no value; name the values with a filter, e.g. {}[value eq \"…\"]",
                        attr.name, attr.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The `eq` terms of a conjunctive value filter, to build the element an `add` creates.
fn eq_terms(f: &ValFilter, out: &mut Map<String, Value>) -> bool {
    match f {
        ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, v))
            if p.uri.is_none() && p.sub_attr.is_none() =>
        {
            let v = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::True => Value::Bool(true),
                CompValue::False => Value::Bool(false),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return false,
            };
            out.insert(p.name.clone(), v);
            true
        }
        ValFilter::And(items) => items.as_slice().iter().all(|i| eq_terms(i, out)),
        _ => false,
    }
}

/// A string as compared under `sub`'s caseExact (as [`filter::matches`] and the SQL filter
/// compare: ASCII letters only).
fn fold(sub: &Attr, s: &str) -> String {
    if sub.case_exact {
        s.to_owned()
    } else {
        s.to_ascii_lowercase()
    }
}

/// A value filter that is `sub eq "x"`, or an `or` of such terms over one string
/// sub-attribute: that sub-attribute and the set of (case-folded) strings it matches.
fn eq_set<'a>(parent: &'a Attr, f: &ValFilter) -> Option<(&'a Attr, HashSet<String>)> {
    fn term<'a, 'f>(parent: &'a Attr, f: &'f ValFilter) -> Option<(&'a Attr, &'f str)> {
        match f {
            ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, CompValue::Str(s)))
                if p.uri.is_none() && p.sub_attr.is_none() =>
            {
                let sub = parent.sub_attr(&p.name)?;
                matches!(sub.ty, Ty::String | Ty::Reference).then_some((sub, s.as_str()))
            }
            _ => None,
        }
    }
    let terms: Vec<&ValFilter> = match f {
        ValFilter::Or(items) => items.as_slice().iter().collect(),
        single => vec![single],
    };
    let mut sub = None;
    let mut wanted = HashSet::with_capacity(terms.len());
    for t in terms {
        let (s, v) = term(parent, t)?;
        if sub.is_some_and(|prev: &Attr| prev.name != s.name) {
            return None;
        }
        sub = Some(s);
        wanted.insert(fold(s, v));
    }
    Some((sub?, wanted))
}

/// `attr[filter]` or `attr[filter].sub` inside `obj`.
fn filtered(
    obj: &mut Map<String, Value>,
    attr: &Attr,
    f: &ValFilter,
    sub: Option<&Attr>,
    op: Op,
    value: Option<&Value>,
) -> ScimResult<()> {
    let mut list = match obj.remove(attr.name) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut hit = Vec::new();
    if let Some((sub, wanted)) = eq_set(attr, f) {
        // `members[value eq "a" or value eq "b" …]` (an Entra ID removal list): one set lookup
        // per element instead of every term against every element.
        for (i, item) in list.iter().enumerate() {
            if item
                .get(sub.name)
                .and_then(Value::as_str)
                .is_some_and(|v| wanted.contains(&fold(sub, v)))
            {
                hit.push(i);
            }
        }
    } else {
        for (i, item) in list.iter().enumerate() {
            if filter::matches(attr, item, f)? {
                hit.push(i);
            }
        }
    }
    let outcome = (|| {
        if hit.is_empty() {
            return match op {
                Op::Remove => Ok(()),
                Op::Replace if sub.is_none() => Err(ScimError::bad(
                    ScimType::NoTarget,
                    format!("no value of {} matches the filter", attr.name),
                )),
                // Entra ID adds (and replaces) `emails[type eq "work"].value` on a user that has
                // no work email yet: create the element the filter describes.
                Op::Add | Op::Replace => {
                    let mut elem = Map::new();
                    if !eq_terms(f, &mut elem) {
                        return Err(ScimError::bad(
                            ScimType::NoTarget,
                            format!("no value of {} matches the filter", attr.name),
                        ));
                    }
                    let mut elem = Value::Object(elem);
                    match (sub, value) {
                        (Some(s), Some(v)) => {
                            elem[s.name] = v.clone();
                        }
                        (None, Some(Value::Object(v))) => {
                            elem.as_object_mut().expect("object").extend(v.clone())
                        }
                        _ => return Err(ScimError::invalid_value(format!("{} takes an object", attr.name))),
                    }
                    let primary = is_primary(&elem);
                    list.push(elem);
                    if primary {
                        let last = list.len() - 1;
                        clear_other_primaries(&mut list, last);
                    }
                    Ok(())
                }
            };
        }
        match (op, sub) {
            (Op::Remove, None) => {
                let mut gone = vec![false; list.len()];
                for &i in &hit {
                    gone[i] = true;
                }
                let mut i = 0;
                list.retain(|_| {
                    let keep = !gone[i];
                    i += 1;
                    keep
                });
            }
            (_, Some(s)) => {
                for &i in &hit {
                    if let Some(o) = list[i].as_object_mut() {
                        single(o, s, op, value)?;
                    }
                }
            }
            (Op::Add | Op::Replace, None) => {
                let Some(Value::Object(v)) = value else {
                    return Err(ScimError::invalid_value(format!("{} takes an object", attr.name)));
                };
                for &i in &hit {
                    if let Some(o) = list[i].as_object_mut() {
                        o.extend(v.clone());
                    }
                }
                if is_primary(&Value::Object(v.clone())) {
                    clear_other_primaries(&mut list, hit[0]);
                }
            }
        }
        Ok(())
    })();
    list.retain(|v| !matches!(v, Value::Object(o) if o.is_empty()));
    if !list.is_empty() {
        obj.insert(attr.name.to_owned(), Value::Array(list));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(r: Value, ops: Value) -> ScimResult<Value> {
        let mut m = r.as_object().unwrap().clone();
        let p = parse(&json!({"schemas": [schema::PATCH_OP], "Operations": ops}))?;
        apply(Kind::User, &mut m, &p.operations)?;
        Ok(Value::Object(m))
    }

    #[test]
    fn value_filtered_paths_replace_add_and_remove() {
        let r = json!({"userName": "a@example.com", "emails": [
            {"value": "a@example.com", "type": "work", "primary": true},
            {"value": "a@home.example", "type": "home"}]});
        let out = run(
            r.clone(),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@example.com"}]),
        )
        .unwrap();
        assert_eq!(out["emails"][0]["value"], "b@example.com");
        assert_eq!(out["emails"][1]["value"], "a@home.example");
        let out = run(
            r.clone(),
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        )
        .unwrap();
        assert_eq!(out["emails"].as_array().unwrap().len(), 1);
        let out = run(
            r.clone(),
            json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+81 3"}]),
        )
        .unwrap();
        assert_eq!(out["phoneNumbers"], json!([{"type": "mobile", "value": "+81 3"}]));
        let e = run(
            r,
            json!([{"op": "replace", "path": "emails[type eq \"fax\"]", "value": {"value": "x"}}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn pathless_add_extension_root_and_read_only() {
        let r = json!({"userName": "a@example.com"});
        let out = run(
            r.clone(),
            json!([{"op": "add", "value": {"displayName": "A", "name": {"givenName": "A"}}},
                   {"op": "add", "path": schema::WORKS_USER_SCHEMA, "value": {"employeeNumber": "7"}},
                   {"op": "replace", "path": format!("{}:position", schema::WORKS_USER_SCHEMA), "value": "Lead"}]),
        )
        .unwrap();
        assert_eq!(out["displayName"], "A");
        assert_eq!(out["name"]["givenName"], "A");
        assert_eq!(
            out[schema::WORKS_USER_SCHEMA],
            json!({"employeeNumber": "7", "position": "Lead"})
        );
        let e = run(r.clone(), json!([{"op": "replace", "path": "id", "value": "x"}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = run(r, json!([{"op": "add", "path": "nosuch", "value": "x"}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }
}
