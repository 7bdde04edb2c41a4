//! RPC API versions: `MAJOR.MINOR`, compared numerically (`1.10` > `1.9`).

use std::fmt;
use std::str::FromStr;

/// An RPC API or object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Incompatible changes bump this.
    pub major: u16,
    /// Additive changes bump this.
    pub minor: u16,
}

impl Version {
    /// Builds a version.
    pub const fn new(major: u16, minor: u16) -> Self {
        Version { major, minor }
    }
}

/// Newest RPC API version this build serves and sends; doc/rpc.md logs each version.
pub const RPC_API_VERSION: Version = Version::new(1, 0);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A version string that is not `X.Y` or `X.Y.Z`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {0:?}")]
pub struct BadVersion(pub String);

impl FromStr for Version {
    type Err = BadVersion;

    /// Reads `X.Y`, and `X.Y.Z` as `X.Y` (oslo's object versions may carry a patch level).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadVersion(text.to_owned());
        let mut parts = text.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        match (parts.next(), parts.next()) {
            (None, _) => {}
            (Some(patch), None) if patch.parse::<u16>().is_ok() => {}
            _ => return Err(bad()),
        }
        Ok(Version { major, minor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically_and_parse_strictly() {
        let v = |s: &str| s.parse::<Version>();
        assert!(v("1.10").unwrap() > v("1.9").unwrap());
        assert_eq!(v("1.2.3").unwrap(), Version::new(1, 2));
        assert!(v("1").is_err() && v("1.x").is_err() && v("1.2.3.4").is_err() && v("").is_err());
        assert_eq!(Version::new(2, 0).to_string(), "2.0");
    }
}
