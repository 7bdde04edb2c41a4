//! The magnum-api ⇄ magnum-conductor contract (spec/rpc.md) and its AMQP transport.
//!
//! A released method never changes: a change of interface is a new method or a new version.
//! Messages use oslo.messaging's RabbitMQ wire format so Python peers can talk to us.

pub mod admin;
pub mod certificates;
pub mod client;
pub mod config;
pub mod context;
pub mod envelope;
pub mod failure;
pub mod methods;
pub mod object;
pub mod options;
pub mod server;
mod topology;
pub mod version;
pub mod workloads;

pub use client::RpcClient;
pub use context::RequestContext;
pub use envelope::Payload;
pub use failure::{RemoteFailure, RpcError};
pub use methods::{Call, Method};
pub use object::{Primitive, VersionedObject};
pub use options::TransportOptions;
pub use server::{Dispatch, RpcServer};
pub use version::Version;
