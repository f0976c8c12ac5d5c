//! A backend-neutral SCIM filter and sort order, and their SQL on each backend.
//!
//! `server/scim/filter.rs` resolves a parsed filter against the schema and builds a [`Pred`];
//! the store renders it with `sqlx::QueryBuilder`, for SQLite or for PostgreSQL. No SQL text
//! exists outside `store/`.
//!
//! Client values are always bound parameters. Attribute names (JSON path segments and element
//! keys) are `&'static str` taken from the schema, never client input; PostgreSQL renders them
//! as quoted literals so expression indexes (emails) can match.
//!
//! The same rules hold on both backends:
//! - Every leaf is true or false, never NULL: a missing attribute (or a JSON `null`) compares
//!   false, so `not` is exact.
//! - `caseExact=false` folds ASCII letters only: SQLite's `NOCASE` and `LIKE`, and
//!   `lower(x COLLATE "C")` on PostgreSQL. Keys stored lower-cased (userName, group
//!   displayName) are compared with a lower-cased value, exactly.
//! - `co`, `sw` and `ew` escape `%`, `_` and `\` in the value.
//! - Strings order by code point (SQLite `BINARY`, PostgreSQL `COLLATE "C"`).

use sqlx::{Postgres, QueryBuilder, Sqlite};

/// A column of `scim_users` / `scim_groups` (alias `t`) a filter may name directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    ExternalId,
    /// Users: the lower-cased userName (unique).
    UserNameKey,
    /// Groups: the lower-cased displayName (unique).
    DisplayNameKey,
    /// Users.
    Active,
    CreatedAt,
    UpdatedAt,
}

impl Column {
    /// Only externalId may be NULL; the other columns are NOT NULL, so a sort by them needs
    /// no "missing values last" term (which would keep their indexes from serving the order).
    fn nullable(self) -> bool {
        self == Column::ExternalId
    }

    fn sql(self) -> &'static str {
        match self {
            Column::Id => "t.id",
            Column::ExternalId => "t.external_id",
            Column::UserNameKey => "t.user_name_key",
            Column::DisplayNameKey => "t.display_name_key",
            Column::Active => "t.active",
            Column::CreatedAt => "t.created_at",
            Column::UpdatedAt => "t.updated_at",
        }
    }
}

/// Keys from the resource's root: `[urn,] attribute [, sub-attribute]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(pub Vec<&'static str>);

impl JsonPath {
    /// SQLite's `$."a"."b"`.
    fn sqlite(&self) -> String {
        let mut p = String::from("$");
        for s in &self.0 {
            p.push_str(&format!(".\"{s}\""));
        }
        p
    }

    /// PostgreSQL's `'{"a","b"}'::text[]`, for `#>` and `#>>`.
    fn postgres(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("'{{{}}}'::text[]", parts.join(",").replace('\'', "''"))
    }
}

fn pg_key(key: &str) -> String {
    format!("'{}'", key.replace('\'', "''"))
}

/// What a comparison or presence test reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Column(Column),
    /// A single value inside the resource JSON.
    Json(JsonPath),
    /// Inside [`Pred::AnyElement`]: the element itself (`None`), or one of its keys.
    Element(Option<&'static str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Co,
    Sw,
    Ew,
}

impl Op {
    fn ordering(self) -> Option<&'static str> {
        match self {
            Op::Eq => Some("="),
            Op::Ne => Some("!="),
            Op::Gt => Some(">"),
            Op::Ge => Some(">="),
            Op::Lt => Some("<"),
            Op::Le => Some("<="),
            Op::Co | Op::Sw | Op::Ew => None,
        }
    }
}

/// A comparison's right-hand side. The filter builder checks it fits the attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
    /// A dateTime as Unix milliseconds (the meta.created / lastModified columns).
    Millis(i64),
}

