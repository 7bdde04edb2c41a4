//! Bay reads and the admission of bay operations (spec/rpc.md §7.2). Each write records the
//! intent by compare-and-set, answers, and leaves the backend work to [`crate::converge`].

use super::{db_key, describe, page, read_scope, tenant};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::bay::{Bay, BayOp, BaySpec, BayStatus};
use magnum_core::baymodel::BayModel;
use magnum_core::nodegroup::DEFAULT_WORKER;
use magnum_db::bays::{self, Filters, Key, NewBay};
use magnum_db::{Error, Scope, baymodels};
use magnum_rpc::methods::{BayChange, ListQuery, Lookup};
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

fn not_found(ident: &str) -> RemoteFailure {
    RemoteFailure::not_found("Bay", ident).with_kwarg("bay", ident)
}

pub(crate) fn to_value(bay: Bay) -> Value {
    Primitive::new(bay).to_value()
}

/// Loads one bay in the caller's scope.
pub(crate) async fn load(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Bay, RemoteFailure> {
    let scope = read_scope(ctx, Some(lookup));
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let key = db_key(lookup);
    let mut found = bays::find(&mut conn, &scope, key).await.map_err(storage)?;
    if found.len() > 1 {
        return Err(RemoteFailure::conflict(
            "Multiple bays exist with same name. Please use the bay uuid instead.",
        ));
    }
    found.pop().ok_or_else(|| not_found(&describe(lookup)))
}

/// `Bay.get_by_*`.
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Value, RemoteFailure> {
    load(c, ctx, lookup).await.map(to_value)
}

/// `Bay.list`, with filters `baymodel_id`, `status` (one or a list) and `project_id` (admins).
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    query: ListQuery,
) -> Result<Value, RemoteFailure> {
    let mut page = page(&query, bays::SORT_KEYS, c.max_limit)?;
    page.sort_key = match page.sort_key {
        "cluster_template_id" => "baymodel_id",
        "bay_create_timeout" => "create_timeout",
        other => other,
    };
    let mut filters = Filters::default();
    for (key, value) in query.filters.iter().flatten() {
        match (key.as_str(), value) {
            ("baymodel_id", Value::String(v)) => {
                filters.baymodel_id = Some(
                    Uuid::try_parse(v)
                        .map_err(|_| RemoteFailure::invalid("baymodel_id must be a uuid"))?,
                );
            }
            ("status", Value::String(v)) => filters.status.extend(BayStatus::parse(v)),
            ("status", Value::Array(vs)) => {
                filters.status.extend(
                    vs.iter()
                        .filter_map(Value::as_str)
                        .filter_map(BayStatus::parse),
                );
            }
            ("project_id", Value::String(v)) if ctx.is_admin => {
                filters.project_id = Some(v.clone())
            }
            _ => {
                return Err(RemoteFailure::invalid(format!(
                    "Unknown or invalid filter: {key}"
                )));
            }
        }
    }
    let scope = read_scope(ctx, None);
    let scope = if filters.project_id.is_some() {
        Scope::all()
    } else {
        scope
    };
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(marker) = query.marker {
        page.after_id = Some(
            bays::marker_id(&mut conn, &scope, marker)
                .await
                .map_err(storage)?
                .ok_or_else(|| not_found(&marker.to_string()))?,
        );
    }
    let items = bays::list(&mut conn, &scope, &filters, &page)
        .await
        .map_err(storage)?;
    Ok(Value::Array(items.into_iter().map(to_value).collect()))
}

/// The baymodel a bay request names, if the caller may use it.
async fn usable_baymodel(
    conn: &mut sqlx::PgConnection,
    ctx: &RequestContext,
    ident: &str,
) -> Result<BayModel, RemoteFailure> {
    let missing = || {
        RemoteFailure::typed(
            "BayModelNotFound",
            400,
            format!("BayModel {ident} could not be found."),
        )
        .with_kwarg("baymodel", ident)
    };
    let uuid = Uuid::try_parse(ident).map_err(|_| missing())?;
    let scope = read_scope(ctx, Some(&Lookup::Uuid(uuid)));
    let found = baymodels::find(conn, &scope, baymodels::Key::Uuid(uuid))
        .await
        .map_err(storage)?;
    found.into_iter().next().ok_or_else(missing)
}

