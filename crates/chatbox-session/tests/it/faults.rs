//! Store failures during a turn: retried when transient, and never silent when they persist.

use chatbox_core::testing::{Fault, StoreOp};
use chatbox_core::{Sender, Store};
use chatbox_session::{ConnectRequest, EngineConfig};

use crate::harness::*;

#[tokio::test(start_paused = true)]
async fn a_transient_failure_saving_the_reply_is_retried() {
    let w = world();
    w.faults.fail_nth(StoreOp::AppendReply, 1, Fault::Transient);
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "hi");
    let frames = until(&mut c, "ai_response", true).await;
    assert!(frames.iter().all(|f| f["type"] != "error"), "{frames:?}");
    let done = frames.last().unwrap();
    assert!(done["metadata"]["persisted"].is_null());
    assert_eq!(w.faults.calls(StoreOp::AppendReply), 2);
    let msgs = w.store.messages(c.session_id(), None).await.unwrap();
    assert_eq!(msgs.last().unwrap().content, "echo: hi");
    let s = w.store.get_session(c.session_id()).await.unwrap().unwrap();
    assert_eq!(s.response_count, 1, "the statistics went with the message");
}

#[tokio::test(start_paused = true)]
async fn a_reply_that_cannot_be_saved_says_so() {
    for fault in [Fault::Permanent, Fault::Transient, Fault::Stall] {
        let w = world_with(EngineConfig {
            store_timeout_secs: 2,
            ..Default::default()
        });
        w.faults.fail_from(StoreOp::AppendReply, 1, fault);
        let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
        next(&mut c).await;
        say(&c, "hi");
        let frames = until(&mut c, "ai_response", true).await;
        let n = frames.len();
        assert_eq!(frames[n - 2]["type"], "error", "{fault:?}: {frames:?}");
        assert_eq!(frames[n - 2]["error"]["code"], "STORAGE_ERROR");
        assert!(frames[n - 2]["seq"].is_u64(), "every device is told");
        assert_eq!(frames[n - 1]["metadata"]["done"], "true");
        assert_eq!(frames[n - 1]["metadata"]["persisted"], "false");
        let msgs = w.store.messages(c.session_id(), None).await.unwrap();
        assert_eq!(
            msgs.iter().map(|m| m.sender).collect::<Vec<_>>(),
            [Sender::User],
            "{fault:?}: the user's message is kept, no half-written reply"
        );
        let s = w.store.get_session(c.session_id()).await.unwrap().unwrap();
        assert_eq!((s.total_tokens, s.response_count), (0, 0));
    }
}

#[tokio::test]
async fn a_user_message_that_cannot_be_saved_is_refused_and_not_answered() {
    let w = world();
    w.faults
        .fail_nth(StoreOp::AppendMessage, 1, Fault::Permanent);
    let mut c = connect(&w, user("u1"), ConnectRequest::default()).await;
    next(&mut c).await;
    say(&c, "lost?");
    let err = next(&mut c).await;
    assert_eq!(err["error"]["code"], "STORAGE_ERROR");
    assert!(err["seq"].is_null(), "only the sender is told");
    assert!(
        w.llm.requests().is_empty(),
        "nothing unsaved reaches the model"
    );
    say(&c, "again");
    let frames = until(&mut c, "ai_response", true).await;
    assert_eq!(text_of(&frames), "echo: again");
}