/// A filter over one resource row (alias `t`).
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    Const(bool),
    Not(Box<Pred>),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    /// The operand has a value (not missing, not JSON null).
    Present(Operand),
    /// `operand op value`; `nocase` for a caseExact=false string compared as stored.
    Compare {
        operand: Operand,
        op: Op,
        value: Literal,
        nocase: bool,
    },
    /// Some element of the multi-valued attribute at `path` satisfies `pred`, whose operands
    /// are [`Operand::Element`].
    AnyElement {
        path: JsonPath,
        pred: Box<Pred>,
    },
    /// The user is a direct member of a group (whose id compares, if given, case-exactly).
    InGroup(Option<(Op, String)>),
}

/// What a list is ordered by (`sortBy`).
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Column(Column),
    Json(JsonPath),
    /// A multi-valued attribute's primary element's `key`, else its first element's.
    FirstElement {
        path: JsonPath,
        key: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub key: SortKey,
    /// caseExact=false strings sort ignoring ASCII case.
    pub nocase: bool,
    pub descending: bool,
}

impl Sort {
    /// Can the sort key be missing (sorted last)?
    fn nullable(&self) -> bool {
        match &self.key {
            SortKey::Column(c) => c.nullable(),
            _ => true,
        }
    }

    /// The userName / displayName keys are stored lower-cased, so comparing them ignoring
    /// ASCII case is comparing them as stored — which lets their unique index serve the order.
    fn folds(&self) -> bool {
        self.nocase
            && !matches!(
                self.key,
                SortKey::Column(Column::UserNameKey | Column::DisplayNameKey)
            )
    }
}

/// A row's sort key as read back from the list query (`sort_key` column), to resume after it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValue {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
}

/// A keyset position: the page starts after the row with this sort key, `created_at` and `id`
/// in list order (the sort key, missing last, then creation order, then id).
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    pub key: KeyValue,
    pub created_at: i64,
    pub id: String,
}

