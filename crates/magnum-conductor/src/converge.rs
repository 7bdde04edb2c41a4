//! Bay work: makes the backend match a bay's recorded operation, under a lease that fences every
//! write (spec/rpc.md §8.3). Any conductor may run it; a dead one's work is resumed by another
//! conductor's reconciler once its lease expires, and driver calls are idempotent.

use crate::Conductor;
use crate::backends::Backend;
use chrono::Utc;
use magnum_core::bay::{Bay, BayOp, BayStatus};
use magnum_db::bays::{self, Outcome};
use magnum_db::nodes::{self, Mirrored};
use magnum_db::{Scope, baymodels};
use magnum_drivers::{BayTarget, DriverError, Observed};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// First pause between attempts against an unreachable backend; doubles up to 30 s.
const FIRST_RETRY: Duration = Duration::from_millis(500);

/// Claims operation `op_id` of a bay and runs it in the background; does nothing if another
/// conductor holds it or it is no longer current.
pub(crate) fn start(c: &Arc<Conductor>, bay: Uuid, op: BayOp, op_id: Uuid) {
    let c = Arc::clone(c);
    let tracker = c.work.clone();
    tracker.spawn(async move {
        if let Err(e) = claim_and_run(&c, bay, op, op_id).await {
            tracing::warn!(bay.uuid = %bay, op = op.as_str(), error = %e, "bay work stopped");
        }
    });
}

async fn claim_and_run(
    c: &Arc<Conductor>,
    bay: Uuid,
    op: BayOp,
    op_id: Uuid,
) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    if !bays::claim(&mut conn, bay, op_id, c.server_name(), c.lease).await? {
        return Ok(());
    }
    drop(conn);
    let span = tracing::info_span!("bay_work", bay.uuid = %bay, op = op.as_str());
    let _ = tracing::Instrument::instrument(async {
        tracing::info!("working");
        // The work stops at the first of: done, lease lost, shutdown.
        tokio::select! {
            result = run(c, bay, op, op_id) => result,
            () = hold_lease(c, bay, op_id) => {
                tracing::warn!("lease lost: another conductor took over or the operation was superseded");
                Ok(())
            }
            () = c.shutdown.cancelled() => {
                // Hand the work back at once rather than after the lease runs out.
                if let Ok(mut conn) = c.pool.acquire().await {
                    let _ = bays::release(&mut conn, c.server_name()).await;
                }
                Ok(())
            }
        }
    }, span)
    .await;
    Ok(())
}

/// Renews the lease every third of its length; returns when it is lost.
async fn hold_lease(c: &Conductor, bay: Uuid, op_id: Uuid) {
    let mut ticks = tokio::time::interval(c.lease / 3);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let renewed = match c.pool.acquire().await {
            Ok(mut conn) => bays::renew(&mut conn, bay, op_id, c.server_name(), c.lease).await,
            Err(e) => Err(e.into()),
        };
        match renewed {
            Ok(true) => {}
            Ok(false) => return,
            // The database is away: keep working; if it stays away the lease runs out and the
            // fenced writes at the end fail, so nothing is written twice.
            Err(e) => tracing::warn!(error = %e, "cannot renew the lease"),
        }
    }
}

/// What the driver is asked to make of `bay`.
pub(crate) fn target(bay: &Bay, nodes_to_remove: Vec<String>) -> BayTarget {
    BayTarget {
        uuid: bay.uuid,
        project_id: bay.project_id.clone(),
        name: bay.name.clone(),
        node_count: u32::try_from(bay.node_count).unwrap_or(0),
        labels: bay.labels.clone(),
        nodes_to_remove,
    }
}

