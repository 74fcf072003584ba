//! `GET /openapi.json`: the OpenAPI document of the whole API, served without
//! an API key. The text is `docs/openapi.json` compiled in, so the document
//! served and the one in the repository cannot differ; `tests/it/openapi.rs`
//! checks that it agrees with the routes.

use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// The OpenAPI 3.0 document, as kept in `docs/openapi.json`.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// The `GET /openapi.json` route.
pub fn route() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("openapi.json").and(warp::get()).map(|| {
        let mut res = Response::new(DOCUMENT.into());
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        res
    })
}
