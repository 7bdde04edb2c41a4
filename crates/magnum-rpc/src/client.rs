//! The caller side: magnum-api's one AMQP connection, its reply queue, and calls that fail fast
//! with [`RpcError::Unavailable`] instead of hanging when nobody can answer (spec/rpc.md §8.5).

use crate::context::RequestContext;
use crate::envelope::{self, RawReply};
use crate::failure::{RemoteFailure, RpcError};
use crate::methods::Method;
use crate::options::TransportOptions;
use crate::topology;
use crate::version::Version;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

type Outcome = Result<Box<RawValue>, RemoteFailure>;

/// A handle to the conductors; cheap to clone. Reconnects by itself when the broker returns.
#[derive(Debug, Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: TransportOptions,
    reply_queue: String,
    cap: Version,
    session: watch::Sender<Option<Arc<Session>>>,
    pending: Mutex<HashMap<String, Pending>>,
    presence: tokio::sync::Mutex<Presence>,
}

#[derive(Debug)]
struct Session {
    connection: Connection,
    publisher: Channel,
}

#[derive(Debug, Default)]
struct Presence {
    probe: Option<Channel>,
    checked: Option<(Instant, u32)>,
}

#[derive(Debug)]
struct Pending {
    reply: oneshot::Sender<Outcome>,
    /// Liberty sends the result, then an empty `ending` message: keep the first until then.
    early: Option<Outcome>,
}

/// Properties every publish carries (spec/rpc.md §2).
pub(crate) fn properties(expiration: Option<Duration>) -> BasicProperties {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
        .with_priority(0)
        .with_headers(FieldTable::default())
        .with_timestamp(now);
    match expiration {
        Some(ttl) => props.with_expiration(ttl.as_millis().to_string().as_str().into()),
        None => props,
    }
}

/// Why a publish did not reach a queue.
pub(crate) enum PublishError {
    /// The broker confirmed it but no queue was bound (`mandatory` return).
    Unroutable,
    /// Nack, confirm timeout or channel failure.
    Failed(String),
}

/// Publishes with `mandatory` and waits for the broker's confirm.
pub(crate) async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
    confirm_timeout: Duration,
) -> Result<(), PublishError> {
    let publish = async {
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                props,
            )
            .await?
            .await
    };
    match tokio::time::timeout(confirm_timeout, publish).await {
        Err(_) => Err(PublishError::Failed(
            "the broker did not confirm the message in time".into(),
        )),
        Ok(Err(e)) => Err(PublishError::Failed(format!("publishing failed: {e}"))),
        Ok(Ok(confirm)) if !confirm.is_ack() => Err(PublishError::Failed(
            "the broker refused the message".into(),
        )),
        Ok(Ok(confirm)) => match confirm.take_message() {
            Some(_) => Err(PublishError::Unroutable),
            None => Ok(()),
        },
    }
}

