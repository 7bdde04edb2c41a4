//! Test support: a [`Deployment`] of the real `magnum-api` and `magnum-conductor` binaries on a
//! fresh database and a private RabbitMQ exchange and topic, killed when dropped; and
//! [`eventually`] to wait for a condition instead of sleeping.

mod deployment;
pub mod keystone;
pub mod kube_double;
pub mod tls;

pub use deployment::{Deployment, DeploymentBuilder, Reply, binary};
pub use keystone::TestKeystone;
pub use tls::TestCa;

use std::future::Future;
use std::time::{Duration, Instant};

/// The PostgreSQL server tests use (a role allowed to create databases), from `DATABASE_URL`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://magnum:magnum@127.0.0.1:5432/magnum".into())
}

/// The RabbitMQ virtual host tests use, from `MAGNUM_TEST_AMQP_URL`.
pub fn amqp_url() -> String {
    std::env::var("MAGNUM_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://magnum:magnum@127.0.0.1:5672/magnum-test".into())
}

/// An HTTP client for tests (60 s timeout). reqwest is built with rustls but no default crypto
/// provider (see the workspace Cargo.toml), so build clients here, not with `Client::new()`.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// A short random suffix for names private to one test.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Polls `check` until it holds, panicking with `what` after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
