//! The one error type of input validation. Every variant is a client error (HTTP 400) and its
//! `Display` is the message tenants see (spec/rest-api.md §2.4, §2.5, §5.2).

/// Why a request body, patch or query parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The body is not JSON, or not of the expected JSON shape.
    #[error("Invalid input: {0}")]
    Malformed(String),
    /// Attributes the resource does not have.
    #[error("Unknown attribute for argument {argument}: {names}")]
    UnknownAttribute {
        /// The body's resource, e.g. `baymodel`.
        argument: &'static str,
        /// Comma-separated unknown names, sorted.
        names: String,
    },
    /// A field a client may not set.
    #[error(
        "Invalid input for field/attribute {field}. Value: {value}. The attribute is read-only."
    )]
    ReadOnly {
        /// Field name.
        field: String,
        /// The value as sent.
        value: String,
    },
    /// A mandatory field is absent or null.
    #[error("Invalid input for field/attribute {field}. Value: None. Mandatory field missing.")]
    Missing {
        /// Field name.
        field: String,
    },
    /// A value of the wrong type, range, length or enumeration.
    #[error("Invalid input for field/attribute {field}. Value: {value}. {reason}")]
    Invalid {
        /// Field name.
        field: String,
        /// The value as sent.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A patch touches a field that only the service sets.
    #[error("'{path}' is an internal attribute and can not be updated")]
    Internal {
        /// The patch path.
        path: String,
    },
    /// A patch removes a mandatory field.
    #[error("'{path}' is a mandatory attribute and can not be removed")]
    MandatoryRemoval {
        /// The patch path.
        path: String,
    },
    /// Any other refusal, with its full message.
    #[error("{0}")]
    Other(String),
}

impl ValidationError {
    /// Shorthand for [`ValidationError::Invalid`], rendering `value` as the client sent it.
    pub fn invalid(field: &str, value: &serde_json::Value, reason: impl Into<String>) -> Self {
        ValidationError::Invalid {
            field: field.to_owned(),
            value: render_value(value),
            reason: reason.into(),
        }
    }
}

/// Renders a JSON value for a message: strings without quotes, everything else as JSON.
pub fn render_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}
