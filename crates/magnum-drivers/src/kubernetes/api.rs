//! Bounded Kubernetes API calls and the mapping of their failures to [`DriverError`].

use crate::DriverError;
use std::future::Future;
use std::time::Duration;

/// Why one API call failed: a `Status` the caller may handle (404, 409), or a final error.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server answered with a `Status` error.
    Status(Box<kube::core::Status>),
    /// No usable answer: connection, timeout, decoding.
    Driver(DriverError),
}

impl Failure {
    /// The HTTP code of a `Status` answer.
    pub(super) fn code(&self) -> Option<u16> {
        match self {
            Failure::Status(status) => Some(status.code),
            Failure::Driver(_) => None,
        }
    }

    /// The driver error the conductor sees; `what` says what was being done
    /// ("create NetworkPolicy magnum-isolation in magnum-…").
    pub(super) fn into_driver(self, what: &str) -> DriverError {
        match self {
            Failure::Driver(error) => error,
            Failure::Status(status) => {
                let message = if status.message.is_empty() {
                    status.reason.clone()
                } else {
                    status.message.clone()
                };
                match status.code {
                    // Throttled or failing server: worth retrying, as a connection error is.
                    429 | 500..=599 => DriverError::Unreachable(format!(
                        "Kubernetes API failed to {what}: {message}"
                    )),
                    // 401/403 (RBAC), 409 after retries, 422 invalid object, …
                    _ => DriverError::Refused(format!("Kubernetes refused to {what}: {message}")),
                }
            }
        }
    }
}

/// Runs one API call, bounded by `timeout`.
pub(super) async fn bounded<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(Failure::Driver(DriverError::Unreachable(format!(
            "Kubernetes API did not answer within {} s while trying to {what}",
            timeout.as_secs_f64()
        )))),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(classify(error, what)),
    }
}

fn classify(error: kube::Error, what: &str) -> Failure {
    match error {
        kube::Error::Api(status) => Failure::Status(status),
        kube::Error::HyperError(e) => Failure::Driver(DriverError::Unreachable(format!(
            "Kubernetes API unreachable while trying to {what}: {e}"
        ))),
        kube::Error::Service(e) => Failure::Driver(DriverError::Unreachable(format!(
            "Kubernetes API unreachable while trying to {what}: {}",
            chain(e.as_ref())
        ))),
        other => Failure::Driver(DriverError::Refused(format!(
            "Kubernetes client failed to {what}: {}",
            chain(&other)
        ))),
    }
}

/// An error and its sources on one line (hyper hides "connection refused" in a source).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> Failure {
        Failure::Status(Box::new(kube::core::Status {
            code,
            message: message.into(),
            reason: "Whatever".into(),
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn statuses_map_to_refused_or_unreachable() {
        let refused = status(403, "nodes is forbidden").into_driver("list Nodes");
        assert_eq!(
            refused,
            DriverError::Refused("Kubernetes refused to list Nodes: nodes is forbidden".into())
        );
        assert!(matches!(
            status(401, "x").into_driver("a"),
            DriverError::Refused(_)
        ));
        assert!(matches!(
            status(409, "x").into_driver("a"),
            DriverError::Refused(_)
        ));
        assert!(matches!(
            status(503, "x").into_driver("a"),
            DriverError::Unreachable(_)
        ));
        assert!(matches!(
            status(429, "x").into_driver("a"),
            DriverError::Unreachable(_)
        ));
        assert_eq!(status(404, "").code(), Some(404));
    }

    #[tokio::test]
    async fn a_slow_call_is_unreachable_after_the_timeout() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<(), kube::Error>(())
        };
        let failure = bounded(Duration::from_millis(20), "get Namespace x", slow).await;
        let Err(Failure::Driver(DriverError::Unreachable(message))) = failure else {
            panic!("expected Unreachable, got {failure:?}");
        };
        assert!(
            message.contains("did not answer within 0.02 s"),
            "{message}"
        );
    }
}
