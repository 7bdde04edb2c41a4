//! PostgreSQL storage of Magnum's objects: one module per table, each query taking a connection
//! so the caller owns the transaction. Only magnum-conductor links this crate.

pub mod baymodels;
pub mod bays;
pub mod containers;
pub mod dedupe;
mod error;
pub mod locks;
mod lookup;
pub mod nodegroups;
pub mod nodes;
pub mod paging;
pub mod quotas;
pub mod scope;
pub mod services;
pub mod workloads;

pub use error::Error;
pub use lookup::Key;
pub use paging::Page;
pub use scope::Scope;

/// The schema's forward-only migrations, from the top-level `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// A connection pool to the Magnum database.
pub type Pool = sqlx::PgPool;
