//! Transcription through the OpenAI-compatible `audio/transcriptions` endpoint.

use chatbox_core::LlmError;
use chatbox_core::ports::llm::AudioInput;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::Reply;

use crate::fixture::{setup, setup_with};

fn audio() -> AudioInput {
    AudioInput {
        bytes: bytes::Bytes::from_static(b"OggS fake audio"),
        file_name: "note.ogg".into(),
        mime_type: "audio/ogg".into(),
    }
}

#[tokio::test]
async fn transcribes_with_the_configured_model() {
    let (fake, provider) = setup_with(ProviderKind::Openai, |c| {
        c.transcription_model = Some("whisper-1".into())
    })
    .await;
    fake.push(Reply::text(["where is ", "my order"]));
    assert_eq!(
        provider.transcribe(audio()).await.unwrap(),
        "where is my order"
    );
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    let body = String::from_utf8_lossy(&sent.body);
    assert!(body.contains("whisper-1"));
    assert!(body.contains("filename=\"note.ogg\""));
    assert!(body.contains("OggS fake audio"));
}

#[tokio::test]
async fn transcription_errors_are_typed_and_retried() {
    let (fake, provider) = setup_with(ProviderKind::Openai, |c| {
        c.transcription_model = Some("whisper-1".into())
    })
    .await;
    fake.push(Reply::status(500));
    fake.push(Reply::text(["ok"]));
    assert_eq!(provider.transcribe(audio()).await.unwrap(), "ok");
    fake.push(Reply::status(401));
    assert!(matches!(
        provider.transcribe(audio()).await,
        Err(LlmError::Auth)
    ));
}

#[tokio::test]
async fn providers_without_transcription_say_unsupported() {
    for kind in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Dify,
    ] {
        let (fake, provider) = setup(kind).await;
        assert!(matches!(
            provider.transcribe(audio()).await,
            Err(LlmError::Unsupported)
        ));
        assert!(fake.requests().is_empty());
    }
}
