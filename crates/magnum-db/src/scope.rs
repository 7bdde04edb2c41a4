//! Tenancy: which rows a caller may see (spec/rest-api.md §6.3).

/// The rows a query may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The caller's project; `None` only for an all-projects admin or the conductor itself.
    pub project_id: Option<String>,
}

impl Scope {
    /// Rows of one project.
    pub fn project(project_id: impl Into<String>) -> Self {
        Scope {
            project_id: Some(project_id.into()),
        }
    }

    /// Every project's rows (admins with `all_tenants`, periodic tasks).
    pub fn all() -> Self {
        Scope { project_id: None }
    }
}
