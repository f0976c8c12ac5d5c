//! Provider quirks, handled in one place: a request body is rewritten into the standard form
//! (RFC 7643/7644) before anything else reads it, so validation, PATCH and storage only ever
//! see standard requests.
//!
//! What is rewritten, and who sends it:
//! - PATCH `op` in any case (`"Replace"`, `"ADD"`): Entra ID; RFC 7644 §3.5.2 keywords are
//!   case-insensitive anyway. `Operations`/`op`/`path`/`value` member names in any case.
//! - Booleans sent as strings (`"active": "False"`, `"primary": "True"`): Entra ID without
//!   the `aadOptscim062020` flag. Only where the schema says the attribute is a boolean.
//! - Value-object PATCHes (a path-less `add`/`replace` whose keys are paths, such as
//!   `"name.givenName"` or `"urn:…:enterprise:2.0:User:employeeNumber"`): Entra ID. Each key
//!   becomes an operation with that path; read-only keys (Okta sends `id`) are dropped, as in
//!   a PUT.
//! - Group member removal by value list (`remove` `members` with
//!   `"value": [{"value": "id"}]`): Entra ID without the flag. Rewritten to the filter path
//!   `members[value eq "id" or …]` that the flag sends.
//! - A bare value where a complex attribute with a `value` sub-attribute is expected
//!   (`"manager": "id"`, Entra ID), a list of one where a single complex value is expected
//!   (Entra ID's tutorial sends `manager` as `[{"value": …}]`), and one value where a list is
//!   expected.
//! - An unqualified attribute name that only one extension defines (`"path": "manager"`,
//!   Entra ID's tutorial): qualified with that extension's URN. A name two extensions define
//!   (`employeeNumber`: works:2.0 and enterprise) stays ambiguous and is refused later. The
//!   same holds in filters (Entra ID checks `manager eq "…"` before updating a manager).

use super::schema::{self, Attr, Kind, Mutability, Schema, Ty};
use scim_v2::filter::{AttrExp, AttrPath, Filter, PatchPath};
use serde_json::{Map, Value, json};

/// A POST or PUT body (a whole resource).
pub fn resource(kind: Kind, body: &mut Value) {
    let Value::Object(obj) = body else {
        return;
    };
    for (key, value) in obj.iter_mut() {
        if let Some(ext) = kind.extension(key) {
            if let Value::Object(m) = value {
                coerce_object(&ext.attrs, m);
            }
        } else if let Some(attr) = kind.core().attr(key) {
            coerce(attr, value);
        }
    }
}

/// A PATCH body (a PatchOp). Malformed bodies are left for the PatchOp parser to report.
pub fn patch(kind: Kind, body: &mut Value) {
    let Value::Object(obj) = body else {
        return;
    };
    canonical_key(obj, "Operations");
    let Some(Value::Array(ops)) = obj.get_mut("Operations") else {
        return;
    };
    let mut out = Vec::with_capacity(ops.len());
    for op in ops.drain(..) {
        operation(kind, op, &mut out);
    }
    *ops = out;
}

/// A list filter: unqualified names that only one extension defines get its URN.
pub fn filter(kind: Kind, f: &mut Filter) {
    match f {
        Filter::Attr(AttrExp::Present(p) | AttrExp::Comparison(p, ..)) => qualify_attr(kind, p),
        Filter::ValuePath(vp) => qualify_attr(kind, &mut vp.attr),
        Filter::Not(inner) => filter(kind, inner),
        Filter::And(items) | Filter::Or(items) => items.iter_mut().for_each(|i| filter(kind, i)),
    }
}

fn qualify_attr(kind: Kind, p: &mut AttrPath) {
    if p.uri.is_none()
        && let Some(ext) = sole_extension(kind, &p.name)
    {
        p.uri = Some(ext.id.to_owned());
    }
}

/// The extension that alone defines `name`, when no core or common attribute has that name.
fn sole_extension(kind: Kind, name: &str) -> Option<&'static Schema> {
    let known = kind.core().attr(name).is_some()
        || schema::common_attrs()
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(name));
    if known {
        return None;
    }
    let mut owners = kind.extensions().iter().filter(|e| e.attr(name).is_some());
    match (owners.next(), owners.next()) {
        (Some(ext), None) => Some(ext),
        _ => None,
    }
}

