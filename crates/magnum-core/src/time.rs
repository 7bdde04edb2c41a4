//! Timestamps on the RPC wire: `YYYY-MM-DDTHH:MM:SSZ`, whole seconds (spec/rpc.md §5.1).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Formats a timestamp the way oslo.versionedobjects does on the wire.
pub fn to_wire(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses a wire timestamp; fractions and `±hh:mm` offsets are accepted on input.
pub fn from_wire(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
        .or_else(|| {
            // Python's isoformat() without an offset, as Liberty peers send it.
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })
}

/// Serde adapter for `Option<DateTime<Utc>>` fields in wire format.
pub mod option {
    use super::{DateTime, Deserialize, Deserializer, Serializer, Utc, from_wire, to_wire};

    /// Writes `null` or a wire timestamp.
    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&to_wire(at)),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` or a wire timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            from_wire(&t).ok_or_else(|| serde::de::Error::custom(format!("bad timestamp {t:?}")))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_timestamps_have_whole_seconds_and_a_z() {
        let at = from_wire("2026-11-23T10:15:02.734+00:00").unwrap();
        assert_eq!(to_wire(&at), "2026-11-23T10:15:02Z");
        assert_eq!(
            to_wire(&from_wire("2015-10-19T12:34:56").unwrap()),
            "2015-10-19T12:34:56Z"
        );
        assert!(from_wire("yesterday").is_none());
    }
}
