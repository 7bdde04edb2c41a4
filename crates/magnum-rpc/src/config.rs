//! The configuration sections the transport reads, with oslo.messaging's option names.
//!
//! [`MessagingDefaults`] is flattened into each binary's `[DEFAULT]` section; its non-text
//! options therefore use [`magnum_config::lenient`].

use crate::options::{TransportOptions, amqp_url_from_transport_url};
use crate::version::{RPC_API_VERSION, Version};
use serde::Deserialize;
use std::time::Duration;

/// Messaging options of `[DEFAULT]` (flatten into the binary's `[DEFAULT]` struct).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MessagingDefaults {
    /// `rabbit://user:pass@host:port/vhost`.
    pub transport_url: Option<String>,
    /// Exchange requests are published to.
    pub control_exchange: String,
    /// Seconds a call waits for its reply.
    #[serde(deserialize_with = "magnum_config::lenient")]
    pub rpc_response_timeout: u64,
}

impl Default for MessagingDefaults {
    fn default() -> Self {
        MessagingDefaults {
            transport_url: None,
            control_exchange: "magnum".into(),
            rpc_response_timeout: 60,
        }
    }
}

/// `[oslo_messaging_rabbit]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct RabbitSection {
    /// Durable topic and server queues.
    pub amqp_durable_queues: bool,
    /// Auto-delete topic and server queues.
    pub amqp_auto_delete: bool,
    /// Quorum topic and server queues (implies durable).
    pub rabbit_quorum_queue: bool,
    /// Redeliveries before a quorum queue drops a message; 0: unlimited.
    pub rabbit_quorum_delivery_limit: u32,
    /// Reply and fanout queues as durable quorum queues.
    pub rabbit_transient_quorum_queue: bool,
    /// Seconds an unused reply, server or fanout queue lives; 0: forever.
    pub rabbit_transient_queues_ttl: u64,
    /// AMQP heartbeat, seconds.
    pub heartbeat_timeout_threshold: u64,
    /// Deliveries in flight per consumer; 0: the conductor's worker count.
    pub rabbit_qos_prefetch_count: u16,
    /// Seconds a reply to a vanished reply queue is retried.
    pub kombu_missing_consumer_retry_timeout: u64,
}

impl Default for RabbitSection {
    fn default() -> Self {
        RabbitSection {
            amqp_durable_queues: false,
            amqp_auto_delete: false,
            rabbit_quorum_queue: false,
            rabbit_quorum_delivery_limit: 0,
            rabbit_transient_quorum_queue: false,
            rabbit_transient_queues_ttl: 1800,
            heartbeat_timeout_threshold: 60,
            rabbit_qos_prefetch_count: 0,
            kombu_missing_consumer_retry_timeout: 60,
        }
    }
}

/// `[rpc]`: how magnum-api avoids waiting on an absent conductor.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct RpcSection {
    /// Seconds a publish waits for the broker's confirm before the API answers 503.
    pub publish_confirm_timeout: f64,
    /// Seconds a "conductors are consuming" check is trusted.
    pub presence_check_interval: f64,
}

impl Default for RpcSection {
    fn default() -> Self {
        RpcSection {
            publish_confirm_timeout: 5.0,
            presence_check_interval: 2.0,
        }
    }
}

/// `[upgrade_levels]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct UpgradeLevels {
    /// Highest RPC API version sent to conductors: `X.Y`, or `auto` (this build's version).
    pub conductor: String,
}

impl Default for UpgradeLevels {
    fn default() -> Self {
        UpgradeLevels {
            conductor: "auto".into(),
        }
    }
}

impl UpgradeLevels {
    /// The version cap, or why the option is invalid.
    pub fn cap(&self) -> Result<Version, String> {
        match self.conductor.trim() {
            "" | "auto" => Ok(RPC_API_VERSION),
            fixed => fixed
                .parse()
                .map_err(|_| format!("[upgrade_levels] conductor: invalid version {fixed:?}")),
        }
    }
}

/// Builds transport options from the sections; `topic` is `[conductor] topic`, `workers` the
/// prefetch used when `rabbit_qos_prefetch_count` is 0.
pub fn transport_options(
    defaults: &MessagingDefaults,
    rabbit: &RabbitSection,
    rpc: &RpcSection,
    topic: &str,
    workers: u16,
) -> Result<TransportOptions, String> {
    let url = defaults
        .transport_url
        .as_deref()
        .ok_or("[DEFAULT] transport_url is not set")?;
    let mut opts = TransportOptions::new(amqp_url_from_transport_url(url)?);
    opts.control_exchange.clone_from(&defaults.control_exchange);
    opts.topic = topic.to_owned();
    opts.durable_queues = rabbit.amqp_durable_queues;
    opts.auto_delete = rabbit.amqp_auto_delete;
    opts.quorum_queues = rabbit.rabbit_quorum_queue;
    opts.quorum_delivery_limit = rabbit.rabbit_quorum_delivery_limit;
    opts.transient_quorum_queues = rabbit.rabbit_transient_quorum_queue;
    opts.transient_queues_ttl = Duration::from_secs(rabbit.rabbit_transient_queues_ttl);
    opts.heartbeat = Duration::from_secs(rabbit.heartbeat_timeout_threshold);
    opts.prefetch = match rabbit.rabbit_qos_prefetch_count {
        0 => workers.max(1),
        n => n,
    };
    opts.rpc_response_timeout = Duration::from_secs(defaults.rpc_response_timeout);
    opts.publish_confirm_timeout = seconds(rpc.publish_confirm_timeout, "publish_confirm_timeout")?;
    opts.presence_check_interval = seconds(rpc.presence_check_interval, "presence_check_interval")?;
    opts.missing_consumer_retry_timeout =
        Duration::from_secs(rabbit.kombu_missing_consumer_retry_timeout);
    Ok(opts)
}

fn seconds(value: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("[rpc] {name}: invalid duration {value}"))
}
