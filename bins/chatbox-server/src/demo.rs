//! The built-in demo model for dev mode: it streams a short, clearly labelled reply word by
//! word, with real token counts of a sort, so the whole product can be tried without an API key.

use std::time::Duration;

use async_trait::async_trait;
use chatbox_core::ports::llm::{
    ChatReply, ChatRequest, Chunk, ChunkStream, LlmError, LlmProvider, ProviderHealth, Role, Usage,
};
use futures::StreamExt;
use futures::stream;

/// Pause between words, so streaming is visible.
const WORD_DELAY: Duration = Duration::from_millis(40);

/// The demo provider (`id = "demo"`).
#[derive(Debug, Default)]
pub struct DemoProvider;

/// The demo's answer to the last user message.
pub fn demo_reply(request: &ChatRequest) -> String {
    let last = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let turns = request.messages.len();
    format!(
        "(demo model) You said: \"{}\". This is turn {turns} of our conversation. Configure a real \
         provider with LLM_PROVIDER_1_ID, _TYPE, _ENDPOINT, _API_KEY and _MODEL to get real answers.",
        last.chars().take(200).collect::<String>()
    )
}

#[async_trait]
impl LlmProvider for DemoProvider {
    fn id(&self) -> &str {
        "demo"
    }

    fn name(&self) -> &str {
        "Demo (no AI)"
    }

    fn stream_chat(&self, request: ChatRequest) -> ChunkStream {
        let text = demo_reply(&request);
        let input_tokens = request
            .messages
            .iter()
            .map(|m| m.content.split_whitespace().count() as u64)
            .sum();
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
        let output_tokens = words.len() as u64;
        let usage = Usage {
            input_tokens,
            output_tokens,
            estimated: true,
        };
        stream::iter(words)
            .then(|w| async move {
                tokio::time::sleep(WORD_DELAY).await;
                Ok(Chunk::Text(w))
            })
            .chain(stream::iter([Ok(Chunk::Finished(usage))]))
            .boxed()
    }

    async fn chat(&self, request: ChatRequest) -> Result<ChatReply, LlmError> {
        let content = demo_reply(&request);
        let output_tokens = content.split_whitespace().count() as u64;
        Ok(ChatReply {
            content,
            usage: Usage {
                input_tokens: 0,
                output_tokens,
                estimated: true,
            },
        })
    }

    async fn health(&self) -> ProviderHealth {
        ProviderHealth::Ready
    }
}

#[cfg(test)]
mod tests {
    use chatbox_core::ports::llm::ChatMessage;

    use super::*;

    #[tokio::test]
    async fn streams_words_then_finishes_with_usage() {
        let req = ChatRequest {
            system_prompt: None,
            messages: vec![ChatMessage::user("hello there")],
            conversation_key: "s".into(),
            user_key: "u".into(),
        };
        let items: Vec<_> = DemoProvider.stream_chat(req.clone()).collect().await;
        let text: String = items
            .iter()
            .filter_map(|i| match i {
                Ok(Chunk::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, demo_reply(&req));
        assert!(text.contains("You said: \"hello there\""));
        assert!(
            matches!(items.last(), Some(Ok(Chunk::Finished(u))) if u.input_tokens == 2 && u.estimated)
        );
    }
}
