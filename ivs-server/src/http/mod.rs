//! The HTTP surface: one filter per route, assembled in [`routes`].
//!
//! Filters match the path before the method, so an unknown path is a 404 and
//! a known path with the wrong method a 405. Handlers are one call into
//! [`App`]; their `ApiError`s become responses right there, and everything
//! warp rejects is mapped by [`rejection::handle`].
//!
//! Each route is built with its metrics handle ([`Route`], labelled with the
//! route's template) and tags its responses with it; the access wrapper in
//! [`routes`] records every request under the tag it comes back with, or
//! under `other` when no route answered (unknown paths, rejections).

pub mod auth;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod openapi;
pub mod rejection;
pub mod route_table;
pub mod ws;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivs_api::{
    CreateStageRequest, Envelope, StageArn, TokenRequest, UpdateStageRequest, ViewerRef,
};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use warp::filters::path::Tail;
use warp::http::header::{HeaderName, HeaderValue};
use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::metrics::{FleetView, Metrics, Route, OTHER_ROUTE};
use crate::service::{App, ServiceError};
use auth::{Caller, KeyRing};
use error::{rate_headers, ApiError, Cause};
use ws::StatsHub;

/// A success body in the envelope, or the error.
fn reply<T: Serialize>(app: &App, result: Result<T, ServiceError>) -> Response {
    match result {
        Ok(data) => warp::reply::json(&Envelope::ok(data)).into_response(),
        Err(e) => fail(app, e.into()),
    }
}

/// An error response, counted against the dependency that caused it.
fn fail(app: &App, e: ApiError) -> Response {
    match e.cause {
        Cause::Store => Metrics::inc(&app.metrics().store_errors),
        Cause::Ivs => Metrics::inc(&app.metrics().ivs_errors),
        _ => {}
    }
    e.into_response()
}

/// A response and the route that produced it (for the access metrics).
struct Routed {
    res: Response,
    route: Route,
}

/// Tags `filter`'s responses with the metrics handle of the route labelled
/// `label` (its template: never a raw path, which would make the label set
/// unbounded and put ARNs in it).
fn labelled<F>(
    app: &App,
    label: &'static str,
    filter: F,
) -> impl Filter<Extract = (Routed,), Error = Rejection> + Clone
where
    F: Filter<Extract = (Response,), Error = Rejection> + Clone,
{
    let route = app.metrics().route(label);
    filter.map(move |res| Routed {
        res,
        route: route.clone(),
    })
}

