//! Bay work: makes the backend match a bay's recorded operation, under a lease that fences every
//! write (spec/rpc.md §8.3). Any conductor may run it; a dead one's work is resumed by another
//! conductor's reconciler once its lease expires, and driver calls are idempotent.

use crate::Conductor;
use crate::backends::Backend;
use chrono::Utc;
use magnum_core::bay::{Bay, BayOp, BayStatus};
use magnum_db::bays::{self, Outcome};
use magnum_db::nodes::{self, Mirrored};
use magnum_db::{Scope, baymodels, nodegroups};
use magnum_drivers::{BayTarget, DEFAULT_WORKER, DriverError, GroupTarget, Observed};
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

/// What a bay's backend must hold: its default workers, and each stored group that holds
/// nodes (a failed create holds none; a group being deleted gives its nodes back).
pub(crate) async fn target(
    conn: &mut sqlx::PgConnection,
    bay: &Bay,
    nodes_to_remove: Vec<String>,
) -> Result<BayTarget, magnum_db::Error> {
    let groups = nodegroups::of_bay(conn, bay.uuid)
        .await?
        .into_iter()
        .filter(|g| {
            !matches!(
                g.status,
                BayStatus::CreateFailed | BayStatus::DeleteInProgress | BayStatus::DeleteFailed
            )
        })
        .map(|g| GroupTarget {
            name: g.name,
            node_count: u32::try_from(g.node_count).unwrap_or(0),
            labels: g.labels,
        })
        .collect();
    Ok(BayTarget {
        uuid: bay.uuid,
        project_id: bay.project_id.clone(),
        name: bay.name.clone(),
        node_count: u32::try_from(bay.node_count).unwrap_or(0),
        labels: bay.labels.clone(),
        nodes_to_remove,
        groups,
    })
}

/// The stored group a nodegroup operation works on, and the count it held before (updates).
#[derive(Debug, Clone, Copy)]
struct GroupWork {
    uuid: Uuid,
    previous: Option<i32>,
}

fn group_work(op: BayOp, args: &serde_json::Value) -> Option<GroupWork> {
    if !matches!(
        op,
        BayOp::NodegroupCreate | BayOp::NodegroupUpdate | BayOp::NodegroupDelete
    ) {
        return None;
    }
    let uuid = args
        .get("nodegroup")
        .and_then(serde_json::Value::as_str)
        .and_then(|u| Uuid::try_parse(u).ok())?;
    let previous = args
        .get("previous")
        .and_then(serde_json::Value::as_i64)
        .and_then(|n| i32::try_from(n).ok());
    Some(GroupWork { uuid, previous })
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
    let group = group_work(op, &args);
    let target = target(&mut conn, &bay, removals).await?;
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
        Some(Err(e)) => return fail(c, &bay, op, op_id, group, &e.to_string()).await,
        None if op == BayOp::Delete => return forget(c, &bay, op_id).await,
        None => {
            let reason = "The bay's baymodel no longer exists.";
            return fail(c, &bay, op, op_id, group, reason).await;
        }
    };
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
            Ok(Some(seen)) => {
                let done = Done { op, op_id, group };
                return complete(c, &bay, backend, &target, done, &seen).await;
            }
            Ok(None) => return forget(c, &bay, op_id).await,
            Err(DriverError::Unreachable(why)) if deadline.is_none_or(|d| Utc::now() < d) => {
                tracing::info!(%why, "backend unreachable; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                let done = Done { op, op_id, group };
                return fail_with_rollback(c, &bay, backend, &target, done, &e.to_string()).await;
            }
        }
    }
}

/// The node rows to mirror from what the backend shows.
pub(crate) fn mirrored(seen: &Observed) -> Vec<Mirrored> {
    seen.nodes
        .iter()
        .map(|n| Mirrored {
            backend_id: n.backend_id.clone(),
            name: n.name.clone(),
            addresses: n.addresses.clone(),
            status: n.status.as_str().to_owned(),
            info: n.info.clone(),
            nodegroup: n.nodegroup.clone(),
        })
        .collect()
}

