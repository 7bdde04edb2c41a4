//! oslo.messaging's message envelope and inner messages (spec/rpc.md §2, §3).

use crate::context::RequestContext;
use crate::failure::RemoteFailure;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Envelope version we write; receivers accept any `2.x`.
pub const ENVELOPE_VERSION: &str = "2.0";

/// Why a body was refused without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not UTF-8 JSON, or the inner message is not a JSON object.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An envelope of a major version other than 2.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(String),
}

/// Wraps an inner message: `{"oslo.version": "2.0", "oslo.message": "<inner JSON>"}`.
pub fn wrap(inner: &Map<String, Value>) -> Vec<u8> {
    let text = serde_json::to_string(inner).unwrap_or_default();
    serde_json::to_vec(&json!({"oslo.version": ENVELOPE_VERSION, "oslo.message": text}))
        .unwrap_or_default()
}

/// The outer object, keys in the order [`wrap`] writes them (sorted).
#[derive(Serialize, Deserialize)]
struct Outer<'a> {
    #[serde(rename = "oslo.message", borrow)]
    message: Cow<'a, str>,
    #[serde(rename = "oslo.version", borrow)]
    version: Cow<'a, str>,
}

/// [`wrap`] of inner JSON text: the same bytes, without a `Map`.
pub fn wrap_text(inner: &str) -> Vec<u8> {
    serde_json::to_vec(&Outer {
        message: Cow::Borrowed(inner),
        version: Cow::Borrowed(ENVELOPE_VERSION),
    })
    .unwrap_or_default()
}

/// Unwraps a body into its inner message. An object lacking both envelope keys is taken as an
/// un-enveloped inner message, as oslo does.
pub fn unwrap(body: &[u8]) -> Result<Map<String, Value>, EnvelopeError> {
    let outer: Value =
        serde_json::from_slice(body).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let Value::Object(mut outer) = outer else {
        return Err(EnvelopeError::Malformed("not a JSON object".into()));
    };
    let (Some(version), true) = (
        outer.get("oslo.version"),
        outer.contains_key("oslo.message"),
    ) else {
        if outer.contains_key("oslo.version") || outer.contains_key("oslo.message") {
            return Err(EnvelopeError::Malformed("incomplete envelope".into()));
        }
        return Ok(outer);
    };
    let version = version.as_str().unwrap_or_default().to_owned();
    if version.split('.').next() != Some("2") {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let text = match outer.remove("oslo.message") {
        Some(Value::String(text)) => text,
        _ => {
            return Err(EnvelopeError::Malformed(
                "oslo.message is not a string".into(),
            ));
        }
    };
    match serde_json::from_str(&text) {
        Ok(Value::Object(inner)) => Ok(inner),
        Ok(_) => Err(EnvelopeError::Malformed(
            "inner message is not an object".into(),
        )),
        Err(e) => Err(EnvelopeError::Malformed(e.to_string())),
    }
}

/// A fresh uuid4 in hex, as oslo writes `_msg_id` and `_unique_id`.
pub fn fresh_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a request asks for, read from its inner message.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Method name.
    pub method: String,
    /// Keyword arguments.
    pub args: Map<String, Value>,
    /// RPC API version as sent; `None` reads as `1.0`.
    pub version: Option<String>,
    /// oslo target namespace; we serve none.
    pub namespace: Option<Value>,
    /// Reply correlation id, for calls.
    pub msg_id: Option<String>,
    /// Reply queue, for calls.
    pub reply_q: Option<String>,
    /// Call-monitor interval asked for, in seconds.
    pub timeout: Option<u64>,
    /// Per-publish id, for duplicate detection.
    pub unique_id: Option<String>,
    /// Who asks.
    pub context: RequestContext,
}

impl Request {
    /// Reads a request from an inner message. Unknown keys are ignored.
    pub fn parse(inner: &Map<String, Value>) -> Result<Self, EnvelopeError> {
        Self::parse_owned(inner.clone())
    }

