//! Magnum services: the conductors, as their heartbeats record them (spec/rest-api.md §4.5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One conductor process (the `MagnumService` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MagnumService {
    /// Database id.
    pub id: i64,
    /// `[DEFAULT] host` of the conductor.
    pub host: String,
    /// `magnum-conductor`.
    pub binary: String,
    /// Administratively disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Why it is disabled.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Last heartbeat.
    #[serde(default, with = "crate::time::option")]
    pub last_seen_up: Option<DateTime<Utc>>,
    /// Marked down by an operator.
    #[serde(default)]
    pub forced_down: bool,
    /// Heartbeats so far.
    #[serde(default)]
    pub report_count: i64,
    /// First heartbeat.
    #[serde(default, with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last heartbeat's write.
    #[serde(default, with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl MagnumService {
    /// `up` unless forced down or its last heartbeat is older than `down_after` at `now`.
    pub fn state(&self, now: DateTime<Utc>, down_after: chrono::Duration) -> &'static str {
        let seen = self.last_seen_up.or(self.updated_at).or(self.created_at);
        match seen {
            Some(seen) if !self.forced_down && now - seen <= down_after => "up",
            _ => "down",
        }
    }
}

/// Counts over bays (the `Stats` object, spec/rest-api.md §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Bays.
    pub clusters: i64,
    /// Their nodes: Σ (`node_count` + `master_count`).
    pub nodes: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_the_last_heartbeat() {
        let now = Utc::now();
        let mut s = MagnumService {
            id: 1,
            host: "h".into(),
            binary: "magnum-conductor".into(),
            disabled: false,
            disabled_reason: None,
            last_seen_up: Some(now - chrono::Duration::seconds(10)),
            forced_down: false,
            report_count: 3,
            created_at: None,
            updated_at: None,
        };
        let limit = chrono::Duration::seconds(180);
        assert_eq!(s.state(now, limit), "up");
        assert_eq!(s.state(now + chrono::Duration::seconds(300), limit), "down");
        s.forced_down = true;
        assert_eq!(s.state(now, limit), "down");
    }
}