fn with_app(app: Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

/// The rest of the path, percent-decoded and parsed as a stage ARN. Accepts
/// the ARN URL-encoded (one segment) and raw (with its `/`).
fn arn_tail() -> impl Filter<Extract = (StageArn,), Error = Rejection> + Clone {
    warp::path::tail().and_then(|tail: Tail| async move {
        // No ARN at all is not this route: the sibling routes' rejections
        // (e.g. `POST /api/stage`'s body errors) must win over "missing stageArn".
        if tail.as_str().is_empty() {
            return Err(warp::reject::not_found());
        }
        let decoded = percent_decode_str(tail.as_str())
            .decode_utf8()
            .map_err(|_| {
                warp::reject::custom(ApiError::validation(
                    "stageArn 格式錯誤",
                    "stageArn is not valid UTF-8",
                ))
            })?;
        decoded
            .parse::<StageArn>()
            .map_err(|e| warp::reject::custom(ApiError::from(e)))
    })
}

fn query() -> impl Filter<Extract = (HashMap<String, String>,), Error = Rejection> + Clone {
    warp::query::<HashMap<String, String>>()
}

fn token_routes(
    app: Arc<App>,
    limit: body::BodyLimits,
) -> impl Filter<Extract = (Routed,), Error = Rejection> + Clone {
    let publisher = warp::path!("publisher")
        .and(warp::post())
        .and(body::json::<TokenRequest>(limit))
        .and(with_app(app.clone()))
        .then(|req, app: Arc<App>| async move { reply(&app, app.publisher_token(req).await) });
    let viewer = warp::path!("viewer")
        .and(warp::post())
        .and(body::json::<TokenRequest>(limit))
        .and(with_app(app.clone()))
        .then(|req, app: Arc<App>| async move { reply(&app, app.viewer_token(req).await) });
    let publisher = labelled(&app, "/api/token/publisher", publisher);
    let viewer = labelled(&app, "/api/token/viewer", viewer);
    warp::path("token").and(publisher.or(viewer).unify())
}

fn stage_routes(
    app: Arc<App>,
    limit: body::BodyLimits,
) -> impl Filter<Extract = (Routed,), Error = Rejection> + Clone {
    let list = warp::path!("list")
        .and(warp::get())
        .and(query())
        .and(with_app(app.clone()))
        .then(|q: HashMap<String, String>, app: Arc<App>| async move {
            let max = match q.get("maxResults").map(|v| v.parse::<u32>()) {
                None => None,
                Some(Ok(n)) => Some(n),
                Some(Err(_)) => {
                    return ApiError::validation(
                        "maxResults 格式錯誤",
                        "maxResults must be a positive integer",
                    )
                    .into_response()
                }
            };
            reply(
                &app,
                app.list_stages(max, q.get("nextToken").map(String::as_str))
                    .await,
            )
        });
    let master = warp::path!("master" / "info")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { reply(&app, app.master_info().await) });
    let create = warp::path::end()
        .and(warp::post())
        .and(body::json::<CreateStageRequest>(limit))
        .and(with_app(app.clone()))
        .then(|req, app: Arc<App>| async move { reply(&app, app.create_stage(req).await) });
    let get = arn_tail().and(warp::get()).and(with_app(app.clone())).then(
        |arn: StageArn, app: Arc<App>| async move { reply(&app, app.stage_info(&arn).await) },
    );
    let update = arn_tail()
        .and(warp::put())
        .and(body::json::<UpdateStageRequest>(limit))
        .and(with_app(app.clone()))
        .then(|arn: StageArn, req, app: Arc<App>| async move {
            reply(&app, app.rename_stage(&arn, req).await)
        });
    let delete = arn_tail()
        .and(warp::delete())
        .and(with_app(app.clone()))
        .then(|arn: StageArn, app: Arc<App>| async move {
            match app.delete_stage(&arn).await {
                Ok(done) => warp::reply::json(&done).into_response(),
                Err(e) => fail(&app, e.into()),
            }
        });
    let list = labelled(&app, "/api/stage/list", list);
    let master = labelled(&app, "/api/stage/master/info", master);
    let create = labelled(&app, "/api/stage", create);
    // One template for the three methods on a stage: their handles share
    // the same series.
    let get = labelled(&app, "/api/stage/:stageArn", get);
    let update = labelled(&app, "/api/stage/:stageArn", update);
    let delete = labelled(&app, "/api/stage/:stageArn", delete);
    warp::path("stage").and(
        list.or(master)
            .unify()
            .or(create)
            .unify()
            .or(get)
            .unify()
            .or(update)
            .unify()
            .or(delete)
            .unify(),
    )
}

fn viewer_routes(
    app: Arc<App>,
    limit: body::BodyLimits,
) -> impl Filter<Extract = (Routed,), Error = Rejection> + Clone {
    let heartbeat = warp::path!("heartbeat")
        .and(warp::post())
        .and(body::json::<ViewerRef>(limit))
        .and(with_app(app.clone()))
        .then(|r: ViewerRef, app: Arc<App>| async move { reply(&app, app.heartbeat(r).await) });
    let leave = warp::path!("leave")
        .and(warp::post())
        .and(body::json::<ViewerRef>(limit))
        .and(with_app(app.clone()))
        .then(|r: ViewerRef, app: Arc<App>| async move { reply(&app, app.leave(r).await) });
    let list = warp::path("list")
        .and(arn_tail())
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(
            |arn: StageArn, app: Arc<App>| async move { reply(&app, app.viewer_list(&arn).await) },
        );
    let duration = warp::path!("duration")
        .and(warp::get())
        .and(body::query::<ViewerRef>())
        .and(with_app(app.clone()))
        .then(
            |r: ViewerRef, app: Arc<App>| async move { reply(&app, app.watch_duration(r).await) },
        );
    let heartbeat = labelled(&app, "/api/viewer/heartbeat", heartbeat);
    let leave = labelled(&app, "/api/viewer/leave", leave);
    let list = labelled(&app, "/api/viewer/list/:stageArn", list);
    let duration = labelled(&app, "/api/viewer/duration", duration);
    warp::path("viewer").and(
        heartbeat
            .or(leave)
            .unify()
            .or(list)
            .unify()
            .or(duration)
            .unify(),
    )
}

