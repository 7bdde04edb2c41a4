//! How a path names an object: by uuid or by name (spec/rest-api.md §2.1).

use std::fmt;
use uuid::Uuid;

/// A path identifier: a hyphenated UUID (any case) is a uuid, anything else a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ident {
    /// Looked up by uuid.
    Uuid(Uuid),
    /// Looked up by name among visible objects.
    Name(String),
}

impl Ident {
    /// Classifies a path segment.
    pub fn parse(text: &str) -> Self {
        match parse_hyphenated_uuid(text) {
            Some(uuid) => Ident::Uuid(uuid),
            None => Ident::Name(text.to_owned()),
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ident::Uuid(uuid) => write!(f, "{uuid}"),
            Ident::Name(name) => f.write_str(name),
        }
    }
}

/// Parses only the canonical 8-4-4-4-12 hyphenated form (any case), as Magnum's
/// `uuidutils.is_uuid_like` on path segments; `urn:` or braced forms are names.
pub fn parse_hyphenated_uuid(text: &str) -> Option<Uuid> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
        return None;
    }
    Uuid::try_parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_uuids_of_any_case_are_uuids_and_the_rest_names() {
        let upper = "5D1C7B0E-3F6A-4C2D-9E8B-1A2B3C4D5E6F";
        assert!(
            matches!(Ident::parse(upper), Ident::Uuid(u) if u.to_string() == upper.to_lowercase())
        );
        assert_eq!(Ident::parse("k8s-prod"), Ident::Name("k8s-prod".into()));
        assert_eq!(
            Ident::parse("5d1c7b0e3f6a4c2d9e8b1a2b3c4d5e6f"),
            Ident::Name("5d1c7b0e3f6a4c2d9e8b1a2b3c4d5e6f".into())
        );
    }
}
