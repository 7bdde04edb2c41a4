//! Routes each decoded RPC call to its handler, and turns storage errors into RPC failures.

use crate::backends::Backends;
use crate::config::{BaySection, ConductorConfig};
use crate::handlers;
use magnum_core::bay::BayOp;
use magnum_rpc::methods::{ConductorInfo, ObjectKind, VersionCaps, object_versions};
use magnum_rpc::version::RPC_API_VERSION;
use magnum_rpc::{Call, Dispatch, Payload, RemoteFailure, RequestContext};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// The conductor's state shared by every handler and worker; shared behind an `Arc`.
#[derive(Debug)]
pub struct Conductor {
    pub(crate) pool: sqlx::PgPool,
    server_name: String,
    host: String,
    pub(crate) max_limit: u32,
    pub(crate) max_manifest_size: usize,
    service_down_time: u64,
    pub(crate) backends: Backends,
    pub(crate) bay: BaySection,
    pub(crate) quota_default: i64,
    pub(crate) lease: Duration,
    /// Bay work running on this conductor.
    pub(crate) work: TaskTracker,
    /// Cancelled when the conductor stops: workers hand their leases back.
    pub(crate) shutdown: CancellationToken,
}

impl Conductor {
    /// A conductor using `pool` and `backends`, with a fresh random server name.
    pub(crate) fn new(
        cfg: &ConductorConfig,
        pool: sqlx::PgPool,
        backends: Backends,
        shutdown: CancellationToken,
    ) -> Self {
        let server_name = Alphanumeric
            .sample_string(&mut rand::rng(), 12)
            .to_lowercase();
        Conductor {
            pool,
            server_name,
            host: cfg.host(),
            max_limit: cfg.api.max_limit,
            max_manifest_size: cfg.default.max_manifest_size,
            service_down_time: cfg.default.service_down_time,
            backends,
            bay: cfg.bay.clone(),
            quota_default: cfg.quotas.max_clusters_per_project,
            lease: cfg.conductor.lease(),
            work: TaskTracker::new(),
            shutdown,
        }
    }

    /// This process's server name (names its queue and its services row).
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// `[DEFAULT] service_down_time` in seconds.
    pub(crate) fn service_down_time_secs(&self) -> i64 {
        i64::try_from(self.service_down_time).unwrap_or(i64::from(i32::MAX))
    }

    /// `[DEFAULT] host`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Writes this conductor's heartbeat.
    pub(crate) async fn heartbeat(&self) -> Result<(), magnum_db::Error> {
        let mut conn = self.pool.acquire().await?;
        magnum_db::services::heartbeat(
            &mut conn,
            &self.server_name,
            &self.host,
            "magnum-conductor",
            &RPC_API_VERSION.to_string(),
            &object_versions(),
        )
        .await
    }

    /// Removes this conductor's services row on a clean exit.
    pub(crate) async fn leave(&self) {
        if let Ok(mut conn) = self.pool.acquire().await {
            let _ = magnum_db::services::remove(&mut conn, &self.server_name).await;
        }
    }

    async fn versions(&self) -> Result<Value, RemoteFailure> {
        let mut conn = self.pool.acquire().await.map_err(storage)?;
        let rows = magnum_db::services::list(&mut conn, self.service_down_time_secs())
            .await
            .map_err(storage)?;
        let up: Vec<_> = rows.iter().filter(|r| r.up).collect();
        let cap = up
            .iter()
            .filter_map(|r| r.rpc_api_max.parse::<magnum_rpc::Version>().ok())
            .min()
            .unwrap_or(RPC_API_VERSION);
        let caps = VersionCaps {
            rpc_api_cap: cap.to_string(),
            object_caps: object_versions(),
            conductors: rows
                .iter()
                .map(|r| ConductorInfo {
                    server: r.server_name.clone(),
                    host: r.host.clone(),
                    rpc_api_max: r.rpc_api_max.clone(),
                    up: r.up,
                })
                .collect(),
        };
        Ok(serde_json::to_value(caps).unwrap_or_default())
    }
}

/// Maps a storage failure: an unreachable database is a 503; anything else a logged 500.
pub(crate) fn storage(e: impl Into<magnum_db::Error>) -> RemoteFailure {
    match e.into() {
        magnum_db::Error::Unavailable(e) => {
            tracing::warn!(error = %e, "database unavailable");
            RemoteFailure::unavailable("The database is not reachable.")
        }
        other => {
            tracing::error!(error = %other, "database error");
            RemoteFailure::internal()
        }
    }
}

/// The RPC face of a [`Conductor`].
#[derive(Debug, Clone)]
pub(crate) struct Handlers(pub(crate) Arc<Conductor>);

impl Dispatch for Handlers {
    async fn dispatch(&self, ctx: RequestContext, call: Call) -> Result<Payload, RemoteFailure> {
        let c = &self.0;
        // Baymodel replies are written as JSON text straight from the rows; the rest build a
        // `Value`.
        match call {
            Call::GetObject {
                kind: ObjectKind::BayModel,
                lookup,
            } => handlers::baymodels::get(c, &ctx, &lookup).await,
            Call::ListObjects {
                kind: ObjectKind::BayModel,
                query,
            } => handlers::baymodels::list(c, &ctx, query).await,
            Call::BayModelCreate(spec) => handlers::baymodels::create(c, &ctx, spec).await,
            Call::BayModelUpdate {
                uuid,
                baymodel,
                changes,
            } => handlers::baymodels::update(c, &ctx, uuid, &baymodel, &changes).await,
            call => self.dispatch_tree(ctx, call).await.map(Payload::Value),
        }
    }
}