async fn run(c: &Conductor, uuid: Uuid, op: BayOp, op_id: Uuid) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    let Some(bay) = bays::find(&mut conn, &Scope::all(), bays::Key::Uuid(uuid))
        .await?
        .pop()
    else {
        return Ok(());
    };
    let args = bays::op_args(&mut conn, uuid, op_id)
        .await?
        .unwrap_or_default();
    let removals: Vec<String> = args
        .get("nodes_to_remove")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let model = baymodels::find(
        &mut conn,
        &Scope::all(),
        baymodels::Key::Uuid(bay.baymodel_id),
    )
    .await?
    .pop();
    drop(conn);
    let backend = match model.map(|m| c.backends.for_coe(m.coe)) {
        Some(Ok(backend)) => backend,
        Some(Err(e)) => return fail(c, &bay, op, op_id, &e.to_string()).await,
        None if op == BayOp::Delete => return forget(c, &bay, op_id).await,
        None => return fail(c, &bay, op, op_id, "The bay's baymodel no longer exists.").await,
    };
    let target = target(&bay, removals);
    let deadline = match op {
        BayOp::Create => bay.create_deadline(c.bay.create_timeout),
        _ => Some(Utc::now() + chrono::Duration::minutes(c.bay.operation_timeout)),
    };
    let mut pause = FIRST_RETRY;
    loop {
        let attempt = match op {
            BayOp::Delete => backend.delete(&target).await.map(|()| None),
            _ => backend.ensure(&target).await.map(Some),
        };
        match attempt {
            Ok(Some(seen)) => return complete(c, &bay, backend, &target, op, op_id, &seen).await,
            Ok(None) => return forget(c, &bay, op_id).await,
            Err(DriverError::Unreachable(why)) if deadline.is_none_or(|d| Utc::now() < d) => {
                tracing::info!(%why, "backend unreachable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                return fail_with_rollback(c, &bay, backend, &target, op, op_id, &e.to_string())
                    .await;
            }
        }
    }
}

fn mirrored(seen: &Observed) -> Vec<Mirrored> {
    seen.nodes
        .iter()
        .map(|n| Mirrored {
            backend_id: n.backend_id.clone(),
            name: n.name.clone(),
            addresses: n.addresses.clone(),
            status: n.status.as_str().to_owned(),
            info: n.info.clone(),
        })
        .collect()
}

async fn complete(
    c: &Conductor,
    bay: &Bay,
    backend: Backend<'_>,
    target: &BayTarget,
    op: BayOp,
    op_id: Uuid,
    seen: &Observed,
) -> Result<(), magnum_db::Error> {
    let outcome = Outcome {
        stack_id: backend.stack_id(target, seen),
        // Docker bays are reached through the client proxy when it is on (specs/0005).
        api_address: match (backend, c.backends.docker_access()) {
            (Backend::Docker(_), Some(access)) if seen.api_address.is_some() => {
                Some(access.api_address.clone())
            }
            _ => seen.api_address.clone(),
        },
        node_addresses: seen
            .nodes
            .iter()
            .flat_map(|n| n.addresses.clone())
            .collect(),
        coe_version: seen.coe_version.clone(),
        container_version: seen.container_version.clone(),
    };
    let mut tx = c.pool.begin().await?;
    nodes::mirror(
        &mut tx,
        bay.uuid,
        &bay.project_id,
        &bay.user_id,
        backend.node_type(),
        &mirrored(seen),
    )
    .await?;
    if bays::finish(
        &mut tx,
        bay.uuid,
        op_id,
        c.server_name(),
        op.complete(),
        None,
        Some(&outcome),
    )
    .await?
    {
        tx.commit().await?;
        tracing::info!(
            status = op.complete().as_str(),
            nodes = seen.nodes.len(),
            "bay work done"
        );
    }
    Ok(())
}

async fn fail(
    c: &Conductor,
    bay: &Bay,
    op: BayOp,
    op_id: Uuid,
    reason: &str,
) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    if bays::finish(
        &mut conn,
        bay.uuid,
        op_id,
        c.server_name(),
        op.failed(),
        Some(reason),
        None,
    )
    .await?
    {
        tracing::warn!(status = op.failed().as_str(), %reason, "bay work failed");
    }
    Ok(())
}

/// Fails the operation; a rolled-back update first scales back to the old count.
async fn fail_with_rollback(
    c: &Conductor,
    bay: &Bay,
    backend: Backend<'_>,
    target: &BayTarget,
    op: BayOp,
    op_id: Uuid,
    reason: &str,
) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    if let Some(old) = bays::rollback_count(&mut conn, bay.uuid, op_id).await? {
        let restored = BayTarget {
            node_count: u32::try_from(old).unwrap_or(0),
            ..target.clone()
        };
        if let Err(e) = backend.ensure(&restored).await {
            tracing::warn!(error = %e, "rollback could not restore the old node count");
        }
        bays::set_node_count(&mut conn, bay.uuid, op_id, c.server_name(), old).await?;
    }
    drop(conn);
    fail(c, bay, op, op_id, reason).await
}

/// Removes a deleted bay's row.
async fn forget(c: &Conductor, bay: &Bay, op_id: Uuid) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    if bays::remove(&mut conn, bay.uuid, op_id, c.server_name()).await? {
        tracing::info!(status = BayStatus::DeleteComplete.as_str(), "bay deleted");
    }
    Ok(())
}
