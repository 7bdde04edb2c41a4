//! The one renderer of OpenStack error bodies (spec/rest-api.md §5.1): the 2015
//! `error_message` string followed by the `errors` list.

use axum::body::{Body, HttpBody};
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::microversion;

/// The `Content-Type` of every error body.
const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// What a failed handler leaves in its response's extensions: the message to render once the
/// request id is known (see [`finish`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ErrorMarker {
    /// The whole message (`faultstring`, `detail`).
    pub(crate) message: String,
    /// Whether this is the 406 for a microversion outside the served range.
    pub(crate) unsupported_version: bool,
}

/// The §5.1 body of an error: `error_message` (a string of 2015 JSON), then `errors`.
///
/// `unsupported_version` gives `errors[0]` the microversion code, title and range (§1.5).
pub(crate) fn body(
    status: StatusCode,
    message: &str,
    request_id: &str,
    unsupported_version: bool,
) -> Value {
    let server = status.is_server_error();
    let faultcode = if server { "Server" } else { "Client" };
    // Python's json.dumps spacing, as Magnum's 2015 body had; Value's Display escapes the text.
    let error_message = format!(
        "{{\"faultcode\": \"{faultcode}\", \"faultstring\": {}, \"debuginfo\": null}}",
        Value::from(message)
    );
    let entry = if unsupported_version {
        json!({
            "request_id": request_id,
            "code": "magnum.microversion-unsupported",
            "status": status.as_u16(),
            "title": "Requested microversion is unsupported",
            "detail": message,
            "links": [],
            "min_version": microversion::MIN.to_string(),
            "max_version": microversion::MAX.to_string(),
        })
    } else {
        json!({
            "request_id": request_id,
            "code": if server { "server" } else { "client" },
            "status": status.as_u16(),
            "title": title(message),
            "detail": message,
            "links": [],
        })
    };
    // Written in this order so the keys keep it even if serde_json's `preserve_order` is ever
    // enabled; without it the map sorts them, which gives the same order.
    json!({ "error_message": error_message, "errors": [entry] })
}

/// The message up to its first `.`, or all of it.
fn title(message: &str) -> &str {
    message.split_once('.').map_or(message, |(head, _)| head)
}

/// A complete error response: `status`, the §5.1 body and its `Content-Type`.
#[cfg(test)]
pub(crate) fn response(
    status: StatusCode,
    message: &str,
    request_id: &str,
    unsupported_version: bool,
) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    write_body(&mut response, message, request_id, unsupported_version);
    response
}

/// An error response whose body is not written yet: `status`, an empty body and an
/// [`ErrorMarker`] for [`finish`]. This is what `ApiError`'s `IntoResponse` returns.
pub(crate) fn render(status: StatusCode, message: &str, error: &ApiError) -> Response {
    let unsupported_version = matches!(
        error,
        ApiError::NotAcceptable {
            unsupported: true,
            ..
        }
    );
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response.extensions_mut().insert(ErrorMarker {
        message: message.to_owned(),
        unsupported_version,
    });
    response
}

/// Writes the error body of a finished response now that `request_id` is known.
///
/// A response carrying an [`ErrorMarker`] gets its body; axum's own empty 404 (no route) and 405
/// (wrong method, `Allow` kept) get the §5.1 body too; anything else is returned unchanged.
pub(crate) fn finish(mut response: Response, request_id: &str) -> Response {
    if let Some(marker) = response.extensions_mut().remove::<ErrorMarker>() {
        write_body(
            &mut response,
            &marker.message,
            request_id,
            marker.unsupported_version,
        );
        return response;
    }
    let message = match response.status() {
        StatusCode::NOT_FOUND => "The resource could not be found.",
        StatusCode::METHOD_NOT_ALLOWED => "The method is not allowed for the requested URL.",
        _ => return response,
    };
    if response.body().size_hint().exact() == Some(0) {
        write_body(&mut response, message, request_id, false);
    }
    response
}

