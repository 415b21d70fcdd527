//! What the server logs for a whole conversation — at debug level, as JSON — never holds the
//! token (even one passed in the query string), a secret or a message body.

use std::time::Duration;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_ws::testing;
use serde_json::{Value, json};

use crate::process::{Backend, SECRET, env_for, start};

#[tokio::test]
async fn a_conversation_logs_no_token_secret_or_message_body() {
    let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
    fake.push(Reply::text(["The answer is ", "KIWI-77"]).usage(3, 4));
    let backend = Backend::sqlite("logs");
    let mut env = env_for(&backend, &fake.base_url());
    env.push(("RUST_LOG".into(), "debug".into()));
    env.push(("LOG_FORMAT".into(), "json".into()));
    let key = env
        .iter()
        .find(|(k, _)| k == "ENCRYPTION_KEY")
        .map(|(_, v)| v.clone())
        .unwrap();
    let cwd = std::env::temp_dir().join(format!("chatbox-it-cwd-{}-logs", std::process::id()));
    let mut server = start(&env, &[], &cwd).await;

    let t = testing::token(SECRET, "u1", &[]);
    let mut ws = testing::connect(server.addr, &format!("/chatbox/ws?token={t}"), "")
        .await
        .unwrap();
    let sid = testing::json(&mut ws).await.unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    testing::send(
        &mut ws,
        &json!({"type": "user_message", "content": "my diagnosis is BLUEBERRY-42"}),
    )
    .await
    .unwrap();
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert_eq!(testing::reply_text(&frames), "The answer is KIWI-77");
    let (code, _) = testing::api(server.addr, "GET", &format!("/chatbox/sessions/{sid}"), &t)
        .await
        .unwrap();
    assert_eq!(code, 200);
    // A token that fails verification, in the query string, is not logged either.
    let forged = format!("{t}x");
    let status = testing::upgrade_status(server.addr, &format!("/chatbox/ws?token={forged}"), &[])
        .await
        .unwrap();
    assert_eq!(status, 401);
    drop(ws);
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).await);

    let log = server.output();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "debug logging is on:\n{log}");
    for (what, needle) in [
        ("the token", t.as_str()),
        ("the token's signature", t.rsplit('.').next().unwrap()),
        ("the JWT secret", SECRET),
        ("the encryption key", key.as_str()),
        ("the provider API key", "sk-fake"),
        ("the user's message", "BLUEBERRY-42"),
        ("the AI's reply", "KIWI-77"),
    ] {
        assert!(!log.contains(needle), "{what} is in the log:\n{log}");
    }
    let spans = |name: &str| {
        lines.iter().any(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == name))
        })
    };
    assert!(
        spans("session") && spans("ws") && spans("request"),
        "spans per session, connection and request:\n{log}"
    );
}
