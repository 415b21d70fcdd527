//! The web UI of CONTRACT §8: the sessions, chat and admin dashboard pages with their scripts and
//! styles, embedded in the binary from `web/public/` and served under the prefix.
//!
//! Every file gets an `ETag` (a hash of its bytes, computed once when the router is built) with
//! `Cache-Control: no-cache`, so browsers revalidate cheaply and never run stale code after an
//! upgrade. Pages get a strict Content Security Policy (no inline code, WebSocket only to the
//! serving host) whose `frame-ancestors` lists `chatbox.parent_origins`, the only origins allowed
//! to embed the chat; the same list is handed to the pages (a `<meta>` tag) so they accept a token
//! posted by the embedding parent from those origins only.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::NestedPath;
use axum::extract::rejection::NestedPathRejection;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page the prefix itself redirects to.
pub const HOME_PAGE: &str = "sessions.html";

/// Placeholder in the pages replaced by the allowed parent origins (space-separated).
const PARENT_ORIGINS_MARK: &str = "__PARENT_ORIGINS__";

/// One embedded file: path under the prefix, media type, content.
struct Source {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const SOURCES: &[Source] = &[
    Source {
        name: "/sessions.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../../web/public/sessions.html"),
    },
    Source {
        name: "/chat.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../../web/public/chat.html"),
    },
    Source {
        name: "/admin.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../../web/public/admin.html"),
    },
    Source {
        name: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../web/public/style.css"),
    },
    Source {
        name: "/api.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/api.js"),
    },
    Source {
        name: "/render.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/render.js"),
    },
    Source {
        name: "/chat.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/chat.js"),
    },
    Source {
        name: "/sessions.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/sessions.js"),
    },
    Source {
        name: "/admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/admin.js"),
    },
    Source {
        name: "/watch.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/watch.js"),
    },
    Source {
        name: "/feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../web/public/feed.js"),
    },
];

/// A file ready to serve.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    body: Bytes,
    etag: HeaderValue,
    page: bool,
}

/// What every page response shares: the policy pieces that do not depend on the request.
#[derive(Debug)]
struct PagePolicy {
    frame_ancestors: String,
    deny_framing: bool,
}

/// The web UI's routes, relative to the prefix: `/` (redirects to the sessions page) and one
/// route per embedded file. `parent_origins` may embed the pages in a frame.
pub fn routes<S>(parent_origins: &[String]) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let origins: Vec<&str> = parent_origins
        .iter()
        .map(String::as_str)
        .filter(|o| is_safe_origin(o))
        .collect();
    let policy = Arc::new(PagePolicy {
        frame_ancestors: if origins.is_empty() {
            "'none'".to_owned()
        } else {
            origins.join(" ")
        },
        deny_framing: origins.is_empty(),
    });
    let meta = html_attr_escape(&origins.join(" "));
    let mut router = Router::new().route("/", get(home));
    for source in SOURCES {
        let page = source.content_type.starts_with("text/html");
        let body = if page {
            source.body.replace(PARENT_ORIGINS_MARK, &meta)
        } else {
            source.body.to_owned()
        };
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(body.as_bytes())))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        let asset = Arc::new(Asset {
            content_type: source.content_type,
            body: Bytes::from(body),
            etag,
            page,
        });
        let policy = Arc::clone(&policy);
        router = router.route(
            source.name,
            get(move |headers: HeaderMap| {
                let asset = Arc::clone(&asset);
                let policy = Arc::clone(&policy);
                async move { respond(&asset, &policy, &headers) }
            }),
        );
    }
    router
}

/// `GET {prefix}/` (with the trailing slash, which a router nested at `prefix` cannot match) as
/// a router to merge at the top level: redirects to the sessions page like `GET P`.
pub fn prefix_slash<S>(prefix: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let prefix = prefix.trim_end_matches('/').to_owned();
    let path = format!("{prefix}/");
    Router::new().route(
        &path,
        get(move |uri: Uri| {
            let prefix = prefix.clone();
            async move { redirect_home(&prefix, &uri) }
        }),
    )
}

/// `GET P`: the sessions page, keeping the query (a `?token=` is consumed by the page).
async fn home(nested: Result<NestedPath, NestedPathRejection>, uri: Uri) -> Response {
    let prefix = nested
        .map(|n| n.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    redirect_home(&prefix, &uri)
}

fn redirect_home(prefix: &str, uri: &Uri) -> Response {
    let mut location = format!("{prefix}/{HOME_PAGE}");
    if let Some(q) = uri.query() {
        location.push('?');
        location.push_str(q);
    }
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, v);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn respond(asset: &Asset, policy: &PagePolicy, request: &HeaderMap) -> Response {
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == asset.etag.as_bytes()
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(asset.body.clone())) // a cheap, shared clone
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, asset.etag.clone());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !fresh {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    }
    if asset.page {
        let csp = content_security_policy(policy, request.get(HOST));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            headers.insert(CONTENT_SECURITY_POLICY, v);
        }
        if policy.deny_framing {
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    response
}

/// The pages' policy. The WebSocket goes to the serving host, named explicitly (from `Host`,
/// when it is a plain host[:port]) because not every browser lets `'self'` cover `ws:`/`wss:`.
fn content_security_policy(policy: &PagePolicy, host: Option<&HeaderValue>) -> String {
    let host = host
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.chars().all(is_host_char));
    let connect = match host {
        Some(h) => format!("'self' ws://{h} wss://{h}"),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob:; connect-src {connect}; frame-ancestors {}; base-uri 'none'; \
         form-action 'none'",
        policy.frame_ancestors
    )
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
}

/// An origin that can go into a header and an attribute as is: `scheme://host[:port]`.
fn is_safe_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && r.chars().all(is_host_char))
}

fn html_attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// FNV-1a (64 bit): a stable, dependency-free content hash for `ETag`s.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_plain_scheme_host_port() {
        assert!(is_safe_origin("https://app.example:8443"));
        assert!(is_safe_origin("http://127.0.0.1:3000"));
        assert!(!is_safe_origin("https://a.example; script-src *"));
        assert!(!is_safe_origin("javascript:alert(1)"));
        assert!(!is_safe_origin("https://"));
    }

    #[test]
    fn every_page_names_the_parents_and_every_file_is_routed() {
        for source in SOURCES
            .iter()
            .filter(|s| s.content_type.starts_with("text/html"))
        {
            assert_eq!(
                source.body.matches(PARENT_ORIGINS_MARK).count(),
                1,
                "{}",
                source.name
            );
        }
        assert_eq!(html_attr_escape("a\"<b>'&"), "a&quot;&lt;b&gt;&#39;&amp;");
        let _router: Router<()> = routes(&["https://a.example".into(), "bad origin".into()]);
        let _slash: Router<()> = prefix_slash("/chatbox");
    }

    #[test]
    fn every_file_of_web_public_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/public");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("web/public is readable")
            .filter_map(Result::ok)
            .map(|e| format!("/{}", e.file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SOURCES.iter().map(|s| s.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn the_policy_names_the_parents_or_forbids_framing() {
        let p = PagePolicy {
            frame_ancestors: "'none'".into(),
            deny_framing: true,
        };
        let host = HeaderValue::from_static("127.0.0.1:8080");
        let csp = content_security_policy(&p, Some(&host));
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080"));
        let evil = HeaderValue::from_static("x.example; script-src *");
        assert!(content_security_policy(&p, Some(&evil)).contains("connect-src 'self';"));
    }
}
