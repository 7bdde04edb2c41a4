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
    /// `[oslo_policy]`.
    pub oslo_policy: PolicySection,
}

/// `[DEFAULT]` options the API reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DefaultSection {
    /// Messaging options.
    #[serde(flatten)]
    pub messaging: MessagingDefaults,
    /// `noauth` (identity from request headers; development only) or `keystone`.
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
}
