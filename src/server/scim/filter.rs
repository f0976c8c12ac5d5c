//! Resolves a filter parsed by `scim_v2` (RFC 7644 §3.4.2.2) against the schema into the
//! store's backend-neutral [`Pred`] (and `sortBy` into a [`Sort`]), and evaluates value filters
//! in memory for PATCH paths.
//!
//! No SQL is written here: `store::predicate` renders a [`Pred`] for SQLite or PostgreSQL with
//! every client value bound. The rules it keeps on both (caseExact, LIKE escaping, a missing
//! value comparing false so `not` is exact) are documented there.

use super::error::{ScimError, ScimResult};
use super::schema::{self, Attr, Kind, Resolved, Ty};
use crate::store::predicate::{Column, JsonPath, Literal, Op, Operand, Pred, Sort, SortKey};
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn op_of(op: &CompareOp) -> Op {
    match op {
        CompareOp::Eq => Op::Eq,
        CompareOp::Ne => Op::Ne,
        CompareOp::Gt => Op::Gt,
        CompareOp::Ge => Op::Ge,
        CompareOp::Lt => Op::Lt,
        CompareOp::Le => Op::Le,
        CompareOp::Co => Op::Co,
        CompareOp::Sw => Op::Sw,
        CompareOp::Ew => Op::Ew,
    }
}

fn is_ordering(op: &CompareOp) -> bool {
    !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

/// What a resolved attribute reads from.
enum Source {
    /// A real column; `lowered` when it stores a lower-cased key.
    Column { column: Column, lowered: bool, ty: Ty },
    /// The `meta.resourceType` constant.
    ResourceType,
    /// A user's `groups`, held in the membership table.
    UserGroups,
    /// A single value in the resource JSON.
    Json { path: JsonPath },
    /// Elements of a multi-valued attribute; `sub` is the sub-attribute compared.
    Multi {
        path: JsonPath,
        sub: Option<&'static Attr>,
    },
}

struct Translator {
    kind: Kind,
}

/// The filter as a backend-neutral predicate over one stored resource.
pub fn translate(kind: Kind, f: &Filter) -> ScimResult<Pred> {
    Translator { kind }.filter(f)
}

/// The order `sortBy` asks for.
pub fn sort_order(kind: Kind, sort_by: &str, descending: bool) -> ScimResult<Sort> {
    let path: AttrPath = match format!("{sort_by} pr").parse::<Filter>() {
        Ok(Filter::Attr(AttrExp::Present(p))) => p,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "sortBy {sort_by:?} is not an attribute path"
            )));
        }
    };
    let t = Translator { kind };
    let (source, leaf) = t
        .source(&path)
        .map_err(|_| ScimError::invalid_value(format!("sortBy {sort_by:?} is not a sortable attribute")))?;
    let nocase = !leaf.case_exact && matches!(leaf.ty, Ty::String | Ty::Reference);
    let key = match source {
        Source::Column { column, .. } => SortKey::Column(column),
        Source::Json { path } => SortKey::Json(path),
        // Sort by the primary value if there is one, else the first (RFC 7644 §3.4.2.3).
        Source::Multi { path, sub } => SortKey::FirstElement {
            path,
            key: sub.map_or("value", |s| s.name),
        },
        Source::ResourceType | Source::UserGroups => {
            return Err(ScimError::invalid_value(format!("cannot sort by {sort_by}")));
        }
    };
    Ok(Sort {
        key,
        nocase,
        descending,
    })
}

fn bad_attr(p: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!("{p} is not a filterable attribute of this resource type"))
}

/// Resolves a filter attribute path, treating `urn:…:works:2.0:User` as an extension root.
pub fn resolve_path(kind: Kind, p: &AttrPath) -> Option<Resolved> {
    schema::resolve(kind, p.uri.as_deref(), &p.name, p.sub_attr.as_deref())
}

/// Where a resolved attribute sits in the stored JSON (see [`Resolved::json_path`]).
fn json_path(r: &Resolved) -> JsonPath {
    let mut keys = Vec::with_capacity(3);
    if let Some(urn) = r.extension {
        keys.push(urn);
    }
    keys.push(r.attr.name);
    if let Some(sub) = r.sub
        && !r.attr.multi
    {
        keys.push(sub.name);
    }
    JsonPath(keys)
}

