//! The reference against the code: the variables the resolvers read, the keys the file structs
//! accept, the defaults they produce, the secret rules, and the committed document.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chatbox_notify::SmtpTls;
use chatbox_session::EngineConfig;
use chatbox_ws::EdgeConfig;
use serde::Deserialize;

use super::super::file::FileConfig;
use super::super::{
    Args, BlobSettings, DEFAULT_DATA_DIR, DEFAULT_PATH_PREFIX, DEFAULT_PORT,
    DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_UPLOAD_MAX_SIZE, MAX_ENV_PROVIDERS, StoreSettings, load,
    parse_size, production_env,
};
use super::*;
use crate::duration::parse_duration;
use crate::env::MapEnv;

mod walk;

/// String literals of the resolvers that look like variable names but are none, with the reason.
const NOT_ENV: &[(&str, &str)] = &[
    ("HS256", "a JWT algorithm"),
    ("HS384", "a JWT algorithm"),
    ("HS512", "a JWT algorithm"),
    ("KIB", "a size suffix"),
    ("MIB", "a size suffix"),
    ("GIB", "a size suffix"),
    (
        "HOSTNAME",
        "set by the platform (a pod's name): the default replica name",
    ),
    (
        "LLM_",
        "the prefix by which providers.rs tells an environment source from a file one",
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `config.rs` and every file of `config/` but the tests and this reference, with their names.
fn config_sources() -> Vec<(String, String)> {
    let mut out = vec![("config.rs".to_owned(), read(&src().join("config.rs")))];
    let dir = src().join("config");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("src/config is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map_or(String::new(), |n| format!("config/{}", n.to_string_lossy()));
        if !matches!(name.as_str(), "config/tests.rs" | "config/reference.rs") {
            out.push((name, read(&path)));
        }
    }
    assert!(out.len() > 5, "the resolvers were found: {out:?}");
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn all_sources() -> String {
    config_sources().into_iter().map(|(_, text)| text).collect()
}

/// Every string literal of the form `"[A-Z][A-Z0-9_]{2,}"`.
fn env_like_literals(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices('"') {
        let rest = &text[i + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        let word = &rest[..end];
        if word.len() >= 3
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && rest[end..].starts_with('"')
        {
            out.insert(word.to_owned());
        }
    }
    out
}

/// `PREFIX<N>_{A,B}` as (`PREFIX`, [`A`, `B`]), `PREFIX<N>_A` as (`PREFIX`, [`A`]).
fn family(env: &str) -> Option<(&str, Vec<&str>)> {
    let (prefix, rest) = env.split_once("<N>_")?;
    let fields = match rest.strip_prefix('{') {
        Some(list) => list.strip_suffix('}')?.split(',').collect(),
        None => vec![rest],
    };
    Some((prefix, fields))
}

/// True when `word` is a field of a family or one of its members (`LLM_PROVIDER_3_MODEL`).
fn in_a_family(word: &str) -> bool {
    SETTINGS
        .iter()
        .filter_map(|s| family(s.env))
        .any(|(prefix, fields)| {
            fields.contains(&word)
                || word.strip_prefix(prefix).is_some_and(|rest| {
                    rest.split_once('_').is_some_and(|(n, field)| {
                        !n.is_empty()
                            && n.chars().all(|c| c.is_ascii_digit())
                            && fields.contains(&field)
                    })
                })
        })
}

/// `a.{b,c}.d` as `a.b.d` and `a.c.d`.
fn expand(key: &str) -> Vec<String> {
    match (key.find('{'), key.find('}')) {
        (Some(open), Some(close)) if open < close => key[open + 1..close]
            .split(',')
            .map(|part| format!("{}{part}{}", &key[..open], &key[close + 1..]))
            .collect(),
        _ => vec![key.to_owned()],
    }
}

/// The key without array markers: `userupload.types[0].maxSize` as `userupload.types.maxSize`.
fn without_indexes(key: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in key.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn every_variable_the_resolvers_read_is_listed() {
    let listed: BTreeSet<&str> = SETTINGS
        .iter()
        .map(|s| s.env)
        .chain(UNUSED_ENV.iter().map(|(k, _)| *k))
        .collect();
    let mut missing = Vec::new();
    let mut seen = BTreeSet::new();
    for (file, text) in config_sources() {
        for word in env_like_literals(&text) {
            seen.insert(word.clone());
            let known = listed.contains(word.as_str())
                || in_a_family(&word)
                || NOT_ENV.iter().any(|(w, _)| *w == word);
            if !known {
                missing.push(format!("{word} ({file})"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "read by the resolvers but missing from reference::SETTINGS (or go_keys::UNUSED_ENV, or \
         NOT_ENV with a reason): {missing:?}"
    );
    let stale: Vec<_> = NOT_ENV.iter().filter(|(w, _)| !seen.contains(*w)).collect();
    assert!(
        stale.is_empty(),
        "NOT_ENV names literals no resolver has: {stale:?}"
    );
}

#[test]
fn every_listed_variable_is_read() {
    let sources = all_sources();
    let mut invented = Vec::new();
    for s in SETTINGS.iter().filter(|s| !s.env.is_empty()) {
        let read = if s.env == "RUST_LOG" {
            // tracing-subscriber reads it: main.rs asks for the default variable.
            tracing_subscriber::EnvFilter::DEFAULT_ENV == s.env
                && read(&src().join("main.rs")).contains("EnvFilter::try_from_default_env")
        } else if let Some((prefix, fields)) = family(s.env) {
            sources.contains(&format!("\"{prefix}{{n}}"))
                && fields.iter().all(|f| sources.contains(&format!("\"{f}\"")))
        } else {
            sources.contains(&format!("\"{}\"", s.env))
        };
        if !read {
            invented.push(s.env);
        }
    }
    assert!(
        invented.is_empty(),
        "listed in reference::SETTINGS but read by no resolver: {invented:?}"
    );
    let unused: Vec<_> = SETTINGS
        .iter()
        .filter(|s| UNUSED_ENV.iter().any(|(k, _)| *k == s.env))
        .map(|s| s.env)
        .collect();
    assert!(unused.is_empty(), "both a setting and unused: {unused:?}");
}

#[test]
fn every_setting_is_listed_once_under_a_group() {
    let mut keys = BTreeSet::new();
    for s in SETTINGS {
        assert!(
            GROUPS.iter().any(|g| g.name == s.group),
            "{s:?} has no group"
        );
        assert!(
            !(s.env.is_empty() && s.file.is_empty() && s.go_file.is_empty()),
            "{s:?} names no key"
        );
        assert!(!s.unit.is_empty() && !s.about.is_empty(), "{s:?}");
        let key = if s.env.is_empty() { s.file } else { s.env };
        assert!(keys.insert(key), "{key} is listed twice");
    }
    for g in GROUPS {
        assert!(
            SETTINGS.iter().any(|s| s.group == g.name),
            "group {} is empty",
            g.name
        );
    }
    let providers = setting("LLM_PROVIDER_<N>_{ID,NAME,TYPE,ENDPOINT,API_KEY,MODEL}");
    assert!(
        providers
            .about
            .contains(&format!("from 1 to {MAX_ENV_PROVIDERS}")),
        "{}",
        providers.about
    );
}

#[test]
fn every_key_the_file_accepts_is_listed() {
    let accepted = file_keys();
    let mut listed = BTreeSet::new();
    for s in SETTINGS {
        for key in std::iter::once(&s.file)
            .chain(s.go_file)
            .filter(|k| !k.is_empty())
        {
            listed.extend(expand(key).iter().map(|k| without_indexes(k)));
        }
    }
    for (key, _) in GO_FILE_READ {
        listed.insert(without_indexes(key));
    }
    let sources = all_sources();
    for (key, why) in GO_FILE_UNUSED {
        assert!(
            sources.contains(&format!("\"{key}\"")),
            "{key}: no startup warning names it"
        );
        assert!(
            sources.contains(&format!("{why:?}")) || UNUSED_ENV.iter().any(|(_, w)| w == why),
            "{key}: the warning does not give the reason {why:?}"
        );
        if !key.ends_with("[1..]") {
            listed.insert(without_indexes(key));
        }
    }
    let missing: Vec<_> = accepted.difference(&listed).collect();
    let invented: Vec<_> = listed.difference(&accepted).collect();
    assert!(
        missing.is_empty() && invented.is_empty(),
        "accepted by the file but not in the reference: {missing:?}; \
         in the reference but refused by the file: {invented:?}"
    );
    // The warnings for extra array entries are no keys of their own: each is listed.
    for (i, _) in sources.match_indices("[1..]\"") {
        let start = sources[..i].rfind('"').map_or(0, |q| q + 1);
        let key = &sources[start..i + 5];
        assert!(
            GO_FILE_UNUSED.iter().any(|(k, _)| *k == key),
            "{key} is warned about but not listed in GO_FILE_UNUSED"
        );
    }
}

#[test]
fn defaults_are_the_ones_the_code_uses() {
    let path = std::env::temp_dir().join(format!(
        "chatbox-reference-{}-empty.toml",
        std::process::id()
    ));
    std::fs::write(&path, "").expect("a temporary file");
    let with_file = |dev: bool| Args {
        config: Some(path.clone()),
        dev,
        ..Args::default()
    };
    let prod = load(
        &with_file(false),
        &MapEnv::from_pairs([
            ("JWT_SECRET", "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1Zo"),
            ("LLM_PROVIDER_1_ID", "p1"),
            ("LLM_PROVIDER_1_TYPE", "openai"),
            ("LLM_PROVIDER_1_ENDPOINT", "https://api.example.com/v1"),
            ("LLM_PROVIDER_1_API_KEY", "sk-x"),
            ("LLM_PROVIDER_1_MODEL", "gpt-4o"),
            ("MONGO_URI", "mongodb://localhost:27017"),
            ("S3_ENDPOINT", "http://minio:9000"),
            ("SMTP_HOST", "smtp.example.com"),
            ("EMAIL_FROM", "chatbox@example.com"),
            ("ADMIN_EMAILS", "staff@example.com"),
            ("SMS_ACCOUNT_SID", "AC1"),
            ("SMS_AUTH_TOKEN", "token"),
            ("SMS_FROM_NUMBER", "+15550100"),
            ("ADMIN_PHONES", "+15550101"),
            ("NATS_URL", "nats://nats:4222"),
        ]),
    )
    .expect("a minimal production configuration loads");
    let dev = load(&with_file(true), &MapEnv::default()).expect("dev mode loads");
    let _ = std::fs::remove_file(&path);

    let edge = EdgeConfig::default();
    let engine = EngineConfig::default();
    let mut d = Defaults::default();

    d.text("SERVER_HOST", &prod.host.to_string());
    assert!(about("SERVER_HOST").contains(&dev.host.to_string()));
    d.number("SERVER_PORT", prod.port);
    assert_eq!(prod.port, DEFAULT_PORT);
    d.text("CHATBOX_PATH_PREFIX", &prod.path_prefix);
    assert_eq!(prod.path_prefix, DEFAULT_PATH_PREFIX);
    d.duration("SHUTDOWN_TIMEOUT", prod.shutdown_timeout);
    assert_eq!(prod.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);

    d.text("chatbox.jwt_algorithm", &prod.edge.jwt_algorithm);
    assert_eq!(prod.edge.jwt_algorithm, edge.jwt_algorithm);
    d.number("chatbox.jwt_allow_no_exp", prod.edge.jwt_allow_no_exp);
    d.secs("JWT_LEEWAY", prod.edge.jwt_leeway_secs);
    assert_eq!(
        prod.edge.jwt_leeway_secs,
        chatbox_ws::config::DEFAULT_JWT_LEEWAY_SECS
    );
    d.unset("ENCRYPTION_KEY", prod.encryption_key.is_none());
    d.unset(
        "ENCRYPTION_KEY_PREVIOUS",
        prod.encryption_key_previous.is_none(),
    );
    d.unset("WS_ALLOWED_ORIGINS", prod.edge.allowed_origins.is_empty());
    d.unset("PARENT_ORIGINS", prod.edge.parent_origins.is_empty());
    d.unset(
        "CORS_ALLOWED_ORIGINS",
        prod.edge.cors_allowed_origins.is_empty(),
    );
    d.unset("TRUSTED_PROXIES", prod.edge.trusted_proxies.is_empty());
    let networks: Vec<ipnet::IpNet> = d
        .documented("METRICS_ALLOWED_NETWORKS")
        .split(',')
        .map(|n| n.parse().expect("a CIDR"))
        .collect();
    assert_eq!(networks, prod.edge.metrics_allowed_networks);
    assert_eq!(networks, edge.metrics_allowed_networks);
    d.number("ADMIN_RATE_LIMIT", prod.edge.admin_rate_limit);
    assert_eq!(
        prod.edge.admin_rate_limit,
        chatbox_ws::config::DEFAULT_ADMIN_RATE_LIMIT
    );
    d.secs("ADMIN_RATE_WINDOW", prod.edge.admin_rate_window_secs);
    assert_eq!(
        prod.edge.admin_rate_window_secs,
        chatbox_ws::config::DEFAULT_ADMIN_RATE_WINDOW_SECS
    );

    d.number("MAX_MESSAGE_SIZE", prod.edge.max_message_size);
    assert_eq!(
        prod.edge.max_message_size,
        chatbox_ws::config::DEFAULT_MAX_MESSAGE_SIZE
    );
    d.number(
        "MAX_CONNECTIONS_PER_USER",
        prod.edge.max_connections_per_user,
    );
    assert_eq!(
        prod.edge.max_connections_per_user,
        chatbox_ws::config::DEFAULT_MAX_CONNECTIONS_PER_USER
    );
    d.number("MAX_CONNECTIONS", prod.edge.max_connections);
    assert_eq!(
        prod.edge.max_connections,
        chatbox_ws::config::DEFAULT_MAX_CONNECTIONS
    );
    d.secs("WS_WRITE_TIMEOUT", prod.edge.write_timeout_secs);
    assert_eq!(
        prod.edge.write_timeout_secs,
        chatbox_ws::config::DEFAULT_WRITE_TIMEOUT_SECS
    );
    d.secs("WS_PING_PERIOD", prod.edge.ping_interval_secs);
    assert_eq!(
        prod.edge.ping_interval_secs,
        chatbox_ws::config::DEFAULT_PING_INTERVAL_SECS
    );
    d.secs("WS_PONG_WAIT", prod.edge.pong_timeout_secs);
    assert_eq!(
        prod.edge.pong_timeout_secs,
        chatbox_ws::config::DEFAULT_PONG_TIMEOUT_SECS
    );

    d.number("RATE_LIMIT", prod.engine.messages_per_minute);
    assert_eq!(prod.engine.messages_per_minute, engine.messages_per_minute);
    d.secs("RECONNECT_TIMEOUT", prod.engine.idle_evict_secs);
    assert_eq!(
        prod.engine.idle_evict_secs,
        chatbox_session::config::DEFAULT_IDLE_EVICT_SECS
    );
    d.secs("LLM_STREAM_TIMEOUT", prod.engine.reply_timeout_secs);
    assert_eq!(
        prod.engine.reply_timeout_secs,
        chatbox_session::config::DEFAULT_REPLY_TIMEOUT_SECS
    );
    d.secs("STORE_TIMEOUT", prod.engine.store_timeout_secs);
    assert_eq!(
        prod.engine.store_timeout_secs,
        chatbox_session::config::DEFAULT_STORE_TIMEOUT_SECS
    );
    d.number("MAX_SESSIONS_PER_USER", prod.engine.max_sessions_per_user);
    assert_eq!(
        prod.engine.max_sessions_per_user,
        chatbox_session::config::DEFAULT_MAX_SESSIONS_PER_USER
    );
    d.secs("ADMIN_GRACE", prod.engine.admin_grace_secs);
    assert_eq!(
        prod.engine.admin_grace_secs,
        chatbox_session::config::DEFAULT_ADMIN_GRACE_SECS
    );
    d.secs("NOTIFY_RETRY_INTERVAL", prod.engine.notify_retry_secs);
    assert_eq!(
        prod.engine.notify_retry_secs,
        chatbox_session::config::DEFAULT_NOTIFY_RETRY_SECS
    );
    d.unset("chatbox.system_prompt", prod.engine.system_prompt.is_none());

    let StoreSettings::Mongo(mongo) = &prod.store else {
        panic!("MONGO_URI selects MongoDB: {:?}", prod.store)
    };
    d.text("MONGO_DATABASE", &mongo.database);
    d.text("MONGO_COLLECTION", &mongo.collection);
    d.duration("MONGO_CONNECT_TIMEOUT", mongo.connect_timeout);
    d.number("MONGO_RETRY_ATTEMPTS", mongo.retry_attempts);
    d.duration("MONGO_RETRY_DELAY", mongo.retry_delay);
    d.duration("MONGO_RETRY_MAX_DELAY", mongo.retry_max_delay);
    d.unset("MONGO_SLOW_THRESHOLD", mongo.slow_threshold.is_none());
    let StoreSettings::Sqlite { data_dir } = &dev.store else {
        panic!("dev mode uses the embedded store: {:?}", dev.store)
    };
    d.text("CHATBOX_DATA_DIR", &data_dir.to_string_lossy());
    assert_eq!(data_dir.as_path(), Path::new(DEFAULT_DATA_DIR));

    assert_eq!(
        parse_size(d.documented("UPLOAD_MAX_SIZE")),
        Some(prod.uploads.max_size)
    );
    assert_eq!(prod.uploads.max_size, DEFAULT_UPLOAD_MAX_SIZE);
    let BlobSettings::S3(s3) = &prod.uploads.blobs else {
        panic!("S3_ENDPOINT selects S3: {:?}", prod.uploads.blobs)
    };
    d.text("S3_REGION", &s3.region);
    d.text("S3_BUCKET", &s3.bucket);
    d.unset("S3_ACCESS_KEY_ID", s3.access_key_id.is_none());
    d.unset("S3_SECRET_ACCESS_KEY", s3.secret_access_key.is_none());
    d.unset("S3_USE_PATH_STYLE", true);
    assert!(s3.path_style && about("S3_USE_PATH_STYLE").contains("amazonaws.com"));

    let smtp = prod.notify.smtp.as_ref().expect("SMTP_HOST turns SMTP on");
    d.number("SMTP_PORT", smtp.port);
    assert_eq!(smtp.port, chatbox_notify::smtp::DEFAULT_PORT);
    d.text(
        "SMTP_TLS",
        match smtp.tls {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        },
    );
    d.unset("SMTP_USER", smtp.username.is_none());
    d.unset("SMTP_PASS", smtp.password.is_none());
    d.unset("EMAIL_FROM_NAME", smtp.from_name.is_none());
    d.unset("EMAIL_REPLY_TO", smtp.reply_to.is_none());
    d.unset("SES_REGION", prod.notify.ses.is_none());
    let sms = prod
        .notify
        .sms
        .as_ref()
        .expect("SMS_ACCOUNT_SID turns SMS on");
    d.text("SMS_API_BASE", &sms.api_base);
    assert_eq!(sms.api_base, chatbox_notify::sms::DEFAULT_API_BASE);
    d.unset("NOTIFY_WEBHOOK_URL", prod.notify.webhook.is_none());
    d.unset("ADMIN_PANEL_URL", prod.admin_panel_url.is_none());
    d.unset(
        "TRANSCRIPTION_PROVIDER",
        prod.transcription_provider.is_none(),
    );
    let provider = &prod.providers[0];
    d.number("LLM_PROVIDER_<N>_VISION", provider.vision);
    d.unset(
        "LLM_PROVIDER_<N>_TRANSCRIPTION_MODEL",
        provider.transcription_model.is_none(),
    );
    // The transcription provider's model is chosen where the provider is built.
    assert!(
        read(&src().join("app.rs")).contains("\"whisper-1\"")
            && about("LLM_PROVIDER_<N>_TRANSCRIPTION_MODEL").contains("`whisper-1`")
    );

    d.text("LOG_LEVEL", &prod.log.level);
    d.text("LOG_FORMAT", if prod.log.json { "json" } else { "text" });

    d.number("ENABLE_METRICS", prod.features.metrics);
    d.number("ENABLE_ADMIN_TAKEOVER", prod.features.admin_takeover);
    d.number("ENABLE_HELP_REQUESTS", prod.features.help_requests);
    d.number("ENABLE_FILE_UPLOADS", prod.features.file_uploads);
    d.number("ENABLE_VOICE_MESSAGES", prod.features.voice_messages);

    let nats = prod.broker.as_ref().expect("NATS_URL turns the broker on");
    d.text("NATS_REQUIRE_TLS", &nats.require_tls.to_string());
    d.text("NATS_PREFIX", &nats.prefix);
    d.duration("NATS_LEASE_TTL", nats.lease_ttl);
    d.number("NATS_HISTORY", nats.history);
    assert!(nats.replica.starts_with("chatbox-"), "{}", nats.replica);
    d.unset("CHATBOX_REPLICA", true);
    d.finish();
}

#[test]
fn the_secret_rules_are_the_ones_the_server_applies() {
    let good = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1Zo";
    for word in SECRET_MARKERS.iter().chain(&WEAK_WORDS) {
        assert!(
            crate::secret::check_jwt_secret(&format!("{good}{word}")).is_err(),
            "{word} is refused"
        );
    }
    // What `openssl rand -hex 32` prints passes.
    let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(hex.len(), 64);
    assert!(crate::secret::check_jwt_secret(hex).is_ok());
    assert!(crate::secret::check_jwt_secret(&hex[..crate::secret::MIN_SECRET_BYTES - 1]).is_err());
}

#[test]
fn dev_mode_ends_with_the_documented_variables() {
    for key in PRODUCTION_KEYS {
        assert!(production_env(&MapEnv::from_pairs([(key, "x")])), "{key}");
    }
    for field in DEV_MODE_PROVIDER_FIELDS {
        let key = format!("LLM_PROVIDER_{MAX_ENV_PROVIDERS}_{field}");
        assert!(
            production_env(&MapEnv::from_pairs([(key.as_str(), "x")])),
            "{key}"
        );
    }
    assert!(!production_env(&MapEnv::from_pairs([(
        "LLM_PROVIDER_1_NAME",
        "x"
    )])));
    assert!(!production_env(&MapEnv::default()));
}

#[test]
fn the_committed_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = markdown();
    let line = committed
        .lines()
        .zip(current.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| committed.lines().count().min(current.lines().count()))
        + 1;
    assert!(
        committed == current,
        "docs/configuration.md is stale (first difference at line {line}): run `{REGENERATE}`"
    );
}

#[test]
fn tables_stay_tables() {
    let doc = markdown();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!(
            cells == 6 || cells == 3,
            "a table row lost its shape: {line}"
        );
    }
    assert!(doc.ends_with(".\n") && !doc.ends_with("\n\n"));
}

fn about(key: &str) -> &'static str {
    setting(key).about
}

fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.env == key || (s.env.is_empty() && s.file == key))
        .unwrap_or_else(|| panic!("{key} is not in SETTINGS"))
}

/// Compares documented defaults with resolved values and remembers which were compared, so
/// that a default nobody compares fails the test.
#[derive(Default)]
struct Defaults {
    checked: BTreeSet<&'static str>,
}

impl Defaults {
    fn documented(&mut self, key: &str) -> &'static str {
        let s = setting(key);
        self.checked
            .insert(if s.env.is_empty() { s.file } else { s.env });
        s.default
    }

    fn text(&mut self, key: &str, actual: &str) {
        assert_eq!(self.documented(key), actual, "the default of {key}");
    }

    fn number<T: FromStr + PartialEq + Debug>(&mut self, key: &str, actual: T) {
        let documented = self.documented(key);
        assert_eq!(
            documented.parse::<T>().ok(),
            Some(actual),
            "the default of {key}: documented {documented:?}"
        );
    }

    fn duration(&mut self, key: &str, actual: Duration) {
        let documented = self.documented(key);
        assert_eq!(
            parse_duration(documented),
            Some(actual),
            "the default of {key}: documented {documented:?}"
        );
    }

    fn secs(&mut self, key: &str, actual: u64) {
        self.duration(key, Duration::from_secs(actual));
    }

    fn unset(&mut self, key: &str, unset: bool) {
        assert_eq!(
            self.documented(key),
            "",
            "{key} is documented with a default"
        );
        assert!(unset, "{key} is documented without a default but has one");
    }

    fn finish(self) {
        let unchecked: Vec<_> = SETTINGS
            .iter()
            .filter(|s| !s.default.is_empty())
            .map(|s| if s.env.is_empty() { s.file } else { s.env })
            .filter(|k| !self.checked.contains(k))
            .collect();
        assert!(
            unchecked.is_empty(),
            "defaults no test compares with the code: {unchecked:?}"
        );
    }
}

/// Every leaf key [`FileConfig`] accepts, array markers dropped, aliases included.
fn file_keys() -> BTreeSet<String> {
    let state = walk::State::default();
    // An alias is a second name of a field: feeding both fails with "duplicate field", so each
    // failure marks the name just fed as one to list without feeding, and the walk restarts.
    for _ in 0..64 {
        state.leaves.borrow_mut().clear();
        match FileConfig::deserialize(walk::Walker::root(&state)) {
            Ok(_) => {
                return state
                    .leaves
                    .borrow()
                    .iter()
                    .map(|k| without_indexes(k))
                    .collect();
            }
            Err(e) if e.to_string().starts_with("duplicate field") => {
                let alias = state.last_key.borrow().clone();
                assert!(state.skip.borrow_mut().insert(alias), "{e}");
            }
            Err(e) => panic!("walking the file structs failed: {e}"),
        }
    }
    panic!("too many aliases")
}