impl Handlers {
    async fn dispatch_tree(&self, ctx: RequestContext, call: Call) -> Result<Value, RemoteFailure> {
        let c = &self.0;
        match call {
            Call::PingConductor => Ok(json!(true)),
            Call::ConductorVersions => c.versions().await,
            Call::GetObject { kind, lookup } => match kind {
                ObjectKind::BayModel => handlers::baymodels::get(c, &ctx, &lookup)
                    .await
                    .map(Payload::into_value),
                ObjectKind::Bay => handlers::bays::get(c, &ctx, &lookup).await,
                ObjectKind::Node => handlers::nodes::get(c, &ctx, &lookup).await,
                ObjectKind::NodeGroup => handlers::nodegroups::get(c, &ctx, &lookup).await,
                ObjectKind::Container => handlers::containers::get(c, &ctx, &lookup).await,
                ObjectKind::Workload(kind) => {
                    handlers::workloads::get(c, &ctx, kind, &lookup).await
                }
                ObjectKind::MagnumService | ObjectKind::Quota => Err(RemoteFailure::typed(
                    "NotSupported",
                    400,
                    "Only list is served for MagnumService and Quota; use the quota calls.",
                )),
            },
            Call::ListObjects { kind, query } => match kind {
                ObjectKind::BayModel => handlers::baymodels::list(c, &ctx, query)
                    .await
                    .map(Payload::into_value),
                ObjectKind::Bay => handlers::bays::list(c, &ctx, query).await,
                ObjectKind::Node => handlers::nodes::list(c, &ctx, query).await,
                ObjectKind::NodeGroup => handlers::nodegroups::list(c, &ctx, &query).await,
                ObjectKind::Container => handlers::containers::list(c, &ctx, query).await,
                ObjectKind::Workload(kind) => handlers::workloads::list(c, &ctx, kind, query).await,
                ObjectKind::MagnumService => handlers::admin::services(c).await,
                ObjectKind::Quota => handlers::admin::quotas(c, &ctx, &query).await,
            },
            Call::BayModelCreate(spec) => handlers::baymodels::create(c, &ctx, spec)
                .await
                .map(Payload::into_value),
            Call::BayModelUpdate {
                uuid,
                baymodel,
                changes,
            } => handlers::baymodels::update(c, &ctx, uuid, &baymodel, &changes)
                .await
                .map(Payload::into_value),
            Call::BayModelDelete { uuid } => handlers::baymodels::delete(c, &ctx, uuid).await,
            Call::BayCreate {
                bay,
                bay_create_timeout,
            } => handlers::bays::create(c, &ctx, bay, bay_create_timeout).await,
            Call::BayUpdate { bay, rollback } => {
                handlers::bays::update(c, &ctx, &bay, rollback).await
            }
            Call::BayDelete { uuid } => handlers::bays::delete(c, &ctx, uuid).await,
            Call::BayResize {
                bay,
                node_count,
                nodes_to_remove,
                nodegroup,
            } => {
                let group = nodegroup.as_deref();
                handlers::bays::resize(c, &ctx, &bay, node_count, &nodes_to_remove, group).await
            }
            Call::BayUpgrade { bay, baymodel, .. } => {
                handlers::bays::upgrade(c, &ctx, &bay, baymodel).await
            }
            Call::NodeGroupCreate {
                bay_uuid,
                nodegroup,
            } => handlers::nodegroups::create(c, &ctx, bay_uuid, nodegroup).await,
            Call::NodeGroupUpdate {
                bay_uuid,
                nodegroup,
            } => handlers::nodegroups::update(c, &ctx, bay_uuid, nodegroup, Vec::new()).await,
            Call::NodeGroupDelete { bay_uuid, uuid } => {
                handlers::nodegroups::delete(c, &ctx, bay_uuid, uuid).await
            }
            Call::ContainerCreate(spec) => handlers::containers::create(c, &ctx, spec).await,
            Call::ContainerShow { container_uuid } => {
                handlers::containers::show(c, &ctx, container_uuid).await
            }
            Call::ContainerDelete {
                container_uuid,
                force,
            } => handlers::containers::delete(c, &ctx, container_uuid, force).await,
            Call::ContainerDo(action, uuid) => {
                handlers::containers::act(c, &ctx, action, uuid).await
            }
            Call::ContainerLogs { container_uuid } => {
                handlers::containers::logs(c, &ctx, container_uuid).await
            }
            Call::ContainerExec {
                container_uuid,
                command,
            } => handlers::containers::exec(c, &ctx, container_uuid, &command).await,
            Call::Admin(call) => handlers::admin::serve(c, &ctx, call).await,
            Call::ContainerRename(change) => {
                handlers::containers::rename(c, &ctx, change.uuid, &change.name).await
            }
            Call::Workload(kind, call) => handlers::workloads::serve(c, &ctx, kind, call).await,
            Call::Certificate(call) => handlers::certificates::serve(c, &ctx, call).await,
            Call::BayConverge(work) => {
                let op = BayOp::parse(&work.op);
                let op_id = Uuid::try_parse(&work.op_id);
                let (Some(op), Ok(op_id)) = (op, op_id) else {
                    return Err(RemoteFailure::invalid(
                        "bay_converge: unknown op or bad op_id",
                    ));
                };
                crate::converge::start(c, work.bay_uuid, op, op_id);
                Ok(Value::Null)
            }
        }
    }
}