impl Translator {
    fn filter(&self, f: &Filter) -> ScimResult<Pred> {
        Ok(match f {
            Filter::Attr(e) => self.attr_exp(e)?,
            Filter::ValuePath(vp) => {
                let r = resolve_path(self.kind, &vp.attr).ok_or_else(|| bad_attr(&vp.attr))?;
                if !r.attr.multi || r.attr.ty != Ty::Complex || r.sub.is_some() {
                    return Err(ScimError::invalid_filter(format!(
                        "{} is not a multi-valued complex attribute",
                        vp.attr
                    )));
                }
                if self.kind == Kind::User && r.attr.name == "groups" {
                    return Err(ScimError::invalid_filter(
                        "groups supports only groups.value comparisons",
                    ));
                }
                Pred::AnyElement {
                    path: json_path(&r),
                    pred: Box::new(self.val_filter(r.attr, &vp.filter)?),
                }
            }
            Filter::Not(inner) => Pred::Not(Box::new(self.filter(inner)?)),
            Filter::And(items) => Pred::And(
                items
                    .as_slice()
                    .iter()
                    .map(|i| self.filter(i))
                    .collect::<ScimResult<_>>()?,
            ),
            Filter::Or(items) => Pred::Or(
                items
                    .as_slice()
                    .iter()
                    .map(|i| self.filter(i))
                    .collect::<ScimResult<_>>()?,
            ),
        })
    }

    /// A filter inside `attr[...]`, over one element.
    fn val_filter(&self, parent: &'static Attr, f: &ValFilter) -> ScimResult<Pred> {
        Ok(match f {
            ValFilter::Attr(e) => {
                let (path, op) = match e {
                    AttrExp::Present(p) => (p, None),
                    AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
                };
                if path.uri.is_some() || path.sub_attr.is_some() {
                    return Err(ScimError::invalid_filter(format!(
                        "{path} inside [] must name a sub-attribute of {}",
                        parent.name
                    )));
                }
                let sub = parent.sub_attr(&path.name).ok_or_else(|| bad_attr(path))?;
                let operand = Operand::Element(Some(sub.name));
                match op {
                    None => Pred::Present(operand),
                    Some((op, v)) => compare(operand, sub.ty, !sub.case_exact, false, op, v)?,
                }
            }
            ValFilter::Not(inner) => Pred::Not(Box::new(self.val_filter(parent, inner)?)),
            ValFilter::And(items) => Pred::And(
                items
                    .as_slice()
                    .iter()
                    .map(|i| self.val_filter(parent, i))
                    .collect::<ScimResult<_>>()?,
            ),
            ValFilter::Or(items) => Pred::Or(
                items
                    .as_slice()
                    .iter()
                    .map(|i| self.val_filter(parent, i))
                    .collect::<ScimResult<_>>()?,
            ),
        })
    }

    fn source(&self, p: &AttrPath) -> ScimResult<(Source, &'static Attr)> {
        let mut r = resolve_path(self.kind, p).ok_or_else(|| bad_attr(p))?;
        // `…:enterprise:2.0:User:manager eq "id"` compares the complex attribute's `value`.
        if !r.attr.multi && r.attr.ty == Ty::Complex && r.sub.is_none() {
            r.sub = r.attr.sub_attr("value");
        }
        if super::enterprise::is_computed(&r) {
            return Err(ScimError::invalid_filter(format!(
                "{p} is filled in when read, not stored; compare manager.value instead"
            )));
        }
        let leaf = r.leaf();
        let top = r.attr.name;
        if r.extension.is_none() {
            let column = |column, lowered, ty| Source::Column { column, lowered, ty };
            let special = match (self.kind, top, r.sub.map(|s| s.name)) {
                (_, "id", None) => Some(column(Column::Id, false, Ty::String)),
                (_, "externalId", None) => Some(column(Column::ExternalId, false, Ty::String)),
                (Kind::User, "userName", None) => Some(column(Column::UserNameKey, true, Ty::String)),
                (Kind::User, "active", None) => Some(column(Column::Active, false, Ty::Boolean)),
                (Kind::Group, "displayName", None) => Some(column(Column::DisplayNameKey, true, Ty::String)),
                (_, "meta", Some("created")) => Some(column(Column::CreatedAt, false, Ty::DateTime)),
                (_, "meta", Some("lastModified")) => Some(column(Column::UpdatedAt, false, Ty::DateTime)),
                (_, "meta", Some("resourceType")) => Some(Source::ResourceType),
                (_, "meta", _) => return Err(bad_attr(p)),
                (Kind::User, "groups", None | Some("value")) => Some(Source::UserGroups),
                (Kind::User, "groups", _) => return Err(bad_attr(p)),
                _ => None,
            };
            if let Some(s) = special {
                return Ok((s, leaf));
            }
        }
        if r.attr.multi {
            // `emails eq "x"` compares each element's `value`.
            let sub = match r.sub {
                Some(s) => Some(s),
                None if r.attr.ty == Ty::Complex => {
                    Some(r.attr.sub_attr("value").ok_or_else(|| bad_attr(p))?)
                }
                None => None,
            };
            let leaf = sub.unwrap_or(r.attr);
            return Ok((
                Source::Multi {
                    path: json_path(&r),
                    sub,
                },
                leaf,
            ));
        }
        Ok((Source::Json { path: json_path(&r) }, leaf))
    }

