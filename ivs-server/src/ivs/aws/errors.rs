//! How a failed SDK call becomes an [`IvsError`]: the error class the API
//! reports, IVS's own message, the IAM action named when a permission is
//! missing, and whether IVS answered at all (for `health()`).

use aws_sdk_ivsrealtime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::Op;
use crate::ivs::IvsError;

/// A mapped failure, plus whether IVS answered at all (for `health()`).
pub(super) struct Failure {
    pub(super) error: IvsError,
    pub(super) reached: bool,
}

/// Maps an SDK failure of `op` to an [`IvsError`], with IVS's own message
/// (`exceptionMessage`, read through the typed accessors: the generic
/// `message()` is empty for this service).
pub(super) fn classify<E>(op: Op, err: SdkError<E>) -> Failure
where
    E: Into<aws_sdk_ivsrealtime::Error> + ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_ivsrealtime::Error as Svc;
    let action = op.action();
    let unreachable = |what: String| Failure {
        error: IvsError::Unavailable(format!("{action}: {what}")),
        reached: false,
    };
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            // The type comes from `x-amzn-ErrorType`, for modelled and
            // unmodelled errors alike (an operation may get an exception it
            // does not declare, and throttling is not in IVS's model at all).
            let code = ctx.err().code().unwrap_or("").to_string();
            let from_body = ctx.raw().body().bytes().and_then(message_from_body);
            let svc: Svc = ctx.into_err().into();
            let typed = match &svc {
                Svc::ResourceNotFoundException(e) => e.exception_message(),
                Svc::ValidationException(e) => e.exception_message(),
                Svc::ServiceQuotaExceededException(e) => e.exception_message(),
                Svc::ConflictException(e) => e.exception_message(),
                Svc::AccessDeniedException(e) => e.exception_message(),
                Svc::PendingVerification(e) => e.exception_message(),
                Svc::InternalServerException(e) => e.exception_message(),
                _ => None,
            };
            let text = typed
                .map(str::to_string)
                .or(from_body)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let error = match code.as_str() {
                "ResourceNotFoundException" => IvsError::NotFound(format!("{action}: {text}")),
                "ValidationException" => IvsError::Validation(format!("{action}: {text}")),
                "ServiceQuotaExceededException" => {
                    IvsError::QuotaExceeded(format!("{action}: {text}"))
                }
                "ConflictException" => IvsError::Conflict(format!("{action}: {text}")),
                "AccessDeniedException" => IvsError::AccessDenied(format!(
                    "{action} was denied ({text}); the server's IAM identity needs {action}"
                )),
                "PendingVerification" => IvsError::AccessDenied(format!(
                    "{action}: the AWS account is pending verification ({text})"
                )),
                "InternalServerException" => {
                    IvsError::Unavailable(format!("{action}: IVS internal error ({text})"))
                }
                // Already retried by the SDK when it gets here.
                c if status == 429 || c.contains("Throttl") || c == "TooManyRequestsException" => {
                    IvsError::Unavailable(format!(
                        "{action}: throttled by IVS after retries ({text})"
                    ))
                }
                _ if status >= 500 => IvsError::Unavailable(format!(
                    "{action}: IVS answered HTTP {status} {code} ({text})"
                )),
                _ => IvsError::Other(format!(
                    "{action}: unexpected error {code} (HTTP {status}): {text}"
                )),
            };
            Failure {
                reached: status < 500,
                error,
            }
        }
        SdkError::TimeoutError(_) => unreachable("timed out".into()),
        e @ (SdkError::DispatchFailure(_) | SdkError::ResponseError(_)) => {
            unreachable(format!("could not reach IVS: {}", DisplayErrorContext(&e)))
        }
        e => Failure {
            error: IvsError::Other(format!("{action}: {}", DisplayErrorContext(&e))),
            reached: true,
        },
    }
}

/// The text of an error body: IVS's `exceptionMessage`, or the `message` of
/// front-end errors.
fn message_from_body(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["exceptionMessage", "message", "Message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|m| m.as_str()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_comes_from_ivs_or_the_front_end() {
        let ivs = br#"{"exceptionMessage":"Stage not found","accessControlAllowOrigin":""}"#;
        assert_eq!(message_from_body(ivs).as_deref(), Some("Stage not found"));
        let front = br#"{"message":"Missing Authentication Token"}"#;
        assert_eq!(
            message_from_body(front).as_deref(),
            Some("Missing Authentication Token")
        );
        assert_eq!(message_from_body(b"<html>502</html>"), None);
        assert_eq!(message_from_body(br#"{"other":1}"#), None);
    }
}
