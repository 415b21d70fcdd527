//! Turning a vendor's refusal into a typed [`LlmError`], from the HTTP status, the
//! `Retry-After` headers and the vendor's machine-readable error type, never from message text.

use std::time::Duration;

use chatbox_core::LlmError;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// The most characters of a vendor's error message kept for logs.
const MAX_MESSAGE_CHARS: usize = 512;

/// What a vendor's error body says, in vendor-neutral terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VendorKind {
    /// The body says nothing more specific than the status.
    Unspecified,
    /// Bad or missing credentials, or an account that may not use the API.
    Auth,
    /// Rate limited; worth retrying later.
    RateLimited,
    /// The vendor is overloaded or failing.
    Overloaded,
    /// The request is malformed or too large.
    BadRequest,
}

/// Classifies a non-success response.
pub(crate) fn from_status(
    status: StatusCode,
    headers: &HeaderMap,
    kind: VendorKind,
    message: &str,
) -> LlmError {
    let message = truncated(message);
    match kind {
        VendorKind::Auth => return LlmError::Auth,
        VendorKind::RateLimited => {
            return LlmError::RateLimited {
                retry_after: retry_after(headers),
            };
        }
        VendorKind::Overloaded => {
            return LlmError::Overloaded {
                status: status.as_u16(),
            };
        }
        VendorKind::BadRequest if !status.is_server_error() => {
            return LlmError::BadRequest { message };
        }
        VendorKind::BadRequest | VendorKind::Unspecified => {}
    }
    match status.as_u16() {
        401 | 403 => LlmError::Auth,
        429 => LlmError::RateLimited {
            retry_after: retry_after(headers),
        },
        408 | 500..=599 => LlmError::Overloaded {
            status: status.as_u16(),
        },
        _ => LlmError::BadRequest {
            message: if message.is_empty() {
                format!("status {}", status.as_u16())
            } else {
                message
            },
        },
    }
}

/// Classifies an error event received in the middle of a stream (the HTTP status was 200).
pub(crate) fn from_event(kind: VendorKind, status: Option<u16>, message: &str) -> LlmError {
    match (kind, status) {
        (VendorKind::Auth, _) | (_, Some(401 | 403)) => LlmError::Auth,
        (VendorKind::RateLimited, _) | (_, Some(429)) => {
            LlmError::RateLimited { retry_after: None }
        }
        (VendorKind::Overloaded, _) => LlmError::Overloaded {
            status: status.unwrap_or(503),
        },
        (_, Some(status @ 500..=599)) => LlmError::Overloaded { status },
        (VendorKind::BadRequest, _) | (_, Some(400..=499)) => LlmError::BadRequest {
            message: truncated(message),
        },
        _ => LlmError::Protocol(format!("error event: {}", truncated(message))),
    }
}

/// Maps a transport failure (the URL is dropped from the error: it is not needed in logs).
pub(crate) fn from_reqwest(error: reqwest::Error) -> LlmError {
    if error.is_connect() && error.is_timeout() {
        LlmError::Timeout {
            phase: chatbox_core::ports::llm::TimeoutPhase::Connect,
        }
    } else {
        // reqwest reports a body cut short as a "decode" error: it is a broken connection.
        LlmError::Network(Box::new(error.without_url()))
    }
}

/// `retry-after-ms` (fractional milliseconds, OpenAI/Azure) or `retry-after` (seconds).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    text("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn truncated(message: &str) -> String {
    message.chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn statuses_map_to_kinds() {
        let h = HeaderMap::new();
        let u = VendorKind::Unspecified;
        assert!(matches!(
            from_status(status(401), &h, u, ""),
            LlmError::Auth
        ));
        assert!(matches!(
            from_status(status(403), &h, u, ""),
            LlmError::Auth
        ));
        assert!(matches!(
            from_status(status(429), &h, u, ""),
            LlmError::RateLimited { retry_after: None }
        ));
        assert!(matches!(
            from_status(status(529), &h, u, ""),
            LlmError::Overloaded { status: 529 }
        ));
        assert!(matches!(
            from_status(status(502), &h, u, ""),
            LlmError::Overloaded { status: 502 }
        ));
        let LlmError::BadRequest { message } = from_status(status(404), &h, u, "") else {
            panic!("404 is a bad request");
        };
        assert_eq!(message, "status 404");
    }

    #[test]
    fn vendor_kind_refines_the_status() {
        let h = HeaderMap::new();
        assert!(matches!(
            from_status(status(400), &h, VendorKind::Overloaded, "x"),
            LlmError::Overloaded { status: 400 }
        ));
        assert!(matches!(
            from_status(status(429), &h, VendorKind::Auth, "quota"),
            LlmError::Auth
        ));
        assert!(matches!(
            from_status(status(503), &h, VendorKind::BadRequest, "x"),
            LlmError::Overloaded { status: 503 }
        ));
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("retry-after-ms", HeaderValue::from_static("12.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_micros(12_500)));
        h.insert("retry-after-ms", HeaderValue::from_static("NaN"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn error_events_map_by_kind_then_status() {
        assert!(matches!(
            from_event(VendorKind::Overloaded, None, ""),
            LlmError::Overloaded { status: 503 }
        ));
        assert!(matches!(
            from_event(VendorKind::Unspecified, Some(500), ""),
            LlmError::Overloaded { status: 500 }
        ));
        assert!(matches!(
            from_event(VendorKind::Unspecified, None, "boom"),
            LlmError::Protocol(m) if m.contains("boom")
        ));
    }
}
