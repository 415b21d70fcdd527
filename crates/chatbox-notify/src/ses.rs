//! The Amazon SES v2 email channel (`SendEmail` with simple content).
//!
//! Each notice becomes one `SendEmail` call whose destination lists every recipient in `To`, with
//! the [`crate::template`] subject, text body and HTML body (UTF-8). The SDK's own retries are
//! turned off (one call is one attempt) and `timeout_ms` bounds the whole operation, connect
//! included.
//!
//! Credentials are the static pair of the config when given, else the standard AWS chain
//! (environment, shared profile files, web identity, ECS or instance metadata); the region is
//! the config's, else the chain's. An `endpoint` override points the client at an SES-compatible
//! service or a local test double such as moto.
//!
//! Failures: throttling, 5xx and transport errors (refused connection, timeout) are
//! `Unavailable`; a message or request SES refuses is `Rejected`; an unverified identity
//! (`MessageRejected` saying "not verified"), refused credentials and a paused or suspended
//! account are `Config`. Credentials the AWS chain cannot find fail before any request is sent
//! and surface as `Unavailable` with the chain's explanation.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::config::{Credentials, Region};
use aws_sdk_sesv2::error::SdkError;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Notifier, NotifyError};
use serde::Deserialize;

use crate::error::{Error, FieldProblem, Problems};

/// The channel name.
const CHANNEL: &str = "ses";
/// Default deadline of one send, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;

/// Settings of the SES v2 channel.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SesConfig {
    /// AWS region (`eu-west-1`); `None` takes the AWS chain's (the server maps `SES_REGION`).
    pub region: Option<String>,
    /// Endpoint override, an `http(s)` URL, for SES-compatible services and tests (the server
    /// maps `SES_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Static access key id; `None` uses the AWS chain (the server maps `SES_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Static secret key, given with the key id (the server maps `SES_SECRET_ACCESS_KEY`; never
    /// printed).
    pub secret_access_key: Option<String>,
    /// Sender address, an identity verified in SES (the server maps `EMAIL_FROM`).
    pub from: String,
    /// Sender display name (the server maps `EMAIL_FROM_NAME`).
    pub from_name: Option<String>,
    /// `Reply-To` address (the server maps `EMAIL_REPLY_TO`).
    pub reply_to: Option<String>,
    /// Staff addresses (the server maps `ADMIN_EMAILS`).
    pub recipients: Vec<String>,
    /// Deadline of one whole send, connect included, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SesConfig {
    fn default() -> Self {
        Self {
            region: None,
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            from: String::new(),
            from_name: None,
            reply_to: None,
            recipients: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

impl SesConfig {
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
        if let Some(region) = &self.region
            && p.non_empty("SES_REGION", region)
            && !region
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            p.push("SES_REGION", "may hold only letters, digits and dashes");
        }
        if let Some(endpoint) = &self.endpoint {
            p.http_url("SES_ENDPOINT", endpoint);
        }
        let key = self.access_key_id.as_deref().is_some_and(|k| !k.is_empty());
        let secret = self
            .secret_access_key
            .as_deref()
            .is_some_and(|k| !k.is_empty());
        if key && !secret {
            p.push(
                "SES_SECRET_ACCESS_KEY",
                "is empty while SES_ACCESS_KEY_ID is set",
            );
        }
        if secret && !key {
            p.push(
                "SES_ACCESS_KEY_ID",
                "is empty while SES_SECRET_ACCESS_KEY is set",
            );
        }
        p.email("EMAIL_FROM", &self.from);
        if let Some(name) = &self.from_name {
            p.single_line("EMAIL_FROM_NAME", name);
        }
        if let Some(reply_to) = self.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
            p.email("EMAIL_REPLY_TO", reply_to);
        }
        p.emails("ADMIN_EMAILS", &self.recipients);
        p.timeout("timeout_ms", self.timeout_ms);
        p
    }
}

impl fmt::Debug for SesConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<hidden>"),
            )
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .field("reply_to", &self.reply_to)
            .field("recipients", &self.recipients)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Emails each notice to every staff address through SES v2.
pub struct SesNotifier {
    client: aws_sdk_sesv2::Client,
    from: String,
    reply_to: Option<String>,
    recipients: Vec<String>,
    timeout: Duration,
}

