//! Routes each decoded RPC call to its handler, and turns storage errors into RPC failures.

use crate::config::ConductorConfig;
use crate::handlers;
use magnum_rpc::methods::{ConductorInfo, ObjectKind, VersionCaps, object_versions};
use magnum_rpc::version::RPC_API_VERSION;
use magnum_rpc::{Call, Dispatch, RemoteFailure, RequestContext};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{Value, json};

/// The conductor's state shared by every handler; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Conductor {
    pub(crate) pool: sqlx::PgPool,
    server_name: String,
    host: String,
    pub(crate) max_limit: u32,
    service_down_time: u64,
}

impl Conductor {
    /// A conductor using `pool`, with a fresh random server name.
    pub fn new(cfg: &ConductorConfig, pool: sqlx::PgPool) -> Self {
        let server_name = Alphanumeric
            .sample_string(&mut rand::rng(), 12)
            .to_lowercase();
        Conductor {
            pool,
            server_name,
            host: cfg.host(),
            max_limit: cfg.api.max_limit,
            service_down_time: cfg.default.service_down_time,
        }
    }

    /// This process's server name (names its queue and its services row).
    pub fn server_name(&self) -> &str {
        &self.server_name
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
        let rows = magnum_db::services::list(
            &mut conn,
            i64::try_from(self.service_down_time).unwrap_or(i64::MAX),
        )
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

impl Dispatch for Conductor {
    async fn dispatch(&self, ctx: RequestContext, call: Call) -> Result<Value, RemoteFailure> {
        match call {
            Call::PingConductor => Ok(json!(true)),
            Call::ConductorVersions => self.versions().await,
            Call::GetObject {
                kind: ObjectKind::BayModel,
                lookup,
            } => handlers::baymodels::get(self, &ctx, &lookup).await,
            Call::ListObjects {
                kind: ObjectKind::BayModel,
                query,
            } => handlers::baymodels::list(self, &ctx, query).await,
            Call::BayModelCreate(spec) => handlers::baymodels::create(self, &ctx, spec).await,
            Call::BayModelUpdate {
                uuid,
                baymodel,
                changes,
            } => handlers::baymodels::update(self, &ctx, uuid, &baymodel, &changes).await,
            Call::BayModelDelete { uuid } => handlers::baymodels::delete(self, &ctx, uuid).await,
        }
    }
}
