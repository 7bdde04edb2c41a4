//! Keystone v3 token validation as OpenStack services do it (spec/rest-api.md §6.1): the service
//! authenticates with its own user, validates each `X-Auth-Token` with `GET /v3/auth/tokens`
//! and `X-Subject-Token`, and caches the outcome in a bounded, expiring [`TokenCache`].

use crate::identity::{Caller, expand_implied_roles};
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long before its `expires_at` the service token is renewed.
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// Everything the validator needs, from `[keystone_authtoken]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoneOptions {
    /// Identity API base (`http://keystone:5000` or `…/v3`).
    pub auth_url: String,
    /// The service user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The project the service token is scoped to.
    pub project_name: String,
    /// Domain of the user, by id (wins over the name when both are set).
    pub user_domain_id: Option<String>,
    /// Domain of the user, by name.
    pub user_domain_name: Option<String>,
    /// Domain of the project, by id (wins over the name when both are set).
    pub project_domain_id: Option<String>,
    /// Domain of the project, by name.
    pub project_domain_name: Option<String>,
    /// PEM bundle of extra CAs trusted for an `https` Keystone.
    pub cafile: Option<PathBuf>,
    /// Skip certificate verification (testing only).
    pub insecure: bool,
    /// Longest wait for one Keystone request.
    pub timeout: Duration,
    /// Longest time a validation result is cached (`token_cache_time`).
    pub cache_time: Duration,
    /// Most cached validation results (`token_cache_size`).
    pub cache_size: usize,
}

/// Why a token did not produce a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoneError {
    /// Missing, invalid, expired or revoked token (HTTP 401 to the caller).
    #[error("Authentication required")]
    Unauthenticated,
    /// A valid token that is not scoped to a project (domain or system scope; HTTP 403).
    #[error("The token is not scoped to a project.")]
    NotProjectScoped,
    /// Keystone could not be asked: down, timing out, refusing the service user (HTTP 503).
    #[error("The identity service is unavailable: {0}")]
    Unavailable(String),
    /// The options cannot make a client (start-up).
    #[error("keystone client: {0}")]
    Config(String),
}

/// What one token validated to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A project-scoped token of this caller.
    Valid(Caller),
    /// A valid token without project scope.
    Unscoped,
    /// Invalid, expired or revoked.
    Invalid,
}

#[derive(Debug, Clone)]
struct Cached {
    outcome: Outcome,
    until: Instant,
}

/// Validation results keyed by the token's SHA-256 (tokens themselves are never kept), each
/// until `min(token expiry, stored + max_age)`, at most `capacity` of them: when full, expired
/// entries go first, then the one that would expire soonest.
#[derive(Debug)]
pub struct TokenCache {
    entries: HashMap<[u8; 32], Cached>,
    capacity: usize,
    max_age: Duration,
}

impl TokenCache {
    /// An empty cache; `capacity` 0 or `max_age` zero disables caching.
    pub fn new(capacity: usize, max_age: Duration) -> TokenCache {
        TokenCache {
            entries: HashMap::new(),
            capacity,
            max_age,
        }
    }

    /// The key of `token`.
    pub fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// The cached outcome for `key` at `now`, if still fresh.
    pub fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Outcome> {
        match self.entries.get(key) {
            Some(c) if c.until > now => Some(c.outcome.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `outcome` for `key` until `expires` (the token's own expiry, if known) or
    /// `now + max_age`, whichever is first.
    pub fn put(&mut self, key: [u8; 32], outcome: Outcome, expires: Option<Instant>, now: Instant) {
        if self.capacity == 0 || self.max_age.is_zero() {
            return;
        }
        let mut until = now + self.max_age;
        if let Some(expires) = expires {
            until = until.min(expires);
        }
        if until <= now {
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, c| c.until > now);
            if self.entries.len() >= self.capacity
                && let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, c)| c.until)
                    .map(|(k, _)| *k)
            {
                self.entries.remove(&soonest);
            }
        }
        self.entries.insert(key, Cached { outcome, until });
    }

    /// Number of entries held (fresh or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Debug, Clone)]
struct ServiceToken {
    token: String,
    renew_at: Instant,
}

/// Validates user tokens against Keystone; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Keystone {
    http: reqwest::Client,
    v3: String,
    opts: KeystoneOptions,
    service: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Mutex<TokenCache>,
}

/// The parts of a `GET /v3/auth/tokens` answer that matter here.
#[derive(Debug, Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Debug, Deserialize)]
struct TokenInfo {
    expires_at: Option<DateTime<Utc>>,
    user: Named,
    project: Option<Named>,
    #[serde(default)]
    roles: Vec<Role>,
}

#[derive(Debug, Deserialize)]
struct Named {
    id: String,
    name: Option<String>,
    domain: Option<Domain>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Role {
    name: String,
}

/// The identity API root, `<base>/v3`, from an `auth_url` with or without `/v3`.
pub fn identity_v3(auth_url: &str) -> String {
    let base = auth_url.trim_end_matches('/');
    let base = base.strip_suffix("/v3").unwrap_or(base);
    format!("{base}/v3")
}

fn sensitive(value: &str) -> Result<HeaderValue, KeystoneError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| KeystoneError::Unauthenticated)?;
    v.set_sensitive(true);
    Ok(v)
}

