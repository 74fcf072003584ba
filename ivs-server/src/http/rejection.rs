//! Maps every rejection warp can produce to the API's error body, so no
//! request ever gets warp's plain-text default or a 500 for bad input.

use std::convert::Infallible;

use ivs_api::ErrorCode;
use warp::http::StatusCode;
use warp::reject;
use warp::{Rejection, Reply};

use super::body::TooLarge;
use crate::http::error::ApiError;

/// The rejection handler installed with `.recover`.
pub async fn handle(err: Rejection) -> Result<warp::reply::Response, Infallible> {
    Ok(to_error(&err).into_response())
}

fn to_error(err: &Rejection) -> ApiError {
    if let Some(e) = err.find::<ApiError>() {
        return e.clone();
    }
    if err.is_not_found() {
        return ApiError::not_found(
            "找不到此路徑",
            "no such route; see docs/openapi.json or README.md",
        );
    }
    if let Some(TooLarge(limit)) = err.find::<TooLarge>() {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ValidationError,
            "請求內容過大",
            format!("the request body must be at most {limit} bytes"),
        );
    }
    if err.find::<reject::MethodNotAllowed>().is_some() {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::ValidationError,
            "不支援此 HTTP 方法",
            "this route does not accept that HTTP method",
        );
    }
    if err.find::<reject::PayloadTooLarge>().is_some() {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ValidationError,
            "請求內容過大",
            "the request body is too large",
        );
    }
    if err.find::<reject::InvalidQuery>().is_some() {
        return ApiError::validation("查詢參數格式錯誤", "the query string could not be parsed");
    }
    if let Some(h) = err.find::<reject::InvalidHeader>() {
        return ApiError::validation("標頭格式錯誤", format!("header {} is invalid", h.name()));
    }
    if let Some(h) = err.find::<reject::MissingHeader>() {
        return ApiError::validation("缺少標頭", format!("header {} is required", h.name()));
    }
    if err.find::<reject::UnsupportedMediaType>().is_some() {
        return ApiError::validation("Content-Type 錯誤", "Content-Type must be application/json");
    }
    if err.find::<reject::LengthRequired>().is_some() {
        return ApiError::new(
            StatusCode::LENGTH_REQUIRED,
            ErrorCode::ValidationError,
            "缺少 Content-Length",
            "a content-length header is required",
        );
    }
    // What remains are malformed protocol requests (e.g. a WebSocket upgrade
    // without its headers): the caller's fault, never a server error.
    tracing::debug!(rejection = ?err, "unmapped rejection answered as 400");
    ApiError::validation("請求格式錯誤", "the request is malformed")
}
