//! The [`BlobStore`] port: where uploaded files live (S3, or a local directory in dev mode).
//!
//! Bodies move as streams of [`Bytes`] so a 100 MB upload is never held in memory whole.
//! Semantics every backend must honour (checked by `testing::blob_conformance`):
//!
//! - `put` enforces its limit while the body streams in: a body longer than the limit fails
//!   with [`BlobError::TooLarge`] and leaves nothing stored, and a body stream that fails leaves
//!   nothing stored either. A `put` to an existing id replaces body and metadata; a failed one
//!   keeps what was there.
//! - The stored [`BlobMeta::size`] is the number of bytes actually received; the `size` a caller
//!   passes to `put` is ignored.
//! - `get` with a [`ByteRange`] streams only those bytes (the returned metadata still describes
//!   the whole file); a range starting at or past the end is
//!   [`BlobError::RangeNotSatisfiable`].
//! - `delete` is idempotent; every other operation on a missing id is [`BlobError::NotFound`].

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::BoxError;
use crate::ids::{FileId, UserId};

/// A body in transit.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

/// The longest a signed URL from [`BlobStore::location`] may stay valid: 5 minutes. Longer
/// requested lifetimes are cut to this.
pub const MAX_SIGNED_URL_TTL: Duration = Duration::from_secs(300);

/// What is known about a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The user who uploaded it (checked before anyone else may read it).
    pub owner: UserId,
    /// The sanitised original file name (`upload::Accepted::safe_name`), offered when the file
    /// is downloaded.
    pub name: String,
    /// The sniffed MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A byte range of a stored file, as in an HTTP `Range: bytes=start-end` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte, counted from 0.
    pub start: u64,
    /// Last byte, inclusive; `None` means to the end of the file. Past the end is cut to it.
    pub end_inclusive: Option<u64>,
}

impl ByteRange {
    /// The first and last byte (inclusive) this range selects from a file of `size` bytes, or
    /// `None` when it selects nothing (it starts at or past the end, or ends before it starts).
    /// Every backend resolves ranges with this, so they agree on the edge cases.
    pub fn bounds(&self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        let end = self.end_inclusive.map_or(last, |e| e.min(last));
        (self.start <= end).then_some((self.start, end))
    }
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
    /// The requested range selects no byte of the file.
    #[error("requested range not satisfiable (file has {size} bytes)")]
    RangeNotSatisfiable {
        /// The file's size in bytes.
        size: u64,
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
    /// Stores a body under `id` with `meta` (its `size` is ignored), reading at most
    /// `max_bytes`; returns the byte count.
    async fn put(
        &self,
        id: &FileId,
        meta: &BlobMeta,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError>;

    /// The metadata of a stored file, without its body (for ownership checks).
    async fn head(&self, id: &FileId) -> Result<BlobMeta, BlobError>;

    /// Streams a stored body, or the bytes of `range` of it, with the file's metadata.
    async fn get(
        &self,
        id: &FileId,
        range: Option<ByteRange>,
    ) -> Result<(BlobMeta, ByteStream), BlobError>;

    /// Where a client should fetch the file. A [`BlobLocation::SignedUrl`] is valid for at most
    /// `ttl`, and implementations cap `ttl` at [`MAX_SIGNED_URL_TTL`] (5 minutes) whatever is
    /// asked. A missing file is [`BlobError::NotFound`].
    async fn location(&self, id: &FileId, ttl: Duration) -> Result<BlobLocation, BlobError>;

    /// Deletes a file (no-op when absent).
    async fn delete(&self, id: &FileId) -> Result<(), BlobError>;
}

#[cfg(test)]
mod tests {
    use super::ByteRange;

    fn range(start: u64, end_inclusive: Option<u64>) -> ByteRange {
        ByteRange {
            start,
            end_inclusive,
        }
    }

    #[test]
    fn bounds_follow_http_range_rules() {
        assert_eq!(range(0, None).bounds(10), Some((0, 9)));
        assert_eq!(range(2, Some(4)).bounds(10), Some((2, 4)));
        assert_eq!(range(9, Some(9)).bounds(10), Some((9, 9)));
        assert_eq!(range(5, Some(100)).bounds(10), Some((5, 9)), "end is cut");
        assert_eq!(range(10, None).bounds(10), None, "starts at the end");
        assert_eq!(range(11, Some(20)).bounds(10), None);
        assert_eq!(range(4, Some(3)).bounds(10), None, "ends before it starts");
        assert_eq!(range(0, None).bounds(0), None, "an empty file has no byte");
        assert_eq!(range(u64::MAX, None).bounds(u64::MAX), None);
    }
}
