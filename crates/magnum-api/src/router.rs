//! Every route of the API in one table, in api-ref order.

use crate::handlers::admin;
use crate::handlers::baymodels::{self, BayModels, ClusterTemplates};
use crate::handlers::bays::{self, Bays, Clusters};
use crate::handlers::certificates;
use crate::handlers::containers;
use crate::handlers::nodegroups;
use crate::handlers::versions;
use crate::handlers::workloads::{self, Pods, Rcs, Services};
use crate::middleware;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, put};
use magnum_rpc::workloads::WorkloadObject;

/// The routes of one Kubernetes object kind: `/v1/pods`, `/v1/services` or `/v1/rcs`, each
/// item also under `/<ident>/<bay>`.
fn workload_routes<O: WorkloadObject>() -> Router<AppState> {
    let collection = format!("/v1/{}", O::KIND.route());
    let item = || {
        get(workloads::show::<O>)
            .patch(workloads::update::<O>)
            .delete(workloads::delete::<O>)
    };
    Router::new()
        .route(
            &collection,
            get(workloads::list::<O>).post(workloads::create::<O>),
        )
        .route(&format!("{collection}/detail"), get(workloads::detail::<O>))
        .route(&format!("{collection}/{{ident}}"), item())
        .route(&format!("{collection}/{{ident}}/{{bay}}"), item())
}

/// The API as one router; `body_limit` is `[api] max_request_body_size`.
pub(crate) fn router(state: AppState, body_limit: usize) -> Router {
    let protected = Router::new()
        .route(
            "/v1/baymodels",
            get(baymodels::list::<BayModels>).post(baymodels::create::<BayModels>),
        )
        .route("/v1/baymodels/detail", get(baymodels::detail::<BayModels>))
        .route(
            "/v1/baymodels/{ident}",
            get(baymodels::show::<BayModels>)
                .patch(baymodels::update::<BayModels>)
                .delete(baymodels::delete::<BayModels>),
        )
        .route(
            "/v1/clustertemplates",
            get(baymodels::list::<ClusterTemplates>).post(baymodels::create::<ClusterTemplates>),
        )
        .route(
            "/v1/clustertemplates/detail",
            get(baymodels::detail::<ClusterTemplates>),
        )
        .route(
            "/v1/clustertemplates/{ident}",
            get(baymodels::show::<ClusterTemplates>)
                .patch(baymodels::update::<ClusterTemplates>)
                .delete(baymodels::delete::<ClusterTemplates>),
        )
        .route(
            "/v1/bays",
            get(bays::list::<Bays>).post(bays::create::<Bays>),
        )
        .route("/v1/bays/detail", get(bays::detail::<Bays>))
        .route(
            "/v1/bays/{ident}",
            get(bays::show::<Bays>)
                .patch(bays::update::<Bays>)
                .delete(bays::delete::<Bays>),
        )
        .route(
            "/v1/clusters",
            get(bays::list::<Clusters>).post(bays::create::<Clusters>),
        )
        .route("/v1/clusters/detail", get(bays::detail::<Clusters>))
        .route(
            "/v1/clusters/{ident}",
            get(bays::show::<Clusters>)
                .patch(bays::update::<Clusters>)
                .delete(bays::delete::<Clusters>),
        )
        .route("/v1/clusters/{ident}/actions/resize", post(bays::resize))
        .route("/v1/clusters/{ident}/actions/upgrade", post(bays::upgrade))
        .route(
            "/v1/clusters/{ident}/nodegroups",
            get(nodegroups::list).post(nodegroups::create),
        )
        .route(
            "/v1/clusters/{ident}/nodegroups/{nodegroup}",
            get(nodegroups::show)
                .patch(nodegroups::update)
                .delete(nodegroups::delete),
        )
        .route(
            "/v1/containers",
            get(containers::list).post(containers::create),
        )
        .route("/v1/containers/detail", get(containers::detail))
        .route(
            "/v1/containers/{ident}",
            get(containers::show)
                .patch(containers::update)
                .delete(containers::delete),
        )
        .route("/v1/containers/{ident}/logs", get(containers::logs))
        .route("/v1/containers/{ident}/{action}", put(containers::action))
        .merge(workload_routes::<Pods>())
        .merge(workload_routes::<Services>())
        .merge(workload_routes::<Rcs>())
        .route("/v1/certificates", post(certificates::create))
        .route(
            "/v1/certificates/{ident}",
            get(certificates::show).patch(certificates::rotate_ca),
        )
        .route(
            "/v1/credentials/{ident}",
            patch(certificates::rotate_credentials),
        )
        .route("/v1/mservices", get(admin::list_services))
        .route(
            "/v1/quotas",
            get(admin::list_quotas).post(admin::create_quota),
        )
        .route(
            "/v1/quotas/{project_id}/{resource}",
            get(admin::show_quota)
                .patch(admin::update_quota)
                .delete(admin::delete_quota),
        )
        .route("/v1/stats", get(admin::stats))
        .route("/v1/nodes", get(bays::list_nodes))
        .route("/v1/nodes/detail", get(bays::detail_nodes))
        .route("/v1/nodes/{ident}", get(bays::show_node))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::authenticate,
        ));
    let v1 = Router::new()
        .route("/v1", get(versions::v1))
        .merge(protected)
        .layer(axum::middleware::from_fn(
            crate::microversion::negotiate_layer,
        ));
    Router::new()
        .route("/", get(versions::root))
        .route("/healthcheck", get(versions::healthcheck))
        .merge(v1)
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn(middleware::track_metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}
