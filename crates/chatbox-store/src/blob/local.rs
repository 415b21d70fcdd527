//! [`LocalBlobStore`]: files in one directory (the server passes `<CHATBOX_DATA_DIR>/files`).
//!
//! A file `id` is two entries: the body `<id>` and its metadata `<id>.meta.json` (owner, name,
//! MIME type, size). Both are first written in full to temporary files in the same directory
//! (`.tmp-<random>`, flushed to disk), then renamed into place, sidecar first: the body's
//! presence is what makes a file exist, so a reader never sees a partial body or a body without
//! metadata. Delete removes the body first for the same reason. Temporary files of a failed or
//! abandoned put are deleted at once; ones left by a crash are swept when the store is opened.
//!
//! An overwrite replaces sidecar and body one after the other, so a reader racing an overwrite
//! of the same id may for that instant pair the new metadata with the old body; the server
//! never overwrites (every upload gets a fresh id). The store serves bodies inline: it cannot
//! sign URLs. All file I/O goes through `tokio::fs`.

use std::io::{ErrorKind, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chatbox_core::ports::blob::{BlobLocation, BlobMeta, ByteRange, ByteStream};
use chatbox_core::{BlobError, BlobStore, FileId, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{storage_name, unstorable};
use crate::error::Error;

/// Temporary files start with this; no storable id does (ids hold no `.`).
const TEMP_PREFIX: &str = ".tmp-";
/// The sidecar's suffix.
const META_SUFFIX: &str = ".meta.json";
/// Temporary files older than this when the store opens were left by a crash.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
/// Bytes read from disk per chunk of a body stream.
const READ_CHUNK: usize = 64 * 1024;

/// Files in a local directory.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    dir: PathBuf,
}

/// The sidecar's content.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    owner: UserId,
    name: String,
    mime_type: String,
    size: u64,
}

impl LocalBlobStore {
    /// Opens (creating it if needed) the directory `dir`, and sweeps temporary files that a
    /// crash left behind.
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        let data_dir = |source| Error::DataDir {
            path: dir.clone(),
            source,
        };
        tokio::fs::create_dir_all(&dir).await.map_err(data_dir)?;
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(data_dir)?;
        while let Ok(Some(entry)) = entries.next_entry().await {
            let stale = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if stale && entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
        Ok(Self { dir })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn body_path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{META_SUFFIX}"))
    }

    fn temp_path(&self) -> PathBuf {
        self.dir
            .join(format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()))
    }

    /// Writes `body` (at most `max_bytes`) and then its sidecar to their temporary files,
    /// flushed to disk; returns the body's size.
    async fn write_temps(
        &self,
        body_temp: &TempFile,
        meta_temp: &TempFile,
        meta: &BlobMeta,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut file = new_file(&body_temp.path).await?;
        let mut size = 0_u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(BlobError::TooLarge { limit: max_bytes });
            }
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        let sidecar = Sidecar {
            owner: meta.owner.clone(),
            name: meta.name.clone(),
            mime_type: meta.mime_type.clone(),
            size,
        };
        let json = serde_json::to_vec(&sidecar).map_err(|e| BlobError::Backend(Box::new(e)))?;
        let mut file = new_file(&meta_temp.path).await?;
        file.write_all(&json).await.map_err(io)?;
        file.sync_all().await.map_err(io)?;
        Ok(size)
    }

    async fn read_meta(&self, name: &str) -> Result<BlobMeta, BlobError> {
        let raw = tokio::fs::read(self.meta_path(name))
            .await
            .map_err(not_found_or_io)?;
        let sidecar: Sidecar =
            serde_json::from_slice(&raw).map_err(|e| BlobError::Backend(Box::new(e)))?;
        Ok(BlobMeta {
            owner: sidecar.owner,
            name: sidecar.name,
            mime_type: sidecar.mime_type,
            size: sidecar.size,
        })
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(
        &self,
        id: &FileId,
        meta: &BlobMeta,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let name = storage_name(id).ok_or_else(|| unstorable(id))?;
        let body_temp = TempFile::new(self.temp_path());
        let meta_temp = TempFile::new(self.temp_path());
        let written = self
            .write_temps(&body_temp, &meta_temp, meta, body, max_bytes)
            .await;
        let size = match written {
            Ok(size) => size,
            Err(e) => {
                body_temp.remove().await;
                meta_temp.remove().await;
                return Err(e);
            }
        };
        tokio::fs::rename(&meta_temp.path, self.meta_path(name))
            .await
            .map_err(io)?;
        meta_temp.disarm();
        tokio::fs::rename(&body_temp.path, self.body_path(name))
            .await
            .map_err(io)?;
        body_temp.disarm();
        Ok(size)
    }

    async fn head(&self, id: &FileId) -> Result<BlobMeta, BlobError> {
        let name = storage_name(id).ok_or(BlobError::NotFound)?;
        tokio::fs::metadata(self.body_path(name))
            .await
            .map_err(not_found_or_io)?;
        self.read_meta(name).await
    }

    async fn get(
        &self,
        id: &FileId,
        range: Option<ByteRange>,
    ) -> Result<(BlobMeta, ByteStream), BlobError> {
        let name = storage_name(id).ok_or(BlobError::NotFound)?;
        let mut file = tokio::fs::File::open(self.body_path(name))
            .await
            .map_err(not_found_or_io)?;
        let meta = self.read_meta(name).await?;
        let (start, len) = match range {
            None => (0, meta.size),
            Some(range) => {
                let (start, end) = range
                    .bounds(meta.size)
                    .ok_or(BlobError::RangeNotSatisfiable { size: meta.size })?;
                (start, end - start + 1)
            }
        };
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await.map_err(io)?;
        }
        let chunks = futures::stream::try_unfold((file, len), |(mut file, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left).map_or(READ_CHUNK, |l| l.min(READ_CHUNK));
            let mut buf = BytesMut::zeroed(want);
            let n = file.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                return Err(BlobError::Backend(
                    "the stored body is shorter than its metadata says".into(),
                ));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (file, left - n as u64))))
        });
        Ok((meta, chunks.boxed()))
    }

    async fn location(&self, id: &FileId, _ttl: Duration) -> Result<BlobLocation, BlobError> {
        self.head(id).await.map(|_| BlobLocation::Inline)
    }

    async fn delete(&self, id: &FileId) -> Result<(), BlobError> {
        let Some(name) = storage_name(id) else {
            return Ok(());
        };
        for path in [self.body_path(name), self.meta_path(name)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(())
    }
}

/// A temporary file deleted when dropped unless disarmed (renamed into place), so an abandoned
/// put (its future dropped) leaves nothing behind; a failed one deletes it at once.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        Self { path, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }

    async fn remove(mut self) {
        self.armed = false;
        // It may not have been created yet.
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let path = std::mem::take(&mut self.path);
        // Deleting is async like all our file I/O when a runtime is there to run it; a drop
        // outside any runtime (only at shutdown) unlinks directly.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let _ = tokio::fs::remove_file(path).await;
                });
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Creates a file that must not exist yet.
async fn new_file(path: &Path) -> Result<tokio::fs::File, BlobError> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await
        .map_err(io)
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Backend(Box::new(e))
}

fn not_found_or_io(e: std::io::Error) -> BlobError {
    if e.kind() == ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        io(e)
    }
}
