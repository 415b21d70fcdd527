//! The admin API over real sockets: who may call it, lists, metrics, a session's history, and
//! takeover / release driving a live conversation.

use chatbox_session::EngineConfig;
use chatbox_ws::EdgeConfig;
use serde_json::{Value, json};

use crate::client::*;

const ROUTES: [(&str, &str); 6] = [
    ("GET", "/admin/sessions"),
    ("GET", "/admin/sessions/abc"),
    ("GET", "/admin/users/u1/sessions"),
    ("GET", "/admin/metrics"),
    ("POST", "/admin/takeover/abc"),
    ("POST", "/admin/release/abc"),
];

async fn chat_once(s: &Server, user: &str) -> (Ws, String) {
    let t = token(user, &[]);
    let mut c = ws(s, "/ws", &t).await;
    let sid = json(&mut c).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&mut c, json!({"type": "user_message", "content": "hello"})).await;
    until_done(&mut c).await;
    (c, sid)
}

#[tokio::test]
async fn only_admins_reach_the_admin_routes() {
    let s = serve(EdgeConfig::default()).await;
    let user = token("u1", &[]);
    for (method, path) in ROUTES {
        assert_eq!(
            http(&s, method, path, &[]).await.0,
            401,
            "{path} without token"
        );
        let (code, body) = api(&s, method, path, &user).await;
        assert_eq!(
            (code, &body["code"]),
            (403, &json!("FORBIDDEN")),
            "{path} as a user"
        );
        let (code, _) = api(&s, method, path, "not-a-jwt").await;
        assert_eq!(code, 401, "{path} with a bad token");
    }
}

