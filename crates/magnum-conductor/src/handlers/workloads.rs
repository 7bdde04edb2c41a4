//! Pods, services and replication controllers in the namespaces of kubernetes bays
//! (spec/rest-api.md §3.4, spec/rpc.md §7.3).
//!
//! A create writes the record first (its unique constraints settle name races and RPC replays
//! before Kubernetes is touched), then makes the object, labelled with the record's uuid; if
//! Kubernetes refuses, the record goes again. An update or delete holds the record's action lock
//! for its Kubernetes call, so two never interleave. The reconciler ([`reconcile_bay`]) keeps
//! records in step with Kubernetes: it copies each object's state, drops records whose object
//! vanished and deletes labelled objects that have no record (a create whose answer was lost).

use super::{db_key, describe, page, read_scope, tenant};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::bay::Bay;
use magnum_core::baymodel::Coe;
use magnum_core::manifest::{self, Manifest, WorkloadKind};
use magnum_core::workload::Workload;
use magnum_db::workloads::{self, Key, Observed};
use magnum_db::{Error, Scope, baymodels, bays};
use magnum_drivers::DriverError;
use magnum_drivers::kubernetes::{KubernetesDriver, WorkloadState};
use magnum_rpc::methods::{ListQuery, Lookup};
use magnum_rpc::workloads::{WorkloadCall, to_primitive};
use magnum_rpc::{RemoteFailure, RequestContext};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// How long a record whose create never finished may exist without its object before the
/// reconciler drops it: longer than any create's Kubernetes calls take.
const UNFINISHED_CREATE_GRACE: Duration = Duration::from_secs(120);

/// Clock difference between conductors and the database tolerated when comparing a record's
/// write time with the moment the objects were listed.
const CLOCK_SKEW: Duration = Duration::from_secs(5);

fn not_found(kind: WorkloadKind, ident: &str) -> RemoteFailure {
    RemoteFailure::not_found(kind.as_str(), ident).with_kwarg(kind.singular(), ident)
}

fn to_value(kind: WorkloadKind, w: Workload) -> Value {
    to_primitive(kind, w, Vec::new())
}

/// Maps a Kubernetes failure: its refusals keep their status code and message.
fn kubernetes_failure(e: DriverError) -> RemoteFailure {
    match e {
        DriverError::AlreadyExists(message) => RemoteFailure::conflict(message),
        DriverError::Rejected { code, message } => {
            RemoteFailure::typed("KubernetesAPIFailed", code, message)
        }
        DriverError::Unreachable(message) => RemoteFailure::unavailable(message),
        DriverError::NotConfigured(message) => RemoteFailure::invalid(message),
        other => RemoteFailure::typed(
            "KubernetesAPIFailed",
            500,
            format!("Kubernetes refused the request: {other}"),
        ),
    }
}

fn kubernetes_driver(c: &Conductor) -> Result<&KubernetesDriver, RemoteFailure> {
    c.backends.kubernetes().ok_or_else(|| {
        RemoteFailure::invalid("The kubernetes driver is not configured on this conductor.")
    })
}

/// Loads one record of `kind` in the caller's scope.
async fn load(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    lookup: &Lookup,
) -> Result<Workload, RemoteFailure> {
    let scope = read_scope(ctx, Some(lookup));
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let key = db_key(lookup);
    let mut found = workloads::find(&mut conn, &scope, kind, key, None)
        .await
        .map_err(storage)?;
    if found.len() > 1 {
        return Err(RemoteFailure::conflict(format!(
            "Multiple {} exist with same name. Please use the {} uuid instead.",
            kind.route(),
            kind.singular()
        )));
    }
    found
        .pop()
        .ok_or_else(|| not_found(kind, &describe(lookup)))
}

/// `Pod.get_by_*`, `Service.get_by_*`, `ReplicationController.get_by_*`.
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    lookup: &Lookup,
) -> Result<Value, RemoteFailure> {
    load(c, ctx, kind, lookup).await.map(|w| to_value(kind, w))
}

