//! Staff notification channels: implementations of chatbox-core's [`Notifier`] port that tell
//! staff a user asked for a human (CONTRACT §5 and §10).
//!
//! Each channel makes exactly one delivery attempt per [`Notifier::notify`] call, bounded by its
//! configured timeout, and classifies failures into [`NotifyError`] kinds: network errors,
//! timeouts, HTTP 5xx/429 and SMTP 4xx replies are `Unavailable` (worth retrying); a refusal of
//! the message itself is `Rejected`; refused credentials or a sender the provider does not know
//! are `Config`. Retries, backoff and fan-out across channels belong to the caller.
//!
//! Every channel renders the notice through [`template`], so what staff read is the same
//! everywhere and every interpolated value is escaped in HTML. No channel logs message bodies or
//! secrets, and no config struct prints a secret in its `Debug` output.
//!
//! Reading order: [`template`] (what is sent), [`error`] (construction errors), then one module
//! per channel: [`smtp`], [`ses`], [`sms`], [`webhook`], [`log`].
//!
//! [`Notifier`]: chatbox_core::Notifier
//! [`Notifier::notify`]: chatbox_core::Notifier::notify
//! [`NotifyError`]: chatbox_core::NotifyError

pub mod template;

pub mod error;

mod http;

pub mod log;
pub mod ses;
pub mod sms;
pub mod smtp;
pub mod webhook;

pub use error::{Error, FieldProblem};
pub use log::LogNotifier;
pub use ses::{SesConfig, SesNotifier};
pub use sms::{SmsConfig, SmsNotifier};
pub use smtp::{SmtpConfig, SmtpNotifier, SmtpTls};
pub use webhook::{WebhookConfig, WebhookNotifier};
