//! S3BlobStore against moto's server (`CHATBOX_TEST_S3_ENDPOINT`, from `cargo xtask test`): the
//! BlobStore conformance suite (each behaviour in a bucket of its own), multipart uploads of
//! large bodies and their abort on failure (checked with a plain S3 client), the presigned URL's
//! parameters and content, error kinds, buckets outside the default region, and config
//! validation and `Debug` output (no service needed).

use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use bytes::Bytes;
use chatbox_core::ports::blob::BlobLocation;
use chatbox_core::testing::blob_conformance::{self, body, collect, file_id, meta, pattern};
use chatbox_core::{BlobError, BlobStore};
use chatbox_store::{Error, S3BlobStore, S3Config};
use futures::{StreamExt, stream};

use crate::support::unique;

const MIB: usize = 1 << 20;

/// The S3 double the tests use. Fails (never skips) when it is unset.
fn endpoint() -> String {
    match std::env::var("CHATBOX_TEST_S3_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e,
        _ => panic!(
            "CHATBOX_TEST_S3_ENDPOINT is not set: run `cargo xtask test -p chatbox-store`, which \
             starts moto, or start `moto_server -p 5000` and set \
             CHATBOX_TEST_S3_ENDPOINT=http://127.0.0.1:5000"
        ),
    }
}

fn config(endpoint: String, bucket: String) -> S3Config {
    S3Config {
        endpoint: Some(endpoint),
        bucket,
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        path_style: true,
        timeout_ms: 30_000,
        ..S3Config::default()
    }
}

/// A store on a fresh bucket of its own.
async fn store(tag: &str) -> S3BlobStore {
    let bucket = unique(tag).replace('_', "-");
    let store = S3BlobStore::new(config(endpoint(), bucket)).await.unwrap();
    store.create_bucket_if_missing().await.unwrap();
    store
}

/// A plain SDK client on the same service, to look behind the store.
async fn raw_client() -> aws_sdk_s3::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn s3_blob_store_passes_the_conformance_suite() {
    blob_conformance::run_all(|| store("conf")).await;
}

#[tokio::test]
async fn creating_an_existing_bucket_is_a_no_op() {
    let store = store("bucket").await;
    let again = store.create_bucket_if_missing().await;
    assert!(again.is_ok(), "{again:?}");
}

#[tokio::test]
async fn a_20_mib_body_goes_up_in_8_mib_parts_and_reads_back_unchanged() {
    let store = store("multipart").await;
    let data = pattern(20 * MIB);
    let chunks: Vec<Vec<u8>> = data.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let id = file_id("twenty");
    let n = store
        .put(
            &id,
            &meta("u1", "big.mp4", "video/mp4"),
            body(chunks),
            25 * MIB as u64,
        )
        .await
        .unwrap();
    assert_eq!(n, 20 * MIB as u64);

    let head = raw_client()
        .await
        .head_object()
        .bucket(store.bucket())
        .key("twenty")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(20 * MIB as i64));
    let etag = head.e_tag().unwrap_or_default();
    assert!(
        etag.ends_with("-3\""),
        "a multipart ETag names its 3 parts: {etag}"
    );
    assert_eq!(head.content_type(), Some("video/mp4"));
    let (m, bytes) = store.get(&id, None).await.unwrap();
    assert_eq!(m.size, 20 * MIB as u64);
    assert_eq!(sha256(&collect(bytes).await), sha256(&data));

    let small = file_id("eight");
    store
        .put(
            &small,
            &meta("u1", "s.mp4", "video/mp4"),
            body([pattern(8 * MIB)]),
            u64::MAX,
        )
        .await
        .unwrap();
    let head = raw_client()
        .await
        .head_object()
        .bucket(store.bucket())
        .key("eight")
        .send()
        .await
        .unwrap();
    assert!(
        !head.e_tag().unwrap_or_default().contains('-'),
        "8 MiB is one PutObject"
    );
}

async fn open_multipart_uploads(bucket: &str) -> usize {
    raw_client()
        .await
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}

