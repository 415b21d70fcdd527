//! Human handoff and the admin API through the real binary, on the embedded store and on
//! MongoDB.

use std::time::Duration;

use chatbox_llm::ProviderKind;
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_ws::testing::{self, Ws};
use serde_json::{Value, json};

use crate::process::{Backend, SECRET, env_for, start};

fn cwd(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chatbox-it-cwd-{}-{name}", std::process::id()))
}

/// Reads frames until one satisfies `stop`; returns all read.
async fn read_until(ws: &mut Ws, stop: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let f = testing::json(ws).await.unwrap();
        let hit = stop(&f);
        frames.push(f);
        if hit {
            return frames;
        }
    }
}

fn is_ai_text(f: &Value) -> bool {
    f["type"] == "ai_response" && f["metadata"]["done"] == "false"
}

#[tokio::test]
async fn takeover_mid_reply_silences_the_ai_every_time_and_aborts_the_vendor_request() {
    const RUNS: usize = 50;
    for backend in Backend::both("takeover") {
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        let mut env = env_for(&backend, &fake.base_url());
        env.push(("ADMIN_RATE_LIMIT".into(), "1000".into()));
        let server = start(&env, &[], &cwd("takeover")).await;
        let admin = testing::token(SECRET, "ada", &["admin"]);
        for run in 0..RUNS {
            let words: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
            fake.push(Reply::text(words).chunk_delay(Duration::from_millis(5)));
            let user = testing::token(SECRET, &format!("user{run}"), &[]);
            let mut ws = testing::connect(server.addr, "/chatbox/ws", &user)
                .await
                .unwrap();
            let sid = testing::json(&mut ws).await.unwrap()["session_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let ask = json!({"type": "user_message", "content": "tell me a long story"});
            testing::send(&mut ws, &ask).await.unwrap();
            read_until(&mut ws, is_ai_text).await;
            let path = format!("/chatbox/admin/takeover/{sid}");
            let (code, body) = testing::api(server.addr, "POST", &path, &admin)
                .await
                .unwrap();
            assert_eq!(code, 200, "{backend:?} run {run}: {body}");
            let before = read_until(&mut ws, |f| f["type"] == "admin_join").await;
            let cancelled = before
                .iter()
                .filter(|f| f["metadata"]["cancelled"] == "takeover")
                .count();
            assert_eq!(
                cancelled, 1,
                "{backend:?} run {run}: the reply ends with one done frame"
            );
            let next = json!({"type": "user_message", "content": "hello admin"});
            testing::send(&mut ws, &next).await.unwrap();
            let after = read_until(&mut ws, |f| f["content"] == "hello admin").await;
            assert!(
                !after.iter().any(|f| f["type"] == "ai_response"),
                "{backend:?} run {run}: an AI frame after admin_join: {after:?}"
            );
            assert!(
                fake.wait_closed_early(run + 1, Duration::from_secs(10))
                    .await,
                "{backend:?} run {run}: the vendor saw its request closed"
            );
        }
        assert_eq!(
            fake.chat_requests().len(),
            RUNS,
            "no reply started while assisted"
        );
    }
}

#[tokio::test]
async fn admin_lists_and_metrics_filter_sort_and_page_on_both_stores() {
    for backend in Backend::both("admin-list") {
        let fake = FakeVendor::start(ProviderKind::Openai).await.unwrap();
        let mut env = env_for(&backend, &fake.base_url());
        env.push(("ADMIN_RATE_LIMIT".into(), "1000".into()));
        let server = start(&env, &[], &cwd("admin-list")).await;
        let admin = testing::token(SECRET, "ada", &["admin"]);
        let mut ids = Vec::new();
        // user0 sends 1 message, user1 2, user2 3.
        for (i, name) in ["user0", "user1", "user2"].into_iter().enumerate() {
            let t = testing::token(SECRET, name, &[]);
            let mut ws = testing::connect(server.addr, "/chatbox/ws", &t)
                .await
                .unwrap();
            let sid = testing::json(&mut ws).await.unwrap()["session_id"]
                .as_str()
                .unwrap()
                .to_owned();
            for k in 0..=i {
                fake.push(Reply::text(["ok"]).usage(1, 1));
                let m = json!({"type": "user_message", "content": format!("m{k}")});
                testing::send(&mut ws, &m).await.unwrap();
                testing::until_done(&mut ws).await.unwrap();
            }
            ids.push(sid);
        }
        let call = |path: String| {
            let admin = admin.clone();
            async move {
                testing::api(server.addr, "GET", &format!("/chatbox{path}"), &admin)
                    .await
                    .unwrap()
            }
        };
        let post = |path: String, token: String| async move {
            testing::api(server.addr, "POST", &format!("/chatbox{path}"), &token)
                .await
                .unwrap()
        };
        assert_eq!(
            post(format!("/admin/takeover/{}", ids[1]), admin.clone())
                .await
                .0,
            200
        );
        let user0 = testing::token(SECRET, "user0", &[]);
        assert_eq!(
            post(format!("/sessions/{}/end", ids[0]), user0).await.0,
            200
        );

        let (code, all) = call("/admin/sessions".into()).await;
        assert_eq!(
            (code, &all["total"]),
            (200, &json!(3)),
            "{backend:?}: {all}"
        );
        let order = |v: &Value| -> Vec<String> {
            v["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["user_id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (_, by_count) =
            call("/admin/sessions?sort_by=message_count&sort_order=asc".into()).await;
        assert_eq!(order(&by_count), ["user0", "user1", "user2"], "{backend:?}");
        let (_, by_user) = call("/admin/sessions?sort_by=user_id&sort_order=desc".into()).await;
        assert_eq!(order(&by_user), ["user2", "user1", "user0"], "{backend:?}");
        for key in [
            "start_time",
            "end_time",
            "duration",
            "last_activity",
            "total_tokens",
        ] {
            for dir in ["asc", "desc"] {
                let (code, page) =
                    call(format!("/admin/sessions?sort_by={key}&sort_order={dir}")).await;
                assert_eq!(
                    (code, &page["total"]),
                    (200, &json!(3)),
                    "{backend:?} {key} {dir}"
                );
            }
        }
        let (_, paged) =
            call("/admin/sessions?sort_by=user_id&sort_order=asc&limit=1&offset=2".into()).await;
        assert_eq!(
            (order(&paged), &paged["total"]),
            (vec!["user2".to_owned()], &json!(3))
        );
        let (_, assisted) = call("/admin/sessions?admin_assisted=true".into()).await;
        assert_eq!(order(&assisted), ["user1"], "{backend:?}");
        assert_eq!(assisted["sessions"][0]["assisting_admin_name"], "ada");
        let (_, ended) = call("/admin/sessions?status=ended".into()).await;
        assert_eq!(order(&ended), ["user0"], "{backend:?}");
        let (_, one) = call("/admin/users/user2/sessions".into()).await;
        assert_eq!(order(&one), ["user2"]);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let (_, dated) = call(format!(
            "/admin/sessions?start_time={today}&end_time={today}"
        ))
        .await;
        assert_eq!(
            dated["total"], 3,
            "{backend:?}: a date-only end covers the day"
        );
        let (_, none) = call("/admin/sessions?end_time=2001-01-01".into()).await;
        assert_eq!(none["total"], 0);
        for bad in [
            "limit=0",
            "sort_by=nm",
            "status=x",
            "help_requested=maybe",
            "offset=x",
        ] {
            let (code, body) = call(format!("/admin/sessions?{bad}")).await;
            assert_eq!((code, &body["code"]), (400, &json!("BAD_REQUEST")), "{bad}");
        }

        let (code, m) = call("/admin/metrics".into()).await;
        assert_eq!(code, 200);
        assert_eq!(
            (
                &m["total_sessions"],
                &m["ended_sessions"],
                &m["admin_assisted_count"]
            ),
            (&json!(3), &json!(1), &json!(1)),
            "{backend:?}: {m}"
        );
        assert_eq!(m["total_tokens"], 12, "{backend:?}: 6 replies of 2 tokens");
        assert!(m["max_concurrent"].as_u64().unwrap() >= 2);
        let (_, full) = call(format!("/admin/sessions/{}", ids[2])).await;
        assert_eq!(full["messages"].as_array().unwrap().len(), 6);
    }
}
