//! Magnum's domain: the objects tenants manage, their identifiers, status rules and input
//! validation. No I/O lives here: every other crate builds on these types.

pub mod bay;
pub mod baymodel;
pub mod certificate;
pub mod container;
pub mod error;
pub mod fields;
pub mod ident;
pub mod manifest;
pub mod node;
pub mod nodegroup;
pub mod patch;
pub mod quota;
pub mod service;
pub mod time;
pub mod workload;

pub use error::ValidationError;
pub use ident::Ident;
