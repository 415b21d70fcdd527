//! The Dify chat-app wire format: `POST {endpoint}/chat-messages` in `streaming` mode.
//!
//! Dify keeps the conversation server-side under its own `conversation_id`, so this provider
//! remembers, per chat session (`conversation_key`), the id Dify returned in the stream and
//! sends only the latest message with it. When no id is known yet (first turn, or after a
//! restart) earlier turns of the bounded history are written into the query so Dify still sees
//! the conversation. The map is bounded (oldest sessions forgotten first). Usage comes from
//! `message_end`, the terminator; an `error` event is a failure. Dify apps carry their own
//! prompt, so `system_prompt` is not sent. Images are never sent (Dify takes files only once
//! uploaded to it): the turn's text, which describes each file, is all Dify sees.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatbox_core::LlmError;
use chatbox_core::ports::llm::{ChatRequest, Role};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::classify::{self, VendorKind};
use crate::config::{HistoryConfig, ProviderConfig};
use crate::history;
use crate::sse::Event;
use crate::wire::{Decode, Decoded, Wire, join, secret_header};

/// How many chat sessions' Dify conversation ids are remembered.
pub(crate) const CONVERSATION_CAPACITY: usize = 10_000;

/// The `user` sent when the request has no user key (Dify requires one).
const ANONYMOUS_USER: &str = "chatbox";

/// The Dify vendor.
pub(crate) struct Dify {
    chat_url: Url,
    parameters_url: Url,
    auth: HeaderValue,
    history: HistoryConfig,
    conversations: Arc<Mutex<Conversations>>,
}

impl Dify {
    pub(crate) fn new(config: &ProviderConfig, endpoint: &Url) -> Self {
        Self {
            chat_url: join(endpoint, &["chat-messages"]),
            parameters_url: join(endpoint, &["parameters"]),
            auth: secret_header(&format!("Bearer {}", config.api_key)),
            history: config.history.clone(),
            conversations: Arc::new(Mutex::new(Conversations::new(CONVERSATION_CAPACITY))),
        }
    }

    fn conversations(&self) -> MutexGuard<'_, Conversations> {
        lock(&self.conversations)
    }

    /// The JSON body of a chat-messages request.
    pub(crate) fn body<'a>(&self, request: &'a ChatRequest) -> ChatBody<'a> {
        let conversation_id = self.conversations().get(&request.conversation_key);
        let latest = request.messages.last().map_or("", |m| m.content.as_str());
        let query = match &conversation_id {
            Some(_) => Cow::Borrowed(latest),
            None => query_with_history(history::bounded(&request.messages, &self.history)),
        };
        ChatBody {
            inputs: Inputs {},
            query,
            response_mode: "streaming",
            conversation_id: conversation_id.unwrap_or_default(),
            user: if request.user_key.is_empty() {
                ANONYMOUS_USER
            } else {
                &request.user_key
            },
            auto_generate_name: false,
        }
    }
}

/// The query for a conversation Dify does not know yet: earlier turns as a transcript, then
/// the latest message. A lone message is sent as it is.
fn query_with_history(turns: &[chatbox_core::ports::llm::ChatMessage]) -> Cow<'_, str> {
    match turns {
        [] => Cow::Borrowed(""),
        [only] => Cow::Borrowed(&only.content),
        [earlier @ .., latest] => {
            let mut query = String::from("Conversation so far:\n");
            for turn in earlier {
                let who = match turn.role {
                    Role::User => "User",
                    Role::Assistant => "Assistant",
                };
                let _ = writeln!(query, "{who}: {}", turn.content);
            }
            let _ = write!(query, "\nLatest message from the user:\n{}", latest.content);
            Cow::Owned(query)
        }
    }
}

/// The request body of `chat-messages`.
#[derive(Debug, Serialize)]
pub(crate) struct ChatBody<'a> {
    inputs: Inputs,
    query: Cow<'a, str>,
    response_mode: &'static str,
    conversation_id: String,
    user: &'a str,
    auto_generate_name: bool,
}

#[derive(Debug, Serialize)]
struct Inputs {}

impl Wire for Dify {
    type Decoder = DifyDecoder;

