//! Uploads over HTTP (CONTRACT §6): `POST P/upload` and `GET P/files/{file_id}`.
//!
//! Guarantees:
//! - A body is never held whole in memory: the multipart field streams into the blob store,
//!   which enforces `upload_max_size` while it reads (413 past it, nothing stored).
//! - The type comes from the bytes (the first [`SNIFF_LEN`] are read before anything is stored)
//!   and the name's extension must agree ([`chatbox_core::upload::check`]); a refusal stores
//!   nothing. Exactly one file per request.
//! - A file is served to its owner or an admin only; anyone else gets the same 404 as for a
//!   file that does not exist. A presigned URL (≤ 5 minutes) is only ever a `Location` header.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::NestedPathRejection;
use axum::extract::{Multipart, NestedPath, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chatbox_core::ports::blob::{BlobLocation, ByteRange, MAX_SIGNED_URL_TTL};
use chatbox_core::upload::{SNIFF_LEN, UploadRejection, check, content_disposition, sniff};
use chatbox_core::{BlobError, BlobMeta, BlobStore, FileId, Identity};
use futures::StreamExt;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::rest::Caller;
use crate::router::Edge;

/// The multipart field that carries the file.
const FIELD: &str = "file";

/// Chunks in flight between the request and the store.
const PIPE_CHUNKS: usize = 4;

fn disabled(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "FEATURE_DISABLED",
        format!("{what} are disabled on this server"),
    )
}

fn blobs(edge: &Edge) -> Result<std::sync::Arc<dyn BlobStore>, ApiError> {
    edge.engine()
        .blobs()
        .cloned()
        .ok_or_else(|| disabled("Uploads"))
}

fn blob_error(e: BlobError) -> ApiError {
    match e {
        BlobError::NotFound => ApiError::not_found("File not found"),
        BlobError::TooLarge { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FILE_TOO_LARGE",
            format!("The file is larger than the limit of {limit} bytes"),
        ),
        BlobError::RangeNotSatisfiable { size } => ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "RANGE_NOT_SATISFIABLE",
            format!("The file has {size} bytes"),
        ),
        other => {
            tracing::error!(error = %other, "file storage failed");
            ApiError::unavailable("File storage temporarily unavailable")
        }
    }
}

fn rejection(r: &UploadRejection) -> ApiError {
    let status = StatusCode::from_u16(r.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        "UNSUPPORTED_TYPE"
    } else {
        "BAD_REQUEST"
    };
    ApiError::new(status, code, format!("Upload refused: {r}"))
}

fn bad_multipart(e: axum::extract::multipart::MultipartError) -> ApiError {
    // The body text names what is wrong (the Display only says "error parsing").
    ApiError::bad_request(format!("Malformed multipart body: {}", e.body_text()))
}

fn new_file_id() -> Result<FileId, ApiError> {
    let raw: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    FileId::parse(&raw).map_err(|_| ApiError::internal())
}

