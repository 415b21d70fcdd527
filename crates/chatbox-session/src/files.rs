//! Files and voice notes sent into a conversation (`file_upload`, `voice_message`; CONTRACT §3
//! and §6).
//!
//! Guarantees:
//! - A file is used only when it is in the blob store and the sender uploaded it. Anything else
//!   is `FORBIDDEN` with one message for both cases, so the answer never tells whether someone
//!   else's file exists.
//! - The stored message carries `file_id` and the client-facing `file_url`
//!   (`{files_path}/{file_id}`). The engine never asks the blob store for a signed URL
//!   (`location`), so none can reach a provider, a log or the store.
//! - `file_name`, `file_size` and `mime_type` come from the blob's metadata, never from the
//!   client (`turn::SERVER_KEYS` drops client values).
//! - An image (JPEG, PNG, GIF, WebP, at most [`MAX_IMAGE_BYTES`]) goes to a provider that takes
//!   images as bytes read here from the blob store, with the turn being answered only; every
//!   file is also described to the model in text (`history::file_line`).
//! - A voice note is transcribed off the session task, which stays responsive (connects, pings,
//!   typing). The inputs that follow it wait, so it keeps its place in the conversation. The task
//!   owns the transcription's deadline (the reply timeout), so a transcriber that hangs or
//!   panics still ends with the note stored and the user told.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chatbox_core::ports::llm::{AudioInput, ImagePart, LlmError, LlmProvider, TimeoutPhase};
use chatbox_core::protocol::{Envelope, ErrorCode, FrameType};
use chatbox_core::{BlobError, BlobMeta, BlobStore, FileId, Message, Sender, UserId};
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::connection::ConnId;
use crate::history::TRANSCRIPT_KEY;
use crate::task::{Command, SessionTask};
use crate::turn::client_metadata;

/// The largest image sent to a model: 5 MB (larger ones are described in text only).
pub(crate) const MAX_IMAGE_BYTES: u64 = 5 * 1024 * 1024;
/// The largest voice note transcribed: 25 MB, OpenAI's limit for `audio/transcriptions`.
pub(crate) const MAX_VOICE_BYTES: u64 = 25 * 1024 * 1024;

/// The answer to a file id that is unknown or someone else's: the same for both.
const NOT_YOURS: &str = "No such file among your uploads";

