//! [`S3BlobStore`]: files as objects in an S3 bucket, or in an S3-compatible service (MinIO,
//! Ceph; `path_style` addressing) or a test double such as moto.
//!
//! A file `id` is the object `<id>`. Owner, name and MIME type are object metadata
//! (`x-amz-meta-owner`, `-name`, `-mime`, percent-encoded UTF-8 since header values are ASCII)
//! and the MIME type is also the object's `Content-Type`. Uploads stream ([`upload`]): up to
//! [`MULTIPART_PART_SIZE`] in one `PutObject`, larger bodies as a multipart upload of parts of
//! that size, so memory stays near one part; a failure or an exceeded limit aborts the multipart
//! upload. [`BlobStore::location`] presigns a `GetObject` valid for `min(ttl, 5 min)` that makes
//! the browser download the file under its name and type. The SDK's checksum headers are only
//! sent where S3 requires them, which keeps S3-compatible services that predate them working.
//!
//! Every S3 call has a deadline (`timeout_ms`, also the SDK's operation timeout, with up to three
//! attempts within it), and a body being read fails when no chunk arrives within it. Credentials
//! are the config's static pair when given, else the standard AWS chain.

mod object;
mod upload;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::presigning::PresigningConfig;
use chatbox_core::ports::blob::{
    BlobLocation, BlobMeta, ByteRange, ByteStream, MAX_SIGNED_URL_TTL,
};
use chatbox_core::{BlobError, BlobStore, FileId};
use serde::Deserialize;

use self::object::{classify, is_invalid_range};
use super::storage_name;
use crate::error::{Error, FieldProblem};

pub use self::upload::MULTIPART_PART_SIZE;

/// Default [`S3Config::timeout_ms`]: one minute, enough for an 8 MiB part on a slow uplink.
pub const DEFAULT_S3_TIMEOUT_MS: u64 = 60_000;
/// Default [`S3Config::region`] (the Go service's).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Default [`S3Config::bucket`] (the Go service's).
pub const DEFAULT_BUCKET: &str = "chat-files";
/// Connecting never waits longer than this, whatever the call's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The config's name in errors.
const WHAT: &str = "S3 file storage";

/// Where the S3 file store keeps files.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL for S3-compatible services and tests; AWS when `None` (`S3_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Region (`S3_REGION`).
    pub region: String,
    /// Bucket (`S3_BUCKET`).
    pub bucket: String,
    /// Static access key id; the AWS chain when `None` (`S3_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Static secret key, given with the key id (`S3_SECRET_ACCESS_KEY`; never printed).
    pub secret_access_key: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most S3-compatible services need
    /// (`S3_USE_PATH_STYLE`; flag).
    pub path_style: bool,
    /// Deadline of one S3 call, and the longest wait for the next chunk of a body being read
    /// (milliseconds).
    pub timeout_ms: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            bucket: DEFAULT_BUCKET.to_owned(),
            access_key_id: None,
            secret_access_key: None,
            path_style: false,
            timeout_ms: DEFAULT_S3_TIMEOUT_MS,
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<hidden>"),
            )
            .field("path_style", &self.path_style)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

impl S3Config {
    /// Every invalid setting (empty when the config is usable), each named by its env key.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut p = Vec::new();
        let mut push = |key, reason: &str| {
            p.push(FieldProblem {
                key,
                reason: reason.to_owned(),
            });
        };
        let region = self.region.trim();
        if region.is_empty() {
            push("S3_REGION", "is empty");
        } else if !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            push("S3_REGION", "may hold only letters, digits and dashes");
        }
        let bucket = self.bucket.trim();
        let edges_ok = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !(3..=63).contains(&bucket.len())
            || !edges_ok
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            push(
                "S3_BUCKET",
                "must be 3 to 63 lower-case letters, digits, dots and dashes, starting and \
                 ending with a letter or digit",
            );
        }
        if let Some(endpoint) = &self.endpoint {
            let rest = endpoint
                .trim()
                .strip_prefix("https://")
                .or_else(|| endpoint.trim().strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                push(
                    "S3_ENDPOINT",
                    "must be an http:// or https:// URL with a host",
                );
            }
        }
        let given = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
        match (given(&self.access_key_id), given(&self.secret_access_key)) {
            (true, false) => push(
                "S3_SECRET_ACCESS_KEY",
                "is empty while S3_ACCESS_KEY_ID is set",
            ),
            (false, true) => push(
                "S3_ACCESS_KEY_ID",
                "is empty while S3_SECRET_ACCESS_KEY is set",
            ),
            _ => {}
        }
        if self.timeout_ms == 0 {
            push("timeout_ms", "must be more than 0 milliseconds");
        }
        p
    }
}

