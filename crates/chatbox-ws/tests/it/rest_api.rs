//! The REST endpoints and their errors.

use chatbox_core::ports::llm::ProviderHealth;
use chatbox_ws::EdgeConfig;
use serde_json::json;

use crate::client::*;

async fn session_with_message(s: &Server, t: &str) -> String {
    let mut c = ws(s, "/ws", t).await;
    let sid = json(&mut c).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&mut c, json!({"type": "user_message", "content": "hello"})).await;
    until_done(&mut c).await;
    sid
}

#[tokio::test]
async fn health_and_readiness() {
    let s = serve(EdgeConfig::default()).await;
    let (code, body) = http(&s, "GET", "/healthz", &[]).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "healthy");
    let (code, body) = http(&s, "GET", "/readyz", &[]).await;
    assert_eq!(code, 200, "{body}");
    // A vendor outage is reported, but the pod stays in the Service: history still works.
    s.llm.set_health(ProviderHealth::NotReady("down".into()));
    let (code, body) = http(&s, "GET", "/readyz", &[]).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["store"]["status"], "ready");
    assert_eq!(v["checks"]["llm"]["status"], "degraded");
    assert_eq!(v["checks"]["llm"]["providers"]["gpt"]["reason"], "down");
}

#[tokio::test]
async fn list_get_end_and_errors() {
    let s = serve(EdgeConfig::default()).await;
    let t = token("u1", &[]);
    let sid = session_with_message(&s, &t).await;
    let (code, body) = api(&s, "GET", "/sessions", &t).await;
    assert_eq!(code, 200);
    assert_eq!(body["user_id"], "u1");
    assert_eq!(body["count"], 1);
    assert_eq!(body["truncated"], false);
    let row = &body["sessions"][0];
    assert_eq!(row["id"], sid);
    assert_eq!(row["session_id"], sid);
    assert_eq!(row["message_count"], 2);
    assert_eq!(row["is_active"], true);
    assert!(row.get("end_time").is_none(), "no end_time while active");

    let (code, body) = api(&s, "POST", &format!("/sessions/{sid}/end"), &t).await;
    assert_eq!((code, &body["status"]), (200, &json!("ended")));
    let first_end = body["end_time"].clone();
    let (code, body) = api(&s, "POST", &format!("/sessions/{sid}/end"), &t).await;
    assert_eq!(code, 200);
    assert_eq!(
        body["end_time"], first_end,
        "ending twice does not re-stamp"
    );

    let (code, body) = api(&s, "GET", "/sessions", "not-a-jwt").await;
    assert_eq!((code, &body["code"]), (401, &json!("INVALID_TOKEN")));
    let (code, body) = http(&s, "GET", "/sessions", &[]).await;
    assert_eq!(code, 401);
    assert!(body.contains("UNAUTHORIZED"));
    let other = token("u2", &[]);
    let (code, body) = api(&s, "GET", &format!("/sessions/{sid}"), &other).await;
    assert_eq!((code, &body["code"]), (404, &json!("NOT_FOUND")));
    let (code, _) = api(&s, "POST", &format!("/sessions/{sid}/end"), &other).await;
    assert_eq!(code, 404, "only the owner may end");
    let admin = token("boss", &["admin"]);
    let (code, body) = api(&s, "GET", &format!("/sessions/{sid}"), &admin).await;
    assert_eq!(code, 200, "an admin may read any session");
    assert!(body.get("share_token").is_none());
}

#[tokio::test]
async fn sharing_is_stable_public_and_revocable() {
    let s = serve(EdgeConfig::default()).await;
    let t = token("u1", &[]);
    let sid = session_with_message(&s, &t).await;
    let (code, body) = api(&s, "POST", &format!("/sessions/{sid}/share"), &t).await;
    assert_eq!(code, 200);
    let share = body["share_token"].as_str().unwrap().to_owned();
    let (_, again) = api(&s, "POST", &format!("/sessions/{sid}/share"), &t).await;
    assert_eq!(again["share_token"], share, "stable per session");
    let (code, body) = http(&s, "GET", &format!("/shared/{share}"), &[]).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["session_id"], sid);
    assert_eq!(v["messages"][0]["content"], "hello");
    let (code, _) = api(&s, "DELETE", &format!("/sessions/{sid}/share"), &t).await;
    assert_eq!(code, 200);
    assert_eq!(
        http(&s, "GET", &format!("/shared/{share}"), &[]).await.0,
        404
    );
}

#[tokio::test]
async fn the_public_shared_view_is_rate_limited_per_client() {
    let s = serve(EdgeConfig {
        public_rate_limit: 3,
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(http(&s, "GET", "/shared/no-such-token", &[]).await.0, 404);
    }
    let (code, body) = http(&s, "GET", "/shared/no-such-token", &[]).await;
    assert_eq!(code, 429);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn behind_trusted_proxies_the_forwarded_client_is_limited_and_never_otherwise() {
    let limited = |trusted: &str| EdgeConfig {
        public_rate_limit: 1,
        trusted_proxies: vec![trusted.parse().unwrap()],
        ..Default::default()
    };
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    // The test client is on loopback: trusted here, so each forwarded client has its own bucket.
    let s = serve(limited("127.0.0.0/8")).await;
    assert_eq!(
        http(&s, "GET", "/shared/nope", &from("198.51.100.1"))
            .await
            .0,
        404
    );
    assert_eq!(
        http(&s, "GET", "/shared/nope", &from("198.51.100.1"))
            .await
            .0,
        429
    );
    assert_eq!(
        http(&s, "GET", "/shared/nope", &from("198.51.100.2"))
            .await
            .0,
        404,
        "another client"
    );
    // Not trusted: the header is the client's own claim and is ignored.
    let s = serve(limited("10.0.0.0/8")).await;
    assert_eq!(
        http(&s, "GET", "/shared/nope", &from("198.51.100.1"))
            .await
            .0,
        404
    );
    assert_eq!(
        http(&s, "GET", "/shared/nope", &from("198.51.100.2"))
            .await
            .0,
        429,
        "one bucket"
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_with_the_json_error_body() {
    let s = serve(EdgeConfig::default()).await;
    let (code, body) = http(&s, "GET", "/no/such/endpoint", &[]).await;
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "NOT_FOUND");
    assert!(v["error"].is_string());
    let (code, body) = http(&s, "DELETE", "/healthz", &[]).await;
    assert_eq!(code, 405);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["code"], "METHOD_NOT_ALLOWED");
}
