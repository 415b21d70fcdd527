//! The HTTP side shared by the SMS and webhook channels: a client whose every request has a
//! deadline and never follows redirects, and the one mapping from HTTP outcomes to
//! [`NotifyError`].
//!
//! | outcome | error |
//! |---|---|
//! | connect failure, timeout, broken connection, 408, 425, 429, 5xx | `Unavailable` |
//! | 401, 403 (credentials or signature refused) | `Config` |
//! | any other 3xx or 4xx | `Rejected` |
//!
//! Redirects are refused because a `POST` redirected would be replayed as a `GET` (or, for a
//! webhook, sent with its signature to a host nobody configured). Error texts carry the status
//! and at most [`DETAIL_CHARS`] characters of the provider's explanation, never the request.

use std::time::Duration;

use chatbox_core::NotifyError;
use reqwest::StatusCode;

use crate::template::excerpt;

/// Most characters of a provider's error text kept in an error.
const DETAIL_CHARS: usize = 200;
/// Most bytes of an error response read to find that text.
const DETAIL_BYTES: usize = 4 * 1024;

/// A client for one channel: `timeout` bounds each whole request, connect included.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("chatbox-notify/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A failed send: building the request is a config problem, everything else is transient. The
/// URL is dropped from the error, since a webhook URL may carry a token in its path or query.
pub(crate) fn send_error(e: reqwest::Error) -> NotifyError {
    if e.is_builder() {
        NotifyError::Config(format!("cannot build the request: {}", e.without_url()))
    } else {
        NotifyError::Unavailable(Box::new(e.without_url()))
    }
}

/// Success for a 2xx response, else the classified error with the provider's explanation.
pub(crate) async fn check(mut response: reqwest::Response) -> Result<(), NotifyError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let mut body = Vec::new();
    // The explanation is best effort: a body that fails or times out leaves it empty.
    while body.len() < DETAIL_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    Err(classify(status, &detail(&body)))
}

/// The error for a non-2xx `status`; `detail` is the provider's explanation (may be empty).
pub(crate) fn classify(status: StatusCode, detail: &str) -> NotifyError {
    let text = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    match status.as_u16() {
        408 | 425 | 429 | 500..=599 => NotifyError::Unavailable(text.into()),
        401 | 403 => NotifyError::Config(format!("credentials refused ({text})")),
        _ => NotifyError::Rejected(text),
    }
}

/// `url` without path, query or credentials (`https://host:port/…`), for `Debug` output: a
/// webhook URL may carry a token.
pub(crate) fn origin(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
        Err(_) => "<invalid URL>".to_owned(),
    }
}

/// The `message` (and `code`) of a JSON error body such as Twilio's, else the body's text; one
/// line, bounded.
fn detail(body: &[u8]) -> String {
    let json = serde_json::from_slice::<serde_json::Value>(body).ok();
    let message = json
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(serde_json::Value::as_str);
    let code = json.as_ref().and_then(|v| v.get("code")).and_then(|c| {
        c.as_i64()
            .map(|n| n.to_string())
            .or_else(|| c.as_str().map(str::to_owned))
    });
    let text = match (message, code) {
        (Some(m), Some(c)) => format!("{m} (code {c})"),
        (Some(m), None) => m.to_owned(),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    excerpt(&text, DETAIL_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_kinds() {
        for s in [408, 425, 429, 500, 502, 503, 599] {
            let e = classify(StatusCode::from_u16(s).expect("status"), "");
            assert!(e.is_transient(), "{s}: {e:?}");
        }
        for s in [401, 403] {
            let e = classify(StatusCode::from_u16(s).expect("status"), "");
            assert!(matches!(e, NotifyError::Config(_)), "{s}: {e:?}");
        }
        for s in [301, 400, 404, 410, 422] {
            let e = classify(StatusCode::from_u16(s).expect("status"), "x");
            assert!(
                matches!(e, NotifyError::Rejected(ref t) if t.contains("x")),
                "{s}: {e:?}"
            );
        }
    }

    #[test]
    fn the_origin_drops_path_query_and_credentials() {
        assert_eq!(
            origin("https://user:pw@hooks.example:8443/T000/B000/XXXX?token=t"),
            "https://hooks.example:8443/…"
        );
        assert_eq!(origin("not a url"), "<invalid URL>");
    }

    #[test]
    fn the_detail_prefers_a_json_message_and_is_bounded() {
        let twilio = br#"{"code":21211,"message":"The 'To' number is not valid.","status":400}"#;
        assert_eq!(detail(twilio), "The 'To' number is not valid. (code 21211)");
        assert_eq!(detail(b"  plain\nfailure "), "plain failure");
        let long = "x".repeat(DETAIL_CHARS * 3);
        assert_eq!(detail(long.as_bytes()).chars().count(), DETAIL_CHARS);
    }
}
