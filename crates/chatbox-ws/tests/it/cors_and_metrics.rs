//! CORS for host pages on other origins, and the metrics endpoint's allow-list.

use std::sync::Arc;

use chatbox_ws::EdgeConfig;

use crate::client::*;

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_listed_origin_gets_cors_grants_and_others_get_none() {
    let s = serve(EdgeConfig {
        cors_allowed_origins: vec!["https://host.example".into()],
        ..EdgeConfig::default()
    })
    .await;
    let (code, headers, _) = request(
        &s,
        "OPTIONS",
        "/sessions",
        &[
            ("Origin", "https://host.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
        b"",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("https://host.example")
    );
    assert!(header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("DELETE")));
    assert_eq!(header(&headers, "access-control-max-age"), Some("43200"));
    let t = token("ann", &[]);
    let auth = format!("Bearer {t}");
    let (code, headers, _) = request(
        &s,
        "GET",
        "/sessions",
        &[("Origin", "https://host.example"), ("Authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        Some("true")
    );
    let (_, headers, _) = request(
        &s,
        "GET",
        "/healthz",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert!(header(&headers, "access-control-allow-origin").is_none());

    let plain = serve(EdgeConfig::default()).await;
    let (_, headers, _) = request(
        &plain,
        "GET",
        "/healthz",
        &[("Origin", "https://host.example")],
        b"",
    )
    .await;
    assert!(
        header(&headers, "access-control-allow-origin").is_none(),
        "no list, no CORS"
    );
}

#[tokio::test]
async fn metrics_are_served_to_allowed_networks_only() {
    let render: chatbox_ws::metrics::MetricsRender =
        Arc::new(|| "chatbox_test_metric 1\n".to_owned());
    let s = serve_hooked(EdgeConfig::default(), |e| e.with_metrics(render)).await;
    let (code, headers, body) = request(&s, "GET", "/metrics/prometheus", &[], b"").await;
    assert_eq!(code, 200);
    assert_eq!(body, b"chatbox_test_metric 1\n");
    assert!(header(&headers, "content-type").is_some_and(|t| t.starts_with("text/plain")));

    let render: chatbox_ws::metrics::MetricsRender = Arc::new(String::new);
    let elsewhere = serve_hooked(
        EdgeConfig {
            metrics_allowed_networks: vec!["10.0.0.0/8".parse().unwrap()],
            ..EdgeConfig::default()
        },
        |e| e.with_metrics(render),
    )
    .await;
    let (code, _, _) = request(&elsewhere, "GET", "/metrics/prometheus", &[], b"").await;
    assert_eq!(code, 403, "loopback is outside 10.0.0.0/8");

    let off = serve(EdgeConfig::default()).await;
    let (code, _, _) = request(&off, "GET", "/metrics/prometheus", &[], b"").await;
    assert_eq!(code, 404, "no recorder: metrics are off");
}
