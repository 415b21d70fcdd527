//! Laziness and cancellation: nothing is sent before the first poll, and dropping a stream
//! closes the connection the fake was streaming on.

use std::time::Duration;

use chatbox_core::ports::llm::Chunk;
use chatbox_llm::fake::{Ending, Reply};
use futures::StreamExt;

use crate::fixture::{VENDORS, request, setup};

#[tokio::test]
async fn an_unpolled_stream_sends_nothing() {
    let (fake, provider) = setup(chatbox_llm::ProviderKind::Openai).await;
    let stream = provider.stream_chat(request());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(fake.requests().is_empty());
    drop(stream);
    assert_eq!(fake.connections(), 0);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_vendor_connection() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["first"]).ending(Ending::Stall));
        let mut stream = provider.stream_chat(request());
        let first = stream.next().await.unwrap().unwrap();
        assert!(fake.wait_chat_requests(1, Duration::from_secs(5)).await);
        assert_eq!(first, Chunk::Text("first".into()));
        assert_eq!(fake.closed_early(), 0);
        drop(stream);
        assert!(
            fake.wait_closed_early(1, Duration::from_secs(5)).await,
            "{kind:?}: the fake never saw the connection close"
        );
    }
}

#[tokio::test]
async fn a_completed_reply_is_not_counted_as_closed_early() {
    let (fake, provider) = setup(chatbox_llm::ProviderKind::Dify).await;
    fake.push(Reply::text(["done"]));
    let reply = provider.chat(request()).await.unwrap();
    assert_eq!(reply.content, "done");
    assert!(!fake.wait_closed_early(1, Duration::from_millis(100)).await);
}
