//! The name and label rules of `k8s.io/apimachinery/pkg/util/validation`, so a driver bug that a
//! real API server would reject (an invalid label value, a too-long name) fails here as well.

/// A DNS-1123 label: at most 63 characters of `[a-z0-9-]`, alphanumeric at both ends
/// (namespace names).
pub(crate) fn dns_label(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && alnum_ends(name);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (got {name:?})"
        ))
    }
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels (most object names).
pub(crate) fn dns_subdomain(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && alnum_ends(name);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (got {name:?})"
        ))
    }
}

/// A path segment name (RBAC objects such as `system:node`): anything but `.`, `..`, `/`, `%`.
pub(crate) fn path_segment(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '%']) {
        Err(format!(
            "may not be '.', '..' or contain '/' or '%' (got {name:?})"
        ))
    } else {
        Ok(())
    }
}

/// A label (or annotation) key: an optional DNS subdomain prefix and `/`, then a name of at most
/// 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both ends.
pub(crate) fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        dns_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
    }
    if qualified_name_part(name) {
        Ok(())
    } else {
        Err(format!(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start \
             and end with an alphanumeric character, at most 63 characters (got {key:?})"
        ))
    }
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both ends.
pub(crate) fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || qualified_name_part(value) {
        Ok(())
    } else {
        Err(format!(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', \
             '_' or '.', and must start and end with an alphanumeric character, at most 63 \
             characters (got {value:?})"
        ))
    }
}

fn qualified_name_part(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

fn alnum_ends(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    name.bytes().next().is_some_and(alnum) && name.bytes().last().is_some_and(alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_follow_the_api_server_rules() {
        assert!(dns_label("magnum-0b6d7a3e-43f5-4bd5-9e43-47b11fa0cb2a").is_ok());
        assert!(dns_label("Magnum").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_subdomain("node-1.example").is_ok());
        assert!(dns_subdomain("-x").is_err());
        assert!(path_segment("system:node").is_ok());
        assert!(path_segment("a/b").is_err());
        assert!(label_key("magnum.openstack.org/bay").is_ok());
        assert!(label_key("app").is_ok());
        assert!(label_key("bad key").is_err());
        assert!(label_key("Example.com/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("0b6d7a3e-43f5-4bd5-9e43-47b11fa0cb2a").is_ok());
        assert!(label_value("has space").is_err());
        assert!(label_value(&"v".repeat(64)).is_err());
    }
}
