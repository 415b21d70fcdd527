//! The Anthropic Messages wire format: `POST {endpoint}/messages` with `stream: true`.
//!
//! The system prompt goes in the `system` field (never turned into a user turn); the bounded
//! history is reshaped to alternate user/assistant starting with a user turn, as the API
//! requires. Input tokens come from `message_start`, output tokens from `message_delta`;
//! `message_stop` is the terminator and an `error` event (e.g. `overloaded_error`) a failure.
//! With `vision` on, a user turn with images is a content array: one base64 `image` block per
//! image, then its `text` block.

use std::borrow::Cow;

use chatbox_core::LlmError;
use chatbox_core::ports::llm::{ChatRequest, Role};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::classify::{self, VendorKind};
use crate::config::{HistoryConfig, ProviderConfig};
use crate::history;
use crate::sse::Event;
use crate::wire::{Decode, Decoded, Wire, base64, join, secret_header};

/// The API version header value this client speaks.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The Anthropic vendor.
pub(crate) struct Anthropic {
    messages_url: Url,
    models_url: Url,
    api_key: HeaderValue,
    model: String,
    max_output_tokens: u32,
    vision: bool,
    history: HistoryConfig,
}

impl Anthropic {
    pub(crate) fn new(config: &ProviderConfig, endpoint: &Url) -> Self {
        Self {
            messages_url: join(endpoint, &["messages"]),
            models_url: join(endpoint, &["models"]),
            api_key: secret_header(&config.api_key),
            model: config.model.clone(),
            max_output_tokens: config.max_output_tokens,
            vision: config.vision,
            history: config.history.clone(),
        }
    }

    fn authorized(&self, builder: RequestBuilder) -> RequestBuilder {
        builder
            .header("x-api-key", self.api_key.clone())
            .header("anthropic-version", ANTHROPIC_VERSION)
    }

    /// The JSON body of a messages request.
    pub(crate) fn body<'a>(&'a self, request: &'a ChatRequest) -> MessagesBody<'a> {
        let turns = history::alternating(history::bounded(&request.messages, &self.history));
        MessagesBody {
            model: &self.model,
            max_tokens: self.max_output_tokens,
            system: request.system_prompt.as_deref(),
            messages: turns
                .into_iter()
                .map(|turn| Message {
                    role: match turn.role {
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    },
                    content: self.content(turn),
                })
                .collect(),
            stream: true,
            metadata: (!request.user_key.is_empty()).then_some(Metadata {
                user_id: &request.user_key,
            }),
        }
    }

    /// A turn's `content`: its text, or with vision on and images in a user turn, one `image`
    /// block per image followed by the `text` block (the order Anthropic recommends).
    fn content<'a>(&self, turn: history::Turn<'a>) -> Content<'a> {
        if !self.vision || turn.role != Role::User || turn.images.is_empty() {
            return Content::Text(turn.text);
        }
        let mut blocks: Vec<Block<'a>> = turn
            .images
            .into_iter()
            .map(|image| Block::Image {
                source: ImageSource {
                    kind: "base64",
                    media_type: &image.mime_type,
                    data: base64(&image.data),
                },
            })
            .collect();
        if !turn.text.is_empty() {
            blocks.push(Block::Text { text: turn.text });
        }
        Content::Blocks(blocks)
    }
}

/// The request body of `messages`.
#[derive(Debug, Serialize)]
pub(crate) struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<Message<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Content<'a>,
}

/// A message's `content`: a string, or an array of content blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(String),
    Blocks(Vec<Block<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Image { source: ImageSource<'a> },
    Text { text: String },
}

#[derive(Debug, Serialize)]
struct ImageSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: String,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

impl Wire for Anthropic {
    type Decoder = AnthropicDecoder;

    fn vendor(&self) -> &'static str {
        "anthropic"
    }

    fn chat_request(&self, http: &reqwest::Client, request: &ChatRequest) -> RequestBuilder {
        self.authorized(http.post(self.messages_url.clone()))
            .json(&self.body(request))
    }

    fn decoder(&self, _request: &ChatRequest) -> Self::Decoder {
        AnthropicDecoder
    }

    fn classify(
        &self,
        _request: &ChatRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> LlmError {
        let (kind, message) = match serde_json::from_slice::<ErrorEnvelope<'_>>(body) {
            Ok(envelope) => (
                envelope.error.vendor_kind(),
                envelope.error.message.into_owned(),
            ),
            Err(_) => (VendorKind::Unspecified, String::new()),
        };
        classify::from_status(status, headers, kind, &message)
    }

    fn prompt_chars(&self, request: &ChatRequest) -> usize {
        history::prompt_chars(
            request.system_prompt.as_deref(),
            history::bounded(&request.messages, &self.history),
        )
    }

    fn health_request(&self, http: &reqwest::Client) -> RequestBuilder {
        self.authorized(http.get(self.models_url.clone()))
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope<'a> {
    #[serde(borrow)]
    error: ErrorObject<'a>,
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

impl ErrorObject<'_> {
    fn vendor_kind(&self) -> VendorKind {
        match &*self.kind {
            "authentication_error" | "permission_error" => VendorKind::Auth,
            "rate_limit_error" => VendorKind::RateLimited,
            "overloaded_error" | "api_error" => VendorKind::Overloaded,
            "invalid_request_error" | "not_found_error" | "request_too_large" => {
                VendorKind::BadRequest
            }
            _ => VendorKind::Unspecified,
        }
    }
}

/// Decodes Messages stream events.
pub(crate) struct AnthropicDecoder;

#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    message: Option<StartMessage>,
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<UsageBody>,
    #[serde(borrow, default)]
    error: Option<ErrorObject<'a>>,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

impl Decode for AnthropicDecoder {
    fn event(&mut self, event: &Event<'_>, out: &mut Vec<Decoded>) {
        let parsed = match serde_json::from_str::<StreamEvent<'_>>(&event.data) {
            Ok(parsed) => parsed,
            Err(_) => {
                out.push(Decoded::Error(LlmError::Protocol(
                    "undecodable messages stream event".into(),
                )));
                return;
            }
        };
        match &*parsed.kind {
            "message_start" => {
                if let Some(usage) = parsed.message.and_then(|m| m.usage) {
                    out.push(Decoded::Usage {
                        input: usage.input_tokens,
                        output: None,
                    });
                }
            }
            "content_block_delta" => {
                if let Some(text) = parsed.delta.and_then(|d| d.text) {
                    out.push(Decoded::Text(text.into_owned()));
                }
            }
            "message_delta" => {
                if let Some(usage) = parsed.usage {
                    out.push(Decoded::Usage {
                        input: usage.input_tokens,
                        output: usage.output_tokens,
                    });
                }
            }
            "message_stop" => out.push(Decoded::Done),
            "error" => {
                let (kind, status, message) = match parsed.error {
                    Some(e) => {
                        // Anthropic's HTTP status for `overloaded_error` is 529; keep it the same
                        // when the error arrives inside the stream.
                        let status = (e.kind == "overloaded_error").then_some(529);
                        (e.vendor_kind(), status, e.message.into_owned())
                    }
                    None => (VendorKind::Unspecified, None, String::new()),
                };
                out.push(Decoded::Error(classify::from_event(kind, status, &message)));
            }
            // ping, content_block_start/stop and future event types carry no reply text.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
