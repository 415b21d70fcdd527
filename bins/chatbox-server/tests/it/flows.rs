//! The main flows, on the embedded store and on MongoDB.

use std::time::Duration;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_ws::testing::{self, Got};
use serde_json::json;

use crate::process::{Backend, SECRET, env_for, start};

fn cwd(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chatbox-it-cwd-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn chat_flow_streams_persists_and_sends_history_on_both_stores() {
    for backend in Backend::both("chat") {
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        fake.push(Reply::text(["Open ", "Settings"]).usage(7, 2));
        fake.push(Reply::text(["Then ", "Reset"]).usage(11, 2));
        let server = start(&env_for(&backend, &fake.base_url()), &[], &cwd("chat")).await;
        let t = testing::token(SECRET, "u1", &[]);
        let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
            .await
            .unwrap();
        let status = testing::json(&mut ws).await.unwrap();
        assert_eq!(status["type"], "connection_status", "{backend:?}");
        assert_eq!(status["user_id"], "u1");
        assert_eq!(status["models"], json!([{"id": "fake", "name": "Fake"}]));
        let sid = status["session_id"].as_str().unwrap().to_owned();
        testing::send(
            &mut ws,
            &json!({"type": "user_message", "content": "How do I reset?"}),
        )
        .await
        .unwrap();
        let frames = testing::until_done(&mut ws).await.unwrap();
        assert_eq!(frames[1]["type"], "loading");
        assert_eq!(testing::reply_text(&frames), "Open Settings", "{backend:?}");
        assert_eq!(frames.last().unwrap()["metadata"]["tokens"], "9");
        testing::send(
            &mut ws,
            &json!({"type": "user_message", "content": "And then?"}),
        )
        .await
        .unwrap();
        let frames = testing::until_done(&mut ws).await.unwrap();
        assert_eq!(testing::reply_text(&frames), "Then Reset");

        let body = fake.chat_requests()[1].json().unwrap();
        let sent: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            sent,
            ["How do I reset?", "Open Settings", "And then?"],
            "history reaches the vendor"
        );

        let (code, session) =
            testing::api(server.addr, "GET", &format!("/chatbox/sessions/{sid}"), &t)
                .await
                .unwrap();
        assert_eq!(code, 200);
        let contents: Vec<&str> = session["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert_eq!(
            contents,
            [
                "How do I reset?",
                "Open Settings",
                "And then?",
                "Then Reset"
            ],
            "{backend:?}"
        );
        assert_eq!(session["total_tokens"], 22);
        assert_eq!(session["name"], "How do I reset?");
        let (code, list) = testing::api(server.addr, "GET", "/chatbox/sessions", &t)
            .await
            .unwrap();
        assert_eq!((code, &list["count"]), (200, &json!(1)));
    }
}

#[tokio::test]
async fn sigterm_during_a_reply_finishes_and_persists_it_then_closes_with_1001() {
    for backend in Backend::both("sigterm") {
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        let words: Vec<String> = (0..8).map(|i| format!("w{i} ")).collect();
        fake.push(Reply::text(words.clone()).chunk_delay(Duration::from_millis(150)));
        let env = env_for(&backend, &fake.base_url());
        let mut server = start(&env, &[], &cwd("sigterm")).await;
        let t = testing::token(SECRET, "u1", &[]);
        let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
            .await
            .unwrap();
        let sid = testing::json(&mut ws).await.unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        testing::send(
            &mut ws,
            &json!({"type": "user_message", "content": "long one"}),
        )
        .await
        .unwrap();
        let mut frames = Vec::new();
        loop {
            let f = testing::json(&mut ws).await.unwrap();
            let chunk = f["type"] == "ai_response";
            frames.push(f);
            if chunk {
                break;
            }
        }
        server.terminate();
        let code = loop {
            match testing::read(&mut ws).await.unwrap() {
                Got::Json(f) => frames.push(f),
                Got::Closed(code) => break code,
            }
        };
        assert_eq!(code, 1001, "{backend:?}");
        assert_eq!(
            testing::reply_text(&frames),
            words.concat(),
            "the reply completed before the close"
        );
        assert!(
            server.wait_exit(Duration::from_secs(30)).await,
            "clean exit:\n{}",
            server.output()
        );

        let again = start(&env, &[], &cwd("sigterm")).await;
        let (code, session) =
            testing::api(again.addr, "GET", &format!("/chatbox/sessions/{sid}"), &t)
                .await
                .unwrap();
        assert_eq!(code, 200);
        assert_eq!(
            session["messages"][1]["content"],
            words.concat(),
            "persisted across the restart ({backend:?})"
        );
    }
}

#[tokio::test]
async fn a_first_run_without_configuration_serves_the_demo_in_dev_mode() {
    let dir = cwd("dev");
    let _ = std::fs::remove_dir_all(&dir);
    let server = start(&[], &[], &dir).await;
    let out = server.output();
    assert!(out.contains("DEV MODE - NOT FOR PRODUCTION"), "{out}");
    let token = out
        .lines()
        .find_map(|l| l.split("ws?token=").nth(1))
        .map(|t| t.trim().to_owned())
        .expect("a user link with a token");
    let mut ws = testing::connect(server.addr, "/chatbox/ws", &token)
        .await
        .unwrap();
    let status = testing::json(&mut ws).await.unwrap();
    assert_eq!(status["model_id"], "demo");
    testing::send(
        &mut ws,
        &json!({"type": "user_message", "content": "hi there"}),
    )
    .await
    .unwrap();
    let frames = testing::until_done(&mut ws).await.unwrap();
    assert!(testing::reply_text(&frames).contains("You said: \"hi there\""));
    assert!(
        dir.join("chatbox-data").exists(),
        "the embedded store lives in ./chatbox-data"
    );
}

#[tokio::test]
async fn invalid_configuration_names_every_bad_key_and_exits() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .env_clear()
        .env("JWT_SECRET", "weak-test-secret")
        .env("SERVER_PORT", "not-a-port")
        .env("ENCRYPTION_KEY", "short")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for key in [
        "JWT_SECRET",
        "SERVER_PORT",
        "ENCRYPTION_KEY",
        "LLM_PROVIDER_1_ID",
    ] {
        assert!(text.contains(key), "{key} not named in:\n{text}");
    }
    assert!(!text.contains("weak-test-secret"), "the secret is masked");
}

#[tokio::test]
async fn a_production_setting_without_jwt_secret_refuses_to_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .env_clear()
        .env("MONGO_URI", "mongodb://127.0.0.1:1")
        .env("LLM_PROVIDER_1_ID", "gpt")
        .env("LLM_PROVIDER_1_TYPE", "openai")
        .env("LLM_PROVIDER_1_ENDPOINT", "http://127.0.0.1:1/v1")
        .env("LLM_PROVIDER_1_API_KEY", "sk-x")
        .env("LLM_PROVIDER_1_MODEL", "m")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "it must not start in dev mode against that MongoDB"
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("JWT_SECRET"),
        "JWT_SECRET not named in:\n{text}"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        !printed.contains("token="),
        "no dev links or tokens printed:\n{printed}"
    );
}