#[tokio::test]
async fn a_body_over_the_limit_aborts_its_multipart_upload() {
    let store = store("abort-limit").await;
    let id = file_id("over");
    let chunks: Vec<Vec<u8>> = (0..12).map(|_| pattern(MIB)).collect();
    let got = store
        .put(
            &id,
            &meta("u1", "o.mp4", "video/mp4"),
            body(chunks),
            10 * MIB as u64,
        )
        .await;
    assert!(matches!(got, Err(BlobError::TooLarge { .. })), "{got:?}");
    assert!(matches!(store.head(&id).await, Err(BlobError::NotFound)));
    assert_eq!(
        open_multipart_uploads(store.bucket()).await,
        0,
        "the upload was aborted"
    );
}

#[tokio::test]
async fn a_body_failing_after_the_first_part_aborts_its_multipart_upload() {
    let store = store("abort-error").await;
    let id = file_id("broken");
    let first = (0..9).map(|_| Ok(Bytes::from(pattern(MIB))));
    let broken = stream::iter(first.chain([Err(BlobError::Unavailable("gone".into()))]));
    let got = store
        .put(
            &id,
            &meta("u1", "b.mp4", "video/mp4"),
            broken.boxed(),
            u64::MAX,
        )
        .await;
    assert!(matches!(got, Err(BlobError::Unavailable(_))), "{got:?}");
    assert!(matches!(store.head(&id).await, Err(BlobError::NotFound)));
    assert_eq!(
        open_multipart_uploads(store.bucket()).await,
        0,
        "the upload was aborted"
    );
}

/// The query parameters of a signed URL.
fn query(url: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the signed URL has no {key}"))
}

async fn signed_url(store: &S3BlobStore, id: &str, ttl: Duration) -> String {
    match store.location(&file_id(id), ttl).await.unwrap() {
        BlobLocation::SignedUrl(url) => url,
        other => panic!("S3 signs URLs, got {other:?}"),
    }
}

#[tokio::test]
async fn the_signed_url_lives_at_most_five_minutes_and_serves_the_file() {
    let store = store("presign").await;
    let m = meta("u1", "Résumé 2024.pdf", "application/pdf");
    let id = file_id("doc");
    store
        .put(&id, &m, body([b"%PDF-1.7 hello".to_vec()]), 100)
        .await
        .unwrap();

    for (ttl, want) in [(120, "120"), (300, "300"), (600, "300"), (86_400, "300")] {
        let url = signed_url(&store, "doc", Duration::from_secs(ttl)).await;
        let q = query(&url);
        assert_eq!(param(&q, "X-Amz-Expires"), want, "ttl {ttl} s");
        let signed_at =
            chrono::NaiveDateTime::parse_from_str(param(&q, "X-Amz-Date"), "%Y%m%dT%H%M%SZ")
                .unwrap()
                .and_utc();
        let skew = (chrono::Utc::now() - signed_at).num_seconds().abs();
        assert!(skew <= 60, "X-Amz-Date is {skew} s from now");
        assert!(!param(&q, "X-Amz-Signature").is_empty());
        assert_eq!(param(&q, "response-content-type"), "application/pdf");
        assert!(
            param(&q, "response-content-disposition")
                .ends_with("filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf"),
            "{}",
            param(&q, "response-content-disposition")
        );
    }

    let url = signed_url(&store, "doc", Duration::from_secs(60)).await;
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pdf"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"%PDF-1.7 hello");
}

#[tokio::test]
async fn a_missing_bucket_is_a_backend_error_and_a_dead_endpoint_is_unavailable() {
    let missing = S3BlobStore::new(config(endpoint(), unique("nobucket").replace('_', "-")))
        .await
        .unwrap();
    let got = missing.head(&file_id("x")).await;
    assert!(
        matches!(got, Err(BlobError::Backend(_)) | Err(BlobError::NotFound)),
        "{got:?}"
    );
    let got = missing
        .put(
            &file_id("x"),
            &meta("u1", "a.txt", "text/plain"),
            body([b"a".to_vec()]),
            10,
        )
        .await;
    assert!(matches!(got, Err(BlobError::Backend(_))), "{got:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = S3BlobStore::new(S3Config {
        timeout_ms: 2_000,
        ..config(format!("http://127.0.0.1:{port}"), "dead".into())
    })
    .await
    .unwrap();
    let got = dead.head(&file_id("x")).await;
    assert!(matches!(got, Err(BlobError::Unavailable(_))), "{got:?}");
}