    fn attr_exp(&self, e: &AttrExp) -> ScimResult<Pred> {
        let (p, cmp) = match e {
            AttrExp::Present(p) => (p, None),
            AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
        };
        let (source, leaf) = self.source(p)?;
        let nocase = !leaf.case_exact;
        Ok(match (source, cmp) {
            (Source::ResourceType, None) => Pred::Const(true),
            (Source::ResourceType, Some((op, v))) => {
                let CompValue::Str(s) = v else {
                    return Err(ScimError::invalid_filter(
                        "meta.resourceType compares with a string",
                    ));
                };
                // A constant per resource type: decided here, ignoring ASCII case.
                let (a, b) = (self.kind.name().to_ascii_lowercase(), s.to_ascii_lowercase());
                Pred::Const(match op {
                    CompareOp::Eq => a == b,
                    CompareOp::Ne => a != b,
                    CompareOp::Gt => a > b,
                    CompareOp::Ge => a >= b,
                    CompareOp::Lt => a < b,
                    CompareOp::Le => a <= b,
                    CompareOp::Co => a.contains(&b),
                    CompareOp::Sw => a.starts_with(&b),
                    CompareOp::Ew => a.ends_with(&b),
                })
            }
            (Source::UserGroups, None) => Pred::InGroup(None),
            (Source::UserGroups, Some((op, v))) => match v {
                CompValue::Str(s) => Pred::InGroup(Some((op_of(op), s.clone()))),
                // A membership always has a group id.
                CompValue::Null if matches!(op, CompareOp::Eq) => Pred::Const(false),
                CompValue::Null if matches!(op, CompareOp::Ne) => Pred::InGroup(None),
                CompValue::Null => {
                    return Err(ScimError::invalid_filter(
                        "null can only be compared with eq or ne",
                    ));
                }
                _ => {
                    return Err(ScimError::invalid_filter(
                        "a string attribute compares with a quoted string",
                    ));
                }
            },
            (Source::Column { column, .. }, None) => Pred::Present(Operand::Column(column)),
            (Source::Column { column, lowered, ty }, Some((op, v))) => {
                compare(Operand::Column(column), ty, nocase || lowered, lowered, op, v)?
            }
            (Source::Json { path }, None) => Pred::Present(Operand::Json(path)),
            (Source::Json { path }, Some((op, v))) => {
                compare(Operand::Json(path), leaf.ty, nocase, false, op, v)?
            }
            (Source::Multi { path, sub }, cmp) => {
                let operand = Operand::Element(sub.map(|s| s.name));
                match cmp {
                    None => Pred::AnyElement {
                        path,
                        pred: Box::new(Pred::Present(operand)),
                    },
                    // `emails ne "x"`: no element equals x.
                    Some((CompareOp::Ne, v)) if !matches!(v, CompValue::Null) => {
                        Pred::Not(Box::new(Pred::AnyElement {
                            path,
                            pred: Box::new(compare(operand, leaf.ty, nocase, false, &CompareOp::Eq, v)?),
                        }))
                    }
                    Some((op, v)) => Pred::AnyElement {
                        path,
                        pred: Box::new(compare(operand, leaf.ty, nocase, false, op, v)?),
                    },
                }
            }
        })
    }
}

