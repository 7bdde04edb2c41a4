//! The load generator: N keep-alive HTTP/1.1 connections (bare hyper, one task each), each
//! sending its next request as soon as the previous answer arrived (closed loop), latencies in
//! an HDR histogram (microseconds).

use anyhow::Context as _;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The noauth identity every request carries.
pub(crate) const PROJECT: &str = "demo";

/// A new latency histogram: 1 µs to 60 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    #[expect(clippy::unwrap_used, reason = "constant, valid bounds")]
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

/// Records `elapsed` in microseconds.
pub(crate) fn record(hist: &mut Histogram<u64>, elapsed: Duration) {
    hist.saturating_record(
        u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1),
    );
}

/// One HTTP/1.1 connection to the API.
#[derive(Debug)]
pub(crate) struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

/// A reply: status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Status.
    pub(crate) status: StatusCode,
    /// Body.
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON (null when it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Fails unless the status is `want`.
    pub(crate) fn expect(self, want: u16) -> anyhow::Result<Answer> {
        if self.status.as_u16() == want {
            Ok(self)
        } else {
            anyhow::bail!(
                "status {} (wanted {want}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        }
    }
}

impl Conn {
    /// Opens a connection.
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(connection);
        Ok(Conn { addr, sender })
    }

    /// Sends one request as the bench tenant and reads the whole answer; reconnects once if
    /// the connection was closed.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> anyhow::Result<Answer> {
        if self.sender.is_closed() {
            *self = Conn::open(self.addr).await?;
        }
        self.sender.ready().await.context("connection ready")?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("x-user-id", "bench")
            .header("x-project-id", PROJECT)
            .header("x-roles", "member");
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default())))?;
        let resp = self.sender.send_request(req).await.context("request")?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// `send` with a JSON body.
    pub(crate) async fn json(
        &mut self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Answer> {
        let bytes = serde_json::to_vec(body)?;
        self.send(method, path, Some(&bytes)).await
    }
}

/// The future of one operation on a connection.
pub(crate) type OpFuture<'c> =
    std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'c>>;

/// What each connection does per operation: called with the connection's index, the
/// operation's number on that connection, and the connection.
pub(crate) type Operation =
    Arc<dyn for<'c> Fn(usize, u64, &'c mut Conn) -> OpFuture<'c> + Send + Sync>;

/// Makes an [`Operation`] of a closure (giving the closure its higher-ranked signature).
pub(crate) fn operation<F>(f: F) -> Operation
where
    F: for<'c> Fn(usize, u64, &'c mut Conn) -> OpFuture<'c> + Send + Sync + 'static,
{
    Arc::new(f)
}

/// The result of one closed-loop run.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Latencies of the measured operations (successful ones).
    pub(crate) hist: Histogram<u64>,
    /// Failed measured operations.
    pub(crate) errors: u64,
    /// The first failure, for the log.
    pub(crate) first_error: Option<String>,
    /// The measured window.
    pub(crate) window: Duration,
}

/// Runs `op` on `connections` connections: `warmup` unmeasured, then `measured`.
pub(crate) async fn closed_loop(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    measured: Duration,
    op: &Operation,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + measured;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let op = Arc::clone(op);
        tasks.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut hist = histogram();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut n = 0u64;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let result = op(worker, n, &mut conn).await;
                n += 1;
                let done = Instant::now();
                if began < measure_from || done > deadline {
                    continue; // only operations wholly inside the window count
                }
                match result {
                    Ok(()) => record(&mut hist, done - began),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        if conn.sender.is_closed() {
                            conn = Conn::open(addr).await?;
                        }
                    }
                }
            }
            anyhow::Ok((hist, errors, first_error))
        });
    }
    let mut out = Outcome {
        hist: histogram(),
        errors: 0,
        first_error: None,
        window: measured,
    };
    while let Some(joined) = tasks.join_next().await {
        let (hist, errors, first_error) = joined??;
        out.hist.add(&hist)?;
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
    }
    Ok(out)
}
