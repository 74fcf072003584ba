//! `GET /dashboard`: a live dashboard page, embedded in the binary (no CDN,
//! no build step: plain HTML, CSS, JavaScript and SVG under this folder).
//!
//! The page itself is public, like `/health`: it holds no data. Everything
//! it shows comes from the API with the key the user enters
//! (docs/dashboard.md). Every answer carries a strict Content-Security-Policy
//! (only this origin; no inline script or style, no framing) and `nosniff`.

use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::config::Settings;

const HTML: &str = include_str!("index.html");
const CSS: &str = include_str!("app.css");
const JS: &str = include_str!("app.js");
const ICON: &str = include_str!("icon.svg");

/// The policy of every dashboard answer. `connect-src 'self'` covers the
/// page's own `ws:`/`wss:` origin (CSP Level 3).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The page with this server's limits (capacity, threshold, stage limit) filled in.
fn page(settings: &Settings) -> String {
    let limits = &settings.limits;
    HTML.replace("{{capacity}}", &limits.viewers_per_stage.to_string())
        .replace("{{threshold}}", &limits.scale_up_threshold.to_string())
        .replace("{{max_stages}}", &limits.max_stages.to_string())
}

fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Small files that change with each release: revalidated every time.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h
}

fn asset(body: impl Reply, content_type: &'static str) -> Response {
    let mut res = warp::reply::with_header(body, CONTENT_TYPE, content_type).into_response();
    res.headers_mut().extend(security_headers());
    res
}

/// `GET /dashboard` and its assets under `/dashboard/`.
pub fn route(settings: &Settings) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let html = page(settings);
    let index = warp::path!("dashboard")
        .and(warp::get())
        .map(move || asset(html.clone(), "text/html; charset=utf-8"));
    let file =
        warp::path!("dashboard" / String)
            .and(warp::get())
            .and_then(|name: String| async move {
                let res = match name.as_str() {
                    "app.js" => asset(JS, "text/javascript; charset=utf-8"),
                    "app.css" => asset(CSS, "text/css; charset=utf-8"),
                    "icon.svg" => asset(ICON, "image/svg+xml"),
                    _ => return Err(warp::reject::not_found()),
                };
                Ok(res)
            });
    index.or(file).unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_the_limits_and_no_inline_script_or_style() {
        let html = page(&Settings::default());
        assert!(!html.contains("{{"), "a placeholder was left");
        assert!(html.contains(r#"data-capacity="50""#));
        assert!(html.contains(r#"data-threshold="45""#));
        // A strict CSP would block these; better not to write them.
        for inline in ["<style", "style=", "onclick", "onload", "javascript:"] {
            assert!(!html.contains(inline), "{inline} in the page");
        }
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<script src="/dashboard/app.js" defer></script>"#));
        for id in [
            "api-key",
            "total-viewers",
            "active-stages",
            "publisher-live",
            "connection-status",
            "viewers-chart",
            "events",
        ] {
            assert!(html.contains(&format!(r#"data-testid="{id}""#)), "{id}");
        }
        assert!(JS.contains("'data-testid': 'stage-row'"));
        // No origin but this one: nothing absolute over the network.
        for text in [HTML, CSS, JS, ICON] {
            // The SVG namespace is a name, never fetched.
            let text = text.replace("http://www.w3.org/2000/svg", "");
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
    }
}