/// Replaces the body of `response` with the §5.1 body, keeping its status and other headers.
fn write_body(response: &mut Response, message: &str, request_id: &str, unsupported: bool) {
    let text = body(response.status(), message, request_id, unsupported).to_string();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    // A stale length would truncate or stall the new body; hyper computes the right one.
    headers.remove(CONTENT_LENGTH);
    *response.body_mut() = Body::from(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::ALLOW;

    const RID: &str = "req-2f0c6a9e-7d41-4c8b-9a53-0e6b1f4d2c77";

    async fn text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn a_client_error_body_matches_the_spec_example_exactly() {
        let body = body(
            StatusCode::NOT_FOUND,
            "Bay k8s-bay could not be found.",
            RID,
            false,
        );
        let expected = concat!(
            r#"{"error_message":"{\"faultcode\": \"Client\", \"faultstring\": "#,
            r#"\"Bay k8s-bay could not be found.\", \"debuginfo\": null}","#,
            r#""errors":[{"code":"client","detail":"Bay k8s-bay could not be found.","links":[],"#,
            r#""request_id":"req-2f0c6a9e-7d41-4c8b-9a53-0e6b1f4d2c77","status":404,"#,
            r#""title":"Bay k8s-bay could not be found"}]}"#
        );
        assert_eq!(body.to_string(), expected);
    }

    #[test]
    fn error_message_is_a_string_holding_the_2015_json() {
        let body = body(
            StatusCode::BAD_REQUEST,
            "Bad \"quote\"\nand line.",
            RID,
            false,
        );
        let inner: Value = serde_json::from_str(body["error_message"].as_str().expect("string"))
            .expect("json inside");
        assert_eq!(
            inner,
            json!({"faultcode": "Client", "faultstring": "Bad \"quote\"\nand line.", "debuginfo": null})
        );
    }

    #[test]
    fn a_server_error_says_server() {
        let body = body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unknown exception occurred.",
            RID,
            false,
        );
        assert!(
            body["error_message"]
                .as_str()
                .expect("string")
                .contains(r#""faultcode": "Server""#)
        );
        assert_eq!(body["errors"][0]["code"], "server");
        assert_eq!(body["errors"][0]["status"], 500);
        assert_eq!(body["errors"][0]["title"], "An unknown exception occurred");
    }

    #[test]
    fn the_title_is_the_whole_message_when_it_has_no_dot() {
        let body = body(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            RID,
            false,
        );
        assert_eq!(body["errors"][0]["title"], "Authentication required");
        assert_eq!(body["errors"][0]["detail"], "Authentication required");
    }

    #[test]
    fn the_title_stops_at_the_first_dot() {
        let message = "Invalid input for field/attribute limit. Value: -1. Must be positive.";
        let body = body(StatusCode::BAD_REQUEST, message, RID, false);
        assert_eq!(
            body["errors"][0]["title"],
            "Invalid input for field/attribute limit"
        );
        assert_eq!(body["errors"][0]["detail"], message);
    }

    #[test]
    fn an_unsupported_microversion_carries_the_code_title_and_range() {
        let message = "Version 1.11 was requested but the minor version is not supported.";
        let body = body(StatusCode::NOT_ACCEPTABLE, message, RID, true);
        assert_eq!(
            body["errors"][0],
            json!({
                "request_id": RID,
                "code": "magnum.microversion-unsupported",
                "status": 406,
                "title": "Requested microversion is unsupported",
                "detail": message,
                "links": [],
                "min_version": "1.1",
                "max_version": "1.10",
            })
        );
        assert!(
            body["error_message"]
                .as_str()
                .expect("string")
                .contains("Version 1.11")
        );
    }

    #[test]
    fn error_message_is_the_first_key_of_the_serialised_body() {
        let text = body(StatusCode::CONFLICT, "Taken.", RID, false).to_string();
        assert!(text.starts_with(r#"{"error_message":"#), "{text}");
    }

    #[tokio::test]
    async fn response_sets_status_content_type_and_body() {
        let response = response(StatusCode::CONFLICT, "Name taken.", RID, false);
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/json; charset=UTF-8"
        );
        let body: Value = serde_json::from_str(&text(response).await).expect("json");
        assert_eq!(body["errors"][0]["detail"], "Name taken.");
        assert_eq!(body["errors"][0]["request_id"], RID);
    }

    #[tokio::test]
    async fn finish_renders_a_marked_response_with_the_request_id() {
        let mut marked = Response::new(Body::empty());
        *marked.status_mut() = StatusCode::NOT_ACCEPTABLE;
        marked.extensions_mut().insert(ErrorMarker {
            message: "Version 1.11 was requested.".to_owned(),
            unsupported_version: true,
        });
        let response = finish(marked, RID);
        assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);
        assert!(response.extensions().get::<ErrorMarker>().is_none());
        assert_eq!(response.headers()[CONTENT_TYPE], JSON_UTF8);
        let body: Value = serde_json::from_str(&text(response).await).expect("json");
        assert_eq!(
            body,
            self::body(
                StatusCode::NOT_ACCEPTABLE,
                "Version 1.11 was requested.",
                RID,
                true
            )
        );
    }

    #[tokio::test]
    async fn render_then_finish_gives_the_body_of_an_api_error() {
        let error = ApiError::NotFound("Bay nope could not be found.".to_owned());
        let pending = render(error.status(), &error.to_string(), &error);
        let response = finish(pending, RID);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body: Value = serde_json::from_str(&text(response).await).expect("json");
        assert_eq!(body["errors"][0]["title"], "Bay nope could not be found");
    }

    #[test]
    fn render_marks_only_the_out_of_range_406_as_unsupported() {
        let unsupported = ApiError::NotAcceptable {
            message: "out".to_owned(),
            unsupported: true,
        };
        let invalid = ApiError::NotAcceptable {
            message: "bad".to_owned(),
            unsupported: false,
        };
        let marker = |error: &ApiError| {
            render(error.status(), &error.to_string(), error)
                .extensions()
                .get::<ErrorMarker>()
                .cloned()
                .expect("marker")
        };
        assert!(marker(&unsupported).unsupported_version);
        assert!(!marker(&invalid).unsupported_version);
    }

    #[tokio::test]
    async fn finish_gives_an_empty_router_404_the_not_found_body() {
        let mut empty = Response::new(Body::empty());
        *empty.status_mut() = StatusCode::NOT_FOUND;
        let response = finish(empty, RID);
        assert_eq!(response.headers()[CONTENT_TYPE], JSON_UTF8);
        let body: Value = serde_json::from_str(&text(response).await).expect("json");
        assert_eq!(
            body["errors"][0]["detail"],
            "The resource could not be found."
        );
        assert_eq!(body["errors"][0]["status"], 404);
    }

    #[tokio::test]
    async fn finish_gives_an_empty_405_its_body_and_keeps_allow() {
        let mut empty = Response::new(Body::empty());
        *empty.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        empty
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET,HEAD"));
        let response = finish(empty, RID);
        assert_eq!(response.headers()[ALLOW], "GET,HEAD");
        let body: Value = serde_json::from_str(&text(response).await).expect("json");
        assert_eq!(
            body["errors"][0]["detail"],
            "The method is not allowed for the requested URL."
        );
    }

    #[tokio::test]
    async fn finish_leaves_other_responses_alone() {
        let ok = Response::new(Body::from("hello"));
        assert_eq!(text(finish(ok, RID)).await, "hello");
        let mut not_found = Response::new(Body::from("already rendered"));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        let response = finish(not_found, RID);
        assert!(response.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(text(response).await, "already rendered");
    }

    #[tokio::test]
    async fn finish_renders_axums_own_fallbacks() {
        use axum::Router;
        use axum::routing::get;
        use tower::ServiceExt;

        let app = Router::new().route("/v1/bays", get(|| async { "bays" }));
        for (method, uri, status) in [
            ("GET", "/v1/nothing", StatusCode::NOT_FOUND),
            ("DELETE", "/v1/bays", StatusCode::METHOD_NOT_ALLOWED),
        ] {
            let request = http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("req");
            let raw = app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(raw.status(), status);
            let response = finish(raw, RID);
            assert_eq!(response.headers()[CONTENT_TYPE], JSON_UTF8, "{uri}");
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert!(response.headers().contains_key(ALLOW), "Allow kept");
            }
            let body: Value = serde_json::from_str(&text(response).await).expect("json");
            assert_eq!(body["errors"][0]["status"], status.as_u16());
        }
    }
}
