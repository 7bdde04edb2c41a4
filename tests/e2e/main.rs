//! End-to-end tests: both daemons as processes, real PostgreSQL and RabbitMQ, driven over HTTP
//! and raw AMQP. Each test gets its own database, exchange and topic.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on a broken fixture, which fails the test"
)]

mod admin;
mod api_core;
mod bad_input;
mod baymodels;
mod bays;
mod certificates;
mod clients;
mod config;
mod containers;
mod devstack;
mod docker_proxy;
mod faults;
mod hostile;
mod keystone;
mod kube_bays;
mod layout;
mod nodegroups;
mod operations;
mod rpc_contract;
mod workloads;

use serde_json::{Value, json};

/// A minimal valid baymodel body.
pub(crate) fn baymodel(name: &str) -> Value {
    json!({"name": name, "coe": "kubernetes", "image_id": "fedora-coreos"})
}
