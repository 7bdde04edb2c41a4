//! The server side: a conductor consumes its queues, decodes and dispatches each request, replies
//! and only then acknowledges (at least once; spec/rpc.md §8.1). Survives broker restarts.

use crate::client::{PublishError, properties, publish_confirmed, with_heartbeat};
use crate::context::RequestContext;
use crate::envelope::{self, Payload, Request};
use crate::failure::RemoteFailure;
use crate::methods::Call;
use crate::options::TransportOptions;
use crate::topology;
use futures_util::StreamExt;
use futures_util::stream::select_all;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How many `_unique_id`s a server remembers to drop duplicates.
const SEEN_IDS: usize = 1024;
/// Deadline of a message that carries no expiration.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Handlers stop this long before the caller gives up.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// How often an unroutable reply is retried.
const REPLY_RETRY: Duration = Duration::from_millis(250);

/// What a conductor does with a decoded request.
pub trait Dispatch: Send + Sync + 'static {
    /// Handles one call or cast; the payload is the reply's `result`.
    fn dispatch(
        &self,
        ctx: RequestContext,
        call: Call,
    ) -> impl Future<Output = Result<Payload, RemoteFailure>> + Send;
}

/// One conductor's presence on the broker.
#[derive(Debug, Clone)]
pub struct RpcServer {
    opts: TransportOptions,
    server_name: String,
}

impl RpcServer {
    /// A server named `server_name` (random per process, spec/rpc.md §1).
    pub fn new(opts: TransportOptions, server_name: impl Into<String>) -> Self {
        RpcServer {
            opts,
            server_name: server_name.into(),
        }
    }

