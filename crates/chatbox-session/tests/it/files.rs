//! Files and voice notes: ownership, what is stored and echoed, the AI's answer (with the image
//! for vision providers, a text line otherwise), transcription with and without a transcriber,
//! and the feature switches.

use std::time::Duration;

use chatbox_core::ports::llm::{LlmError, Role};
use chatbox_core::{BlobMeta, BlobStore, FileId, Sender, Store, UserId};
use chatbox_session::{CloseReason, ConnectRequest, Connection, EngineConfig};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake pixels";

/// Stores `bytes` as file `id` uploaded by `owner`.
async fn upload(w: &World, id: &str, owner: &str, name: &str, mime: &str, bytes: &[u8]) {
    let meta = BlobMeta {
        owner: UserId::parse(owner).unwrap(),
        name: name.into(),
        mime_type: mime.into(),
        size: 0,
    };
    let body = futures::stream::iter([Ok(bytes.to_vec().into())]).boxed();
    w.blobs
        .put(&FileId::parse(id).unwrap(), &meta, body, u64::MAX)
        .await
        .unwrap();
}

async fn connected(w: &World) -> Connection {
    let mut c = connect(w, user("u1"), ConnectRequest::default()).await;
    assert_eq!(next(&mut c).await["type"], "connection_status");
    c
}

fn send_file(c: &Connection, id: &str, caption: &str) {
    c.handle(frame(json!({
        "type": "file_upload",
        "file_id": id,
        "content": caption,
        // A client cannot set what the server derives from the blob.
        "metadata": {"file_name": "evil.exe", "mime_type": "text/plain", "note": "kept"},
    })));
}

fn send_voice(c: &Connection, id: &str) {
    c.handle(frame(json!({"type": "voice_message", "file_id": id})));
}

fn error_code(f: &Value) -> &str {
    assert_eq!(f["type"], "error", "{f}");
    f["error"]["code"].as_str().unwrap()
}

#[tokio::test]
async fn an_owners_file_is_stored_echoed_with_its_url_and_answered() {
    let w = world_with_files(EngineConfig::default(), false);
    upload(
        &w,
        "f1",
        "u1",
        "report.pdf",
        "application/pdf",
        &[b'%'; 2048],
    )
    .await;
    let mut c = connected(&w).await;
    send_file(&c, "f1", "what is this?");
    let frames = until(&mut c, "ai_response", true).await;
    let echo = &frames[0];
    assert_eq!(echo["type"], "file_upload");
    assert_eq!(echo["sender"], "user");
    assert_eq!(echo["content"], "what is this?");
    assert_eq!(echo["file_id"], "f1");
    assert_eq!(echo["file_url"], "/chatbox/files/f1");
    assert_eq!(echo["metadata"]["file_name"], "report.pdf");
    assert_eq!(echo["metadata"]["mime_type"], "application/pdf");
    assert_eq!(echo["metadata"]["file_size"], "2048");
    assert_eq!(echo["metadata"]["note"], "kept");
    assert!(echo["seq"].as_u64().is_some(), "a session frame");
    assert_eq!(frames[1]["type"], "loading");
    assert_eq!(
        text_of(&frames),
        "echo: [file: report.pdf, application/pdf, 2 KB]\nwhat is this?"
    );

    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(stored.len(), 2, "the file message and the reply");
    let file = &stored[0];
    assert_eq!(file.sender, Sender::User);
    assert_eq!(file.file_id.as_ref().map(FileId::as_str), Some("f1"));
    assert_eq!(file.file_url.as_deref(), Some("/chatbox/files/f1"));
    assert_eq!(file.metadata["file_name"], "report.pdf");
    assert_eq!(stored[1].sender, Sender::Ai);
    let session = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert_eq!(session.name, "what is this?");
    let sent = &w.llm.requests()[0];
    assert!(sent.messages.iter().all(|m| m.images.is_empty()));
}

