//! The [`BlobStore`] port: where uploaded files live (S3, or a local directory in dev mode).
//!
//! Bodies move as streams of [`Bytes`] so a 100 MB upload is never held in memory whole.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::BoxError;
use crate::ids::FileId;

/// A body in transit.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// What is known about a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The sniffed MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// Where a client can fetch a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A short-lived signed URL (never logged, never sent to an LLM).
    SignedUrl(String),
    /// The store cannot sign URLs; stream the bytes through the server.
    Inline,
}

/// Why a blob operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No such file.
    #[error("file not found")]
    NotFound,
    /// The body is larger than allowed.
    #[error("file exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A transient failure.
    #[error("file storage temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// Any other backend failure.
    #[error("file storage failed")]
    Backend(#[source] BoxError),
}

/// File storage.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores a body under `id`, at most `max_bytes`; returns the byte count.
    async fn put(
        &self,
        id: &FileId,
        meta: &BlobMeta,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError>;

    /// Streams a stored body with its metadata.
    async fn get(&self, id: &FileId) -> Result<(BlobMeta, ByteStream), BlobError>;

    /// Where a client should fetch the file, valid for `ttl`.
    async fn location(&self, id: &FileId, ttl: Duration) -> Result<BlobLocation, BlobError>;

    /// Deletes a file (no-op when absent).
    async fn delete(&self, id: &FileId) -> Result<(), BlobError>;
}
