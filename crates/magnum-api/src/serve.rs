//! The HTTP/1.1 server loop, with deadlines for slow clients: a request head must arrive within
//! `[api] client_header_timeout` (idle keep-alive connections are closed after it too), and a
//! body within `[api] client_body_timeout` of its head: after that reading it fails, and
//! [`crate::extract::JsonBody`] answers 408 (see [`BodyDeadline`]).

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future as _;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt as _};

/// When the body of the request being served must have arrived; [`crate::extract::JsonBody`]
/// answers 408 after it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyDeadline(pub(crate) tokio::time::Instant);

/// A request body that fails once its [`BodyDeadline`] passes, so no reader of it (JSON bodies,
/// raw bytes) waits on a slow client for longer.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(Some(Err("the request body did not arrive in time".into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open connections finish.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    app: S,
    header_timeout: u64,
    body_timeout: u64,
    shutdown: CancellationToken,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    // 0 switches a limit off.
    let header_timeout = (header_timeout > 0).then(|| Duration::from_secs(header_timeout));
    let body_timeout = (body_timeout > 0).then(|| Duration::from_secs(body_timeout));
    let connections = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let req = match body_timeout {
                    Some(limit) => {
                        let deadline = tokio::time::Instant::now() + limit;
                        let mut req = req.map(|inner| {
                            Body::new(DeadlineBody {
                                inner,
                                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                            })
                        });
                        req.extensions_mut().insert(BodyDeadline(deadline));
                        req
                    }
                    None => req.map(Body::new),
                };
                app.clone().oneshot(req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            let mut draining = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection closed");
                        }
                        break;
                    }
                    () = shutdown.cancelled(), if !draining => {
                        draining = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
}
