//! The OpenAI-compatible wire format: `POST {endpoint}/chat/completions` with `stream: true`.
//!
//! Serves OpenAI, Azure OpenAI (keep `?api-version=` in the endpoint, set `api_key_header` to
//! `api-key`), Ollama, vLLM and llama.cpp. The system prompt is the first `system` message; the
//! bounded history follows. `stream_options.include_usage` asks for the usage chunk that
//! arrives just before `data: [DONE]`, the terminator; an `{"error": ...}` event is a failure.
//! With `vision` on, a user turn's images go in its `content` array as `image_url` parts
//! holding a `data:` URL (base64); without it a turn's content is its text alone.

use std::borrow::Cow;

use chatbox_core::LlmError;
use chatbox_core::ports::llm::{AudioInput, ChatMessage, ChatRequest, Role};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::classify::{self, VendorKind};
use crate::config::{HistoryConfig, ProviderConfig};
use crate::history;
use crate::sse::Event;
use crate::wire::{Decode, Decoded, Wire, base64, join, secret_header};

/// The OpenAI-compatible vendor.
pub(crate) struct OpenAi {
    chat_url: Url,
    models_url: Url,
    transcription_url: Url,
    /// The auth header, absent for servers without auth.
    auth: Option<(HeaderName, HeaderValue)>,
    model: String,
    max_output_tokens: u32,
    stream_usage: bool,
    transcription_model: Option<String>,
    vision: bool,
    history: HistoryConfig,
}

impl OpenAi {
    pub(crate) fn new(config: &ProviderConfig, endpoint: &Url) -> Self {
        let auth = if config.api_key.is_empty() {
            None
        } else {
            match config
                .api_key_header
                .as_deref()
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            {
                Some(name) => Some((name, secret_header(&config.api_key))),
                None => Some((
                    AUTHORIZATION,
                    secret_header(&format!("Bearer {}", config.api_key)),
                )),
            }
        };
        Self {
            chat_url: join(endpoint, &["chat", "completions"]),
            models_url: join(endpoint, &["models"]),
            transcription_url: join(endpoint, &["audio", "transcriptions"]),
            auth,
            model: config.model.clone(),
            max_output_tokens: config.max_output_tokens,
            stream_usage: config.stream_usage,
            transcription_model: config.transcription_model.clone(),
            vision: config.vision,
            history: config.history.clone(),
        }
    }

    fn authorized(&self, builder: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Some((name, value)) => builder.header(name.clone(), value.clone()),
            None => builder,
        }
    }

    /// The JSON body of a chat request.
    pub(crate) fn body<'a>(&'a self, request: &'a ChatRequest) -> ChatBody<'a> {
        let turns = history::bounded(&request.messages, &self.history);
        let mut messages = Vec::with_capacity(turns.len() + 1);
        if let Some(system) = request.system_prompt.as_deref() {
            messages.push(Message {
                role: "system",
                content: Content::Text(system),
            });
        }
        messages.extend(turns.iter().map(|m| Message {
            role: match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content: self.content(m),
        }));
        ChatBody {
            model: &self.model,
            messages,
            stream: true,
            stream_options: self.stream_usage.then_some(StreamOptions {
                include_usage: true,
            }),
            max_completion_tokens: self.max_output_tokens,
            user: (!request.user_key.is_empty()).then_some(request.user_key.as_str()),
        }
    }

    /// A turn's `content`: its text, or with vision on and images attached to a user turn, the
    /// text part followed by one `image_url` part per image.
    fn content<'a>(&self, message: &'a ChatMessage) -> Content<'a> {
        if !self.vision || message.role != Role::User || message.images.is_empty() {
            return Content::Text(&message.content);
        }
        let text = (!message.content.is_empty()).then_some(Part::Text {
            text: &message.content,
        });
        let images = message.images.iter().map(|image| Part::ImageUrl {
            image_url: ImageUrl {
                url: format!("data:{};base64,{}", image.mime_type, base64(&image.data)),
            },
        });
        Content::Parts(text.into_iter().chain(images).collect())
    }
}

/// The request body of `chat/completions`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    max_completion_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Content<'a>,
}

/// A message's `content`: a string, or an array of typed parts.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<Part<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Part<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl },
}

