//! magnum-conductor's configuration: the sections of `magnum.conf` it reads.

use magnum_rpc::config::{MessagingDefaults, RabbitSection, RpcSection};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the conductor reads; other sections of the file are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConductorConfig {
    /// `[DEFAULT]`.
    pub default: DefaultSection,
    /// `[database]`.
    pub database: DatabaseSection,
    /// `[conductor]`.
    pub conductor: ConductorSection,
    /// `[oslo_messaging_rabbit]`.
    pub oslo_messaging_rabbit: RabbitSection,
    /// `[rpc]`.
    pub rpc: RpcSection,
    /// `[api]` limits the conductor also enforces.
    pub api: ApiLimits,
    /// `[bay]`.
    pub bay: BaySection,
    /// `[quotas]`.
    pub quotas: QuotaSection,
    /// `[docker]`: the docker driver's Engine pool; empty switches the driver off.
    pub docker: magnum_drivers::docker::DockerConfig,
    /// `[metrics]`.
    pub metrics: magnum_daemon::MetricsSection,
    /// `[kubernetes]`: the kubernetes driver's cluster; unset switches the driver off.
    pub kubernetes: magnum_drivers::kubernetes::KubernetesConfig,
}

/// `[bay]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct BaySection {
    /// Minutes a bay create may take before it ends `CREATE_FAILED` (0: no limit), unless the
    /// request sets its own.
    pub create_timeout: i64,
    /// Minutes an update or delete may keep retrying an unreachable backend.
    pub operation_timeout: i64,
    /// Most worker nodes one bay may have.
    pub max_node_count: i32,
}

impl Default for BaySection {
    fn default() -> Self {
        BaySection {
            create_timeout: 60,
            operation_timeout: 60,
            max_node_count: 100,
        }
    }
}

/// `[quotas]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct QuotaSection {
    /// Bays a project may hold when no quota row says otherwise.
    pub max_clusters_per_project: i64,
}

impl Default for QuotaSection {
    fn default() -> Self {
        QuotaSection {
            max_clusters_per_project: 20,
        }
    }
}

/// `[DEFAULT]` options the conductor reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DefaultSection {
    /// Messaging options.
    #[serde(flatten)]
    pub messaging: MessagingDefaults,
    /// Name of this host in the services table; defaults to the machine's host name.
    pub host: Option<String>,
    /// Seconds without a heartbeat after which a conductor counts as down.
    pub service_down_time: u64,
    /// Log at debug level.
    pub debug: bool,
    /// Seconds running handlers get to finish on SIGTERM.
    pub graceful_shutdown_timeout: u64,
    /// Largest pod, service or RC manifest accepted, in bytes.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub max_manifest_size: usize,
}

impl Default for DefaultSection {
    fn default() -> Self {
        DefaultSection {
            messaging: MessagingDefaults::default(),
            host: None,
            service_down_time: 180,
            debug: false,
            graceful_shutdown_timeout: 60,
            max_manifest_size: 512 * 1024,
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DatabaseSection {
    /// PostgreSQL URL (`postgresql://user:pass@host/db`; a `+driver` suffix is ignored).
    pub connection: Option<String>,
    /// File holding the URL (a mounted secret); used when `connection` is unset.
    pub connection_file: Option<PathBuf>,
    /// Connections in the pool.
    pub max_pool_size: u32,
    /// Seconds to wait for a free connection before answering "unavailable".
    pub pool_timeout: u64,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            connection: None,
            connection_file: None,
            max_pool_size: 10,
            pool_timeout: 5,
        }
    }
}

impl DatabaseSection {
    /// The connection URL in the form sqlx reads (`postgres://…`).
    pub fn url(&self) -> anyhow::Result<String> {
        let url =
            magnum_config::secret(self.connection.as_deref(), self.connection_file.as_deref())?
                .ok_or_else(|| anyhow::anyhow!("[database] connection is not set"))?;
        // oslo.db URLs name a Python driver: postgresql+psycopg2://…
        let url = match url.split_once("://") {
            Some((scheme, rest))
                if scheme.starts_with("postgresql") || scheme.starts_with("postgres") =>
            {
                format!("postgres://{rest}")
            }
            _ => anyhow::bail!("[database] connection must be a postgresql:// URL"),
        };
        Ok(url)
    }
}

/// `[conductor]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConductorSection {
    /// Queue (and routing key) conductors consume.
    pub topic: String,
    /// Requests handled at once (the AMQP prefetch when `rabbit_qos_prefetch_count` is 0).
    pub workers: u16,
    /// Seconds between heartbeats into the services table; 0 switches them off.
    pub heartbeat_interval: u64,
    /// Seconds a conductor's claim on a bay's work lasts unless renewed; a dead conductor's work
    /// is taken over after this long.
    pub lease_timeout: u64,
    /// Seconds between reconciler passes (resume abandoned work, expire timeouts, compare bays
    /// with their backends); 0 switches periodic work off.
    pub periodic_interval: u64,
}

impl Default for ConductorSection {
    fn default() -> Self {
        ConductorSection {
            topic: "magnum-conductor".into(),
            workers: 16,
            heartbeat_interval: 10,
            lease_timeout: 30,
            periodic_interval: 10,
        }
    }
}

impl ConductorSection {
    /// Heartbeat period; zero means off.
    pub fn heartbeat_every(&self) -> Duration {
        Duration::from_secs(self.heartbeat_interval)
    }

    /// Reconciler period; zero means off.
    pub fn periodic_every(&self) -> Duration {
        Duration::from_secs(self.periodic_interval)
    }

    /// How long a claim on a bay's work lasts.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_timeout.max(1))
    }
}

/// `[api]` options that bound conductor work too.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApiLimits {
    /// Most items one list returns.
    pub max_limit: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits { max_limit: 1000 }
    }
}

impl ConductorConfig {
    /// Transport options for this conductor.
    pub fn transport(&self) -> anyhow::Result<magnum_rpc::TransportOptions> {
        let mut opts = magnum_rpc::config::transport_options(
            &self.default.messaging,
            &self.oslo_messaging_rabbit,
            &self.rpc,
            &self.conductor.topic,
            self.conductor.workers,
        )
        .map_err(anyhow::Error::msg)?;
        opts.graceful_shutdown_timeout =
            Duration::from_secs(self.default.graceful_shutdown_timeout);
        Ok(opts)
    }

    /// This host's name for the services table.
    pub fn host(&self) -> String {
        self.default.host.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "localhost".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../etc/magnum/magnum.conf");

    #[test]
    fn the_sample_config_parses_to_the_defaults() {
        let parsed: ConductorConfig = magnum_config::parse_str(SAMPLE).unwrap();
        assert_eq!(parsed, ConductorConfig::default());
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
        let parsed: ConductorConfig = magnum_config::parse_str(&uncommented).unwrap();
        assert_eq!(parsed, ConductorConfig::default());
    }
}
