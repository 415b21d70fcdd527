//! Streaming replies: deltas in order, usage, the request each vendor received, estimates,
//! large events, and streams that end badly.

use chatbox_core::LlmError;
use chatbox_core::ports::llm::Usage;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{Ending, FAKE_API_KEY, Reply};

use crate::fixture::{VENDORS, collect, request, setup};

#[tokio::test]
async fn deltas_arrive_in_order_with_the_vendors_usage() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["Your ", "order ", "ships ", "today."]).usage(31, 4));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(
            outcome.texts,
            ["Your ", "order ", "ships ", "today."],
            "{kind:?}"
        );
        assert_eq!(
            outcome.end.unwrap(),
            Usage {
                input_tokens: 31,
                output_tokens: 4,
                estimated: false
            },
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn openai_receives_history_system_prompt_and_usage_request() {
    let (fake, provider) = setup(ProviderKind::Openai).await;
    collect(&*provider, request()).await.end.unwrap();
    let sent = &fake.chat_requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(&*format!("Bearer {FAKE_API_KEY}"))
    );
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    let body = sent.json().unwrap();
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(body["messages"][0]["content"], "Be brief.");
    assert_eq!(body["messages"][3]["content"], "Where is my order?");
    assert_eq!(body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn anthropic_receives_history_and_the_system_field() {
    let (fake, provider) = setup(ProviderKind::Anthropic).await;
    collect(&*provider, request()).await.end.unwrap();
    let sent = &fake.chat_requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(FAKE_API_KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json().unwrap();
    assert_eq!(body["system"], "Be brief.");
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
}

#[tokio::test]
async fn history_is_bounded_by_the_configured_turns() {
    let (fake, provider) =
        crate::fixture::setup_with(ProviderKind::Openai, |c| c.history.max_turns = 1).await;
    collect(&*provider, request()).await.end.unwrap();
    let body = fake.chat_requests()[0].json().unwrap();
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        2,
        "system + latest turn"
    );
}

#[tokio::test]
async fn missing_usage_is_estimated_and_marked() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["abcdefgh"]).no_usage());
        let usage = collect(&*provider, request()).await.end.unwrap();
        assert!(usage.estimated, "{kind:?}");
        assert_eq!(usage.output_tokens, 2, "{kind:?}: 8 chars / 4");
        assert!(usage.input_tokens > 0, "{kind:?}");
    }
}

#[tokio::test]
async fn a_single_200_kb_event_arrives_whole() {
    let big = "é".repeat(100 * 1024);
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text([big.clone(), "!".to_owned()]));
        let outcome = collect(&*provider, request()).await;
        assert!(outcome.end.is_ok(), "{kind:?}");
        assert_eq!(outcome.texts.concat(), format!("{big}!"), "{kind:?}");
    }
}

#[tokio::test]
async fn a_stream_without_its_terminator_is_an_error() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["partial"]).ending(Ending::Truncated));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["partial"], "{kind:?}");
        assert!(
            matches!(outcome.end, Err(LlmError::Protocol(_))),
            "{kind:?}: {:?}",
            outcome.end
        );
        assert_eq!(
            fake.chat_requests().len(),
            1,
            "{kind:?}: never replayed after a token"
        );
    }
}

#[tokio::test]
async fn a_mid_stream_error_event_is_an_error_and_not_retried() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["Hel", "lo"]).ending(Ending::ErrorEvent));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["Hel", "lo"], "{kind:?}");
        assert!(outcome.end.is_err(), "{kind:?}");
        assert_eq!(fake.chat_requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn a_connection_reset_mid_body_is_a_network_error() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["Hel"]).ending(Ending::Reset));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["Hel"], "{kind:?}");
        assert!(
            matches!(outcome.end, Err(LlmError::Network(_))),
            "{kind:?}: {:?}",
            outcome.end
        );
    }
}

#[tokio::test]
async fn chat_collects_the_same_stream() {
    let (fake, provider) = setup(ProviderKind::Anthropic).await;
    fake.push(Reply::text(["a", "b", "c"]).usage(5, 3));
    let reply = provider.chat(request()).await.unwrap();
    assert_eq!(reply.content, "abc");
    assert_eq!(reply.usage.total(), 8);
}

#[tokio::test]
async fn the_empty_script_echoes_the_last_user_message() {
    for kind in VENDORS {
        let (_fake, provider) = setup(kind).await;
        let reply = provider.chat(request()).await.unwrap();
        assert!(reply.content.starts_with("echo: "), "{kind:?}");
        assert!(reply.content.ends_with("Where is my order?"), "{kind:?}");
    }
}

#[tokio::test]
async fn azure_style_endpoints_keep_their_query_and_key_header() {
    let (fake, provider) = crate::fixture::setup_with(ProviderKind::Openai, |c| {
        c.endpoint = format!("{}?api-version=2024-10-21", c.endpoint);
        c.api_key_header = Some("api-key".into());
    })
    .await;
    collect(&*provider, request()).await.end.unwrap();
    let sent = &fake.chat_requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions?api-version=2024-10-21");
    assert_eq!(sent.header("api-key"), Some(FAKE_API_KEY));
    assert_eq!(sent.header("authorization"), None);
}
