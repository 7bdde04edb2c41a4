//! magnum-api's configuration: the sections of `magnum.conf` it reads.

use magnum_rpc::config::{MessagingDefaults, RabbitSection, RpcSection, UpgradeLevels};
use serde::Deserialize;
use std::path::PathBuf;

/// Everything the API reads; other sections of the file are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    /// `[DEFAULT]`.
    pub default: DefaultSection,
    /// `[api]`.
    pub api: ApiSection,
    /// `[conductor]`: only the topic matters here.
    pub conductor: ConductorTopic,
    /// `[oslo_messaging_rabbit]`.
    pub oslo_messaging_rabbit: RabbitSection,
    /// `[rpc]`.
    pub rpc: RpcSection,
    /// `[upgrade_levels]`.
    pub upgrade_levels: UpgradeLevels,
    /// `[noauth]`.
    pub noauth: NoauthSection,
    /// `[cluster_template]`.
    pub cluster_template: ClusterTemplateSection,
    /// `[metrics]`.
    pub metrics: magnum_daemon::MetricsSection,
    /// `[oslo_policy]`.
    pub oslo_policy: PolicySection,
    /// `[keystone_authtoken]`.
    pub keystone_authtoken: KeystoneAuthtokenSection,
}

/// `[DEFAULT]` options the API reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DefaultSection {
    /// Messaging options.
    #[serde(flatten)]
    pub messaging: MessagingDefaults,
    /// `noauth` (identity from request headers; development only) or `keystone` (tokens
    /// validated by Keystone, `[keystone_authtoken]`).
    pub auth_strategy: String,
    /// Log at debug level.
    pub debug: bool,
    /// Largest pod, service or RC manifest accepted, in bytes.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub max_manifest_size: usize,
    /// Seconds without a heartbeat after which `/v1/mservices` shows a conductor `down`.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub service_down_time: u64,
}

impl Default for DefaultSection {
    fn default() -> Self {
        DefaultSection {
            messaging: MessagingDefaults::default(),
            auth_strategy: "noauth".into(),
            debug: false,
            max_manifest_size: 512 * 1024,
            service_down_time: 180,
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApiSection {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port, logged at start).
    pub port: u16,
    /// Most items one list returns.
    pub max_limit: u32,
    /// Largest request body accepted, in bytes; larger is 413.
    pub max_request_body_size: usize,
    /// Base URL for links (e.g. behind a proxy); default: the request's own.
    pub public_endpoint: Option<String>,
    /// Honour `X-Forwarded-Proto`/`X-Forwarded-Host` when building links.
    pub enable_proxy_headers_parsing: bool,
    /// The `describedby` link of `GET /v1`.
    pub doc_url: String,
    /// Seconds a `manifest_url` fetch may take.
    pub manifest_fetch_timeout: u64,
    /// Networks a `manifest_url` may not point into.
    #[serde(deserialize_with = "magnum_config::comma_list")]
    pub manifest_url_denied_cidrs: Vec<String>,
    /// Seconds a client may take to send a request's head (line and headers); an idle
    /// keep-alive connection is closed after as long. 0: no limit.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub client_header_timeout: u64,
    /// Seconds a client may take to send a request's body once its head arrived; slower: 408.
    /// 0: no limit.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub client_body_timeout: u64,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            host: "127.0.0.1".into(),
            port: 9511,
            max_limit: 1000,
            max_request_body_size: 1024 * 1024,
            public_endpoint: None,
            enable_proxy_headers_parsing: false,
            doc_url: "https://docs.openstack.org/magnum/latest/user/".into(),
            manifest_fetch_timeout: 10,
            manifest_url_denied_cidrs: vec!["169.254.0.0/16".into()],
            client_header_timeout: 30,
            client_body_timeout: 60,
        }
    }
}

/// `[conductor]` as the API sees it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConductorTopic {
    /// Topic requests are published to.
    pub topic: String,
}

impl Default for ConductorTopic {
    fn default() -> Self {
        ConductorTopic {
            topic: "magnum-conductor".into(),
        }
    }
}

/// `[noauth]`: the identity of requests that name none, in noauth mode.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct NoauthSection {
    /// User id.
    pub default_user_id: String,
    /// Project id.
    pub default_project_id: String,
    /// Roles.
    #[serde(deserialize_with = "magnum_config::comma_list")]
    pub default_roles: Vec<String>,
}

impl Default for NoauthSection {
    fn default() -> Self {
        NoauthSection {
            default_user_id: "noauth-user".into(),
            default_project_id: "noauth-project".into(),
            default_roles: vec!["admin".into(), "member".into(), "reader".into()],
        }
    }
}

/// `[cluster_template]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClusterTemplateSection {
    /// Network drivers a kubernetes template may name.
    #[serde(deserialize_with = "magnum_config::comma_list")]
    pub kubernetes_allowed_network_drivers: Vec<String>,
}

impl Default for ClusterTemplateSection {
    fn default() -> Self {
        ClusterTemplateSection {
            kubernetes_allowed_network_drivers: vec!["flannel".into(), "calico".into()],
        }
    }
}

/// `[oslo_policy]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PolicySection {
    /// YAML or JSON file overriding single default rules.
    pub policy_file: Option<PathBuf>,
    /// Use the strict (reader/member) defaults.
    pub enforce_new_defaults: bool,
}

