//! CORS for the REST API, so a host app on another origin can call `P/sessions` from the browser.
//! The rules are the Go service's: the listed origins only (never `*`, since credentials are
//! allowed), its methods and headers, `Content-Length` exposed, preflight cached for 12 hours.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The layer for `origins`, or `None` when the list is empty (no CORS headers at all).
pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::ORIGIN,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::AUTHORIZATION,
            ])
            .expose_headers([HeaderName::from_static("content-length")])
            .allow_credentials(true)
            .max_age(Duration::from_secs(12 * 3600)),
    )
}
