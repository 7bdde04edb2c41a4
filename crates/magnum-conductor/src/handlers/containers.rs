//! Containers on the Docker hosts of swarm bays (spec/rest-api.md §3.5, spec/rpc.md §7.3).

use super::{db_key, describe, page, read_scope, tenant};
use crate::Conductor;
use crate::dispatch::storage;
use magnum_core::bay::Bay;
use magnum_core::baymodel::Coe;
use magnum_core::container::{self, Container, ContainerSpec, ContainerStatus};
use magnum_db::containers::{self, Key, NewContainer};
use magnum_db::{Error, Scope, baymodels, bays, nodes};
use magnum_drivers::DriverError;
use magnum_drivers::docker::{self as docker, DockerDriver};
use magnum_rpc::methods::{ContainerAction, ListQuery, Lookup, Output};
use magnum_rpc::{Primitive, RemoteFailure, RequestContext};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Grace a stop or restart gives the container before killing it.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn not_found(ident: &str) -> RemoteFailure {
    RemoteFailure::not_found("Container", ident).with_kwarg("container", ident)
}

fn to_value(container: Container) -> Value {
    Primitive::new(container).to_value()
}

/// Maps a driver failure on a container: Engine refusals caused by the request are 409s.
fn engine_failure(e: DriverError) -> RemoteFailure {
    match e {
        DriverError::Refused(message) => RemoteFailure::typed("Conflict", 409, message),
        DriverError::Unreachable(message) => RemoteFailure::unavailable(message),
        other => RemoteFailure::typed(
            "ContainerException",
            500,
            format!("Docker internal Error: {other}"),
        ),
    }
}

fn docker_driver(c: &Conductor) -> Result<&DockerDriver, RemoteFailure> {
    c.backends.docker().ok_or_else(|| {
        RemoteFailure::invalid("The docker driver is not configured on this conductor.")
    })
}

