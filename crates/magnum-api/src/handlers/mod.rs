//! HTTP handlers, one module per resource family. Each reads load → authorize → validate → act →
//! respond; the conductor scopes every query to the caller's project.

pub(crate) mod baymodels;
pub(crate) mod bays;
pub(crate) mod containers;
pub(crate) mod versions;