impl RpcClient {
    /// Starts the client: connecting, and reconnecting after a broker outage, happen in the
    /// background until `shutdown`. Calls made while disconnected fail at once as unavailable.
    /// `cap` is the highest RPC API version sent (`[upgrade_levels] conductor`).
    pub fn start(opts: TransportOptions, cap: Version, shutdown: CancellationToken) -> Self {
        let (session, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            reply_queue: format!("reply_{}", envelope::fresh_id()),
            opts,
            cap,
            session,
            pending: Mutex::new(HashMap::new()),
            presence: tokio::sync::Mutex::new(Presence::default()),
        });
        tokio::spawn(supervise(Arc::clone(&inner), shutdown));
        RpcClient { inner }
    }

    /// Waits up to `limit` for a broker connection; false if none came.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let mut rx = self.inner.session.subscribe();
        tokio::time::timeout(limit, rx.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether a broker connection is up right now.
    pub fn is_connected(&self) -> bool {
        self.inner.session.borrow().is_some()
    }

    /// The name of this caller's reply queue.
    pub fn reply_queue(&self) -> &str {
        &self.inner.reply_queue
    }

    /// Calls a method on any conductor and waits for its reply. Counted in
    /// `magnum_rpc_calls_total{method, outcome}` and timed in `magnum_rpc_call_duration_seconds`.
    pub async fn call<M: Method>(
        &self,
        ctx: &RequestContext,
        method: &M,
    ) -> Result<M::Reply, RpcError> {
        let started = std::time::Instant::now();
        let result = self.call_once(ctx, method).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(RpcError::Remote(_)) => "failure",
            Err(RpcError::Unavailable(_)) => "unavailable",
            Err(RpcError::Timeout) => "timeout",
            Err(RpcError::BadReply(_)) => "bad_reply",
        };
        metrics::counter!("magnum_rpc_calls_total", "method" => M::NAME, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("magnum_rpc_call_duration_seconds", "method" => M::NAME)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn call_once<M: Method>(
        &self,
        ctx: &RequestContext,
        method: &M,
    ) -> Result<M::Reply, RpcError> {
        self.check_cap::<M>()?;
        let session = self.session()?;
        self.ensure_consumer(&session).await?;
        let msg_id = envelope::fresh_id();
        let (tx, rx) = oneshot::channel();
        let _forget = PendingGuard::register(&self.inner, &msg_id, tx);
        let inner = envelope::request(
            ctx,
            M::NAME,
            &M::SINCE.to_string(),
            method.args(),
            Some((&msg_id, &self.inner.reply_queue)),
        );
        let timeout = self.inner.opts.rpc_response_timeout;
        self.publish(&session, &inner, Some(timeout)).await?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(RpcError::Timeout),
            Ok(Err(_)) => Err(RpcError::Unavailable(
                "The connection to the message broker was lost.".into(),
            )),
            Ok(Ok(Ok(result))) => M::decode_reply_json(&result),
            Ok(Ok(Err(failure))) => Err(RpcError::Remote(failure)),
        }
    }

    /// Sends a method to any conductor without waiting for an answer; returns once the broker
    /// confirmed the message.
    pub async fn cast<M: Method>(&self, ctx: &RequestContext, method: &M) -> Result<(), RpcError> {
        self.check_cap::<M>()?;
        let session = self.session()?;
        self.ensure_consumer(&session).await?;
        let inner = envelope::request(ctx, M::NAME, &M::SINCE.to_string(), method.args(), None);
        self.publish(&session, &inner, None).await
    }

    fn check_cap<M: Method>(&self) -> Result<(), RpcError> {
        if M::SINCE > self.inner.cap {
            return Err(RpcError::Unavailable(format!(
                "{} needs RPC API {} but the conductor version cap is {}.",
                M::NAME,
                M::SINCE,
                self.inner.cap
            )));
        }
        Ok(())
    }

    fn session(&self) -> Result<Arc<Session>, RpcError> {
        self.inner
            .session
            .borrow()
            .clone()
            .ok_or_else(|| RpcError::Unavailable("The message broker is not reachable.".into()))
    }

    /// Refuses at once when no conductor consumes the topic, trusting an answer for
    /// `presence_check_interval`.
    async fn ensure_consumer(&self, session: &Session) -> Result<(), RpcError> {
        let mut presence = self.inner.presence.lock().await;
        let fresh = |at: Instant| at.elapsed() < self.inner.opts.presence_check_interval;
        let count = match presence.checked {
            Some((at, count)) if fresh(at) => count,
            _ => {
                let probe = match presence.probe.take() {
                    Some(probe) if probe.status().connected() => probe,
                    _ => session
                        .connection
                        .create_channel()
                        .await
                        .map_err(|e| unavailable(&e))?,
                };
                // A passive declare of a missing queue closes the probe channel: make a new
                // one next time and count no consumer.
                let count = topology::topic_consumers(&probe, &self.inner.opts)
                    .await
                    .unwrap_or(0);
                if probe.status().connected() {
                    presence.probe = Some(probe);
                }
                presence.checked = Some((Instant::now(), count));
                count
            }
        };
        if count == 0 {
            return Err(RpcError::Unavailable(
                "No magnum-conductor is running.".into(),
            ));
        }
        Ok(())
    }

    async fn publish(
        &self,
        session: &Session,
        inner: &Map<String, Value>,
        expiration: Option<Duration>,
    ) -> Result<(), RpcError> {
        let opts = &self.inner.opts;
        match publish_confirmed(
            &session.publisher,
            &opts.control_exchange,
            &opts.topic,
            &envelope::wrap(inner),
            properties(expiration),
            opts.publish_confirm_timeout,
        )
        .await
        {
            Ok(()) => Ok(()),
            Err(PublishError::Unroutable) => {
                self.inner.presence.lock().await.checked = None;
                Err(RpcError::Unavailable(
                    "No magnum-conductor is running.".into(),
                ))
            }
            Err(PublishError::Failed(why)) => Err(RpcError::Unavailable(why)),
        }
    }
}