/// Checks what the request asks of the driver: a driver for the COE, one master, and a node
/// count within `[bay] max_node_count`.
fn admit(
    c: &Conductor,
    model: &BayModel,
    node_count: i32,
    master_count: i32,
) -> Result<(), RemoteFailure> {
    c.backends
        .for_coe(model.coe)
        .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    if master_count != 1 {
        return Err(RemoteFailure::invalid(format!(
            "master_count must be 1 for {} bays: the {} driver shares one control plane \
             (got {master_count}).",
            model.coe,
            model.coe.driver().unwrap_or("?")
        )));
    }
    if node_count > c.bay.max_node_count {
        return Err(RemoteFailure::invalid(format!(
            "node_count {node_count} is above the maximum of {} ([bay] max_node_count).",
            c.bay.max_node_count
        )));
    }
    Ok(())
}

/// `bay_create`: admission (baymodel, driver, counts, quota, name), then the row in
/// `CREATE_IN_PROGRESS`; the backend work starts right after.
pub(crate) async fn create(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    spec: BaySpec,
    timeout: Option<i32>,
) -> Result<Value, RemoteFailure> {
    let uuid = spec
        .uuid
        .ok_or_else(|| RemoteFailure::invalid("A bay needs a uuid."))?;
    let project = tenant(ctx);
    let mut tx = c.pool.begin().await.map_err(storage)?;
    let model = usable_baymodel(&mut tx, ctx, &spec.baymodel_id).await?;
    admit(c, &model, spec.node_count, spec.master_count)?;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| magnum_core::fields::generated_name("bay", &uuid));
    // Replay of a create that already went through: answer with the stored row.
    if let Some(stored) = bays::find(&mut tx, &Scope::project(&project), Key::Uuid(uuid))
        .await
        .map_err(storage)?
        .pop()
    {
        if stored.name == name {
            return Ok(to_value(stored));
        }
        return Err(already_exists(&format!(
            "A bay with UUID {uuid} already exists."
        )));
    }
    let limit = quota_limit(&mut tx, &project, c.quota_default).await?;
    if bays::count_in_project(&mut tx, &project)
        .await
        .map_err(storage)?
        >= limit
    {
        return Err(RemoteFailure::typed(
            "ResourceLimitExceeded",
            403,
            format!("Cluster quota exceeded for project {project}"),
        ));
    }
    let labels = match (spec.labels.clone(), spec.merge_labels) {
        (None, _) => model.labels.clone(),
        (Some(own), false) => own,
        (Some(own), true) => model.labels.clone().into_iter().chain(own).collect(),
    };
    let new = NewBay {
        uuid,
        project_id: project,
        user_id: ctx.user_id.clone().unwrap_or_default(),
        name,
        baymodel_id: model.uuid,
        node_count: spec.node_count,
        master_count: spec.master_count,
        create_timeout: timeout
            .or(spec.create_timeout)
            .or(i32::try_from(c.bay.create_timeout).ok()),
        discovery_url: spec.discovery_url.clone(),
        labels,
        keypair: spec.keypair.clone().or_else(|| model.keypair_id.clone()),
        flavor_id: spec.flavor_id.clone().or_else(|| model.flavor_id.clone()),
        master_flavor_id: spec
            .master_flavor_id
            .clone()
            .or_else(|| model.master_flavor_id.clone()),
        docker_volume_size: spec.docker_volume_size.or(model.docker_volume_size),
        fixed_network: spec
            .fixed_network
            .clone()
            .or_else(|| model.fixed_network.clone()),
        fixed_subnet: spec
            .fixed_subnet
            .clone()
            .or_else(|| model.fixed_subnet.clone()),
        floating_ip_enabled: spec.floating_ip_enabled.or(Some(model.floating_ip_enabled)),
        master_lb_enabled: spec.master_lb_enabled.or(Some(model.master_lb_enabled)),
    };
    let op_id = Uuid::new_v4();
    let bay = match bays::insert(&mut tx, &new, op_id).await {
        Ok(bay) => bay,
        Err(Error::Duplicate(c)) if c == "bay_uuid_key" => {
            return Err(already_exists(&format!(
                "A bay with UUID {uuid} already exists."
            )));
        }
        Err(Error::Duplicate(_)) => {
            return Err(already_exists(&format!(
                "A bay with name {} already exists in this project.",
                new.name
            )));
        }
        Err(Error::Referenced(_)) => {
            return Err(RemoteFailure::invalid("The baymodel was deleted."));
        }
        Err(e) => return Err(storage(e)),
    };
    tx.commit().await.map_err(storage)?;
    crate::converge::start(c, bay.uuid, BayOp::Create, op_id);
    Ok(to_value(bay))
}