/// `[keystone_authtoken]`: how magnum-api validates tokens when `auth_strategy = keystone`.
/// Option names are keystonemiddleware's, so operators' existing sections work.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct KeystoneAuthtokenSection {
    /// Public Keystone URL put in `WWW-Authenticate: Keystone uri="…"` of a 401 (alias
    /// `auth_uri`); `auth_url` when unset.
    #[serde(alias = "auth_uri")]
    pub www_authenticate_uri: Option<String>,
    /// Keystone URL the API talks to (`http://keystone:5000` or `…/v3`).
    pub auth_url: Option<String>,
    /// The service user magnum-api authenticates as.
    pub username: Option<String>,
    /// Its password; prefer `password_file`.
    pub password: Option<String>,
    /// File holding the password (first line), used when `password` is unset.
    pub password_file: Option<PathBuf>,
    /// Project the service user's token is scoped to.
    pub project_name: String,
    /// Domain of the service user, by name.
    pub user_domain_name: String,
    /// Domain of the service user, by id (wins over the name).
    pub user_domain_id: Option<String>,
    /// Domain of the service project, by name.
    pub project_domain_name: String,
    /// Domain of the service project, by id (wins over the name).
    pub project_domain_id: Option<String>,
    /// PEM file of CA certificates trusted for an https Keystone (besides the system's).
    pub cafile: Option<PathBuf>,
    /// Do not verify Keystone's certificate (testing only).
    pub insecure: bool,
    /// Seconds to wait for one Keystone request (connect and answer) before answering 503.
    pub http_connect_timeout: u64,
    /// Seconds a validated (or refused) token is cached; a revoked token may pass this long.
    pub token_cache_time: u64,
    /// Most tokens cached; when full the soonest to expire is dropped.
    pub token_cache_size: usize,
}

impl Default for KeystoneAuthtokenSection {
    fn default() -> Self {
        KeystoneAuthtokenSection {
            www_authenticate_uri: None,
            auth_url: None,
            username: None,
            password: None,
            password_file: None,
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            user_domain_id: None,
            project_domain_name: "Default".into(),
            project_domain_id: None,
            cafile: None,
            insecure: false,
            http_connect_timeout: 10,
            token_cache_time: 300,
            token_cache_size: 10_000,
        }
    }
}

impl KeystoneAuthtokenSection {
    /// The validator's options; says which required option is missing.
    pub fn options(&self) -> anyhow::Result<magnum_auth::KeystoneOptions> {
        let missing = |name: &str| anyhow::anyhow!("[keystone_authtoken] {name} is not set");
        let password =
            magnum_config::secret(self.password.as_deref(), self.password_file.as_deref())?
                .ok_or_else(|| missing("password"))?;
        Ok(magnum_auth::KeystoneOptions {
            auth_url: self
                .auth_url
                .clone()
                .or_else(|| self.www_authenticate_uri.clone())
                .ok_or_else(|| missing("auth_url"))?,
            username: self.username.clone().ok_or_else(|| missing("username"))?,
            password,
            project_name: self.project_name.clone(),
            user_domain_id: self.user_domain_id.clone(),
            user_domain_name: Some(self.user_domain_name.clone()),
            project_domain_id: self.project_domain_id.clone(),
            project_domain_name: Some(self.project_domain_name.clone()),
            cafile: self.cafile.clone(),
            insecure: self.insecure,
            timeout: std::time::Duration::from_secs(self.http_connect_timeout.max(1)),
            cache_time: std::time::Duration::from_secs(self.token_cache_time),
            cache_size: self.token_cache_size,
        })
    }

    /// The URI a 401's `WWW-Authenticate` names: `www_authenticate_uri`, else `auth_url`.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate_uri
            .as_deref()
            .or(self.auth_url.as_deref())
    }
}

impl ApiConfig {
    /// Transport options for calling conductors.
    pub fn transport(&self) -> anyhow::Result<magnum_rpc::TransportOptions> {
        magnum_rpc::config::transport_options(
            &self.default.messaging,
            &self.oslo_messaging_rabbit,
            &self.rpc,
            &self.conductor.topic,
            1,
        )
        .map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../etc/magnum/magnum.conf");

    #[test]
    fn the_sample_config_parses_to_the_defaults() {
        let parsed: ApiConfig = magnum_config::parse_str(SAMPLE).unwrap();
        assert_eq!(parsed, ApiConfig::default());
    }

    #[test]
    fn every_option_in_the_sample_is_shown_at_its_default() {
        let uncommented: String = SAMPLE
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(option) if option.contains(" = ") && !option.contains("= <") => option,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: ApiConfig = magnum_config::parse_str(&uncommented).unwrap();
        assert_eq!(parsed, ApiConfig::default());
    }

    #[test]
    fn keystone_options_come_from_keystonemiddleware_names() {
        let parsed: ApiConfig = magnum_config::parse_str(
            "[keystone_authtoken]\nauth_uri = https://public:5000\nauth_url = http://k:5000/v3\n\
             username = magnum\npassword = pw\nproject_domain_id = default\n\
             token_cache_time = 0\n",
        )
        .unwrap();
        let ks = &parsed.keystone_authtoken;
        assert_eq!(ks.www_authenticate(), Some("https://public:5000"));
        let opts = ks.options().unwrap();
        assert_eq!(
            (
                opts.auth_url.as_str(),
                opts.username.as_str(),
                opts.password.as_str()
            ),
            ("http://k:5000/v3", "magnum", "pw")
        );
        assert_eq!(opts.project_domain_id.as_deref(), Some("default"));
        assert_eq!(opts.cache_time, std::time::Duration::ZERO);
        let err = KeystoneAuthtokenSection::default().options().unwrap_err();
        assert!(
            err.to_string().contains("[keystone_authtoken] password"),
            "{err}"
        );
    }
}
