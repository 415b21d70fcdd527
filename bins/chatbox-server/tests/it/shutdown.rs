//! SIGTERM with a slow reply in flight and more messages queued behind it: the process exits
//! within its shutdown bound, every client is told, and only the first reply is stored.

use std::time::Duration;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_ws::testing::{self, Got, Ws};
use serde_json::{Value, json};

use crate::process::{Backend, SECRET, env_for, start};

/// The server's `SHUTDOWN_TIMEOUT` in these tests.
const SHUTDOWN: Duration = Duration::from_secs(3);

fn cwd(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chatbox-it-cwd-{}-{name}", std::process::id()))
}

/// Reads until the close; returns the frames and the close code.
async fn rest_until_close(ws: &mut Ws) -> (Vec<Value>, u16) {
    let mut frames = Vec::new();
    loop {
        match testing::read(ws).await.unwrap() {
            Got::Json(f) => frames.push(f),
            Got::Closed(code) => return (frames, code),
        }
    }
}

#[tokio::test]
async fn sigterm_with_queued_messages_exits_in_time_and_stores_only_the_first_reply() {
    for backend in Backend::both("queued") {
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        // 60 chunks, 0.5 s apart: far longer than the shutdown bound.
        let words: Vec<String> = (0..60).map(|i| format!("w{i} ")).collect();
        fake.push(Reply::text(words.clone()).chunk_delay(Duration::from_millis(500)));
        let mut env = env_for(&backend, &fake.base_url());
        env.retain(|(k, _)| k != "SHUTDOWN_TIMEOUT");
        env.push(("SHUTDOWN_TIMEOUT".into(), "3s".into()));
        let mut server = start(&env, &[], &cwd("queued")).await;
        let t = testing::token(SECRET, "u1", &[]);
        let mut phone = testing::connect(server.addr, "/chatbox/ws", &t)
            .await
            .unwrap();
        let sid = testing::json(&mut phone).await.unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut laptop =
            testing::connect(server.addr, &format!("/chatbox/ws?session_id={sid}"), &t)
                .await
                .unwrap();
        testing::json(&mut laptop).await.unwrap();
        for i in 0..6 {
            let m = json!({"type": "user_message", "content": format!("m{i}")});
            testing::send(&mut phone, &m).await.unwrap();
        }
        // The first reply is streaming; m1..m5 wait behind it.
        let mut seen = Vec::new();
        loop {
            let f = testing::json(&mut phone).await.unwrap();
            let chunk = f["type"] == "ai_response";
            seen.push(f);
            if chunk {
                break;
            }
        }
        server.terminate();
        let stopped = std::time::Instant::now();
        let (phone_frames, phone_code) = rest_until_close(&mut phone).await;
        let (laptop_frames, laptop_code) = rest_until_close(&mut laptop).await;
        assert_eq!((phone_code, laptop_code), (1001, 1001), "{backend:?}");
        assert!(
            server.wait_exit(SHUTDOWN + Duration::from_secs(2)).await,
            "clean exit:\n{}",
            server.output()
        );
        let took = stopped.elapsed();

        let refused = phone_frames
            .iter()
            .filter(|f| f["type"] == "error" && f["error"]["code"] == "SESSION_BUSY")
            .count();
        assert_eq!(
            refused, 5,
            "each queued message is refused: {phone_frames:?}"
        );
        for frames in [&phone_frames, &laptop_frames] {
            let done: Vec<&Value> = frames
                .iter()
                .filter(|f| f["metadata"]["done"] == "true")
                .collect();
            assert_eq!(done.len(), 1, "one done frame: {frames:?}");
            assert_eq!(done[0]["metadata"]["cancelled"], "shutdown");
            assert!(
                frames
                    .iter()
                    .all(|f| f["type"] != "user_message" || f["content"] == "m0"),
                "no queued message ran: {frames:?}"
            );
        }
        assert_eq!(fake.chat_requests().len(), 1, "no later reply was started");

        let again = start(&env, &[], &cwd("queued")).await;
        let (code, session) =
            testing::api(again.addr, "GET", &format!("/chatbox/sessions/{sid}"), &t)
                .await
                .unwrap();
        assert_eq!(code, 200);
        let messages = session["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            2,
            "m0 and its partial reply only: {messages:?}"
        );
        assert_eq!(messages[0]["content"], "m0");
        let partial = messages[1]["content"].as_str().unwrap();
        assert!(!partial.is_empty() && words.concat().starts_with(partial));
        assert_eq!(messages[1]["metadata"]["incomplete"], "shutdown");
        eprintln!("{backend:?}: exited {took:?} after SIGTERM (bound {SHUTDOWN:?} + 2 s)");
    }
}
