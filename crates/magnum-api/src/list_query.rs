//! Query strings of collection lists and their `next` links (spec/rest-api.md §2.3).

use magnum_core::ValidationError;
use magnum_core::fields::parse_bool;
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;

/// The order of a list.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum SortDir {
    /// Ascending, the default.
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl SortDir {
    /// The query-string spelling: `asc` or `desc`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }
}

/// The parsed query of a list request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListParams {
    /// Page size, already capped at `max_limit`; `None` (absent or `0`) means `max_limit`.
    pub(crate) limit: Option<u32>,
    /// Uuid of the last item of the previous page.
    pub(crate) marker: Option<Uuid>,
    /// A field named in the caller's `sort_keys`; `None` is creation order.
    pub(crate) sort_key: Option<String>,
    /// The order; ascending unless `sort_dir=desc`.
    pub(crate) sort_dir: SortDir,
    /// `all_tenants` (alias `all_projects`): an admin asks for every project.
    pub(crate) all_tenants: bool,
    /// `project_id`: an admin asks for one project.
    pub(crate) project_id: Option<String>,
    /// The resource-specific filters the caller allowed, in first-seen order (last value wins).
    pub(crate) extra: Vec<(String, String)>,
}

/// Parses the raw (still percent-encoded) query string of a list request.
///
/// `allowed_extra` names the resource's own filters, `sort_keys` the fields it sorts by and
/// `max_limit` is `[api] max_limit`. A repeated parameter keeps its last value. Every refusal is
/// a 400: a bad `limit`, `marker`, `all_tenants`/`all_projects` value is a
/// [`ValidationError::Invalid`]; a bad `sort_key`, `sort_dir` or an unknown parameter is an
/// [`ApiError::BadRequest`].
pub(crate) fn parse_list_query(
    raw: Option<&str>,
    allowed_extra: &[&str],
    sort_keys: &[&str],
    max_limit: u32,
) -> Result<ListParams, ApiError> {
    let mut params = ListParams::default();
    for (name, value) in pairs(raw.unwrap_or_default()) {
        match name.as_str() {
            "limit" => params.limit = parse_limit(&value, max_limit)?,
            "marker" => params.marker = Some(parse_marker(&value)?),
            "sort_key" => {
                if !sort_keys.contains(&value.as_str()) {
                    return Err(ApiError::BadRequest(format!(
                        "{value} is an invalid field for sorting"
                    )));
                }
                params.sort_key = Some(value);
            }
            "sort_dir" => {
                params.sort_dir = match value.to_ascii_lowercase().as_str() {
                    "asc" => SortDir::Asc,
                    "desc" => SortDir::Desc,
                    _ => return Err(ApiError::BadRequest("Invalid sort direction".to_owned())),
                };
            }
            "all_tenants" | "all_projects" => {
                params.all_tenants = parse_bool(&value).ok_or_else(|| {
                    ValidationError::invalid(
                        &name,
                        &Value::String(value.clone()),
                        "Expected a boolean.",
                    )
                })?;
            }
            "project_id" => params.project_id = Some(value),
            other if allowed_extra.contains(&other) => {
                match params.extra.iter_mut().find(|(key, _)| *key == name) {
                    Some(entry) => entry.1 = value,
                    None => params.extra.push((name, value)),
                }
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Unknown argument: \"{name}\""
                )));
            }
        }
    }
    Ok(params)
}

/// `limit`: decimal digits; `0` means the maximum; larger values are capped.
fn parse_limit(value: &str, max_limit: u32) -> Result<Option<u32>, ValidationError> {
    let refuse = |reason: &str| ValidationError::invalid("limit", &Value::from(value), reason);
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse("Expected an integer."));
    }
    if value.starts_with('-') && digits.bytes().any(|b| b != b'0') {
        return Err(refuse("Value must be greater than or equal to 0."));
    }
    // Too many digits for a u64 is simply more than any maximum.
    let requested = digits.parse::<u64>().unwrap_or(u64::MAX);
    Ok(match requested {
        0 => None,
        n => Some(u32::try_from(n).map_or(max_limit, |n| n.min(max_limit))),
    })
}

/// `marker`: a uuid in canonical hyphenated form, any case.
fn parse_marker(value: &str) -> Result<Uuid, ValidationError> {
    let canonical = value.len() == 36
        && value.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    canonical
        .then(|| Uuid::parse_str(value).ok())
        .flatten()
        .ok_or_else(|| ValidationError::invalid("marker", &Value::from(value), "Expected a UUID."))
}

