//! The chat engine: everything between a validated client frame and the frames a session's
//! connections receive.
//!
//! - [`Engine`] resolves which session a connection joins (CONTRACT §3) and keeps a registry of
//!   live sessions.
//! - Each live session is one task (`actor`) that handles its inputs strictly in arrival order
//!   from a bounded mailbox; a message that arrives while a reply streams waits in a bounded queue
//!   (overflow → `SESSION_BUSY`).
//! - `fanout::Fanout` stamps every session frame with the next `seq`, serializes it once, keeps
//!   it in the [`replay::ReplayBuffer`] and hands the same bytes to every connection; a connection
//!   whose queue is full is closed with 1013, never skipped silently.
//! - `reply` drives one LLM reply; it can be cancelled at once (shutdown, and later takeover),
//!   and it completes and persists even when every connection has gone.
//!
//! The engine talks to the world only through chatbox-core's ports.

pub mod config;
pub mod connection;
pub mod error;
pub mod fanout;
pub mod history;
pub mod rate_limit;
pub mod replay;
pub mod state;

mod actor;
mod engine;
mod reply;

pub use config::EngineConfig;
pub use connection::{CloseReason, Connection, Inputs, Outbound, Participant};
pub use engine::{ConnectRequest, Connected, Engine, EngineDeps};
pub use error::EngineError;
