//! Readiness: a free probe, cached; refused keys make a provider not ready.

use chatbox_core::ports::llm::ProviderHealth;
use chatbox_llm::fake::Reply;

use crate::fixture::{VENDORS, collect, request, setup, setup_with};

#[tokio::test]
async fn health_probes_once_then_answers_from_cache() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        assert_eq!(provider.health().await, ProviderHealth::Ready, "{kind:?}");
        assert_eq!(provider.health().await, ProviderHealth::Ready, "{kind:?}");
        let probes: Vec<_> = fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET")
            .collect();
        assert_eq!(probes.len(), 1, "{kind:?}");
        assert!(fake.chat_requests().is_empty(), "{kind:?}: no paid call");
    }
}

#[tokio::test]
async fn a_refused_key_on_the_probe_is_not_ready() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.set_health_status(401);
        assert!(
            matches!(provider.health().await, ProviderHealth::NotReady(_)),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn an_expired_cache_probes_again() {
    let (fake, provider) =
        setup_with(chatbox_llm::ProviderKind::Openai, |c| c.health_ttl_ms = 1).await;
    assert_eq!(provider.health().await, ProviderHealth::Ready);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    fake.set_health_status(503);
    assert!(matches!(
        provider.health().await,
        ProviderHealth::NotReady(_)
    ));
}

#[tokio::test]
async fn a_refused_key_during_a_chat_marks_the_provider_not_ready() {
    let (fake, provider) = setup(chatbox_llm::ProviderKind::Anthropic).await;
    fake.push(Reply::status(401));
    assert!(collect(&*provider, request()).await.end.is_err());
    assert!(matches!(
        provider.health().await,
        ProviderHealth::NotReady(_)
    ));
    assert!(
        fake.requests().iter().all(|r| r.method == "POST"),
        "answered from the cache"
    );
}
