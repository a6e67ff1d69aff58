//! How an EKS call failed, sorted by what the guard does next.
//!
//! EKS publishes no rate limits; throttling arrives as
//! `TooManyRequestsException`/`ThrottlingException` (HTTP 429) for the whole
//! account, so it is transient, and the caller pauses before trying again.

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EksFailure {
    /// The cluster (or update) does not exist: deleted meanwhile.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another update runs (or AWS works on the cluster): wait, try again.
    #[error("busy: {0}")]
    InUse(String),
    /// EKS says the cluster already has the settings asked for.
    #[error("already at the desired configuration: {0}")]
    AlreadyDesired(String),
    /// Throttling, 5xx, time-outs, connection errors that outlived the SDK's
    /// own retries: worth another try, after a pause, while the deadline allows.
    #[error("transient: {0}")]
    Transient(String),
    /// Anything else (access denied, invalid request): retrying will not help.
    #[error("{0}")]
    Fatal(String),
}

impl EksFailure {
    pub fn is_transient(&self) -> bool {
        matches!(self, EksFailure::Transient(_))
    }
}

/// "Cluster is already at the desired configuration with endpointPrivateAccess: ..."
/// (aws/aws-cdk#14698).
pub(super) fn is_already_desired(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.contains("already at the desired configuration"))
}

pub(super) fn message(text: Option<&str>) -> String {
    text.unwrap_or("no message").to_string()
}

/// A modeled "does not exist" answer, for [`sort_error`]'s `modeled`.
pub(super) fn not_found(text: Option<&str>) -> Option<EksFailure> {
    Some(EksFailure::NotFound(message(text)))
}

/// A modeled "another update runs" answer.
pub(super) fn in_use(text: Option<&str>) -> Option<EksFailure> {
    Some(EksFailure::InUse(message(text)))
}

/// A modeled 5xx or throttling answer.
pub(super) fn transient(text: Option<&str>) -> Option<EksFailure> {
    Some(EksFailure::Transient(message(text)))
}

/// Sorts an SDK error: first by the operation's modeled variant (which is
/// all a mocked error has), then by error code and HTTP status.
pub(super) fn sort_error<E, R>(
    err: SdkError<E, R>,
    modeled: impl Fn(&E) -> Option<EksFailure>,
) -> EksFailure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    let described = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            EksFailure::Transient(described)
        }
        SdkError::ServiceError(service) => {
            if let Some(kind) = modeled(service.err()) {
                return kind;
            }
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status_code();
            match code {
                "ResourceNotFoundException" => EksFailure::NotFound(described),
                "ResourceInUseException" => EksFailure::InUse(described),
                "ThrottlingException"
                | "TooManyRequestsException"
                | "ThrottledException"
                | "RequestLimitExceeded" => EksFailure::Transient(described),
                "InvalidParameterException" if is_already_desired(service.err().message()) => {
                    EksFailure::AlreadyDesired(described)
                }
                _ if status == 429 || status >= 500 => EksFailure::Transient(described),
                _ => EksFailure::Fatal(described),
            }
        }
        _ => EksFailure::Fatal(described),
    }
}

/// The HTTP status of a raw response, for errors that carry no code.
pub trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_eks::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