/// Converts Keystone's wall-clock expiry into this process's monotonic clock.
fn instant_of(expires_at: DateTime<Utc>, now: Instant) -> Instant {
    match (expires_at - Utc::now()).to_std() {
        Ok(left) => now + left,
        Err(_) => now,
    }
}

impl Keystone {
    /// A validator; fails only on options that cannot make an HTTP client (e.g. a bad cafile).
    pub fn new(opts: KeystoneOptions) -> Result<Keystone, KeystoneError> {
        // reqwest is built without a default crypto provider (no aws-lc build): use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout)
            .tls_danger_accept_invalid_certs(opts.insecure);
        if let Some(path) = &opts.cafile {
            let pem = std::fs::read(path)
                .map_err(|e| KeystoneError::Config(format!("cafile {}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| KeystoneError::Config(format!("cafile {}: {e}", path.display())))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| KeystoneError::Config(e.to_string()))?;
        Ok(Keystone {
            http,
            v3: identity_v3(&opts.auth_url),
            cache: Mutex::new(TokenCache::new(opts.cache_size, opts.cache_time)),
            service: tokio::sync::Mutex::new(None),
            opts,
        })
    }

    /// The caller a user token stands for. Cached per token; Keystone is asked only on a miss.
    pub async fn validate(&self, token: &str) -> Result<Caller, KeystoneError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(KeystoneError::Unauthenticated);
        }
        let key = TokenCache::key(token);
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key, Instant::now());
        let outcome = match cached {
            Some(outcome) => outcome,
            None => {
                let (outcome, expires) = self.ask(token).await?;
                self.cache
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .put(key, outcome.clone(), expires, Instant::now());
                outcome
            }
        };
        match outcome {
            Outcome::Valid(caller) => Ok(caller),
            Outcome::Unscoped => Err(KeystoneError::NotProjectScoped),
            Outcome::Invalid => Err(KeystoneError::Unauthenticated),
        }
    }

    /// Asks Keystone about `token`; a 401 (our service token expired or was revoked) renews the
    /// service token and asks once more.
    async fn ask(&self, token: &str) -> Result<(Outcome, Option<Instant>), KeystoneError> {
        let subject = sensitive(token)?;
        for attempt in 0..2 {
            let service = self.service_token(attempt > 0).await?;
            let reply = self
                .http
                .get(format!("{}/auth/tokens?nocatalog", self.v3))
                .header("X-Auth-Token", sensitive(&service)?)
                .header("X-Subject-Token", subject.clone())
                .send()
                .await
                .map_err(|e| unavailable("validating a token", &e))?;
            match reply.status() {
                StatusCode::OK => {
                    let body: TokenBody = reply
                        .json()
                        .await
                        .map_err(|e| unavailable("reading a token", &e))?;
                    return Ok(Self::outcome(body.token));
                }
                StatusCode::NOT_FOUND => return Ok((Outcome::Invalid, None)),
                StatusCode::UNAUTHORIZED if attempt == 0 => {
                    tracing::info!("Keystone refused the service token; authenticating again");
                }
                status => {
                    let why = format!("Keystone answered {status} to a token validation");
                    tracing::warn!("{why}");
                    return Err(KeystoneError::Unavailable(why));
                }
            }
        }
        let why = "Keystone refused a freshly issued service token".to_owned();
        tracing::warn!("{why}");
        Err(KeystoneError::Unavailable(why))
    }

    fn outcome(token: TokenInfo) -> (Outcome, Option<Instant>) {
        let now = Instant::now();
        let expires = token.expires_at.map(|at| instant_of(at, now));
        if expires.is_some_and(|at| at <= now) {
            return (Outcome::Invalid, None);
        }
        let Some(project) = token.project else {
            return (Outcome::Unscoped, expires);
        };
        let user_domain = token.user.domain.unwrap_or(Domain {
            id: None,
            name: None,
        });
        let caller = Caller {
            user_id: token.user.id,
            user_name: token.user.name,
            project_id: Some(project.id),
            project_name: project.name,
            user_domain_id: user_domain.id,
            user_domain_name: user_domain.name,
            roles: expand_implied_roles(token.roles.iter().map(|r| r.name.as_str())),
        };
        (Outcome::Valid(caller), expires)
    }

    /// The service's own token, authenticating when there is none, it is about to expire, or
    /// `renew` says Keystone refused it.
    async fn service_token(&self, renew: bool) -> Result<String, KeystoneError> {
        let mut held = self.service.lock().await;
        if let Some(current) = held.as_ref()
            && !renew
            && current.renew_at > Instant::now()
        {
            return Ok(current.token.clone());
        }
        let fresh = self.authenticate().await?;
        let token = fresh.token.clone();
        *held = Some(fresh);
        Ok(token)
    }

    fn domain(id: Option<&String>, name: Option<&String>) -> serde_json::Value {
        match (id, name) {
            (Some(id), _) => json!({ "id": id }),
            (None, Some(name)) => json!({ "name": name }),
            (None, None) => json!({ "id": "default" }),
        }
    }

    /// `POST /v3/auth/tokens` with the service user's password, scoped to its project.
    async fn authenticate(&self) -> Result<ServiceToken, KeystoneError> {
        let o = &self.opts;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": o.username,
                "domain": Self::domain(o.user_domain_id.as_ref(), o.user_domain_name.as_ref()),
                "password": o.password,
            }}},
            "scope": {"project": {
                "name": o.project_name,
                "domain": Self::domain(o.project_domain_id.as_ref(), o.project_domain_name.as_ref()),
            }},
        }});
        let reply = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.v3))
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable("authenticating the service user", &e))?;
        let status = reply.status();
        if status != StatusCode::CREATED && status != StatusCode::OK {
            let why = format!(
                "Keystone answered {status} when authenticating service user {:?}",
                o.username
            );
            tracing::error!("{why}");
            return Err(KeystoneError::Unavailable(why));
        }
        let token = reply
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                KeystoneError::Unavailable("Keystone issued no X-Subject-Token".into())
            })?;
        let body: TokenBody = reply
            .json()
            .await
            .map_err(|e| unavailable("reading the service token", &e))?;
        let now = Instant::now();
        let renew_at = match body.token.expires_at {
            Some(at) => {
                let expires = instant_of(at, now);
                // Renew a minute early; a short-lived token is renewed half-way through.
                let left = expires.saturating_duration_since(now);
                now + left.saturating_sub(RENEW_MARGIN).max(left / 2)
            }
            None => now + Duration::from_secs(3600),
        };
        tracing::info!(user = %o.username, "authenticated the service user with Keystone");
        Ok(ServiceToken { token, renew_at })
    }
}

