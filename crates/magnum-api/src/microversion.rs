//! API microversions (spec/rest-api.md §1.5): negotiation, the `ApiVersion` extractor and the
//! `/v1` middleware that stamps the version headers on every response.

use std::fmt;

use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderMap, HeaderName, HeaderValue, VARY};
use http::request::Parts;

use crate::error::ApiError;

/// A microversion `major.minor`; ordered, so `version >= ApiVersion::V1_2` gates behaviour.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ApiVersion {
    major: u16,
    minor: u16,
}

impl ApiVersion {
    /// Version 1.1, the baseline served to callers that send no version header.
    pub(crate) const V1_1: ApiVersion = ApiVersion::new(1, 1);
    /// Version 1.2: bay POST and PATCH answer 202 with `{"uuid"}`.
    pub(crate) const V1_2: ApiVersion = ApiVersion::new(1, 2);
    /// Version 1.10: `node_count` 0 is allowed on bays, clusters and resizes.
    pub(crate) const V1_10: ApiVersion = ApiVersion::new(1, 10);

    /// The version `major.minor`.
    pub(crate) const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The oldest version served.
pub(crate) const MIN: ApiVersion = ApiVersion::V1_1;
/// The newest version served; what `latest` means.
pub(crate) const MAX: ApiVersion = ApiVersion::V1_10;

/// The outcome of negotiation, stored in the request extensions by [`negotiate_layer`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    /// The version the request is served at.
    pub(crate) version: ApiVersion,
    /// Whether the 2015 `X-OpenStack-Magnum-API-Version` header chose it.
    pub(crate) legacy_header: bool,
}

/// The service tokens naming us in `OpenStack-API-Version` (compared case-insensitively):
/// the catalog type, its long form and openstacksdk's service type.
const SERVICE_TOKENS: [&str; 3] = [
    "container-infra",
    "container-infrastructure",
    "container-infrastructure-management",
];

/// The token our own response headers use.
const SERVICE: &str = "container-infra";

const MODERN: HeaderName = HeaderName::from_static("openstack-api-version");
const MODERN_MIN: HeaderName = HeaderName::from_static("openstack-api-minimum-version");
const MODERN_MAX: HeaderName = HeaderName::from_static("openstack-api-maximum-version");
const LEGACY: HeaderName = HeaderName::from_static("x-openstack-magnum-api-version");
const LEGACY_MIN: HeaderName = HeaderName::from_static("x-openstack-magnum-api-minimum-version");
const LEGACY_MAX: HeaderName = HeaderName::from_static("x-openstack-magnum-api-maximum-version");

const INVALID_SERVICE: &str = "Invalid service type for OpenStack-API-Version header";
const INVALID_MODERN_VALUE: &str = "Invalid value for OpenStack-API-Version header";
const INVALID_LEGACY_VALUE: &str = "Invalid value for X-OpenStack-Magnum-API-Version header";

/// Chooses the version of a request from the raw `OpenStack-API-Version` header (`modern`) and
/// the 2015 `X-OpenStack-Magnum-API-Version` header (`legacy`, read only when `modern` is absent).
///
/// Neither header means 1.1; `latest` means [`MAX`]. Every refusal is a 406
/// [`ApiError::NotAcceptable`], with `unsupported` set when a well-formed version is out of range.
pub(crate) fn negotiate(
    modern: Option<&str>,
    legacy: Option<&str>,
) -> Result<Negotiated, ApiError> {
    if let Some(header) = modern {
        let text = our_entry(header)?;
        let version = parse_version(text).ok_or_else(|| invalid(INVALID_MODERN_VALUE))?;
        return Ok(Negotiated {
            version: in_range(version)?,
            legacy_header: false,
        });
    }
    if let Some(header) = legacy {
        let version = parse_version(header.trim()).ok_or_else(|| invalid(INVALID_LEGACY_VALUE))?;
        return Ok(Negotiated {
            version: in_range(version)?,
            legacy_header: true,
        });
    }
    Ok(Negotiated {
        version: MIN,
        legacy_header: false,
    })
}

/// Negotiates from request headers; repeated headers are read as one comma-separated list.
fn negotiate_headers(headers: &HeaderMap) -> Result<Negotiated, ApiError> {
    let modern = joined(headers, &MODERN);
    let legacy = joined(headers, &LEGACY);
    negotiate(modern.as_deref(), legacy.as_deref())
}

/// Whether the 2015 header is the one that counts for this request.
fn uses_legacy_header(headers: &HeaderMap) -> bool {
    !headers.contains_key(MODERN) && headers.contains_key(LEGACY)
}

