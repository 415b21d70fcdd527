//! The BlobStore conformance suite: one `pub async fn` per behaviour of the [`BlobStore`]
//! contract (see the rules in [`crate::ports::blob`]).
//!
//! Every backend runs [`run_all`] (or the functions one by one) with a factory that returns a
//! fresh, empty store per behaviour (for S3: its own bucket). The functions panic with a message
//! naming the broken rule, like any assertion. Bodies stay small (at most 1 MiB) so the suite is
//! quick against a real service.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};

use crate::ids::{FileId, UserId};
use crate::ports::blob::{BlobError, BlobLocation, BlobMeta, BlobStore, ByteRange, ByteStream};

/// Runs every behaviour, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: BlobStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    put_then_head_and_get_round_trip(&make().await).await;
    empty_body_round_trips(&make().await).await;
    many_chunks_round_trip_byte_for_byte(&make().await).await;
    ranges_select_bytes_and_refuse_past_the_end(&make().await).await;
    limit_is_enforced_while_streaming(&make().await).await;
    failed_body_stream_stores_nothing(&make().await).await;
    missing_file_is_not_found(&make().await).await;
    delete_is_idempotent(&make().await).await;
    overwrite_replaces_body_and_metadata(&make().await).await;
    location_is_inline_or_a_signed_url(&make().await).await;
}

/// A test file id.
pub fn file_id(s: &str) -> FileId {
    FileId::parse(s).unwrap_or_else(|e| panic!("test id {s}: {e}"))
}

/// Metadata owned by `owner` (a `/` is data in a user id), named `name`.
pub fn meta(owner: &str, name: &str, mime_type: &str) -> BlobMeta {
    BlobMeta {
        owner: UserId::parse(owner).unwrap_or_else(|e| panic!("test id {owner}: {e}")),
        name: name.to_owned(),
        mime_type: mime_type.to_owned(),
        size: 0,
    }
}

/// A body stream of the given chunks.
pub fn body<I: IntoIterator<Item = Vec<u8>>>(chunks: I) -> ByteStream
where
    I::IntoIter: Send + 'static,
{
    stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

/// `len` bytes of a repeating pattern that covers every byte value.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Reads a whole body stream, panicking on an error.
pub async fn collect(mut body: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("reading a stored body: {e}")));
    }
    out
}

/// Puts `bytes` under `id`, panicking on failure.
pub async fn put_bytes<S: BlobStore + ?Sized>(store: &S, id: &FileId, m: &BlobMeta, bytes: &[u8]) {
    let n = store
        .put(id, m, body([bytes.to_vec()]), u64::MAX)
        .await
        .unwrap_or_else(|e| panic!("put {id}: {e:?}"));
    assert_eq!(n, bytes.len() as u64, "put returns the byte count");
}

async fn assert_absent<S: BlobStore + ?Sized>(store: &S, id: &FileId, why: &str) {
    assert!(
        matches!(store.head(id).await, Err(BlobError::NotFound)),
        "{why}: head of {id} must be NotFound"
    );
    assert!(
        matches!(store.get(id, None).await, Err(BlobError::NotFound)),
        "{why}: get of {id} must be NotFound"
    );
}

/// Body and metadata (owner, name, MIME type, counted size) come back as stored; the size the
/// caller passed is ignored.
pub async fn put_then_head_and_get_round_trip<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("round-trip");
    let given = BlobMeta {
        size: 999,
        ..meta(
            "team/ann",
            "Résumé 2024 (final) \"v2\".pdf",
            "application/pdf",
        )
    };
    let n = store
        .put(
            &id,
            &given,
            body([b"hello ".to_vec(), b"world".to_vec()]),
            100,
        )
        .await
        .unwrap_or_else(|e| panic!("put: {e:?}"));
    assert_eq!(n, 11, "put returns the bytes received");
    let expected = BlobMeta { size: 11, ..given };
    let head = store
        .head(&id)
        .await
        .unwrap_or_else(|e| panic!("head: {e:?}"));
    assert_eq!(
        head, expected,
        "head returns owner, name, MIME type and size"
    );
    let (got, bytes) = store
        .get(&id, None)
        .await
        .unwrap_or_else(|e| panic!("get: {e:?}"));
    assert_eq!(got, expected, "get returns the same metadata as head");
    assert_eq!(collect(bytes).await, b"hello world", "get returns the body");
}

