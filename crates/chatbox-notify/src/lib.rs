//! Staff notification channels (to be built by the notifications issue): SES v2, SMTP, SMS and
//! webhook implementations of chatbox-core's `Notifier`, with fan-out, retry and rate limits.
