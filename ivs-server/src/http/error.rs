//! The API's error responses: [`ApiError`], the `{error, message, details}`
//! body with its status and headers, and the one table that maps the
//! application's [`ServiceError`]s to it.
//!
//! An [`ApiError`] is both a warp rejection and a reply, so the route layer
//! and the rejection handler write the same format.

use std::time::Duration;

use ivs_api::{ErrorBody, ErrorCode, IdError};
use warp::http::header::{HeaderName, HeaderValue};
use warp::http::StatusCode;

use crate::ivs::IvsError;
use crate::service::{Invalid, ServiceError};
use crate::store::{RateDecision, StoreError};

/// A failure to be reported to the API caller.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message} ({details})")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The API error code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// More detail.
    pub details: String,
    /// For 429 and some 503s: when to try again.
    pub retry_after: Option<Duration>,
    /// For 429: the rate-limit state, reported in `RateLimit-*` headers.
    pub rate: Option<RateDecision>,
    /// Which dependency failed, if one did (for metrics).
    pub cause: Cause,
}

/// What an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Cause {
    /// The request itself (validation, auth, not found...).
    #[default]
    Request,
    /// The viewer store.
    Store,
    /// IVS.
    Ivs,
}

impl ApiError {
    /// A new error.
    pub fn new(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<String>,
        details: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: details.into(),
            retry_after: None,
            rate: None,
            cause: Cause::Request,
        }
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationError,
            message,
            details,
        )
    }

    /// 400 `VALIDATION_ERROR` for a missing required field, worded as the spec's example.
    pub fn missing(field: &str) -> Self {
        Self::validation(
            format!("缺少必填參數: {field}"),
            format!("{field} is required"),
        )
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "API key 無效",
            details,
        )
    }

    /// 403 `FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            message,
            details,
        )
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>, details: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message, details)
    }

    /// 503 `SERVICE_UNAVAILABLE`.
    pub fn unavailable(details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceUnavailable,
            "服務暫時無法使用",
            details,
        )
        .retry_after(Duration::from_secs(1))
    }

    /// 500 `INTERNAL_ERROR`. The details stay generic: the cause goes to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "伺服器內部錯誤",
            "internal server error",
        )
    }

    /// Adds a `Retry-After`.
    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::builder()
            .error(self.code.clone())
            .message(self.message.clone())
            .details(self.details.clone())
            .build()
    }
}

impl warp::reject::Reject for ApiError {}

impl warp::Reply for ApiError {
    fn into_response(self) -> warp::reply::Response {
        let mut res =
            warp::reply::with_status(warp::reply::json(&self.body()), self.status).into_response();
        if let Some(after) = self.retry_after {
            // Whole seconds, rounded up: `Retry-After: 0` would invite a hot loop.
            let secs = after.as_millis().div_ceil(1000).max(1);
            if let Ok(v) = secs.to_string().parse() {
                res.headers_mut().insert("retry-after", v);
            }
        }
        if let Some(rate) = &self.rate {
            rate_headers(&mut res, rate);
        }
        res
    }
}

/// Adds the `RateLimit-*` headers (IETF draft names) to a response.
pub fn rate_headers(res: &mut warp::reply::Response, rate: &RateDecision) {
    // Static names and integer values: this runs on every API response, and
    // parsing names or formatting strings showed in the heartbeat profile.
    const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    let h = res.headers_mut();
    let reset = u64::try_from(rate.reset_after.as_millis().div_ceil(1000)).unwrap_or(u64::MAX);
    h.insert(LIMIT, HeaderValue::from(rate.limit));
    h.insert(REMAINING, HeaderValue::from(rate.remaining));
    h.insert(RESET, HeaderValue::from(reset));
}

/// The one table from the application's errors to the API's: status, code,
/// the spec's (Chinese) message, English details, and headers.
impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(invalid) => invalid.into(),
            ServiceError::StageNotManaged { .. } | ServiceError::StageGone { .. } => {
                ApiError::not_found("Stage 不存在", err.to_string())
            }
            ServiceError::ViewerNotCounted { .. } => ApiError::not_found(
                "觀眾不存在",
                format!("{err} (it left, expired, or never joined); get a new viewer token"),
            ),
            ServiceError::NoWatchRecord { retention, .. } => ApiError::not_found(
                "找不到觀看紀錄",
                format!(
                    "{err} (records are kept {} s after leaving)",
                    retention.as_secs()
                ),
            ),
            ServiceError::MasterStageProtected => {
                ApiError::forbidden("無法刪除主 Stage", err.to_string())
            }
            ServiceError::StageHasViewers { .. } => {
                ApiError::validation("Stage 仍有觀眾", err.to_string())
            }
            ServiceError::StageLimitReached { all_full, .. } => stage_limit(if all_full {
                format!("every stage is full and {err}")
            } else {
                err.to_string()
            }),
            ServiceError::StageFull => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StageFull,
                "所有 Stage 已滿",
                "every stage is full and a new one cannot be made right now; retry shortly",
            )
            .retry_after(Duration::from_secs(2)),
            ServiceError::StageOperationBusy => ApiError::unavailable(err.to_string()),
            ServiceError::Store(store) => store_error(store),
            ServiceError::Ivs(ivs) => ivs_error(ivs),
            ServiceError::HeldArn { .. } => {
                tracing::error!(error = %err, "a held stage ARN does not parse");
                ApiError::internal()
            }
            ServiceError::Token(why) => {
                tracing::error!(error = %why, "participant token generation failed");
                let mut e = ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::TokenGenerationFailed,
                    "Token 生成失敗",
                    "token generation failed",
                );
                e.cause = Cause::Ivs;
                e
            }
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        let message = match &invalid {
            Invalid::Id(IdError::Empty { field }) => return ApiError::missing(field),
            Invalid::Id(id) => {
                let details = id.to_string();
                let message = id_error_message(&details)
                    .map_or_else(|| format!("{} 格式錯誤", id.field()), str::to_owned);
                return ApiError::validation(message, details);
            }
            Invalid::PageSize { .. } => "maxResults 超出範圍",
            Invalid::PageSizeNotANumber => "maxResults 格式錯誤",
            Invalid::PageToken => "nextToken 無效",
            Invalid::AttributesTooLarge { .. } => "attributes 過大",
            Invalid::AttributeKeyEmpty => "attributes 格式錯誤",
            Invalid::StageName => "Stage 名稱格式錯誤",
            Invalid::StageNameMissing => return ApiError::missing("name"),
            Invalid::TooManyTags { .. } => "tags 過多",
            Invalid::Tag => "tags 格式錯誤",
            Invalid::ViewerStageArn => "viewer 不可指定 stageArn",
        };
        ApiError::validation(message, invalid.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        store_error(err)
    }
}

