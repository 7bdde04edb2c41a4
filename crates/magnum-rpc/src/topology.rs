//! Exchanges and queues, declared exactly as oslo derives them from the same options, so Python
//! and Rust peers can share a vhost without RabbitMQ refusing a redeclaration (spec/rpc.md §1).

use crate::options::TransportOptions;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

fn expires(opts: &TransportOptions, args: &mut FieldTable) {
    let ms = opts.transient_queues_ttl.as_millis();
    if ms > 0 {
        args.insert(
            "x-expires".into(),
            AMQPValue::LongUInt(u32::try_from(ms).unwrap_or(u32::MAX)),
        );
    }
}

fn quorum(args: &mut FieldTable) {
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
}

/// Arguments **Q** of the topic and server queues.
fn shared_queue_args(opts: &TransportOptions) -> FieldTable {
    let mut args = FieldTable::default();
    if opts.quorum_queues {
        quorum(&mut args);
        if opts.quorum_delivery_limit > 0 {
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongUInt(opts.quorum_delivery_limit),
            );
        }
    }
    args
}

fn durable(opts: &TransportOptions) -> bool {
    opts.durable_queues || opts.quorum_queues
}

/// Declares the control exchange, the topic queue and its binding.
pub(crate) async fn declare_topic(ch: &Channel, opts: &TransportOptions) -> lapin::Result<()> {
    let durable = durable(opts);
    ch.exchange_declare(
        opts.control_exchange.as_str().into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable,
            auto_delete: opts.auto_delete,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    let queue_opts = QueueDeclareOptions {
        durable,
        auto_delete: opts.auto_delete,
        ..Default::default()
    };
    ch.queue_declare(
        opts.topic.as_str().into(),
        queue_opts,
        shared_queue_args(opts),
    )
    .await?;
    ch.queue_bind(
        opts.topic.as_str().into(),
        opts.control_exchange.as_str().into(),
        opts.topic.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

/// Declares a server's own queue `topic.server`, bound under the same name.
pub(crate) async fn declare_server_queue(
    ch: &Channel,
    opts: &TransportOptions,
    name: &str,
) -> lapin::Result<()> {
    let mut args = shared_queue_args(opts);
    expires(opts, &mut args);
    let queue_opts = QueueDeclareOptions {
        durable: durable(opts),
        auto_delete: opts.auto_delete,
        ..Default::default()
    };
    ch.queue_declare(name.into(), queue_opts, args).await?;
    ch.queue_bind(
        name.into(),
        opts.control_exchange.as_str().into(),
        name.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

/// Declares the fanout exchange `<topic>_fanout` and this server's fanout queue.
pub(crate) async fn declare_fanout_queue(
    ch: &Channel,
    opts: &TransportOptions,
    name: &str,
) -> lapin::Result<()> {
    let exchange = format!("{}_fanout", opts.topic);
    let transient = opts.transient_quorum_queues;
    ch.exchange_declare(
        exchange.as_str().into(),
        ExchangeKind::Fanout,
        ExchangeDeclareOptions {
            durable: transient,
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    ch.queue_declare(
        name.into(),
        transient_queue_options(opts),
        transient_args(opts),
    )
    .await?;
    ch.queue_bind(
        name.into(),
        exchange.as_str().into(),
        opts.topic.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
}

fn transient_queue_options(opts: &TransportOptions) -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: opts.transient_quorum_queues,
        auto_delete: false,
        ..Default::default()
    }
}

fn transient_args(opts: &TransportOptions) -> FieldTable {
    let mut args = FieldTable::default();
    if opts.transient_quorum_queues {
        quorum(&mut args);
    }
    expires(opts, &mut args);
    args
}

/// Declares a caller's reply queue (unbound; replies come through the default exchange).
pub(crate) async fn declare_reply_queue(
    ch: &Channel,
    opts: &TransportOptions,
    name: &str,
) -> lapin::Result<()> {
    ch.queue_declare(
        name.into(),
        transient_queue_options(opts),
        transient_args(opts),
    )
    .await
    .map(drop)
}

/// How many consumers the topic queue has; `Ok(0)` also when it does not exist.
pub(crate) async fn topic_consumers(ch: &Channel, opts: &TransportOptions) -> lapin::Result<u32> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare(opts.topic.as_str().into(), passive, FieldTable::default())
        .await
        .map(|q| q.consumer_count())
}
