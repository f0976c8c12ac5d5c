//! Translates a filter parsed by `scim_v2` (RFC 7644 §3.4.2.2) into a SQLite WHERE fragment,
//! and evaluates value filters in memory for PATCH paths.
//!
//! Every client value is a bound argument; JSON paths are bound too, so the SQL text is built
//! only from this file's literals. Every leaf yields 0 or 1 (never NULL), so `not` is exact.

use super::error::{ScimError, ScimResult};
use super::schema::{self, Attr, Kind, Resolved, Ty};
use crate::store::{SqlArg, SqlFragment};
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The SQL operator of an equality or ordering comparison; `None` for co, sw and ew.
fn ordering_sql(op: &CompareOp) -> Option<&'static str> {
    use CompareOp::*;
    match op {
        Eq => Some("="),
        Ne => Some("!="),
        Gt => Some(">"),
        Ge => Some(">="),
        Lt => Some("<"),
        Le => Some("<="),
        Co | Sw | Ew => None,
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What a resolved attribute reads from in SQL.
enum Source {
    /// A real column; `lowered` when it stores a lower-cased key.
    Column {
        sql: &'static str,
        lowered: bool,
        ty: Ty,
    },
    /// The `meta.resourceType` constant.
    ResourceType,
    /// A user's `groups`, held in the membership table.
    UserGroups,
    /// A value in the resource JSON at a bound path (single-valued).
    Json { path: String },
    /// Elements of a multi-valued attribute; `sub` is the sub-attribute compared.
    Multi {
        path: String,
        sub: Option<&'static Attr>,
    },
}

struct Translator {
    kind: Kind,
    args: Vec<SqlArg>,
}

pub fn translate(kind: Kind, f: &Filter) -> ScimResult<SqlFragment> {
    let mut t = Translator {
        kind,
        args: Vec::new(),
    };
    let sql = t.filter(f)?;
    Ok(SqlFragment { sql, args: t.args })
}

/// The SQL expression (and its arguments) that orders by `sortBy`.
pub fn sort_expression(kind: Kind, sort_by: &str) -> ScimResult<SqlFragment> {
    let path: AttrPath = match format!("{sort_by} pr").parse::<Filter>() {
        Ok(Filter::Attr(AttrExp::Present(p))) => p,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "sortBy {sort_by:?} is not an attribute path"
            )));
        }
    };
    let mut t = Translator {
        kind,
        args: Vec::new(),
    };
    let (source, leaf) = t
        .source(&path)
        .map_err(|_| ScimError::invalid_value(format!("sortBy {sort_by:?} is not a sortable attribute")))?;
    let nocase = !leaf.case_exact && matches!(leaf.ty, Ty::String | Ty::Reference);
    let sql = match source {
        Source::Column { sql, .. } => sql.to_owned(),
        Source::Json { path } => {
            t.args.push(SqlArg::Text(path));
            "json_extract(t.resource, ?)".to_owned()
        }
        Source::Multi { path, sub } => {
            // Sort by the primary value if there is one, else the first (RFC 7644 §3.4.2.3).
            let sub = sub.map_or("value", |s| s.name);
            t.args.push(SqlArg::Text(format!("$.\"{sub}\"")));
            t.args.push(SqlArg::Text(path));
            "(SELECT json_extract(e.value, ?) FROM json_each(t.resource, ?) AS e \
             ORDER BY json_extract(e.value, '$.primary') DESC, e.key LIMIT 1)"
                .to_owned()
        }
        Source::ResourceType | Source::UserGroups => {
            return Err(ScimError::invalid_value(format!("cannot sort by {sort_by}")));
        }
    };
    let sql = if nocase {
        format!("{sql} COLLATE NOCASE")
    } else {
        sql
    };
    Ok(SqlFragment { sql, args: t.args })
}

fn bad_attr(p: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!("{p} is not a filterable attribute of this resource type"))
}

/// Resolves a filter attribute path, treating `urn:…:works:2.0:User` as an extension root.
pub fn resolve_path(kind: Kind, p: &AttrPath) -> Option<Resolved> {
    schema::resolve(kind, p.uri.as_deref(), &p.name, p.sub_attr.as_deref())
}

