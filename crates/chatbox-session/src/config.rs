//! Engine settings, with the contract's defaults.

use serde::Deserialize;

/// Default per-connection outbound queue, in frames.
pub const DEFAULT_CONNECTION_QUEUE: usize = 256;
/// Default per-session mailbox, in commands.
pub const DEFAULT_SESSION_MAILBOX: usize = 256;
/// Default number of user inputs that may wait while a reply streams.
pub const DEFAULT_PENDING_INPUTS: usize = 16;
/// Default replay buffer, in frames.
pub const DEFAULT_REPLAY_FRAMES: usize = 2048;
/// Default replay buffer, in bytes of serialized frames.
pub const DEFAULT_REPLAY_BYTES: usize = 2 * 1024 * 1024;
/// Default user message rate limit per minute.
pub const DEFAULT_MESSAGES_PER_MINUTE: u32 = 100;
/// Default history sent to the model, in turns.
pub const DEFAULT_HISTORY_TURNS: usize = 20;
/// Default history sent to the model, in characters.
pub const DEFAULT_HISTORY_CHARS: usize = 24_000;
/// Default seconds a session with no connection and no reply stays live (and replayable).
pub const DEFAULT_IDLE_EVICT_SECS: u64 = 15 * 60;
/// Default cap on one streamed reply, in seconds (the Go service's `llm_stream_timeout`).
pub const DEFAULT_REPLY_TIMEOUT_SECS: u64 = 120;
/// Default deadline of one store call made by the engine, in seconds.
pub const DEFAULT_STORE_TIMEOUT_SECS: u64 = 10;
/// Default seconds an assisting admin may stay disconnected before the session is released.
pub const DEFAULT_ADMIN_GRACE_SECS: u64 = 60;
/// Default seconds between retries of pending help notifications.
pub const DEFAULT_NOTIFY_RETRY_SECS: u64 = 30;
/// Default live sessions one user may have at once.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 20;

/// How the engine behaves. Every field has the contract's default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Outbound frames a connection may have queued before it is closed with 1013 (frames).
    pub connection_queue: usize,
    /// Commands a session's mailbox holds before senders get `SESSION_BUSY` (commands).
    pub session_mailbox: usize,
    /// User inputs that may wait while a reply streams (inputs).
    pub pending_inputs: usize,
    /// Frames kept for resume (frames).
    pub replay_frames: usize,
    /// Serialized bytes kept for resume (bytes).
    pub replay_bytes: usize,
    /// User messages allowed per user per minute (messages).
    pub messages_per_minute: u32,
    /// Past turns sent to the model, the new message included (turns).
    pub history_turns: usize,
    /// Characters of history sent to the model (characters).
    pub history_chars: usize,
    /// Optional system prompt for every conversation.
    pub system_prompt: Option<String>,
    /// How long a session without connections or reply stays live and replayable (seconds).
    pub idle_evict_secs: u64,
    /// The longest one streamed reply may take before it fails with `LLM_TIMEOUT` (seconds).
    pub reply_timeout_secs: u64,
    /// The longest one store call may take before the engine gives up on it (seconds).
    pub store_timeout_secs: u64,
    /// Live sessions one user may have at once (sessions). Opening one more evicts the user's
    /// longest-idle session; when none is idle the connect is refused (`TOO_MANY_REQUESTS`).
    pub max_sessions_per_user: usize,
    /// How long the assisting admin may stay disconnected before the session is released and the
    /// AI answers again (seconds).
    pub admin_grace_secs: u64,
    /// How often pending help notifications are retried (seconds); they are also retried at
    /// startup.
    pub notify_retry_secs: u64,
    /// Admins may take conversations over (`ENABLE_ADMIN_TAKEOVER`); off answers
    /// `FEATURE_DISABLED`.
    pub takeover_enabled: bool,
    /// Users may ask for a human (`ENABLE_HELP_REQUESTS`); off answers `FEATURE_DISABLED`.
    pub help_enabled: bool,
    /// Users may send files and photos (`ENABLE_FILE_UPLOADS`).
    pub uploads_enabled: bool,
    /// Users may send voice notes (`ENABLE_VOICE_MESSAGES`).
    pub voice_enabled: bool,
    /// Where clients fetch uploaded files: `P/files`; a message's `file_url` is this plus `/{id}`.
    pub files_path: String,
}

impl EngineConfig {
    /// The optional features that are on, as the page reads them from `connection_status`
    /// (`metadata.features`, comma-separated).
    pub fn features(&self) -> String {
        [
            (self.help_enabled, "help"),
            (self.takeover_enabled, "takeover"),
            (self.uploads_enabled, "uploads"),
            (self.voice_enabled, "voice"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            connection_queue: DEFAULT_CONNECTION_QUEUE,
            session_mailbox: DEFAULT_SESSION_MAILBOX,
            pending_inputs: DEFAULT_PENDING_INPUTS,
            replay_frames: DEFAULT_REPLAY_FRAMES,
            replay_bytes: DEFAULT_REPLAY_BYTES,
            messages_per_minute: DEFAULT_MESSAGES_PER_MINUTE,
            history_turns: DEFAULT_HISTORY_TURNS,
            history_chars: DEFAULT_HISTORY_CHARS,
            system_prompt: None,
            idle_evict_secs: DEFAULT_IDLE_EVICT_SECS,
            reply_timeout_secs: DEFAULT_REPLY_TIMEOUT_SECS,
            store_timeout_secs: DEFAULT_STORE_TIMEOUT_SECS,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            admin_grace_secs: DEFAULT_ADMIN_GRACE_SECS,
            notify_retry_secs: DEFAULT_NOTIFY_RETRY_SECS,
            takeover_enabled: true,
            help_enabled: true,
            uploads_enabled: true,
            voice_enabled: true,
            files_path: "/chatbox/files".into(),
        }
    }
}