#[tokio::test]
async fn invalid_settings_are_all_listed_and_the_secret_is_never_shown() {
    let bad = S3Config {
        endpoint: Some("ftp://files".into()),
        region: " ".into(),
        bucket: "Bad_Bucket".into(),
        access_key_id: Some("AKIA".into()),
        secret_access_key: None,
        timeout_ms: 0,
        ..S3Config::default()
    };
    let keys: Vec<&str> = bad.problems().iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "S3_REGION",
            "S3_BUCKET",
            "S3_ENDPOINT",
            "S3_SECRET_ACCESS_KEY",
            "timeout_ms"
        ]
    );
    let err = S3BlobStore::new(bad).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidConfig { problems, .. } if problems.len() == 5));
    assert!(
        err.to_string().contains("S3_BUCKET must be 3 to 63"),
        "{err}"
    );
    assert!(S3Config::default().problems().is_empty());

    let secret = S3Config {
        access_key_id: Some("AKIA".into()),
        secret_access_key: Some("very-secret-value".into()),
        ..S3Config::default()
    };
    assert!(secret.problems().is_empty());
    assert!(!format!("{secret:?}").contains("very-secret-value"));
}

#[tokio::test]
async fn a_bucket_outside_the_default_region_is_created_there_and_serves_files() {
    let bucket = unique("region").replace('_', "-");
    let store = S3BlobStore::new(S3Config {
        region: "eu-west-1".into(),
        ..config(endpoint(), bucket.clone())
    })
    .await
    .unwrap();
    store.create_bucket_if_missing().await.unwrap();
    let location = raw_client()
        .await
        .get_bucket_location()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
    let id = file_id("in-region");
    store
        .put(
            &id,
            &meta("u1", "a.txt", "text/plain"),
            body([b"hej".to_vec()]),
            10,
        )
        .await
        .unwrap();
    let (_, bytes) = store.get(&id, None).await.unwrap();
    assert_eq!(collect(bytes).await, b"hej");
}

#[tokio::test]
async fn a_region_with_other_characters_and_a_secret_without_its_key_id_are_refused() {
    let bad = S3Config {
        region: "eu_west 1".into(),
        access_key_id: None,
        secret_access_key: Some("very-secret-value".into()),
        ..S3Config::default()
    };
    let listed = bad.problems();
    let problems: Vec<(&str, &str)> = listed.iter().map(|p| (p.key, p.reason.as_str())).collect();
    assert_eq!(
        problems,
        [
            ("S3_REGION", "may hold only letters, digits and dashes"),
            (
                "S3_ACCESS_KEY_ID",
                "is empty while S3_SECRET_ACCESS_KEY is set"
            ),
        ]
    );
    let err = S3BlobStore::new(bad).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidConfig { problems, .. } if problems.len() == 2));
    assert!(!err.to_string().contains("very-secret-value"), "{err}");
}

#[tokio::test]
async fn the_store_debug_names_its_bucket_and_region_but_never_the_credentials() {
    // Nothing is sent to S3 when the store is built, so no service is needed.
    let store = S3BlobStore::new(S3Config {
        region: "eu-north-1".into(),
        access_key_id: Some("AKIAEXAMPLEKEYID".into()),
        secret_access_key: Some("very-secret-value".into()),
        ..config("http://127.0.0.1:9".into(), "debug-bucket".into())
    })
    .await
    .unwrap();
    let shown = format!("{store:?}");
    assert!(shown.starts_with("S3BlobStore"), "{shown}");
    assert!(shown.contains("bucket: \"debug-bucket\""), "{shown}");
    assert!(shown.contains("region: \"eu-north-1\""), "{shown}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert!(!shown.contains("AKIAEXAMPLEKEYID"), "{shown}");
}