/// All values of `name` joined with `,`; bytes that are not UTF-8 become U+FFFD and later fail
/// to parse.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let values: Vec<_> = headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The version text of our entry in a (comma-separated) `OpenStack-API-Version` header.
fn our_entry(header: &str) -> Result<&str, ApiError> {
    for entry in header.split(',') {
        let mut words = entry.split_whitespace();
        let Some(service) = words.next() else {
            continue;
        };
        if !SERVICE_TOKENS
            .iter()
            .any(|token| token.eq_ignore_ascii_case(service))
        {
            continue;
        }
        return match (words.next(), words.next()) {
            (Some(version), None) => Ok(version),
            _ => Err(invalid(INVALID_MODERN_VALUE)),
        };
    }
    Err(invalid(INVALID_SERVICE))
}

/// Parses `X.Y` (decimal digits) or `latest` (any case).
fn parse_version(text: &str) -> Option<ApiVersion> {
    if text.eq_ignore_ascii_case("latest") {
        return Some(MAX);
    }
    let (major, minor) = text.split_once('.')?;
    Some(ApiVersion::new(number(major)?, number(minor)?))
}

/// A non-empty run of ASCII digits that fits a `u16`.
fn number(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Accepts a version inside `[MIN, MAX]`; refuses others with the range in the message (the
/// texts of Magnum's `magnum/api/controllers/v1/__init__.py`, made explicit about the major).
fn in_range(version: ApiVersion) -> Result<ApiVersion, ApiError> {
    let part = if version.major == MAX.major {
        "minor"
    } else {
        "major"
    };
    if (MIN..=MAX).contains(&version) {
        return Ok(version);
    }
    Err(ApiError::NotAcceptable {
        message: format!(
            "Version {version} was requested but the {part} version is not supported by this \
             service. The supported version range is: [{MIN}, {MAX}]."
        ),
        unsupported: true,
    })
}

/// A 406 for a header we cannot read.
fn invalid(message: &str) -> ApiError {
    ApiError::NotAcceptable {
        message: message.to_owned(),
        unsupported: false,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = ApiError;

    /// The version [`negotiate_layer`] chose, else one negotiated from the headers.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(negotiated) = parts.extensions.get::<Negotiated>() {
            return Ok(negotiated.version);
        }
        negotiate_headers(&parts.headers).map(|negotiated| negotiated.version)
    }
}

/// Middleware for `/v1` (use with `axum::middleware::from_fn`): negotiates the version (406 on
/// failure), stores [`Negotiated`] in the request extensions and adds the version headers to
/// every response, errors included.
pub(crate) async fn negotiate_layer(mut req: Request, next: Next) -> Response {
    let legacy = uses_legacy_header(req.headers());
    match negotiate_headers(req.headers()) {
        Ok(negotiated) => {
            req.extensions_mut().insert(negotiated);
            let mut response = next.run(req).await;
            add_version_headers(
                response.headers_mut(),
                negotiated.version,
                negotiated.legacy_header,
            );
            response
        }
        Err(error) => {
            let mut response = error.into_response();
            // The range headers tell the client what to ask for instead.
            add_version_headers(response.headers_mut(), MAX, legacy);
            response
        }
    }
}

/// Sets the `OpenStack-API-*` headers (and the 2015 `X-OpenStack-Magnum-API-*` ones when
/// `legacy`) and adds `OpenStack-API-Version` to `Vary`.
fn add_version_headers(headers: &mut HeaderMap, used: ApiVersion, legacy: bool) {
    let mut set = |name: HeaderName, text: String| {
        if let Ok(value) = HeaderValue::try_from(text) {
            headers.insert(name, value);
        }
    };
    set(MODERN_MIN, format!("{SERVICE} {MIN}"));
    set(MODERN_MAX, format!("{SERVICE} {MAX}"));
    set(MODERN, format!("{SERVICE} {used}"));
    if legacy {
        set(LEGACY_MIN, MIN.to_string());
        set(LEGACY_MAX, MAX.to_string());
        set(LEGACY, used.to_string());
    }
    let already = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("openstack-api-version"))
        })
    });
    if !already {
        headers.append(VARY, HeaderValue::from_static("OpenStack-API-Version"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt;

    fn version_of(modern: Option<&str>, legacy: Option<&str>) -> ApiVersion {
        negotiate(modern, legacy).expect("negotiates").version
    }

    fn refusal(modern: Option<&str>, legacy: Option<&str>) -> (String, bool) {
        match negotiate(modern, legacy) {
            Err(ApiError::NotAcceptable {
                message,
                unsupported,
            }) => (message, unsupported),
            other => panic!("expected a 406, got {other:?}"),
        }
    }

    #[test]
    fn versions_display_as_major_dot_minor() {
        assert_eq!(ApiVersion::V1_10.to_string(), "1.10");
        assert_eq!(MIN.to_string(), "1.1");
    }

    #[test]
    fn versions_order_numerically_not_textually() {
        assert!(ApiVersion::V1_10 > ApiVersion::V1_2);
        assert!(ApiVersion::new(1, 9) < ApiVersion::V1_10);
        assert!(ApiVersion::new(2, 0) > ApiVersion::V1_10);
    }

    #[test]
    fn no_header_means_version_1_1() {
        assert_eq!(
            negotiate(None, None).expect("ok"),
            Negotiated {
                version: ApiVersion::V1_1,
                legacy_header: false
            }
        );
    }

    #[test]
    fn latest_means_the_maximum_version() {
        assert_eq!(version_of(Some("container-infra latest"), None), MAX);
        assert_eq!(version_of(Some("container-infra LATEST"), None), MAX);
    }

    #[test]
    fn an_explicit_version_in_range_is_used() {
        assert_eq!(
            version_of(Some("container-infra 1.2"), None),
            ApiVersion::V1_2
        );
        assert_eq!(
            version_of(Some("container-infra 1.10"), None),
            ApiVersion::V1_10
        );
        assert_eq!(
            version_of(Some("  container-infra   1.5  "), None),
            ApiVersion::new(1, 5)
        );
    }

    #[test]
    fn every_service_token_is_accepted_in_any_case() {
        for token in [
            "container-infra",
            "Container-Infra",
            "container-infrastructure",
            "CONTAINER-INFRASTRUCTURE-MANAGEMENT",
        ] {
            assert_eq!(
                version_of(Some(&format!("{token} 1.3")), None),
                ApiVersion::new(1, 3)
            );
        }
    }

    #[test]
    fn our_entry_is_picked_from_a_comma_separated_list() {
        let header = "compute 2.60, container-infra 1.4,identity 3.0";
        assert_eq!(version_of(Some(header), None), ApiVersion::new(1, 4));
    }

    #[test]
    fn a_header_without_our_service_is_refused() {
        assert_eq!(
            refusal(Some("compute 2.1"), None),
            (
                "Invalid service type for OpenStack-API-Version header".to_owned(),
                false
            )
        );
        assert_eq!(refusal(Some(""), None).0, INVALID_SERVICE);
        assert_eq!(refusal(Some("1.2"), None).0, INVALID_SERVICE);
    }

    #[test]
    fn an_unparsable_version_is_refused() {
        for header in [
            "container-infra",
            "container-infra 1",
            "container-infra 1.x",
            "container-infra v1.2",
            "container-infra 1.2.3",
            "container-infra 1.-2",
            "container-infra 1.2 extra",
            "container-infra 99999.1",
        ] {
            assert_eq!(
                refusal(Some(header), None),
                (
                    "Invalid value for OpenStack-API-Version header".to_owned(),
                    false
                ),
                "{header}"
            );
        }
    }

    #[test]
    fn a_version_above_the_range_is_unsupported() {
        let (message, unsupported) = refusal(Some("container-infra 1.11"), None);
        assert!(unsupported);
        assert_eq!(
            message,
            "Version 1.11 was requested but the minor version is not supported by this service. \
             The supported version range is: [1.1, 1.10]."
        );
    }

    #[test]
    fn a_version_below_the_range_or_of_another_major_is_unsupported() {
        assert!(refusal(Some("container-infra 1.0"), None).1);
        let (message, unsupported) = refusal(Some("container-infra 2.0"), None);
        assert!(unsupported);
        assert!(message.contains("major version"), "{message}");
        assert!(refusal(Some("container-infra 0.9"), None).1);
    }

    #[test]
    fn the_legacy_header_counts_only_when_the_modern_one_is_absent() {
        assert_eq!(
            negotiate(None, Some("1.2")).expect("ok"),
            Negotiated {
                version: ApiVersion::V1_2,
                legacy_header: true
            }
        );
        assert_eq!(negotiate(None, Some("latest")).expect("ok").version, MAX);
        assert_eq!(
            negotiate(Some("container-infra 1.3"), Some("1.2")).expect("ok"),
            Negotiated {
                version: ApiVersion::new(1, 3),
                legacy_header: false
            }
        );
    }

    #[test]
    fn a_bad_legacy_header_is_refused_with_its_own_name() {
        assert_eq!(
            refusal(None, Some("container-infra 1.2")),
            (
                "Invalid value for X-OpenStack-Magnum-API-Version header".to_owned(),
                false
            )
        );
        assert!(refusal(None, Some("1.99")).1);
    }

    #[tokio::test]
    async fn the_extractor_negotiates_from_headers_without_the_middleware() {
        let req = http::Request::builder()
            .header("OpenStack-API-Version", "container-infra 1.2")
            .body(())
            .expect("request");
        let (mut parts, ()) = req.into_parts();
        let version = ApiVersion::from_request_parts(&mut parts, &())
            .await
            .expect("version");
        assert_eq!(version, ApiVersion::V1_2);
    }

    #[tokio::test]
    async fn the_extractor_prefers_what_the_middleware_stored() {
        let req = http::Request::builder()
            .header("OpenStack-API-Version", "container-infra 9.9")
            .extension(Negotiated {
                version: ApiVersion::new(1, 7),
                legacy_header: false,
            })
            .body(())
            .expect("request");
        let (mut parts, ()) = req.into_parts();
        let version = ApiVersion::from_request_parts(&mut parts, &())
            .await
            .expect("version");
        assert_eq!(version, ApiVersion::new(1, 7));
    }

    #[tokio::test]
    async fn the_extractor_rejects_an_out_of_range_version_with_a_406() {
        let req = http::Request::builder()
            .header("OpenStack-API-Version", "container-infra 1.11")
            .body(())
            .expect("request");
        let (mut parts, ()) = req.into_parts();
        let error = ApiVersion::from_request_parts(&mut parts, &())
            .await
            .expect_err("406");
        assert_eq!(error.status(), StatusCode::NOT_ACCEPTABLE);
    }

    fn app() -> Router {
        async fn echo(version: ApiVersion) -> String {
            version.to_string()
        }
        Router::new()
            .route("/v1/echo", get(echo))
            .layer(axum::middleware::from_fn(negotiate_layer))
    }

    async fn call(headers: &[(&str, &str)]) -> Response {
        let mut builder = http::Request::builder().uri("/v1/echo");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        app()
            .oneshot(builder.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    }

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn the_middleware_serves_the_negotiated_version_and_stamps_the_headers() {
        let response = call(&[("OpenStack-API-Version", "container-infra latest")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "openstack-api-minimum-version"),
            Some("container-infra 1.1")
        );
        assert_eq!(
            header(&response, "openstack-api-maximum-version"),
            Some("container-infra 1.10")
        );
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some("container-infra 1.10")
        );
        assert_eq!(header(&response, "vary"), Some("OpenStack-API-Version"));
        assert_eq!(header(&response, "x-openstack-magnum-api-version"), None);
        assert_eq!(text(response).await, "1.10");
    }

    #[tokio::test]
    async fn the_middleware_answers_1_1_to_a_request_without_headers() {
        let response = call(&[]).await;
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some("container-infra 1.1")
        );
        assert_eq!(text(response).await, "1.1");
    }

    #[tokio::test]
    async fn the_middleware_echoes_the_legacy_headers_when_the_legacy_header_was_used() {
        let response = call(&[("X-OpenStack-Magnum-API-Version", "1.2")]).await;
        assert_eq!(
            header(&response, "x-openstack-magnum-api-minimum-version"),
            Some("1.1")
        );
        assert_eq!(
            header(&response, "x-openstack-magnum-api-maximum-version"),
            Some("1.10")
        );
        assert_eq!(
            header(&response, "x-openstack-magnum-api-version"),
            Some("1.2")
        );
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some("container-infra 1.2")
        );
        assert_eq!(text(response).await, "1.2");
    }

    #[tokio::test]
    async fn a_refused_version_is_a_406_that_still_carries_the_range_headers() {
        let response = call(&[("OpenStack-API-Version", "container-infra 1.11")]).await;
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            header(&response, "openstack-api-minimum-version"),
            Some("container-infra 1.1")
        );
        assert_eq!(
            header(&response, "openstack-api-maximum-version"),
            Some("container-infra 1.10")
        );
        assert_eq!(
            header(&response, "openstack-api-version"),
            Some("container-infra 1.10")
        );
        assert_eq!(header(&response, "vary"), Some("OpenStack-API-Version"));
    }

    #[tokio::test]
    async fn a_refused_legacy_version_carries_the_legacy_range_headers() {
        let response = call(&[("X-OpenStack-Magnum-API-Version", "7")]).await;
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
        assert_eq!(
            header(&response, "x-openstack-magnum-api-minimum-version"),
            Some("1.1")
        );
        assert_eq!(
            header(&response, "x-openstack-magnum-api-maximum-version"),
            Some("1.10")
        );
    }

    #[test]
    fn vary_is_appended_to_without_duplicating_the_version_header() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        add_version_headers(&mut headers, MIN, false);
        add_version_headers(&mut headers, MIN, false);
        let vary: Vec<_> = headers.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "OpenStack-API-Version"]);
    }
}