/// `POST P/upload` (multipart, one field `file`): `{file_id, file_url, size, mime_type}`.
pub async fn upload(
    State(edge): State<Edge>,
    Caller(who): Caller,
    nested: Result<NestedPath, NestedPathRejection>,
    mut form: Multipart,
) -> Result<Json<Value>, ApiError> {
    let config = edge.config();
    if !config.file_uploads && !config.voice_uploads {
        return Err(disabled("Uploads"));
    }
    let store = blobs(&edge)?;
    edge.check_upload_rate(&who.user_id)?;
    let mut field = loop {
        match form.next_field().await.map_err(bad_multipart)? {
            None => {
                return Err(ApiError::bad_request(
                    "No file: send it as the multipart field \"file\"",
                ));
            }
            Some(f) if f.name() == Some(FIELD) => break f,
            // Other (text) fields are ignored; a second file is refused below.
            Some(_) => {}
        }
    };
    let name = field.file_name().unwrap_or_default().to_owned();
    // Read what sniffing needs, then decide before storing anything.
    let mut head = BytesMut::new();
    let mut finished = false;
    while head.len() < SNIFF_LEN {
        match field.chunk().await.map_err(bad_multipart)? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => {
                finished = true;
                break;
            }
        }
    }
    if head.is_empty() {
        return Err(rejection(&UploadRejection::EmptyFile));
    }
    let accepted = check(&name, sniff(&head)).map_err(|r| rejection(&r))?;
    let audio = accepted.mime_type.starts_with("audio/") || accepted.mime_type == "video/webm";
    if !config.file_uploads && !audio {
        return Err(disabled("File uploads"));
    }
    if !config.voice_uploads && !config.file_uploads {
        return Err(disabled("Voice messages"));
    }
    let id = new_file_id()?;
    let meta = BlobMeta {
        owner: who.user_id.clone(),
        name: accepted.safe_name.clone(),
        mime_type: accepted.mime_type.to_owned(),
        size: 0,
    };
    // The store reads the body from a small channel the request is pumped into: memory stays at
    // a few chunks, and a store that stops early (too large, failed) stops the pumping.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BlobError>>(PIPE_CHUNKS);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed();
    let put = {
        let (store, id, meta, limit) = (store.clone(), id.clone(), meta, config.upload_max_size);
        tokio::spawn(async move { store.put(&id, &meta, body, limit).await })
    };
    if tx.send(Ok(head.freeze())).await.is_ok() && !finished {
        loop {
            let item = match field.chunk().await {
                Ok(Some(chunk)) => Ok(chunk),
                Ok(None) => break,
                Err(e) => Err(BlobError::Backend(Box::new(e))),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    }
    drop(tx);
    // The field holds the multipart state's lock until it is dropped.
    drop(field);
    let size = put
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(blob_error)?;
    // One file per request: a second one undoes the first.
    loop {
        match form.next_field().await {
            Ok(None) => break,
            Ok(Some(f)) if f.file_name().is_some() || f.name() == Some(FIELD) => {
                let _ = store.delete(&id).await;
                return Err(ApiError::bad_request("Send one file per request"));
            }
            Ok(Some(_)) => {}
            Err(e) => {
                let _ = store.delete(&id).await;
                return Err(bad_multipart(e));
            }
        }
    }
    let prefix = nested.map(|n| n.as_str().trim_end_matches('/').to_owned());
    let file_url = format!("{}/files/{id}", prefix.unwrap_or_default());
    tracing::info!(user = %who.user_id, file = %id, size, mime = accepted.mime_type, "file uploaded");
    Ok(Json(json!({
        "file_id": id,
        "file_url": file_url,
        "size": size,
        "mime_type": accepted.mime_type,
        "file_name": accepted.safe_name,
    })))
}

/// Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; `None` for anything else (the
/// whole file is served then, as RFC 9110 allows).
fn parse_range(headers: &HeaderMap, size: u64) -> Option<ByteRange> {
    let raw = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = raw.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        return Some(ByteRange {
            start: size.saturating_sub(n),
            end_inclusive: None,
        });
    }
    Some(ByteRange {
        start: a.parse().ok()?,
        end_inclusive: if b.is_empty() {
            None
        } else {
            Some(b.parse().ok()?)
        },
    })
}

fn may_read(who: &Identity, meta: &BlobMeta) -> bool {
    who.is_admin() || meta.owner == who.user_id
}

/// `GET P/files/{file_id}`: for its owner or an admin, a 302 to a short-lived signed URL, or
/// the bytes (with `Range` support) when the store cannot sign.
pub async fn download(
    State(edge): State<Edge>,
    Caller(who): Caller,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = blobs(&edge)?;
    let not_found = || ApiError::not_found("File not found");
    let id = FileId::parse(&raw).map_err(|_| not_found())?;
    let meta = store.head(&id).await.map_err(blob_error)?;
    if !may_read(&who, &meta) {
        return Err(not_found());
    }
    let ttl = Duration::from_secs(edge.config().signed_url_ttl_secs).min(MAX_SIGNED_URL_TTL);
    if let BlobLocation::SignedUrl(url) = store.location(&id, ttl).await.map_err(blob_error)? {
        let location = HeaderValue::from_str(&url).map_err(|_| ApiError::internal())?;
        let mut response = StatusCode::FOUND.into_response();
        let h = response.headers_mut();
        h.insert(header::LOCATION, location);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        return Ok(response);
    }
    let range = parse_range(&headers, meta.size);
    if range.is_some_and(|r| r.bounds(meta.size).is_none()) {
        let mut response =
            blob_error(BlobError::RangeNotSatisfiable { size: meta.size }).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(response);
    }
    let (meta, body) = store.get(&id, range).await.map_err(blob_error)?;
    let bounds = range.and_then(|r| r.bounds(meta.size));
    let (status, length) = match bounds {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end - start + 1),
        None => (StatusCode::OK, meta.size),
    };
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).map_err(|_| ApiError::internal());
    h.insert(header::CONTENT_TYPE, value(&meta.mime_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(
        header::CONTENT_DISPOSITION,
        value(&content_disposition(&meta.name))?,
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Some((start, end)) = bounds {
        h.insert(
            header::CONTENT_RANGE,
            value(&format!("bytes {start}-{end}/{}", meta.size))?,
        );
    }
    Ok(response)
}