/// `<Kind>.list`, with filters `bay_uuid` and `name`; states as the reconciler last saw them.
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    query: ListQuery,
) -> Result<Value, RemoteFailure> {
    let mut page = page(&query, workloads::SORT_KEYS, c.max_limit)?;
    let filters = super::bay_filters(&query, true)?;
    let scope = read_scope(ctx, None);
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(marker) = query.marker {
        page.after_id = Some(
            workloads::marker_id(&mut conn, &scope, kind, marker)
                .await
                .map_err(storage)?
                .ok_or_else(|| not_found(kind, &marker.to_string()))?,
        );
    }
    let items = workloads::list(&mut conn, &scope, kind, (filters.bay, filters.name), &page)
        .await
        .map_err(storage)?;
    Ok(Value::Array(
        items.into_iter().map(|w| to_value(kind, w)).collect(),
    ))
}

/// Serves `<kind>_create`, `_update` and `_delete`.
pub(crate) async fn serve(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    call: WorkloadCall,
) -> Result<Value, RemoteFailure> {
    match call {
        WorkloadCall::Create(w) => create(c, ctx, kind, w).await,
        WorkloadCall::Update { workload, changes } => {
            update(c, ctx, kind, workload, &changes).await
        }
        WorkloadCall::Delete(uuid) => delete(c, ctx, kind, uuid).await,
    }
}

/// The bay of a request: visible to the caller, a kubernetes bay, and ready (400 otherwise).
async fn kubernetes_bay(
    conn: &mut sqlx::PgConnection,
    scope: &Scope,
    uuid: Uuid,
) -> Result<Bay, RemoteFailure> {
    let bay = bays::find(conn, scope, bays::Key::Uuid(uuid))
        .await
        .map_err(storage)?
        .pop()
        .ok_or_else(|| {
            RemoteFailure::typed(
                "BayNotFound",
                400,
                format!("Bay {uuid} could not be found."),
            )
        })?;
    let model = baymodels::find(conn, &Scope::all(), baymodels::Key::Uuid(bay.baymodel_id))
        .await
        .map_err(storage)?
        .pop()
        .ok_or_else(|| {
            RemoteFailure::invalid(format!("The baymodel of bay {} is gone.", bay.name))
        })?;
    if model.coe != Coe::Kubernetes {
        return Err(RemoteFailure::invalid(format!(
            "Cannot fulfill request with a {} bay, expecting a kubernetes bay.",
            model.coe
        )));
    }
    if !bay.status.is_ready() {
        return Err(RemoteFailure::invalid(format!(
            "Bay {} is not ready: its status is {}.",
            bay.name, bay.status
        )));
    }
    Ok(bay)
}

fn parse(c: &Conductor, text: &str, kind: WorkloadKind) -> Result<Manifest, RemoteFailure> {
    manifest::parse(text, kind, c.max_manifest_size)
        .map_err(|e| RemoteFailure::invalid(e.to_string()))
}

/// The manifest text to keep after the conductor changed the parsed object (replicas).
fn manifest_text(m: &Manifest) -> String {
    serde_json::to_string(&m.object).unwrap_or_default()
}

/// Copies what Kubernetes shows of the object into the record.
fn apply_state(w: &mut Workload, state: &WorkloadState) {
    w.status.clone_from(&state.status);
    w.host.clone_from(&state.host);
    w.ip.clone_from(&state.ip);
    if state.ports.is_some() {
        w.ports.clone_from(&state.ports);
    }
    w.ready_replicas = state.ready_replicas;
}

