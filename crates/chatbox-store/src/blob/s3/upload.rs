//! Streaming a body into S3 within a size limit and about one part of memory.
//!
//! The body is read into a buffer until it ends or passes [`MULTIPART_PART_SIZE`]. A body that
//! ends first is one `PutObject`. A larger one becomes a multipart upload: each full part is
//! sent (`UploadPart`) before more of the body is read, and the rest goes as the last part.
//! The limit is checked on every chunk, before it is buffered. Any failure after the multipart
//! upload was created (the limit, the body stream, a part, the completion) aborts it, so S3
//! keeps no parts; if the caller drops the future midway, a guard aborts it in the background.

use std::collections::HashMap;

use aws_sdk_s3::primitives::ByteStream as SdkBody;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use chatbox_core::BlobError;
use chatbox_core::ports::blob::{BlobMeta, ByteStream};
use futures::StreamExt;

use super::S3BlobStore;
use super::object::{MIME, NAME, OWNER, classify, encode};

/// Size of each multipart part but the last, and the largest body sent in one `PutObject`:
/// 8 MiB.
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3 numbers parts from 1 to 10,000.
const MAX_PARTS: i32 = 10_000;

/// Stores `body` as the object `key`, reading at most `max_bytes`; returns the byte count.
pub(super) async fn put(
    store: &S3BlobStore,
    key: &str,
    meta: &BlobMeta,
    mut body: ByteStream,
    max_bytes: u64,
) -> Result<u64, BlobError> {
    let mut buf = BytesMut::new();
    let mut total = 0;
    while buf.len() <= MULTIPART_PART_SIZE {
        match next_chunk(&mut body, &mut total, max_bytes).await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => {
                put_object(store, key, meta, buf.freeze()).await?;
                return Ok(total);
            }
        }
    }
    let create = store
        .client
        .create_multipart_upload()
        .bucket(&store.bucket)
        .key(key)
        .content_type(&meta.mime_type)
        .set_metadata(Some(metadata(meta)))
        .send();
    let created = store.deadline(create).await?.map_err(classify)?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| BlobError::Backend("S3 started a multipart upload without an id".into()))?;
    let guard = AbortGuard {
        store: store.clone(),
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
        armed: true,
    };
    let result = async {
        let parts = upload_parts(store, &guard, buf, body, &mut total, max_bytes).await?;
        let complete = store
            .client
            .complete_multipart_upload()
            .bucket(&store.bucket)
            .key(key)
            .upload_id(&guard.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send();
        store.deadline(complete).await?.map_err(classify)?;
        Ok(total)
    }
    .await;
    match result {
        Ok(total) => {
            guard.disarm();
            Ok(total)
        }
        Err(e) => {
            guard.abort().await;
            Err(e)
        }
    }
}

/// Sends `buf` and the rest of `body` as parts; returns them for the completion.
async fn upload_parts(
    store: &S3BlobStore,
    upload: &AbortGuard,
    mut buf: BytesMut,
    mut body: ByteStream,
    total: &mut u64,
    max_bytes: u64,
) -> Result<Vec<CompletedPart>, BlobError> {
    let mut parts = Vec::new();
    loop {
        while buf.len() >= MULTIPART_PART_SIZE {
            let part = buf.split_to(MULTIPART_PART_SIZE).freeze();
            parts.push(upload_part(store, upload, parts.len(), part).await?);
        }
        match next_chunk(&mut body, total, max_bytes).await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => break,
        }
    }
    if !buf.is_empty() {
        parts.push(upload_part(store, upload, parts.len(), buf.freeze()).await?);
    }
    Ok(parts)
}

/// Sends part `index + 1`.
async fn upload_part(
    store: &S3BlobStore,
    upload: &AbortGuard,
    index: usize,
    part: Bytes,
) -> Result<CompletedPart, BlobError> {
    let number = i32::try_from(index + 1)
        .ok()
        .filter(|n| *n <= MAX_PARTS)
        .ok_or_else(|| BlobError::Backend("the body needs more than 10,000 parts".into()))?;
    let len = i64::try_from(part.len()).unwrap_or(i64::MAX);
    let send = store
        .client
        .upload_part()
        .bucket(&store.bucket)
        .key(&upload.key)
        .upload_id(&upload.upload_id)
        .part_number(number)
        .content_length(len)
        .body(SdkBody::from(part))
        .send();
    let out = store.deadline(send).await?.map_err(classify)?;
    Ok(CompletedPart::builder()
        .set_e_tag(out.e_tag().map(str::to_owned))
        .part_number(number)
        .build())
}

async fn put_object(
    store: &S3BlobStore,
    key: &str,
    meta: &BlobMeta,
    bytes: Bytes,
) -> Result<(), BlobError> {
    let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let send = store
        .client
        .put_object()
        .bucket(&store.bucket)
        .key(key)
        .content_type(&meta.mime_type)
        .content_length(len)
        .set_metadata(Some(metadata(meta)))
        .body(SdkBody::from(bytes))
        .send();
    store.deadline(send).await?.map_err(classify)?;
    Ok(())
}

/// The next chunk of `body`, counted into `total`; `TooLarge` once `total` passes the limit.
async fn next_chunk(
    body: &mut ByteStream,
    total: &mut u64,
    max_bytes: u64,
) -> Result<Option<Bytes>, BlobError> {
    let Some(chunk) = body.next().await.transpose()? else {
        return Ok(None);
    };
    *total += chunk.len() as u64;
    if *total > max_bytes {
        return Err(BlobError::TooLarge { limit: max_bytes });
    }
    Ok(Some(chunk))
}

fn metadata(meta: &BlobMeta) -> HashMap<String, String> {
    HashMap::from([
        (OWNER.to_owned(), encode(meta.owner.as_str())),
        (NAME.to_owned(), encode(&meta.name)),
        (MIME.to_owned(), encode(&meta.mime_type)),
    ])
}

/// A started multipart upload, aborted unless disarmed: explicitly after a failure, or in the
/// background when the put's future is dropped midway.
struct AbortGuard {
    store: S3BlobStore,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    fn disarm(mut self) {
        self.armed = false;
    }

    async fn abort(mut self) {
        self.armed = false;
        abort(&self.store, &self.key, &self.upload_id).await;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, key, upload_id) = (
                self.store.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.upload_id),
            );
            runtime.spawn(async move { abort(&store, &key, &upload_id).await });
        }
    }
}

/// Aborts a multipart upload; a failure is logged (the bucket's lifecycle rule for incomplete
/// uploads is the backstop).
async fn abort(store: &S3BlobStore, key: &str, upload_id: &str) {
    let send = store
        .client
        .abort_multipart_upload()
        .bucket(&store.bucket)
        .key(key)
        .upload_id(upload_id)
        .send();
    let failed = match store.deadline(send).await {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => classify(e),
        Err(e) => e,
    };
    tracing::warn!(
        bucket = %store.bucket,
        key,
        error = %failed,
        "cannot abort an S3 multipart upload; its parts stay until the bucket's lifecycle rule removes them"
    );
}