fn stats_routes(app: Arc<App>) -> impl Filter<Extract = (Routed,), Error = Rejection> + Clone {
    let overall = warp::path::end()
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { reply(&app, app.stats().await) });
    let viewers = warp::path!("viewers")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { reply(&app, app.viewer_stats().await) });
    let stages = warp::path!("stages")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { reply(&app, app.stage_stats().await) });
    let stage = warp::path("stages")
        .and(arn_tail())
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|arn: StageArn, app: Arc<App>| async move {
            reply(&app, app.one_stage_stats(&arn).await)
        });
    let publisher = warp::path!("publisher")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            reply(&app, Ok::<_, ServiceError>(app.publisher_status().await))
        });
    let overall = labelled(&app, "/api/stats", overall);
    let viewers = labelled(&app, "/api/stats/viewers", viewers);
    let stages = labelled(&app, "/api/stats/stages", stages);
    let stage = labelled(&app, "/api/stats/stages/:stageArn", stage);
    let publisher = labelled(&app, "/api/stats/publisher", publisher);
    warp::path("stats").and(
        overall
            .or(viewers)
            .unify()
            .or(stages)
            .unify()
            .or(stage)
            .unify()
            .or(publisher)
            .unify(),
    )
}

/// Every route of the API, with rejections mapped to the API's error format.
pub fn routes(
    app: Arc<App>,
    keys: Arc<KeyRing>,
    hub: StatsHub,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let limit = body::BodyLimits::from(&app.settings().limits);
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move {
            let (ok, health) = app.health().await;
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(warp::reply::json(&health), status).into_response()
        });
    // The viewer routes first: heartbeats are most of the traffic. Each
    // group is boxed, so that the `or` chain's future holds a pointer per
    // group instead of every route's future state inline, which hyper
    // would otherwise move (memcpy) at every poll (docs/performance.md).
    let inner = viewer_routes(app.clone(), limit)
        .boxed()
        .or(token_routes(app.clone(), limit).boxed())
        .unify()
        .or(stage_routes(app.clone(), limit).boxed())
        .unify()
        .or(stats_routes(app.clone()).boxed())
        .unify();
    let api = warp::path("api")
        .and(auth::api_key(app.clone(), keys.clone()))
        .and(inner)
        .map(|caller: Caller, mut routed: Routed| {
            rate_headers(&mut routed.res, &caller.rate);
            routed
        });
    // Before the `api` group: it authenticates itself (the ticket is signed
    // for the caller's key), and a path that is not its own costs nothing.
    let ws_ticket = labelled(
        &app,
        "/api/ws-ticket",
        ws_ticket_route(app.clone(), keys.clone()),
    );
    let health = labelled(&app, "/health", health);
    let dashboard = labelled(&app, "/dashboard", dashboard::route(app.settings()));
    let openapi = labelled(&app, "/openapi.json", openapi::route());
    let metrics = labelled(&app, "/metrics", metrics_route(app.clone(), keys.clone()));
    let ws = labelled(&app, "/ws", ws::route(app.clone(), keys, hub));
    let other = app.metrics().route(OTHER_ROUTE);
    let observed = app.clone();
    warp::any()
        .map(Instant::now)
        .and(warp::method())
        .and(
            health
                .or(openapi)
                .unify()
                .or(ws_ticket)
                .unify()
                .or(api)
                .unify()
                .or(metrics)
                .unify()
                .or(ws)
                .unify()
                .or(dashboard)
                .unify()
                .or_else(move |rejection| {
                    let route = other.clone();
                    async move {
                        let Ok(res) = rejection::handle(rejection).await;
                        Ok::<_, Infallible>((Routed { res, route },))
                    }
                }),
        )
        .map(move |started: Instant, method: Method, routed: Routed| {
            observed.metrics().observe(
                &routed.route,
                &method,
                routed.res.status().as_u16(),
                started.elapsed(),
            );
            routed.res
        })
}

