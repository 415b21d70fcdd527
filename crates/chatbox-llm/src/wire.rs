//! The seam between the shared streaming engine and one vendor's wire format.
//!
//! A [`Wire`] builds the vendor's HTTP requests and classifies its refusals; its [`Decode`]
//! turns parsed SSE events into vendor-neutral [`Decoded`] items. Everything else (retries,
//! deadlines, usage estimates, cancellation, health) is shared in [`crate::stream`] and
//! [`crate::provider`], so the three vendors cannot drift apart in behaviour. Images travel
//! inline as [`base64`], never as a URL the vendor would fetch.

use chatbox_core::LlmError;
use chatbox_core::ports::llm::{AudioInput, ChatRequest};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};

use crate::sse::Event;

/// One vendor-neutral item decoded from an SSE event.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A text delta.
    Text(String),
    /// Token usage, either part possibly missing (later reports replace earlier ones).
    Usage {
        /// Prompt tokens, if reported.
        input: Option<u64>,
        /// Completion tokens so far, if reported.
        output: Option<u64>,
    },
    /// The vendor's terminator: the reply is complete.
    Done,
    /// The vendor reported a failure inside the stream.
    Error(LlmError),
}

/// Decodes one reply's events.
pub(crate) trait Decode: Send + 'static {
    /// Decodes one event, appending what it means to `out`.
    fn event(&mut self, event: &Event<'_>, out: &mut Vec<Decoded>);
}

/// One vendor's requests and error format.
pub(crate) trait Wire: Send + Sync + 'static {
    /// The per-reply decoder.
    type Decoder: Decode;

    /// The vendor name for logs.
    fn vendor(&self) -> &'static str;

    /// The streaming chat request (URL, headers and body).
    fn chat_request(&self, http: &reqwest::Client, request: &ChatRequest) -> RequestBuilder;

    /// A decoder for one reply to `request`.
    fn decoder(&self, request: &ChatRequest) -> Self::Decoder;

    /// Classifies a non-success response to `request`.
    fn classify(
        &self,
        request: &ChatRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> LlmError;

    /// Characters of prompt actually sent for `request` (for usage estimates).
    fn prompt_chars(&self, request: &ChatRequest) -> usize;

    /// A free request that shows whether the vendor is reachable and accepts the key.
    fn health_request(&self, http: &reqwest::Client) -> RequestBuilder;

    /// The transcription request, or `None` when this provider has no transcription.
    fn transcription_request(
        &self,
        http: &reqwest::Client,
        audio: &AudioInput,
    ) -> Option<Result<RequestBuilder, LlmError>> {
        let _ = (http, audio);
        None
    }
}

/// `base` with `segments` appended to its path, its query (Azure's `api-version`) kept.
pub(crate) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// A header value holding a secret, marked sensitive so it is never printed.
pub(crate) fn secret_header(value: &str) -> HeaderValue {
    let mut value = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// The standard base64 alphabet (RFC 4648 §4).
const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` in standard, padded base64 (RFC 4648 §4), as vendors take inline image data.
pub(crate) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // Each index is six bits, so always within the 64-entry alphabet.
        let sextet = |shift: u32| char::from(BASE64_ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if group.len() > 1 { sextet(6) } else { '=' });
        out.push(if group.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_appends_segments_and_keeps_the_query() {
        let base =
            Url::parse("https://x.openai.azure.com/openai/deployments/gpt/?api-version=2024-10-21")
                .unwrap();
        assert_eq!(
            join(&base, &["chat", "completions"]).as_str(),
            "https://x.openai.azure.com/openai/deployments/gpt/chat/completions?api-version=2024-10-21"
        );
        let plain = Url::parse("http://127.0.0.1:9/v1").unwrap();
        assert_eq!(
            join(&plain, &["messages"]).as_str(),
            "http://127.0.0.1:9/v1/messages"
        );
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x3e]), "//4+");
    }

    #[test]
    fn secret_headers_are_sensitive() {
        assert!(secret_header("Bearer k").is_sensitive());
    }
}
