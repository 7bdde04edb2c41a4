//! Looking one object up by id, uuid or name, the same way in every table.

use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// What to look an object up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key<'a> {
    /// Database id.
    Id(i64),
    /// Public uuid.
    Uuid(Uuid),
    /// Name: unique only within a project (or a bay), so it may match several visible rows.
    Name(&'a str),
}

/// Appends the condition on row `t` for `key`, starting with `AND`.
pub(crate) fn push_condition(qb: &mut QueryBuilder<Postgres>, key: &Key<'_>) {
    match key {
        Key::Id(id) => qb.push(" AND t.id = ").push_bind(*id),
        Key::Uuid(uuid) => qb.push(" AND t.uuid = ").push_bind(*uuid),
        Key::Name(name) => qb.push(" AND t.name = ").push_bind((*name).to_owned()),
    };
}

/// [`push_condition`], then for a name the id order of its matches, then `LIMIT 2`: enough to
/// tell one match from an ambiguous name.
///
/// Id and uuid are unique, so they get no `ORDER BY`: with statistics taken while the table was
/// small, one let the planner walk the primary key instead of the uuid index
/// (doc/benchmarks.md).
pub(crate) fn push_key_limit_2(qb: &mut QueryBuilder<Postgres>, key: &Key<'_>) {
    push_condition(qb, key);
    if let Key::Name(_) = key {
        qb.push(" ORDER BY t.id");
    }
    qb.push(" LIMIT 2");
}
