//! The `quota` table.

use crate::paging::{Page, push_page};
use crate::{Error, Scope};
use chrono::{DateTime, Utc};
use magnum_core::quota::Quota;
use sqlx::{PgConnection, QueryBuilder};

pub use magnum_core::quota::SORT_KEYS;

#[derive(Debug, sqlx::FromRow)]
struct QuotaRow {
    id: i64,
    project_id: String,
    resource: String,
    hard_limit: i32,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<QuotaRow> for Quota {
    fn from(r: QuotaRow) -> Self {
        Quota {
            id: Some(r.id),
            project_id: r.project_id,
            resource: r.resource,
            hard_limit: r.hard_limit,
            created_at: Some(r.created_at),
            updated_at: r.updated_at,
        }
    }
}

/// A project's hard limit on `resource`, if a quota row sets one.
pub async fn hard_limit(
    conn: &mut PgConnection,
    project_id: &str,
    resource: &str,
) -> Result<Option<i32>, Error> {
    Ok(sqlx::query_scalar!(
        "SELECT hard_limit FROM quota WHERE project_id = $1 AND resource = $2",
        project_id,
        resource
    )
    .fetch_optional(conn)
    .await?)
}

/// The stored quota of a project on `resource`.
pub async fn find(
    conn: &mut PgConnection,
    project_id: &str,
    resource: &str,
) -> Result<Option<Quota>, Error> {
    let row = sqlx::query_as!(
        QuotaRow,
        "SELECT id, project_id, resource, hard_limit, created_at, updated_at FROM quota
         WHERE project_id = $1 AND resource = $2",
        project_id,
        resource
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// A page of stored quotas in scope.
pub async fn list(
    conn: &mut PgConnection,
    scope: &Scope,
    page: &Page,
) -> Result<Vec<Quota>, Error> {
    let mut qb = QueryBuilder::new(
        "SELECT t.id, t.project_id, t.resource, t.hard_limit, t.created_at, t.updated_at \
         FROM quota t WHERE true",
    );
    if let Some(project) = &scope.project_id {
        qb.push(" AND t.project_id = ").push_bind(project.clone());
    }
    push_page(&mut qb, "quota", page);
    let rows: Vec<QuotaRow> = qb.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Stores a quota; one for the same project and resource is [`Error::Duplicate`].
pub async fn insert(conn: &mut PgConnection, q: &Quota) -> Result<Quota, Error> {
    let row = sqlx::query_as!(
        QuotaRow,
        "INSERT INTO quota (project_id, resource, hard_limit) VALUES ($1, $2, $3)
         RETURNING id, project_id, resource, hard_limit, created_at, updated_at",
        q.project_id,
        q.resource,
        q.hard_limit
    )
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Changes a stored quota's limit; `None` when there is none.
pub async fn set_limit(
    conn: &mut PgConnection,
    project_id: &str,
    resource: &str,
    hard_limit: i32,
) -> Result<Option<Quota>, Error> {
    let row = sqlx::query_as!(
        QuotaRow,
        "UPDATE quota SET hard_limit = $3, updated_at = now()
         WHERE project_id = $1 AND resource = $2
         RETURNING id, project_id, resource, hard_limit, created_at, updated_at",
        project_id,
        resource,
        hard_limit
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Removes a stored quota; `false` when there was none.
pub async fn delete(
    conn: &mut PgConnection,
    project_id: &str,
    resource: &str,
) -> Result<bool, Error> {
    let done = sqlx::query!(
        "DELETE FROM quota WHERE project_id = $1 AND resource = $2",
        project_id,
        resource
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