#[tokio::test]
async fn lists_filter_sort_page_and_count_and_refuse_bad_parameters() {
    let s = serve(EdgeConfig::default()).await;
    let admin = token("adm", &["admin"]);
    let (_a, sid_a) = chat_once(&s, "alice").await;
    let (_b, _) = chat_once(&s, "bob").await;
    let (_c, _) = chat_once(&s, "carol").await;

    let (code, all) = api(&s, "GET", "/admin/sessions", &admin).await;
    assert_eq!(code, 200, "{all}");
    assert_eq!(
        (all["total"].clone(), all["count"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(
        (all["limit"].clone(), all["offset"].clone()),
        (json!(100), json!(0))
    );
    assert!(
        all["sessions"][0].get("share_token").is_none(),
        "never the share token"
    );

    let (_, page) = api(
        &s,
        "GET",
        "/admin/sessions?sort_by=user_id&sort_order=asc&limit=2&offset=1",
        &admin,
    )
    .await;
    let users: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob", "carol"]);
    assert_eq!(
        (page["total"].clone(), page["count"].clone()),
        (json!(3), json!(2)),
        "total before paging"
    );

    let (_, mine) = api(&s, "GET", "/admin/users/alice/sessions", &admin).await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["sessions"][0]["session_id"], sid_a);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (_, dated) = api(
        &s,
        "GET",
        &format!("/admin/sessions?start_time={today}&end_time={today}&status=active"),
        &admin,
    )
    .await;
    assert_eq!(dated["total"], 3, "a date-only end includes that whole day");

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("status=open", "status"),
        ("sort_by=name", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("admin_assisted=yes", "admin_assisted"),
        ("start_time=yesterday", "start_time"),
    ] {
        let (code, body) = api(&s, "GET", &format!("/admin/sessions?{query}"), &admin).await;
        assert_eq!(code, 400, "{query}");
        assert_eq!(body["code"], "BAD_REQUEST");
        let msg = body["error"].as_str().unwrap();
        assert!(
            msg.contains(param) && msg.contains("allowed"),
            "{query}: {msg}"
        );
    }
}

#[tokio::test]
async fn metrics_and_a_sessions_full_history() {
    let s = serve(EdgeConfig::default()).await;
    let admin = token("adm", &["chat_admin"]);
    let (_c, sid) = chat_once(&s, "alice").await;
    let (code, m) = api(&s, "GET", "/admin/metrics", &admin).await;
    assert_eq!(code, 200);
    for key in [
        "total_sessions",
        "active_sessions",
        "ended_sessions",
        "admin_assisted_count",
        "help_requested_count",
        "total_tokens",
        "avg_response_time",
        "max_response_time",
        "avg_concurrent",
        "max_concurrent",
    ] {
        assert!(m[key].is_number(), "{key}: {m}");
    }
    assert_eq!(m["total_sessions"], 1);
    assert!(m["time_range"]["start"].is_string() && m["time_range"]["end"].is_string());
    let (code, _) = api(&s, "GET", "/admin/metrics?end_time=never", &admin).await;
    assert_eq!(code, 400);

    let (code, full) = api(&s, "GET", &format!("/admin/sessions/{sid}"), &admin).await;
    assert_eq!(code, 200);
    assert_eq!(full["user_id"], "alice");
    let senders: Vec<&str> = full["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sender"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["user", "ai"]);
    assert_eq!(full["takeovers"], json!([]));
    assert_eq!(
        api(&s, "GET", "/admin/sessions/nosuch", &admin).await.0,
        404
    );
}

#[tokio::test]
async fn takeover_and_release_over_rest_drive_the_live_session() {
    let s = serve(EdgeConfig::default()).await;
    let ada = token("ada", &["admin"]);
    let bob = token("bob", &["admin"]);
    let (mut user, sid) = chat_once(&s, "alice").await;

    let (code, body) = api(&s, "POST", &format!("/admin/takeover/{sid}"), &ada).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!({"message": "Session taken over", "session_id": sid, "admin_id": "ada"})
    );
    assert_eq!(json(&mut user).await["type"], "admin_join");
    let (code, body) = api(&s, "POST", &format!("/admin/takeover/{sid}"), &bob).await;
    assert_eq!((code, &body["code"]), (409, &json!("CONFLICT")));
    let (code, _) = api(&s, "POST", &format!("/admin/release/{sid}"), &bob).await;
    assert_eq!(code, 403, "only the assisting admin releases");
    assert_eq!(api(&s, "POST", "/admin/takeover/nosuch", &bob).await.0, 404);

    // The assisting admin talks to the user over their own socket.
    let mut admin_ws = ws(&s, &format!("/ws?session_id={sid}"), &ada).await;
    assert_eq!(json(&mut admin_ws).await["type"], "connection_status");
    send(
        &mut admin_ws,
        json!({"type": "user_message", "content": "Ada here"}),
    )
    .await;
    let got: Value = json(&mut user).await;
    assert_eq!(
        (got["sender"].as_str(), got["content"].as_str()),
        (Some("admin"), Some("Ada here"))
    );

    let (code, _) = api(&s, "POST", &format!("/admin/release/{sid}"), &ada).await;
    assert_eq!(code, 200);
    assert_eq!(json(&mut user).await["type"], "admin_leave");
    send(
        &mut user,
        json!({"type": "user_message", "content": "bot?"}),
    )
    .await;
    assert_eq!(reply_text(&until_done(&mut user).await), "echo: bot?");

    let (_, full) = api(&s, "GET", &format!("/admin/sessions/{sid}"), &ada).await;
    assert_eq!(full["admin_assisted"], true);
    assert_eq!(full["assisting_admin_name"], "ada");
    let kinds: Vec<&str> = full["takeovers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["join", "leave"]);
    assert_eq!(full["takeovers"][1]["reason"], "release");
}

#[tokio::test]
async fn a_plain_user_cannot_join_or_watch_anothers_session() {
    let s = serve(EdgeConfig::default()).await;
    let (mut owner, sid) = chat_once(&s, "alice").await;
    let mallory = token("mallory", &[]);
    for query in [
        format!("/ws?session_id={sid}"),
        format!("/ws?session_id={sid}&mode=watch"),
    ] {
        let mut c = ws(&s, &query, &mallory).await;
        let status = json(&mut c).await;
        assert_ne!(status["session_id"], sid, "a fresh session of their own");
        send(&mut c, json!({"type": "admin_join"})).await;
        assert_eq!(json(&mut c).await["error"]["code"], "FORBIDDEN");
    }
    send(&mut owner, json!({"type": "ping"})).await;
    assert_eq!(
        json(&mut owner).await["type"],
        "pong",
        "the owner heard nothing"
    );
}

#[tokio::test]
async fn the_admin_api_is_rate_limited_per_admin() {
    let s = serve(EdgeConfig {
        admin_rate_limit: 2,
        ..Default::default()
    })
    .await;
    let ada = token("ada", &["admin"]);
    let bob = token("bob", &["admin"]);
    assert_eq!(api(&s, "GET", "/admin/metrics", &ada).await.0, 200);
    assert_eq!(api(&s, "GET", "/admin/metrics", &ada).await.0, 200);
    let (code, body) = api(&s, "GET", "/admin/metrics", &ada).await;
    assert_eq!((code, &body["code"]), (429, &json!("RATE_LIMITED")));
    assert_eq!(
        api(&s, "GET", "/admin/metrics", &bob).await.0,
        200,
        "per admin"
    );
}

#[tokio::test]
async fn admins_follow_session_events_live_over_their_websocket() {
    let s = serve(EdgeConfig::default()).await;
    let ada = token("ada", &["admin"]);
    let user = token("alice", &[]);
    assert_eq!(
        upgrade(
            &s,
            "/ws?mode=events",
            &[("Authorization", &format!("Bearer {user}"))]
        )
        .await,
        403,
        "users get no event feed"
    );
    let mut feed = ws(&s, "/ws?mode=events", &ada).await;
    let hello = json(&mut feed).await;
    assert_eq!(
        (hello["type"].as_str(), hello["metadata"]["feed"].as_str()),
        (Some("notification"), Some("events"))
    );

    let mut c = ws(&s, "/ws", &user).await;
    let sid = json(&mut c).await["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &mut c,
        json!({"type": "help_request", "content": "a human please"}),
    )
    .await;
    api(&s, "POST", &format!("/admin/takeover/{sid}"), &ada).await;
    api(&s, "POST", &format!("/admin/release/{sid}"), &ada).await;
    api(&s, "POST", &format!("/sessions/{sid}/end"), &user).await;

    let mut seen = Vec::new();
    for _ in 0..5 {
        let ev = json(&mut feed).await;
        assert_eq!(ev["type"], "session_event");
        assert_eq!(
            (ev["session_id"].as_str(), ev["user_id"].as_str()),
            (Some(sid.as_str()), Some("alice"))
        );
        assert!(ev["seq"].is_null());
        seen.push(ev["metadata"]["event"].as_str().unwrap().to_owned());
        if ev["metadata"]["event"] == "takeover" {
            assert_eq!(ev["metadata"]["admin_id"], "ada");
        }
    }
    assert_eq!(
        seen,
        ["created", "help_requested", "takeover", "release", "ended"]
    );
}

#[tokio::test]
async fn a_user_id_with_a_slash_is_data() {
    let s = serve(EdgeConfig::default()).await;
    let (_c, sid) = chat_once(&s, "team/ann").await;
    let (code, mine) = api(&s, "GET", "/sessions", &token("team/ann", &[])).await;
    assert_eq!((code, &mine["user_id"]), (200, &json!("team/ann")));
    let admin = token("adm", &["admin"]);
    let (code, page) = api(&s, "GET", "/admin/users/team%2Fann/sessions", &admin).await;
    assert_eq!(code, 200, "{page}");
    assert_eq!(page["sessions"][0]["session_id"], sid);
}

#[tokio::test]
async fn switched_off_features_answer_feature_disabled_and_are_not_offered() {
    let engine = EngineConfig {
        takeover_enabled: false,
        help_enabled: false,
        ..EngineConfig::default()
    };
    let s = serve_engine(EdgeConfig::default(), engine).await;
    let (mut c, sid) = chat_once(&s, "u1").await;
    send(&mut c, json!({"type": "help_request"})).await;
    let refused = json(&mut c).await;
    assert_eq!(refused["error"]["code"], "FEATURE_DISABLED", "{refused}");
    let admin = token("boss", &["admin"]);
    let (code, body) = api(&s, "POST", &format!("/admin/takeover/{sid}"), &admin).await;
    assert_eq!(
        (code, &body["code"]),
        (403, &json!("FEATURE_DISABLED")),
        "{body}"
    );
    let mut again = ws(&s, &format!("/ws?session_id={sid}"), &token("u1", &[])).await;
    let status = json(&mut again).await;
    assert_eq!(status["metadata"]["features"], "uploads,voice", "{status}");
}

#[tokio::test]
async fn a_connection_opened_while_an_admin_assists_is_told_who_assists() {
    let s = serve(EdgeConfig::default()).await;
    let (_c, sid) = chat_once(&s, "u1").await;
    let admin = token("ada", &["admin"]);
    let (code, body) = api(&s, "POST", &format!("/admin/takeover/{sid}"), &admin).await;
    assert_eq!(code, 200, "{body}");
    let mut again = ws(&s, &format!("/ws?session_id={sid}"), &token("u1", &[])).await;
    let status = json(&mut again).await;
    assert_eq!(status["metadata"]["admin_id"], "ada", "{status}");
    assert!(status["metadata"]["admin_name"].is_string(), "{status}");
    let (code, _) = api(&s, "POST", &format!("/admin/release/{sid}"), &admin).await;
    assert_eq!(code, 200);
    let mut later = ws(&s, &format!("/ws?session_id={sid}"), &token("u1", &[])).await;
    let status = json(&mut later).await;
    assert!(status["metadata"].get("admin_id").is_none(), "{status}");
}
