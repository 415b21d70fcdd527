//! The SMTP email channel (lettre over tokio, TLS by rustls).
//!
//! Each notice becomes one `multipart/alternative` message (the [`crate::template`] text and HTML
//! bodies) addressed to every recipient in `To:`, sent in one SMTP transaction on a fresh
//! connection. The whole send — connect, TLS, authentication, data — is bounded by `timeout_ms`,
//! which also bounds each network operation inside it.
//!
//! Failures: connection refused or lost, timeouts, TLS failures and 4xx replies are
//! `Unavailable`; 5xx replies are `Rejected`, except authentication refusals (530, 534, 535)
//! which are `Config`, as is a server that lacks what the settings demand (no STARTTLS under
//! [`SmtpTls::StartTls`], no usable authentication mechanism).
//!
//! The password is never printed: the `Debug` impls show `<hidden>`. With [`SmtpTls::None`],
//! credentials are refused for any host but the loopback, so a password never crosses a network
//! in clear text.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chatbox_core::ports::notify::HelpNotice;
use chatbox_core::{Notifier, NotifyError};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use crate::error::{Error, FieldProblem, Problems};

/// The channel name.
const CHANNEL: &str = "smtp";
/// The submission port (STARTTLS).
pub const DEFAULT_PORT: u16 = 587;
/// Default deadline of one send, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 8_000;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with `STARTTLS`, which the server must offer (usually port
    /// 587). The server maps `SMTP_TLS=starttls`.
    #[default]
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte (usually port 465). The server maps `SMTP_TLS=tls`.
    Tls,
    /// No encryption, for a relay on the same host or a test sink. The server maps
    /// `SMTP_TLS=none`.
    None,
}

/// Settings of the SMTP channel.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Server host name or IP address (the server maps `SMTP_HOST`).
    pub host: String,
    /// Server port (the server maps `SMTP_PORT`; default 587).
    pub port: u16,
    /// Login user, if the server requires authentication (the server maps `SMTP_USER`).
    pub username: Option<String>,
    /// Login password (the server maps `SMTP_PASS`; never printed).
    pub password: Option<String>,
    /// Sender address (the server maps `EMAIL_FROM`).
    pub from: String,
    /// Sender display name (the server maps `EMAIL_FROM_NAME`).
    pub from_name: Option<String>,
    /// `Reply-To` address (the server maps `EMAIL_REPLY_TO`).
    pub reply_to: Option<String>,
    /// Connection security (the server maps `SMTP_TLS`).
    pub tls: SmtpTls,
    /// Staff addresses; each gets the message (the server maps `ADMIN_EMAILS`).
    pub recipients: Vec<String>,
    /// Deadline of one whole send, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: DEFAULT_PORT,
            username: None,
            password: None,
            from: String::new(),
            from_name: None,
            reply_to: None,
            tls: SmtpTls::default(),
            recipients: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("from", &self.from)
            .field("from_name", &self.from_name)
            .field("reply_to", &self.reply_to)
            .field("tls", &self.tls)
            .field("recipients", &self.recipients)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl SmtpConfig {
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
        let host = self.host.trim();
        if p.non_empty("SMTP_HOST", host)
            && (host.contains("://") || host.chars().any(|c| c.is_whitespace() || c == '/'))
        {
            p.push("SMTP_HOST", "must be a bare host name or IP address");
        }
        if self.port == 0 {
            p.push("SMTP_PORT", "must be a port from 1 to 65535");
        }
        let user = self.username.as_deref().is_some_and(|u| !u.is_empty());
        let pass = self.password.as_deref().is_some_and(|u| !u.is_empty());
        if user && !pass {
            p.push("SMTP_PASS", "is empty while SMTP_USER is set");
        }
        if pass && !user {
            p.push("SMTP_USER", "is empty while SMTP_PASS is set");
        }
        if pass && self.tls == SmtpTls::None && !is_loopback(host) {
            p.push(
                "SMTP_TLS",
                "is none, which would send SMTP_PASS unencrypted to a remote host",
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

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Emails each notice to every staff address through one SMTP server.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    recipients: Vec<Mailbox>,
    timeout: Duration,
}

impl fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("from", &self.from.to_string())
            .field("recipients", &self.recipients.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Validates `config` and builds the channel (no connection is made until a notice is sent).
    pub fn new(config: SmtpConfig) -> Result<Self, Error> {
        config.validate()?;
        let invalid = |key: &'static str, reason: String| Error::Invalid {
            channel: CHANNEL,
            problems: vec![FieldProblem { key, reason }],
        };
        let address = |key: &'static str, raw: &str| {
            raw.trim()
                .parse::<Address>()
                .map_err(|e| invalid(key, format!("{:?} is not an email address ({e})", raw)))
        };
        let name = config
            .from_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        let from = Mailbox::new(name, address("EMAIL_FROM", &config.from)?);
        let reply_to = match config.reply_to.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(r) => Some(Mailbox::new(None, address("EMAIL_REPLY_TO", r)?)),
            None => None,
        };
        let recipients = config
            .recipients
            .iter()
            .map(|r| address("ADMIN_EMAILS", r).map(|a| Mailbox::new(None, a)))
            .collect::<Result<Vec<_>, _>>()?;

        let timeout = Duration::from_millis(config.timeout_ms);
        let host = config.host.trim();
        let builder = match config.tls {
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .map_err(|e| invalid("SMTP_HOST", format!("cannot be used for TLS ({e})")))?;
        let mut builder = builder.port(config.port).timeout(Some(timeout));
        if let (Some(user), Some(pass)) = (config.username, config.password)
            && !user.is_empty()
        {
            builder = builder.credentials(Credentials::new(user, pass));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            reply_to,
            recipients,
            timeout,
        })
    }

    fn message(&self, notice: &HelpNotice) -> Result<Message, NotifyError> {
        let rendered = crate::template::render(notice);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject)
            .message_id(Some(message_id(self.from.email.domain())));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        for to in &self.recipients {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| NotifyError::Config(format!("cannot build the message: {e}")))
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn channel(&self) -> &str {
        CHANNEL
    }

    async fn notify(&self, notice: &HelpNotice) -> Result<(), NotifyError> {
        let message = self.message(notice)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(classify(e)),
            Err(elapsed) => Err(NotifyError::Unavailable(Box::new(elapsed))),
        }
    }
}

/// Maps a lettre error onto the documented kinds.
fn classify(e: lettre::transport::smtp::Error) -> NotifyError {
    if let Some(code) = e.status() {
        let code = u16::from(code);
        return match code {
            530 | 534 | 535 => NotifyError::Config(format!("SMTP authentication refused: {e}")),
            500..=599 => NotifyError::Rejected(format!("SMTP server refused the message: {e}")),
            _ => NotifyError::Unavailable(Box::new(e)),
        };
    }
    if e.is_client() {
        return NotifyError::Config(format!("SMTP server does not support the settings: {e}"));
    }
    NotifyError::Unavailable(Box::new(e))
}

/// A fresh `<time.random.chatbox@domain>` Message-ID (lettre's default names `localhost`).
fn message_id(domain: &str) -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 12];
    // A failing system RNG leaves zeros; the time part still keeps ids apart.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("<{nanos:x}.{random}.chatbox@{domain}>")
}

#[cfg(test)]
mod tests;