    /// [`Request::parse`] taking the inner message, so its `args` are moved, not copied.
    pub fn parse_owned(mut inner: Map<String, Value>) -> Result<Self, EnvelopeError> {
        let method = inner
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| EnvelopeError::Malformed("no method".into()))?
            .to_owned();
        let args = match inner.remove("args") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(args)) => args,
            Some(_) => return Err(EnvelopeError::Malformed("args is not an object".into())),
        };
        let text = |key: &str| inner.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Request {
            method,
            args,
            version: text("version"),
            namespace: inner.get("namespace").filter(|v| !v.is_null()).cloned(),
            msg_id: text("_msg_id"),
            reply_q: text("_reply_q"),
            timeout: inner
                .get("_timeout")
                .and_then(Value::as_u64)
                .filter(|t| *t > 0),
            unique_id: text("_unique_id"),
            context: RequestContext::read_from(&inner),
        })
    }

    /// Whether the sender waits for a reply (`_msg_id` without `_reply_q` is a cast).
    pub fn is_call(&self) -> bool {
        self.msg_id.is_some() && self.reply_q.is_some()
    }
}

/// Builds a request's inner message. `call` carries `(msg_id, reply_q)`.
pub fn request(
    ctx: &RequestContext,
    method: &str,
    version: &str,
    args: Value,
    call: Option<(&str, &str)>,
) -> Map<String, Value> {
    let mut inner = Map::new();
    inner.insert("method".into(), json!(method));
    inner.insert("args".into(), args);
    inner.insert("version".into(), json!(version));
    if let Some((msg_id, reply_q)) = call {
        inner.insert("_msg_id".into(), json!(msg_id));
        inner.insert("_reply_q".into(), json!(reply_q));
        inner.insert("_timeout".into(), Value::Null);
    }
    inner.insert("_unique_id".into(), json!(fresh_id()));
    ctx.write_into(&mut inner);
    inner
}

/// What a call returns: a JSON tree, or JSON text already written from typed objects.
#[derive(Debug, Clone)]
pub enum Payload {
    /// A tree.
    Value(Value),
    /// JSON text.
    Json(Box<RawValue>),
}

impl Payload {
    /// The payload as a tree (parses JSON text).
    pub fn into_value(self) -> Value {
        match self {
            Payload::Value(value) => value,
            Payload::Json(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::Value(value)
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Value(value) => value.serialize(s),
            Payload::Json(raw) => raw.serialize(s),
        }
    }
}

/// A final reply's inner message, keys in the order [`reply`] gives them (sorted).
#[derive(Serialize)]
struct ReplyOut<'a> {
    #[serde(rename = "_msg_id")]
    msg_id: &'a str,
    #[serde(rename = "_unique_id")]
    unique_id: &'a str,
    ending: bool,
    failure: Option<&'a str>,
    result: Option<&'a Payload>,
}

