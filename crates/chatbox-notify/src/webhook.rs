//! The webhook channel: one JSON `POST` per notice to a configured URL, optionally signed.
//!
//! The body is [`payload`]'s JSON, serialized once; those exact bytes are sent and signed:
//!
//! ```json
//! {"event":"help_requested","user_id":"u1","user_name":"Ada","session_id":"s1",
//!  "requested_at":"2025-03-04T05:06:07.000Z","admin_link":"https://admin/s1" | null,
//!  "note":"please call" | null,
//!  "context":[{"sender":"user","content":"hi","timestamp":"2025-03-04T05:06:00.000Z"}]}
//! ```
//!
//! Context messages are oldest first, each cut to [`crate::template::CONTEXT_CHARS`] characters.
//!
//! With a secret configured, two headers are added:
//! - `X-Chatbox-Timestamp: <unix seconds>` — when the request was made;
//! - `X-Chatbox-Signature: sha256=<hex>` — the lowercase hex HMAC-SHA256, keyed with the secret's
//!   UTF-8 bytes, of the raw request body and nothing else (CONTRACT §10). The timestamp header is
//!   therefore not covered by the signature; a receiver that wants to refuse replays should
//!   compare the signed `requested_at` with its own clock.
//!
//! A receiver verifies by computing [`signature`] over the body bytes it received (before any
//! JSON parsing) and comparing in constant time.
//!
//! Responses: any 2xx is success; 408, 425, 429 and 5xx, timeouts and connection failures are
//! `Unavailable`; 401 and 403 (a receiver refusing the signature) are `Config`; any other status,
//! redirects included (they are never followed), is `Rejected`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Notifier, NotifyError};
use chrono::SecondsFormat;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldProblem, Problems};
use crate::template::{CONTEXT_CHARS, excerpt};

/// The channel name.
const CHANNEL: &str = "webhook";
/// The header carrying the request time (unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Chatbox-Timestamp";
/// The header carrying `sha256=<hex HMAC-SHA256 of the raw body>`.
pub const SIGNATURE_HEADER: &str = "X-Chatbox-Signature";
/// The `event` field of every payload.
pub const EVENT: &str = "help_requested";
/// Default deadline of one request, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;

/// Settings of the webhook channel.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where to `POST` (an `http(s)` URL; the server maps `NOTIFY_WEBHOOK_URL`). Only its origin
    /// is ever printed, since such URLs often carry a token.
    pub url: String,
    /// Signing secret; `None` sends unsigned requests (the server maps `NOTIFY_WEBHOOK_SECRET`;
    /// never printed).
    pub secret: Option<String>,
    /// Deadline of one request, connect included, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &crate::http::origin(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl WebhookConfig {
    /// Every invalid setting (empty when the config is usable).
    pub fn problems(&self) -> Vec<FieldProblem> {
        self.check().into_vec()
    }

    /// `Ok` when the config is usable, else [`Error::Invalid`] listing every problem.
    pub fn validate(&self) -> Result<(), Error> {
        self.check().finish(CHANNEL)
    }

    fn check(&self) -> Problems {
        let mut p = Problems::default();
        p.http_url("NOTIFY_WEBHOOK_URL", &self.url);
        if self.secret.as_deref().is_some_and(|s| s.trim().is_empty()) {
            p.push(
                "NOTIFY_WEBHOOK_SECRET",
                "is empty; leave it unset to send unsigned requests",
            );
        }
        p.timeout("timeout_ms", self.timeout_ms);
        p
    }
}

/// Posts each notice as signed JSON to one URL.
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
    key: Option<hmac::Key>,
}

impl fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &crate::http::origin(self.url.as_str()))
            .field("signed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// Validates `config` and builds the channel.
    pub fn new(config: WebhookConfig) -> Result<Self, Error> {
        config.validate()?;
        let url = reqwest::Url::parse(config.url.trim()).map_err(|e| Error::Invalid {
            channel: CHANNEL,
            problems: vec![FieldProblem {
                key: "NOTIFY_WEBHOOK_URL",
                reason: format!("is not a URL ({e})"),
            }],
        })?;
        let client =
            crate::http::client(Duration::from_millis(config.timeout_ms)).map_err(|e| {
                Error::Client {
                    channel: CHANNEL,
                    source: Box::new(e),
                }
            })?;
        let key = config
            .secret
            .as_deref()
            .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes()));
        Ok(Self { client, url, key })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&payload(notice))
            .map_err(|e| NotifyError::Config(format!("cannot serialize the payload: {e}")))?;
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.key {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            request = request
                .header(TIMESTAMP_HEADER, now.to_string())
                .header(SIGNATURE_HEADER, sign(key, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(crate::http::send_error)?;
        crate::http::check(response).await
    }
}

/// The JSON body sent for `notice` (documented in this module's header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Always [`EVENT`].
    pub event: String,
    /// Who asked.
    pub user_id: String,
    /// Their display name.
    pub user_name: String,
    /// In which session.
    pub session_id: String,
    /// When, RFC 3339 UTC with milliseconds.
    pub requested_at: String,
    /// The admin panel link, if configured.
    pub admin_link: Option<String>,
    /// The user's note, if any.
    pub note: Option<String>,
    /// The last messages, oldest first.
    pub context: Vec<ContextMessage>,
}

/// One message of [`Payload::context`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextMessage {
    /// `user`, `ai`, `admin` or `system`.
    pub sender: String,
    /// The text, cut to [`CONTEXT_CHARS`] characters.
    pub content: String,
    /// When it was written, RFC 3339 UTC with milliseconds.
    pub timestamp: String,
}

/// The payload for `notice`.
pub fn payload(notice: &HelpNotice) -> Payload {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    Payload {
        event: EVENT.to_owned(),
        user_id: notice.user_id.as_str().to_owned(),
        user_name: notice.user_name.clone(),
        session_id: notice.session_id.as_str().to_owned(),
        requested_at: time(notice.requested_at),
        admin_link: notice.admin_link.clone(),
        note: notice.note.clone(),
        context: notice
            .context
            .iter()
            .map(|m| ContextMessage {
                sender: m.sender.as_str().to_owned(),
                content: excerpt(&m.content, CONTEXT_CHARS),
                timestamp: time(m.timestamp),
            })
            .collect(),
    }
}

/// The `X-Chatbox-Signature` value for `body` under `secret`: `sha256=` and the lowercase hex
/// HMAC-SHA256 of exactly these bytes.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), body)
}

fn sign(key: &hmac::Key, body: &[u8]) -> String {
    let tag = hmac::sign(key, body);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests;
