//! The WebSocket protocol of CONTRACT §3.
//!
//! Two layers:
//! - [`Envelope`]: the wire form, one JSON object per text frame, both directions. [`decode`] turns
//!   any bytes into an envelope or a typed [`FrameError`]; [`Envelope::encode`] writes one back.
//!   Unknown fields are ignored, NUL bytes are stripped, metadata numbers and booleans are
//!   stringified.
//! - [`ClientFrame`]: what a client may ask for, validated (required fields per type, lengths in
//!   characters, timestamp skew). The engine only ever sees validated frames.
//!
//! Every failure maps to a contract [`ErrorCode`] through [`FrameError::code`].

mod envelope;
mod error_code;
mod frame_type;
mod inbound;
mod outbound;
mod templates;

pub use envelope::{Envelope, ErrorBody, Metadata, ModelInfo, decode};
pub use error_code::ErrorCode;
pub use frame_type::FrameType;
pub use inbound::{ClientCommand, ClientFrame, FrameError, limits};
pub use templates::{ChunkFrames, PongFrame, is_bare_ping};
