//! Transport settings, with oslo.messaging's names and defaults (spec/rpc.md §1, §8).

use std::time::Duration;

/// Everything the transport needs; the binaries fill it from `magnum.conf`.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// AMQP URI, e.g. `amqp://magnum:secret@127.0.0.1:5672/magnum`.
    pub amqp_url: String,
    /// `[DEFAULT] control_exchange`.
    pub control_exchange: String,
    /// `[conductor] topic`.
    pub topic: String,
    /// `amqp_durable_queues`.
    pub durable_queues: bool,
    /// `amqp_auto_delete`.
    pub auto_delete: bool,
    /// `rabbit_quorum_queue`.
    pub quorum_queues: bool,
    /// `rabbit_quorum_delivery_limit` (0: none).
    pub quorum_delivery_limit: u32,
    /// `rabbit_transient_quorum_queue`.
    pub transient_quorum_queues: bool,
    /// `rabbit_transient_queues_ttl`; zero omits `x-expires`.
    pub transient_queues_ttl: Duration,
    /// `heartbeat_timeout_threshold`, negotiated with the broker.
    pub heartbeat: Duration,
    /// Deliveries in flight per consumer (`rabbit_qos_prefetch_count`, else `[conductor] workers`).
    pub prefetch: u16,
    /// `rpc_response_timeout`: how long a call waits for its reply.
    pub rpc_response_timeout: Duration,
    /// `[rpc] publish_confirm_timeout`: how long a publish waits for the broker's confirm.
    pub publish_confirm_timeout: Duration,
    /// `[rpc] presence_check_interval`: how long a "conductors are consuming" answer is trusted.
    pub presence_check_interval: Duration,
    /// `kombu_missing_consumer_retry_timeout`: how long a reply to a vanished queue is retried.
    pub missing_consumer_retry_timeout: Duration,
    /// `graceful_shutdown_timeout`: how long a stopping server lets handlers finish.
    pub graceful_shutdown_timeout: Duration,
}

impl TransportOptions {
    /// Options with oslo's defaults for the given broker, exchange and topic.
    pub fn new(amqp_url: impl Into<String>) -> Self {
        TransportOptions {
            amqp_url: amqp_url.into(),
            control_exchange: "magnum".into(),
            topic: "magnum-conductor".into(),
            durable_queues: false,
            auto_delete: false,
            quorum_queues: false,
            quorum_delivery_limit: 0,
            transient_quorum_queues: false,
            transient_queues_ttl: Duration::from_secs(1800),
            heartbeat: Duration::from_secs(60),
            prefetch: 16,
            rpc_response_timeout: Duration::from_secs(60),
            publish_confirm_timeout: Duration::from_secs(5),
            presence_check_interval: Duration::from_secs(2),
            missing_consumer_retry_timeout: Duration::from_secs(60),
            graceful_shutdown_timeout: Duration::from_secs(60),
        }
    }
}

/// Converts oslo's `transport_url` (`rabbit://user:pass@host:port/vhost`) to an AMQP URI.
/// With several hosts (`rabbit://u:p@h1,u:p@h2/vh`) the first is used. An empty virtual host
/// means `/`, as in oslo.
pub fn amqp_url_from_transport_url(transport_url: &str) -> Result<String, String> {
    let rest = transport_url
        .strip_prefix("rabbit://")
        .or_else(|| transport_url.strip_prefix("amqp://"))
        .ok_or_else(|| {
            format!("transport_url must start with rabbit:// (got {transport_url:?})")
        })?;
    let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = hosts.split(',').next().unwrap_or_default();
    if host.is_empty() {
        return Err("transport_url names no host".into());
    }
    let (vhost, _query) = path.split_once('?').unwrap_or((path, ""));
    let vhost = if vhost.is_empty() { "%2f" } else { vhost };
    Ok(format!("amqp://{host}/{vhost}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_urls_become_amqp_uris() {
        let url = amqp_url_from_transport_url;
        assert_eq!(
            url("rabbit://u:p@h:5672/magnum").unwrap(),
            "amqp://u:p@h:5672/magnum"
        );
        assert_eq!(
            url("rabbit://u:p@h:5672/").unwrap(),
            "amqp://u:p@h:5672/%2f"
        );
        assert_eq!(
            url("rabbit://u:p@a,u:p@b/v?ssl=0").unwrap(),
            "amqp://u:p@a/v"
        );
        assert!(url("kafka://h").is_err() && url("rabbit:///v").is_err());
    }
}
