//! The `rpc_dedupe` table: `_unique_id`s of messages whose effect must happen once across every
//! conductor (spec/rpc.md §8.2, `container_exec`), kept for a day.

use crate::Error;
use sqlx::PgConnection;

/// Records `unique_id` for `method`; `false` when it was recorded before (a redelivered copy,
/// perhaps to another conductor), so the caller must not act again.
pub async fn claim(conn: &mut PgConnection, unique_id: &str, method: &str) -> Result<bool, Error> {
    let done = sqlx::query!(
        "INSERT INTO rpc_dedupe (unique_id, method) VALUES ($1, $2) \
         ON CONFLICT (unique_id) DO NOTHING",
        unique_id,
        method
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets ids recorded more than `hours` ago; returns how many.
pub async fn purge(conn: &mut PgConnection, hours: i32) -> Result<u64, Error> {
    let done = sqlx::query!(
        "DELETE FROM rpc_dedupe WHERE created_at < now() - make_interval(hours => $1)",
        hours
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
