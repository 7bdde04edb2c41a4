//! Stored worker nodegroups (specs/0002): reads, and the admission of `nodegroup_create`,
//! `nodegroup_update` and `nodegroup_delete`. Each write records the group's status and the
//! bay's operation in one transaction, both by compare-and-set, answers, and leaves the node
//! claims to [`crate::converge`] under the bay's lease, so one bay never runs two operations.

use super::{bay_filters, bays};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::bay::{Bay, BayOp, BayStatus};
use magnum_core::nodegroup::{
    DEFAULT_MASTER, DEFAULT_WORKER, NodeGroup, NodeGroupChange, NodeGroupSpec, check_bounds,
};
use magnum_db::nodegroups::{self, NewNodeGroup};
use magnum_db::{Error, Scope, baymodels};
use magnum_rpc::methods::{ListQuery, Lookup};
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

fn not_found(ident: &str) -> RemoteFailure {
    RemoteFailure::typed(
        "NodeGroupNotFound",
        404,
        format!("Nodegroup {ident} could not be found."),
    )
    .with_kwarg("nodegroup", ident)
}

fn to_value(group: NodeGroup) -> Value {
    Primitive::new(group).to_value()
}

/// The group `uuid` of bay `bay`, or `NodeGroupNotFound`.
async fn load(c: &Conductor, bay: Uuid, uuid: Uuid) -> Result<NodeGroup, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    nodegroups::find(&mut conn, uuid)
        .await
        .map_err(storage)?
        .filter(|g| g.bay_uuid == bay)
        .ok_or_else(|| not_found(&uuid.to_string()))
}

/// `NodeGroup.get_by_uuid`: a group of a bay the caller sees.
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Value, RemoteFailure> {
    let Lookup::Uuid(uuid) = lookup else {
        return Err(RemoteFailure::typed(
            "NotSupported",
            400,
            "NodeGroup is read by uuid, or listed with a bay_uuid filter.",
        ));
    };
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let group = nodegroups::find(&mut conn, *uuid)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(&uuid.to_string()))?;
    drop(conn);
    // A group of a bay the caller cannot see is not found either.
    bays::load(c, ctx, &Lookup::Uuid(group.bay_uuid))
        .await
        .map_err(|e| {
            if e.code() == Some(404) {
                not_found(&uuid.to_string())
            } else {
                e
            }
        })?;
    Ok(to_value(group))
}

/// `NodeGroup.list` with filter `bay_uuid` (required): the bay's stored groups, oldest first.
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    query: &ListQuery,
) -> Result<Value, RemoteFailure> {
    let filters = bay_filters(query, false)?;
    let bay = filters
        .bay
        .ok_or_else(|| RemoteFailure::invalid("Listing nodegroups needs a bay_uuid filter."))?;
    bays::load(c, ctx, &Lookup::Uuid(bay)).await?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let groups = nodegroups::of_bay(&mut conn, bay).await.map_err(storage)?;
    Ok(Value::Array(groups.into_iter().map(to_value).collect()))
}

/// The refusal when the bay cannot take an operation now (as `bay_update`'s: HTTP 400).
fn busy(status: BayStatus) -> RemoteFailure {
    RemoteFailure::typed(
        if status.in_progress() {
            "OperationInProgress"
        } else {
            "NotSupported"
        },
        400,
        format!(
            "Changing the nodegroups of a bay when its status is \"{status}\" is not supported."
        ),
    )
}

/// Checks that the bay's driver is here and that the bay's workers stay within
/// `[bay] max_node_count` with `group_count` nodes for the group `except` (or a new one).
async fn admit(
    c: &Conductor,
    conn: &mut sqlx::PgConnection,
    bay: &Bay,
    except: Option<Uuid>,
    group_count: i32,
) -> Result<(), RemoteFailure> {
    let model = baymodels::find(conn, &Scope::all(), baymodels::Key::Uuid(bay.baymodel_id))
        .await
        .map_err(storage)?
        .pop()
        .ok_or_else(|| RemoteFailure::invalid("The bay's baymodel no longer exists."))?;
    c.backends
        .for_coe(model.coe)
        .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    let others = nodegroups::total_nodes(conn, bay.uuid, except)
        .await
        .map_err(storage)?;
    let total = i64::from(bay.node_count) + others + i64::from(group_count);
    if total > i64::from(c.bay.max_node_count) {
        return Err(RemoteFailure::invalid(format!(
            "The bay would have {total} worker nodes, above the maximum of {} \
             ([bay] max_node_count).",
            c.bay.max_node_count
        )));
    }
    Ok(())
}