#[tokio::test]
async fn another_users_file_or_an_unknown_id_is_forbidden_alike_and_nothing_is_stored() {
    let w = world_with_files(EngineConfig::default(), true);
    upload(&w, "theirs", "u2", "secret.pdf", "application/pdf", b"%PDF").await;
    upload(&w, "their-note", "u2", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_file(&c, "theirs", "look");
    let theirs = next(&mut c).await;
    send_file(&c, "nobodys", "look");
    let unknown = next(&mut c).await;
    send_voice(&c, "their-note");
    let voice = next(&mut c).await;
    for f in [&theirs, &unknown, &voice] {
        assert_eq!(error_code(f), "FORBIDDEN");
        assert!(f.get("seq").is_none(), "to the sender only");
    }
    assert_eq!(
        theirs["error"]["message"], unknown["error"]["message"],
        "existence is not revealed"
    );
    settled(&mut c).await;
    assert!(
        w.store
            .messages(c.session_id(), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(w.llm.requests().is_empty());
    assert!(w.whisper.audio_inputs().is_empty());
}

#[tokio::test]
async fn file_and_voice_frames_are_refused_when_their_feature_is_off_or_unconfigured() {
    let off = world_with_files(
        EngineConfig {
            uploads_enabled: false,
            voice_enabled: false,
            ..Default::default()
        },
        true,
    );
    upload(&off, "f1", "u1", "a.png", "image/png", PNG).await;
    upload(&off, "v1", "u1", "v.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&off).await;
    send_file(&c, "f1", "hi");
    assert_eq!(error_code(&next(&mut c).await), "FEATURE_DISABLED");
    send_voice(&c, "v1");
    assert_eq!(error_code(&next(&mut c).await), "FEATURE_DISABLED");
    settled(&mut c).await;
    assert!(
        off.store
            .messages(c.session_id(), None)
            .await
            .unwrap()
            .is_empty()
    );

    // Switched on, but no blob store to read files from.
    let unconfigured = world();
    let mut c = connected(&unconfigured).await;
    send_file(&c, "f1", "hi");
    let refused = next(&mut c).await;
    assert_eq!(error_code(&refused), "FEATURE_DISABLED");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
    send_voice(&c, "v1");
    assert_eq!(error_code(&next(&mut c).await), "FEATURE_DISABLED");
}

#[tokio::test]
async fn a_vision_provider_gets_the_image_bytes_with_the_turn_and_text_lines_after() {
    let w = world_with_files(EngineConfig::default(), false);
    w.llm.set_vision(true);
    upload(&w, "img", "u1", "parcel.png", "image/png", PNG).await;
    let mut c = connected(&w).await;
    send_file(&c, "img", "is it damaged?");
    until(&mut c, "ai_response", true).await;
    say(&c, "and now?");
    until(&mut c, "ai_response", true).await;

    let requests = w.llm.requests();
    let turn = requests[0].messages.last().unwrap();
    assert_eq!(turn.role, Role::User);
    assert_eq!(
        turn.content,
        "[file: parcel.png, image/png, 20 B]\nis it damaged?"
    );
    assert_eq!(turn.images.len(), 1);
    assert_eq!(turn.images[0].mime_type, "image/png");
    assert_eq!(&*turn.images[0].data, PNG, "the bytes, read server-side");
    let later = &requests[1].messages;
    assert_eq!(
        later[0].content,
        "[file: parcel.png, image/png, 20 B]\nis it damaged?"
    );
    assert!(
        later.iter().all(|m| m.images.is_empty()),
        "history replays the image as its text line only"
    );
}

#[tokio::test]
async fn a_provider_without_vision_gets_the_text_line_only() {
    let w = world_with_files(EngineConfig::default(), false);
    upload(&w, "img", "u1", "photo.png", "image/png", PNG).await;
    let mut c = connected(&w).await;
    send_file(&c, "img", "");
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&frames), "echo: [file: photo.png, image/png, 20 B]");
    let turn = w.llm.requests()[0].messages.last().cloned().unwrap();
    assert!(turn.images.is_empty());
    let session = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert_eq!(
        session.name, "photo.png",
        "named after the file without a caption"
    );
}

#[tokio::test]
async fn while_an_admin_assists_a_file_is_delivered_without_an_ai_reply() {
    let w = world_with_files(EngineConfig::default(), false);
    upload(&w, "f1", "u1", "report.pdf", "application/pdf", b"%PDF").await;
    let mut owner = connected(&w).await;
    let join = ConnectRequest {
        session_id: Some(owner.session_id().clone()),
        ..Default::default()
    };
    let mut staff = connect(&w, admin("adm"), join).await;
    assert_eq!(next(&mut staff).await["type"], "connection_status");
    assert_eq!(next(&mut staff).await["type"], "admin_join");
    assert_eq!(next(&mut owner).await["type"], "admin_join");
    send_file(&owner, "f1", "here it is");
    let delivered = next(&mut staff).await;
    assert_eq!(delivered["type"], "file_upload");
    assert_eq!(delivered["file_url"], "/chatbox/files/f1");
    assert_eq!(next(&mut owner).await["type"], "file_upload");
    settled(&mut owner).await;
    assert!(w.llm.requests().is_empty(), "the AI stays silent");
}

#[tokio::test]
async fn a_voice_note_is_transcribed_stored_and_answered() {
    let w = world_with_files(EngineConfig::default(), true);
    w.whisper.push_transcript(Ok(" where is my parcel ".into()));
    upload(
        &w,
        "v1",
        "u1",
        "note.webm",
        "video/webm",
        b"\x1aE\xdf\xa3 voice",
    )
    .await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    let frames = until(&mut c, "ai_response", true).await;
    let echo = &frames[0];
    assert_eq!(echo["type"], "voice_message");
    assert_eq!(echo["content"], "where is my parcel");
    assert_eq!(echo["file_url"], "/chatbox/files/v1");
    assert_eq!(echo["metadata"]["transcript"], "true");
    assert_eq!(frames[1]["type"], "loading");
    assert_eq!(text_of(&frames), "echo: where is my parcel");

    let audio = &w.whisper.audio_inputs()[0];
    assert_eq!(&*audio.bytes, b"\x1aE\xdf\xa3 voice");
    assert_eq!(audio.file_name, "note.webm");
    assert_eq!(audio.mime_type, "video/webm");
    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(stored[0].content, "where is my parcel");
    assert_eq!(stored[0].metadata["transcript"], "true");
    assert_eq!(stored[0].file_id.as_ref().map(FileId::as_str), Some("v1"));
    assert_eq!(stored[1].sender, Sender::Ai);
}

#[tokio::test]
async fn without_a_transcriber_the_note_is_stored_and_the_user_told_without_a_reply() {
    let w = world_with_files(EngineConfig::default(), false);
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    let echo = next(&mut c).await;
    assert_eq!(echo["type"], "voice_message");
    assert_eq!(echo["content"], "");
    assert_eq!(echo["metadata"]["transcript"], "off");
    let told = next(&mut c).await;
    assert_eq!(told["type"], "notification");
    assert!(
        told["content"]
            .as_str()
            .unwrap()
            .contains("transcription is off")
    );
    settled(&mut c).await;
    assert!(w.llm.requests().is_empty(), "no AI reply");
    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].metadata["transcript"], "off");
}

