//! Keyset paging with any scalar sort column: `id` is always the secondary key, and NULLs sort
//! last ascending and first descending, so a marker row is a stable cursor whatever the column.

use sqlx::{Postgres, QueryBuilder};

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// At most this many rows.
    pub limit: i64,
    /// Database id of the row the page starts after.
    pub after_id: Option<i64>,
    /// Sort column, already checked against the table's sortable columns.
    pub sort_key: &'static str,
    /// Descending order.
    pub descending: bool,
}

/// Appends the marker condition (after `WHERE …`, starting with `AND`), `ORDER BY` and `LIMIT`
/// for rows aliased `t` of `table`.
pub(crate) fn push_page(qb: &mut QueryBuilder<Postgres>, table: &str, page: &Page) {
    let col = page.sort_key;
    if let Some(marker) = page.after_id {
        let m = format!("(SELECT {col} FROM {table} WHERE id = ");
        qb.push(" AND (");
        if page.descending {
            // Order: NULLs first, then values high to low; ids high to low within a value.
            qb.push(format!("({m}"))
                .push_bind(marker)
                .push(format!(") IS NULL AND (t.{col} IS NOT NULL OR t.id < "));
            qb.push_bind(marker).push(")) OR (");
            qb.push(format!("t.{col} < {m}"))
                .push_bind(marker)
                .push(")");
            qb.push(format!(" OR (t.{col} = {m}"))
                .push_bind(marker)
                .push(") AND t.id < ")
                .push_bind(marker)
                .push("))");
        } else {
            // Order: values low to high, then NULLs; ids low to high within a value.
            qb.push(format!("({m}"))
                .push_bind(marker)
                .push(format!(") IS NULL AND t.{col} IS NULL AND t.id > "));
            qb.push_bind(marker).push(") OR (");
            qb.push(format!("({m}")).push_bind(marker).push(format!(
                ") IS NOT NULL AND (t.{col} IS NULL OR t.{col} > {m}"
            ));
            qb.push_bind(marker)
                .push(format!(") OR (t.{col} = {m}"))
                .push_bind(marker)
                .push(") AND t.id > ")
                .push_bind(marker)
                .push(")))");
        }
        qb.push(")");
    }
    let (dir, nulls) = if page.descending {
        ("DESC", "NULLS FIRST")
    } else {
        ("ASC", "NULLS LAST")
    };
    qb.push(format!(
        " ORDER BY t.{col} {dir} {nulls}, t.id {dir} LIMIT "
    ));
    qb.push_bind(page.limit);
}