/// Image types vision models take.
fn is_vision_image(mime_type: &str) -> bool {
    matches!(
        mime_type,
        "image/jpeg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// Recordings a voice note may be (browsers record WebM, sniffed as audio or video).
fn is_audio(mime_type: &str) -> bool {
    mime_type.starts_with("audio/") || mime_type == "video/webm"
}

/// Why a blob could not be read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The file is larger than the caller allows.
    #[error("file larger than {0} bytes")]
    TooLarge(u64),
    /// The blob store did not answer in time.
    #[error("file storage did not answer in time")]
    Timeout,
}

/// Reads the whole of blob `id`, refusing more than `max` bytes, within `limit`.
async fn read_blob(
    blobs: &dyn BlobStore,
    id: &FileId,
    max: u64,
    limit: Duration,
) -> Result<Vec<u8>, ReadError> {
    let read = async {
        let (meta, mut body) = blobs.get(id, None).await?;
        if meta.size > max {
            return Err(ReadError::TooLarge(max));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            // The metadata is not trusted to bound what the body holds.
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(ReadError::TooLarge(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or(Err(ReadError::Timeout))
}

/// An image to read from the blob store and attach to the turn being answered.
pub(crate) struct ImageSource {
    blobs: Arc<dyn BlobStore>,
    file_id: FileId,
    mime_type: String,
    limit: Duration,
}

impl ImageSource {
    /// The image, or `None` when it cannot be read (the model then has its description only).
    pub(crate) async fn fetch(self) -> Option<ImagePart> {
        match read_blob(&*self.blobs, &self.file_id, MAX_IMAGE_BYTES, self.limit).await {
            Ok(data) => Some(ImagePart {
                mime_type: self.mime_type,
                data: data.into(),
            }),
            Err(e) => {
                tracing::warn!(file = %self.file_id, error = %e, "reading an image for the model failed; sending its description only");
                None
            }
        }
    }
}

/// Why a voice note has no transcript.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unheard {
    /// Its bytes could not be read.
    #[error("the voice note could not be read: {0}")]
    Unreadable(ReadError),
    /// The transcriber failed (or ran out of time).
    #[error("the transcriber failed: {0}")]
    Failed(LlmError),
    /// The server stopped before the transcript came.
    #[error("the server stopped before the transcript came")]
    Stopped,
}

/// A voice note being transcribed off the session task.
pub(crate) struct Transcribing {
    id: u64,
    conn: ConnId,
    /// The note as it will be stored; content and `transcript` are filled in when it ends.
    message: Message,
    /// When the session gives up on it.
    pub(crate) deadline: Instant,
    /// Stops the transcription when the session lets go of it (gave up, or stopped).
    _cancel: DropGuard,
}

impl SessionTask {
    /// A `file_upload`: checked, stored, echoed, then answered like a user message (its caption,
    /// with the image when the provider takes images).
    pub(crate) async fn file_upload(
        &mut self,
        conn: ConnId,
        user: &UserId,
        file_id: FileId,
        caption: String,
        metadata: BTreeMap<String, String>,
    ) {
        if !self.shared.config.uploads_enabled {
            return self.refuse_file(
                conn,
                ErrorCode::FeatureDisabled,
                "File uploads are disabled on this server",
            );
        }
        let Some(blobs) = self.shared.blobs.clone() else {
            return self.refuse_file(
                conn,
                ErrorCode::FeatureDisabled,
                "File uploads are not available: uploads are not configured",
            );
        };
        let meta = match self.owned_file(&*blobs, &file_id, user).await {
            Ok(meta) => meta,
            Err((code, message)) => return self.refuse_file(conn, code, message),
        };
        let image = (is_vision_image(&meta.mime_type) && meta.size <= MAX_IMAGE_BYTES).then(|| {
            ImageSource {
                blobs,
                file_id: file_id.clone(),
                mime_type: meta.mime_type.clone(),
                limit: self.shared.store_timeout(),
            }
        });
        let message = self.file_message(file_id, &meta, caption, metadata);
        if self
            .post_user_message(conn, &message, FrameType::FileUpload)
            .await
        {
            self.ask_model(&message, image).await;
        }
    }

    /// A `voice_message`: checked, then transcribed (off this task) and answered, or stored
    /// untranscribed when no transcriber is configured.
    pub(crate) async fn voice_message(
        &mut self,
        conn: ConnId,
        user: &UserId,
        file_id: FileId,
        metadata: BTreeMap<String, String>,
    ) {
        if !self.shared.config.voice_enabled {
            return self.refuse_file(
                conn,
                ErrorCode::FeatureDisabled,
                "Voice messages are disabled on this server",
            );
        }
        let Some(blobs) = self.shared.blobs.clone() else {
            return self.refuse_file(
                conn,
                ErrorCode::FeatureDisabled,
                "Voice messages are not available: uploads are not configured",
            );
        };
        let meta = match self.owned_file(&*blobs, &file_id, user).await {
            Ok(meta) => meta,
            Err((code, message)) => return self.refuse_file(conn, code, message),
        };
        if !is_audio(&meta.mime_type) {
            return self.refuse_file(
                conn,
                ErrorCode::InvalidFormat,
                "This file is not a voice recording",
            );
        }
        let mut message = self.file_message(file_id.clone(), &meta, String::new(), metadata);
        let Some(transcriber) = self.shared.transcriber.clone() else {
            message.metadata.insert(TRANSCRIPT_KEY.into(), "off".into());
            if self
                .post_user_message(conn, &message, FrameType::VoiceMessage)
                .await
            {
                let env = Envelope::notification(
                    "Voice transcription is off on this server: your voice note was delivered, \
                     but the assistant cannot answer it.",
                    Utc::now(),
                );
                self.fanout.direct_env(conn, env);
            }
            return;
        };
        if meta.size > MAX_VOICE_BYTES {
            return self.refuse_file(
                conn,
                ErrorCode::InvalidFormat,
                "Voice notes over 25 MB cannot be transcribed",
            );
        }
        self.transcriptions += 1;
        let id = self.transcriptions;
        let deadline =
            Instant::now() + Duration::from_secs(self.shared.config.reply_timeout_secs.max(1));
        let cancel = CancellationToken::new();
        let job = Transcription {
            blobs,
            transcriber,
            file_id,
            meta,
            read_limit: self.shared.store_timeout(),
            deadline,
            cancel: cancel.clone(),
            id,
            mailbox: self.mailbox.clone(),
        };
        self.shared
            .tracker
            .spawn(tracing::Instrument::in_current_span(job.run()));
        self.transcription = Some(Box::new(Transcribing {
            id,
            conn,
            message,
            deadline,
            _cancel: cancel.drop_guard(),
        }));
    }

    /// The transcription `id` ended (a stale id, one the session gave up on, is ignored).
    pub(crate) async fn transcribed(&mut self, id: u64, result: Result<String, Unheard>) {
        if let Some(note) = self.transcription.take_if(|t| t.id == id) {
            self.voice_heard(*note, result).await;
        }
    }

    /// The transcription outlived its deadline.
    pub(crate) async fn transcription_timed_out(&mut self) {
        if let Some(note) = self.transcription.take() {
            let timeout = LlmError::Timeout {
                phase: TimeoutPhase::Total,
            };
            self.voice_heard(*note, Err(Unheard::Failed(timeout))).await;
        }
    }

    /// The server stops with a transcription in flight: the note is kept untranscribed.
    pub(crate) async fn transcription_stopped(&mut self) {
        if let Some(note) = self.transcription.take() {
            self.voice_heard(*note, Err(Unheard::Stopped)).await;
        }
    }

    /// Stores the voice note with what became of its transcript, and answers a transcript.
    async fn voice_heard(&mut self, note: Transcribing, result: Result<String, Unheard>) {
        let Transcribing {
            conn, mut message, ..
        } = note;
        let transcript = match result {
            Ok(text) => text.trim().to_owned(),
            Err(why) => {
                tracing::warn!(session = %self.session.id, error = %why, "transcribing a voice note failed");
                message
                    .metadata
                    .insert(TRANSCRIPT_KEY.into(), "failed".into());
                if self
                    .post_user_message(conn, &message, FrameType::VoiceMessage)
                    .await
                {
                    let env = Envelope::error(
                        ErrorCode::LlmUnavailable,
                        "Transcription failed: your voice note was delivered without text",
                        Utc::now(),
                    );
                    self.fanout.direct_env(conn, env);
                }
                return;
            }
        };
        message.content = transcript;
        message
            .metadata
            .insert(TRANSCRIPT_KEY.into(), "true".into());
        if !self
            .post_user_message(conn, &message, FrameType::VoiceMessage)
            .await
        {
            return;
        }
        if message.content.is_empty() {
            let env =
                Envelope::notification("No speech was recognised in your voice note.", Utc::now());
            return self.fanout.direct_env(conn, env);
        }
        self.ask_model(&message, None).await;
    }

    /// The metadata of `id` when `user` uploaded it; otherwise the error to answer with.
    async fn owned_file(
        &self,
        blobs: &dyn BlobStore,
        id: &FileId,
        user: &UserId,
    ) -> Result<BlobMeta, (ErrorCode, &'static str)> {
        let unavailable = (
            ErrorCode::StorageError,
            "Could not read the file; please retry",
        );
        match tokio::time::timeout(self.shared.store_timeout(), blobs.head(id)).await {
            Ok(Ok(meta)) if &meta.owner == user => Ok(meta),
            Ok(Ok(_) | Err(BlobError::NotFound)) => Err((ErrorCode::Forbidden, NOT_YOURS)),
            Ok(Err(e)) => {
                tracing::warn!(session = %self.session.id, file = %id, error = %e, "reading a file's metadata failed");
                Err(unavailable)
            }
            Err(_) => {
                tracing::warn!(session = %self.session.id, file = %id, "reading a file's metadata timed out");
                Err(unavailable)
            }
        }
    }

    /// The user's message carrying file `id`: the caption, the client-facing URL and the
    /// blob's own name, size and type.
    fn file_message(
        &self,
        id: FileId,
        meta: &BlobMeta,
        caption: String,
        metadata: BTreeMap<String, String>,
    ) -> Message {
        let mut message = Message::text(Sender::User, caption, Utc::now());
        let base = self.shared.config.files_path.trim_end_matches('/');
        message.file_url = Some(format!("{base}/{}", id.as_str()));
        message.file_id = Some(id);
        message.metadata = client_metadata(metadata);
        for (key, value) in [
            ("file_name", meta.name.clone()),
            ("file_size", meta.size.to_string()),
            ("mime_type", meta.mime_type.clone()),
        ] {
            message.metadata.insert(key.into(), value);
        }
        message
    }

    fn refuse_file(&mut self, conn: ConnId, code: ErrorCode, message: &str) {
        self.fanout
            .direct_env(conn, Envelope::error(code, message, Utc::now()));
    }
}

/// One voice note's transcription, run as its own task.
struct Transcription {
    blobs: Arc<dyn BlobStore>,
    transcriber: Arc<dyn LlmProvider>,
    file_id: FileId,
    meta: BlobMeta,
    read_limit: Duration,
    deadline: Instant,
    cancel: CancellationToken,
    id: u64,
    mailbox: mpsc::Sender<Command>,
}

impl Transcription {
    /// Reads the note, transcribes it and posts the outcome to the session (nothing when the
    /// session let go of it first).
    async fn run(self) {
        let Self {
            blobs,
            transcriber,
            file_id,
            meta,
            read_limit,
            deadline,
            cancel,
            id,
            mailbox,
        } = self;
        let work = async {
            let bytes = read_blob(&*blobs, &file_id, MAX_VOICE_BYTES, read_limit)
                .await
                .map_err(Unheard::Unreadable)?;
            let audio = AudioInput {
                bytes: bytes.into(),
                file_name: meta.name,
                mime_type: meta.mime_type,
            };
            transcriber.transcribe(audio).await.map_err(Unheard::Failed)
        };
        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            result = tokio::time::timeout_at(deadline, work) => result.unwrap_or_else(|_| {
                Err(Unheard::Failed(LlmError::Timeout { phase: TimeoutPhase::Total }))
            }),
        };
        let _ = mailbox
            .send(Command::Transcribed(Box::new((id, result))))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_recordings_are_recognised_by_type() {
        for mime in ["image/jpeg", "image/png", "image/gif", "image/webp"] {
            assert!(is_vision_image(mime), "{mime}");
        }
        for mime in ["image/tiff", "image/svg+xml", "application/pdf"] {
            assert!(!is_vision_image(mime), "{mime}");
        }
        for mime in ["audio/ogg", "audio/mpeg", "audio/webm", "video/webm"] {
            assert!(is_audio(mime), "{mime}");
        }
        for mime in ["video/mp4", "image/png", "text/plain"] {
            assert!(!is_audio(mime), "{mime}");
        }
    }
}