/// Loads one container in the caller's scope.
async fn load(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Container, RemoteFailure> {
    let scope = read_scope(ctx, Some(lookup));
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let key = db_key(lookup);
    let mut found = containers::find(&mut conn, &scope, key)
        .await
        .map_err(storage)?;
    if found.len() > 1 {
        return Err(RemoteFailure::conflict(
            "Multiple containers exist with same name. Please use the container uuid instead.",
        ));
    }
    found.pop().ok_or_else(|| not_found(&describe(lookup)))
}

/// `Container.get_by_*`.
pub(crate) async fn get(
    c: &Conductor,
    ctx: &RequestContext,
    lookup: &Lookup,
) -> Result<Value, RemoteFailure> {
    load(c, ctx, lookup).await.map(to_value)
}

/// `Container.list`, with filter `bay_uuid`; statuses as the reconciler last saw them.
pub(crate) async fn list(
    c: &Conductor,
    ctx: &RequestContext,
    query: ListQuery,
) -> Result<Value, RemoteFailure> {
    let mut page = page(&query, containers::SORT_KEYS, c.max_limit)?;
    let bay = super::bay_filters(&query, false)?.bay;
    let scope = read_scope(ctx, None);
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(marker) = query.marker {
        page.after_id = Some(
            containers::marker_id(&mut conn, &scope, marker)
                .await
                .map_err(storage)?
                .ok_or_else(|| not_found(&marker.to_string()))?,
        );
    }
    let items = containers::list(&mut conn, &scope, bay, &page)
        .await
        .map_err(storage)?;
    Ok(Value::Array(items.into_iter().map(to_value).collect()))
}

/// The bay a container request names: visible, a swarm bay, and ready (400 otherwise).
async fn swarm_bay(
    conn: &mut sqlx::PgConnection,
    ctx: &RequestContext,
    ident: &str,
) -> Result<Bay, RemoteFailure> {
    let missing = || {
        RemoteFailure::typed(
            "BayNotFound",
            400,
            format!("Bay {ident} could not be found."),
        )
    };
    let uuid = Uuid::try_parse(ident).map_err(|_| missing())?;
    let scope = Scope::project(tenant(ctx));
    let bay = bays::find(conn, &scope, bays::Key::Uuid(uuid))
        .await
        .map_err(storage)?
        .pop()
        .ok_or_else(missing)?;
    let model = baymodels::find(conn, &Scope::all(), baymodels::Key::Uuid(bay.baymodel_id))
        .await
        .map_err(storage)?
        .pop()
        .ok_or_else(missing)?;
    if model.coe != Coe::Swarm {
        return Err(RemoteFailure::invalid(format!(
            "Cannot fulfill request with a {} bay, expecting a swarm bay.",
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

/// `container_create`: records the container as `Creating` and answers; the Engine create runs
/// right after on this conductor (resumed by any conductor if this one dies).
pub(crate) async fn create(
    c: &Arc<Conductor>,
    ctx: &RequestContext,
    spec: ContainerSpec,
) -> Result<Value, RemoteFailure> {
    docker_driver(c)?;
    let uuid = spec
        .uuid
        .ok_or_else(|| RemoteFailure::invalid("A container needs a uuid."))?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let bay = swarm_bay(&mut conn, ctx, &spec.bay_uuid).await?;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| magnum_core::fields::generated_name("container", &uuid));
    let new = NewContainer {
        uuid,
        project_id: bay.project_id.clone(),
        user_id: ctx.user_id.clone().unwrap_or_default(),
        name: name.clone(),
        image: spec.image.clone(),
        command: spec.command.clone(),
        memory: spec.memory.clone(),
        environment: spec.environment.clone(),
        bay_uuid: bay.uuid,
    };
    let stored = match containers::insert(&mut conn, &new, c.server_name(), c.lease).await {
        Ok(stored) => stored,
        Err(Error::Duplicate(constraint)) if constraint == "container_uuid_key" => {
            let scope = Scope::project(tenant(ctx));
            return match containers::find(&mut conn, &scope, Key::Uuid(uuid))
                .await
                .map_err(storage)?
                .pop()
            {
                Some(existing) if existing.name == name => Ok(to_value(existing)),
                _ => Err(RemoteFailure::typed(
                    "ContainerAlreadyExists",
                    409,
                    format!("A container with UUID {uuid} already exists."),
                )),
            };
        }
        Err(Error::Duplicate(_)) => {
            return Err(RemoteFailure::typed(
                "ContainerAlreadyExists",
                409,
                format!(
                    "A container named {name} already exists in bay {}.",
                    bay.name
                ),
            ));
        }
        Err(e) => return Err(storage(e)),
    };
    let worker = Arc::clone(c);
    c.work
        .spawn(async move { create_on_engine(&worker, uuid).await });
    Ok(to_value(stored))
}

/// Pulls the image if needed and creates the container (not started) on the bay's least
/// loaded host; records `Stopped`, or `Error` with the reason. Idempotent: a container already
/// made for this uuid is adopted.
pub(crate) async fn create_on_engine(c: &Conductor, uuid: Uuid) {
    let result = async {
        let docker = docker_driver(c)?;
        let mut conn = c.pool.acquire().await.map_err(storage)?;
        let container = containers::find(&mut conn, &Scope::all(), Key::Uuid(uuid))
            .await
            .map_err(storage)?
            .pop()
            .ok_or_else(|| not_found(&uuid.to_string()))?;
        let page = magnum_db::Page {
            limit: 1000,
            after_id: None,
            sort_key: "id",
            descending: false,
        };
        let hosts = nodes::list(&mut conn, &Scope::all(), Some(container.bay_uuid), &page)
            .await
            .map_err(storage)?;
        drop(conn);
        let endpoints: Vec<String> = hosts.iter().filter_map(|n| n.backend_id.clone()).collect();
        if endpoints.is_empty() {
            return Err(RemoteFailure::invalid("The bay holds no Docker host."));
        }
        let endpoint = docker
            .least_loaded(&endpoints)
            .await
            .map_err(engine_failure)?;
        let host = hosts
            .iter()
            .find(|n| n.backend_id.as_deref() == Some(endpoint.as_str()))
            .map(|n| n.uuid);
        let spec = docker::ContainerSpec {
            uuid,
            name: container.name.clone(),
            image: container.image.clone(),
            command: container
                .command
                .as_deref()
                .map(container::split_command)
                .transpose()
                .map_err(|e| RemoteFailure::invalid(e.to_string()))?,
            memory: container
                .memory
                .as_deref()
                .map(container::memory_bytes)
                .transpose()
                .map_err(|e| RemoteFailure::invalid(e.to_string()))?,
            environment: container.environment.clone(),
            bay_uuid: container.bay_uuid,
            project_id: container.project_id.clone(),
        };
        let id = docker
            .create_container(&endpoint, &spec)
            .await
            .map_err(engine_failure)?;
        Ok::<_, RemoteFailure>((host, id, endpoint))
    }
    .await;
    let Ok(mut conn) = c.pool.acquire().await else {
        return;
    };
    let written = match &result {
        Ok((host, id, _)) => {
            containers::created(
                &mut conn,
                uuid,
                c.server_name(),
                *host,
                Some(id),
                ContainerStatus::Stopped,
                None,
            )
            .await
        }
        Err(failure) => {
            containers::created(
                &mut conn,
                uuid,
                c.server_name(),
                None,
                None,
                ContainerStatus::Error,
                Some(&failure.message),
            )
            .await
        }
    };
    match written {
        Ok(true) => {
            tracing::info!(container.uuid = %uuid, ok = result.is_ok(), "container create finished")
        }
        Ok(false) => {
            // Deleted while the Engine create ran (the delete saw no host yet): the container
            // just made belongs to nobody, so it goes too. Taken over by another conductor
            // instead (the row is still there): that one adopts it.
            let gone = containers::find(&mut conn, &Scope::all(), Key::Uuid(uuid))
                .await
                .is_ok_and(|rows| rows.is_empty());
            if let (true, Ok((_, _, endpoint)), Ok(docker)) = (gone, &result, docker_driver(c)) {
                tracing::info!(container.uuid = %uuid, "removing the Engine container of a container deleted while it was created");
                if let Err(e) = docker.remove(endpoint, uuid, true).await {
                    tracing::warn!(container.uuid = %uuid, error = %e, "could not remove the orphaned Engine container");
                }
            } else {
                tracing::warn!(container.uuid = %uuid, "container create was taken over or removed");
            }
        }
        Err(e) => {
            tracing::warn!(container.uuid = %uuid, error = %e, "could not record the container create")
        }
    }
}

/// Reads the status of up to `limit` containers from their Engines and records what changed
/// (a container stopped, paused or removed behind Magnum's back; a host that stopped
/// answering), so lists show what the Engines show. Containers being created are left to their
/// create.
pub(crate) async fn reconcile(c: &Conductor, limit: i64) -> Result<(), RemoteFailure> {
    if c.backends.docker().is_none() {
        return Ok(());
    }
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let page = magnum_db::Page {
        limit,
        after_id: None,
        sort_key: "updated_at",
        descending: false,
    };
    let settled = containers::list(&mut conn, &Scope::all(), None, &page)
        .await
        .map_err(storage)?;
    drop(conn);
    for container in settled {
        let uuid = container.uuid;
        if let Err(e) = refresh(c, container).await {
            tracing::warn!(container.uuid = %uuid, error = %e.message, "could not refresh the container's status");
        }
    }
    remove_orphans(c).await
}

/// Removes Engine containers of this deployment's bays that have no record: a record is written
/// before its Engine container, so such a container's record was deleted while its create ran
/// on a conductor that died. Containers of bays this database does not know (another deployment
/// sharing the Engines) are left alone.
async fn remove_orphans(c: &Conductor) -> Result<(), RemoteFailure> {
    let docker = docker_driver(c)?;
    for endpoint in docker.endpoints() {
        let Ok(found) = docker.magnum_containers(endpoint).await else {
            continue; // an Engine that does not answer is looked at next pass
        };
        let mut conn = c.pool.acquire().await.map_err(storage)?;
        for (uuid, bay) in found {
            let known_bay = !bays::find(&mut conn, &Scope::all(), bays::Key::Uuid(bay))
                .await
                .map_err(storage)?
                .is_empty();
            let recorded = !containers::find(&mut conn, &Scope::all(), Key::Uuid(uuid))
                .await
                .map_err(storage)?
                .is_empty();
            if known_bay && !recorded {
                tracing::info!(container.uuid = %uuid, endpoint, "removing an Engine container whose record is gone");
                if let Err(e) = docker.remove(endpoint, uuid, true).await {
                    tracing::warn!(container.uuid = %uuid, error = %e, "could not remove an orphaned Engine container");
                }
            }
        }
    }
    Ok(())
}

/// Reads a container's status from its Engine and records it.
async fn refresh(c: &Conductor, container: Container) -> Result<Container, RemoteFailure> {
    if container.status == ContainerStatus::Creating {
        return Ok(container);
    }
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let Some(endpoint) = containers::endpoint(&mut conn, container.uuid)
        .await
        .map_err(storage)?
    else {
        return Ok(container);
    };
    let docker = docker_driver(c)?;
    let seen = match docker.status(&endpoint, container.uuid).await {
        docker::ContainerStatus::Running => ContainerStatus::Running,
        docker::ContainerStatus::Stopped => ContainerStatus::Stopped,
        docker::ContainerStatus::Paused => ContainerStatus::Paused,
        docker::ContainerStatus::Error => ContainerStatus::Error,
        docker::ContainerStatus::Unknown => ContainerStatus::Unknown,
    };
    let reason = match seen {
        ContainerStatus::Unknown => Some(format!("Docker host {endpoint} does not answer.")),
        ContainerStatus::Error if container.status != ContainerStatus::Error => {
            Some("The container is gone from its Docker host.".to_owned())
        }
        ContainerStatus::Error => container.status_reason.clone(),
        _ => None,
    };
    containers::set_status(
        &mut conn,
        container.uuid,
        container.status,
        seen,
        reason.as_deref(),
    )
    .await
    .map_err(storage)?;
    Ok(Container {
        status: seen,
        status_reason: reason,
        ..container
    })
}

/// `container_show`: the container with its status read from the Engine.
pub(crate) async fn show(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let container = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    refresh(c, container).await.map(to_value)
}

async fn endpoint_of(c: &Conductor, container: &Container) -> Result<String, RemoteFailure> {
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    containers::endpoint(&mut conn, container.uuid)
        .await
        .map_err(storage)?
        .ok_or_else(|| {
            RemoteFailure::typed(
                "Conflict",
                409,
                format!(
                    "Container {} is {} and has no Docker container yet.",
                    container.name,
                    container.status.as_str()
                ),
            )
        })
}

/// `container_start`, `_stop`, `_pause`, `_unpause`, `_reboot`: one action at a time per
/// container (another in flight: 409); "already in that state" is success.
pub(crate) async fn act(
    c: &Conductor,
    ctx: &RequestContext,
    action: ContainerAction,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let container = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let endpoint = endpoint_of(c, &container).await?;
    let docker = docker_driver(c)?;
    // Held until dropped at the end of this function.
    let mut lock = c.pool.begin().await.map_err(storage)?;
    if !magnum_db::locks::try_lock(&mut lock, uuid)
        .await
        .map_err(storage)?
    {
        return Err(RemoteFailure::conflict(format!(
            "Another action is running on container {}.",
            container.name
        )));
    }
    let done = match action {
        ContainerAction::Start => docker.start(&endpoint, uuid).await,
        ContainerAction::Stop => docker.stop(&endpoint, uuid, STOP_GRACE).await,
        ContainerAction::Pause => docker.pause(&endpoint, uuid).await,
        ContainerAction::Unpause => docker.unpause(&endpoint, uuid).await,
        ContainerAction::Reboot => docker.restart(&endpoint, uuid, STOP_GRACE).await,
    };
    drop(lock);
    done.map_err(engine_failure)?;
    refresh(c, container).await?;
    Ok(Value::Null)
}

/// `container_delete`: a running or paused container needs `force` (409 otherwise).
pub(crate) async fn delete(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    force: bool,
) -> Result<Value, RemoteFailure> {
    let container = refresh(c, load(c, ctx, &Lookup::Uuid(uuid)).await?).await?;
    let busy = matches!(
        container.status,
        ContainerStatus::Running | ContainerStatus::Paused
    );
    if busy && !force {
        return Err(RemoteFailure::typed(
            "Conflict",
            409,
            format!(
                "Container {} is {}: stop it first, or delete it with force.",
                container.name,
                container.status.as_str()
            ),
        ));
    }
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    if let Some(endpoint) = containers::endpoint(&mut conn, uuid)
        .await
        .map_err(storage)?
    {
        docker_driver(c)?
            .remove(&endpoint, uuid, true)
            .await
            .map_err(engine_failure)?;
    }
    containers::delete(&mut conn, uuid).await.map_err(storage)?;
    Ok(Value::Null)
}

/// `Container.save` (`object_action`): renames the record; the Engine container keeps its
/// name (it is addressed by uuid). Replies `[updates, null]`.
pub(crate) async fn rename(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    name: &str,
) -> Result<Value, RemoteFailure> {
    container::check_name(name).map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    let found = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let mut conn = c.pool.acquire().await.map_err(storage)?;
    let saved = match containers::rename(&mut conn, found.uuid, name).await {
        Ok(Some(saved)) => saved,
        Ok(None) => return Err(not_found(&uuid.to_string())),
        Err(Error::Duplicate(_)) => {
            return Err(RemoteFailure::typed(
                "ContainerAlreadyExists",
                409,
                format!("A container named {name} already exists in its bay."),
            ));
        }
        Err(e) => return Err(storage(e)),
    };
    let mut updates = match to_value(saved).get("magnum_object.data") {
        Some(Value::Object(fields)) => fields.clone(),
        _ => serde_json::Map::new(),
    };
    updates.insert("obj_what_changed".into(), serde_json::json!(["name"]));
    Ok(serde_json::json!([updates, null]))
}

/// `container_logs`.
pub(crate) async fn logs(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
) -> Result<Value, RemoteFailure> {
    let container = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let endpoint = endpoint_of(c, &container).await?;
    let output = docker_driver(c)?
        .logs(&endpoint, uuid, None)
        .await
        .map_err(engine_failure)?;
    Ok(serde_json::to_value(Output {
        output,
        exit_code: None,
    })
    .unwrap_or_default())
}

/// `container_exec`: runs the command (split like a shell) and returns its output.
pub(crate) async fn exec(
    c: &Conductor,
    ctx: &RequestContext,
    uuid: Uuid,
    command: &str,
) -> Result<Value, RemoteFailure> {
    let argv =
        container::split_command(command).map_err(|e| RemoteFailure::invalid(e.to_string()))?;
    if argv.is_empty() {
        return Err(RemoteFailure::invalid("The command is empty."));
    }
    // A command runs once: a copy of the message, redelivered to this or another conductor
    // after a crash, finds its id recorded and does not run it again (spec/rpc.md §8.2).
    if let Some(id) = &ctx.message_id {
        let mut conn = c.pool.acquire().await.map_err(storage)?;
        if !magnum_db::dedupe::claim(&mut conn, id, "container_exec")
            .await
            .map_err(storage)?
        {
            return Err(RemoteFailure::conflict(
                "This exec request was delivered before and is not run twice.",
            ));
        }
    }
    let container = load(c, ctx, &Lookup::Uuid(uuid)).await?;
    let endpoint = endpoint_of(c, &container).await?;
    let (output, code) = docker_driver(c)?
        .exec(&endpoint, uuid, &argv)
        .await
        .map_err(engine_failure)?;
    Ok(serde_json::to_value(Output {
        output,
        exit_code: Some(code),
    })
    .unwrap_or_default())
}
