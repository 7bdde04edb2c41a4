//! Every route of the API in one table, in api-ref order.

use crate::handlers::baymodels::{self, BayModels, ClusterTemplates};
use crate::handlers::versions;
use crate::middleware;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

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
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::request_id))
        .with_state(state)
}
