//! `POST P/upload` and `GET P/files/{id}` over real sockets (memory blob store): the owner and
//! admins download, others get 404; refused uploads say why and store nothing.

use chatbox_ws::EdgeConfig;
use serde_json::Value;

use crate::client::*;

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

async fn upload(s: &Server, bearer: &str, parts: &[(&str, Option<&str>, &[u8])]) -> (u16, Value) {
    let (content_type, body) = multipart(parts);
    let auth = format!("Bearer {bearer}");
    let (code, _, body) = request(
        s,
        "POST",
        "/upload",
        &[("Authorization", &auth), ("Content-Type", &content_type)],
        &body,
    )
    .await;
    (code, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn download(
    s: &Server,
    id: &str,
    bearer: &str,
    extra: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let auth = format!("Bearer {bearer}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    request(s, "GET", &format!("/files/{id}"), &headers, b"").await
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn the_owner_and_admins_download_and_nobody_else_learns_the_file_exists() {
    let s = serve(EdgeConfig::default()).await;
    let ann = token("ann", &[]);
    let (code, up) = upload(&s, &ann, &[("file", Some("report.pdf"), PDF)]).await;
    assert_eq!(code, 200, "{up}");
    let id = up["file_id"].as_str().unwrap().to_owned();
    assert_eq!(up["file_url"], format!("/chatbox/files/{id}"));
    assert_eq!(up["mime_type"], "application/pdf");
    assert_eq!(up["size"], PDF.len());

    let (code, headers, body) = download(&s, &id, &ann, &[]).await;
    assert_eq!(code, 200);
    assert_eq!(body, PDF);
    assert_eq!(header(&headers, "content-type"), Some("application/pdf"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(header(&headers, "content-disposition").is_some_and(|d| d.contains("report.pdf")));

    let (code, _, partial) = download(&s, &id, &ann, &[("Range", "bytes=0-3")]).await;
    assert_eq!((code, partial.as_slice()), (206, &b"%PDF"[..]));
    let (code, headers, _) = download(&s, &id, &ann, &[("Range", "bytes=100000-")]).await;
    assert_eq!(code, 416);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes */{}", PDF.len()).as_str())
    );

    let (code, _, other) = download(&s, &id, &token("bob", &[]), &[]).await;
    let (missing, _, nothing) = download(&s, "NoSuchFile0001", &token("bob", &[]), &[]).await;
    assert_eq!((code, missing), (404, 404));
    assert_eq!(
        other, nothing,
        "another user's file looks exactly like a missing one"
    );
    let (code, _, body) = download(&s, &id, &token("boss", &["admin"]), &[]).await;
    assert_eq!((code, body.as_slice()), (200, PDF));
    let (code, _, _) = request(&s, "GET", &format!("/files/{id}"), &[], b"").await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn refused_uploads_say_why_and_store_nothing() {
    let s = serve(EdgeConfig {
        upload_max_size: 4096,
        ..EdgeConfig::default()
    })
    .await;
    let t = token("ann", &[]);
    let exe: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffbinary";
    let big = vec![b'a'; 10_000];
    for (what, parts, want) in [
        (
            "program renamed .pdf",
            vec![("file", Some("invoice.pdf"), exe)],
            415,
        ),
        (
            "double extension",
            vec![("file", Some("x.pdf.exe"), PDF)],
            415,
        ),
        (
            "path in the name",
            vec![("file", Some("../../etc/passwd"), PDF)],
            400,
        ),
        (
            "empty file",
            vec![("file", Some("empty.txt"), &b""[..])],
            400,
        ),
        ("no file field", vec![("note", None, &b"hello"[..])], 400),
        (
            "two files",
            vec![("file", Some("a.pdf"), PDF), ("file", Some("b.pdf"), PDF)],
            400,
        ),
        (
            "over the limit",
            vec![("file", Some("big.txt"), big.as_slice())],
            413,
        ),
    ] {
        let (code, body) = upload(&s, &t, &parts).await;
        assert_eq!(code, want, "{what}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["code"].is_string(),
            "{what}: a clear error body: {body}"
        );
        assert_eq!(s.blobs.len(), 0, "{what}: nothing stored");
        if what == "two files" {
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("one file")),
                "{body}"
            );
        }
    }
    let (code, _) = upload(&s, "", &[("file", Some("a.pdf"), PDF)]).await;
    assert_eq!(code, 401);
}

#[tokio::test]
async fn switched_off_uploads_answer_feature_disabled() {
    let s = serve(EdgeConfig {
        file_uploads: false,
        ..EdgeConfig::default()
    })
    .await;
    let t = token("ann", &[]);
    let (code, body) = upload(&s, &t, &[("file", Some("a.pdf"), PDF)]).await;
    assert_eq!(
        (code, &body["code"]),
        (403, &Value::from("FEATURE_DISABLED")),
        "{body}"
    );
    assert_eq!(s.blobs.len(), 0);
}

#[tokio::test]
async fn suffix_ranges_voice_only_servers_and_bad_bodies() {
    let s = serve(EdgeConfig {
        file_uploads: false,
        ..EdgeConfig::default()
    })
    .await;
    let t = token("ann", &[]);
    // Voice on, files off: audio is accepted, a PDF is not.
    let mut note = b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm".to_vec();
    note.extend_from_slice(b"\x18\x53\x80\x67\x01\x00\x00\x00\x86\x85A_OPUS");
    note.extend_from_slice(&[0u8; 64]);
    let (code, up) = upload(&s, &t, &[("file", Some("note.webm"), &note)]).await;
    assert_eq!(
        (code, &up["mime_type"]),
        (200, &Value::from("audio/webm")),
        "{up}"
    );
    let (code, body) = upload(&s, &t, &[("file", Some("a.pdf"), PDF)]).await;
    assert_eq!(
        (code, &body["code"]),
        (403, &Value::from("FEATURE_DISABLED"))
    );
    let id = up["file_id"].as_str().unwrap();
    let (code, headers, tail) = download(&s, id, &t, &[("Range", "bytes=-6")]).await;
    assert_eq!(code, 206);
    assert_eq!(tail, &note[note.len() - 6..]);
    assert_eq!(
        header(&headers, "content-range"),
        Some(format!("bytes {}-{}/{}", note.len() - 6, note.len() - 1, note.len()).as_str())
    );
    // Not multipart at all.
    let auth = format!("Bearer {t}");
    let (code, _, body) = request(
        &s,
        "POST",
        "/upload",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    )
    .await;
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
}

#[tokio::test]
async fn the_process_wide_connection_cap_answers_503() {
    let s = serve(EdgeConfig {
        max_connections: 1,
        ..EdgeConfig::default()
    })
    .await;
    let _first = ws(&s, "/ws", &token("ann", &[])).await;
    let auth = format!("Bearer {}", token("bob", &[]));
    assert_eq!(upgrade(&s, "/ws", &[("Authorization", &auth)]).await, 503);
}
