//! Error classes from each vendor's refusals, and the retry rule: only before the first token.

use std::time::Duration;

use chatbox_core::LlmError;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{Ending, FakeVendor, Reply};
use chatbox_llm::{ClientConfig, LlmConfig, build_client, build_provider, build_providers};

use crate::fixture::{VENDORS, collect, request, setup, setup_with};

#[tokio::test]
async fn refused_credentials_are_auth_errors_and_not_retried() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::status(401));
        let outcome = collect(&*provider, request()).await;
        assert!(
            matches!(outcome.end, Err(LlmError::Auth)),
            "{kind:?}: {:?}",
            outcome.end
        );
        assert_eq!(fake.chat_requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn bad_requests_are_not_retried() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::status(400));
        let outcome = collect(&*provider, request()).await;
        assert!(
            matches!(outcome.end, Err(LlmError::BadRequest { .. })),
            "{kind:?}: {:?}",
            outcome.end
        );
        assert_eq!(fake.chat_requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn rate_limits_carry_retry_after_once_retries_are_spent() {
    for kind in VENDORS {
        let (fake, provider) = setup_with(kind, |c| c.retry.attempts = 1).await;
        fake.push(Reply::rate_limited(Some(Duration::from_millis(1500))));
        let outcome = collect(&*provider, request()).await;
        assert!(
            matches!(outcome.end, Err(LlmError::RateLimited { retry_after: Some(d) }) if d == Duration::from_millis(1500)),
            "{kind:?}: {:?}",
            outcome.end
        );
    }
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_is_not_waited_for() {
    let (fake, provider) = setup(ProviderKind::Openai).await;
    fake.push(Reply::rate_limited(Some(Duration::from_secs(30))));
    let outcome = collect(&*provider, request()).await;
    assert!(matches!(outcome.end, Err(LlmError::RateLimited { .. })));
    assert_eq!(fake.chat_requests().len(), 1);
}

#[tokio::test]
async fn server_errors_and_overload_are_retried_then_reported() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        for _ in 0..3 {
            fake.push(Reply::overloaded());
        }
        let outcome = collect(&*provider, request()).await;
        let expected = if kind == ProviderKind::Anthropic {
            529
        } else {
            503
        };
        assert!(
            matches!(outcome.end, Err(LlmError::Overloaded { status }) if status == expected),
            "{kind:?}: {:?}",
            outcome.end
        );
        assert_eq!(fake.chat_requests().len(), 3, "{kind:?}: all attempts used");
    }
}

#[tokio::test]
async fn failures_before_the_first_token_are_retried_until_success() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::status(500));
        fake.push(Reply::rate_limited(Some(Duration::from_millis(20))));
        fake.push(Reply::text(["fine"]));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["fine"], "{kind:?}");
        assert!(outcome.end.is_ok(), "{kind:?}");
        assert_eq!(fake.chat_requests().len(), 3, "{kind:?}");
    }
}

#[tokio::test]
async fn an_error_event_before_any_token_is_retried() {
    let (fake, provider) = setup(ProviderKind::Anthropic).await;
    fake.push(Reply::text(Vec::<String>::new()).ending(Ending::ErrorEvent));
    fake.push(Reply::text(["second try"]));
    let outcome = collect(&*provider, request()).await;
    assert_eq!(outcome.texts, ["second try"]);
    assert_eq!(fake.chat_requests().len(), 2);
}

#[tokio::test]
async fn nothing_is_replayed_after_the_first_token() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        fake.push(Reply::text(["half a "]).ending(Ending::Reset));
        fake.push(Reply::text(["must not be used"]));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["half a "], "{kind:?}");
        assert!(outcome.end.is_err(), "{kind:?}");
        assert_eq!(fake.chat_requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn an_unreachable_vendor_is_a_retryable_network_error() {
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let config = fake.provider_config();
    drop(fake);
    let client = build_client(&ClientConfig::default()).unwrap();
    let provider = build_provider(&config, client).unwrap();
    let outcome = collect(&*provider, request()).await;
    let error = outcome.end.unwrap_err();
    assert!(matches!(error, LlmError::Network(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn an_invalid_config_is_refused_naming_the_field() {
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    let mut config = fake.provider_config();
    config.endpoint = "http://api.example.com/v1".into();
    let client = build_client(&ClientConfig::default()).unwrap();
    let error = build_provider(&config, client).err().unwrap();
    assert!(
        error.to_string().contains("endpoint must use https"),
        "{error}"
    );
}

#[tokio::test]
async fn build_providers_keeps_order_and_reports_every_problem() {
    let fake = FakeVendor::start(ProviderKind::Dify).await.unwrap();
    let first = fake.provider_config();
    let mut second = first.clone();
    second.id = "second".into();
    let ok = LlmConfig {
        client: ClientConfig::default(),
        providers: vec![first.clone(), second.clone()],
    };
    let built = build_providers(&ok).unwrap();
    let ids: Vec<&str> = built.iter().map(|p| p.id()).collect();
    assert_eq!(ids, ["fake-dify", "second"]);

    let mut broken = first.clone();
    broken.id = "broken".into();
    broken.endpoint = "ftp://10.0.0.1".into();
    let bad = LlmConfig {
        client: ClientConfig::default(),
        providers: vec![first.clone(), first, broken],
    };
    let errors = build_providers(&bad).err().unwrap();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            r#"LLM provider id "fake-dify" is configured more than once"#,
            r#"invalid LLM provider "broken": endpoint has unsupported scheme "ftp""#,
        ]
    );
}