/// An empty body is a file of 0 bytes, and no range of it is satisfiable.
pub async fn empty_body_round_trips<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("empty");
    let m = meta("u1", "empty.txt", "text/plain");
    let n = store
        .put(&id, &m, body(Vec::<Vec<u8>>::new()), 10)
        .await
        .unwrap_or_else(|e| panic!("put empty: {e:?}"));
    assert_eq!(n, 0);
    let (got, bytes) = store
        .get(&id, None)
        .await
        .unwrap_or_else(|e| panic!("get empty: {e:?}"));
    assert_eq!(got.size, 0);
    assert!(collect(bytes).await.is_empty(), "an empty body reads empty");
    let range = ByteRange {
        start: 0,
        end_inclusive: None,
    };
    assert!(
        matches!(
            store.get(&id, Some(range)).await,
            Err(BlobError::RangeNotSatisfiable { size: 0 })
        ),
        "no range of an empty file is satisfiable"
    );
}

/// A body arriving in many odd-sized chunks is stored byte for byte.
pub async fn many_chunks_round_trip_byte_for_byte<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("chunks");
    let data = pattern(1 << 20);
    let chunks: Vec<Vec<u8>> = data.chunks(7_001).map(<[u8]>::to_vec).collect();
    let n = store
        .put(
            &id,
            &meta("u1", "a.bin", "video/mp4"),
            body(chunks),
            1 << 20,
        )
        .await
        .unwrap_or_else(|e| panic!("put 1 MiB: {e:?}"));
    assert_eq!(n, 1 << 20, "a body of exactly the limit is accepted");
    let (_, bytes) = store
        .get(&id, None)
        .await
        .unwrap_or_else(|e| panic!("get: {e:?}"));
    assert!(collect(bytes).await == data, "1 MiB reads back unchanged");
}

/// Ranges select inclusive byte spans, an end past the file is cut, and a range selecting no
/// byte is `RangeNotSatisfiable` with the file's size.
pub async fn ranges_select_bytes_and_refuse_past_the_end<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("ranges");
    let data = pattern(300);
    put_bytes(store, &id, &meta("u1", "r.bin", "audio/mpeg"), &data).await;
    let cases: [(u64, Option<u64>, std::ops::Range<usize>); 5] = [
        (0, Some(0), 0..1),
        (10, Some(19), 10..20),
        (250, None, 250..300),
        (200, Some(10_000), 200..300),
        (299, Some(299), 299..300),
    ];
    for (start, end_inclusive, want) in cases {
        let range = ByteRange {
            start,
            end_inclusive,
        };
        let (m, bytes) = store
            .get(&id, Some(range))
            .await
            .unwrap_or_else(|e| panic!("get {range:?}: {e:?}"));
        assert_eq!(m.size, 300, "a ranged get still reports the whole size");
        assert_eq!(collect(bytes).await, data[want], "bytes of {range:?}");
    }
    for (start, end_inclusive) in [(300, None), (301, Some(400)), (5, Some(4))] {
        let range = ByteRange {
            start,
            end_inclusive,
        };
        let got = store.get(&id, Some(range)).await.map(|(m, _)| m);
        assert!(
            matches!(got, Err(BlobError::RangeNotSatisfiable { size: 300 })),
            "{range:?} of 300 bytes must be RangeNotSatisfiable {{ size: 300 }}, got {got:?}"
        );
    }
}

/// A body longer than the limit fails with `TooLarge` as soon as it crosses the limit (the
/// stream fails if read further) and leaves nothing stored.
pub async fn limit_is_enforced_while_streaming<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("too-large");
    let limit = 1_000;
    let chunk = Bytes::from(pattern(100));
    let mut sent = 0_u64;
    let endless = stream::repeat(()).map(move |()| {
        if sent > limit {
            return Err(BlobError::Backend(
                "the store read past the chunk that crossed its limit".into(),
            ));
        }
        sent += chunk.len() as u64;
        Ok(chunk.clone())
    });
    let got = store
        .put(
            &id,
            &meta("u1", "big.bin", "video/mp4"),
            endless.boxed(),
            limit,
        )
        .await;
    assert!(
        matches!(got, Err(BlobError::TooLarge { limit: 1_000 })),
        "a body over the limit must fail with TooLarge {{ limit }} while streaming, got {got:?}"
    );
    assert_absent(store, &id, "after TooLarge").await;
}

