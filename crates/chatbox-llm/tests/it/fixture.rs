//! What the integration tests share: a fake plus the provider pointed at it, a request with
//! history, and draining a reply stream.

use std::sync::Arc;

use chatbox_core::LlmError;
use chatbox_core::ports::llm::{ChatMessage, ChatRequest, Chunk, LlmProvider, Usage};
use chatbox_llm::fake::FakeVendor;
use chatbox_llm::{ClientConfig, ProviderConfig, ProviderKind, build_client, build_provider};
use futures::StreamExt;

/// All three vendors, for tests that hold for each.
pub const VENDORS: [ProviderKind; 3] = [
    ProviderKind::Openai,
    ProviderKind::Anthropic,
    ProviderKind::Dify,
];

/// A fake of `kind` and a provider for it, its config adjusted by `tweak`.
pub async fn setup_with(
    kind: ProviderKind,
    tweak: impl FnOnce(&mut ProviderConfig),
) -> (FakeVendor, Arc<dyn LlmProvider>) {
    let fake = FakeVendor::start(kind).await.expect("fake vendor starts");
    let mut config = fake.provider_config();
    tweak(&mut config);
    let client = build_client(&ClientConfig::default()).expect("client builds");
    let provider = build_provider(&config, client).expect("fake config is valid");
    (fake, provider)
}

/// A fake of `kind` and a provider for it with the fake's default config.
pub async fn setup(kind: ProviderKind) -> (FakeVendor, Arc<dyn LlmProvider>) {
    setup_with(kind, |_| {}).await
}

/// A three-turn conversation with a system prompt.
pub fn request() -> ChatRequest {
    ChatRequest {
        system_prompt: Some("Be brief.".into()),
        messages: vec![
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("Where is my order?"),
        ],
        conversation_key: "session-1".into(),
        user_key: "user-1".into(),
    }
}

/// The outcome of a whole reply: the text deltas, then how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub texts: Vec<String>,
    pub end: Result<Usage, LlmError>,
}

/// Drains a reply, checking that nothing follows its terminal item.
pub async fn collect(provider: &dyn LlmProvider, request: ChatRequest) -> Outcome {
    let mut stream = provider.stream_chat(request);
    let mut texts = Vec::new();
    let end = loop {
        match stream.next().await {
            Some(Ok(Chunk::Text(text))) => texts.push(text),
            Some(Ok(Chunk::Finished(usage))) => break Ok(usage),
            Some(Err(error)) => break Err(error),
            None => panic!("stream ended without Finished or Err"),
        }
    };
    assert!(
        stream.next().await.is_none(),
        "items after the terminal one"
    );
    Outcome { texts, end }
}