/// The `next` link of a page: `<base><path>?limit=<limit>&marker=<last_uuid>` followed by the
/// request's sort and filter parameters, percent-encoded.
///
/// `path` is the list's path with `/v1`, e.g. `/v1/bays` or `/v1/bays/detail`.
pub(crate) fn next_url(
    base: &str,
    path: &str,
    params: &ListParams,
    limit: u32,
    last_uuid: &str,
) -> String {
    let mut url = format!("{base}{path}?limit={limit}&marker={}", encode(last_uuid));
    let mut add = |name: &str, value: &str| {
        url.push('&');
        url.push_str(&encode(name));
        url.push('=');
        url.push_str(&encode(value));
    };
    if let Some(key) = &params.sort_key {
        add("sort_key", key);
    }
    if params.sort_dir == SortDir::Desc {
        add("sort_dir", SortDir::Desc.as_str());
    }
    if params.all_tenants {
        add("all_tenants", "true");
    }
    if let Some(project) = &params.project_id {
        add("project_id", project);
    }
    for (name, value) in &params.extra {
        add(name, value);
    }
    url
}

/// The `name=value` pairs of a query string, decoded as `application/x-www-form-urlencoded`
/// (`+` is a space; bad `%` escapes stay literal; invalid UTF-8 becomes U+FFFD).
fn pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            (percent_decode(name), percent_decode(value))
        })
}

