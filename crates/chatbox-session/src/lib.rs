//! The chat engine: everything between a validated client frame and the frames a session's
//! connections receive.
//!
//! - [`Engine`] resolves which session a connection joins (CONTRACT §3), keeps the registry of
//!   live sessions (capped per user), runs REST operations on a session through its task, and
//!   shuts down within a bound.
//! - Each live session is one task (`task`) that handles its inputs strictly in arrival order
//!   from a bounded mailbox; a message that arrives while a reply streams waits in a bounded queue
//!   (overflow → `SESSION_BUSY`). The task owns the reply deadline, idle eviction and shutdown.
//! - `help` records a help request in the outbox and `delivery` sends it on every staff channel
//!   (retried in the background, after a restart too).
//! - `turn` handles a user message and the reply it starts; `files` a file or voice note (owner
//!   checked, never a signed URL; images read for vision models, voice transcribed off the
//!   session task); `handoff` an admin taking the session over (no reply can start while
//!   assisted) and leaving.
//! - `fanout` stamps every session frame with the next `seq`, serializes it once, keeps it in the
//!   replay buffer and hands the same bytes to every connection; a connection whose queue is full
//!   is closed with 1013, never skipped silently. A resuming connection gets its missed frames as
//!   one batch, outside that queue.
//! - `reply` drives one LLM reply; it can be cancelled at once, always reports its end, and
//!   completes and persists even when every connection has gone.
//!
//! The engine talks to the world only through chatbox-core's ports, and every store call it makes
//! has a deadline (`store_call`).

pub mod config;
pub mod connection;
pub mod error;
pub mod events;

mod cluster;
mod command;
mod delivery;
mod engine;
mod fanout;
mod files;
mod handoff;
mod help;
mod history;
mod inputs;
mod metrics;
mod ops;
mod outbox;
mod rate_limit;
mod registry;
mod replay;
mod reply;
mod spawn;
mod state;
mod store_call;
mod task;
mod turn;

pub use cluster::slots::UserSlot;
pub use config::EngineConfig;
pub use connection::{CloseReason, Connection, Inputs, Outbound, Participant};
pub use engine::{ConnectRequest, Connected, Engine, EngineDeps};
pub use error::EngineError;
pub use events::{SessionEvent, SessionEventKind};
pub use rate_limit::RateLimiter;
pub use state::Assistant;