fn unavailable(e: &lapin::Error) -> RpcError {
    RpcError::Unavailable(format!("The message broker is not reachable: {e}"))
}

/// Removes a call's pending entry however the call ends.
struct PendingGuard<'a> {
    inner: &'a Inner,
    msg_id: String,
}

impl<'a> PendingGuard<'a> {
    fn register(inner: &'a Inner, msg_id: &str, reply: oneshot::Sender<Outcome>) -> Self {
        lock(&inner.pending).insert(msg_id.to_owned(), Pending { reply, early: None });
        PendingGuard {
            inner,
            msg_id: msg_id.to_owned(),
        }
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.inner.pending).remove(&self.msg_id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keeps a connection up until `shutdown`, with a capped exponential backoff between attempts.
async fn supervise(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match connect(&inner).await {
            Ok((session, consumer)) => {
                tracing::info!(reply_queue = %inner.reply_queue, "connected to the message broker");
                backoff = Duration::from_millis(100);
                let session = Arc::new(session);
                inner.session.send_replace(Some(Arc::clone(&session)));
                shutdown
                    .run_until_cancelled(receive_replies(&inner, consumer))
                    .await;
                inner.session.send_replace(None);
                *inner.presence.lock().await = Presence::default();
                // Dropping the senders fails every waiting call as "connection lost".
                lock(&inner.pending).clear();
                if shutdown.is_cancelled() {
                    let _ = session.connection.close(200, "shutting down".into()).await;
                    return;
                }
                tracing::warn!("lost the message broker connection; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach the message broker; retrying"),
        }
        if shutdown
            .run_until_cancelled(tokio::time::sleep(backoff))
            .await
            .is_none()
        {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(inner: &Inner) -> lapin::Result<(Session, lapin::Consumer)> {
    let connection = Connection::connect(
        &with_heartbeat(&inner.opts),
        ConnectionProperties::default(),
    )
    .await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let receiver = connection.create_channel().await?;
    topology::declare_reply_queue(&receiver, &inner.opts, &inner.reply_queue).await?;
    let consumer = receiver
        .basic_consume(
            inner.reply_queue.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((
        Session {
            connection,
            publisher,
        },
        consumer,
    ))
}

/// Adds the heartbeat interval to the AMQP URI unless it names one.
pub(crate) fn with_heartbeat(opts: &TransportOptions) -> String {
    let url = &opts.amqp_url;
    if url.contains("heartbeat=") {
        return url.clone();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}heartbeat={}", opts.heartbeat.as_secs())
}

async fn receive_replies(inner: &Inner, mut consumer: lapin::Consumer) {
    while let Some(delivery) = consumer.next().await {
        let Ok(delivery) = delivery else { return };
        match RawReply::read(&delivery.data) {
            Ok(reply) => deliver(inner, reply),
            Err(e) => tracing::warn!(error = %e, "dropping a malformed reply"),
        }
    }
}

fn deliver(inner: &Inner, reply: RawReply) {
    let mut pending = lock(&inner.pending);
    let Some(call) = pending.get_mut(&reply.msg_id) else {
        return; // a call that gave up, or another process's reply
    };
    if reply.is_heartbeat() {
        return;
    }
    let outcome = match reply.failure {
        Some(Ok(failure)) => Some(Err(failure)),
        Some(Err(text)) => Some(Err(RemoteFailure::typed("MagnumException", 500, text))),
        None => reply.result.map(Ok),
    };
    if !reply.ending {
        call.early = outcome;
        return;
    }
    if let Some(call) = pending.remove(&reply.msg_id) {
        let outcome = outcome
            .or(call.early)
            .unwrap_or_else(|| Ok(RawValue::NULL.to_owned()));
        let _ = call.reply.send(outcome);
    }
}