/// `<kind>_create`: records, then makes the object in the bay's namespace.
async fn create(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    request: Workload,
) -> Result<Value, RemoteFailure> {
    let kube = kubernetes_driver(c)?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let bay = kubernetes_bay(&mut conn, &Scope::project(tenant(ctx)), request.bay_uuid).await?;
    let text = request
        .manifest
        .as_deref()
        .ok_or_else(|| RemoteFailure::invalid(manifest::EMPTY_MESSAGE))?;
    let mut m = parse(c, text, kind)?;
    let mut record = Workload {
        uuid: request.uuid,
        desc: request.desc.filter(|_| kind == WorkloadKind::Pod),
        project_id: bay.project_id.clone(),
        user_id: ctx.user_id.clone().unwrap_or_default(),
        bay_uuid: bay.uuid,
        manifest: Some(text.to_owned()),
        manifest_url: request.manifest_url,
        ..Workload::default()
    };
    if let (WorkloadKind::ReplicationController, Some(replicas)) = (kind, request.replicas) {
        manifest::set_replicas(&mut m, i64::from(replicas))
            .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
        record.manifest = Some(manifest_text(&m));
    }
    record.describe(&m);
    let stored = match workloads::insert(&mut conn, kind, &record).await {
        Ok(stored) => stored,
        Err(Error::Duplicate(constraint)) if constraint == "workload_uuid_key" => {
            // A replayed request finds its own record; another one's uuid is a conflict.
            let scope = Scope::project(tenant(ctx));
            return match workloads::find(&mut conn, &scope, kind, Key::Uuid(record.uuid), None)
                .await
                .map_err(storage)?
                .pop()
            {
                Some(existing) if existing.name == record.name => Ok(to_value(kind, existing)),
                _ => Err(RemoteFailure::typed(
                    &format!("{kind}AlreadyExists"),
                    409,
                    format!(
                        "A {} with UUID {} already exists.",
                        kind.singular(),
                        record.uuid
                    ),
                )),
            };
        }
        Err(Error::Duplicate(_)) => {
            return Err(RemoteFailure::typed(
                &format!("{kind}AlreadyExists"),
                409,
                format!(
                    "A {} named {} already exists in bay {}.",
                    kind.singular(),
                    record.name,
                    bay.name
                ),
            ));
        }
        Err(e) => return Err(storage(e)),
    };
    drop(conn);
    match kube.apply_workload(&bay.uuid, &m, &stored.uuid).await {
        Ok(state) => {
            let mut record = stored;
            apply_state(&mut record, &state);
            let mut conn = c.pool.acquire().await.map_err(storage)?;
            let saved = workloads::save(&mut conn, kind, &record)
                .await
                .map_err(storage)?
                .unwrap_or(record);
            Ok(to_value(kind, saved))
        }
        Err(e) => {
            // Nothing made, or made but unanswered (then the reconciler removes the object,
            // which has no record any more).
            let mut conn = c.pool.acquire().await.map_err(storage)?;
            workloads::delete(&mut conn, stored.uuid)
                .await
                .map_err(storage)?;
            Err(kubernetes_failure(e))
        }
    }
}