    /// Serves until `shutdown`, reconnecting after broker outages. On shutdown it stops
    /// consuming, lets running handlers finish for `graceful_shutdown_timeout`, and closes; what
    /// it did not acknowledge returns to the queue for another conductor.
    pub async fn serve<D: Dispatch>(self, dispatcher: Arc<D>, shutdown: CancellationToken) {
        let state = Arc::new(ServerState {
            opts: self.opts,
            server_name: self.server_name,
            seen: Mutex::new(SeenIds::default()),
            gone_reply_queues: Mutex::new(Vec::new()),
        });
        let tracker = TaskTracker::new();
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            match connect(&state).await {
                Ok(session) => {
                    tracing::info!(server = %state.server_name, topic = %state.opts.topic, "consuming");
                    backoff = Duration::from_millis(100);
                    let ended_by_shutdown = session
                        .consume(&state, &dispatcher, &tracker, &shutdown)
                        .await;
                    if ended_by_shutdown {
                        session.stop(&state, &tracker).await;
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
                break;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        tracker.close();
        let _ = tokio::time::timeout(state.opts.graceful_shutdown_timeout, tracker.wait()).await;
    }
}

#[derive(Debug)]
struct ServerState {
    opts: TransportOptions,
    server_name: String,
    seen: Mutex<SeenIds>,
    /// Reply queues found gone recently, with when: replies to them are abandoned at once.
    gone_reply_queues: Mutex<Vec<(String, Instant)>>,
}

#[derive(Debug, Default)]
struct SeenIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl SeenIds {
    /// Records an id; false if it was already there.
    fn insert(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == SEEN_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(id.to_owned());
        self.set.insert(id.to_owned());
        true
    }

    fn forget(&mut self, id: &str) {
        self.set.remove(id);
        self.order.retain(|seen| seen != id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Session {
    connection: Connection,
    consumer_channel: Channel,
    publisher: Channel,
    consumers: Vec<lapin::Consumer>,
    fanout_queue: String,
}

async fn connect(state: &ServerState) -> lapin::Result<Session> {
    let opts = &state.opts;
    let connection =
        Connection::connect(&with_heartbeat(opts), ConnectionProperties::default()).await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let consumer_channel = connection.create_channel().await?;
    consumer_channel
        .basic_qos(opts.prefetch, BasicQosOptions::default())
        .await?;
    topology::declare_topic(&consumer_channel, opts).await?;
    let server_queue = format!("{}.{}", opts.topic, state.server_name);
    topology::declare_server_queue(&consumer_channel, opts, &server_queue).await?;
    let fanout_queue = format!("{}_fanout_{}", opts.topic, envelope::fresh_id());
    topology::declare_fanout_queue(&consumer_channel, opts, &fanout_queue).await?;
    let mut consumers = Vec::new();
    for queue in [
        opts.topic.as_str(),
        server_queue.as_str(),
        fanout_queue.as_str(),
    ] {
        consumers.push(
            consumer_channel
                .basic_consume(
                    queue.into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?,
        );
    }
    Ok(Session {
        connection,
        consumer_channel,
        publisher,
        consumers,
        fanout_queue,
    })
}

impl Session {
    /// Dispatches deliveries until the connection fails (false) or `shutdown` (true).
    async fn consume<D: Dispatch>(
        &self,
        state: &Arc<ServerState>,
        dispatcher: &Arc<D>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut deliveries = select_all(self.consumers.iter().cloned());
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return true,
                next = deliveries.next() => next,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consumer failed");
                    return false;
                }
                None => return false,
            };
            let (state, dispatcher, publisher) = (
                Arc::clone(state),
                Arc::clone(dispatcher),
                self.publisher.clone(),
            );
            tracker.spawn(async move { handle(&state, &*dispatcher, &publisher, delivery).await });
        }
    }

    async fn stop(self, state: &ServerState, tracker: &TaskTracker) {
        for consumer in &self.consumers {
            let _ = self
                .consumer_channel
                .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                .await;
        }
        tracker.close();
        if tokio::time::timeout(state.opts.graceful_shutdown_timeout, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "handlers still running at shutdown; their messages return to the queue"
            );
        }
        let _ = self
            .consumer_channel
            .queue_delete(
                self.fanout_queue.as_str().into(),
                QueueDeleteOptions::default(),
            )
            .await;
        let _ = self.connection.close(200, "shutting down".into()).await;
    }
}

/// The deadline of a request: `timestamp` + `expiration`, else receipt + 60 s.
fn deadline(delivery: &Delivery) -> SystemTime {
    let props = &delivery.properties;
    let ttl = props
        .expiration()
        .as_ref()
        .and_then(|e| e.as_str().parse::<u64>().ok())
        .map(Duration::from_millis);
    match (props.timestamp(), ttl) {
        (Some(sent), Some(ttl)) => UNIX_EPOCH + Duration::from_secs(*sent) + ttl,
        (None, Some(ttl)) => SystemTime::now() + ttl,
        _ => SystemTime::now() + DEFAULT_DEADLINE,
    }
}

fn acceptable_content(delivery: &Delivery) -> bool {
    let props = &delivery.properties;
    let type_ok = props
        .content_type()
        .as_ref()
        .is_none_or(|t| t.as_str() == "application/json");
    let encoding_ok = props
        .content_encoding()
        .as_ref()
        .is_none_or(|e| e.as_str().eq_ignore_ascii_case("utf-8"));
    let compressed = props
        .headers()
        .as_ref()
        .is_some_and(|h| h.contains_key("compression"));
    type_ok && encoding_ok && !compressed
}

async fn handle<D: Dispatch>(
    state: &ServerState,
    dispatcher: &D,
    publisher: &Channel,
    delivery: Delivery,
) {
    let request = if acceptable_content(&delivery) {
        envelope::unwrap(&delivery.data)
            .map_err(|e| e.to_string())
            .and_then(|inner| Request::parse_owned(inner).map_err(|e| e.to_string()))
    } else {
        Err("unsupported content type or encoding".to_owned())
    };
    let mut request = match request {
        Ok(request) => request,
        Err(why) => {
            tracing::warn!(%why, "rejecting a message");
            let _ = delivery.reject(BasicRejectOptions { requeue: false }).await;
            return;
        }
    };
    let span = tracing::info_span!(
        "rpc",
        method = %request.method,
        request_id = %request.context.request_id,
    );
    async {
        let first_time = request
            .unique_id
            .as_ref()
            .is_none_or(|id| lock(&state.seen).insert(id));
        if !first_time {
            tracing::info!("dropping a duplicate message");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            return;
        }
        let deadline = deadline(&delivery);
        let budget = deadline
            .duration_since(SystemTime::now())
            .ok()
            .and_then(|left| left.checked_sub(DEADLINE_MARGIN));
        let Some(budget) = budget else {
            tracing::info!("dropping a message past its deadline");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            return;
        };
        let args = std::mem::take(&mut request.args);
        let outcome = run(state, dispatcher, publisher, &request, args, budget).await;
        if let Err(failure) = &outcome {
            if request.is_call() {
                tracing::info!(class = %failure.class, "call failed");
            } else {
                tracing::warn!(class = %failure.class, message = %failure.message, "cast failed");
            }
        }
        if let (Some(msg_id), Some(reply_q)) = (&request.msg_id, &request.reply_q) {
            send_reply(
                state,
                publisher,
                reply_q,
                &envelope::reply_body(msg_id, &outcome),
            )
            .await;
        }
        let _ = delivery.ack(BasicAckOptions::default()).await;
    }
    .instrument(span)
    .await;
}

/// Decodes and dispatches within `budget`, sending call-monitor heartbeats if asked.
async fn run<D: Dispatch>(
    state: &ServerState,
    dispatcher: &D,
    publisher: &Channel,
    request: &Request,
    args: serde_json::Map<String, serde_json::Value>,
    budget: Duration,
) -> Result<Payload, RemoteFailure> {
    let call = Call::decode(
        &request.method,
        request.version.as_deref(),
        request.namespace.as_ref(),
        args,
    )?;
    let started = std::time::Instant::now();
    let context = RequestContext {
        message_id: request.unique_id.clone(),
        ..request.context.clone()
    };
    let work = tokio::time::timeout(budget, dispatcher.dispatch(context, call));
    let outcome = match (request.timeout, &request.msg_id, &request.reply_q) {
        (Some(every), Some(msg_id), Some(reply_q)) => {
            let beats = async {
                let period = Duration::from_millis(every * 500).max(Duration::from_millis(100));
                let mut ticks = tokio::time::interval(period);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    let beat = envelope::wrap(&envelope::heartbeat(msg_id));
                    send_reply(state, publisher, reply_q, &beat).await;
                }
            };
            tokio::select! {
                outcome = work => outcome,
                () = beats => unreachable!("heartbeats never end"),
            }
        }
        _ => work.await,
    };
    let outcome = outcome.unwrap_or_else(|_| {
        Err(RemoteFailure::unavailable(
            "The conductor ran out of time for this request.",
        ))
    });
    let label = match &outcome {
        Ok(_) => "ok".to_owned(),
        Err(f) => f.class.clone(),
    };
    metrics::counter!("magnum_conductor_requests_total",
        "method" => request.method.clone(), "outcome" => label)
    .increment(1);
    metrics::histogram!("magnum_conductor_request_duration_seconds",
        "method" => request.method.clone())
    .record(started.elapsed().as_secs_f64());
    if let (Err(_), Some(id)) = (&outcome, &request.unique_id) {
        // A failed request has no effect to protect: a resend may try again.
        lock(&state.seen).forget(id);
    }
    outcome
}

/// Publishes a reply, retrying while its queue has no binding for
/// `missing_consumer_retry_timeout`, then remembering the queue as gone for a minute.
async fn send_reply(state: &ServerState, publisher: &Channel, reply_q: &str, body: &[u8]) {
    {
        let mut gone = lock(&state.gone_reply_queues);
        gone.retain(|(_, at)| at.elapsed() < Duration::from_secs(60));
        if gone.iter().any(|(q, _)| q == reply_q) {
            return;
        }
    }
    let started = Instant::now();
    loop {
        match publish_confirmed(
            publisher,
            "",
            reply_q,
            body,
            properties(None),
            state.opts.publish_confirm_timeout,
        )
        .await
        {
            Ok(()) => return,
            Err(PublishError::Failed(why)) => {
                tracing::warn!(%why, "could not send a reply");
                return;
            }
            Err(PublishError::Unroutable)
                if started.elapsed() < state.opts.missing_consumer_retry_timeout =>
            {
                tokio::time::sleep(REPLY_RETRY).await;
            }
            Err(PublishError::Unroutable) => {
                tracing::warn!(%reply_q, "reply queue is gone; abandoning the reply");
                let mut gone = lock(&state.gone_reply_queues);
                if gone.len() < 200 {
                    gone.push((reply_q.to_owned(), Instant::now()));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_set_forgets_the_oldest_ids() {
        let mut seen = SeenIds::default();
        assert!(seen.insert("a") && !seen.insert("a"));
        for i in 0..SEEN_IDS {
            seen.insert(&i.to_string());
        }
        assert!(seen.insert("a"), "the first id was forgotten");
    }
}
