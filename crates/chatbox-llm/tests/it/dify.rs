//! Dify keeps the conversation: the provider learns Dify's `conversation_id` from the stream
//! and sends only the latest message with it on later turns.

use chatbox_core::ports::llm::ChatMessage;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::Reply;

use crate::fixture::{collect, request, setup};

#[tokio::test]
async fn the_conversation_id_is_learned_and_reused_per_session() {
    let (fake, provider) = setup(ProviderKind::Dify).await;
    fake.push(Reply::text(["It ships today."]));
    collect(&*provider, request()).await.end.unwrap();

    let mut next = request();
    next.messages
        .push(ChatMessage::assistant("It ships today."));
    next.messages.push(ChatMessage::user("Thanks!"));
    collect(&*provider, next).await.end.unwrap();

    let mut other = request();
    other.conversation_key = "session-2".into();
    collect(&*provider, other).await.end.unwrap();

    let sent: Vec<_> = fake
        .chat_requests()
        .iter()
        .map(|r| r.json().unwrap())
        .collect();
    assert_eq!(sent[0]["conversation_id"], "");
    let first_query = sent[0]["query"].as_str().unwrap();
    assert!(first_query.contains("User: Hi") && first_query.ends_with("Where is my order?"));
    assert_eq!(sent[0]["response_mode"], "streaming");
    assert_eq!(sent[0]["user"], "user-1");
    assert_eq!(sent[1]["conversation_id"], "fake-conv-1");
    assert_eq!(sent[1]["query"], "Thanks!");
    assert_eq!(
        sent[2]["conversation_id"], "",
        "another session starts its own conversation"
    );
    let auth = fake.chat_requests()[0]
        .header("authorization")
        .map(str::to_owned);
    assert_eq!(auth.as_deref(), Some("Bearer fake-key-not-secret"));
}