/// Takes the record's action lock in a fresh transaction, held until that transaction ends;
/// another update or delete of the record in flight is a 409.
async fn action_lock(
    c: &Conductor,
    kind: WorkloadKind,
    record: &Workload,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, RemoteFailure> {
    let mut lock = c.pool.begin().await.map_err(storage)?;
    if magnum_db::locks::try_lock(&mut lock, record.uuid)
        .await
        .map_err(storage)?
    {
        Ok(lock)
    } else {
        Err(RemoteFailure::conflict(format!(
            "Another operation is running on {} {}.",
            kind.singular(),
            record.name
        )))
    }
}

/// `<kind>_update`: a new description is recorded; a new manifest or replica count replaces the
/// object in Kubernetes first.
async fn update(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    request: Workload,
    changes: &[String],
) -> Result<Value, RemoteFailure> {
    let mut record = load(c, ctx, kind, &Lookup::Uuid(request.uuid)).await?;
    let changed = |field: &str| changes.iter().any(|c| c == field);
    // Held until the record is saved; dropped (rolled back) on any early return.
    let mut lock = action_lock(c, kind, &record).await?;
    if changed("desc") && kind == WorkloadKind::Pod {
        record.desc = request.desc.clone();
    }
    if changed("manifest") || changed("replicas") {
        let kube = kubernetes_driver(c)?;
        kubernetes_bay(&mut lock, &Scope::all(), record.bay_uuid).await?;
        let (text, url) = if changed("manifest") {
            let text = request
                .manifest
                .clone()
                .ok_or_else(|| RemoteFailure::invalid(manifest::EMPTY_MESSAGE))?;
            (text, request.manifest_url.clone())
        } else {
            (
                record.manifest.clone().unwrap_or_default(),
                record.manifest_url.clone(),
            )
        };
        let mut m = parse(c, &text, kind)?;
        manifest::check_name_kept(&m, &record.name)
            .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
        record.manifest = Some(text);
        record.manifest_url = url;
        if changed("replicas") {
            let replicas = request.replicas.ok_or_else(|| {
                RemoteFailure::invalid("Invalid input for field/attribute replicas. Value: None.")
            })?;
            manifest::set_replicas(&mut m, i64::from(replicas))
                .map_err(|e| RemoteFailure::invalid(e.to_string()))?;
            record.manifest = Some(manifest_text(&m));
        }
        let state = kube
            .update_workload(&record.bay_uuid, &m, &record.uuid)
            .await
            .map_err(kubernetes_failure)?;
        record.describe(&m);
        apply_state(&mut record, &state);
    }
    let saved = workloads::save(&mut lock, kind, &record)
        .await
        .map_err(storage)?
        .ok_or_else(|| not_found(kind, &record.uuid.to_string()))?;
    lock.commit().await.map_err(storage)?;
    Ok(to_value(kind, saved))
}

/// `<kind>_delete`: removes the object from Kubernetes, then the record.
async fn delete(
    c: &Conductor,
    ctx: &RequestContext,
    kind: WorkloadKind,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let record = load(c, ctx, kind, &Lookup::Uuid(uuid)).await?;
    let kube = kubernetes_driver(c)?;
    let mut lock = action_lock(c, kind, &record).await?;
    kube.delete_workload(&record.bay_uuid, kind, &record.name)
        .await
        .map_err(kubernetes_failure)?;
    workloads::delete(&mut lock, record.uuid)
        .await
        .map_err(storage)?;
    lock.commit().await.map_err(storage)?;
    Ok(Value::Null)
}

/// Brings the records of one kubernetes bay in step with its namespace: copies each object's
/// state, drops records whose object vanished and deletes objects Magnum labelled that have no
/// record.
///
/// A record is written before its object, and written again once the object is made; so a
/// record last written before the objects were listed, yet missing from the list, lost its
/// object. A record never written again is a create still running, or one whose conductor
/// died: it is dropped only after [`UNFINISHED_CREATE_GRACE`].
pub(crate) async fn reconcile_bay(
    c: &Conductor,
    kube: &KubernetesDriver,
    bay: Uuid,
) -> Result<(), RemoteFailure> {
    for kind in [
        WorkloadKind::Pod,
        WorkloadKind::Service,
        WorkloadKind::ReplicationController,
    ] {
        // Objects first: a record is written before its object, so every object listed here
        // whose create is still running already has its record below.
        let listed_at = chrono::Utc::now();
        let objects = kube
            .list_workloads(&bay, kind)
            .await
            .map_err(kubernetes_failure)?;
        let mut conn = c.pool.acquire().await.map_err(storage)?;
        let records = workloads::of_bay(&mut conn, bay, kind)
            .await
            .map_err(storage)?;
        let seen: BTreeMap<Uuid, &WorkloadState> =
            objects.iter().map(|o| (o.uuid, &o.state)).collect();
        let grace = chrono::Duration::from_std(UNFINISHED_CREATE_GRACE).unwrap_or_default();
        let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
        let now = chrono::Utc::now();
        for record in &records {
            let lost = match record.updated_at {
                Some(written) => written + skew < listed_at,
                None => record.created_at + grace < now,
            };
            match seen.get(&record.uuid) {
                Some(state) => {
                    let observed = Observed {
                        status: state.status.clone(),
                        host: state.host.clone(),
                        ip: state.ip.clone(),
                        ports: state.ports.clone(),
                        ready_replicas: state.ready_replicas,
                    };
                    workloads::observe(&mut conn, record.uuid, &observed)
                        .await
                        .map_err(storage)?;
                }
                None if lost => {
                    tracing::info!(
                        bay.uuid = %bay, kind = %kind, uuid = %record.uuid,
                        "dropping the record of an object that vanished from Kubernetes"
                    );
                    workloads::delete(&mut conn, record.uuid)
                        .await
                        .map_err(storage)?;
                }
                None => {}
            }
        }
        drop(conn);
        for object in &objects {
            if records.iter().all(|r| r.uuid != object.uuid) {
                tracing::info!(
                    bay.uuid = %bay, kind = %kind, name = %object.name,
                    "deleting an object whose record is gone"
                );
                kube.delete_workload(&bay, kind, &object.name)
                    .await
                    .map_err(kubernetes_failure)?;
            }
        }
    }
    Ok(())
}