/// Renames a member whose name matches `name` in another case.
fn canonical_key(obj: &mut Map<String, Value>, name: &str) {
    if obj.contains_key(name) {
        return;
    }
    if let Some(k) = obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
        && let Some(v) = obj.remove(&k)
    {
        obj.insert(name.to_owned(), v);
    }
}

fn operation(kind: Kind, op: Value, out: &mut Vec<Value>) {
    let Value::Object(mut op) = op else {
        out.push(op);
        return;
    };
    for key in ["op", "path", "value"] {
        canonical_key(&mut op, key);
    }
    let name = match op.get_mut("op") {
        Some(Value::String(s)) => {
            *s = s.to_ascii_lowercase();
            s.clone()
        }
        _ => String::new(),
    };
    match op.get("path").and_then(Value::as_str).map(|p| qualify(kind, p)) {
        Some(path) => {
            let target = target(kind, &path);
            if let (Some(t), Some(v)) = (target, op.get_mut("value")) {
                t.coerce(v);
            }
            if name == "remove"
                && let Some(Target::Attr(attr)) = target
                && attr.multi
                && let Some(filtered) = removal_filter(&path, op.get("value"))
            {
                op.remove("value");
                op.insert("path".into(), Value::String(filtered));
            } else {
                op.insert("path".into(), Value::String(path));
            }
            out.push(Value::Object(op));
        }
        None if matches!(name.as_str(), "add" | "replace")
            && op.get("value").is_some_and(Value::is_object) =>
        {
            let Some(Value::Object(value)) = op.remove("value") else {
                unreachable!("checked to be an object");
            };
            if value.is_empty() {
                // Left for the PatchOp parser, which refuses an empty replace.
                op.insert("value".into(), Value::Object(value));
                out.push(Value::Object(op));
                return;
            }
            for (key, mut v) in value {
                let path = qualify(kind, &key);
                let target = target(kind, &path);
                if target.is_some_and(|t| t.read_only()) {
                    continue;
                }
                if let Some(t) = target {
                    t.coerce(&mut v);
                }
                out.push(json!({"op": name, "path": path, "value": v}));
            }
        }
        None => out.push(Value::Object(op)),
    }
}

