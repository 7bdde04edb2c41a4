//! The one error type of the storage layer.

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique constraint refused the write; holds the constraint name.
    #[error("unique constraint {0} refused the write")]
    Duplicate(String),
    /// A foreign key refused the write or delete; holds the constraint name.
    #[error("foreign key {0} refused the write")]
    Referenced(String),
    /// The database cannot be reached or the pool is exhausted: worth a retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other failure: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.code().as_deref() {
                    Some("23505") => Error::Duplicate(constraint),
                    Some("23503") => Error::Referenced(constraint),
                    // Connection exceptions (08), insufficient resources (53), operator
                    // intervention such as a shutdown (57).
                    Some(code) if ["08", "53", "57"].iter().any(|c| code.starts_with(c)) => {
                        Error::Unavailable(e)
                    }
                    _ => Error::Other(e),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(e),
            _ => Error::Other(e),
        }
    }
}