    fn vendor(&self) -> &'static str {
        "dify"
    }

    fn chat_request(&self, http: &reqwest::Client, request: &ChatRequest) -> RequestBuilder {
        http.post(self.chat_url.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .json(&self.body(request))
    }

    fn decoder(&self, request: &ChatRequest) -> Self::Decoder {
        DifyDecoder {
            conversations: Arc::clone(&self.conversations),
            key: request.conversation_key.clone(),
            learned: false,
        }
    }

    fn classify(
        &self,
        request: &ChatRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> LlmError {
        let parsed = serde_json::from_slice::<ErrorBody<'_>>(body).ok();
        let code = parsed.as_ref().map_or("", |e| &*e.code);
        if status == StatusCode::NOT_FOUND && code == "not_found" {
            // Dify forgot the conversation (deleted, or another app): start afresh next turn.
            self.conversations().remove(&request.conversation_key);
        }
        let message = parsed.as_ref().map_or("", |e| &*e.message);
        classify::from_status(status, headers, vendor_kind(code), message)
    }

    fn prompt_chars(&self, request: &ChatRequest) -> usize {
        // The query sent is what the vendor bills directly; its own stored history is unknown.
        self.body(request).query.chars().count()
    }

    fn health_request(&self, http: &reqwest::Client) -> RequestBuilder {
        http.get(self.parameters_url.clone())
            .header(AUTHORIZATION, self.auth.clone())
    }
}

fn vendor_kind(code: &str) -> VendorKind {
    match code {
        "unauthorized" | "app_unavailable" | "provider_not_initialize" => VendorKind::Auth,
        "provider_quota_exceeded" => VendorKind::Auth,
        "too_many_requests" | "rate_limit_error" => VendorKind::RateLimited,
        "internal_server_error" | "completion_request_error" => VendorKind::Overloaded,
        "invalid_param" | "not_found" | "model_currently_not_support" => VendorKind::BadRequest,
        _ => VendorKind::Unspecified,
    }
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(borrow, default)]
    code: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
}

/// Remembers Dify conversation ids by chat session, forgetting the oldest beyond capacity.
pub(crate) struct Conversations {
    capacity: usize,
    ids: HashMap<String, String>,
    order: VecDeque<String>,
}

impl Conversations {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ids: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, key: &str) -> Option<String> {
        self.ids.get(key).cloned()
    }

    fn insert(&mut self, key: &str, id: &str) {
        if self.ids.get(key).is_some_and(|known| known == id) {
            return;
        }
        if self.ids.insert(key.to_owned(), id.to_owned()).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.ids.len() > self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.ids.remove(&oldest);
                }
                None => break,
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if self.ids.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }
}

fn lock(conversations: &Mutex<Conversations>) -> MutexGuard<'_, Conversations> {
    conversations.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decodes chat-messages stream events and learns the conversation id.
pub(crate) struct DifyDecoder {
    conversations: Arc<Mutex<Conversations>>,
    key: String,
    learned: bool,
}

#[derive(Deserialize)]
struct StreamEvent<'a> {
    #[serde(borrow, default)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    answer: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    conversation_id: Option<Cow<'a, str>>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl Decode for DifyDecoder {
    fn event(&mut self, event: &Event<'_>, out: &mut Vec<Decoded>) {
        if event.name == "ping" || event.data.trim().is_empty() {
            return;
        }
        let parsed = match serde_json::from_str::<StreamEvent<'_>>(&event.data) {
            Ok(parsed) => parsed,
            Err(_) => {
                out.push(Decoded::Error(LlmError::Protocol(
                    "undecodable chat-messages stream event".into(),
                )));
                return;
            }
        };
        if !self.learned
            && let Some(id) = parsed
                .conversation_id
                .as_deref()
                .filter(|id| !id.is_empty())
        {
            lock(&self.conversations).insert(&self.key, id);
            self.learned = true;
        }
        match &*parsed.event {
            "message" | "agent_message" => {
                if let Some(answer) = parsed.answer {
                    out.push(Decoded::Text(answer.into_owned()));
                }
            }
            "message_end" => {
                if let Some(usage) = parsed.metadata.and_then(|m| m.usage) {
                    out.push(Decoded::Usage {
                        input: usage.prompt_tokens,
                        output: usage.completion_tokens,
                    });
                }
                out.push(Decoded::Done);
            }
            "error" => {
                let kind = vendor_kind(parsed.code.as_deref().unwrap_or_default());
                let message = parsed.message.as_deref().unwrap_or_default();
                out.push(Decoded::Error(classify::from_event(
                    kind,
                    parsed.status,
                    message,
                )));
            }
            // ping, workflow/node progress, agent_thought, message_file, tts and future events
            // carry no reply text.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