impl fmt::Debug for SesNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SesNotifier")
            .field("from", &self.from)
            .field("recipients", &self.recipients.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SesNotifier {
    /// Validates `config` and builds the client. Resolving the AWS configuration (profile files,
    /// and the region from the chain when none is given) is bounded by the config's timeout;
    /// credentials are resolved at the first send.
    pub async fn new(config: SesConfig) -> Result<Self, Error> {
        config.validate()?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            );
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.trim().to_owned()));
        }
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint.trim());
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                key.trim(),
                secret.trim(),
                None,
                None,
                "chatbox-config",
            ));
        }
        let sdk_config = tokio::time::timeout(timeout, loader.load())
            .await
            .map_err(|elapsed| Error::Client {
                channel: CHANNEL,
                source: Box::new(elapsed),
            })?;
        if sdk_config.region().is_none() {
            return Err(Error::Invalid {
                channel: CHANNEL,
                problems: vec![FieldProblem {
                    key: "SES_REGION",
                    reason: "is unset and the AWS chain names no region".into(),
                }],
            });
        }
        let from = sender(config.from_name.as_deref(), config.from.trim());
        Ok(Self {
            client: aws_sdk_sesv2::Client::new(&sdk_config),
            from,
            reply_to: config
                .reply_to
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty()),
            recipients: config
                .recipients
                .iter()
                .map(|r| r.trim().to_owned())
                .collect(),
            timeout,
        })
    }
}

#[async_trait]
impl Notifier for SesNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        let rendered = crate::template::render(notice);
        let content = |data: String| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| NotifyError::Config(format!("cannot build the message: {e}")))
        };
        let message = Message::builder()
            .subject(content(rendered.subject)?)
            .body(
                Body::builder()
                    .text(content(rendered.text)?)
                    .html(content(rendered.html)?)
                    .build(),
            )
            .build();
        let request = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .set_reply_to_addresses(self.reply_to.clone().map(|r| vec![r]))
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(self.recipients.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build());
        // The SDK's operation timeout already bounds the call; this deadline is the backstop
        // for anything outside it (credential resolution included).
        match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(e)),
            Err(elapsed) => Err(NotifyError::Unavailable(Box::new(elapsed))),
        }
    }
}

/// The `FromEmailAddress`: the bare address, or `"Name" <address>` with a non-ASCII name
/// MIME-encoded (RFC 2047), as SES requires.
fn sender(name: Option<&str>, address: &str) -> String {
    use base64::Engine as _;
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return address.to_owned();
    };
    if name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{quoted}\" <{address}>")
    } else {
        let encoded = base64::engine::general_purpose::STANDARD.encode(name.as_bytes());
        format!("=?UTF-8?B?{encoded}?= <{address}>")
    }
}

/// Maps an SDK error onto the documented kinds.
fn classify(e: SdkError<SendEmailError, HttpResponse>) -> NotifyError {
    use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.into_err();
            let text = format!(
                "{}: {}",
                err.code().unwrap_or("unknown"),
                err.message().unwrap_or("no message")
            );
            match err {
                SendEmailError::TooManyRequestsException(_)
                | SendEmailError::LimitExceededException(_) => {
                    NotifyError::Unavailable(text.into())
                }
                SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::NotFoundException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_) => NotifyError::Config(text),
                // SES refuses an unverified sender (or, in the sandbox, recipient) as
                // MessageRejected; that is an identity to set up, not a bad message.
                SendEmailError::MessageRejected(_)
                    if text.to_ascii_lowercase().contains("not verified") =>
                {
                    NotifyError::Config(text)
                }
                SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_) => {
                    NotifyError::Rejected(text)
                }
                other => classify_code(status, other.code(), text),
            }
        }
        SdkError::ConstructionFailure(_) => NotifyError::Config(format!(
            "cannot build the SES request: {}",
            crate::error::causes(&e)
        )),
        // Dispatch failures (refused connection, DNS, TLS, credentials that cannot be
        // resolved), timeouts and unparseable responses are transient from here.
        other => NotifyError::Unavailable(crate::error::causes(&other).into()),
    }
}

/// An error the SDK does not model, by HTTP status and code: throttling and server faults are
/// transient, unknown or refused credentials a config problem, anything else a refusal.
fn classify_code(status: u16, code: Option<&str>, text: String) -> NotifyError {
    match (status, code.unwrap_or_default()) {
        (429 | 500..=599, _)
        | (_, "Throttling" | "ThrottlingException" | "ServiceUnavailable" | "RequestTimeout") => {
            NotifyError::Unavailable(text.into())
        }
        (401 | 403, _)
        | (
            _,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredTokenException",
        ) => NotifyError::Config(text),
        _ => NotifyError::Rejected(text),
    }
}

#[cfg(test)]
mod tests;