fn already_exists(message: &str) -> RemoteFailure {
    RemoteFailure::typed("BayAlreadyExists", 409, message)
}

async fn quota_limit(
    conn: &mut sqlx::PgConnection,
    project: &str,
    default: i64,
) -> Result<i64, RemoteFailure> {
    let row = magnum_db::quotas::hard_limit(conn, project, "Cluster")
        .await
        .map_err(storage)?;
    Ok(row.map_or(default, i64::from))
}

/// An operation a caller asks for on an existing bay.
struct Request {
    op: BayOp,
    /// The node count after the operation; `None`: unchanged.
    node_count: Option<i32>,
    /// Restore the old count if the operation fails.
    rollback: bool,
    /// The baymodel to move to (upgrade).
    new_model: Option<Uuid>,
    /// Arguments any conductor taking the work over needs.
    args: Value,
}

/// Starts an operation on a bay the caller may change, from an updatable status.
async fn begin(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    uuid: Uuid,
    req: Request,
) -> Result<Value, RemoteFailure> {
    let Request {
        op,
        node_count,
        rollback,
        new_model,
        args: op_args,
    } = req;
    let bay = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let count = node_count.unwrap_or(bay.node_count);
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let model_uuid = new_model.unwrap_or(bay.baymodel_id);
    let model = usable_baymodel(&mut conn, ctx, &model_uuid.to_string()).await?;
    admit(c, &model, count, bay.master_count)?;
    // The stored nodegroups' nodes count against the same limit (specs/0002).
    let grouped = magnum_db::nodegroups::total_nodes(&mut conn, uuid, None)
        .await
        .map_err(storage)?;
    if grouped > 0 && i64::from(count) + grouped > i64::from(c.bay.max_node_count) {
        return Err(RemoteFailure::invalid(format!(
            "node_count {count} and the {grouped} nodes of the bay's nodegroups are above the \
             maximum of {} ([bay] max_node_count).",
            c.bay.max_node_count
        )));
    }
    let op_id = Uuid::new_v4();
    let rollback_to = rollback.then_some(bay.node_count);
    let started = bays::begin_op(
        &mut conn,
        uuid,
        &BayStatus::UPDATABLE,
        op,
        op_id,
        count,
        rollback_to,
        new_model,
        &op_args,
    )
    .await
    .map_err(storage)?;
    if !started {
        let now = load(c, ctx, &Lookup::Uuid(uuid)).await?;
        return Err(RemoteFailure::typed(
            if now.status.in_progress() {
                "OperationInProgress"
            } else {
                "NotSupported"
            },
            400,
            format!(
                "Updating a bay when its status is \"{}\" is not supported.",
                now.status
            ),
        ));
    }
    crate::converge::start(c, uuid, op, op_id);
    let bay = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    Ok(to_value(bay))
}

/// `bay_update`: scales to the new `node_count`.
pub(crate) async fn update(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    change: &BayChange,
    rollback: bool,
) -> Result<Value, RemoteFailure> {
    let count = change.node_count.ok_or_else(|| {
        RemoteFailure::invalid("cannot change bay property(ies) other than node_count.")
    })?;
    let req = Request {
        op: BayOp::Update,
        node_count: Some(count),
        rollback,
        new_model: None,
        args: json!({}),
    };
    begin(c, ctx, change.uuid, req).await
}

