//! An in-memory [`BlobStore`] that serves bodies inline (it cannot sign URLs).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream;

use crate::ids::FileId;
use crate::ports::blob::{BlobError, BlobLocation, BlobMeta, BlobStore, ByteStream};

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

    async fn get(&self, id: &FileId) -> Result<(BlobMeta, ByteStream), BlobError> {
        let (meta, bytes) = self.lock().get(id).cloned().ok_or(BlobError::NotFound)?;
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
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn put_get_limit_and_delete() {
        let store = MemoryBlobStore::new();
        let id = FileId::parse("f1").unwrap();
        let meta = BlobMeta {
            mime_type: "text/plain".into(),
            size: 0,
        };
        let body = || {
            stream::iter([
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ])
            .boxed()
        };
        assert_eq!(block_on(store.put(&id, &meta, body(), 100)).unwrap(), 11);
        let (got_meta, got) = block_on(store.get(&id)).unwrap();
        assert_eq!(got_meta.size, 11);
        let bytes: Vec<Bytes> = block_on(got.map(Result::unwrap).collect());
        assert_eq!(bytes.concat(), b"hello world");
        assert!(matches!(
            block_on(store.put(&id, &meta, body(), 5)),
            Err(BlobError::TooLarge { limit: 5 })
        ));
        assert_eq!(
            block_on(store.location(&id, Duration::from_secs(60))).unwrap(),
            BlobLocation::Inline
        );
        block_on(store.delete(&id)).unwrap();
        assert!(matches!(block_on(store.get(&id)), Err(BlobError::NotFound)));
    }
}