/// Records bay operation `op` on group `group` inside `tx`; `Ok(None)`: the bay is busy.
async fn begin_bay_op(
    tx: &mut sqlx::PgConnection,
    bay: &Bay,
    op: BayOp,
    args: &Value,
) -> Result<Option<Uuid>, RemoteFailure> {
    let op_id = Uuid::new_v4();
    let started = magnum_db::bays::begin_op(
        tx,
        bay.uuid,
        &BayStatus::UPDATABLE,
        op,
        op_id,
        bay.node_count,
        None,
        None,
        args,
    )
    .await
    .map_err(storage)?;
    Ok(started.then_some(op_id))
}

/// Why a bay operation could not start: the status it has now.
async fn refusal(c: &Conductor, ctx: &RequestContext, bay: Uuid) -> RemoteFailure {
    match bays::load(c, ctx, &Lookup::Uuid(bay)).await {
        Ok(now) => busy(now.status),
        Err(e) => e,
    }
}

/// `nodegroup_create`: a new worker group in `CREATE_IN_PROGRESS`; its nodes are claimed next.
pub(crate) async fn create(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    bay_uuid: Uuid,
    spec: NodeGroupSpec,
) -> Result<Value, RemoteFailure> {
    let bay = bays::load(c, ctx, &Lookup::Uuid(bay_uuid)).await?;
    if spec.role != "worker" {
        return Err(RemoteFailure::invalid(
            "Only worker nodegroups can be created.",
        ));
    }
    if spec.name == DEFAULT_MASTER || spec.name == DEFAULT_WORKER {
        return Err(already_exists(&spec.name, &bay));
    }
    if !magnum_core::nodegroup::is_label_value(&spec.name) {
        return Err(RemoteFailure::invalid(format!(
            "Nodegroup name {} is not a valid label value.",
            spec.name
        )));
    }
    check_bounds(spec.node_count, spec.min_node_count, spec.max_node_count)
        .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    let mut tx = c.pool.begin().await.map_err(storage)?;
    // Replay of a create that already went through: answer with the stored group.
    if let Some(stored) = nodegroups::find(&mut tx, spec.uuid)
        .await
        .map_err(storage)?
    {
        if stored.bay_uuid == bay.uuid && stored.name == spec.name {
            return Ok(to_value(stored));
        }
        return Err(RemoteFailure::typed(
            "NodeGroupAlreadyExists",
            409,
            format!("A nodegroup with UUID {} already exists.", spec.uuid),
        ));
    }
    if !BayStatus::UPDATABLE.contains(&bay.status) {
        return Err(busy(bay.status));
    }
    admit(c, &mut tx, &bay, None, spec.node_count).await?;
    let model_image = baymodels::find(
        &mut tx,
        &Scope::all(),
        baymodels::Key::Uuid(bay.baymodel_id),
    )
    .await
    .map_err(storage)?
    .pop()
    .map(|m| m.image_id);
    let labels = match (spec.labels.clone(), spec.merge_labels) {
        (None, _) => bay.labels.clone(),
        (Some(own), false) => own,
        (Some(own), true) => bay.labels.clone().into_iter().chain(own).collect(),
    };
    let new = NewNodeGroup {
        uuid: spec.uuid,
        bay_uuid: bay.uuid,
        project_id: bay.project_id.clone(),
        user_id: ctx.user_id.clone().unwrap_or_default(),
        name: spec.name.clone(),
        node_count: spec.node_count,
        min_node_count: spec.min_node_count,
        max_node_count: spec.max_node_count,
        flavor_id: spec.flavor_id.clone().or_else(|| bay.flavor_id.clone()),
        image_id: spec.image_id.clone().or(model_image),
        docker_volume_size: spec.docker_volume_size.or(bay.docker_volume_size),
        labels,
    };
    let group = match nodegroups::insert(&mut tx, &new).await {
        Ok(group) => group,
        Err(Error::Duplicate(_)) => return Err(already_exists(&spec.name, &bay)),
        Err(Error::Referenced(_)) => return Err(bays_gone(&bay)),
        Err(e) => return Err(storage(e)),
    };
    let args = json!({"nodegroup": group.uuid});
    let Some(op_id) = begin_bay_op(&mut tx, &bay, BayOp::NodegroupCreate, &args).await? else {
        drop(tx);
        return Err(refusal(c, ctx, bay.uuid).await);
    };
    tx.commit().await.map_err(storage)?;
    crate::converge::start(c, bay.uuid, BayOp::NodegroupCreate, op_id);
    Ok(to_value(group))
}