/// A body stream that fails midway fails the put and leaves nothing stored.
pub async fn failed_body_stream_stores_nothing<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("broken-body");
    let broken = stream::iter([
        Ok(Bytes::from(pattern(500))),
        Err(BlobError::Unavailable("client went away".into())),
    ]);
    let got = store
        .put(
            &id,
            &meta("u1", "x.bin", "image/png"),
            broken.boxed(),
            10_000,
        )
        .await;
    assert!(
        got.is_err(),
        "a failing body must fail the put, got {got:?}"
    );
    assert_absent(store, &id, "after a failed body").await;
}

/// Every operation but delete on a missing file is `NotFound`.
pub async fn missing_file_is_not_found<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("never-stored");
    assert_absent(store, &id, "a file never stored").await;
    assert!(
        matches!(
            store.location(&id, Duration::from_secs(60)).await,
            Err(BlobError::NotFound)
        ),
        "location of a missing file must be NotFound"
    );
}

/// Deleting removes the file; deleting a missing file succeeds.
pub async fn delete_is_idempotent<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("delete-me");
    store
        .delete(&id)
        .await
        .unwrap_or_else(|e| panic!("delete of a missing file must succeed: {e:?}"));
    put_bytes(store, &id, &meta("u1", "d.txt", "text/plain"), b"bye").await;
    store
        .delete(&id)
        .await
        .unwrap_or_else(|e| panic!("delete: {e:?}"));
    assert_absent(store, &id, "after delete").await;
    store
        .delete(&id)
        .await
        .unwrap_or_else(|e| panic!("a second delete must succeed: {e:?}"));
}

/// A put to an existing id replaces body and metadata (a shorter body leaves no tail of the
/// old one); a failed put to it keeps what was there.
pub async fn overwrite_replaces_body_and_metadata<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("overwrite");
    put_bytes(
        store,
        &id,
        &meta("u1", "old.txt", "text/plain"),
        &pattern(400),
    )
    .await;
    let new_meta = meta("u2", "new.csv", "text/csv");
    put_bytes(store, &id, &new_meta, b"a,b\n1,2\n").await;
    let (got, bytes) = store
        .get(&id, None)
        .await
        .unwrap_or_else(|e| panic!("get: {e:?}"));
    assert_eq!(
        got,
        BlobMeta {
            size: 8,
            ..new_meta.clone()
        },
        "metadata replaced"
    );
    assert_eq!(
        collect(bytes).await,
        b"a,b\n1,2\n",
        "body replaced, no old tail"
    );

    let got = store
        .put(
            &id,
            &meta("u3", "huge.csv", "text/csv"),
            body([pattern(100)]),
            10,
        )
        .await;
    assert!(
        matches!(got, Err(BlobError::TooLarge { limit: 10 })),
        "got {got:?}"
    );
    let (kept, bytes) = store
        .get(&id, None)
        .await
        .unwrap_or_else(|e| panic!("get after a failed overwrite: {e:?}"));
    assert_eq!(
        kept,
        BlobMeta {
            size: 8,
            ..new_meta
        },
        "a failed put keeps the old file"
    );
    assert_eq!(collect(bytes).await, b"a,b\n1,2\n");
}

/// A stored file has a location: inline, or an absolute http(s) URL.
pub async fn location_is_inline_or_a_signed_url<S: BlobStore + ?Sized>(store: &S) {
    let id = file_id("located");
    put_bytes(
        store,
        &id,
        &meta("u1", "l.pdf", "application/pdf"),
        b"%PDF-1.7",
    )
    .await;
    match store.location(&id, Duration::from_secs(600)).await {
        Ok(BlobLocation::Inline) => {}
        Ok(BlobLocation::SignedUrl(url)) => assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "a signed URL is an absolute http(s) URL"
        ),
        Err(e) => panic!("location of a stored file: {e:?}"),
    }
}
