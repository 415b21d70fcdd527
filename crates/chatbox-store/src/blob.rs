//! File storage: core's [`chatbox_core::BlobStore`] port over a local directory
//! ([`LocalBlobStore`], dev mode and single-node installs) and over S3 or an S3-compatible
//! service ([`S3BlobStore`]). Both pass core's BlobStore conformance suite.
//!
//! Guarantees shared by both:
//! - A body is streamed, never held whole: the local store writes it to a temporary file and
//!   renames it into place, S3 sends it in one `PutObject` up to 8 MiB and as a multipart upload
//!   of 8 MiB parts beyond. The size limit is enforced while the body arrives; a body over it,
//!   or one that fails, leaves nothing visible and nothing behind (temporary file deleted,
//!   multipart upload aborted).
//! - Owner, sanitised name and MIME type are stored with the body (a JSON sidecar, or object
//!   metadata) so ownership checks need no other lookup.
//! - File ids name files and object keys directly, so only ids made of ASCII letters, digits,
//!   `-` and `_` (at most [`MAX_ID_LEN`]) are storable: such a name cannot climb out of the
//!   directory, be normalised away in a URL, or collide with a sidecar or temporary file. The
//!   server generates ids of that shape; any other id is never found, and storing under it
//!   fails.
//! - Backend failures are [`chatbox_core::BlobError`]s: throttling, 5xx and timeouts are
//!   `Unavailable`, everything else unexpected is `Backend`.

mod local;
mod s3;

use chatbox_core::{BlobError, FileId};

pub use local::LocalBlobStore;
pub use s3::{DEFAULT_S3_TIMEOUT_MS, MULTIPART_PART_SIZE, S3BlobStore, S3Config};

/// The longest storable file id, in characters.
pub const MAX_ID_LEN: usize = 200;

/// The name `id` is stored under, when it is storable (see the module documentation).
fn storage_name(id: &FileId) -> Option<&str> {
    let s = id.as_str();
    (s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(s)
}

/// The error of storing under an id that is not storable.
fn unstorable(id: &FileId) -> BlobError {
    BlobError::Backend(
        format!(
            "file id {id:?} cannot name a stored file (only ASCII letters, digits, '-' and '_', \
             at most {MAX_ID_LEN})"
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_storable() {
        let id = |s: &str| FileId::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        for ok in ["abc", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "A_b-9"] {
            assert_eq!(storage_name(&id(ok)), Some(ok));
        }
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in [
            "..",
            ".",
            "a.meta.json",
            ".tmp-1",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert_eq!(storage_name(&id(bad)), None, "{bad}");
        }
    }
}