fn already_exists(name: &str, bay: &Bay) -> RemoteFailure {
    RemoteFailure::typed(
        "NodeGroupAlreadyExists",
        409,
        format!(
            "A nodegroup with name {name} already exists in cluster {}.",
            bay.uuid
        ),
    )
}

fn bays_gone(bay: &Bay) -> RemoteFailure {
    RemoteFailure::not_found("Bay", &bay.uuid.to_string())
}

/// `nodegroup_update`: new counts and bounds; the group is scaled to `node_count` next,
/// releasing the nodes with backend ids `nodes_to_remove` first (resize).
pub(crate) async fn update(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    bay_uuid: Uuid,
    change: NodeGroupChange,
    nodes_to_remove: Vec<String>,
) -> Result<Value, RemoteFailure> {
    let bay = bays::load(c, ctx, &Lookup::Uuid(bay_uuid)).await?;
    let group = load(c, bay.uuid, change.uuid).await?;
    check_bounds(
        change.node_count,
        change.min_node_count,
        change.max_node_count,
    )
    .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    if !BayStatus::UPDATABLE.contains(&group.status) {
        return Err(RemoteFailure::typed(
            if group.status.in_progress() {
                "OperationInProgress"
            } else {
                "NotSupported"
            },
            400,
            format!(
                "Updating a nodegroup when its status is \"{}\" is not supported.",
                group.status
            ),
        ));
    }
    if !BayStatus::UPDATABLE.contains(&bay.status) {
        return Err(busy(bay.status));
    }
    let mut tx = c.pool.begin().await.map_err(storage)?;
    admit(c, &mut tx, &bay, Some(group.uuid), change.node_count).await?;
    if !nodegroups::begin_update(
        &mut tx,
        group.uuid,
        &BayStatus::UPDATABLE,
        change.node_count,
        change.min_node_count,
        change.max_node_count,
    )
    .await
    .map_err(storage)?
    {
        return Err(RemoteFailure::typed(
            "OperationInProgress",
            400,
            "The nodegroup changed while the update was being admitted; try again.",
        ));
    }
    let args = json!({"nodegroup": group.uuid, "previous": group.node_count,
                      "nodes_to_remove": nodes_to_remove});
    let Some(op_id) = begin_bay_op(&mut tx, &bay, BayOp::NodegroupUpdate, &args).await? else {
        drop(tx);
        return Err(refusal(c, ctx, bay.uuid).await);
    };
    tx.commit().await.map_err(storage)?;
    crate::converge::start(c, bay.uuid, BayOp::NodegroupUpdate, op_id);
    load(c, bay.uuid, group.uuid).await.map(to_value)
}

/// `nodegroup_delete`: records `DELETE_IN_PROGRESS`; the group's nodes are released and the
/// group removed next. A default group refuses; one already being deleted answers null.
pub(crate) async fn delete(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    bay_uuid: Uuid,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let bay = bays::load(c, ctx, &Lookup::Uuid(bay_uuid)).await?;
    for default in [DEFAULT_MASTER, DEFAULT_WORKER] {
        if uuid == Uuid::new_v5(&bay.uuid, default.as_bytes()) {
            return Err(RemoteFailure::invalid(format!(
                "Deleting a default nodegroup ({default}) is not supported."
            )));
        }
    }
    let group = load(c, bay.uuid, uuid).await?;
    if group.status == BayStatus::DeleteInProgress {
        return Ok(Value::Null);
    }
    if !BayStatus::UPDATABLE.contains(&bay.status) {
        return Err(busy(bay.status));
    }
    let mut tx = c.pool.begin().await.map_err(storage)?;
    let others: Vec<BayStatus> = BayStatus::ALL
        .into_iter()
        .filter(|s| *s != BayStatus::DeleteInProgress)
        .collect();
    if !nodegroups::set_status(&mut tx, uuid, &others, BayStatus::DeleteInProgress, None)
        .await
        .map_err(storage)?
    {
        return Ok(Value::Null);
    }
    let args = json!({"nodegroup": uuid});
    let Some(op_id) = begin_bay_op(&mut tx, &bay, BayOp::NodegroupDelete, &args).await? else {
        drop(tx);
        return Err(refusal(c, ctx, bay.uuid).await);
    };
    tx.commit().await.map_err(storage)?;
    crate::converge::start(c, bay.uuid, BayOp::NodegroupDelete, op_id);
    Ok(Value::Null)
}
