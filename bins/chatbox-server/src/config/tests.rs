//! Configuration loading: defaults, env over file, dev mode, and every bad key at once.

use std::path::PathBuf;

use super::*;
use crate::env::MapEnv;

const GOOD_SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1Zo";

fn write_config(name: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("chatbox-config-{}-{name}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn provider_env(n: usize) -> Vec<(String, String)> {
    vec![
        (format!("LLM_PROVIDER_{n}_ID"), format!("p{n}")),
        (format!("LLM_PROVIDER_{n}_TYPE"), "openai".into()),
        (
            format!("LLM_PROVIDER_{n}_ENDPOINT"),
            "https://api.example.com/v1".into(),
        ),
        (format!("LLM_PROVIDER_{n}_API_KEY"), "sk-x".into()),
        (format!("LLM_PROVIDER_{n}_MODEL"), "gpt-4o".into()),
    ]
}

fn env_of(pairs: Vec<(String, String)>) -> MapEnv {
    MapEnv(pairs.into_iter().collect())
}

#[test]
fn no_config_at_all_is_dev_mode_with_an_embedded_store() {
    let s = load(&Args::default(), &MapEnv::default()).unwrap();
    assert!(s.dev);
    assert!(s.generated_secret);
    assert!(s.edge.jwt_secret.len() >= 32);
    assert_eq!(
        s.store,
        StoreSettings::Sqlite {
            data_dir: PathBuf::from("./chatbox-data")
        }
    );
    assert_eq!(s.path_prefix, "/chatbox");
    assert_eq!(s.port, 8080);
    assert!(
        s.providers.is_empty(),
        "dev mode adds the demo provider later"
    );
}

#[test]
fn production_env_resolves_every_setting() {
    let mut pairs = vec![
        ("JWT_SECRET".to_owned(), GOOD_SECRET.to_owned()),
        ("SERVER_PORT".into(), "9090".into()),
        ("CHATBOX_PATH_PREFIX".into(), "/support".into()),
        (
            "ENCRYPTION_KEY".into(),
            "0123456789abcdef0123456789abcdef".into(),
        ),
        ("MONGO_URI".into(), "mongodb://db:27017".into()),
        ("RATE_LIMIT".into(), "20".into()),
        ("RECONNECT_TIMEOUT".into(), "5m".into()),
        ("LLM_STREAM_TIMEOUT".into(), "2m0s".into()),
        ("SHUTDOWN_TIMEOUT".into(), "10s".into()),
        (
            "WS_ALLOWED_ORIGINS".into(),
            "https://a.example, https://b.example".into(),
        ),
        ("ADMIN_PANEL_URL".into(), "https://admin.example".into()),
    ];
    pairs.extend(provider_env(1));
    pairs.extend(provider_env(3));
    let s = load(&Args::default(), &env_of(pairs)).unwrap();
    assert!(!s.dev, "a JWT secret in the environment means production");
    assert_eq!(s.port, 9090);
    assert_eq!(s.path_prefix, "/support");
    assert_eq!(s.engine.messages_per_minute, 20);
    assert_eq!(s.engine.idle_evict_secs, 300);
    assert_eq!(s.engine.reply_timeout_secs, 120);
    assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(
        s.edge.allowed_origins,
        ["https://a.example", "https://b.example"]
    );
    let ids: Vec<&str> = s.providers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p1", "p3"], "gaps are allowed, order kept");
    let StoreSettings::Mongo(m) = &s.store else {
        panic!("MONGO_URI selects MongoDB")
    };
    assert_eq!(
        (m.database.as_str(), m.collection.as_str()),
        ("chat", "sessions")
    );
    assert_eq!(s.encryption_key.as_deref().map(str::len), Some(32));
}

#[test]
fn every_bad_key_is_reported_at_once_with_secrets_masked() {
    let mut pairs = vec![
        ("JWT_SECRET".to_owned(), "my-test-secret".to_owned()),
        ("SERVER_PORT".into(), "http".into()),
        ("CHATBOX_PATH_PREFIX".into(), "chatbox/".into()),
        ("ENCRYPTION_KEY".into(), "too-short".into()),
        ("RATE_LIMIT".into(), "0".into()),
        ("LLM_STREAM_TIMEOUT".into(), "soon".into()),
    ];
    pairs.extend(provider_env(1));
    pairs.push(("LLM_PROVIDER_1_TYPE".into(), "gemini".into()));
    pairs.retain(|(k, v)| !(k == "LLM_PROVIDER_1_TYPE" && v == "openai"));
    let err = load(&Args::default(), &env_of(pairs)).unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    for key in [
        "JWT_SECRET",
        "SERVER_PORT",
        "CHATBOX_PATH_PREFIX",
        "ENCRYPTION_KEY",
        "RATE_LIMIT",
        "LLM_STREAM_TIMEOUT",
        "LLM_PROVIDER_1_TYPE",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let text = err.to_string();
    assert!(
        !text.contains("my-test-secret"),
        "secrets are masked: {text}"
    );
    assert!(!text.contains("too-short"), "keys are masked: {text}");
    assert!(text.contains("CHATBOX_PATH_PREFIX = chatbox/: must start with '/'"));
}

#[test]
fn production_needs_a_provider_and_a_strong_secret() {
    let path = write_config(
        "empty",
        "[chatbox]\njwt_secret = \"REPLACE_WITH_SOMETHING_LONG_AND_RANDOM_123\"\n",
    );
    let err = load(
        &Args {
            config: Some(path.clone()),
            dev: false,
            ..Args::default()
        },
        &MapEnv::default(),
    )
    .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["chatbox.jwt_secret", "LLM_PROVIDER_1_ID"]);
    assert!(err.0[0].problem.contains("placeholder"));
}

#[test]
fn the_file_is_read_and_the_environment_wins() {
    let path = write_config(
        "full",
        &format!(
            r#"
[server]
port = 7000
[chatbox]
jwt_secret = "{GOOD_SECRET}"
allowed_origins = "https://x.example,https://y.example"
system_prompt = "Be brief."
data_dir = "/var/lib/chatbox"
[[llm.providers]]
id = "claude"
name = "Claude"
type = "anthropic"
endpoint = "https://api.anthropic.com/v1"
api_key = "from-file"
model = "claude-sonnet"
"#
        ),
    );
    let env = MapEnv::from_pairs([
        ("SERVER_PORT", "7100"),
        ("LLM_PROVIDER_1_API_KEY", "from-env"),
    ]);
    let s = load(
        &Args {
            config: Some(path.clone()),
            dev: false,
            ..Args::default()
        },
        &env,
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(s.port, 7100, "env wins");
    assert_eq!(s.edge.allowed_origins.len(), 2);
    assert_eq!(s.engine.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(
        s.store,
        StoreSettings::Sqlite {
            data_dir: PathBuf::from("/var/lib/chatbox")
        }
    );
    assert_eq!(
        s.providers[0].api_key, "from-env",
        "LLM_PROVIDER_1_API_KEY overrides the first file provider"
    );
    assert_eq!(s.providers[0].source, "llm.providers[0]");
}

#[test]
fn unknown_file_keys_and_missing_files_are_errors() {
    let path = write_config("unknown", "[chatbox]\njwt_secrett = \"x\"\n");
    let err = load(
        &Args {
            config: Some(path.clone()),
            dev: true,
            ..Args::default()
        },
        &MapEnv::default(),
    )
    .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.0[0].problem.contains("jwt_secrett"), "{err}");
    let missing = Args {
        config: Some(PathBuf::from("/nonexistent/chatbox.toml")),
        dev: true,
        ..Args::default()
    };
    let err = load(&missing, &MapEnv::default()).unwrap_err();
    assert_eq!(err.0[0].key, "--config");
}

fn prod_with(extra: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let mut pairs = provider_env(1);
    pairs.push(("JWT_SECRET".into(), GOOD_SECRET.into()));
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    load(&Args::default(), &env_of(pairs))
}

#[test]
fn notification_channels_are_resolved_from_the_environment() {
    let s = prod_with(&[
        ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_TLS", "tls"),
        ("SMTP_PORT", "465"),
        ("SMTP_USER", "bot"),
        ("SMTP_PASS", "hunter2-but-longer"),
        ("EMAIL_FROM", "support@example.com"),
        ("ADMIN_EMAILS", "a@example.com, b@example.com"),
        ("SMS_ACCOUNT_SID", "AC123"),
        ("SMS_AUTH_TOKEN", "tok"),
        ("SMS_FROM_NUMBER", "+15550001111"),
        ("ADMIN_PHONES", "+15550002222"),
        ("NOTIFY_WEBHOOK_URL", "https://hooks.example.com/chatbox"),
        ("NOTIFY_WEBHOOK_SECRET", "whsec-0123456789"),
    ])
    .unwrap();
    let smtp = s.notify.smtp.unwrap();
    assert_eq!(
        (smtp.host.as_str(), smtp.port, smtp.tls),
        ("smtp.example.com", 465, chatbox_notify::SmtpTls::Tls)
    );
    assert_eq!(smtp.recipients, ["a@example.com", "b@example.com"]);
    let sms = s.notify.sms.unwrap();
    assert_eq!(sms.api_base, chatbox_notify::sms::DEFAULT_API_BASE);
    assert_eq!(sms.recipients, ["+15550002222"]);
    assert_eq!(
        s.notify.webhook.unwrap().secret.as_deref(),
        Some("whsec-0123456789")
    );
    assert!(s.notify.ses.is_none());
    let none = prod_with(&[]).unwrap();
    assert!(none.notify.is_empty());
}

#[test]
fn a_half_set_channel_is_an_error_naming_what_is_missing() {
    let err = prod_with(&[
        ("SMTP_HOST", "smtp.example.com"),
        ("SMTP_PASS", "a-secret-password"),
        ("SMTP_TLS", "ssl"),
        ("ADMIN_EMAILS", "a@example.com"),
        ("ADMIN_PHONES", "+15550002222"),
    ])
    .unwrap_err();
    let keys: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
    for key in ["EMAIL_FROM", "SMTP_TLS", "ADMIN_PHONES"] {
        assert!(keys.contains(&key), "{key} is named: {err}");
    }
    assert!(
        !err.to_string().contains("a-secret-password"),
        "secrets are masked: {err}"
    );
    let no_channel = prod_with(&[("ADMIN_EMAILS", "a@example.com")]).unwrap_err();
    assert!(
        no_channel.to_string().contains("ADMIN_EMAILS"),
        "{no_channel}"
    );
}

#[test]
fn a_production_setting_without_a_jwt_secret_fails_closed() {
    for (key, value) in [
        ("MONGO_URI", "mongodb://db.internal:27017"),
        ("LLM_PROVIDER_3_ID", "gpt"),
        ("ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef"),
    ] {
        let err = load(&Args::default(), &env_of(vec![(key.into(), value.into())])).unwrap_err();
        let named: Vec<&str> = err.0.iter().map(|e| e.key.as_str()).collect();
        assert!(named.contains(&"JWT_SECRET"), "{key} set: {err}");
    }
    let dev = load(&Args::default(), &MapEnv::default()).unwrap();
    assert!(
        dev.dev && dev.host.is_loopback(),
        "dev mode listens on loopback only"
    );
    let prod = prod_with(&[]).unwrap();
    assert!(
        !prod.dev && prod.host.is_unspecified(),
        "production listens on every interface"
    );
    let pinned = prod_with(&[("SERVER_HOST", "127.0.0.1")]).unwrap();
    assert!(pinned.host.is_loopback());
    assert!(prod_with(&[("SERVER_HOST", "localhost:80")]).is_err());
}

#[test]
fn dev_mode_never_talks_to_an_external_mongodb() {
    let args = Args {
        dev: true,
        ..Args::default()
    };
    let err = load(
        &args,
        &env_of(vec![("MONGO_URI".into(), "mongodb://prod:27017".into())]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("MONGO_URI"), "{err}");
    assert!(
        !err.to_string().contains("prod:27017"),
        "the URI is not echoed: {err}"
    );
}

#[test]
fn trusted_proxies_are_cidrs_or_addresses_and_bad_ones_are_named() {
    let s = prod_with(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7")]).unwrap();
    let nets: Vec<String> = s
        .edge
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(nets, ["10.0.0.0/8", "192.168.1.7/32"]);
    assert!(
        prod_with(&[]).unwrap().edge.trusted_proxies.is_empty(),
        "none trusted by default"
    );
    let err = prod_with(&[("TRUSTED_PROXIES", "10.0.0.0/8, the-ingress")]).unwrap_err();
    assert!(
        err.to_string().contains("TRUSTED_PROXIES") && err.to_string().contains("the-ingress"),
        "{err}"
    );
}