/// `POST /api/ws-ticket`: a single-use ticket for one `/ws` connection.
fn ws_ticket_route(
    app: Arc<App>,
    keys: Arc<KeyRing>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("api" / "ws-ticket")
        .and(warp::post())
        .and(auth::api_key(app, keys.clone()))
        .map(move |caller: Caller| {
            let mut res = match auth::ticket::issue(&keys, &caller, crate::service::now_ms()) {
                Ok((ticket, ttl)) => warp::reply::json(&Envelope::ok(
                    ivs_api::WsTicket::builder()
                        .ticket(ticket)
                        .expires_in(ttl.as_secs() as u32)
                        .build(),
                ))
                .into_response(),
                Err(e) => e.into_response(),
            };
            res.headers_mut().insert(
                warp::http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            rate_headers(&mut res, &caller.rate);
            res
        })
}

/// The header carrying a request's id, in the request and in its response.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of `req`: the client's `x-request-id` when it is 1 to 64 visible
/// ASCII characters (no spaces, so it is one word in a log line), else a new
/// random one of 12 letters and digits. The connection layer (`crate::conn`)
/// puts it on the response and in the request span.
///
/// When the client sent one, this is a reference-count increment (hyper's
/// header values share the read buffer), not an allocation: it runs on
/// every request.
pub fn request_id<B>(req: &warp::http::Request<B>) -> HeaderValue {
    match req.headers().get(&REQUEST_ID_HEADER) {
        Some(id) if is_valid_request_id(id.as_bytes()) => id.clone(),
        _ => HeaderValue::try_from(crate::service::random_id(12))
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-id")),
    }
}

/// 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters (`!` to `~`).
fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len()) && id.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// The span a request is served in. DEBUG, as tower-http's request spans: at
/// the default filter it is never built, which was ~8 % of a heartbeat's
/// instructions (docs/performance.md). Enable it with
/// RUST_LOG=info,ivs_server::request=debug (docs/operations.md). The server's
/// connection layer (`crate::conn`) enters it around the whole request.
/// `id` is the request's [`request_id`].
pub fn request_span<B>(req: &warp::http::Request<B>, id: &HeaderValue) -> tracing::Span {
    if !tracing::enabled!(target: "ivs_server::request", tracing::Level::DEBUG) {
        return tracing::Span::none();
    }
    // Keys and tokens never appear here: the path carries no query string,
    // and headers are not recorded. A request id is visible ASCII.
    let id = id.to_str().unwrap_or("invalid-id");
    tracing::debug_span!(
        target: "ivs_server::request",
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path()
    )
}

/// Longest a scrape waits for IVS to say whether the publisher is live.
const PUBLISHER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /metrics`: Prometheus text. Needs an API key unless `IVS_METRICS_PUBLIC`.
fn metrics_route(
    app: Arc<App>,
    keys: Arc<KeyRing>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("metrics")
        .and(warp::get())
        .and(warp::header::optional::<String>("x-api-key"))
        .and(with_app(app))
        .then(move |key: Option<String>, app: Arc<App>| {
            let keys = keys.clone();
            async move {
                if !app.settings().metrics_public {
                    if let Err(e) = keys.verify(key.as_deref()) {
                        return e.into_response();
                    }
                }
                // The fleet's view, read now: the store's stages and IVS's
                // word on the publisher, side by side. IVS may take up to its
                // own bound (~26 s), longer than scrapers wait: past
                // PUBLISHER_READ_TIMEOUT the gauge is left out, not the scrape.
                let (stages, publisher_live) = tokio::join!(
                    app.store().stages(),
                    tokio::time::timeout(PUBLISHER_READ_TIMEOUT, app.publisher_live())
                );
                let publisher_live = publisher_live.ok();
                let stages = match stages {
                    Ok(stages) => stages,
                    Err(e) => return ApiError::from(e).into_response(),
                };
                let fleet = FleetView {
                    stages: &stages,
                    publisher_live,
                };
                match app.metrics().render(&fleet) {
                    Ok(body) => {
                        warp::reply::with_header(body, "content-type", crate::metrics::CONTENT_TYPE)
                            .into_response()
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "metrics could not be encoded");
                        ApiError::internal().into_response()
                    }
                }
            }
        })
}

#[cfg(test)]
mod request_id_tests {
    use super::*;

    fn with_id(id: &[u8]) -> warp::http::Request<()> {
        let mut req = warp::http::Request::new(());
        req.headers_mut()
            .insert(REQUEST_ID_HEADER, HeaderValue::from_bytes(id).unwrap());
        req
    }

    #[test]
    fn a_valid_client_id_is_kept_and_others_are_replaced() {
        assert_eq!(request_id(&with_id(b"req-42")), "req-42");
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(request_id(&with_id(longest.as_bytes())), longest.as_str());
        for bad in [
            "a".repeat(MAX_REQUEST_ID_LEN + 1).into_bytes(),
            b"has space".to_vec(),
            b"tab\there".to_vec(),
            b"caf\xc3\xa9".to_vec(),
        ] {
            let id = request_id(&with_id(&bad));
            assert_ne!(id.as_bytes(), bad.as_slice());
            assert_eq!(id.len(), 12, "{id:?}");
            assert!(
                id.as_bytes().iter().all(u8::is_ascii_alphanumeric),
                "{id:?}"
            );
        }
        let none = request_id(&warp::http::Request::new(()));
        assert_eq!(none.len(), 12);
        assert_ne!(none, request_id(&warp::http::Request::new(())));
    }
}
