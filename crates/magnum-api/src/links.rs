//! Item links and the public base URL they are built on (spec/rest-api.md §2.2).

use http::HeaderMap;
use http::header::HOST;
use serde_json::{Value, json};

/// Where links point when a request names no host (HTTP/1.0 without `Host`): our default
/// listener.
const FALLBACK_BASE: &str = "http://127.0.0.1:9511";

/// The `links` of an item: `self` `<base>/v1/<collection>/<id>` and bookmark
/// `<base>/<collection>/<id>`.
///
/// `collection` may be a nested path such as `clusters/<cluster uuid>/nodegroups`.
pub(crate) fn links(base: &str, collection: &str, id: &str) -> Value {
    json!([
        {"href": format!("{base}/v1/{collection}/{id}"), "rel": "self"},
        {"href": format!("{base}/{collection}/{id}"), "rel": "bookmark"},
    ])
}

/// The root URL links are built on, without a trailing slash.
///
/// `[api] public_endpoint` wins when set; else `http://<Host>`, where with `trust_forwarded`
/// `X-Forwarded-Proto` and `X-Forwarded-Host` (first entries) replace the scheme and host. A
/// missing or malformed host falls back to `http://127.0.0.1:9511`.
pub(crate) fn base_url(
    headers: &HeaderMap,
    public_endpoint: Option<&str>,
    trust_forwarded: bool,
) -> String {
    if let Some(endpoint) = public_endpoint.map(|e| e.trim().trim_end_matches('/'))
        && !endpoint.is_empty()
    {
        return endpoint.to_owned();
    }
    let forwarded = |name: &str| {
        trust_forwarded
            .then(|| first_entry(headers, name))
            .flatten()
    };
    let scheme = forwarded("x-forwarded-proto")
        .map(str::to_ascii_lowercase)
        .filter(|s| s == "http" || s == "https")
        .unwrap_or_else(|| "http".to_owned());
    let host = forwarded("x-forwarded-host")
        .filter(|h| is_host(h))
        .or_else(|| first_entry(headers, HOST.as_str()).filter(|h| is_host(h)));
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => FALLBACK_BASE.to_owned(),
    }
}

/// The first comma-separated entry of a header, trimmed; `None` if absent, empty or not text.
fn first_entry<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// Whether `text` looks like `host[:port]` (names, IPv4, bracketed IPv6), so that a hostile
/// `Host` cannot put a path, query or markup into links.
fn is_host(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn links_are_a_self_and_a_bookmark() {
        assert_eq!(
            links(
                "http://h:9511",
                "bays",
                "5d1c7b0e-0000-4000-8000-000000000001"
            ),
            json!([
                {"href": "http://h:9511/v1/bays/5d1c7b0e-0000-4000-8000-000000000001", "rel": "self"},
                {"href": "http://h:9511/bays/5d1c7b0e-0000-4000-8000-000000000001", "rel": "bookmark"},
            ])
        );
    }

    #[test]
    fn links_accept_a_nested_collection() {
        let links = links("http://h", "clusters/c1/nodegroups", "n1");
        assert_eq!(links[0]["href"], "http://h/v1/clusters/c1/nodegroups/n1");
        assert_eq!(links[1]["href"], "http://h/clusters/c1/nodegroups/n1");
    }

    #[test]
    fn the_public_endpoint_wins_without_its_trailing_slash() {
        let map = headers(&[("host", "internal:9511")]);
        assert_eq!(
            base_url(&map, Some("https://magnum.example.com/"), true),
            "https://magnum.example.com"
        );
        assert_eq!(
            base_url(&map, Some("https://magnum.example.com:9511"), false),
            "https://magnum.example.com:9511"
        );
    }

    #[test]
    fn an_empty_public_endpoint_counts_as_unset() {
        let map = headers(&[("host", "h:9511")]);
        assert_eq!(base_url(&map, Some(""), false), "http://h:9511");
    }

    #[test]
    fn the_host_header_gives_the_base_by_default() {
        let map = headers(&[("host", "10.0.0.5:9511")]);
        assert_eq!(base_url(&map, None, false), "http://10.0.0.5:9511");
        let v6 = headers(&[("host", "[fd00::1]:9511")]);
        assert_eq!(base_url(&v6, None, false), "http://[fd00::1]:9511");
    }

    #[test]
    fn forwarded_headers_are_ignored_unless_trusted() {
        let map = headers(&[
            ("host", "10.0.0.5:9511"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "magnum.example.com"),
        ]);
        assert_eq!(base_url(&map, None, false), "http://10.0.0.5:9511");
        assert_eq!(base_url(&map, None, true), "https://magnum.example.com");
    }

    #[test]
    fn a_trusted_forwarded_proto_alone_keeps_the_host() {
        let map = headers(&[("host", "h:9511"), ("x-forwarded-proto", "HTTPS, http")]);
        assert_eq!(base_url(&map, None, true), "https://h:9511");
    }

    #[test]
    fn the_first_forwarded_host_of_a_chain_is_used() {
        let map = headers(&[
            ("host", "h"),
            ("x-forwarded-host", "outer.example, inner.example"),
        ]);
        assert_eq!(base_url(&map, None, true), "http://outer.example");
    }

    #[test]
    fn odd_forwarded_values_are_ignored() {
        let map = headers(&[
            ("host", "h:9511"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "evil/path?x"),
        ]);
        assert_eq!(base_url(&map, None, true), "http://h:9511");
    }

    #[test]
    fn a_missing_or_malformed_host_falls_back_to_the_default_listener() {
        assert_eq!(
            base_url(&HeaderMap::new(), None, false),
            "http://127.0.0.1:9511"
        );
        let map = headers(&[("host", "a b")]);
        assert_eq!(base_url(&map, None, false), "http://127.0.0.1:9511");
    }
}