impl From<IdError> for ApiError {
    fn from(err: IdError) -> Self {
        Invalid::Id(err).into()
    }
}

/// The API's message for an id refused while a body was deserialised, found
/// from the words of the [`IdError`] (serde passes errors on as text only).
pub fn id_error_message(details: &str) -> Option<&'static str> {
    if details.starts_with("userId is too long") {
        Some("userId 過長")
    } else if details.starts_with("userId contains a control character") {
        Some("userId 含有不允許的字元")
    } else if details.starts_with("stageArn is not a stage ARN") {
        Some("stageArn 格式錯誤")
    } else {
        None
    }
}

/// 503 `STAGE_LIMIT_REACHED`: the fleet's own limit or IVS's quota.
fn stage_limit(details: String) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::StageLimitReached,
        "已達 Stage 數量上限",
        details,
    )
    .retry_after(Duration::from_secs(30))
}

fn store_error(err: StoreError) -> ApiError {
    let mut api = match err {
        StoreError::Unavailable(why) => {
            tracing::warn!(error = %why, "viewer store unavailable");
            ApiError::unavailable("viewer store unavailable")
        }
        StoreError::Unreachable { what, source } => {
            tracing::warn!(error = %what, cause = %source, "viewer store unavailable");
            ApiError::unavailable("viewer store unavailable")
        }
        StoreError::Corrupt(why) => {
            tracing::error!(error = %why, "viewer store returned unexpected data");
            ApiError::internal()
        }
    };
    api.cause = Cause::Store;
    api
}

fn ivs_error(err: IvsError) -> ApiError {
    let cause = match err {
        IvsError::NotFound(_) | IvsError::Validation(_) => Cause::Request,
        _ => Cause::Ivs,
    };
    let mut api = match err {
        IvsError::NotFound(what) => ApiError::not_found("Stage 不存在", what),
        IvsError::Validation(what) => ApiError::validation("IVS 拒絕了請求參數", what),
        IvsError::QuotaExceeded(what) => stage_limit(what),
        IvsError::Conflict(what) => ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::ValidationError,
            "IVS 資源衝突",
            what,
        ),
        IvsError::Unavailable(what) => {
            tracing::warn!(error = %what, "IVS unavailable");
            ApiError::unavailable("IVS is unavailable, try again")
        }
        IvsError::AccessDenied(what) => {
            tracing::error!(error = %what, "IVS denied access: check the server's IAM policy (docs/aws.md)");
            ApiError::internal()
        }
        IvsError::Token(what) => {
            return ApiError::from(ServiceError::Token(IvsError::Token(what)));
        }
        IvsError::Other(what) => {
            tracing::error!(error = %what, "IVS call failed");
            ApiError::internal()
        }
    };
    api.cause = cause;
    api
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_error_is_named_the_same_from_a_handler_and_from_serde() {
        let errors = [
            IdError::TooLong { max: 121 },
            IdError::ControlCharacter,
            IdError::NotAStageArn("bad region"),
        ];
        for err in errors {
            let text = err.to_string();
            let from_handler = ApiError::from(err);
            assert_eq!(id_error_message(&text), Some(from_handler.message.as_str()));
            assert_eq!(from_handler.code, ErrorCode::ValidationError);
        }
        let empty = ApiError::from(IdError::Empty { field: "stageArn" });
        assert_eq!(empty.message, "缺少必填參數: stageArn");
    }

    #[test]
    fn a_held_arn_that_does_not_parse_is_the_servers_fault() {
        let err = crate::service::held_arn("arn:aws:ivs:nowhere:1:stage/x").unwrap_err();
        assert!(matches!(err, ServiceError::HeldArn { .. }), "{err:?}");
        let api = ApiError::from(err);
        // Not the 400 an id in a request gets: the caller did nothing wrong.
        assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.code, ErrorCode::InternalError);
        assert!(!api.details.contains("nowhere"), "{}", api.details);
        assert!(
            crate::service::held_arn("arn:aws:ivs:us-west-2:123456789012:stage/abcdefABCDEF")
                .is_ok()
        );
    }
}