/// Files in an S3 bucket.
#[derive(Clone)]
pub struct S3BlobStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    region: String,
    timeout: Duration,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl S3BlobStore {
    /// Validates `config` (every problem at once) and builds the client. Loading the AWS
    /// configuration (profile files) is bounded by the config's timeout; credentials are
    /// resolved at the first call, and nothing is sent to S3 here.
    pub async fn new(config: S3Config) -> Result<Self, Error> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidConfig {
                what: WHAT,
                problems,
            });
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let region = config.region.trim().to_owned();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout.min(CONNECT_TIMEOUT))
                    .read_timeout(timeout)
                    .operation_timeout(timeout)
                    .build(),
            );
        if let Some(endpoint) = &config.endpoint {
            loader = loader.endpoint_url(endpoint.trim());
        }
        if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                key.trim(),
                secret.trim(),
                None,
                None,
                "chatbox-config",
            ));
        }
        let sdk_config = tokio::time::timeout(timeout, loader.load())
            .await
            .map_err(|elapsed| Error::Client {
                what: "S3",
                source: Box::new(elapsed),
            })?;
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(config.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: config.bucket.trim().to_owned(),
            region,
            timeout,
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists (for dev mode and tests; production buckets are
    /// provisioned with their policies and lifecycle rules).
    pub async fn create_bucket_if_missing(&self) -> Result<(), BlobError> {
        let head = self.client.head_bucket().bucket(&self.bucket).send();
        match self.deadline(head).await? {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(classify(e)),
        }
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        if self.region != DEFAULT_REGION {
            use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match self.deadline(create.send()).await? {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    /// Runs one S3 call under the deadline; the outer error is the deadline passing. The SDK's
    /// request futures are large (about 19 KB), so the call is boxed rather than inlined into
    /// every caller's future.
    async fn deadline<T>(&self, call: impl Future<Output = T>) -> Result<T, BlobError> {
        tokio::time::timeout(self.timeout, Box::pin(call))
            .await
            .map_err(|elapsed| BlobError::Unavailable(Box::new(elapsed)))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(
        &self,
        id: &FileId,
        meta: &BlobMeta,
        body: ByteStream,
        max_bytes: u64,
    ) -> Result<u64, BlobError> {
        let key = storage_name(id).ok_or_else(|| super::unstorable(id))?;
        upload::put(self, key, meta, body, max_bytes).await
    }

    async fn head(&self, id: &FileId) -> Result<BlobMeta, BlobError> {
        let key = storage_name(id).ok_or(BlobError::NotFound)?;
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send();
        let out = self.deadline(head).await?.map_err(classify)?;
        object::meta(
            key,
            out.metadata(),
            out.content_type(),
            out.content_length(),
        )
    }

    async fn get(
        &self,
        id: &FileId,
        range: Option<ByteRange>,
    ) -> Result<(BlobMeta, ByteStream), BlobError> {
        let key = storage_name(id).ok_or(BlobError::NotFound)?;
        if let Some(r) = range
            && r.end_inclusive.is_some_and(|end| end < r.start)
        {
            // Not expressible as an HTTP range; it selects nothing whatever the size.
            let size = self.head(id).await?.size;
            return Err(BlobError::RangeNotSatisfiable { size });
        }
        let header = range.map(|r| match r.end_inclusive {
            Some(end) => format!("bytes={}-{end}", r.start),
            None => format!("bytes={}-", r.start),
        });
        let get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(header)
            .send();
        let out = match self.deadline(get).await? {
            Ok(out) => out,
            Err(e) if is_invalid_range(&e) => {
                let size = self.head(id).await?.size;
                return Err(BlobError::RangeNotSatisfiable { size });
            }
            Err(e) => return Err(classify(e)),
        };
        object::ranged_body(key, out, range, self.timeout)
    }

    async fn location(&self, id: &FileId, ttl: Duration) -> Result<BlobLocation, BlobError> {
        let meta = self.head(id).await?;
        let key = storage_name(id).ok_or(BlobError::NotFound)?;
        let expires = ttl.clamp(Duration::from_secs(1), MAX_SIGNED_URL_TTL);
        let presigning =
            PresigningConfig::expires_in(expires).map_err(|e| BlobError::Backend(Box::new(e)))?;
        let presign = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(chatbox_core::upload::content_disposition(&meta.name))
            .response_content_type(&meta.mime_type)
            .presigned(presigning);
        let signed = self.deadline(presign).await?.map_err(classify)?;
        Ok(BlobLocation::SignedUrl(signed.uri().to_owned()))
    }

    async fn delete(&self, id: &FileId) -> Result<(), BlobError> {
        let Some(key) = storage_name(id) else {
            return Ok(());
        };
        let delete = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send();
        match self.deadline(delete).await? {
            Ok(_) => Ok(()),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}
