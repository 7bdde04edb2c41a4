//! Reports this conductor alive in the services table every `[conductor] heartbeat_interval`.

use crate::Conductor;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Heartbeats until `shutdown`; a zero period switches heartbeats off.
pub(crate) async fn report(
    conductor: Arc<Conductor>,
    every: Duration,
    shutdown: CancellationToken,
) {
    if every.is_zero() {
        shutdown.cancelled().await; // switched off in magnum.conf
        return;
    }
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    while shutdown.run_until_cancelled(ticks.tick()).await.is_some() {
        if let Err(e) = conductor.heartbeat().await {
            tracing::warn!(error = %e, "heartbeat failed; the next tick retries");
        }
    }
}
