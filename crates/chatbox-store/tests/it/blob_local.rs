//! LocalBlobStore in a temporary directory: the BlobStore conformance suite, the on-disk layout
//! (body plus JSON sidecar, nothing else left behind by failed or abandoned puts), the sweep of
//! temporary files a crash left, ids that cannot name a file, and long ranged reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chatbox_core::testing::blob_conformance::{self, body, collect, file_id, meta, pattern};
use chatbox_core::{BlobError, BlobStore, ByteRange};
use chatbox_store::{Error, LocalBlobStore};
use futures::{StreamExt, stream};

use crate::support::temp_dir;

async fn store(tag: &str) -> LocalBlobStore {
    LocalBlobStore::open(temp_dir(tag)).await.unwrap()
}

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn local_blob_store_passes_the_conformance_suite() {
    blob_conformance::run_all(|| store("blob-conf")).await;
}

#[tokio::test]
async fn a_file_is_its_body_and_a_json_sidecar_and_failures_leave_nothing() {
    let store = store("blob-layout").await;
    let id = file_id("f1");
    let m = meta("team/ann", "Bericht ä.pdf", "application/pdf");
    let n = store
        .put(&id, &m, body([b"%PDF-1.7".to_vec()]), 100)
        .await
        .unwrap();
    assert_eq!(n, 8);
    let want: BTreeSet<String> = ["f1", "f1.meta.json"].map(String::from).into();
    assert_eq!(entries(store.dir()), want);
    assert_eq!(std::fs::read(store.dir().join("f1")).unwrap(), b"%PDF-1.7");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.dir().join("f1.meta.json")).unwrap()).unwrap();
    assert_eq!(
        sidecar,
        serde_json::json!({
            "owner": "team/ann", "name": "Bericht ä.pdf",
            "mime_type": "application/pdf", "size": 8
        })
    );

    let too_large = store
        .put(&file_id("f2"), &m, body([pattern(60), pattern(60)]), 100)
        .await;
    assert!(matches!(too_large, Err(BlobError::TooLarge { limit: 100 })));
    let broken = stream::iter([
        Ok(Bytes::from(pattern(10))),
        Err(BlobError::Unavailable("client went away".into())),
    ]);
    assert!(
        store
            .put(&file_id("f3"), &m, broken.boxed(), 100)
            .await
            .is_err()
    );
    assert_eq!(
        entries(store.dir()),
        want,
        "no temporary file, no partial file"
    );
}

#[tokio::test]
async fn an_abandoned_put_leaves_no_temporary_file() {
    let store = store("blob-abandon").await;
    let stalls = stream::iter([Ok(Bytes::from(pattern(1_000)))]).chain(stream::pending());
    let (id, m) = (file_id("stalled"), meta("u1", "s.txt", "text/plain"));
    let put = store.put(&id, &m, stalls.boxed(), 10_000);
    let timed_out = tokio::time::timeout(Duration::from_millis(200), put).await;
    assert!(timed_out.is_err(), "the put waits for the stalled body");
    // The guard deletes the temporary file in a task of its own.
    for _ in 0..50 {
        if entries(store.dir()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        entries(store.dir()).is_empty(),
        "{:?}",
        entries(store.dir())
    );
}

#[tokio::test]
async fn opening_sweeps_temporary_files_older_than_an_hour() {
    let dir = temp_dir("blob-sweep");
    std::fs::create_dir_all(&dir).unwrap();
    let old = std::fs::File::create(dir.join(".tmp-old")).unwrap();
    old.set_modified(SystemTime::now() - Duration::from_secs(7_200))
        .unwrap();
    std::fs::write(dir.join(".tmp-young"), b"a put in progress").unwrap();
    std::fs::write(dir.join("kept"), b"a stored body").unwrap();
    let store = LocalBlobStore::open(&dir).await.unwrap();
    let want: BTreeSet<String> = [".tmp-young", "kept"].map(String::from).into();
    assert_eq!(entries(store.dir()), want);
}

#[tokio::test]
async fn ids_that_cannot_name_a_file_are_never_found_and_never_stored() {
    let store = store("blob-ids").await;
    let m = meta("u1", "x.txt", "text/plain");
    for raw in ["..", "a.meta.json", ".tmp-x", "a b"] {
        let id = file_id(raw);
        let put = store.put(&id, &m, body([b"x".to_vec()]), 10).await;
        assert!(matches!(put, Err(BlobError::Backend(_))), "{raw}: {put:?}");
        assert!(
            matches!(store.head(&id).await, Err(BlobError::NotFound)),
            "{raw}"
        );
        store.delete(&id).await.unwrap();
    }
    assert!(entries(store.dir()).is_empty());
}

#[tokio::test]
async fn a_long_range_spans_many_reads() {
    let store = store("blob-range").await;
    let id = file_id("big");
    let data = pattern(1 << 20);
    let chunks: Vec<Vec<u8>> = data.chunks(50_000).map(<[u8]>::to_vec).collect();
    store
        .put(
            &id,
            &meta("u1", "b.mp4", "video/mp4"),
            body(chunks),
            1 << 20,
        )
        .await
        .unwrap();
    let range = ByteRange {
        start: 65_000,
        end_inclusive: Some(400_000),
    };
    let (m, bytes) = store.get(&id, Some(range)).await.unwrap();
    assert_eq!(m.size, 1 << 20);
    assert!(collect(bytes).await == data[65_000..=400_000]);
}

#[tokio::test]
async fn opening_a_file_as_the_directory_fails_naming_it() {
    let path = temp_dir("blob-not-a-dir");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"not a directory").unwrap();
    let err = LocalBlobStore::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, Error::DataDir { path: p, .. } if *p == path),
        "{err:?}"
    );
}