/// Percent-decodes one component of a query string.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|pair| {
                    let high = char::from(pair[0]).to_digit(16)?;
                    let low = char::from(pair[1]).to_digit(16)?;
                    u8::try_from(high * 16 + low).ok()
                });
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component, keeping only RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SORT_KEYS: &[&str] = &["name", "created_at", "node_count"];
    const EXTRA: &[&str] = &["bay_ident"];

    fn parse(raw: &str) -> Result<ListParams, ApiError> {
        parse_list_query(Some(raw), EXTRA, SORT_KEYS, 1000)
    }

    fn ok(raw: &str) -> ListParams {
        parse(raw).expect("parses")
    }

    fn message(raw: &str) -> String {
        let error = parse(raw).expect_err("refused");
        assert_eq!(error.status(), http::StatusCode::BAD_REQUEST, "{raw}");
        error.to_string()
    }

    #[test]
    fn an_absent_or_empty_query_gives_the_defaults() {
        assert_eq!(
            parse_list_query(None, EXTRA, SORT_KEYS, 1000).expect("ok"),
            ListParams::default()
        );
        assert_eq!(ok(""), ListParams::default());
        assert_eq!(ok("&&"), ListParams::default());
    }

    #[test]
    fn limit_zero_or_absent_means_the_maximum() {
        assert_eq!(ok("limit=0").limit, None);
        assert_eq!(ok("limit=-0").limit, None);
        assert_eq!(ok("").limit, None);
    }

    #[test]
    fn limit_is_capped_at_the_maximum() {
        assert_eq!(ok("limit=2").limit, Some(2));
        assert_eq!(ok("limit=1000").limit, Some(1000));
        assert_eq!(ok("limit=5000").limit, Some(1000));
        assert_eq!(ok("limit=99999999999999999999999").limit, Some(1000));
    }

    #[test]
    fn a_negative_limit_is_refused() {
        assert_eq!(
            message("limit=-1"),
            "Invalid input for field/attribute limit. Value: -1. Value must be greater than or \
             equal to 0."
        );
    }

    #[test]
    fn a_non_integer_limit_is_refused() {
        for raw in ["limit=abc", "limit=1.5", "limit=", "limit=+2", "limit=%202"] {
            assert!(
                message(raw).starts_with("Invalid input for field/attribute limit."),
                "{raw}"
            );
        }
        assert_eq!(
            message("limit=two"),
            "Invalid input for field/attribute limit. Value: two. Expected an integer."
        );
    }

    #[test]
    fn a_canonical_marker_is_parsed_in_any_case() {
        let uuid = "5D1C7B0E-0000-4000-8000-00000000000A";
        assert_eq!(
            ok(&format!("marker={uuid}")).marker,
            Some(Uuid::parse_str(uuid).expect("uuid"))
        );
    }

    #[test]
    fn a_malformed_marker_is_refused() {
        for raw in [
            "marker=nope",
            "marker=5d1c7b0e00004000800000000000000a",
            "marker={5d1c7b0e-0000-4000-8000-00000000000a}",
            "marker=5d1c7b0e-0000-4000-8000-00000000000g",
        ] {
            assert!(
                message(raw).starts_with("Invalid input for field/attribute marker."),
                "{raw}"
            );
        }
        assert_eq!(
            message("marker=x"),
            "Invalid input for field/attribute marker. Value: x. Expected a UUID."
        );
    }

    #[test]
    fn a_declared_sort_key_is_accepted() {
        assert_eq!(ok("sort_key=name").sort_key.as_deref(), Some("name"));
    }

    #[test]
    fn an_undeclared_sort_key_is_refused() {
        assert_eq!(
            message("sort_key=password"),
            "password is an invalid field for sorting"
        );
        assert!(matches!(parse("sort_key=x"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn sort_dir_is_asc_or_desc() {
        assert_eq!(ok("sort_dir=desc").sort_dir, SortDir::Desc);
        assert_eq!(ok("sort_dir=ASC").sort_dir, SortDir::Asc);
        assert_eq!(message("sort_dir=up"), "Invalid sort direction");
    }

    #[test]
    fn all_tenants_and_its_alias_take_booleans() {
        assert!(ok("all_tenants=1").all_tenants);
        assert!(ok("all_projects=True").all_tenants);
        assert!(!ok("all_tenants=false").all_tenants);
        assert!(
            message("all_tenants=maybe")
                .starts_with("Invalid input for field/attribute all_tenants.")
        );
        assert!(
            message("all_projects=2")
                .starts_with("Invalid input for field/attribute all_projects.")
        );
    }

    #[test]
    fn project_id_is_kept_as_text() {
        assert_eq!(
            ok("project_id=abc123").project_id.as_deref(),
            Some("abc123")
        );
    }

    #[test]
    fn declared_extra_filters_are_kept_and_the_last_repeat_wins() {
        assert_eq!(
            ok("bay_ident=b1&bay_ident=b2").extra,
            vec![("bay_ident".to_owned(), "b2".to_owned())]
        );
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name() {
        assert_eq!(
            message("limit=2&colour=red"),
            "Unknown argument: \"colour\""
        );
        assert_eq!(
            parse_list_query(Some("bay_ident=b"), &[], SORT_KEYS, 1000)
                .expect_err("refused")
                .to_string(),
            "Unknown argument: \"bay_ident\""
        );
    }

    #[test]
    fn names_and_values_are_percent_decoded() {
        let params = ok("bay_ident=my%20bay+one&sort%5Fkey=name&project_id=%E2%9C%93%zz");
        assert_eq!(
            params.extra,
            vec![("bay_ident".to_owned(), "my bay one".to_owned())]
        );
        assert_eq!(params.sort_key.as_deref(), Some("name"));
        assert_eq!(params.project_id.as_deref(), Some("\u{2713}%zz"));
    }

    #[test]
    fn a_parameter_without_a_value_is_an_empty_value() {
        assert_eq!(ok("project_id").project_id.as_deref(), Some(""));
    }

    #[test]
    fn next_url_has_limit_and_marker_only_for_a_plain_list() {
        assert_eq!(
            next_url(
                "http://h:9511",
                "/v1/bays",
                &ListParams::default(),
                2,
                "5d1c7b0e-0000-4000-8000-00000000000a"
            ),
            "http://h:9511/v1/bays?limit=2&marker=5d1c7b0e-0000-4000-8000-00000000000a"
        );
    }

    #[test]
    fn next_url_carries_sort_and_filters_percent_encoded() {
        let params = ListParams {
            limit: Some(2),
            marker: None,
            sort_key: Some("name".to_owned()),
            sort_dir: SortDir::Desc,
            all_tenants: true,
            project_id: Some("p 1".to_owned()),
            extra: vec![("bay_ident".to_owned(), "a&b=c/d".to_owned())],
        };
        assert_eq!(
            next_url("http://h", "/v1/bays/detail", &params, 2, "u"),
            "http://h/v1/bays/detail?limit=2&marker=u&sort_key=name&sort_dir=desc&all_tenants=true\
             &project_id=p%201&bay_ident=a%26b%3Dc%2Fd"
        );
    }

    #[test]
    fn next_url_leaves_out_the_default_sort_direction() {
        let params = ListParams {
            sort_dir: SortDir::Asc,
            ..ListParams::default()
        };
        assert!(!next_url("http://h", "/v1/bays", &params, 1, "u").contains("sort_dir"));
    }

    #[test]
    fn a_next_url_parses_back_to_the_same_filters() {
        let params =
            ok("sort_key=node_count&sort_dir=desc&all_projects=yes&project_id=p%2F1&bay_ident=x+y");
        let url = next_url(
            "http://h",
            "/v1/bays",
            &params,
            5,
            "5d1c7b0e-0000-4000-8000-00000000000a",
        );
        let query = url.split_once('?').expect("query").1;
        let again = parse_list_query(Some(query), EXTRA, SORT_KEYS, 1000).expect("parses");
        assert_eq!(again.limit, Some(5));
        assert_eq!(
            again.marker.map(|m| m.to_string()).as_deref(),
            Some("5d1c7b0e-0000-4000-8000-00000000000a")
        );
        assert_eq!(
            ListParams {
                limit: None,
                marker: None,
                ..again
            },
            params
        );
    }
}
