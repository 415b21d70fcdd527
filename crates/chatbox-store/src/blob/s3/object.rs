//! What an S3 object carries and how S3 fails: the metadata encoding (owner, name and MIME type
//! as percent-encoded `x-amz-meta-*` values), the metadata read back from `HeadObject` and
//! `GetObject`, a ranged body turned into the port's stream with a per-chunk deadline, and the
//! mapping of SDK errors onto [`BlobError`] kinds.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use bytes::Bytes;
use chatbox_core::ports::blob::{BlobMeta, ByteRange, ByteStream};
use chatbox_core::{BlobError, UserId};
use futures::StreamExt;

/// Metadata keys (S3 adds the `x-amz-meta-` prefix).
pub(super) const OWNER: &str = "owner";
/// The sanitised file name.
pub(super) const NAME: &str = "name";
/// The MIME type (also the object's `Content-Type`).
pub(super) const MIME: &str = "mime";

/// Percent-encodes `value` so any UTF-8 survives as an ASCII header value.
pub(super) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Reverses [`encode`]; `None` when the value is not a percent-encoding of UTF-8.
pub(super) fn decode(value: &str) -> Option<String> {
    let raw = value.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file's metadata from an object's user metadata, `Content-Type` and length. An object
/// without an owner was not written by this store and is refused (nobody could be allowed to
/// read it); a missing name falls back to the key, a missing MIME type to the `Content-Type`.
pub(super) fn meta(
    key: &str,
    metadata: Option<&HashMap<String, String>>,
    content_type: Option<&str>,
    size: Option<i64>,
) -> Result<BlobMeta, BlobError> {
    let field = |k: &str| metadata.and_then(|m| m.get(k)).and_then(|v| decode(v));
    let owner = field(OWNER)
        .and_then(|o| UserId::parse(&o).ok())
        .ok_or_else(|| {
            BlobError::Backend(format!("object {key} has no valid owner metadata").into())
        })?;
    Ok(BlobMeta {
        owner,
        name: field(NAME).unwrap_or_else(|| key.to_owned()),
        mime_type: field(MIME)
            .or_else(|| content_type.map(str::to_owned))
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        size: size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
    })
}

/// The metadata and body stream of a `GetObject` answer. The whole size comes from
/// `Content-Range` (`bytes a-b/total`) when S3 served a range; a service that ignored the range
/// and sent the whole body is cut to the range here, so every backend answers alike.
pub(super) fn ranged_body(
    key: &str,
    out: GetObjectOutput,
    range: Option<ByteRange>,
    idle: Duration,
) -> Result<(BlobMeta, ByteStream), BlobError> {
    let total = out
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|t| t.trim().parse::<i64>().ok());
    let ranged = total.is_some();
    let meta = meta(
        key,
        out.metadata(),
        out.content_type(),
        total.or(out.content_length()),
    )?;
    let (skip, take) = match range {
        Some(r) if !ranged => {
            let (start, end) = r
                .bounds(meta.size)
                .ok_or(BlobError::RangeNotSatisfiable { size: meta.size })?;
            (start, end - start + 1)
        }
        _ => (0, u64::MAX),
    };
    let body = out.body;
    let chunks = futures::stream::try_unfold(
        (body, skip, take),
        move |(mut body, mut skip, mut take)| async move {
            loop {
                if take == 0 {
                    return Ok(None);
                }
                let next = tokio::time::timeout(idle, body.try_next())
                    .await
                    .map_err(|elapsed| BlobError::Unavailable(Box::new(elapsed)))?
                    .map_err(|e| BlobError::Unavailable(Box::new(e)))?;
                let Some(mut chunk): Option<Bytes> = next else {
                    return Ok(None);
                };
                let drop_front = usize::try_from(skip.min(chunk.len() as u64)).unwrap_or(0);
                skip -= drop_front as u64;
                let _ = chunk.split_to(drop_front);
                if chunk.len() as u64 > take {
                    chunk.truncate(usize::try_from(take).unwrap_or(usize::MAX));
                }
                take -= chunk.len() as u64;
                if !chunk.is_empty() {
                    return Ok(Some((chunk, (body, skip, take))));
                }
            }
        },
    );
    Ok((meta, chunks.boxed()))
}

/// Whether S3 refused a range as unsatisfiable (416 `InvalidRange`).
pub(super) fn is_invalid_range<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            s.raw().status().as_u16() == 416 || s.err().code() == Some("InvalidRange")
        }
        _ => false,
    }
}

/// Maps an SDK error onto the port's kinds: a missing key is `NotFound`; throttling, 5xx,
/// timeouts and transport failures are `Unavailable`; anything else (a missing bucket, refused
/// credentials, a bad request) is `Backend`. Error text goes only into the boxed source.
pub(super) fn classify<E>(e: SdkError<E, HttpResponse>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.into_err();
            let code = err.code().unwrap_or_default().to_owned();
            let text = format!(
                "S3 {status} {code}: {}",
                err.message().unwrap_or("no message")
            );
            match (status, code.as_str()) {
                (_, "NoSuchBucket") => BlobError::Backend(text.into()),
                (404, _) | (_, "NoSuchKey" | "NotFound") => BlobError::NotFound,
                (429 | 500..=599, _)
                | (
                    _,
                    "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeout"
                    | "ServiceUnavailable"
                    | "InternalError",
                ) => BlobError::Unavailable(text.into()),
                _ => BlobError::Backend(text.into()),
            }
        }
        SdkError::ConstructionFailure(_) => BlobError::Backend(Box::new(e)),
        // Timeouts, refused connections, DNS and TLS failures, credentials that cannot be
        // resolved and unparseable answers are transient from here.
        other => BlobError::Unavailable(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_round_trip_any_utf8_as_ascii() {
        for v in [
            "team/ann",
            "Résumé \"v2\" 100%.pdf",
            "a b+c",
            "",
            "日本語.txt",
        ] {
            let e = encode(v);
            assert!(e.bytes().all(|b| b.is_ascii_graphic()), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(v));
        }
        assert_eq!(decode("%E"), None);
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn an_object_without_an_owner_is_refused() {
        let mut m = HashMap::new();
        m.insert(NAME.to_owned(), encode("a.pdf"));
        assert!(matches!(
            meta("k", Some(&m), Some("application/pdf"), Some(3)),
            Err(BlobError::Backend(_))
        ));
        m.insert(OWNER.to_owned(), encode("team/ann"));
        let got = meta("k", Some(&m), Some("application/pdf"), Some(3)).unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(got.owner.as_str(), "team/ann");
        assert_eq!(
            got.mime_type, "application/pdf",
            "falls back to Content-Type"
        );
        assert_eq!((got.name.as_str(), got.size), ("a.pdf", 3));
    }
}
