//! Integration tests of chatbox-notify as one binary: the webhook and SMS channels against local
//! HTTP fakes that check signatures and credentials, SMTP against a real SMTP sink, SES against
//! moto, and the log channel's output. The sink and moto come from `cargo xtask test`.

// Test helpers may unwrap: a panic here is a failing test.
#![allow(clippy::unwrap_used)]

mod fake;
mod log;
mod ses;
mod sms;
mod smtp;
mod support;
mod webhook;
