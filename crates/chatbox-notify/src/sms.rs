//! The SMS channel: a Twilio-compatible Messages API over HTTPS.
//!
//! Each notice becomes one `POST {api_base}/2010-04-01/Accounts/{account_sid}/Messages.json` per
//! phone in `recipients`, with HTTP basic auth `account_sid:auth_token` and the form fields `To`,
//! `From` and `Body` (the [`crate::template`] SMS text, at most 300 characters). The requests go
//! out concurrently, each bounded by `timeout_ms`.
//!
//! Responses: 2xx is success; 408, 425, 429 and 5xx, timeouts and connection failures are
//! `Unavailable`; 401 and 403 (credentials refused) are `Config`; any other status is
//! `Rejected`, with Twilio's error `message` and `code` in the text.
//!
//! One call is one attempt at every phone: when some phones fail, the others have still been
//! texted, and the error names the failed ones (by position and last digits). The error kind is
//! the most retryable among the failures (`Unavailable` over `Config` over `Rejected`), so a
//! caller that retries may text a phone twice; staff getting a second text is better than none.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Notifier, NotifyError};
use serde::Deserialize;

use crate::error::{Error, FieldProblem, Problems};

/// The channel name.
const CHANNEL: &str = "sms";
/// Twilio's API root.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// Default deadline of one request, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;

/// Settings of the SMS channel.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Account SID, letters and digits (the server maps `SMS_ACCOUNT_SID`).
    pub account_sid: String,
    /// Auth token (the server maps `SMS_AUTH_TOKEN`; never printed).
    pub auth_token: String,
    /// Sender: a phone number in E.164 form or an alphanumeric sender id (the server maps
    /// `SMS_FROM_NUMBER`).
    pub from: String,
    /// API root, `http(s)` URL without the `/2010-04-01/...` path (the server maps
    /// `SMS_API_BASE`).
    pub api_base: String,
    /// Staff phones in E.164 form, `+` and 7 to 15 digits (the server maps `ADMIN_PHONES`).
    pub recipients: Vec<String>,
    /// Deadline of each request, connect included, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            api_base: DEFAULT_API_BASE.to_owned(),
            recipients: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<hidden>")
            .field("from", &self.from)
            .field("api_base", &self.api_base)
            .field("recipients", &self.recipients)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl SmsConfig {
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
        // The SID is a path segment of the URL: letters and digits only keep it one.
        if p.non_empty("SMS_ACCOUNT_SID", &self.account_sid)
            && !self
                .account_sid
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            p.push("SMS_ACCOUNT_SID", "may hold only letters and digits");
        }
        p.non_empty("SMS_AUTH_TOKEN", &self.auth_token);
        if p.non_empty("SMS_FROM_NUMBER", &self.from)
            && self.from.trim().chars().any(|c| c.is_control())
        {
            p.push("SMS_FROM_NUMBER", "contains a control character");
        }
        p.http_url("SMS_API_BASE", &self.api_base);
        if self.recipients.is_empty() {
            p.push("ADMIN_PHONES", "lists no phone number");
        }
        for phone in &self.recipients {
            if !is_e164(phone.trim()) {
                p.push(
                    "ADMIN_PHONES",
                    format!(
                        "{:?} is not a phone number in E.164 form (+ and 7 to 15 digits)",
                        phone.trim()
                    ),
                );
            }
        }
        p.timeout("timeout_ms", self.timeout_ms);
        p
    }
}

/// Texts each notice to every staff phone.
pub struct SmsNotifier {
    client: reqwest::Client,
    messages_url: reqwest::Url,
    account_sid: String,
    auth_token: String,
    from: String,
    recipients: Vec<String>,
}

impl fmt::Debug for SmsNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsNotifier")
            .field("messages_url", &self.messages_url.as_str())
            .field("from", &self.from)
            .field("recipients", &self.recipients.len())
            .finish_non_exhaustive()
    }
}

impl SmsNotifier {
    /// Validates `config` and builds the channel.
    pub fn new(config: SmsConfig) -> Result<Self, Error> {
        config.validate()?;
        let sid = config.account_sid.trim().to_owned();
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}/Messages.json",
            config.api_base.trim().trim_end_matches('/')
        );
        let messages_url = reqwest::Url::parse(&url).map_err(|e| Error::Invalid {
            channel: CHANNEL,
            problems: vec![FieldProblem {
                key: "SMS_API_BASE",
                reason: format!("does not form a URL ({e})"),
            }],
        })?;
        let client =
            crate::http::client(Duration::from_millis(config.timeout_ms)).map_err(|e| {
                Error::Client {
                    channel: CHANNEL,
                    source: Box::new(e),
                }
            })?;
        Ok(Self {
            client,
            messages_url,
            account_sid: sid,
            auth_token: config.auth_token,
            from: config.from.trim().to_owned(),
            recipients: config
                .recipients
                .iter()
                .map(|r| r.trim().to_owned())
                .collect(),
        })
    }

    async fn send_one(&self, to: &str, body: &str) -> Result<(), NotifyError> {
        let response = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(crate::http::send_error)?;
        crate::http::check(response).await
    }
}

#[async_trait]
impl Notifier for SmsNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        let body = crate::template::render(notice).sms;
        let outcomes =
            futures::future::join_all(self.recipients.iter().map(|to| self.send_one(to, &body)))
                .await;
        let failures: Vec<(usize, NotifyError)> = outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.err().map(|e| (i, e)))
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(combine(&self.recipients, failures))
    }
}

/// One error for the failed phones: the most retryable kind, a text naming each failure.
fn combine(recipients: &[String], mut failures: Vec<(usize, NotifyError)>) -> NotifyError {
    let total = recipients.len();
    if total == 1
        && failures.len() == 1
        && let Some((_, only)) = failures.pop()
    {
        return only;
    }
    let describe = |i: usize, e: &NotifyError| {
        let phone = recipients.get(i).map_or("", String::as_str);
        let tail: String = phone
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let cause = match e {
            NotifyError::Unavailable(source) => crate::error::causes(source.as_ref()),
            other => other.to_string(),
        };
        format!("phone {} of {total} (…{tail}): {cause}", i + 1)
    };
    let text = failures
        .iter()
        .map(|(i, e)| describe(*i, e))
        .collect::<Vec<_>>()
        .join("; ");
    let rank = |e: &NotifyError| match e {
        NotifyError::Unavailable(_) => 0,
        NotifyError::Config(_) => 1,
        _ => 2,
    };
    match failures.iter().map(|(_, e)| rank(e)).min() {
        Some(0) => NotifyError::Unavailable(text.into()),
        Some(1) => NotifyError::Config(text),
        _ => NotifyError::Rejected(text),
    }
}

/// `+` then 7 to 15 digits, the first not 0.
fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests;