/// What a PATCH value is for.
#[derive(Clone, Copy)]
enum Target {
    /// The value is (a value of) this attribute.
    Attr(&'static Attr),
    /// The value is one element of this multi-valued complex attribute (`emails[type eq "work"]`).
    Element(&'static Attr),
    /// The value is a whole extension object.
    Extension(&'static Schema),
}

impl Target {
    fn coerce(self, v: &mut Value) {
        match self {
            Target::Attr(a) => coerce(a, v),
            Target::Element(a) => coerce_one(a, v),
            Target::Extension(ext) => {
                if let Value::Object(m) = v {
                    coerce_object(&ext.attrs, m);
                }
            }
        }
    }

    fn read_only(self) -> bool {
        match self {
            Target::Attr(a) | Target::Element(a) => a.mutability == Mutability::ReadOnly,
            Target::Extension(_) => false,
        }
    }
}

fn target(kind: Kind, path: &str) -> Option<Target> {
    let parsed: PatchPath = path.parse().ok()?;
    let (attr_path, value_sub) = match &parsed {
        PatchPath::Attr(p) => (p, None),
        PatchPath::Value(vp) => (&vp.attr, Some(vp.sub_attr.as_deref())),
    };
    if let (Some(uri), None, None) = (&attr_path.uri, &attr_path.sub_attr, value_sub)
        && let Some(ext) = kind.extension(&format!("{uri}:{}", attr_path.name))
    {
        return Some(Target::Extension(ext));
    }
    let res = schema::resolve(
        kind,
        attr_path.uri.as_deref(),
        &attr_path.name,
        attr_path.sub_attr.as_deref(),
    )?;
    Some(match value_sub {
        None => match res.sub {
            // A read-only parent makes the whole path read-only (`groups.value`).
            Some(_) if res.attr.mutability == Mutability::ReadOnly => Target::Attr(res.attr),
            Some(sub) => Target::Attr(sub),
            None => Target::Attr(res.attr),
        },
        Some(None) => Target::Element(res.attr),
        Some(Some(sub)) => Target::Attr(res.attr.sub_attr(sub)?),
    })
}

/// `manager` → `urn:…:enterprise:2.0:User:manager` when no core attribute has that name and
/// exactly one extension does.
fn qualify(kind: Kind, path: &str) -> String {
    if path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return path.to_owned();
    }
    let name = path.split(['.', '[', ' ']).next().unwrap_or(path);
    match sole_extension(kind, name) {
        Some(ext) => format!("{}:{path}", ext.id),
        None => path.to_owned(),
    }
}

/// `remove` `members` with `"value": [{"value": "a"}, …]` → `members[value eq "a" or …]`.
/// `None` (left as sent) unless every listed element names a value.
fn removal_filter(path: &str, value: Option<&Value>) -> Option<String> {
    let items: Vec<&Value> = match value? {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => return None,
    };
    if items.is_empty() || path.contains('[') {
        return None;
    }
    let terms = items
        .iter()
        .map(|item| {
            let v = item.get("value")?.as_str()?;
            // A JSON string literal is a SCIM filter string literal (RFC 7644 §3.4.2.2).
            Some(format!("value eq {}", Value::String(v.to_owned())))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(format!("{path}[{}]", terms.join(" or ")))
}

fn coerce_object(attrs: &[Attr], m: &mut Map<String, Value>) {
    for (k, v) in m.iter_mut() {
        if let Some(a) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(k)) {
            coerce(a, v);
        }
    }
}

/// The value of an attribute (a list for a multi-valued one).
fn coerce(attr: &Attr, v: &mut Value) {
    if v.is_null() {
        return;
    }
    if attr.multi {
        if !v.is_array() {
            *v = Value::Array(vec![v.take()]);
        }
        if let Value::Array(items) = v {
            items.iter_mut().for_each(|i| coerce_one(attr, i));
        }
        return;
    }
    if attr.ty == Ty::Complex
        && let Value::Array(items) = v
        && items.len() == 1
    {
        *v = items.remove(0);
    }
    coerce_one(attr, v);
}

/// One value of an attribute.
fn coerce_one(attr: &Attr, v: &mut Value) {
    match (attr.ty, &mut *v) {
        (Ty::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => *v = Value::Bool(true),
        (Ty::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => *v = Value::Bool(false),
        (Ty::Complex, Value::Object(m)) => coerce_object(&attr.sub, m),
        (Ty::Complex, Value::String(_) | Value::Number(_)) if attr.sub_attr("value").is_some() => {
            *v = json!({"value": v.take()});
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::{ENTERPRISE_USER_SCHEMA as ENT, PATCH_OP, USER_SCHEMA};

    fn patched(kind: Kind, ops: Value) -> Value {
        let mut body = json!({"schemas": [PATCH_OP], "operations": ops});
        patch(kind, &mut body);
        body["Operations"].clone()
    }

    #[test]
    fn op_names_and_member_names_in_any_case() {
        assert_eq!(
            patched(
                Kind::User,
                json!([{"OP": "Replace", "Path": "displayName", "VALUE": "A"},
                       {"op": "rEmOvE", "path": "title"}])
            ),
            json!([{"op": "replace", "path": "displayName", "value": "A"},
                   {"op": "remove", "path": "title"}])
        );
    }

    #[test]
    fn boolean_strings_only_where_the_schema_says_boolean() {
        assert_eq!(
            patched(
                Kind::User,
                json!([{"op": "Replace", "path": "active", "value": "False"},
                       {"op": "Replace", "path": "title", "value": "True"},
                       {"op": "Add", "path": "emails", "value": [{"value": "a@example.com", "primary": "True"}]},
                       {"op": "Add", "path": "emails[type eq \"work\"]", "value": {"primary": "true"}},
                       {"op": "Add", "path": "emails[type eq \"work\"].primary", "value": "TRUE"}])
            ),
            json!([{"op": "replace", "path": "active", "value": false},
                   {"op": "replace", "path": "title", "value": "True"},
                   {"op": "add", "path": "emails", "value": [{"value": "a@example.com", "primary": true}]},
                   {"op": "add", "path": "emails[type eq \"work\"]", "value": {"primary": true}},
                   {"op": "add", "path": "emails[type eq \"work\"].primary", "value": true}])
        );
        let mut user = json!({"schemas": [USER_SCHEMA], "userName": "a@example.com", "active": "false",
                              "emails": [{"value": "a@example.com", "primary": "True"}],
                              "nickName": "false"});
        resource(Kind::User, &mut user);
        assert_eq!(user["active"], false);
        assert_eq!(user["emails"][0]["primary"], true);
        assert_eq!(user["nickName"], "false");
    }

    #[test]
    fn value_objects_become_one_operation_per_path_and_drop_read_only_keys() {
        let ops = patched(
            Kind::User,
            json!([{"op": "replace", "value": {
                "displayName": "Bjfe", "name.givenName": "Kkom", "id": "ignored",
                format!("{ENT}:employeeNumber"): "Aklq", "active": "False"}}]),
        );
        let mut paths: Vec<(String, Value)> = ops
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["op"], "replace");
                (o["path"].as_str().unwrap().to_owned(), o["value"].clone())
            })
            .collect();
        paths.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            paths,
            vec![
                ("active".to_owned(), json!(false)),
                ("displayName".to_owned(), json!("Bjfe")),
                ("name.givenName".to_owned(), json!("Kkom")),
                (format!("{ENT}:employeeNumber"), json!("Aklq")),
            ]
        );
    }

    #[test]
    fn member_removal_by_value_list_becomes_a_filter() {
        assert_eq!(
            patched(
                Kind::Group,
                json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}, {"value": "u\"2"}]}])
            ),
            json!([{"op": "remove", "path": "members[value eq \"u1\" or value eq \"u\\\"2\"]"}])
        );
        // Without a value for every element it is left as sent (and refused later).
        assert_eq!(
            patched(
                Kind::Group,
                json!([{"op": "remove", "path": "members", "value": [{"display": "x"}]}])
            ),
            json!([{"op": "remove", "path": "members", "value": [{"display": "x"}]}])
        );
    }

    #[test]
    fn manager_shapes_and_unqualified_extension_names() {
        assert_eq!(
            patched(
                Kind::User,
                json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "m1"},
                       {"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m2", "value": "m2"}]},
                       {"op": "Add", "path": "employeeNumber", "value": "E1"}])
            ),
            json!([{"op": "add", "path": format!("{ENT}:manager"), "value": {"value": "m1"}},
                   {"op": "add", "path": format!("{ENT}:manager"), "value": {"$ref": "http://x/Users/m2", "value": "m2"}},
                   {"op": "add", "path": "employeeNumber", "value": "E1"}])
        );
        let mut user = json!({"userName": "a@example.com", ENT: {"manager": "m1"}});
        resource(Kind::User, &mut user);
        assert_eq!(user[ENT]["manager"], json!({"value": "m1"}));
    }

    #[test]
    fn filters_qualify_names_only_one_extension_defines() {
        let mut f: Filter = "id eq \"a\" and manager eq \"b\" and employeeNumber eq \"c\""
            .parse()
            .unwrap();
        filter(Kind::User, &mut f);
        assert_eq!(
            f.to_string(),
            format!("id eq \"a\" and {ENT}:manager eq \"b\" and employeeNumber eq \"c\"")
        );
    }

    #[test]
    fn one_value_where_a_list_is_expected() {
        let mut user = json!({"userName": "a@example.com", "emails": {"value": "a@example.com"}});
        resource(Kind::User, &mut user);
        assert_eq!(user["emails"], json!([{"value": "a@example.com"}]));
    }
}