/// `operand op value`, checked against the attribute's type. `nocase`: the attribute is
/// caseExact=false; `lowered`: the operand holds a lower-cased key, so the value is
/// lower-cased and compared exactly.
fn compare(
    operand: Operand,
    ty: Ty,
    nocase: bool,
    lowered: bool,
    op: &CompareOp,
    v: &CompValue,
) -> ScimResult<Pred> {
    let invalid = |what: &str| Err(ScimError::invalid_filter(what.to_owned()));
    let cmp = |value, nocase| Pred::Compare {
        operand: operand.clone(),
        op: op_of(op),
        value,
        nocase,
    };
    if matches!(v, CompValue::Null) {
        return match op {
            CompareOp::Eq => Ok(Pred::Not(Box::new(Pred::Present(operand)))),
            CompareOp::Ne => Ok(Pred::Present(operand)),
            _ => invalid("null can only be compared with eq or ne"),
        };
    }
    Ok(match ty {
        Ty::Boolean => {
            let b = match v {
                CompValue::True => true,
                CompValue::False => false,
                _ => return invalid("a boolean attribute compares with true or false"),
            };
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return invalid("a boolean attribute supports only eq, ne and pr");
            }
            cmp(Literal::Bool(b), false)
        }
        Ty::Integer => {
            let CompValue::Number(n) = v else {
                return invalid("an integer attribute compares with a number");
            };
            let value = n
                .as_i64()
                .map(Literal::Int)
                .or_else(|| n.as_f64().map(Literal::Real));
            let Some(value) = value else {
                return invalid("number out of range");
            };
            if !is_ordering(op) {
                return invalid("co, sw and ew apply to strings");
            }
            cmp(value, false)
        }
        Ty::DateTime => {
            let CompValue::Str(s) = v else {
                return invalid("a dateTime attribute compares with an RFC 3339 string");
            };
            let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) else {
                return invalid("a dateTime attribute compares with an RFC 3339 string");
            };
            if !is_ordering(op) {
                return invalid("co, sw and ew apply to strings");
            }
            match operand {
                // meta.created / lastModified are stored as milliseconds.
                Operand::Column(_) => cmp(Literal::Millis(crate::clock::to_millis(t)), false),
                // A dateTime inside the JSON is its RFC 3339 text.
                _ => cmp(Literal::Text(s.clone()), false),
            }
        }
        Ty::Complex => return invalid("a complex attribute needs a sub-attribute"),
        Ty::String | Ty::Reference => {
            let CompValue::Str(s) = v else {
                return invalid("a string attribute compares with a quoted string");
            };
            if lowered {
                cmp(Literal::Text(s.to_lowercase()), false)
            } else {
                cmp(Literal::Text(s.clone()), nocase)
            }
        }
    })
}

/// Does element `elem` of multi-valued `parent` match the value filter? For PATCH paths.
pub fn matches(parent: &Attr, elem: &Value, f: &ValFilter) -> ScimResult<bool> {
    Ok(match f {
        ValFilter::Not(inner) => !matches(parent, elem, inner)?,
        ValFilter::And(items) => {
            for i in items.as_slice() {
                if !matches(parent, elem, i)? {
                    return Ok(false);
                }
            }
            true
        }
        ValFilter::Or(items) => {
            for i in items.as_slice() {
                if matches(parent, elem, i)? {
                    return Ok(true);
                }
            }
            false
        }
        ValFilter::Attr(e) => {
            let path = match e {
                AttrExp::Present(p) | AttrExp::Comparison(p, _, _) => p,
            };
            if path.uri.is_some() || path.sub_attr.is_some() {
                return Err(ScimError::invalid_path(format!(
                    "{path} must name a sub-attribute"
                )));
            }
            let sub = parent.sub_attr(&path.name).ok_or_else(|| {
                ScimError::invalid_path(format!("{} has no sub-attribute {path}", parent.name))
            })?;
            let actual = elem.get(sub.name).filter(|v| !v.is_null());
            match e {
                AttrExp::Present(_) => actual.is_some(),
                AttrExp::Comparison(_, op, v) => compare_value(sub, actual, op, v)?,
            }
        }
    })
}