#[derive(Debug, Serialize)]
struct ImageUrl {
    url: String,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl Wire for OpenAi {
    type Decoder = OpenAiDecoder;

    fn vendor(&self) -> &'static str {
        "openai"
    }

    fn chat_request(&self, http: &reqwest::Client, request: &ChatRequest) -> RequestBuilder {
        self.authorized(http.post(self.chat_url.clone()))
            .json(&self.body(request))
    }

    fn decoder(&self, _request: &ChatRequest) -> Self::Decoder {
        OpenAiDecoder
    }

    fn classify(
        &self,
        _request: &ChatRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> LlmError {
        let (kind, message) = error_body(body);
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

    fn transcription_request(
        &self,
        http: &reqwest::Client,
        audio: &AudioInput,
    ) -> Option<Result<RequestBuilder, LlmError>> {
        let model = self.transcription_model.clone()?;
        let file = reqwest::multipart::Part::bytes(audio.bytes.to_vec())
            .file_name(audio.file_name.clone())
            .mime_str(&audio.mime_type);
        let file = match file {
            Ok(file) => file,
            Err(_) => {
                return Some(Err(LlmError::BadRequest {
                    message: "invalid audio MIME type".into(),
                }));
            }
        };
        let form = reqwest::multipart::Form::new()
            .text("model", model)
            .text("response_format", "json")
            .part("file", file);
        Some(Ok(self
            .authorized(http.post(self.transcription_url.clone()))
            .multipart(form)))
    }
}

/// The error body `{"error": {"message", "type", "code"}}` as a kind and a message.
pub(crate) fn error_body(body: &[u8]) -> (VendorKind, String) {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        error: ErrorObject<'a>,
    }
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(Envelope { error }) => (error.kind(), error.message.unwrap_or_default().into_owned()),
        Err(_) => (VendorKind::Unspecified, String::new()),
    }
}

#[derive(Debug, Deserialize)]
struct ErrorObject<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl ErrorObject<'_> {
    fn kind(&self) -> VendorKind {
        let code = self.code.as_ref().and_then(serde_json::Value::as_str);
        match (self.kind.as_deref(), code) {
            // A spent quota arrives as 429 but will not clear by waiting: the account cannot be
            // used until someone acts, like a refused key.
            (_, Some("insufficient_quota")) | (Some("insufficient_quota"), _) => VendorKind::Auth,
            (_, Some("invalid_api_key")) | (Some("authentication_error"), _) => VendorKind::Auth,
            (_, Some("rate_limit_exceeded")) => VendorKind::RateLimited,
            (Some("server_error"), _) => VendorKind::Overloaded,
            (Some("invalid_request_error"), _) => VendorKind::BadRequest,
            _ => VendorKind::Unspecified,
        }
    }
}

/// Decodes `chat.completion.chunk` events.
pub(crate) struct OpenAiDecoder;

#[derive(Deserialize)]
struct StreamChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<UsageBody>,
    #[serde(borrow, default)]
    error: Option<ErrorObject<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl Decode for OpenAiDecoder {
    fn event(&mut self, event: &Event<'_>, out: &mut Vec<Decoded>) {
        let data = event.data.trim();
        if data == "[DONE]" {
            out.push(Decoded::Done);
            return;
        }
        let chunk = match serde_json::from_str::<StreamChunk<'_>>(data) {
            Ok(chunk) => chunk,
            Err(_) => {
                out.push(Decoded::Error(LlmError::Protocol(
                    "undecodable chat.completion.chunk".into(),
                )));
                return;
            }
        };
        if let Some(error) = chunk.error {
            let message = error.message.as_deref().unwrap_or_default().to_owned();
            out.push(Decoded::Error(classify::from_event(
                error.kind(),
                None,
                &message,
            )));
            return;
        }
        if let Some(text) = chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta)
            .and_then(|d| d.content)
        {
            out.push(Decoded::Text(text.into_owned()));
        }
        if let Some(usage) = chunk.usage {
            out.push(Decoded::Usage {
                input: usage.prompt_tokens,
                output: usage.completion_tokens,
            });
        }
    }
}

#[cfg(test)]
mod tests;