/// Could a row under `sort` have this sort key? (A position read from a cursor is checked
/// with this before it reaches SQL, so a bind never has the wrong type.)
pub fn key_fits(sort: Option<&Sort>, key: &KeyValue) -> bool {
    let Some(sort) = sort else {
        return *key == KeyValue::Null;
    };
    match (&sort.key, key) {
        (_, KeyValue::Null) => sort.nullable(),
        (SortKey::Column(Column::Active), KeyValue::Bool(_) | KeyValue::Int(0 | 1)) => true,
        (SortKey::Column(Column::CreatedAt | Column::UpdatedAt), KeyValue::Int(_)) => true,
        (SortKey::Column(Column::Active | Column::CreatedAt | Column::UpdatedAt), _) => false,
        (SortKey::Column(_), KeyValue::Text(_)) => true,
        (SortKey::Column(_), _) => false,
        (SortKey::Json(_) | SortKey::FirstElement { .. }, _) => true,
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

fn like_pattern(op: Op, s: &str) -> String {
    let e = like_escape(s);
    match op {
        Op::Co => format!("%{e}%"),
        Op::Sw => format!("{e}%"),
        _ => format!("%{e}"),
    }
}

/// A backend that can render predicates; lets one query-building body serve both.
pub(crate) trait Render: sqlx::Database {
    fn push_where(qb: &mut QueryBuilder<Self>, pred: &Pred);
    fn push_order_by(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>);
    /// `, <sort expression> AS sort_key` for the select list (nothing without a sort).
    fn push_sort_key(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>);
    /// A condition true for the rows after `after` in the order of [`Render::push_order_by`].
    fn push_after(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>, after: &After);
}

impl Render for Sqlite {
    fn push_where(qb: &mut QueryBuilder<Self>, pred: &Pred) {
        sqlite_where(qb, pred)
    }
    fn push_order_by(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>) {
        sqlite_order_by(qb, sort)
    }
    fn push_sort_key(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>) {
        if let Some(sort) = sort {
            qb.push(", ");
            sqlite_sort_expr(qb, sort);
            qb.push(" AS sort_key");
        }
    }
    fn push_after(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>, after: &After) {
        sqlite_after(qb, sort, after)
    }
}

impl Render for Postgres {
    fn push_where(qb: &mut QueryBuilder<Self>, pred: &Pred) {
        postgres_where(qb, pred)
    }
    fn push_order_by(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>) {
        postgres_order_by(qb, sort)
    }
    fn push_sort_key(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>) {
        if let Some(sort) = sort {
            qb.push(format!(", {} AS sort_key", postgres_sort_expr(sort)));
        }
    }
    fn push_after(qb: &mut QueryBuilder<Self>, sort: Option<&Sort>, after: &After) {
        postgres_after(qb, sort, after)
    }
}

// ---- SQLite ------------------------------------------------------------------------------

/// Appends `pred` as a SQLite boolean (0/1) expression.
pub fn sqlite_where(qb: &mut QueryBuilder<Sqlite>, pred: &Pred) {
    match pred {
        Pred::Const(b) => {
            qb.push(if *b { "1" } else { "0" });
        }
        Pred::Not(inner) => {
            qb.push("NOT (");
            sqlite_where(qb, inner);
            qb.push(")");
        }
        Pred::And(items) | Pred::Or(items) => {
            let sep = if matches!(pred, Pred::And(_)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    qb.push(sep);
                }
                sqlite_where(qb, p);
            }
            if items.is_empty() {
                qb.push(if matches!(pred, Pred::And(_)) { "1" } else { "0" });
            }
            qb.push(")");
        }
        Pred::Present(operand) => {
            qb.push("(");
            sqlite_operand(qb, operand);
            qb.push(" IS NOT NULL)");
        }
        Pred::Compare {
            operand,
            op,
            value,
            nocase,
        } => {
            let column = matches!(operand, Operand::Column(_));
            if let Operand::Column(c) = operand {
                qb.push(format!("({} IS NOT NULL AND ", c.sql()));
            } else {
                qb.push("COALESCE((");
            }
            sqlite_compare(qb, operand, *op, value, *nocase);
            qb.push(if column { ")" } else { "), 0)" });
        }
        Pred::AnyElement { path, pred } => {
            qb.push("EXISTS (SELECT 1 FROM json_each(t.resource, ");
            qb.push_bind(path.sqlite());
            qb.push(") AS e WHERE ");
            sqlite_where(qb, pred);
            qb.push(")");
        }
        Pred::InGroup(cmp) => {
            qb.push("EXISTS (SELECT 1 FROM scim_group_members m WHERE m.member_id = t.id");
            if let Some((op, id)) = cmp {
                qb.push(" AND COALESCE((");
                sqlite_text(
                    qb,
                    &|qb| {
                        qb.push("m.group_id");
                    },
                    *op,
                    id,
                    false,
                );
                qb.push("), 0)");
            }
            qb.push(")");
        }
    }
}

/// The operand's SQL value (JSON values through `json_extract`, so JSON null is NULL).
fn sqlite_operand(qb: &mut QueryBuilder<Sqlite>, operand: &Operand) {
    match operand {
        Operand::Column(c) => {
            qb.push(c.sql());
        }
        Operand::Json(path) => {
            qb.push("json_extract(t.resource, ");
            qb.push_bind(path.sqlite());
            qb.push(")");
        }
        Operand::Element(None) => {
            qb.push("e.value");
        }
        Operand::Element(Some(key)) => {
            qb.push("json_extract(e.value, ");
            qb.push_bind(format!("$.\"{key}\""));
            qb.push(")");
        }
    }
}

fn sqlite_compare(qb: &mut QueryBuilder<Sqlite>, operand: &Operand, op: Op, value: &Literal, nocase: bool) {
    let sym = op.ordering().unwrap_or("=");
    match value {
        Literal::Bool(b) => {
            // `ne true` means "is false": a missing value matches neither.
            let want = if op == Op::Ne { !*b } else { *b };
            sqlite_operand(qb, operand);
            qb.push(if want { " = 1" } else { " = 0" });
        }
        Literal::Int(i) | Literal::Millis(i) => {
            sqlite_operand(qb, operand);
            qb.push(format!(" {sym} "));
            qb.push_bind(*i);
        }
        Literal::Real(f) => {
            sqlite_operand(qb, operand);
            qb.push(format!(" {sym} "));
            qb.push_bind(*f);
        }
        Literal::Text(s) => sqlite_text(qb, &|qb| sqlite_operand(qb, operand), op, s, nocase),
    }
}

fn sqlite_text(
    qb: &mut QueryBuilder<Sqlite>,
    expr: &dyn Fn(&mut QueryBuilder<Sqlite>),
    op: Op,
    s: &str,
    nocase: bool,
) {
    match (op.ordering(), nocase) {
        (Some(sym), _) => {
            expr(qb);
            qb.push(format!(" {sym} "));
            qb.push_bind(s.to_owned());
            if nocase {
                qb.push(" COLLATE NOCASE");
            }
        }
        // SQLite's LIKE ignores ASCII case, which is what caseExact=false asks.
        (None, true) => {
            expr(qb);
            qb.push(" LIKE ");
            qb.push_bind(like_pattern(op, s));
            qb.push(" ESCAPE '\\'");
        }
        (None, false) => match op {
            Op::Co => {
                qb.push("instr(");
                expr(qb);
                qb.push(", ");
                qb.push_bind(s.to_owned());
                qb.push(") > 0");
            }
            Op::Sw => {
                qb.push("substr(");
                expr(qb);
                qb.push(", 1, ");
                qb.push_bind(s.chars().count() as i64);
                qb.push(") = ");
                qb.push_bind(s.to_owned());
            }
            _ if s.is_empty() => {
                expr(qb);
                qb.push(" IS NOT NULL");
            }
            _ => {
                qb.push("substr(");
                expr(qb);
                qb.push(", -");
                qb.push_bind(s.chars().count() as i64);
                qb.push(") = ");
                qb.push_bind(s.to_owned());
            }
        },
    }
}

fn sqlite_sort_expr(qb: &mut QueryBuilder<Sqlite>, sort: &Sort) {
    match &sort.key {
        SortKey::Column(c) => {
            qb.push(c.sql());
        }
        SortKey::Json(path) => {
            qb.push("json_extract(t.resource, ");
            qb.push_bind(path.sqlite());
            qb.push(")");
        }
        SortKey::FirstElement { path, key } => {
            qb.push("(SELECT json_extract(e.value, ");
            qb.push_bind(format!("$.\"{key}\""));
            qb.push(") FROM json_each(t.resource, ");
            qb.push_bind(path.sqlite());
            qb.push(") AS e ORDER BY json_extract(e.value, '$.primary') DESC, e.key LIMIT 1)");
        }
    }
    if sort.folds() {
        qb.push(" COLLATE NOCASE");
    }
}

/// `ORDER BY …` for a list: missing values last, then the sort key, then creation order.
pub fn sqlite_order_by(qb: &mut QueryBuilder<Sqlite>, sort: Option<&Sort>) {
    qb.push(" ORDER BY ");
    if let Some(sort) = sort {
        if sort.nullable() {
            qb.push("(");
            sqlite_sort_expr(qb, sort);
            qb.push(") IS NULL, ");
        }
        sqlite_sort_expr(qb, sort);
        qb.push(if sort.descending { " DESC, " } else { " ASC, " });
    }
    qb.push("t.created_at, t.id");
}

fn sqlite_bind_key(qb: &mut QueryBuilder<Sqlite>, key: &KeyValue) {
    match key {
        KeyValue::Null => qb.push("NULL"),
        KeyValue::Bool(b) => qb.push_bind(i64::from(*b)),
        KeyValue::Int(i) => qb.push_bind(*i),
        KeyValue::Real(f) => qb.push_bind(*f),
        KeyValue::Text(s) => qb.push_bind(s.clone()),
    };
}

/// Rows after `after` in [`sqlite_order_by`]'s order. Row values keep the (created_at, id)
/// part one index range on `scim_*_by_created`.
pub fn sqlite_after(qb: &mut QueryBuilder<Sqlite>, sort: Option<&Sort>, after: &After) {
    let tie = |qb: &mut QueryBuilder<Sqlite>| {
        qb.push("(t.created_at, t.id) > (");
        qb.push_bind(after.created_at);
        qb.push(", ");
        qb.push_bind(after.id.clone());
        qb.push(")");
    };
    let Some(sort) = sort else {
        tie(qb);
        return;
    };
    qb.push("(");
    if after.key == KeyValue::Null {
        // Past the last row with a key: among the rows without one.
        qb.push("(");
        sqlite_sort_expr(qb, sort);
        qb.push(") IS NULL AND ");
        tie(qb);
    } else {
        if sort.nullable() {
            qb.push("(");
            sqlite_sort_expr(qb, sort);
            qb.push(") IS NULL OR ");
        }
        sqlite_sort_expr(qb, sort);
        qb.push(if sort.descending { " < " } else { " > " });
        sqlite_bind_key(qb, &after.key);
        qb.push(" OR (");
        sqlite_sort_expr(qb, sort);
        qb.push(" = ");
        sqlite_bind_key(qb, &after.key);
        qb.push(" AND ");
        tie(qb);
        qb.push(")");
    }
    qb.push(")");
}

// ---- PostgreSQL --------------------------------------------------------------------------

/// How a PostgreSQL operand is read: as text (`#>>`), or as `jsonb` (`#>`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PgAs {
    Text,
    Json,
}

