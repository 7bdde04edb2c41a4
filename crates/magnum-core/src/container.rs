//! Containers: Docker containers in swarm bays (spec/rest-api.md §3.5), their status, and input
//! validation (image references, memory sizes, commands split like a POSIX shell).

use crate::error::ValidationError;
use crate::fields::{self, FieldKind, FieldSpec, Flags, Mode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A container's state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContainerStatus {
    /// Recorded; the image pull and Engine create run in the conductor.
    Creating,
    /// Running.
    Running,
    /// Created or stopped.
    Stopped,
    /// Paused.
    Paused,
    /// Failed; `status_reason` says why.
    Error,
    /// Its Engine does not answer.
    Unknown,
}

impl ContainerStatus {
    /// The API and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Creating => "Creating",
            ContainerStatus::Running => "Running",
            ContainerStatus::Stopped => "Stopped",
            ContainerStatus::Paused => "Paused",
            ContainerStatus::Error => "Error",
            ContainerStatus::Unknown => "Unknown",
        }
    }

    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            ContainerStatus::Creating,
            ContainerStatus::Running,
            ContainerStatus::Stopped,
            ContainerStatus::Paused,
            ContainerStatus::Error,
            ContainerStatus::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A stored container (RPC object Container 1.1 plus extensions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// Database id; internal.
    pub id: i64,
    /// Public identifier; also the Engine container's hostname.
    pub uuid: Uuid,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// Name, unique in its bay.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Command as given (split into argv for the Engine).
    pub command: Option<String>,
    /// Memory limit as given (`512m`).
    pub memory: Option<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// The bay.
    pub bay_uuid: Uuid,
    /// Status.
    pub status: ContainerStatus,
    /// Why the status is `Error` or `Unknown`.
    pub status_reason: Option<String>,
    /// Node uuid of the Docker host running it.
    pub host: Option<Uuid>,
    /// When it was stored.
    #[serde(with = "crate::time::option")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(with = "crate::time::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A validated container create request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Requested uuid; `None`: generate.
    pub uuid: Option<Uuid>,
    /// Name; `None`: `container-<8 hex>`.
    pub name: Option<String>,
    /// Image reference.
    pub image: String,
    /// Command.
    pub command: Option<String>,
    /// Memory limit.
    pub memory: Option<String>,
    /// Environment.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The bay as sent (uuid or name); the API resolves it to the uuid.
    pub bay_uuid: String,
}

const W: Flags = Flags::WRITABLE;
const RO: Flags = Flags::READ_ONLY;

/// `/v1/containers` fields.
pub static CONTAINER_FIELDS: &[FieldSpec] = &[
    FieldSpec::new("uuid", FieldKind::Uuid, W),
    FieldSpec::new(
        "name",
        FieldKind::String { min: 2, max: 255 },
        W.with(Flags::PATCHABLE),
    ),
    FieldSpec::new("image", FieldKind::String { min: 1, max: 255 }, W),
    FieldSpec::new("image_id", FieldKind::String { min: 1, max: 255 }, W),
    FieldSpec::new("command", FieldKind::String { min: 0, max: 4096 }, W),
    FieldSpec::new("memory", FieldKind::String { min: 1, max: 32 }, W),
    FieldSpec::new("environment", FieldKind::Dict, W),
    FieldSpec::new(
        "bay_uuid",
        FieldKind::String { min: 1, max: 255 },
        Flags::MANDATORY,
    ),
    FieldSpec::new("status", FieldKind::Opaque, RO),
    FieldSpec::new("status_reason", FieldKind::Opaque, RO),
    FieldSpec::new("host", FieldKind::Opaque, RO),
    FieldSpec::new("links", FieldKind::Opaque, RO),
    FieldSpec::new("created_at", FieldKind::Opaque, RO),
    FieldSpec::new("updated_at", FieldKind::Opaque, RO),
    FieldSpec::new("project_id", FieldKind::Opaque, RO),
    FieldSpec::new("user_id", FieldKind::Opaque, RO),
    FieldSpec::new("id", FieldKind::Opaque, RO),
];

/// Fields a container list may sort by.
pub const SORT_KEYS: &[&str] = &[
    "id",
    "uuid",
    "name",
    "image",
    "status",
    "bay_uuid",
    "created_at",
    "updated_at",
];

fn invalid(field: &str, value: &str, reason: &str) -> ValidationError {
    ValidationError::Invalid {
        field: field.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

/// Checks a container name: Docker's `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`.
pub fn check_name(name: &str) -> Result<(), ValidationError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            name,
            "Names must match [a-zA-Z0-9][a-zA-Z0-9_.-]+.",
        ))
    }
}

