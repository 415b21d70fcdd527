//! The first-token, idle and total deadlines, each reported as its own timeout phase.

use std::time::Duration;

use chatbox_core::LlmError;
use chatbox_core::ports::llm::TimeoutPhase;
use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{Ending, Reply};

use crate::fixture::{VENDORS, collect, request, setup_with};

#[tokio::test]
async fn a_vendor_silent_before_the_first_token_times_out() {
    for kind in VENDORS {
        let (fake, provider) = setup_with(kind, |c| {
            c.timeouts.first_token_ms = 150;
            c.retry.attempts = 1;
        })
        .await;
        fake.push(Reply::text(Vec::<String>::new()).ending(Ending::Stall));
        let outcome = collect(&*provider, request()).await;
        assert!(
            matches!(
                outcome.end,
                Err(LlmError::Timeout {
                    phase: TimeoutPhase::FirstToken
                })
            ),
            "{kind:?}: {:?}",
            outcome.end
        );
    }
}

#[tokio::test]
async fn a_first_token_timeout_is_retried() {
    let (fake, provider) =
        setup_with(ProviderKind::Openai, |c| c.timeouts.first_token_ms = 1_000).await;
    fake.push(Reply::text(["late"]).first_delay(Duration::from_secs(30)));
    fake.push(Reply::text(["prompt"]));
    let outcome = collect(&*provider, request()).await;
    assert_eq!(outcome.texts, ["prompt"]);
    assert_eq!(fake.chat_requests().len(), 2);
}

#[tokio::test]
async fn a_stall_after_the_first_token_is_an_idle_timeout() {
    for kind in VENDORS {
        let (fake, provider) = setup_with(kind, |c| c.timeouts.idle_ms = 150).await;
        fake.push(Reply::text(["Hel"]).ending(Ending::Stall));
        let outcome = collect(&*provider, request()).await;
        assert_eq!(outcome.texts, ["Hel"], "{kind:?}");
        assert!(
            matches!(
                outcome.end,
                Err(LlmError::Timeout {
                    phase: TimeoutPhase::Idle
                })
            ),
            "{kind:?}: {:?}",
            outcome.end
        );
        assert_eq!(fake.chat_requests().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn a_slow_but_steady_reply_hits_the_total_deadline() {
    let (fake, provider) = setup_with(ProviderKind::Anthropic, |c| {
        c.timeouts.total_ms = 1_000;
        c.timeouts.idle_ms = 5_000;
    })
    .await;
    fake.push(Reply::text(vec!["tick"; 50]).chunk_delay(Duration::from_millis(100)));
    let outcome = collect(&*provider, request()).await;
    assert!(!outcome.texts.is_empty());
    assert!(outcome.texts.len() < 50);
    assert!(matches!(
        outcome.end,
        Err(LlmError::Timeout {
            phase: TimeoutPhase::Total
        })
    ));
}
