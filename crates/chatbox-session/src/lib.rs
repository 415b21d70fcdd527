//! The chat engine (to be built by the main-job issue): session registry, one task per live
//! session handling its inputs in order, `seq` and the replay buffer, fan-out to every connection
//! of a session, LLM orchestration, help requests and, later, human takeover.
//!
//! It talks to the outside world only through chatbox-core's ports (`Store`, `LlmProvider`,
//! `Notifier`, `BlobStore`), so it is tested with their in-memory implementations.
