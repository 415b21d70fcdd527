//! Uploads: the size limit and where files live — an S3 bucket when any `S3_*` setting (or the Go
//! file's `[connection_sources]` / `[userupload]` storage) is given, else a `files` directory
//! under the data directory.

use std::path::{Path, PathBuf};

use super::file::{ConnectionSources, UploadsSection, UserUpload};
use super::resolver::Resolver;
use crate::secret::mask;

/// Default largest upload: 100 MiB.
pub const DEFAULT_UPLOAD_MAX_SIZE: u64 = 100 * 1024 * 1024;

/// An S3 (or S3-compatible) bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL for S3-compatible services (MinIO, Ceph); AWS when unset.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Bucket.
    pub bucket: String,
    /// Access key id; the AWS default chain when unset.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Path-style addressing (most S3-compatible services need it).
    pub path_style: bool,
}

/// Where uploads go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSettings {
    /// An S3 bucket.
    S3(S3Settings),
    /// A local directory.
    Local(PathBuf),
}

/// Upload settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    /// Largest accepted file, in bytes.
    pub max_size: u64,
    /// Where files are stored.
    pub blobs: BlobSettings,
}

/// The Go file's upload sections.
pub(super) struct GoUploads {
    pub(super) sources: ConnectionSources,
    pub(super) userupload: UserUpload,
}

/// Resolves the upload settings.
pub(super) fn resolve(
    r: &mut Resolver<'_>,
    ours: UploadsSection,
    go: GoUploads,
    data_dir: &Path,
) -> UploadSettings {
    let GoUploads {
        sources,
        mut userupload,
    } = go;
    let first_type = (!userupload.types.is_empty()).then(|| userupload.types.remove(0));
    if !userupload.types.is_empty() {
        r.warn(
            "userupload.types[1..]",
            "one upload type is served (POST P/upload); the first entry's limits apply",
        );
    }
    let (go_max, go_storage) = match first_type {
        Some(mut t) => {
            let storage = t
                .storage
                .iter()
                .position(|s| s.kind.eq_ignore_ascii_case("s3"))
                .map(|i| t.storage.remove(i));
            (t.max_size.map(|f| f.raw()), storage)
        }
        None => (None, None),
    };
    let provider = go_storage.as_ref().and_then(|s| {
        sources
            .s3_providers
            .iter()
            .find(|p| s.target.as_deref().is_none_or(|t| t == p.name))
            .cloned()
    });

    let max_size = match r.pick_first(
        "UPLOAD_MAX_SIZE",
        vec![
            ("uploads.max_size", ours.max_size.map(|f| f.raw())),
            ("userupload.types[0].maxSize", go_max),
        ],
    ) {
        None => DEFAULT_UPLOAD_MAX_SIZE,
        Some((key, raw)) => parse_size(&raw).filter(|n| *n > 0).unwrap_or_else(|| {
            r.error(
                &key,
                &raw,
                "a size such as 100MB, 512KB or a byte count > 0",
            );
            DEFAULT_UPLOAD_MAX_SIZE
        }),
    };

    let endpoint = r
        .pick_first(
            "S3_ENDPOINT",
            vec![
                ("uploads.s3_endpoint", ours.s3_endpoint),
                (
                    "connection_sources.s3_providers.endpoint",
                    provider.as_ref().and_then(|p| p.endpoint.clone()),
                ),
            ],
        )
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let bucket = r
        .pick_first(
            "S3_BUCKET",
            vec![
                ("uploads.s3_bucket", ours.s3_bucket),
                (
                    "userupload.types[0].storage.bucket",
                    go_storage.as_ref().and_then(|s| s.bucket.clone()),
                ),
            ],
        )
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let region = r
        .pick_first(
            "S3_REGION",
            vec![
                ("uploads.s3_region", ours.s3_region),
                (
                    "connection_sources.s3_providers.region",
                    provider.as_ref().and_then(|p| p.region.clone()),
                ),
            ],
        )
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty());
    let access_key_id = r
        .pick_first(
            "S3_ACCESS_KEY_ID",
            vec![
                ("uploads.s3_access_key_id", ours.s3_access_key_id),
                (
                    "connection_sources.s3_providers.key",
                    provider.as_ref().and_then(|p| p.key.clone()),
                ),
            ],
        )
        .filter(|(_, v)| !v.is_empty());
    let secret = r
        .pick_first(
            "S3_SECRET_ACCESS_KEY",
            vec![
                ("uploads.s3_secret_access_key", ours.s3_secret_access_key),
                (
                    "connection_sources.s3_providers.pass",
                    provider.as_ref().and_then(|p| p.pass.clone()),
                ),
            ],
        )
        .filter(|(_, v)| !v.is_empty());
    let path_style = match r.env.get("S3_USE_PATH_STYLE") {
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" | "" => false,
            _ => {
                r.error("S3_USE_PATH_STYLE", &v, "allowed: true, false");
                false
            }
        },
        // S3-compatible endpoints (MinIO, Ceph) need path-style addressing; AWS does not.
        None => ours.s3_use_path_style.unwrap_or_else(|| {
            endpoint
                .as_deref()
                .is_some_and(|e| !e.contains("amazonaws.com"))
        }),
    };

    let wants_s3 = endpoint.is_some() || bucket.is_some() || access_key_id.is_some();
    if !wants_s3 {
        return UploadSettings {
            max_size,
            blobs: BlobSettings::Local(data_dir.join("files")),
        };
    }
    if access_key_id.is_some() != secret.is_some() {
        let (key, shown) = match (&access_key_id, &secret) {
            (Some(_), None) => ("S3_SECRET_ACCESS_KEY".to_owned(), "<unset>".to_owned()),
            (_, Some((k, v))) => (k.clone(), mask(v)),
            _ => ("S3_ACCESS_KEY_ID".to_owned(), "<unset>".to_owned()),
        };
        r.error(
            &key,
            &shown,
            "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or set neither for the AWS default chain)",
        );
    }
    if let Some(e) = &endpoint
        && !(e.starts_with("http://") || e.starts_with("https://"))
    {
        r.error("S3_ENDPOINT", e, "must be an http:// or https:// URL");
    }
    UploadSettings {
        max_size,
        blobs: BlobSettings::S3(S3Settings {
            endpoint,
            region: region.unwrap_or_else(|| "us-east-1".into()),
            bucket: bucket.unwrap_or_else(|| "chat-files".into()),
            access_key_id: access_key_id.map(|(_, v)| v),
            secret_access_key: secret.map(|(_, v)| v),
            path_style,
        }),
    }
}

/// `100MB`, `512KB`, `1GB`, `2048` (bytes); binary multiples, as the Go service read them.
pub fn parse_size(raw: &str) -> Option<u64> {
    let s = raw.trim().to_ascii_uppercase();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let mult: u64 = match s[digits..].trim() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_like_the_go_service() {
        assert_eq!(parse_size("100MB"), Some(100 << 20));
        assert_eq!(parse_size(" 512kb "), Some(512 << 10));
        assert_eq!(parse_size("2048"), Some(2048));
        assert_eq!(parse_size("1 GB"), Some(1 << 30));
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("10TB"), None);
        assert_eq!(parse_size("99999999999999999999GB"), None);
    }
}