/// The bay's own worker addresses: its default group's (each stored group shows its own).
pub(crate) fn default_addresses(seen: &Observed) -> Vec<String> {
    seen.nodes
        .iter()
        .filter(|n| n.nodegroup == DEFAULT_WORKER)
        .flat_map(|n| n.addresses.clone())
        .collect()
}

/// Which operation ends, and the group it worked on.
#[derive(Debug, Clone, Copy)]
struct Done {
    op: BayOp,
    op_id: Uuid,
    group: Option<GroupWork>,
}

/// Records a nodegroup operation's end on its group, in the transaction that ends the bay's.
async fn finish_group(
    conn: &mut sqlx::PgConnection,
    done: Done,
    reason: Option<&str>,
) -> Result<(), magnum_db::Error> {
    let Some(group) = done.group else {
        return Ok(());
    };
    let (from, ok, failed) = match done.op {
        BayOp::NodegroupCreate => (
            BayStatus::CreateInProgress,
            BayStatus::CreateComplete,
            BayStatus::CreateFailed,
        ),
        BayOp::NodegroupUpdate => (
            BayStatus::UpdateInProgress,
            BayStatus::UpdateComplete,
            BayStatus::UpdateFailed,
        ),
        BayOp::NodegroupDelete if reason.is_none() => {
            nodegroups::remove(conn, group.uuid).await?;
            return Ok(());
        }
        BayOp::NodegroupDelete => (
            BayStatus::DeleteInProgress,
            BayStatus::DeleteComplete,
            BayStatus::DeleteFailed,
        ),
        _ => return Ok(()),
    };
    let to = if reason.is_some() { failed } else { ok };
    if nodegroups::set_status(conn, group.uuid, &[from], to, reason).await?
        && reason.is_some()
        && let Some(previous) = group.previous
    {
        // A failed scale claimed nothing: the group still holds what it held.
        nodegroups::set_node_count(conn, group.uuid, previous).await?;
    }
    Ok(())
}

async fn complete(
    c: &Conductor,
    bay: &Bay,
    backend: Backend<'_>,
    target: &BayTarget,
    done: Done,
    seen: &Observed,
) -> Result<(), magnum_db::Error> {
    let Done { op, op_id, .. } = done;
    let outcome = Outcome {
        stack_id: backend.stack_id(target, seen),
        // Docker bays are reached through the client proxy when it is on (specs/0005).
        api_address: match (backend, c.backends.docker_access()) {
            (Backend::Docker(_), Some(access)) if seen.api_address.is_some() => {
                Some(access.api_address.clone())
            }
            _ => seen.api_address.clone(),
        },
        node_addresses: default_addresses(seen),
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
        finish_group(&mut tx, done, None).await?;
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
    group: Option<GroupWork>,
    reason: &str,
) -> Result<(), magnum_db::Error> {
    let mut tx = c.pool.begin().await?;
    if bays::finish(
        &mut tx,
        bay.uuid,
        op_id,
        c.server_name(),
        op.failed(),
        Some(reason),
        None,
    )
    .await?
    {
        finish_group(&mut tx, Done { op, op_id, group }, Some(reason)).await?;
        tx.commit().await?;
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
    done: Done,
    reason: &str,
) -> Result<(), magnum_db::Error> {
    let Done { op, op_id, group } = done;
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
    fail(c, bay, op, op_id, group, reason).await
}

/// Removes a deleted bay's row.
async fn forget(c: &Conductor, bay: &Bay, op_id: Uuid) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    if bays::remove(&mut conn, bay.uuid, op_id, c.server_name()).await? {
        tracing::info!(status = BayStatus::DeleteComplete.as_str(), "bay deleted");
    }
    Ok(())
}
