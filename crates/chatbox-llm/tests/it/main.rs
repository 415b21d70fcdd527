//! Integration tests: every provider against its fake vendor over real HTTP on 127.0.0.1.

mod cancellation;
mod dify;
mod errors;
mod fixture;
mod health;
mod logs;
mod streaming;
mod timeouts;
mod transcription;
mod vision;