/// The body of a final reply, envelope included: the bytes of [`wrap`] of [`reply`], written
/// without building either `Map` (the result is often a list of objects).
pub fn reply_body(msg_id: &str, outcome: &Result<Payload, RemoteFailure>) -> Vec<u8> {
    let failure = match outcome {
        Ok(_) => None,
        Err(failure) => Some(serde_json::to_string(failure).unwrap_or_default()),
    };
    let inner = ReplyOut {
        msg_id,
        unique_id: &fresh_id(),
        ending: true,
        failure: failure.as_deref(),
        result: outcome.as_ref().ok(),
    };
    // The inner message is escaped into the envelope as it is written: no intermediate copy.
    let size = match outcome {
        Ok(Payload::Json(raw)) => raw.get().len() / 3 * 4,
        _ => 0,
    };
    let mut out = Vec::with_capacity(256 + size);
    out.extend_from_slice(br#"{"oslo.message":""#);
    if serde_json::to_writer(JsonStringWriter(&mut out), &inner).is_err() {
        return wrap_text(&serde_json::to_string(&inner).unwrap_or_default());
    }
    out.extend_from_slice(br#"","oslo.version":""#);
    out.extend_from_slice(ENVELOPE_VERSION.as_bytes());
    out.extend_from_slice(br#""}"#);
    out
}

/// How each byte is written inside a JSON string, as serde_json writes it: 0 as it is, `u` as
/// `\u00XX`, otherwise `\` and this letter.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes text as the contents of a JSON string, escaped exactly as serde_json escapes strings.
struct JsonStringWriter<'a>(&'a mut Vec<u8>);

impl std::io::Write for JsonStringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let out = &mut *self.0;
        let mut start = 0;
        for (i, &byte) in buf.iter().enumerate() {
            let escape = ESCAPE[usize::from(byte)];
            if escape == 0 {
                continue;
            }
            out.extend_from_slice(&buf[start..i]);
            start = i + 1;
            if escape == b'u' {
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
                out.extend_from_slice(br"\u00");
                out.extend_from_slice(&hex);
            } else {
                out.extend_from_slice(&[b'\\', escape]);
            }
        }
        out.extend_from_slice(&buf[start..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Builds a final reply: exactly one of a result and a failure.
pub fn reply(msg_id: &str, outcome: &Result<Value, RemoteFailure>) -> Map<String, Value> {
    reply_owned(msg_id, outcome.clone())
}

/// [`reply`] consuming the outcome, so a large result (a list) is moved, not copied.
pub fn reply_owned(msg_id: &str, outcome: Result<Value, RemoteFailure>) -> Map<String, Value> {
    let (result, failure) = match outcome {
        Ok(result) => (result, Value::Null),
        Err(failure) => (
            Value::Null,
            json!(serde_json::to_string(&failure).unwrap_or_default()),
        ),
    };
    let mut inner = Map::new();
    inner.insert("result".into(), result);
    inner.insert("failure".into(), failure);
    inner.insert("ending".into(), json!(true));
    inner.insert("_msg_id".into(), json!(msg_id));
    inner.insert("_unique_id".into(), json!(fresh_id()));
    inner
}

/// Builds a call-monitor heartbeat: `{"result": null, "failure": null, "ending": false}`.
pub fn heartbeat(msg_id: &str) -> Map<String, Value> {
    let mut inner = Map::new();
    inner.insert("result".into(), Value::Null);
    inner.insert("failure".into(), Value::Null);
    inner.insert("ending".into(), json!(false));
    inner.insert("_msg_id".into(), json!(msg_id));
    inner.insert("_unique_id".into(), json!(fresh_id()));
    inner
}

/// A reply's inner message as read by the typed path, borrowing from its text.
#[derive(Deserialize)]
struct ReplyIn<'a> {
    #[serde(rename = "_msg_id")]
    msg_id: String,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    failure: Option<&'a RawValue>,
    #[serde(default)]
    ending: bool,
    #[serde(rename = "_unique_id", default)]
    unique_id: Option<String>,
}

/// One reply message as a caller reads it, the result kept as JSON text.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// Correlates with the call.
    pub msg_id: String,
    /// Result as JSON text; `None` when null or absent.
    pub result: Option<Box<RawValue>>,
    /// Failure, if any (`Err` holds undecodable failure text).
    pub failure: Option<Result<RemoteFailure, String>>,
    /// Final reply (absent in Liberty's first message of a pair).
    pub ending: bool,
    /// Per-publish id.
    pub unique_id: Option<String>,
}

impl RawReply {
    /// Reads a reply body (envelope included). Well-formed replies are read straight from the
    /// text; anything else goes through [`unwrap`] and [`Reply::parse`], so outcomes are theirs.
    pub fn read(body: &[u8]) -> Result<Self, EnvelopeError> {
        if let Some(reply) = Self::read_direct(body) {
            return Ok(reply);
        }
        let reply = Reply::parse(&unwrap(body)?)?;
        Ok(RawReply {
            msg_id: reply.msg_id,
            result: match reply.result {
                Value::Null => None,
                value => serde_json::value::to_raw_value(&value).ok(),
            },
            failure: reply.failure,
            ending: reply.ending,
            unique_id: reply.unique_id,
        })
    }

    fn read_direct(body: &[u8]) -> Option<Self> {
        let outer: Outer<'_> = serde_json::from_slice(body).ok()?;
        if outer.version.split('.').next() != Some("2") {
            return None;
        }
        let inner: ReplyIn<'_> = serde_json::from_str(&outer.message).ok()?;
        let failure = match inner.failure {
            None => None,
            Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
                Value::Null => None,
                Value::String(text) => {
                    Some(serde_json::from_str::<RemoteFailure>(&text).map_err(|_| text))
                }
                other => Some(serde_json::from_value(other.clone()).map_err(|_| other.to_string())),
            },
        };
        Some(RawReply {
            msg_id: inner.msg_id,
            result: inner.result.map(ToOwned::to_owned),
            failure,
            ending: inner.ending,
            unique_id: inner.unique_id,
        })
    }

    /// A heartbeat: nothing but `ending: false`.
    pub fn is_heartbeat(&self) -> bool {
        !self.ending && self.result.is_none() && self.failure.is_none()
    }
}

/// One reply message, read by a caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Correlates with the call.
    pub msg_id: String,
    /// Result value, null on failure.
    pub result: Value,
    /// Failure, if any (`Err` holds undecodable failure text).
    pub failure: Option<Result<RemoteFailure, String>>,
    /// Final reply (absent in Liberty's first message of a pair).
    pub ending: bool,
    /// Per-publish id.
    pub unique_id: Option<String>,
}

