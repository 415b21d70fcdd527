//! An in-memory [`BlobStore`] that serves bodies inline (it cannot sign URLs). It keeps the
//! port's rules like the real backends (limit while streaming, nothing stored on failure,
//! ranges resolved by [`ByteRange::bounds`]), checked by the same conformance suite.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream;

use crate::ids::FileId;
use crate::ports::blob::{BlobError, BlobLocation, BlobMeta, BlobStore, ByteRange, ByteStream};

/// Files kept in a map.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    files: Mutex<HashMap<FileId, (BlobMeta, Bytes)>>,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many files are stored.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no file is stored.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<FileId, (BlobMeta, Bytes)>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(
        &self,
        id: &FileId,
        meta: &BlobMeta,
        mut body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            buf.extend_from_slice(&chunk?);
            if buf.len() as u64 > max_bytes {
                return Err(BlobError::TooLarge { limit: max_bytes });
            }
        }
        let size = buf.len() as u64;
        let meta = BlobMeta {
            size,
            ..meta.clone()
        };
        self.lock().insert(id.clone(), (meta, buf.freeze()));
        Ok(size)
    }

    async fn head(&self, id: &FileId) -> Result<BlobMeta, BlobError> {
        self.lock()
            .get(id)
            .map(|(meta, _)| meta.clone())
            .ok_or(BlobError::NotFound)
    }

    async fn get(
        &self,
        id: &FileId,
        range: Option<ByteRange>,
    ) -> Result<(BlobMeta, ByteStream), BlobError> {
        let (meta, bytes) = self.lock().get(id).cloned().ok_or(BlobError::NotFound)?;
        let bytes = match range {
            None => bytes,
            Some(range) => {
                let (start, end) = range
                    .bounds(meta.size)
                    .ok_or(BlobError::RangeNotSatisfiable { size: meta.size })?;
                // Both bounds are below `meta.size`, which is `bytes.len()`, so they fit a usize.
                let start = usize::try_from(start).unwrap_or(usize::MAX);
                let end = usize::try_from(end).unwrap_or(usize::MAX);
                bytes.slice(start..=end)
            }
        };
        Ok((meta, stream::iter([Ok(bytes)]).boxed()))
    }

    async fn location(&self, id: &FileId, _ttl: Duration) -> Result<BlobLocation, BlobError> {
        if self.lock().contains_key(id) {
            Ok(BlobLocation::Inline)
        } else {
            Err(BlobError::NotFound)
        }
    }

    async fn delete(&self, id: &FileId) -> Result<(), BlobError> {
        self.lock().remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::blob_conformance;

    #[test]
    fn memory_blob_store_passes_the_conformance_suite() {
        futures::executor::block_on(blob_conformance::run_all(|| async {
            MemoryBlobStore::new()
        }));
    }
}
