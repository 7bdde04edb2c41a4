//! `[oslo_policy] policy_file`: a policy file applied over the defaults and re-read when its
//! modification time or size changes, as oslo.policy re-reads on mtime.

use super::{Policy, PolicyError};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What identifies one version of the file; size too, since a coarse mtime may not move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// A policy file over a set of defaults, with the policy it produced last.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    path: PathBuf,
    defaults: Policy,
    stamp: Stamp,
    current: Policy,
}

impl PolicyFile {
    /// Reads `path` and applies it over `defaults`. A missing or unreadable file is an error:
    /// an operator who names a policy file expects it to be used.
    pub fn open(path: impl Into<PathBuf>, defaults: Policy) -> Result<PolicyFile, PolicyError> {
        let path = path.into();
        let stamp = stamp(&path)?;
        let current = load(&path, &defaults)?;
        Ok(PolicyFile {
            path,
            defaults,
            stamp,
            current,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy the file produced when last read successfully.
    pub fn policy(&self) -> &Policy {
        &self.current
    }

    /// Re-reads the file if its modification time or size changed since the last read:
    /// `Ok(Some(policy))` with the new policy, `Ok(None)` if unchanged.
    ///
    /// On an error the previous policy stays in force. A file that cannot be read (or is
    /// briefly missing while an editor replaces it) is retried on the next call; a file that
    /// was read but refused is reported once and re-read only after it changes again.
    pub fn reload_if_changed(&mut self) -> Result<Option<Policy>, PolicyError> {
        let stamp = stamp(&self.path)?;
        if stamp == self.stamp {
            return Ok(None);
        }
        let loaded = load(&self.path, &self.defaults);
        if !matches!(loaded, Err(PolicyError::Io { .. })) {
            self.stamp = stamp;
        }
        self.current = loaded?;
        Ok(Some(self.current.clone()))
    }
}

fn stamp(path: &Path) -> Result<Stamp, PolicyError> {
    let meta = fs::metadata(path).map_err(|error| io(path, error))?;
    Ok(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

fn load(path: &Path, defaults: &Policy) -> Result<Policy, PolicyError> {
    let text = fs::read_to_string(path).map_err(|error| io(path, error))?;
    defaults
        .clone()
        .with_overrides(&text)
        .map_err(|error| PolicyError::File {
            path: path.to_owned(),
            error: Box::new(error),
        })
}

fn io(path: &Path, error: std::io::Error) -> PolicyError {
    PolicyError::Io {
        path: path.to_owned(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("magnum-auth-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `text` and moves the mtime on, so the change shows however coarse the clock.
    fn write(path: &Path, text: &str, age: u64) {
        fs::write(path, text).unwrap();
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + age);
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn opening_applies_the_file_over_the_defaults() {
        let dir = TempDir::new("open");
        let path = dir.0.join("policy.yaml");
        write(&path, "\"bay:create\": \"!\"\n", 1);
        let file = PolicyFile::open(&path, Policy::defaults(false)).unwrap();
        assert_eq!(file.path(), path);
        assert_eq!(file.policy().check_str("bay:create"), Some("!"));
        assert_eq!(file.policy().check_str("bay:get"), Some("rule:default"));
    }

    #[test]
    fn a_missing_or_broken_file_does_not_open() {
        let dir = TempDir::new("missing");
        let err = PolicyFile::open(dir.0.join("absent.yaml"), Policy::defaults(false)).unwrap_err();
        assert!(matches!(err, PolicyError::Io { .. }), "{err}");
        let path = dir.0.join("policy.json");
        write(&path, r#"{"bay:get": "role:"}"#, 1);
        let err = PolicyFile::open(&path, Policy::defaults(false)).unwrap_err();
        assert!(
            err.to_string().contains("policy.json") && err.to_string().contains("bay:get"),
            "{err}"
        );
    }

    #[test]
    fn reloads_only_when_changed_and_keeps_the_last_good_policy() {
        let dir = TempDir::new("reload");
        let path = dir.0.join("policy.yaml");
        write(&path, "\"bay:create\": \"!\"\n", 1);
        let mut file = PolicyFile::open(&path, Policy::defaults(false)).unwrap();
        assert!(file.reload_if_changed().unwrap().is_none());

        write(&path, "\"bay:create\": \"@\"\n", 2);
        let reloaded = file.reload_if_changed().unwrap().unwrap();
        assert_eq!(reloaded.check_str("bay:create"), Some("@"));
        assert!(file.reload_if_changed().unwrap().is_none());

        // Overrides are applied to the defaults, not on top of the previous file.
        write(&path, "\"bay:delete\": \"!\"\n", 3);
        let reloaded = file.reload_if_changed().unwrap().unwrap();
        assert_eq!(reloaded.check_str("bay:create"), Some("rule:default"));

        // A broken edit is reported once; the last good policy stays.
        write(&path, "\"bay:delete\": \"not\"\n", 4);
        assert!(file.reload_if_changed().is_err());
        assert!(file.reload_if_changed().unwrap().is_none());
        assert_eq!(file.policy().check_str("bay:delete"), Some("!"));

        // A missing file is an error each time, until it is back.
        fs::remove_file(&path).unwrap();
        assert!(file.reload_if_changed().is_err());
        assert!(file.reload_if_changed().is_err());
        assert_eq!(file.policy().check_str("bay:delete"), Some("!"));
        write(&path, "\"bay:delete\": \"@\"\n", 5);
        assert_eq!(
            file.reload_if_changed()
                .unwrap()
                .unwrap()
                .check_str("bay:delete"),
            Some("@")
        );
    }
}
