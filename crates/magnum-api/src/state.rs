//! What every handler shares: the conductor client, policy, and settings.

use magnum_auth::{NoauthDefaults, Policy};
use magnum_core::baymodel::BayModelRules;
use magnum_rpc::RpcClient;
use std::sync::{Arc, PoisonError, RwLock};

/// Shared state; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Shared>);

/// The state behind [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    /// Calls conductors.
    pub(crate) rpc: RpcClient,
    /// Compiled policy; replaced when the policy file changes.
    policy: RwLock<Arc<Policy>>,
    /// Identity used in noauth mode.
    pub(crate) noauth: NoauthDefaults,
    /// Baymodel validation settings.
    pub(crate) baymodel_rules: BayModelRules,
    /// `[api] max_limit`.
    pub(crate) max_limit: u32,
    /// `[api] public_endpoint`.
    pub(crate) public_endpoint: Option<String>,
    /// `[api] enable_proxy_headers_parsing`.
    pub(crate) trust_forwarded: bool,
    /// `[api] doc_url`.
    pub(crate) doc_url: String,
    /// Fetches `manifest_url`s.
    pub(crate) manifests: crate::manifest_fetch::ManifestFetcher,
    /// `[DEFAULT] max_manifest_size`.
    pub(crate) max_manifest_size: usize,
    /// `[DEFAULT] service_down_time`.
    pub(crate) service_down_time: chrono::Duration,
}

impl AppState {
    /// Builds the state.
    pub(crate) fn new(
        rpc: RpcClient,
        policy: Policy,
        noauth: NoauthDefaults,
        baymodel_rules: BayModelRules,
        api: &crate::config::ApiSection,
        manifests: crate::manifest_fetch::ManifestFetcher,
        defaults: &crate::config::DefaultSection,
    ) -> Self {
        AppState(Arc::new(Shared {
            rpc,
            policy: RwLock::new(Arc::new(policy)),
            noauth,
            baymodel_rules,
            max_limit: api.max_limit,
            public_endpoint: api.public_endpoint.clone(),
            trust_forwarded: api.enable_proxy_headers_parsing,
            doc_url: api.doc_url.clone(),
            manifests,
            max_manifest_size: defaults.max_manifest_size,
            service_down_time: chrono::Duration::seconds(
                i64::try_from(defaults.service_down_time).unwrap_or(i64::MAX / 1000),
            ),
        }))
    }

    /// The policy in force.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.0.policy.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
