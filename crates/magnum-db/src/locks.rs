//! Per-object action locks: transaction-level PostgreSQL advisory locks keyed by an object's
//! uuid, so two actions never run on one container or one Kubernetes object at once, whichever
//! conductor serves them. A lock ends with its transaction: on commit, on rollback, and when the
//! transaction is dropped (a cancelled request or a dead conductor), so it can never leak.

use crate::Error;
use sqlx::PgConnection;
use uuid::Uuid;

fn key(uuid: Uuid) -> i64 {
    let (high, _) = uuid.as_u64_pair();
    i64::from_be_bytes(high.to_be_bytes())
}

/// Claims the action lock of `uuid` until the end of the transaction `tx` is in
/// (`pg_try_advisory_xact_lock`). `Ok(false)`: another action holds it.
pub async fn try_lock(tx: &mut PgConnection, uuid: Uuid) -> Result<bool, Error> {
    Ok(sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock($1) AS "locked!""#,
        key(uuid)
    )
    .fetch_one(tx)
    .await?)
}

/// Waits for the action lock of `uuid`, held until the end of the transaction `tx` is in
/// (`pg_advisory_xact_lock`): for short actions that should queue rather than fail.
pub async fn lock(tx: &mut PgConnection, uuid: Uuid) -> Result<(), Error> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", key(uuid))
        .execute(tx)
        .await?;
    Ok(())
}