fn compare_value(attr: &Attr, actual: Option<&Value>, op: &CompareOp, v: &CompValue) -> ScimResult<bool> {
    use std::cmp::Ordering;
    // A missing value compares false, `ne` included: only `eq null` selects it. The SQL filter
    // has the same rule (store/predicate.rs: every leaf is true or false, never NULL), so a
    // PATCH value path selects exactly the elements a list filter would.
    let Some(actual) = actual else {
        return Ok(matches!((op, v), (CompareOp::Eq, CompValue::Null)));
    };
    let ord: Option<Ordering> = match (actual, v) {
        (_, CompValue::Null) => None,
        (Value::Bool(a), CompValue::True) => Some(a.cmp(&true)),
        (Value::Bool(a), CompValue::False) => Some(a.cmp(&false)),
        (Value::Number(a), CompValue::Number(b)) => {
            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        (Value::String(a), CompValue::Str(b)) => {
            // caseExact=false folds ASCII letters only, as SQLite's NOCASE/LIKE and
            // PostgreSQL's lower(x COLLATE "C") do in the list filter.
            let (a, b) = if attr.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_ascii_lowercase(), b.to_ascii_lowercase())
            };
            match op {
                CompareOp::Co => return Ok(a.contains(&b)),
                CompareOp::Sw => return Ok(a.starts_with(&b)),
                CompareOp::Ew => return Ok(a.ends_with(&b)),
                _ => Some(a.cmp(&b)),
            }
        }
        _ => None,
    };
    Ok(match op {
        CompareOp::Eq => ord == Some(Ordering::Equal),
        CompareOp::Ne => ord != Some(Ordering::Equal),
        CompareOp::Gt => ord == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ord == Some(Ordering::Less),
        CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(kind: Kind, f: &str) -> Pred {
        translate(kind, &f.parse().unwrap()).unwrap()
    }

    #[test]
    fn values_stay_values_until_the_store_binds_them() {
        assert_eq!(
            pred(Kind::User, r#"title co "50%_off\\' OR 1=1 --""#),
            Pred::Compare {
                operand: Operand::Json(JsonPath(vec!["title"])),
                op: Op::Co,
                value: Literal::Text(r"50%_off\' OR 1=1 --".into()),
                nocase: true,
            }
        );
    }

    #[test]
    fn user_name_uses_the_lowered_unique_key() {
        assert_eq!(
            pred(Kind::User, r#"userName eq "Ann@Example.com""#),
            Pred::Compare {
                operand: Operand::Column(Column::UserNameKey),
                op: Op::Eq,
                value: Literal::Text("ann@example.com".into()),
                nocase: false,
            }
        );
    }

    #[test]
    fn multi_valued_ne_means_no_element_equals() {
        assert_eq!(
            pred(Kind::User, r#"emails ne "a@x""#),
            Pred::Not(Box::new(Pred::AnyElement {
                path: JsonPath(vec!["emails"]),
                pred: Box::new(Pred::Compare {
                    operand: Operand::Element(Some("value")),
                    op: Op::Eq,
                    value: Literal::Text("a@x".into()),
                    nocase: true,
                }),
            }))
        );
        assert_eq!(
            pred(Kind::User, r#"meta.resourceType eq "user""#),
            Pred::Const(true)
        );
        assert_eq!(
            pred(Kind::Group, r#"meta.resourceType eq "User""#),
            Pred::Const(false)
        );
    }

    #[test]
    fn unknown_attributes_and_bad_operands_are_invalid_filters() {
        for f in [
            r#"password eq "x""#,
            r#"active gt true"#,
            r#"userName eq 3"#,
            r#"meta.created gt "yesterday""#,
            r#"name eq "x""#,
            r#"urn:example:nope:thing eq "x""#,
        ] {
            let e = translate(Kind::User, &f.parse().unwrap()).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(super::super::error::ScimType::InvalidFilter),
                "{f}"
            );
        }
    }

    #[test]
    fn value_filters_match_in_memory() {
        let emails = schema::USER.attr("emails").unwrap();
        let elem = serde_json::json!({"value": "A@Example.com", "type": "work"});
        let f = |s: &str| -> ValFilter {
            match format!("emails[{s}]").parse::<Filter>().unwrap() {
                Filter::ValuePath(vp) => *vp.filter,
                _ => unreachable!(),
            }
        };
        assert!(matches(emails, &elem, &f(r#"type eq "WORK""#)).unwrap());
        assert!(matches(emails, &elem, &f(r#"value sw "a@" and not (primary pr)"#)).unwrap());
        assert!(!matches(emails, &elem, &f(r#"type eq "home" or value ew ".org""#)).unwrap());
    }
}