/// Checks an image reference: `repo[:tag]` or `repo@digest`, lowercase path components.
pub fn check_image(image: &str) -> Result<(), ValidationError> {
    let bad = || {
        invalid(
            "image",
            image,
            "Expected repository[:tag] or repository@digest.",
        )
    };
    let (repo, digest) = match image.split_once('@') {
        Some((repo, digest)) => (repo, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let (algo, hex) = digest.split_once(':').ok_or_else(bad)?;
        if algo.is_empty() || hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
    }
    // A tag follows the last ':' after the last '/' (a registry port has a '/' after it).
    let (path, tag) = match repo.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (repo, None),
    };
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !tag_ok {
            return Err(bad());
        }
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
    };
    let mut components = path.split('/');
    let first = components.next().unwrap_or_default();
    // The first component may be a registry host (with a port or dots).
    let first_ok = component_ok(first) || first.contains(['.', ':']) || first == "localhost";
    if path.is_empty() || !first_ok || !components.all(component_ok) {
        return Err(bad());
    }
    Ok(())
}

/// Parses a memory size `<int>[b|k|m|g]` into bytes; at least 6 MiB (Docker's minimum).
pub fn memory_bytes(text: &str) -> Result<i64, ValidationError> {
    let bad = |why: &str| invalid("memory", text, why);
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 'b'),
    };
    let factor: i64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        _ => return Err(bad("Expected <number>[b|k|m|g], e.g. 512m.")),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| bad("Expected <number>[b|k|m|g], e.g. 512m."))?;
    let bytes = n.checked_mul(factor).ok_or_else(|| bad("Too large."))?;
    if bytes < 6 << 20 {
        return Err(bad("The minimum is 6m."));
    }
    Ok(bytes)
}

/// Splits a command like a POSIX shell into argv (quotes and backslashes; no expansion).
pub fn split_command(text: &str) -> Result<Vec<String>, ValidationError> {
    let mut argv = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(invalid("command", text, "Unterminated single quote.")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => {
                                return Err(invalid("command", text, "Unterminated double quote."));
                            }
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(invalid("command", text, "Unterminated double quote.")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    word.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    argv.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        argv.push(word);
    }
    Ok(argv)
}

impl ContainerSpec {
    /// Validates a `POST /v1/containers` body (§3.5).
    pub fn from_create_body(body: &Value) -> Result<Self, ValidationError> {
        let f = fields::validate_body("container", CONTAINER_FIELDS, body, Mode::Create)?;
        let text = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        let image = match (text("image"), text("image_id")) {
            (Some(a), Some(b)) if a != b => {
                return Err(invalid("image_id", &b, "image and image_id differ."));
            }
            (Some(image), _) | (None, Some(image)) => image,
            (None, None) => {
                return Err(ValidationError::Missing {
                    field: "image".into(),
                });
            }
        };
        check_image(&image)?;
        let name = text("name");
        if let Some(name) = &name {
            check_name(name)?;
        }
        let memory = text("memory");
        if let Some(memory) = &memory {
            memory_bytes(memory)?;
        }
        let command = text("command");
        if let Some(command) = &command {
            split_command(command)?;
        }
        Ok(ContainerSpec {
            uuid: f
                .get("uuid")
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            name,
            image,
            command,
            memory,
            environment: f
                .get("environment")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            bay_uuid: text("bay_uuid").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_command("sh -c 'echo hi; exit 3'").unwrap(),
            ["sh", "-c", "echo hi; exit 3"]
        );
        assert_eq!(
            split_command(r#"echo "a \"b\"" c\ d ''"#).unwrap(),
            ["echo", "a \"b\"", "c d", ""]
        );
        assert!(split_command("echo 'open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn memory_sizes_and_images_are_checked() {
        assert_eq!(memory_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(memory_bytes("1G").unwrap(), 1 << 30);
        for bad in ["5m", "12x", "m", "-1g", ""] {
            assert!(memory_bytes(bad).is_err(), "{bad}");
        }
        for good in [
            "busybox",
            "busybox:1.36",
            "magnum-test/busybox:latest",
            "registry.example:5000/a/b:v1",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_image(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "a b",
            "busybox@sha256:xyz",
            ":tag",
        ] {
            assert!(check_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_bodies_take_image_or_image_id_and_refuse_bad_names() {
        let spec = ContainerSpec::from_create_body(
            &json!({"image_id": "busybox", "bay_uuid": "b", "memory": "64m"}),
        )
        .unwrap();
        assert_eq!(spec.image, "busybox");
        assert!(
            ContainerSpec::from_create_body(
                &json!({"image": "a", "image_id": "b", "bay_uuid": "x"})
            )
            .is_err()
        );
        assert!(ContainerSpec::from_create_body(&json!({"bay_uuid": "x"})).is_err());
        assert!(
            ContainerSpec::from_create_body(&json!({"image": "a", "bay_uuid": "x", "name": "-x"}))
                .is_err()
        );
        assert!(
            ContainerSpec::from_create_body(
                &json!({"image": "a", "bay_uuid": "x", "status": "Running"})
            )
            .is_err()
        );
        assert!(ContainerSpec::from_create_body(&json!({"image": "a"})).is_err());
    }
}