fn unavailable(what: &str, e: &reqwest::Error) -> KeystoneError {
    // reqwest's error names the URL, never a header: no token is logged.
    let why = format!("Keystone unreachable while {what}: {e}");
    tracing::warn!("{why}");
    KeystoneError::Unavailable(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: &str) -> Outcome {
        Outcome::Valid(Caller {
            user_id: user.into(),
            user_name: None,
            project_id: Some("p".into()),
            project_name: None,
            user_domain_id: None,
            user_domain_name: None,
            roles: vec!["member".into()],
        })
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_entry_lives_until_the_token_expires_or_max_age_whichever_is_first() {
        let now = Instant::now();
        let mut cache = TokenCache::new(10, 300 * S);
        let (a, b) = (TokenCache::key("a"), TokenCache::key("b"));
        cache.put(a, caller("a"), Some(now + 10 * S), now);
        cache.put(b, caller("b"), Some(now + 3600 * S), now);
        assert_eq!(cache.get(&a, now + 9 * S), Some(caller("a")));
        assert_eq!(cache.get(&a, now + 10 * S), None, "expired with the token");
        assert_eq!(cache.get(&b, now + 299 * S), Some(caller("b")));
        assert_eq!(cache.get(&b, now + 300 * S), None, "older than max age");
        assert!(cache.is_empty(), "stale entries are dropped when seen");
    }

    #[test]
    fn invalid_tokens_are_remembered_for_max_age() {
        let now = Instant::now();
        let mut cache = TokenCache::new(10, 5 * S);
        let k = TokenCache::key("bad");
        cache.put(k, Outcome::Invalid, None, now);
        assert_eq!(cache.get(&k, now + 4 * S), Some(Outcome::Invalid));
        assert_eq!(cache.get(&k, now + 5 * S), None);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_soonest_to_expire() {
        let now = Instant::now();
        let mut cache = TokenCache::new(2, 300 * S);
        let keys: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|t| TokenCache::key(t))
            .collect();
        cache.put(keys[0], caller("a"), Some(now + 5 * S), now);
        cache.put(keys[1], caller("b"), Some(now + 50 * S), now);
        // Full: "a" has expired by now + 6 s and goes first.
        cache.put(keys[2], caller("c"), Some(now + 100 * S), now + 6 * S);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&keys[1], now + 6 * S), Some(caller("b")));
        // Full of fresh entries: the soonest to expire ("b") makes room.
        cache.put(keys[3], caller("d"), Some(now + 200 * S), now + 7 * S);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&keys[1], now + 7 * S), None);
        assert_eq!(cache.get(&keys[2], now + 7 * S), Some(caller("c")));
        assert_eq!(cache.get(&keys[3], now + 7 * S), Some(caller("d")));
        // Replacing an entry never evicts another.
        cache.put(keys[3], Outcome::Invalid, None, now + 8 * S);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&keys[3], now + 8 * S), Some(Outcome::Invalid));
    }

    #[test]
    fn a_zero_size_or_age_caches_nothing_and_expired_tokens_are_not_stored() {
        let now = Instant::now();
        let k = TokenCache::key("t");
        for mut cache in [
            TokenCache::new(0, 300 * S),
            TokenCache::new(10, Duration::ZERO),
        ] {
            cache.put(k, caller("t"), None, now);
            assert_eq!(cache.get(&k, now), None);
        }
        let mut cache = TokenCache::new(10, 300 * S);
        cache.put(k, caller("t"), Some(now), now);
        assert!(cache.is_empty());
    }

    #[test]
    fn keys_are_digests_not_tokens() {
        let k = TokenCache::key("gAAAAAB-secret");
        assert_ne!(&k[..], b"gAAAAAB-secret".as_slice());
        assert_eq!(k, TokenCache::key("gAAAAAB-secret"));
    }

    #[test]
    fn the_identity_root_is_found_with_or_without_v3() {
        for url in [
            "http://k:5000",
            "http://k:5000/",
            "http://k:5000/v3",
            "http://k:5000/v3/",
        ] {
            assert_eq!(identity_v3(url), "http://k:5000/v3", "{url}");
        }
        assert_eq!(
            identity_v3("https://k/identity/v3"),
            "https://k/identity/v3"
        );
    }

    #[test]
    fn a_token_answer_becomes_a_caller_with_implied_roles() {
        let body: TokenBody = serde_json::from_value(json!({"token": {
            "expires_at": "2999-01-01T00:00:00.000000Z",
            "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "tenant-a", "domain": {"id": "default"}},
            "roles": [{"id": "r", "name": "Admin"}],
            "methods": ["password"]
        }}))
        .unwrap();
        let (outcome, expires) = Keystone::outcome(body.token);
        assert!(expires.is_some());
        let Outcome::Valid(c) = outcome else {
            panic!("valid expected")
        };
        assert_eq!(
            (
                c.user_id.as_str(),
                c.project_id.as_deref(),
                c.user_name.as_deref()
            ),
            ("u1", Some("p1"), Some("alice"))
        );
        assert_eq!(c.user_domain_name.as_deref(), Some("Default"));
        assert_eq!(c.roles, ["admin", "member", "reader"]);
    }

    #[test]
    fn domain_scoped_and_expired_answers_are_not_callers() {
        let domain: TokenBody = serde_json::from_value(json!({"token": {
            "expires_at": "2999-01-01T00:00:00Z",
            "user": {"id": "u1"}, "domain": {"id": "default"}, "roles": []
        }}))
        .unwrap();
        assert_eq!(Keystone::outcome(domain.token).0, Outcome::Unscoped);
        let old: TokenBody = serde_json::from_value(json!({"token": {
            "expires_at": "2001-01-01T00:00:00Z",
            "user": {"id": "u1"}, "project": {"id": "p"}, "roles": []
        }}))
        .unwrap();
        assert_eq!(Keystone::outcome(old.token).0, Outcome::Invalid);
    }
}