/// `bay_resize`: scales the default worker group, or the stored group `nodegroup` names (by
/// name or uuid), releasing the named nodes first.
pub(crate) async fn resize(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    change: &BayChange,
    node_count: i32,
    nodes_to_remove: &[String],
    nodegroup: Option<&str>,
) -> Result<Value, RemoteFailure> {
    if node_count < 0 {
        return Err(RemoteFailure::invalid("node_count must be 0 or more."));
    }
    let default_uuid = Uuid::new_v5(&change.uuid, DEFAULT_WORKER.as_bytes()).to_string();
    if let Some(ident) = nodegroup.filter(|g| *g != DEFAULT_WORKER && *g != default_uuid) {
        let bay = load(c, ctx, &Lookup::Uuid(change.uuid)).await?;
        let mut conn = c.pool.acquire().await.map_err(storage)?;
        let group = magnum_db::nodegroups::of_bay(&mut conn, bay.uuid)
            .await
            .map_err(storage)?
            .into_iter()
            .find(|g| g.name == ident || g.uuid.to_string() == ident)
            .ok_or_else(|| {
                RemoteFailure::invalid(format!(
                    "Nodegroup {ident} is not a worker nodegroup of bay {}.",
                    bay.uuid
                ))
            })?;
        drop(conn);
        let removals = resolve_nodes(c, change.uuid, nodes_to_remove).await?;
        let scaled = magnum_core::nodegroup::NodeGroupChange {
            uuid: group.uuid,
            node_count,
            min_node_count: group.min_node_count,
            max_node_count: group.max_node_count,
        };
        super::nodegroups::update(c, ctx, bay.uuid, scaled, removals).await?;
        return load(c, ctx, &Lookup::Uuid(change.uuid)).await.map(to_value);
    }
    let removals = resolve_nodes(c, change.uuid, nodes_to_remove).await?;
    let args = serde_json::json!({"nodes_to_remove": removals});
    let req = Request {
        op: BayOp::Resize,
        node_count: Some(node_count),
        rollback: false,
        new_model: None,
        args,
    };
    begin(c, ctx, change.uuid, req).await
}

async fn resolve_nodes(
    c: &Conductor,
    bay: Uuid,
    idents: &[String],
) -> Result<Vec<String>, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let mut out = Vec::new();
    for ident in idents {
        let row = magnum_db::nodes::backend_id_of(&mut conn, bay, ident)
            .await
            .map_err(storage)?;
        out.push(row.ok_or_else(|| {
            RemoteFailure::invalid(format!("Node {ident} is not a node of bay {bay}."))
        })?);
    }
    Ok(out)
}

/// `bay_upgrade`: moves the bay to another baymodel of the same COE.
pub(crate) async fn upgrade(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    change: &BayChange,
    target: Uuid,
) -> Result<Value, RemoteFailure> {
    let bay = load(c, ctx, &Lookup::Uuid(change.uuid)).await?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let current = usable_baymodel(&mut conn, ctx, &bay.baymodel_id.to_string()).await?;
    let wanted = usable_baymodel(&mut conn, ctx, &target.to_string()).await?;
    if current.coe != wanted.coe {
        return Err(RemoteFailure::invalid(format!(
            "Cannot upgrade a {} bay to a {} cluster template.",
            current.coe, wanted.coe
        )));
    }
    drop(conn);
    let req = Request {
        op: BayOp::Upgrade,
        node_count: None,
        rollback: false,
        new_model: Some(target),
        args: json!({}),
    };
    begin(c, ctx, change.uuid, req).await
}

/// `bay_delete`: records `DELETE_IN_PROGRESS` whatever the status, superseding running work.
/// A bay already being deleted answers null (a replayed message).
pub(crate) async fn delete(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let bay = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    if bay.status == BayStatus::DeleteInProgress {
        return Ok(Value::Null);
    }
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let op_id = Uuid::new_v4();
    let others: Vec<BayStatus> = BayStatus::ALL
        .into_iter()
        .filter(|s| *s != BayStatus::DeleteInProgress)
        .collect();
    if bays::begin_op(
        &mut conn,
        uuid,
        &others,
        BayOp::Delete,
        op_id,
        bay.node_count,
        None,
        None,
        &json!({}),
    )
    .await
    .map_err(storage)?
    {
        crate::converge::start(c, uuid, BayOp::Delete, op_id);
    }
    Ok(Value::Null)
}
