//! The reconciler: every `[conductor] periodic_interval` it resumes abandoned bay work, fails
//! creates past their timeout, and compares settled bays with their backends (kube-rs
//! controller style). A failing bay is logged and looked at again next pass; the loop goes on.

use crate::Conductor;
use crate::backends::Backend;
use magnum_core::bay::{BayStatus, HealthStatus};
use magnum_db::bays;
use magnum_db::nodes::{self, Mirrored};
use magnum_db::{Scope, baymodels, nodegroups};
use magnum_drivers::{DriverError, NodeStatus};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Rows looked at per pass, per kind of work.
const BATCH: i64 = 200;

/// Runs passes until `shutdown`; a zero period switches periodic work off.
pub(crate) async fn run(c: Arc<Conductor>, every: Duration, shutdown: CancellationToken) {
    if every.is_zero() {
        shutdown.cancelled().await;
        return;
    }
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
        if let Err(e) = pass(&c).await {
            tracing::warn!(error = %e, "reconciler pass failed; the next one retries");
        }
    }
}

/// Publishes the gauges: bays per status, leases this conductor holds, bay work running here.
async fn gauges(c: &Conductor, conn: &mut sqlx::PgConnection) -> Result<(), magnum_db::Error> {
    let counts = bays::count_by_status(conn).await?;
    for status in BayStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == status.as_str())
            .map_or(0, |(_, n)| *n);
        #[allow(clippy::cast_precision_loss, reason = "a count of bays")]
        metrics::gauge!("magnum_bays", "status" => status.as_str()).set(n as f64);
    }
    let held = bays::leases_held(conn, c.server_name()).await?;
    #[allow(clippy::cast_precision_loss, reason = "a count of leases")]
    metrics::gauge!("magnum_conductor_leases_held").set(held as f64);
    #[allow(clippy::cast_precision_loss, reason = "a count of tasks")]
    metrics::gauge!("magnum_conductor_work_running").set(c.work.len() as f64);
    Ok(())
}

/// One pass.
pub(crate) async fn pass(c: &Arc<Conductor>) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    gauges(c, &mut conn).await?;
    for work in bays::expired_creates(&mut conn, c.bay.create_timeout).await? {
        let minutes = c.bay.create_timeout;
        let reason = format!(
            "Bay creation did not finish within its timeout (bay_create_timeout, default {minutes} minute(s))."
        );
        if bays::expire(
            &mut conn,
            work.uuid,
            work.op_id,
            BayStatus::CreateFailed,
            &reason,
        )
        .await?
        {
            tracing::warn!(bay.uuid = %work.uuid, "bay create timed out");
        }
    }
    for group in nodegroups::stuck(&mut conn, c.bay.operation_timeout).await? {
        let failed = match group.status {
            BayStatus::CreateInProgress => BayStatus::CreateFailed,
            BayStatus::UpdateInProgress => BayStatus::UpdateFailed,
            _ => BayStatus::DeleteFailed,
        };
        let reason = format!(
            "The nodegroup operation did not finish within {} minute(s) ([bay] operation_timeout).",
            c.bay.operation_timeout
        );
        if nodegroups::set_status(
            &mut conn,
            group.uuid,
            &[group.status],
            failed,
            Some(&reason),
        )
        .await?
        {
            tracing::warn!(bay.uuid = %group.bay_uuid, nodegroup = %group.uuid, status = failed.as_str(), "nodegroup operation timed out");
        }
    }
    for work in bays::unclaimed_work(&mut conn, BATCH).await? {
        crate::converge::start(c, work.uuid, work.op, work.op_id);
    }
    for uuid in
        magnum_db::containers::claim_abandoned(&mut conn, c.server_name(), c.lease, BATCH).await?
    {
        let worker = Arc::clone(c);
        c.work.spawn(
            async move { crate::handlers::containers::create_on_engine(&worker, uuid).await },
        );
    }
    // Redelivery happens within minutes; a day of exec ids is plenty (spec/rpc.md §8.2).
    magnum_db::dedupe::purge(&mut conn, 24).await?;
    let settled = bays::settled(&mut conn, BATCH).await?;
    drop(conn);
    // Least recently written first, so every container's turn comes.
    if let Err(e) = crate::handlers::containers::reconcile(c, BATCH).await {
        tracing::warn!(error = %e.message, "could not refresh container statuses");
    }
    for uuid in settled {
        if let Err(e) = observe(c, uuid).await {
            tracing::warn!(bay.uuid = %uuid, error = %e, "could not reconcile bay");
        }
    }
    Ok(())
}

