//! Tests of provider config validation: endpoint rules, every problem reported at once, and a
//! redacted `Debug`.

use expect_test::expect;

use super::*;

fn valid() -> ProviderConfig {
    ProviderConfig {
        id: "gpt".into(),
        name: "GPT".into(),
        kind: ProviderKind::Openai,
        endpoint: "https://api.openai.com/v1".into(),
        api_key: "sk-secret".into(),
        model: "gpt-4o-mini".into(),
        ..ProviderConfig::default()
    }
}

#[test]
fn a_valid_config_yields_its_endpoint() {
    let url = valid().validate().unwrap();
    assert_eq!(url.as_str(), "https://api.openai.com/v1");
}

#[test]
fn http_is_allowed_only_for_internal_hosts() {
    for ok in [
        "http://127.0.0.1:11434/v1",
        "http://localhost:8000",
        "http://[::1]:80",
        "http://10.1.2.3",
        "http://192.168.0.5/v1",
        "http://172.20.0.1",
        "http://dify",
        "http://dify-api.ai.svc.cluster.local/v1",
        "http://ollama.internal:11434",
        "http://box.local",
    ] {
        let cfg = ProviderConfig {
            endpoint: ok.into(),
            ..valid()
        };
        assert!(cfg.validate().is_ok(), "{ok} should be accepted");
    }
    for bad in [
        "http://api.openai.com/v1",
        "http://8.8.8.8",
        "http://172.32.0.1",
        "ftp://10.0.0.1",
        "not a url",
    ] {
        let cfg = ProviderConfig {
            endpoint: bad.into(),
            ..valid()
        };
        assert!(cfg.validate().is_err(), "{bad} should be refused");
    }
}

#[test]
fn every_problem_is_reported_naming_its_field() {
    let cfg = ProviderConfig {
        id: "claude".into(),
        kind: ProviderKind::Anthropic,
        endpoint: "http://api.anthropic.com".into(),
        api_key: String::new(),
        model: String::new(),
        transcription_model: Some("whisper-1".into()),
        timeouts: TimeoutConfig {
            idle_ms: 0,
            ..TimeoutConfig::default()
        },
        ..ProviderConfig::default()
    };
    let err = cfg.validate().unwrap_err();
    expect![[r#"invalid LLM provider "claude": name must not be empty; api_key must not be empty; model must not be empty; transcription_model only supported for kind openai; timeouts.idle_ms must be greater than 0; endpoint must use https (http is allowed only for loopback, private and in-cluster hosts)"#]]
        .assert_eq(&err.to_string());
}

#[test]
fn debug_output_redacts_the_key() {
    let text = format!("{:?}", valid());
    assert!(!text.contains("sk-secret"));
    assert!(text.contains("<redacted>"));
}

#[test]
fn deserializes_with_defaults_and_rejects_unknown_fields() {
    let cfg: ProviderConfig = serde_json::from_str(
        r#"{"id":"d","name":"Dify","kind":"dify","endpoint":"https://dify.example/v1","api_key":"k","history":{"max_turns":4}}"#,
    )
    .unwrap();
    assert_eq!(cfg.kind, ProviderKind::Dify);
    assert_eq!(cfg.history.max_turns, 4);
    assert_eq!(cfg.history.max_chars, DEFAULT_MAX_CHARS);
    assert_eq!(cfg.timeouts, TimeoutConfig::default());
    let unknown = serde_json::from_str::<ProviderConfig>(r#"{"id":"d","apiKey":"k"}"#);
    assert!(unknown.is_err());
}

#[test]
fn vision_is_off_by_default_and_refused_for_dify() {
    assert!(!ProviderConfig::default().vision);
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
        let cfg = ProviderConfig {
            kind,
            vision: true,
            ..valid()
        };
        assert!(cfg.validate().is_ok(), "{kind:?}");
    }
    let dify = ProviderConfig {
        kind: ProviderKind::Dify,
        vision: true,
        ..valid()
    };
    expect![[r#"invalid LLM provider "gpt": vision not supported for kind dify"#]]
        .assert_eq(&dify.validate().unwrap_err().to_string());
    let cfg: ProviderConfig = serde_json::from_str(
        r#"{"id":"g","name":"G","endpoint":"https://api.openai.com/v1","model":"m","vision":true}"#,
    )
    .unwrap();
    assert!(cfg.vision);
}