#[tokio::test]
async fn a_failing_transcriber_stores_the_note_and_reports_llm_unavailable() {
    let w = world_with_files(EngineConfig::default(), true);
    w.whisper
        .push_transcript(Err(LlmError::Overloaded { status: 503 }));
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    let echo = next(&mut c).await;
    assert_eq!(echo["type"], "voice_message");
    assert_eq!(echo["content"], "");
    assert_eq!(echo["metadata"]["transcript"], "failed");
    let error = next(&mut c).await;
    assert_eq!(error_code(&error), "LLM_UNAVAILABLE");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Transcription failed")
    );
    settled(&mut c).await;
    assert!(w.llm.requests().is_empty());
    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(stored.len(), 1, "the note is kept");
    assert_eq!(stored[0].metadata["transcript"], "failed");
}

#[tokio::test]
async fn a_voice_note_must_be_audio_and_small_enough_to_transcribe() {
    let w = world_with_files(EngineConfig::default(), true);
    upload(&w, "pdf", "u1", "a.pdf", "application/pdf", b"%PDF").await;
    let huge = vec![0u8; 25 * 1024 * 1024 + 1];
    upload(&w, "long", "u1", "long.mp3", "audio/mpeg", &huge).await;
    let mut c = connected(&w).await;
    send_voice(&c, "pdf");
    assert_eq!(error_code(&next(&mut c).await), "INVALID_FORMAT");
    send_voice(&c, "long");
    assert_eq!(error_code(&next(&mut c).await), "INVALID_FORMAT");
    settled(&mut c).await;
    assert!(
        w.store
            .messages(c.session_id(), None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(w.whisper.audio_inputs().is_empty());
}

#[tokio::test]
async fn inputs_after_a_voice_note_wait_for_its_transcript_and_the_session_stays_responsive() {
    let w = world_with_files(EngineConfig::default(), true);
    let transcript = w.whisper.pace_transcript();
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    say(&c, "second");
    // Answered while the transcription runs; nothing of "second" comes before the note.
    settled(&mut c).await;
    let mut other = connect(
        &w,
        user("u1"),
        ConnectRequest {
            session_id: Some(c.session_id().clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(next(&mut other).await["type"], "connection_status");

    transcript.send(Ok("first".into())).unwrap();
    let first = until(&mut c, "ai_response", true).await;
    assert_eq!(first[0]["type"], "voice_message");
    assert_eq!(first[0]["content"], "first");
    assert_eq!(text_of(&first), "echo: first");
    let second = until(&mut c, "ai_response", true).await;
    assert_eq!(second[0]["type"], "user_message");
    assert_eq!(second[0]["content"], "second");
    assert_eq!(text_of(&second), "echo: second");
}

#[tokio::test(start_paused = true)]
async fn a_transcriber_that_never_answers_times_out_and_the_note_is_kept() {
    let w = world_with_files(
        EngineConfig {
            reply_timeout_secs: 5,
            ..Default::default()
        },
        true,
    );
    let _never = w.whisper.pace_transcript();
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    let echo = next(&mut c).await;
    assert_eq!(echo["metadata"]["transcript"], "failed");
    assert_eq!(error_code(&next(&mut c).await), "LLM_UNAVAILABLE");
    say(&c, "typed instead");
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&frames), "echo: typed instead");
}

#[tokio::test]
async fn shutdown_waits_for_a_transcription_and_refuses_what_was_held_back() {
    let w = world_with_files(EngineConfig::default(), true);
    let transcript = w.whisper.pace_transcript();
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    say(&c, "held back");
    settled(&mut c).await;
    let stopping = tokio::spawn(w.engine.shutdown(Duration::from_secs(30)));
    assert_eq!(error_code(&next(&mut c).await), "SESSION_BUSY");
    transcript.send(Ok("last words".into())).unwrap();
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(frames[0]["content"], "last words");
    assert_eq!(text_of(&frames), "echo: last words");
    let (rest, reason) = closed(&mut c).await;
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(reason, CloseReason::ShuttingDown);
    stopping.await.unwrap();
    let stored: Vec<String> = w
        .store
        .messages(c.session_id(), None)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(stored, ["last words", "echo: last words"]);
}

#[tokio::test(start_paused = true)]
async fn an_abort_keeps_a_note_whose_transcript_never_came() {
    let w = world_with_files(EngineConfig::default(), true);
    let _never = w.whisper.pace_transcript();
    upload(&w, "v1", "u1", "note.ogg", "audio/ogg", b"OggS").await;
    let mut c = connected(&w).await;
    send_voice(&c, "v1");
    settled(&mut c).await;
    w.engine.shutdown(Duration::from_secs(1)).await;
    let (frames, reason) = closed(&mut c).await;
    assert_eq!(reason, CloseReason::ShuttingDown);
    assert_eq!(frames[0]["type"], "voice_message");
    assert_eq!(frames[0]["metadata"]["transcript"], "failed");
    assert_eq!(error_code(&frames[1]), "LLM_UNAVAILABLE");
    let stored = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(stored.len(), 1, "the note is kept");
}