impl Reply {
    /// Reads a reply from an inner message.
    pub fn parse(inner: &Map<String, Value>) -> Result<Self, EnvelopeError> {
        let msg_id = inner
            .get("_msg_id")
            .and_then(Value::as_str)
            .ok_or_else(|| EnvelopeError::Malformed("reply without _msg_id".into()))?
            .to_owned();
        let failure = match inner.get("failure") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(serde_json::from_str::<RemoteFailure>(text).map_err(|_| text.clone()))
            }
            Some(other) => {
                Some(serde_json::from_value(other.clone()).map_err(|_| other.to_string()))
            }
        };
        Ok(Reply {
            msg_id,
            result: inner.get("result").cloned().unwrap_or(Value::Null),
            failure,
            ending: inner
                .get("ending")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            unique_id: inner
                .get("_unique_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// A heartbeat: nothing but `ending: false`.
    pub fn is_heartbeat(&self) -> bool {
        !self.ending && self.result.is_null() && self.failure.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_other_majors_are_refused() {
        let mut inner = Map::new();
        inner.insert("method".into(), json!("ping_conductor"));
        assert_eq!(unwrap(&wrap(&inner)).unwrap(), inner);
        let v3 = br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#;
        assert!(matches!(
            unwrap(v3),
            Err(EnvelopeError::UnsupportedVersion(_))
        ));
        assert!(matches!(unwrap(b"{nope"), Err(EnvelopeError::Malformed(_))));
        let bare = br#"{"method": "ping_conductor", "args": {}}"#;
        assert_eq!(
            Request::parse(&unwrap(bare).unwrap()).unwrap().method,
            "ping_conductor"
        );
    }

    #[test]
    fn python_escaped_non_ascii_is_read() {
        let body = br#"{"oslo.version": "2.0", "oslo.message": "{\"method\": \"x\", \"args\": {\"name\": \"caf\\u00e9\"}}"}"#;
        let req = Request::parse(&unwrap(body).unwrap()).unwrap();
        assert_eq!(req.args["name"], "café");
    }

    #[test]
    fn failures_travel_as_json_text() {
        let out = reply("m", &Err(RemoteFailure::not_found("Bay", "x")));
        assert!(out["failure"].is_string());
        let back = Reply::parse(&out).unwrap();
        let failure = back.failure.unwrap().unwrap();
        assert_eq!(
            (failure.class.as_str(), failure.code()),
            ("BayNotFound", Some(404))
        );
    }
}

#[cfg(test)]
mod typed_tests {
    use super::*;

    #[test]
    fn reply_bodies_are_the_bytes_of_the_map_path() {
        let outcomes = [
            Ok(Payload::Value(json!({"b": [1, "x\"\u{e9}"], "a": null}))),
            Ok(Payload::Json(
                serde_json::value::to_raw_value(&json!({"b": [1, "x\"\u{e9}"], "a": null}))
                    .unwrap(),
            )),
            Ok(Payload::Value(Value::Null)),
            Err(RemoteFailure::not_found("Bay", "x")),
        ];
        for outcome in outcomes {
            // Same bytes once the random `_unique_id` is taken over (the key order is sorted).
            let direct = reply_body("m1", &outcome);
            let old_inner = reply_owned("m1", outcome.clone().map(Payload::into_value));
            let id = unwrap(&direct).unwrap()["_unique_id"].clone();
            let mut expected = old_inner;
            expected.insert("_unique_id".into(), id);
            assert_eq!(direct, wrap(&expected));
        }
    }

    #[test]
    fn the_string_writer_escapes_as_serde_json_does() {
        let text: String = (0u8..0x80)
            .map(char::from)
            .chain("\u{e9}\u{2028}\u{1f600}".chars())
            .collect();
        let mut out = Vec::new();
        std::io::Write::write_all(&mut JsonStringWriter(&mut out), text.as_bytes()).unwrap();
        let expected = serde_json::to_string(&text).unwrap();
        assert_eq!(format!("\"{}\"", String::from_utf8(out).unwrap()), expected);
    }

    #[test]
    fn replies_read_from_text_match_the_map_path() {
        let bodies: Vec<Vec<u8>> = vec![
            wrap(&reply("m", &Ok(json!([{"a": 1}, "\u{e9}"])))),
            wrap(&reply("m", &Ok(Value::Null))),
            wrap(&reply("m", &Err(RemoteFailure::not_found("Bay", "x")))),
            wrap(&heartbeat("m")),
            // Liberty's first message of a pair, a failure as an object, oddly typed keys.
            br#"{"oslo.version": "2.0", "oslo.message": "{\"_msg_id\": \"m\", \"result\": 3}"}"#
                .to_vec(),
            br#"{"oslo.version": "2.0", "oslo.message": "{\"_msg_id\": \"m\", \"failure\": {\"class\": \"X\"}, \"ending\": true}"}"#
                .to_vec(),
            br#"{"oslo.version": "2.0", "oslo.message": "{\"_msg_id\": \"m\", \"ending\": 1, \"_unique_id\": 5, \"result\": {}}"}"#
                .to_vec(),
            br#"{"_msg_id": "m", "result": [1], "ending": true}"#.to_vec(),
        ];
        for body in bodies {
            let raw = RawReply::read(&body).unwrap();
            let old = Reply::parse(&unwrap(&body).unwrap()).unwrap();
            assert_eq!(raw.msg_id, old.msg_id);
            let result = raw
                .result
                .as_ref()
                .map_or(Value::Null, |r| serde_json::from_str(r.get()).unwrap());
            assert_eq!(result, old.result);
            assert_eq!(raw.failure, old.failure);
            assert_eq!(raw.ending, old.ending);
            assert_eq!(raw.unique_id, old.unique_id);
            assert_eq!(raw.is_heartbeat(), old.is_heartbeat());
        }
        for bad in [
            &br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#[..],
            b"{nope",
            br#"{"oslo.version": "2.0", "oslo.message": "{\"result\": 1}"}"#,
        ] {
            assert_eq!(
                RawReply::read(bad).unwrap_err(),
                unwrap(bad)
                    .and_then(|m| Reply::parse(&m))
                    .map(|_| ())
                    .unwrap_err()
            );
        }
    }
}
