//! The `magnum_service` table: conductor heartbeats (spec/rpc.md §8.4).

use crate::Error;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use std::collections::BTreeMap;

/// One conductor's row.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// Database id.
    pub id: i64,
    /// Random per-process server name.
    pub server_name: String,
    /// `[DEFAULT] host`.
    pub host: String,
    /// `magnum-conductor`.
    pub binary: String,
    /// Administratively disabled.
    pub disabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Marked down by an operator.
    pub forced_down: bool,
    /// Last heartbeat.
    pub last_seen_up: Option<DateTime<Utc>>,
    /// Heartbeats so far.
    pub report_count: i32,
    /// Highest RPC API version served.
    pub rpc_api_max: String,
    /// Object versions served.
    pub object_versions: BTreeMap<String, String>,
    /// When the row was made.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether its heartbeat is within `service_down_time` of the database's clock.
    pub up: bool,
}

/// Records a heartbeat, creating the row on the first one.
pub async fn heartbeat(
    conn: &mut PgConnection,
    server_name: &str,
    host: &str,
    binary: &str,
    rpc_api_max: &str,
    object_versions: &BTreeMap<String, String>,
) -> Result<(), Error> {
    sqlx::query!(
        r#"INSERT INTO magnum_service (server_name, host, "binary", rpc_api_max, object_versions,
               last_seen_up, report_count)
           VALUES ($1, $2, $3, $4, $5, now(), 1)
           ON CONFLICT (server_name) DO UPDATE SET
               last_seen_up = now(), report_count = magnum_service.report_count + 1,
               rpc_api_max = EXCLUDED.rpc_api_max, object_versions = EXCLUDED.object_versions,
               updated_at = now()"#,
        server_name,
        host,
        binary,
        rpc_api_max,
        Json(object_versions) as _,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every service row, with `up` computed against `down_after_secs` by the database's clock.
pub async fn list(conn: &mut PgConnection, down_after_secs: i64) -> Result<Vec<ServiceRow>, Error> {
    let rows = sqlx::query!(
        r#"SELECT id, server_name, host, "binary", disabled, disabled_reason, forced_down,
               last_seen_up, report_count, rpc_api_max,
               object_versions AS "object_versions: Json<BTreeMap<String, String>>",
               created_at, updated_at,
               (NOT forced_down AND COALESCE(last_seen_up, updated_at, created_at)
                   > now() - make_interval(secs => $1)) AS "up!"
           FROM magnum_service ORDER BY id"#,
        down_after_secs as f64,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ServiceRow {
            id: r.id,
            server_name: r.server_name,
            host: r.host,
            binary: r.binary,
            disabled: r.disabled,
            disabled_reason: r.disabled_reason,
            forced_down: r.forced_down,
            last_seen_up: r.last_seen_up,
            report_count: r.report_count,
            rpc_api_max: r.rpc_api_max,
            object_versions: r.object_versions.0,
            created_at: r.created_at,
            updated_at: r.updated_at,
            up: r.up,
        })
        .collect())
}

/// Removes a server's row (clean exit).
pub async fn remove(conn: &mut PgConnection, server_name: &str) -> Result<(), Error> {
    sqlx::query!(
        "DELETE FROM magnum_service WHERE server_name = $1",
        server_name
    )
    .execute(conn)
    .await?;
    Ok(())
}
