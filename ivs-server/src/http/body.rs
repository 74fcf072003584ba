//! JSON request bodies, bounded in size, with serde's errors turned into the
//! API's `VALIDATION_ERROR` (a missing field is named as the spec's example does).

use bytes::{Buf, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::Filter;

use crate::http::error::ApiError;

/// Rejection for an oversized body.
#[derive(Debug)]
pub struct TooLarge(pub u64);
impl warp::reject::Reject for TooLarge {}

/// Turns a serde error into the API's error.
pub fn decode_error(e: &serde_json::Error) -> ApiError {
    if e.is_eof() && e.line() == 1 && e.column() == 0 {
        return ApiError::validation("請求內容為空", "the request body must be a JSON object");
    }
    decode_text(&e.to_string())
}

/// Turns the text of a serde error (JSON body or query string) into the
/// API's error: a missing field and a refused id (see `ivs_api::IdError`)
/// are named as when the handler reports them itself.
fn decode_text(text: &str) -> ApiError {
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::missing(field);
    }
    // serde_json appends where it stopped; the id's own words are enough.
    let words = text.rsplit_once(" at line ").map_or(text, |(w, _)| w);
    if let Some(message) = crate::http::error::id_error_message(words) {
        return ApiError::validation(message, words);
    }
    ApiError::validation("請求參數格式錯誤", text)
}

/// Extracts the query string as `T` (an absent query string reads as empty,
/// so a missing parameter is reported by name).
pub fn query<T: DeserializeOwned + Send + 'static>(
) -> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move {
            serde_urlencoded::from_str::<T>(&raw)
                .map_err(|e| warp::reject::custom(decode_text(&e.to_string())))
        })
}

/// The bounds on a request body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body, bytes.
    pub max_bytes: u64,
    /// Longest a client may take to send it (slow-loris bound).
    pub timeout: std::time::Duration,
}

impl From<&crate::config::Limits> for BodyLimits {
    fn from(l: &crate::config::Limits) -> Self {
        BodyLimits {
            max_bytes: l.max_body_bytes,
            timeout: l.body_timeout,
        }
    }
}

async fn collect<S, B>(stream: S, limit: u64) -> Result<BytesMut, warp::Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = BytesMut::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| {
            warp::reject::custom(ApiError::validation(
                "請求內容讀取失敗",
                "the request body could not be read",
            ))
        })?;
        if body.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(warp::reject::custom(TooLarge(limit)));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            body.extend_from_slice(part);
            chunk.advance(n);
        }
    }
    Ok(body)
}

/// Extracts a JSON body of at most `limit` bytes as `T`.
pub fn json<T: DeserializeOwned + Send + 'static>(
    limits: BodyLimits,
) -> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    let limit = limits.max_bytes;
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<u64>("content-length"))
        .and_then(move |ctype: Option<String>, len: Option<u64>| async move {
            if let Some(ct) = ctype {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                if essence != "application/json" && !essence.ends_with("+json") {
                    return Err(warp::reject::custom(ApiError::validation(
                        "Content-Type 錯誤",
                        "Content-Type must be application/json",
                    )));
                }
            }
            if len.is_some_and(|n| n > limit) {
                return Err(warp::reject::custom(TooLarge(limit)));
            }
            Ok(())
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(move |stream| async move {
            let bytes = tokio::time::timeout(limits.timeout, collect(stream, limit))
                .await
                .map_err(|_| {
                    warp::reject::custom(ApiError::new(
                        warp::http::StatusCode::REQUEST_TIMEOUT,
                        ivs_api::ErrorCode::ValidationError,
                        "請求逾時",
                        format!(
                            "the request body was not received within {} s",
                            limits.timeout.as_secs_f32()
                        ),
                    ))
                })??;
            serde_json::from_slice::<T>(&bytes).map_err(|e| warp::reject::custom(decode_error(&e)))
        })
}