/// Appends `pred` as a PostgreSQL boolean expression (never NULL).
pub fn postgres_where(qb: &mut QueryBuilder<Postgres>, pred: &Pred) {
    match pred {
        Pred::Const(b) => {
            qb.push(if *b { "TRUE" } else { "FALSE" });
        }
        Pred::Not(inner) => {
            qb.push("NOT (");
            postgres_where(qb, inner);
            qb.push(")");
        }
        Pred::And(items) | Pred::Or(items) => {
            let and = matches!(pred, Pred::And(_));
            qb.push("(");
            for (i, p) in items.iter().enumerate() {
                if i > 0 {
                    qb.push(if and { " AND " } else { " OR " });
                }
                postgres_where(qb, p);
            }
            if items.is_empty() {
                qb.push(if and { "TRUE" } else { "FALSE" });
            }
            qb.push(")");
        }
        Pred::Present(Operand::Column(c)) => {
            qb.push(format!("({} IS NOT NULL)", c.sql()));
        }
        Pred::Present(operand) => {
            qb.push("COALESCE(jsonb_typeof(");
            qb.push(pg_operand(operand, PgAs::Json));
            qb.push(") <> 'null', FALSE)");
        }
        Pred::Compare {
            operand,
            op,
            value,
            nocase,
        } => {
            if let Operand::Column(c) = operand {
                qb.push(format!("({} IS NOT NULL AND ", c.sql()));
                postgres_compare(qb, operand, *op, value, *nocase);
                qb.push(")");
            } else {
                qb.push("COALESCE((");
                postgres_compare(qb, operand, *op, value, *nocase);
                qb.push("), FALSE)");
            }
        }
        Pred::AnyElement { path, pred } => {
            if let Some((key, value)) = indexed_element_eq(pred) {
                // The form of the GIN expression index on emails (migrations/postgres).
                qb.push(format!(
                    "(scim_lower_values(t.resource #> {}, {}) @> ARRAY[",
                    path.postgres(),
                    pg_key(key)
                ));
                qb.push_bind(value.to_ascii_lowercase());
                qb.push("::text])");
                return;
            }
            qb.push(format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements(scim_array(t.resource #> {})) AS e(value) WHERE ",
                path.postgres()
            ));
            postgres_where(qb, pred);
            qb.push(")");
        }
        Pred::InGroup(cmp) => {
            qb.push("EXISTS (SELECT 1 FROM scim_group_members m WHERE m.member_id = t.id");
            if let Some((op, id)) = cmp {
                qb.push(" AND COALESCE((");
                postgres_text(qb, "m.group_id", *op, id, false);
                qb.push("), FALSE)");
            }
            qb.push(")");
        }
    }
}

/// `key eq "v"` on a caseExact=false string key: answerable from `scim_lower_values`.
fn indexed_element_eq(pred: &Pred) -> Option<(&'static str, &str)> {
    match pred {
        Pred::Compare {
            operand: Operand::Element(Some(key)),
            op: Op::Eq,
            value: Literal::Text(v),
            nocase: true,
        } => Some((key, v)),
        _ => None,
    }
}

fn pg_operand(operand: &Operand, how: PgAs) -> String {
    let arrow = if how == PgAs::Text { ">>" } else { ">" };
    match operand {
        Operand::Column(c) => c.sql().to_owned(),
        Operand::Json(path) => format!("(t.resource #{arrow} {})", path.postgres()),
        Operand::Element(None) if how == PgAs::Text => "(e.value #>> '{}')".to_owned(),
        Operand::Element(None) => "e.value".to_owned(),
        Operand::Element(Some(key)) => format!("(e.value -{arrow} {})", pg_key(key)),
    }
}

fn postgres_compare(
    qb: &mut QueryBuilder<Postgres>,
    operand: &Operand,
    op: Op,
    value: &Literal,
    nocase: bool,
) {
    let sym = op.ordering().unwrap_or("=");
    let column = matches!(operand, Operand::Column(_));
    match value {
        Literal::Bool(b) => {
            let want = if op == Op::Ne { !*b } else { *b };
            if column {
                qb.push(format!("{} = {}", pg_operand(operand, PgAs::Text), want));
            } else {
                qb.push(format!("{} = '{}'::jsonb", pg_operand(operand, PgAs::Json), want));
            }
        }
        Literal::Int(_) | Literal::Real(_) | Literal::Millis(_) => {
            if column {
                qb.push(format!("{} {sym} ", pg_operand(operand, PgAs::Text)));
            } else {
                let j = pg_operand(operand, PgAs::Json);
                qb.push(format!(
                    "(CASE WHEN jsonb_typeof({j}) = 'number' THEN ({j})::numeric END) {sym} "
                ));
            }
            match value {
                Literal::Real(f) => qb.push_bind(*f),
                Literal::Int(i) | Literal::Millis(i) => qb.push_bind(*i),
                _ => unreachable!("numeric literal"),
            };
        }
        Literal::Text(s) => {
            let expr = if column {
                pg_operand(operand, PgAs::Text)
            } else {
                // Only a JSON string compares with a string, as on SQLite.
                let j = pg_operand(operand, PgAs::Json);
                format!(
                    "(CASE WHEN jsonb_typeof({j}) = 'string' THEN {} END)",
                    pg_operand(operand, PgAs::Text)
                )
            };
            postgres_text(qb, &expr, op, s, nocase);
        }
    }
}

fn postgres_text(qb: &mut QueryBuilder<Postgres>, expr: &str, op: Op, s: &str, nocase: bool) {
    match (op, nocase) {
        // Equality is the same under every deterministic collation; leaving the column bare
        // keeps its index usable (userName eq → the unique key).
        (Op::Eq | Op::Ne, false) => {
            qb.push(format!("{expr} {} ", op.ordering().unwrap_or("=")));
            qb.push_bind(s.to_owned());
        }
        (Op::Gt | Op::Ge | Op::Lt | Op::Le, false) => {
            qb.push(format!(
                "({expr}) COLLATE \"C\" {} ",
                op.ordering().unwrap_or("=")
            ));
            qb.push_bind(s.to_owned());
        }
        (Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le, true) => {
            qb.push(format!(
                "lower(({expr}) COLLATE \"C\") {} ",
                op.ordering().unwrap_or("=")
            ));
            qb.push_bind(s.to_ascii_lowercase());
        }
        (Op::Co | Op::Sw | Op::Ew, true) => {
            qb.push(format!("lower(({expr}) COLLATE \"C\") LIKE "));
            qb.push_bind(like_pattern(op, &s.to_ascii_lowercase()));
            qb.push(" ESCAPE '\\'");
        }
        (Op::Co, false) => {
            qb.push(format!("strpos({expr}, "));
            qb.push_bind(s.to_owned());
            qb.push(") > 0");
        }
        (Op::Sw, false) => {
            qb.push(format!("starts_with({expr}, "));
            qb.push_bind(s.to_owned());
            qb.push(")");
        }
        (Op::Ew, false) if s.is_empty() => {
            qb.push(format!("{expr} IS NOT NULL"));
        }
        (Op::Ew, false) => {
            qb.push(format!("right({expr}, "));
            qb.push_bind(i32::try_from(s.chars().count()).unwrap_or(i32::MAX));
            qb.push(") = ");
            qb.push_bind(s.to_owned());
        }
    }
}

fn postgres_sort_expr(sort: &Sort) -> String {
    let (expr, text) = match &sort.key {
        SortKey::Column(c @ (Column::Active | Column::CreatedAt | Column::UpdatedAt)) => {
            (c.sql().to_owned(), false)
        }
        SortKey::Column(c) => (c.sql().to_owned(), true),
        SortKey::Json(path) => {
            let j = format!("(t.resource #> {})", path.postgres());
            // Numbers sort as numbers, as SQLite's json_extract does.
            (
                format!(
                    "(CASE WHEN jsonb_typeof({j}) = 'number' THEN NULL ELSE (t.resource #>> {}) END)",
                    path.postgres()
                ),
                true,
            )
        }
        SortKey::FirstElement { path, key } => (
            format!(
                "(SELECT e.value ->> {} FROM jsonb_array_elements(scim_array(t.resource #> {})) \
                 WITH ORDINALITY AS e(value, n) \
                 ORDER BY (e.value -> 'primary') = 'true'::jsonb DESC NULLS LAST, e.n LIMIT 1)",
                pg_key(key),
                path.postgres()
            ),
            true,
        ),
    };
    match (text, sort.folds()) {
        (false, _) => expr,
        (true, true) => format!("lower(({expr}) COLLATE \"C\")"),
        (true, false) => format!("(({expr}) COLLATE \"C\")"),
    }
}

/// `ORDER BY …` for a list: missing values last, then the sort key, then creation order.
pub fn postgres_order_by(qb: &mut QueryBuilder<Postgres>, sort: Option<&Sort>) {
    qb.push(" ORDER BY ");
    if let Some(sort) = sort {
        let expr = postgres_sort_expr(sort);
        if sort.nullable() {
            qb.push(format!("({expr}) IS NULL, "));
        }
        qb.push(format!(
            "{expr} {}, ",
            if sort.descending { "DESC" } else { "ASC" }
        ));
    }
    qb.push("t.created_at, t.id");
}

/// Binds `key` as the type the sort expression has on PostgreSQL: boolean (active), bigint
/// (meta timestamps), else text.
fn postgres_bind_key(qb: &mut QueryBuilder<Postgres>, sort: &Sort, key: &KeyValue) {
    match (&sort.key, key) {
        (_, KeyValue::Null) => {
            qb.push("NULL");
        }
        (SortKey::Column(Column::Active), KeyValue::Bool(b)) => {
            qb.push_bind(*b);
        }
        (SortKey::Column(Column::Active), KeyValue::Int(i)) => {
            qb.push_bind(*i != 0);
        }
        (SortKey::Column(Column::CreatedAt | Column::UpdatedAt), KeyValue::Int(i)) => {
            qb.push_bind(*i);
        }
        (_, KeyValue::Text(s)) => {
            qb.push_bind(s.clone());
        }
        (_, KeyValue::Int(i)) => {
            qb.push_bind(i.to_string());
        }
        (_, KeyValue::Real(f)) => {
            qb.push_bind(f.to_string());
        }
        (_, KeyValue::Bool(b)) => {
            qb.push_bind(b.to_string());
        }
    }
}

/// Rows after `after` in [`postgres_order_by`]'s order.
pub fn postgres_after(qb: &mut QueryBuilder<Postgres>, sort: Option<&Sort>, after: &After) {
    let tie = |qb: &mut QueryBuilder<Postgres>| {
        qb.push("(t.created_at, t.id) > (");
        qb.push_bind(after.created_at);
        qb.push(", ");
        qb.push_bind(after.id.clone());
        qb.push(")");
    };
    let Some(sort) = sort else {
        tie(qb);
        return;
    };
    let expr = postgres_sort_expr(sort);
    qb.push("(");
    if after.key == KeyValue::Null {
        qb.push(format!("({expr}) IS NULL AND "));
        tie(qb);
    } else {
        if sort.nullable() {
            qb.push(format!("({expr}) IS NULL OR "));
        }
        qb.push(format!("{expr} {} ", if sort.descending { "<" } else { ">" }));
        postgres_bind_key(qb, sort, &after.key);
        qb.push(format!(" OR ({expr} = "));
        postgres_bind_key(qb, sort, &after.key);
        qb.push(" AND ");
        tie(qb);
        qb.push(")");
    }
    qb.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_name_eq(v: &str) -> Pred {
        Pred::Compare {
            operand: Operand::Column(Column::UserNameKey),
            op: Op::Eq,
            value: Literal::Text(v.to_owned()),
            nocase: false,
        }
    }

    #[test]
    fn a_key_column_compares_bare_so_its_index_is_usable() {
        let mut qb = QueryBuilder::<Sqlite>::new("");
        sqlite_where(&mut qb, &user_name_eq("ann@example.com"));
        assert_eq!(
            qb.sql().as_str(),
            "(t.user_name_key IS NOT NULL AND t.user_name_key = ?)"
        );
        let mut qb = QueryBuilder::<Postgres>::new("");
        postgres_where(&mut qb, &user_name_eq("ann@example.com"));
        assert_eq!(
            qb.sql().as_str(),
            "(t.user_name_key IS NOT NULL AND t.user_name_key = $1)"
        );
    }

    #[test]
    fn values_never_reach_the_sql_text() {
        let hostile = "x' OR 1=1 -- %_\\";
        let pred = Pred::Or(vec![
            Pred::Compare {
                operand: Operand::Json(JsonPath(vec!["title"])),
                op: Op::Co,
                value: Literal::Text(hostile.into()),
                nocase: true,
            },
            Pred::AnyElement {
                path: JsonPath(vec!["emails"]),
                pred: Box::new(Pred::Compare {
                    operand: Operand::Element(Some("value")),
                    op: Op::Eq,
                    value: Literal::Text(hostile.into()),
                    nocase: true,
                }),
            },
            Pred::InGroup(Some((Op::Ew, hostile.into()))),
        ]);
        let mut qb = QueryBuilder::<Sqlite>::new("");
        sqlite_where(&mut qb, &pred);
        assert!(!qb.sql().as_str().contains("OR 1=1"), "{}", qb.sql().as_str());
        let mut qb = QueryBuilder::<Postgres>::new("");
        postgres_where(&mut qb, &pred);
        assert!(!qb.sql().as_str().contains("OR 1=1"), "{}", qb.sql().as_str());
    }

    #[test]
    fn emails_eq_uses_the_indexed_expression_on_postgres() {
        let pred = Pred::AnyElement {
            path: JsonPath(vec!["emails"]),
            pred: Box::new(Pred::Compare {
                operand: Operand::Element(Some("value")),
                op: Op::Eq,
                value: Literal::Text("A@x".into()),
                nocase: true,
            }),
        };
        let mut qb = QueryBuilder::<Postgres>::new("");
        postgres_where(&mut qb, &pred);
        assert_eq!(
            qb.sql().as_str(),
            "(scim_lower_values(t.resource #> '{\"emails\"}'::text[], 'value') @> ARRAY[$1::text])"
        );
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(Op::Co, "50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern(Op::Sw, "a"), "a%");
        assert_eq!(like_pattern(Op::Ew, "a"), "%a");
    }
}
