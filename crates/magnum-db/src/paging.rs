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
    if col == "id" {
        // The default order: ids are unique and never NULL, so the cursor is a plain range
        // the primary key serves, not a scan from the first row (doc/benchmarks.md).
        let (cmp, dir) = if page.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(marker) = page.after_id {
            qb.push(format!(" AND t.id {cmp} ")).push_bind(marker);
        }
        qb.push(format!(" ORDER BY t.id {dir} LIMIT "));
        qb.push_bind(page.limit);
        return;
    }
    if let Some(marker) = page.after_id {
        // `m` is the marker row's sort value, `t` the candidate row's.
        let m = |qb: &mut QueryBuilder<Postgres>| {
            qb.push(format!("(SELECT {col} FROM {table} WHERE id = "));
            qb.push_bind(marker);
            qb.push(")");
        };
        qb.push(" AND (");
        if page.descending {
            // Order: NULLs first, then values high to low; ids high to low within a value.
            // After a NULL marker: later NULLs (lower ids) and every value.
            m(qb);
            qb.push(format!(" IS NULL AND (t.{col} IS NOT NULL OR t.id < "));
            qb.push_bind(marker);
            // After a valued marker: lower values, or the same value with a lower id.
            qb.push(format!(") OR t.{col} < "));
            m(qb);
            qb.push(format!(" OR (t.{col} = "));
            m(qb);
            qb.push(" AND t.id < ");
            qb.push_bind(marker);
            qb.push(")");
        } else {
            // Order: values low to high, then NULLs; ids low to high within a value.
            // After a NULL marker: later NULLs (higher ids) only.
            qb.push("(");
            m(qb);
            qb.push(format!(" IS NULL AND t.{col} IS NULL AND t.id > "));
            qb.push_bind(marker);
            // After a valued marker: higher values, every NULL, or the same value, higher id.
            qb.push(") OR (");
            m(qb);
            qb.push(format!(" IS NOT NULL AND (t.{col} IS NULL OR t.{col} > "));
            m(qb);
            qb.push(format!(" OR (t.{col} = "));
            m(qb);
            qb.push(" AND t.id > ");
            qb.push_bind(marker);
            qb.push(")))");
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
