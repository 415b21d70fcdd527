//! Uploads through the real binary, on the local directory store and on S3 (moto): upload →
//! download by the owner (bytes, or a 302 to a presigned URL valid ≤ 5 minutes), 404 for
//! anyone else, admins allowed; a 101 MB upload is refused with 413 without the server holding
//! it in memory.

use std::net::SocketAddr;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::FakeVendor;
use chatbox_store::blob::{S3BlobStore, S3Config};
use chatbox_ws::testing;
use serde_json::Value;

use crate::process::{Backend, SECRET, Server, env_for, start};

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

fn s3_endpoint() -> String {
    std::env::var("CHATBOX_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "CHATBOX_TEST_S3_ENDPOINT is not set: these tests need an S3 double. Run `cargo xtask \
             test -p chatbox-server` (it starts moto_server), or start `moto_server -p 5000` and \
             set CHATBOX_TEST_S3_ENDPOINT=http://127.0.0.1:5000"
        )
    })
}

/// One streamed multipart upload to `P/upload`: status and parsed body.
async fn upload(
    addr: SocketAddr,
    bearer: &str,
    name: &str,
    first: &[u8],
    len: usize,
) -> (u16, Value) {
    let (status, body) =
        testing::upload_streamed(addr, "/chatbox/upload", bearer, name, first, len)
            .await
            .unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `GET` with a bearer; status, headers, body bytes.
async fn get(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let auth = bearer.map(|b| format!("Bearer {b}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, headers, body) = testing::http_with_headers(addr, "GET", path, &headers)
        .await
        .unwrap();
    (status, headers, body.into_bytes())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The query parameter `key` of `url`.
fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    url.split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

async fn serve(name: &str, s3_bucket: Option<&str>) -> (Server, FakeVendor) {
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let backend = Backend::sqlite(name);
    let mut env = env_for(&backend, &fake.base_url());
    if let Some(bucket) = s3_bucket {
        let endpoint = s3_endpoint();
        let config = S3Config {
            endpoint: Some(endpoint.clone()),
            region: "us-east-1".into(),
            bucket: bucket.into(),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            path_style: true,
            ..S3Config::default()
        };
        S3BlobStore::new(config)
            .await
            .unwrap()
            .create_bucket_if_missing()
            .await
            .unwrap();
        for (k, v) in [
            ("S3_ENDPOINT", endpoint.as_str()),
            ("S3_BUCKET", bucket),
            ("S3_REGION", "us-east-1"),
            ("S3_ACCESS_KEY_ID", "testing"),
            ("S3_SECRET_ACCESS_KEY", "testing"),
            ("S3_USE_PATH_STYLE", "true"),
        ] {
            env.push((k.into(), v.into()));
        }
    }
    let cwd = std::env::temp_dir().join(format!("chatbox-it-cwd-{}-{name}", std::process::id()));
    (start(&env, &[], &cwd).await, fake)
}

#[tokio::test]
async fn upload_and_download_by_owner_admin_and_nobody_else_on_local_and_s3() {
    let bucket = format!("chat-files-{}", std::process::id());
    for s3 in [false, true] {
        let (server, _fake) = serve(
            if s3 { "up-s3" } else { "up-local" },
            s3.then_some(bucket.as_str()),
        )
        .await;
        let ann = testing::token(SECRET, "ann", &[]);
        let (code, up) = upload(server.addr, &ann, "report.pdf", PDF, PDF.len()).await;
        assert_eq!(code, 200, "s3={s3}: {up}");
        let id = up["file_id"].as_str().unwrap().to_owned();
        let path = format!("/chatbox/files/{id}");
        assert_eq!(up["file_url"], path.as_str());

        for (who, bearer) in [
            ("owner", ann.clone()),
            ("admin", testing::token(SECRET, "boss", &["admin"])),
        ] {
            let (code, headers, body) = get(server.addr, &path, Some(&bearer)).await;
            if s3 {
                assert_eq!(code, 302, "{who}");
                let url = header(&headers, "location").unwrap();
                let expires: u64 = query_param(url, "X-Amz-Expires").unwrap().parse().unwrap();
                assert!(expires <= 300, "{who}: presigned for {expires}s");
                let date = query_param(url, "X-Amz-Date").unwrap();
                let signed = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ").unwrap();
                let age = chrono::Utc::now().naive_utc() - signed;
                assert!(age.num_seconds().abs() < 60, "{who}: signed now ({date})");
                assert!(query_param(url, "X-Amz-Signature").is_some_and(|s| s.len() == 64));
                let target = url.trim_start_matches("http://");
                let (host, rest) = target.split_once('/').unwrap();
                let (status, _, bytes) =
                    get(host.parse().unwrap(), &format!("/{rest}"), None).await;
                assert_eq!(
                    (status, bytes.as_slice()),
                    (200, PDF),
                    "{who}: the presigned URL serves the file"
                );
            } else {
                assert_eq!((code, body.as_slice()), (200, PDF), "{who}");
                assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
            }
        }
        let (code, _, _) = get(
            server.addr,
            &path,
            Some(&testing::token(SECRET, "bob", &[])),
        )
        .await;
        assert_eq!(code, 404, "s3={s3}: another user");
        let log = server.output();
        assert!(
            !log.contains("X-Amz-Signature"),
            "a presigned URL never reaches the log"
        );
    }
}

#[tokio::test]
async fn a_101_mb_upload_is_refused_with_413_without_being_held_in_memory() {
    let (server, _fake) = serve("up-big", None).await;
    let ann = testing::token(SECRET, "ann", &[]);
    // Warm up: one small upload so allocator pools exist before the idle reading.
    let (code, _) = upload(server.addr, &ann, "warm.txt", b"hello", 5).await;
    assert_eq!(code, 200);
    let idle_kb = server.memory_kb("VmRSS");
    let (code, body) = upload(server.addr, &ann, "big.txt", b"plain text ", 101 << 20).await;
    assert_eq!(code, 413, "{body}");
    assert_eq!(body["code"], "FILE_TOO_LARGE");
    let peak_kb = server.memory_kb("VmHWM");
    let above = peak_kb.saturating_sub(idle_kb);
    assert!(
        above < 64 * 1024,
        "peak RSS {peak_kb} kB is {above} kB above idle {idle_kb} kB"
    );
    let files = std::fs::read_dir(
        std::env::temp_dir().join(format!("chatbox-it-{}-up-big/files", std::process::id())),
    )
    .map(|d| d.count())
    .unwrap_or(0);
    assert!(
        files <= 2,
        "only the warm-up file (and its metadata) is stored: {files}"
    );
}

/// A WebM voice note's first bytes (EBML header, `webm` doc type, an Opus track).
fn voice_note() -> Vec<u8> {
    let mut out = b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm".to_vec();
    out.extend_from_slice(b"\x18\x53\x80\x67\x01\x00\x00\x00\x86\x85A_OPUS");
    out.extend_from_slice(&[0u8; 512]);
    out
}

async fn next_of(ws: &mut chatbox_ws::testing::Ws, kind: &str) -> Value {
    loop {
        let f = testing::json(ws).await.unwrap();
        if f["type"] == kind {
            return f;
        }
        assert_ne!(f["type"], "error", "waiting for {kind}: {f}");
    }
}

#[tokio::test]
async fn a_file_and_a_voice_note_reach_the_conversation_and_the_ai_answers() {
    use chatbox_llm::fake::Reply;
    use serde_json::json;

    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let backend = Backend::sqlite("up-flow");
    let mut env = env_for(&backend, &fake.base_url());
    env.push(("TRANSCRIPTION_PROVIDER".into(), "fake".into()));
    let cwd = std::env::temp_dir().join(format!("chatbox-it-cwd-{}-up-flow", std::process::id()));
    let server = start(&env, &[], &cwd).await;
    let ann = testing::token(SECRET, "ann", &[]);
    let mut ws = testing::connect(server.addr, "/chatbox/ws", &ann)
        .await
        .unwrap();
    let status = testing::json(&mut ws).await.unwrap();
    let features = status["metadata"]["features"].as_str().unwrap_or_default();
    assert!(
        features.contains("uploads") && features.contains("voice"),
        "{status}"
    );

    // A PDF with a caption: echoed with its stable URL, then answered.
    let (code, up) = upload(server.addr, &ann, "report.pdf", PDF, PDF.len()).await;
    assert_eq!(code, 200, "{up}");
    let id = up["file_id"].as_str().unwrap().to_owned();
    fake.push(Reply::text(["Got ", "your report"]).usage(4, 3));
    testing::send(
        &mut ws,
        &json!({"type": "file_upload", "file_id": id, "content": "please read this"}),
    )
    .await
    .unwrap();
    let echo = next_of(&mut ws, "file_upload").await;
    assert_eq!(echo["file_id"], id.as_str());
    assert_eq!(echo["file_url"], format!("/chatbox/files/{id}"));
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert_eq!(testing::reply_text(&frames), "Got your report");
    let sent = fake.chat_requests()[0].json().unwrap().to_string();
    assert!(
        sent.contains("report.pdf") && sent.contains("please read this"),
        "{sent}"
    );
    assert!(!sent.contains("/files/"), "the model gets no URL: {sent}");

    // Someone else's file id is refused and nothing is stored.
    let bob = testing::token(SECRET, "bob", &[]);
    let (code, foreign) = upload(server.addr, &bob, "b.pdf", PDF, PDF.len()).await;
    assert_eq!(code, 200);
    testing::send(
        &mut ws,
        &json!({"type": "file_upload", "file_id": foreign["file_id"], "content": "x"}),
    )
    .await
    .unwrap();
    let refused = testing::json(&mut ws).await.unwrap();
    assert_eq!(refused["error"]["code"], "FORBIDDEN", "{refused}");

    // A voice note: transcribed by the fake vendor, stored with its transcript, answered.
    let note = voice_note();
    let (code, up) = upload(server.addr, &ann, "note.webm", &note, note.len()).await;
    assert_eq!(
        (code, &up["mime_type"]),
        (200, &json!("audio/webm")),
        "{up}"
    );
    fake.push(Reply::text(["where is ", "my order"]));
    fake.push(Reply::text(["On its way"]).usage(2, 2));
    testing::send(
        &mut ws,
        &json!({"type": "voice_message", "file_id": up["file_id"]}),
    )
    .await
    .unwrap();
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert_eq!(testing::reply_text(&frames), "On its way");
    let sid = status["session_id"].as_str().unwrap();
    let (code, session) = testing::api(
        server.addr,
        "GET",
        &format!("/chatbox/sessions/{sid}"),
        &ann,
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    let voice = session["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file_id"] == up["file_id"])
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(voice["content"], "where is my order", "{session}");
    assert_eq!(
        voice["file_url"],
        format!("/chatbox/files/{}", up["file_id"].as_str().unwrap())
    );
    let log = server.output();
    assert!(
        !log.contains("X-Amz") && !log.contains("where is my order"),
        "{log}"
    );
}

#[tokio::test]
async fn without_transcription_a_voice_note_is_stored_and_the_user_is_told() {
    let (server, fake) = serve("up-voice-off", None).await;
    let ann = testing::token(SECRET, "ann", &[]);
    let mut ws = testing::connect(server.addr, "/chatbox/ws", &ann)
        .await
        .unwrap();
    testing::json(&mut ws).await.unwrap();
    let note = voice_note();
    let (code, up) = upload(server.addr, &ann, "note.webm", &note, note.len()).await;
    assert_eq!(code, 200, "{up}");
    testing::send(
        &mut ws,
        &serde_json::json!({"type": "voice_message", "file_id": up["file_id"]}),
    )
    .await
    .unwrap();
    let told = next_of(&mut ws, "notification").await;
    assert!(
        told["content"]
            .as_str()
            .is_some_and(|c| c.to_lowercase().contains("transcription")),
        "{told}"
    );
    assert!(
        fake.chat_requests().is_empty(),
        "no AI reply without a transcript"
    );
}
