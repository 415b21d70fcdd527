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

/// The Go service's shipped `config.toml`, secrets from the environment.
fn go_sample(extra: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/go-config.toml"
    ));
    let mut pairs: Vec<(String, String)> = vec![
        ("JWT_SECRET".into(), GOOD_SECRET.into()),
        (
            "ENCRYPTION_KEY".into(),
            "0123456789abcdef0123456789abcdef".into(),
        ),
        ("LLM_PROVIDER_1_API_KEY".into(), "sk-openai".into()),
        ("LLM_PROVIDER_2_API_KEY".into(), "sk-anthropic".into()),
        ("SMTP_PASS".into(), "mail-password".into()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let args = Args {
        config: Some(path),
        ..Args::default()
    };
    load(&args, &env_of(pairs))
}

#[test]
fn the_go_sample_config_loads_with_every_key_mapped_or_warned() {
    let s = go_sample(&[]).unwrap();
    assert!(!s.dev);
    assert_eq!((s.port, s.path_prefix.as_str()), (8080, "/chatbox"));
    assert_eq!(s.engine.messages_per_minute, 100);
    assert_eq!(s.engine.idle_evict_secs, 15 * 60);
    assert_eq!(s.engine.reply_timeout_secs, 120);
    assert_eq!(
        (s.edge.admin_rate_limit, s.edge.admin_rate_window_secs),
        (20, 60)
    );
    assert_eq!(
        (
            s.edge.ping_interval_secs,
            s.edge.pong_timeout_secs,
            s.edge.write_timeout_secs
        ),
        (54, 60, 10)
    );
    assert_eq!(s.edge.max_connections, 10_000);
    assert_eq!(s.edge.max_message_size, 1_048_576);
    assert_eq!(s.edge.cors_allowed_origins, ["https://app.example.com"]);
    assert_eq!(s.edge.allowed_origins.len(), 2);
    assert_eq!(s.edge.trusted_proxies.len(), 3);
    assert_eq!(s.edge.metrics_allowed_networks.len(), 4);
    let StoreSettings::Mongo(m) = &s.store else {
        panic!("dbs.chat.uri selects MongoDB: {:?}", s.store)
    };
    assert_eq!(m.uri, "mongodb://chatbox-mongo:27017/chat");
    assert_eq!(
        (m.database.as_str(), m.collection.as_str()),
        ("chat", "sessions")
    );
    assert_eq!(m.connect_timeout, Duration::from_secs(10));
    assert_eq!(m.slow_threshold, Some(Duration::from_secs(2)));
    let ids: Vec<_> = s
        .providers
        .iter()
        .map(|p| (p.id.as_str(), p.api_key.as_str()))
        .collect();
    assert_eq!(ids, [("gpt-4", "sk-openai"), ("claude", "sk-anthropic")]);
    assert_eq!(s.providers[1].source, "chatbox.llm.providers[1]");
    let smtp = s
        .notify
        .smtp
        .as_ref()
        .expect("[[mail.engines.smtp]] configures SMTP");
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.com", 587));
    assert_eq!(smtp.password.as_deref(), Some("mail-password"));
    assert_eq!(smtp.from_name.as_deref(), Some("Chatbox Support"));
    assert_eq!(smtp.recipients, ["admin@example.com", "oncall@example.com"]);
    assert!(s.notify.sms.is_none(), "empty [sms] keys leave SMS off");
    assert_eq!(
        s.admin_panel_url.as_deref(),
        Some("https://admin.example.com/chatbox/admin.html")
    );
    assert_eq!(s.uploads.max_size, 100 << 20);
    let BlobSettings::S3(s3) = &s.uploads.blobs else {
        panic!("[userupload] storage selects S3: {:?}", s.uploads.blobs)
    };
    assert_eq!(
        (s3.bucket.as_str(), s3.region.as_str()),
        ("chat-files", "us-east-1")
    );
    assert!(!s3.path_style, "AWS itself is addressed virtual-host style");
    assert_eq!((s.log.level.as_str(), s.log.json), ("info", false));

    let warned: Vec<&str> = s
        .warnings
        .iter()
        .map(|w| w.split(" is not used").next().unwrap_or_default())
        .collect();
    assert_eq!(
        warned,
        [
            "chatbox.websocket.read_buffer_size",
            "chatbox.websocket.write_buffer_size",
            "log.dir",
            "log.standardOutput",
            "dbs.verbose",
            "userupload.site",
            "userupload.types[0].entryName",
            "userupload.types[0].prefix",
            "userupload.types[0].tmpPath",
            "mail.engines.mock",
            "kubernetes",
            "mail.engines.smtp[].name",
        ],
        "one warning per unused key: {:#?}",
        s.warnings
    );
    assert!(s.warnings.iter().all(|w| w.contains(": ")), "each says why");
}

#[test]
fn a_typo_in_a_go_section_is_still_an_error() {
    let path = write_config(
        "go-typo",
        "[dbs.chat]\nuri = \"mongodb://db/chat\"\nconectTimeout = 10\n",
    );
    let args = Args {
        config: Some(path),
        ..Args::default()
    };
    let errs = load(&args, &env_of(vec![])).unwrap_err();
    let text = errs.to_string();
    assert!(text.contains("conectTimeout"), "{text}");
}

#[test]
fn the_go_configmap_keys_are_honoured_or_warned() {
    let s = prod_with(&[
        ("WS_PING_PERIOD", "20s"),
        ("WS_PONG_WAIT", "45s"),
        ("WS_WRITE_WAIT", "7s"),
        ("MAX_CONNECTIONS", "500"),
        ("CORS_ALLOWED_ORIGINS", "https://host.example"),
        ("MONGO_SLOW_THRESHOLD", "250ms"),
        ("LOG_LEVEL", "debug"),
        ("LOG_FORMAT", "json"),
        ("UPLOAD_MAX_SIZE", "10MB"),
        ("LOG_DIR", "/app/logs"),
        ("WS_READ_BUFFER_SIZE", "1024"),
        ("K8S_NAMESPACE", "default"),
    ])
    .unwrap();
    assert_eq!(
        (
            s.edge.ping_interval_secs,
            s.edge.pong_timeout_secs,
            s.edge.write_timeout_secs
        ),
        (20, 45, 7)
    );
    assert_eq!(s.edge.max_connections, 500);
    assert_eq!(s.edge.cors_allowed_origins, ["https://host.example"]);
    assert_eq!((s.log.level.as_str(), s.log.json), ("debug", true));
    assert_eq!(s.uploads.max_size, 10 << 20);
    assert_eq!(
        s.uploads.blobs,
        BlobSettings::Local(PathBuf::from("./chatbox-data/files"))
    );
    for key in ["LOG_DIR", "WS_READ_BUFFER_SIZE", "K8S_NAMESPACE"] {
        assert!(
            s.warnings
                .iter()
                .any(|w| w.starts_with(&format!("{key} is not used: "))),
            "{key}: {:?}",
            s.warnings
        );
    }
    let errs = prod_with(&[("WS_PING_PERIOD", "60s"), ("WS_PONG_WAIT", "30s")]).unwrap_err();
    assert!(errs.to_string().contains("WS_PONG_WAIT"), "{errs}");
    let errs = prod_with(&[("S3_BUCKET", "b"), ("S3_ACCESS_KEY_ID", "AKIA")]).unwrap_err();
    assert!(errs.to_string().contains("S3_SECRET_ACCESS_KEY"), "{errs}");
}

#[test]
fn both_provider_lists_at_once_are_ambiguous() {
    let path = write_config(
        "two-lists",
        "[[llm.providers]]\nid=\"a\"\ntype=\"openai\"\nendpoint=\"https://x/v1\"\nmodel=\"m\"\n\
         [[chatbox.llm.providers]]\nid=\"b\"\ntype=\"openai\"\nendpoint=\"https://x/v1\"\nmodel=\"m\"\n",
    );
    let args = Args {
        config: Some(path),
        ..Args::default()
    };
    let env = env_of(vec![("JWT_SECRET".into(), GOOD_SECRET.into())]);
    let errs = load(&args, &env).unwrap_err();
    assert!(errs.to_string().contains("chatbox.llm.providers"), "{errs}");
}

#[test]
fn feature_switches_reach_the_engine_and_bad_values_are_named() {
    let s = prod_with(&[
        ("ENABLE_ADMIN_TAKEOVER", "false"),
        ("ENABLE_HELP_REQUESTS", "0"),
        ("ENABLE_METRICS", "off"),
    ])
    .unwrap();
    assert!(!s.engine.takeover_enabled && !s.engine.help_enabled);
    assert!(!s.features.metrics);
    assert!(s.engine.uploads_enabled && s.engine.voice_enabled);
    let errs = prod_with(&[("ENABLE_FILE_UPLOADS", "maybe")]).unwrap_err();
    assert!(errs.to_string().contains("ENABLE_FILE_UPLOADS"), "{errs}");
}

/// Every key of the Go deployment's ConfigMap, Secret and documentation (reference §5): each is
/// read into a setting or, set alone, warned about with the reason — none is silently ignored.
#[test]
fn every_key_of_the_go_configmap_and_secret_is_honoured_or_warned_about() {
    const GO_KEYS: &[&str] = &[
        "SERVER_PORT",
        "RECONNECT_TIMEOUT",
        "MAX_CONNECTIONS",
        "RATE_LIMIT",
        "LLM_STREAM_TIMEOUT",
        "ADMIN_RATE_LIMIT",
        "ADMIN_RATE_WINDOW",
        "MONGO_URI",
        "MONGO_DATABASE",
        "MONGO_COLLECTION",
        "MONGO_CONNECT_TIMEOUT",
        "MONGO_RETRY_ATTEMPTS",
        "MONGO_RETRY_DELAY",
        "MONGO_RETRY_MAX_DELAY",
        "S3_ENDPOINT",
        "S3_REGION",
        "S3_BUCKET",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "S3_USE_PATH_STYLE",
        "ADMIN_EMAILS",
        "ADMIN_PHONES",
        "EMAIL_FROM",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "SMS_PROVIDER",
        "SMS_API_KEY",
        "LLM_PROVIDER_1_ID",
        "LLM_PROVIDER_2_NAME",
        "LLM_PROVIDER_3_TYPE",
        "LLM_PROVIDER_4_ENDPOINT",
        "LLM_PROVIDER_5_API_KEY",
        "LLM_PROVIDER_10_MODEL",
        "K8S_NAMESPACE",
        "K8S_SERVICE_NAME",
        "K8S_CONFIGMAP_NAME",
        "K8S_SECRET_NAME",
        "K8S_ENABLE_PROBE",
        "SESSION_CLEANUP_INTERVAL",
        "SESSION_TTL",
        "RATE_LIMIT_CLEANUP_INTERVAL",
        "SHUTDOWN_TIMEOUT",
        "WS_READ_BUFFER_SIZE",
        "WS_WRITE_BUFFER_SIZE",
        "WS_PONG_WAIT",
        "WS_PING_PERIOD",
        "WS_WRITE_WAIT",
        "CORS_ALLOWED_ORIGINS",
        "WS_ALLOWED_ORIGINS",
        "MONGO_VERBOSE",
        "MONGO_SLOW_THRESHOLD",
        "UPLOAD_SITE",
        "UPLOAD_ENTRY_NAME",
        "UPLOAD_PREFIX",
        "UPLOAD_TMP_PATH",
        "UPLOAD_MAX_SIZE",
        "EMAIL_FROM_NAME",
        "EMAIL_REPLY_TO",
        "SMS_FROM_NUMBER",
        "LOG_DIR",
        "LOG_LEVEL",
        "LOG_STANDARD_OUTPUT",
        "LOG_INFO_FILE",
        "LOG_WARN_FILE",
        "LOG_ERROR_FILE",
        "ENABLE_VOICE_MESSAGES",
        "ENABLE_FILE_UPLOADS",
        "ENABLE_ADMIN_TAKEOVER",
        "ENABLE_HELP_REQUESTS",
        "ENABLE_METRICS",
        "JWT_SECRET",
        "ENCRYPTION_KEY",
        "SMS_ACCOUNT_SID",
        "SMS_AUTH_TOKEN",
        "SES_ACCESS_KEY_ID",
        "SES_SECRET_ACCESS_KEY",
        "SES_REGION",
        "MONGO_USERNAME",
        "MONGO_PASSWORD",
        "ADMIN_API_KEY",
        "ADMIN_PANEL_URL",
    ];
    let honoured = |key: &str| {
        SETTINGS.iter().any(|s| s.env == key)
            || (key.starts_with("LLM_PROVIDER_")
                && SETTINGS
                    .iter()
                    .any(|s| s.env.starts_with("LLM_PROVIDER_<N>_")))
    };
    let mut silent = Vec::new();
    for key in GO_KEYS {
        if honoured(key) {
            continue;
        }
        let s = prod_with(&[(key, "1")]).unwrap_or_else(|e| panic!("{key}: {e}"));
        if !s
            .warnings
            .iter()
            .any(|w| w.starts_with(&format!("{key} is not used: ")))
        {
            silent.push(*key);
        }
    }
    assert!(silent.is_empty(), "silently ignored: {silent:?}");
}
