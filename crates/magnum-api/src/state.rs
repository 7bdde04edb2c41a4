//! What every handler shares: the conductor client, authentication, policy, and settings.

use axum::http::HeaderValue;
use magnum_auth::{Keystone, NoauthDefaults, Policy, PolicyFile};
use magnum_core::baymodel::BayModelRules;
use magnum_rpc::RpcClient;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How often the policy file's modification time is looked at (oslo.policy looks on every
/// enforcement; once a second is as good and costs nothing).
const POLICY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Shared state; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Shared>);

/// How callers are authenticated (`[DEFAULT] auth_strategy`).
#[derive(Debug)]
pub(crate) enum AuthStrategy {
    /// Identity from request headers (development only).
    Noauth(NoauthDefaults),
    /// `X-Auth-Token` validated by Keystone.
    Keystone {
        /// The validator with its token cache.
        client: Box<Keystone>,
        /// `Keystone uri="…"`, the `WWW-Authenticate` value of a 401.
        www_authenticate: HeaderValue,
    },
}

/// The policy file and when it was last looked at.
#[derive(Debug)]
struct PolicyWatch {
    file: PolicyFile,
    checked: Instant,
}

/// The state behind [`AppState`].
#[derive(Debug)]
pub(crate) struct Shared {
    /// Calls conductors.
    pub(crate) rpc: RpcClient,
    /// Compiled policy; replaced when the policy file changes.
    policy: RwLock<Arc<Policy>>,
    /// `[oslo_policy] policy_file`, re-read when it changes.
    policy_file: Option<Mutex<PolicyWatch>>,
    /// How callers are authenticated.
    pub(crate) auth: AuthStrategy,
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

/// Where the policy comes from: the compiled-in defaults, or a file over them.
#[derive(Debug)]
pub(crate) enum PolicySource {
    /// Defaults only.
    Defaults(Policy),
    /// A policy file (already read once).
    File(PolicyFile),
}

impl AppState {
    /// Builds the state.
    pub(crate) fn new(
        rpc: RpcClient,
        policy: PolicySource,
        auth: AuthStrategy,
        baymodel_rules: BayModelRules,
        api: &crate::config::ApiSection,
        manifests: crate::manifest_fetch::ManifestFetcher,
        defaults: &crate::config::DefaultSection,
    ) -> Self {
        let (policy, policy_file) = match policy {
            PolicySource::Defaults(policy) => (policy, None),
            PolicySource::File(file) => (
                file.policy().clone(),
                Some(Mutex::new(PolicyWatch {
                    file,
                    checked: Instant::now(),
                })),
            ),
        };
        AppState(Arc::new(Shared {
            rpc,
            policy: RwLock::new(Arc::new(policy)),
            policy_file,
            auth,
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

    /// The policy in force, after re-reading the policy file if it changed. A file that
    /// cannot be read or is refused leaves the last good policy in force (logged).
    pub(crate) fn policy(&self) -> Arc<Policy> {
        self.check_policy_file(false);
        Arc::clone(&self.0.policy.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the policy file now if it changed (`SIGHUP`).
    pub(crate) fn recheck_policy_file(&self) {
        self.check_policy_file(true);
    }

    fn check_policy_file(&self, now: bool) {
        if let Some(watch) = &self.0.policy_file {
            // One request looks; the others meanwhile use the policy in force.
            if let Ok(mut watch) = watch.try_lock()
                && (now || watch.checked.elapsed() >= POLICY_CHECK_INTERVAL)
            {
                watch.checked = Instant::now();
                match watch.file.reload_if_changed() {
                    Ok(Some(policy)) => {
                        tracing::info!(path = %watch.file.path().display(), "policy file reloaded");
                        *self
                            .0
                            .policy
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "policy file not reloaded; the last good policy stays");
                    }
                }
            }
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}
