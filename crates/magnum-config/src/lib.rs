//! Reads oslo-style INI configuration (`--config-file`, later files win), then environment
//! overrides `MAGNUM_<SECTION>__<KEY>`. Section types live with the crate that reads them; each
//! binary composes its own top-level struct.

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};

/// Why configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `--config-file` is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Values of the wrong type, or an unparsable file.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
    /// A secret's `*_file` could not be read.
    #[error("cannot read secret file {path}: {source}")]
    Secret {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads each file in order (later wins), then the environment.
///
/// Section names are case-insensitive (`[DEFAULT]` is `default`), as environment variable
/// names are lowercased: `MAGNUM_DEFAULT__TRANSPORT_URL` overrides `[DEFAULT] transport_url`.
pub fn load<T: DeserializeOwned>(files: &[PathBuf]) -> Result<T, ConfigError> {
    load_with_env(files, "MAGNUM")
}

/// As [`load`], with another environment prefix (tests use their own).
pub fn load_with_env<T: DeserializeOwned>(
    files: &[PathBuf],
    prefix: &str,
) -> Result<T, ConfigError> {
    let mut layers = Config::builder();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        layers = layers.add_source(File::from_str(&lowercase_sections(&text), FileFormat::Ini));
    }
    Ok(layers
        .add_source(
            Environment::with_prefix(prefix)
                .prefix_separator("_")
                .separator("__"),
        )
        .build()?
        .try_deserialize()?)
}

/// Parses INI text alone (no environment), e.g. to check a sample file.
pub fn parse_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    Ok(Config::builder()
        .add_source(File::from_str(&lowercase_sections(text), FileFormat::Ini))
        .build()?
        .try_deserialize()?)
}

/// Lowercases section names and merges repeated sections into the first, in order, as
/// oslo.config reads a file (`[kubernetes]` twice: both sets of options count; a repeated
/// option keeps its last value).
fn lowercase_sections(text: &str) -> String {
    // Lines before any section header, then each section's lines in first-seen order.
    let mut sections: Vec<(String, Vec<&str>)> = vec![(String::new(), Vec::new())];
    let mut current = 0;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            let name = trimmed.to_lowercase();
            current = match sections.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    sections.push((name, Vec::new()));
                    sections.len() - 1
                }
            };
        } else {
            sections[current].1.push(line);
        }
    }
    let mut out = String::with_capacity(text.len());
    for (name, lines) in &sections {
        if !name.is_empty() {
            out.push_str(name);
            out.push('\n');
        }
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Reads a secret: the value itself, else the first line of `file` (a mounted secret).
pub fn secret(value: Option<&str>, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    match (value, file) {
        (Some(value), _) => Ok(Some(value.to_owned())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(text.lines().next().unwrap_or_default().to_owned()))
            .map_err(|source| ConfigError::Secret {
                path: path.to_owned(),
                source,
            }),
        (None, None) => Ok(None),
    }
}

/// Deserializes a number or boolean that may arrive as text. Options of a struct that is
/// `#[serde(flatten)]`ed into a section need this: serde buffers them, so the INI reader's own
/// text-to-number conversion never runs.
pub fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + Deserialize<'de>,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<T> {
        Value(T),
        Text(String),
    }
    match Raw::<T>::deserialize(d)? {
        Raw::Value(value) => Ok(value),
        Raw::Text(text) => text.trim().parse().map_err(serde::de::Error::custom),
    }
}

/// Deserializes an oslo list option: `a, b ,c` (or an actual sequence) into strings.
pub fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Raw::List(items) => items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        #[serde(default)]
        default: Default_,
        #[serde(default)]
        api: Api,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    struct Default_ {
        host: Option<String>,
        #[serde(default, deserialize_with = "comma_list")]
        hosts: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    struct Api {
        port: Option<u16>,
    }

    #[test]
    fn repeated_sections_merge_as_in_oslo_config() {
        let parsed: Sample = parse_str(
            "[DEFAULT]\nhost = a\n[api]\nport = 1\n[default]\nhosts = x\n[api]\nport = 2\n",
        )
        .unwrap();
        assert_eq!(parsed.default.host.as_deref(), Some("a"));
        assert_eq!(parsed.default.hosts, vec!["x".to_owned()]);
        assert_eq!(parsed.api.port, Some(2));
    }

    #[test]
    fn sections_are_case_insensitive_and_lists_split_on_commas() {
        let parsed: Sample =
            parse_str("[DEFAULT]\nhost = node1\nhosts = a, b,c\n# port = 1\n[API]\nport = 9511\n")
                .unwrap();
        assert_eq!(parsed.default.host.as_deref(), Some("node1"));
        assert_eq!(parsed.default.hosts, ["a", "b", "c"]);
        assert_eq!(parsed.api.port, Some(9511));
    }

    #[test]
    fn environment_overrides_files_and_later_files_win() {
        let dir = std::env::temp_dir().join(format!("magnum-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.conf"), dir.join("b.conf"));
        std::fs::write(&a, "[DEFAULT]\nhost = a\n[api]\nport = 1\n").unwrap();
        std::fs::write(&b, "[api]\nport = 2\n").unwrap();
        let parsed: Sample = load_with_env(&[a.clone(), b.clone()], "MAGNUMCFGTEST").unwrap();
        assert_eq!(
            (parsed.default.host.as_deref(), parsed.api.port),
            (Some("a"), Some(2))
        );
        let missing = load_with_env::<Sample>(&[dir.join("nope.conf")], "MAGNUMCFGTEST");
        assert!(matches!(missing, Err(ConfigError::Read { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
