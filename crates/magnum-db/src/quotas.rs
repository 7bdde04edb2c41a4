//! The `quota` table.

use crate::Error;
use sqlx::PgConnection;

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