/// The nodegroup a known node row was mirrored with.
async fn known_group(
    conn: &mut sqlx::PgConnection,
    backend_id: &str,
) -> Result<String, magnum_db::Error> {
    Ok(nodes::group_of(conn, backend_id)
        .await?
        .unwrap_or_else(|| magnum_drivers::DEFAULT_WORKER.to_owned()))
}

/// Compares one settled bay with its backend: mirrors its nodes and records its health.
async fn observe(c: &Conductor, uuid: uuid::Uuid) -> Result<(), magnum_db::Error> {
    let mut conn = c.pool.acquire().await?;
    let Some(bay) = bays::find(&mut conn, &Scope::all(), bays::Key::Uuid(uuid))
        .await?
        .pop()
    else {
        return Ok(());
    };
    let Some(model) = baymodels::find(
        &mut conn,
        &Scope::all(),
        baymodels::Key::Uuid(bay.baymodel_id),
    )
    .await?
    .pop() else {
        return Ok(());
    };
    drop(conn);
    let Ok(backend) = c.backends.for_coe(model.coe) else {
        return Ok(()); // no driver here: another conductor may have one
    };
    let mut conn = c.pool.acquire().await?;
    let target = crate::converge::target(&mut conn, &bay, Vec::new()).await?;
    match backend.observe(&target).await {
        Ok(mut seen) => {
            if backend.node_type() == "docker" {
                // A Docker host that stops answering cannot show its claim, so the driver leaves
                // it out; it is still the bay's (a Kubernetes Node that vanished is really gone).
                let page = magnum_db::Page {
                    limit: 10_000,
                    after_id: None,
                    sort_key: "id",
                    descending: false,
                };
                for known in nodes::list(&mut conn, &Scope::all(), Some(bay.uuid), &page).await? {
                    let Some(id) = known.backend_id else { continue };
                    if seen.nodes.iter().all(|n| n.backend_id != id) {
                        let nodegroup = known_group(&mut conn, &id).await?;
                        seen.nodes.push(magnum_drivers::ObservedNode {
                            backend_id: id,
                            name: known.name.unwrap_or_default(),
                            addresses: known.addresses,
                            status: NodeStatus::Unknown,
                            info: serde_json::json!({}),
                            nodegroup,
                        });
                    }
                }
            }
            let mut reasons = BTreeMap::new();
            for node in &seen.nodes {
                if node.status != NodeStatus::Ready {
                    reasons.insert(
                        node.name.clone(),
                        format!("node is {}", node.status.as_str()),
                    );
                }
            }
            for group in target.all_groups() {
                let held = seen
                    .nodes
                    .iter()
                    .filter(|n| n.nodegroup == group.name)
                    .count();
                let held = u32::try_from(held).unwrap_or(u32::MAX);
                if held < group.node_count {
                    let whose = if group.name == magnum_drivers::DEFAULT_WORKER {
                        "the bay"
                    } else {
                        "the nodegroup"
                    };
                    reasons.insert(
                        group.name.clone(),
                        format!("{held} of {} nodes are held by {whose}", group.node_count),
                    );
                }
            }
            let health = if reasons.is_empty() {
                HealthStatus::Healthy
            } else {
                HealthStatus::Unhealthy
            };
            let mirrored: Vec<Mirrored> = crate::converge::mirrored(&seen);
            let addresses = crate::converge::default_addresses(&seen);
            let mut tx = c.pool.begin().await?;
            // Only while no operation runs: a worker's own result wins over this snapshot.
            if bays::set_health(&mut tx, bay.uuid, health, &reasons, &addresses).await? {
                nodes::mirror(
                    &mut tx,
                    bay.uuid,
                    &bay.project_id,
                    &bay.user_id,
                    backend.node_type(),
                    &mirrored,
                )
                .await?;
                tx.commit().await?;
            }
            if let Backend::Kubernetes(kube) = backend
                && let Err(e) = crate::handlers::workloads::reconcile_bay(c, kube, bay.uuid).await
            {
                tracing::warn!(
                    bay.uuid = %bay.uuid, error = %e.message,
                    "could not compare the bay's pods, services and RCs with Kubernetes"
                );
            }
        }
        Err(DriverError::Unreachable(why)) => {
            let reasons = BTreeMap::from([("api".to_owned(), why)]);
            bays::set_health(
                &mut conn,
                bay.uuid,
                HealthStatus::Unknown,
                &reasons,
                &bay.node_addresses,
            )
            .await?;
            nodes::mark_unknown(&mut conn, bay.uuid).await?;
        }
        Err(e) => {
            tracing::warn!(bay.uuid = %bay.uuid, error = %e, "backend refused to describe the bay")
        }
    }
    Ok(())
}