impl Translator {
    fn push(&mut self, a: SqlArg) {
        self.args.push(a);
    }

    fn filter(&mut self, f: &Filter) -> ScimResult<String> {
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
                self.push(SqlArg::Text(r.json_path()));
                let inner = self.val_filter(r.attr, &vp.filter)?;
                format!("EXISTS (SELECT 1 FROM json_each(t.resource, ?) AS e WHERE {inner})")
            }
            Filter::Not(inner) => format!("NOT ({})", self.filter(inner)?),
            Filter::And(items) => self.join(items.as_slice(), " AND ", Self::filter)?,
            Filter::Or(items) => self.join(items.as_slice(), " OR ", Self::filter)?,
        })
    }

    fn join<T>(
        &mut self,
        items: &[T],
        op: &str,
        each: fn(&mut Self, &T) -> ScimResult<String>,
    ) -> ScimResult<String> {
        let parts = items
            .iter()
            .map(|i| each(self, i))
            .collect::<ScimResult<Vec<_>>>()?;
        Ok(format!("({})", parts.join(op)))
    }

    /// A filter inside `attr[...]`, over the element `e.value`.
    fn val_filter(&mut self, parent: &'static Attr, f: &ValFilter) -> ScimResult<String> {
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
                self.push(SqlArg::Text(format!("$.\"{}\"", sub.name)));
                let expr = "json_extract(e.value, ?)";
                match op {
                    None => "(json_type(e.value, ?) IS NOT NULL)".to_owned(),
                    Some((op, v)) => self.compare(expr, sub.ty, !sub.case_exact, false, op, v)?,
                }
            }
            ValFilter::Not(inner) => format!("NOT ({})", self.val_filter(parent, inner)?),
            ValFilter::And(items) => {
                let parts = items
                    .as_slice()
                    .iter()
                    .map(|i| self.val_filter(parent, i))
                    .collect::<ScimResult<Vec<_>>>()?;
                format!("({})", parts.join(" AND "))
            }
            ValFilter::Or(items) => {
                let parts = items
                    .as_slice()
                    .iter()
                    .map(|i| self.val_filter(parent, i))
                    .collect::<ScimResult<Vec<_>>>()?;
                format!("({})", parts.join(" OR "))
            }
        })
    }

    fn source(&mut self, p: &AttrPath) -> ScimResult<(Source, &'static Attr)> {
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
            let column = |sql, lowered, ty| Source::Column { sql, lowered, ty };
            let special = match (self.kind, top, r.sub.map(|s| s.name)) {
                (_, "id", None) => Some(column("t.id", false, Ty::String)),
                (_, "externalId", None) => Some(column("t.external_id", false, Ty::String)),
                (Kind::User, "userName", None) => Some(column("t.user_name_key", true, Ty::String)),
                (Kind::User, "active", None) => Some(column("t.active", false, Ty::Boolean)),
                (Kind::Group, "displayName", None) => Some(column("t.display_name_key", true, Ty::String)),
                (_, "meta", Some("created")) => Some(column("t.created_at", false, Ty::DateTime)),
                (_, "meta", Some("lastModified")) => Some(column("t.updated_at", false, Ty::DateTime)),
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
                    path: r.json_path(),
                    sub,
                },
                leaf,
            ));
        }
        Ok((Source::Json { path: r.json_path() }, leaf))
    }

    fn attr_exp(&mut self, e: &AttrExp) -> ScimResult<String> {
        let (p, cmp) = match e {
            AttrExp::Present(p) => (p, None),
            AttrExp::Comparison(p, op, v) => (p, Some((op, v))),
        };
        let (source, leaf) = self.source(p)?;
        let nocase = !leaf.case_exact;
        Ok(match (source, cmp) {
            (Source::ResourceType, None) => "1".into(),
            (Source::ResourceType, Some((op, v))) => {
                let CompValue::Str(s) = v else {
                    return Err(ScimError::invalid_filter(
                        "meta.resourceType compares with a string",
                    ));
                };
                self.push(SqlArg::Text(self.kind.name().to_owned()));
                self.compare("?", Ty::String, true, false, op, &CompValue::Str(s.clone()))?
            }
            (Source::UserGroups, None) => {
                "EXISTS (SELECT 1 FROM scim_group_members m WHERE m.member_id = t.id)".into()
            }
            (Source::UserGroups, Some((op, v))) => {
                let inner = self.compare("m.group_id", Ty::String, false, false, op, v)?;
                format!("EXISTS (SELECT 1 FROM scim_group_members m WHERE m.member_id = t.id AND {inner})")
            }
            (Source::Column { sql, .. }, None) => format!("({sql} IS NOT NULL)"),
            (Source::Column { sql, lowered, ty }, Some((op, v))) => {
                self.compare(sql, ty, nocase || lowered, lowered, op, v)?
            }
            (Source::Json { path }, None) => {
                self.push(SqlArg::Text(path));
                "(json_type(t.resource, ?) IS NOT NULL)".into()
            }
            (Source::Json { path }, Some((op, v))) => {
                self.push(SqlArg::Text(path));
                self.compare("json_extract(t.resource, ?)", leaf.ty, nocase, false, op, v)?
            }
            (Source::Multi { path, sub }, cmp) => {
                self.push(SqlArg::Text(path));
                let (elem, sub_path) = match sub {
                    Some(s) => ("json_extract(e.value, ?)", Some(format!("$.\"{}\"", s.name))),
                    None => ("e.value", None),
                };
                let (negate, cond) = match cmp {
                    None => {
                        if let Some(sp) = sub_path {
                            self.push(SqlArg::Text(sp));
                        }
                        (false, format!("{elem} IS NOT NULL"))
                    }
                    Some((op, v)) => {
                        if let Some(sp) = sub_path {
                            self.push(SqlArg::Text(sp));
                        }
                        // `emails ne "x"`: no element equals x.
                        let (negate, op) = match op {
                            CompareOp::Ne => (true, &CompareOp::Eq),
                            other => (false, other),
                        };
                        (negate, self.compare(elem, leaf.ty, nocase, false, op, v)?)
                    }
                };
                let exists = format!("EXISTS (SELECT 1 FROM json_each(t.resource, ?) AS e WHERE {cond})");
                if negate { format!("NOT {exists}") } else { exists }
            }
        })
    }

    /// `expr op value` as a 0/1 expression. `nocase`: the attribute is caseExact=false;
    /// `lowered`: `expr` already holds a lower-cased key, so the value is lower-cased too.
    fn compare(
        &mut self,
        expr: &str,
        ty: Ty,
        nocase: bool,
        lowered: bool,
        op: &CompareOp,
        v: &CompValue,
    ) -> ScimResult<String> {
        use CompareOp::*;
        let invalid = |what: &str| Err(ScimError::invalid_filter(what.to_owned()));
        if matches!(v, CompValue::Null) {
            return match op {
                Eq => Ok(format!("({expr} IS NULL)")),
                Ne => Ok(format!("({expr} IS NOT NULL)")),
                _ => invalid("null can only be compared with eq or ne"),
            };
        }
        let cond = match ty {
            Ty::Boolean => {
                let b = match v {
                    CompValue::True => 1,
                    CompValue::False => 0,
                    _ => return invalid("a boolean attribute compares with true or false"),
                };
                match op {
                    Eq => format!("{expr} = {b}"),
                    Ne => format!("{expr} = {}", 1 - b),
                    _ => return invalid("a boolean attribute supports only eq, ne and pr"),
                }
            }
            Ty::Integer => {
                let CompValue::Number(n) = v else {
                    return invalid("an integer attribute compares with a number");
                };
                let arg = n
                    .as_i64()
                    .map(SqlArg::Int)
                    .or_else(|| n.as_f64().map(SqlArg::Real));
                let Some(arg) = arg else {
                    return invalid("number out of range");
                };
                let Some(sym) = ordering_sql(op) else {
                    return invalid("co, sw and ew apply to strings");
                };
                self.push(arg);
                format!("{expr} {sym} ?")
            }
            Ty::DateTime => {
                let CompValue::Str(s) = v else {
                    return invalid("a dateTime attribute compares with an RFC 3339 string");
                };
                let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) else {
                    return invalid("a dateTime attribute compares with an RFC 3339 string");
                };
                let Some(sym) = ordering_sql(op) else {
                    return invalid("co, sw and ew apply to strings");
                };
                self.push(SqlArg::Int(crate::clock::to_millis(t)));
                format!("{expr} {sym} ?")
            }
            Ty::Complex => return invalid("a complex attribute needs a sub-attribute"),
            Ty::String | Ty::Reference => {
                let CompValue::Str(s) = v else {
                    return invalid("a string attribute compares with a quoted string");
                };
                let s = if lowered { s.to_lowercase() } else { s.clone() };
                let collate = if nocase && !lowered { " COLLATE NOCASE" } else { "" };
                match op {
                    Eq | Ne | Gt | Ge | Lt | Le => {
                        let sym = ordering_sql(op).unwrap_or("="); // always Some in this arm
                        self.push(SqlArg::Text(s));
                        format!("{expr} {sym} ?{collate}")
                    }
                    Co | Sw | Ew if nocase => {
                        // SQLite's LIKE ignores ASCII case, which is what caseExact=false asks.
                        let escaped = like_escape(&s);
                        let pattern = match op {
                            Co => format!("%{escaped}%"),
                            Sw => format!("{escaped}%"),
                            _ => format!("%{escaped}"),
                        };
                        self.push(SqlArg::Text(pattern));
                        format!("{expr} LIKE ? ESCAPE '\\'")
                    }
                    Co => {
                        self.push(SqlArg::Text(s));
                        format!("instr({expr}, ?) > 0")
                    }
                    Sw => {
                        self.push(SqlArg::Text(s.clone()));
                        self.push(SqlArg::Text(s));
                        format!("substr({expr}, 1, length(?)) = ?")
                    }
                    _ if s.is_empty() => format!("{expr} IS NOT NULL"),
                    _ => {
                        self.push(SqlArg::Int(s.chars().count() as i64));
                        self.push(SqlArg::Text(s));
                        format!("substr({expr}, -?) = ?")
                    }
                }
            }
        };
        // A missing attribute compares as false, never NULL. A plain column is guarded with
        // IS NOT NULL instead of COALESCE so its index stays usable (userName eq → unique key).
        if expr.starts_with("t.") && !expr.contains('?') {
            Ok(format!("({expr} IS NOT NULL AND {cond})"))
        } else {
            Ok(format!("COALESCE(({cond}), 0)"))
        }
    }
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
    let Some(actual) = actual else {
        return Ok(matches!((op, v), (CompareOp::Eq, CompValue::Null))
            || (matches!(op, CompareOp::Ne) && !matches!(v, CompValue::Null)));
    };
    let ord: Option<Ordering> = match (actual, v) {
        (_, CompValue::Null) => None,
        (Value::Bool(a), CompValue::True) => Some(a.cmp(&true)),
        (Value::Bool(a), CompValue::False) => Some(a.cmp(&false)),
        (Value::Number(a), CompValue::Number(b)) => {
            a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b))
        }
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if attr.case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
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

    fn sql(kind: Kind, f: &str) -> SqlFragment {
        translate(kind, &f.parse().unwrap()).unwrap()
    }

    #[test]
    fn values_are_bound_never_spliced() {
        let f = sql(Kind::User, r#"title co "50%_off\\' OR 1=1 --""#);
        assert!(!f.sql.contains("OR 1=1"), "{}", f.sql);
        assert_eq!(
            f.args.last(),
            Some(&SqlArg::Text(r"%50\%\_off\\' OR 1=1 --%".into()))
        );
    }

    #[test]
    fn user_name_uses_the_lowered_unique_key() {
        let f = sql(Kind::User, r#"userName eq "Ann@Example.com""#);
        assert_eq!(f.sql, "(t.user_name_key IS NOT NULL AND t.user_name_key = ?)");
        assert_eq!(f.args, vec![SqlArg::Text("ann@example.com".into())]);
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
