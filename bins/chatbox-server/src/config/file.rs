//! The configuration file's shape: our own sections and keys, plus every section of the Go
//! service's `config.toml` (reference §5) so its file loads unchanged. Each key is either read
//! into a setting or listed in [`super::go_keys`] with the reason it is unused; any other key is
//! refused, so a typo never passes silently.

use serde::Deserialize;

/// A list given as a TOML array or a comma-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum StringList {
    List(Vec<String>),
    Csv(String),
}

impl StringList {
    pub(super) fn items(&self) -> Vec<String> {
        match self {
            Self::List(v) => v
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            Self::Csv(s) => split_csv(s),
        }
    }
}

/// A duration written as Go text (`15m`, `2m0s`) or as a bare number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Flex {
    Number(i64),
    Text(String),
}

impl Flex {
    pub(super) fn raw(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(s) => s.clone(),
        }
    }
}

pub(super) fn split_csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Any value, for keys accepted only to be reported as unused.
pub(super) type Unused = Option<toml::Value>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileConfig {
    pub(super) server: ServerSection,
    pub(super) chatbox: ChatboxSection,
    pub(super) mongo: MongoSection,
    pub(super) llm: LlmSection,
    pub(super) uploads: UploadsSection,
    pub(super) features: super::features::FeaturesSection,
    // The Go service's sections.
    pub(super) log: LogSection,
    pub(super) database: DatabaseSection,
    pub(super) dbs: DbsSection,
    pub(super) connection_sources: ConnectionSources,
    pub(super) userupload: UserUpload,
    pub(super) mail: MailSection,
    pub(super) sms: SmsSection,
    pub(super) notification: NotificationSection,
    pub(super) kubernetes: Unused,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ServerSection {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) shutdown_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ChatboxSection {
    pub(super) path_prefix: Option<String>,
    pub(super) jwt_secret: Option<String>,
    pub(super) jwt_algorithm: Option<String>,
    pub(super) jwt_allow_no_exp: Option<bool>,
    pub(super) jwt_leeway: Option<String>,
    pub(super) encryption_key: Option<String>,
    pub(super) encryption_key_previous: Option<String>,
    pub(super) allowed_origins: Option<StringList>,
    pub(super) cors_allowed_origins: Option<StringList>,
    pub(super) parent_origins: Option<StringList>,
    pub(super) trusted_proxies: Option<StringList>,
    pub(super) metrics_allowed_networks: Option<StringList>,
    pub(super) max_message_size: Option<usize>,
    pub(super) max_connections: Option<usize>,
    pub(super) max_connections_per_user: Option<usize>,
    pub(super) rate_limit: Option<u32>,
    pub(super) reconnect_timeout: Option<String>,
    pub(super) llm_stream_timeout: Option<String>,
    pub(super) write_timeout: Option<String>,
    pub(super) admin_rate_limit: Option<u32>,
    pub(super) admin_rate_window: Option<String>,
    pub(super) admin_grace: Option<String>,
    pub(super) notify_retry_interval: Option<String>,
    pub(super) store_timeout: Option<String>,
    pub(super) max_sessions_per_user: Option<usize>,
    pub(super) admin_panel_url: Option<String>,
    pub(super) system_prompt: Option<String>,
    pub(super) data_dir: Option<String>,
    pub(super) websocket: WebSocketSection,
    /// The Go sample's `[[chatbox.llm.providers]]` (a path its code never read).
    pub(super) llm: LlmSection,
}

/// `[chatbox.websocket]` as the Go sample wrote it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct WebSocketSection {
    pub(super) ping_period: Option<Flex>,
    pub(super) pong_wait: Option<Flex>,
    pub(super) write_wait: Option<Flex>,
    pub(super) read_buffer_size: Unused,
    pub(super) write_buffer_size: Unused,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct MongoSection {
    pub(super) uri: Option<String>,
    pub(super) database: Option<String>,
    pub(super) collection: Option<String>,
    pub(super) connect_timeout: Option<String>,
    pub(super) retry_attempts: Option<u32>,
    pub(super) retry_delay: Option<String>,
    pub(super) retry_max_delay: Option<String>,
    pub(super) slow_threshold: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LlmSection {
    pub(super) providers: Vec<ProviderEntry>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ProviderEntry {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) endpoint: String,
    #[serde(alias = "apiKey")]
    pub(super) api_key: String,
    pub(super) model: String,
    pub(super) vision: Option<bool>,
    pub(super) transcription_model: Option<String>,
}

/// `[uploads]`: file uploads and their S3 bucket.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct UploadsSection {
    pub(super) max_size: Option<Flex>,
    pub(super) s3_endpoint: Option<String>,
    pub(super) s3_region: Option<String>,
    pub(super) s3_bucket: Option<String>,
    pub(super) s3_access_key_id: Option<String>,
    pub(super) s3_secret_access_key: Option<String>,
    pub(super) s3_use_path_style: Option<bool>,
}

/// Go `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct LogSection {
    pub(super) level: Option<String>,
    pub(super) format: Option<String>,
    pub(super) dir: Unused,
    #[serde(rename = "standardOutput")]
    pub(super) standard_output: Unused,
}

/// Go `[database]` (one spelling of the Mongo URI).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DatabaseSection {
    pub(super) uri: Option<String>,
}

/// Go `[dbs]` (gomongo).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DbsSection {
    pub(super) verbose: Unused,
    #[serde(rename = "slowThreshold")]
    pub(super) slow_threshold: Option<Flex>,
    pub(super) chat: DbsChat,
}

/// Go `[dbs.chat]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct DbsChat {
    pub(super) uri: Option<String>,
    pub(super) database: Option<String>,
    pub(super) collection: Option<String>,
    #[serde(rename = "connectTimeout")]
    pub(super) connect_timeout: Option<Flex>,
}

/// Go `[connection_sources]` (goupload's S3 credentials).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ConnectionSources {
    pub(super) s3_providers: Vec<S3Provider>,
}

/// One `[[connection_sources.s3_providers]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct S3Provider {
    pub(super) name: String,
    pub(super) endpoint: Option<String>,
    pub(super) key: Option<String>,
    pub(super) pass: Option<String>,
    pub(super) region: Option<String>,
}

/// Go `[userupload]` (goupload).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct UserUpload {
    pub(super) site: Unused,
    pub(super) types: Vec<UploadType>,
}

/// One `[[userupload.types]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct UploadType {
    #[serde(rename = "entryName")]
    pub(super) entry_name: Unused,
    pub(super) prefix: Unused,
    #[serde(rename = "tmpPath")]
    pub(super) tmp_path: Unused,
    #[serde(rename = "maxSize")]
    pub(super) max_size: Option<Flex>,
    pub(super) storage: Vec<UploadStorage>,
}

/// One `[[userupload.types.storage]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct UploadStorage {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) target: Option<String>,
    pub(super) bucket: Option<String>,
}

/// Go `[mail]` (gomail).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct MailSection {
    #[serde(rename = "defaultFromName")]
    pub(super) default_from_name: Option<String>,
    #[serde(rename = "defaultFromEmail", alias = "fromEmail")]
    pub(super) default_from_email: Option<String>,
    #[serde(rename = "replyToEmail")]
    pub(super) reply_to_email: Option<String>,
    #[serde(rename = "adminEmail")]
    pub(super) admin_email: Option<String>,
    pub(super) engines: MailEngines,
}

/// `[mail.engines]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct MailEngines {
    pub(super) smtp: Vec<SmtpEngine>,
    pub(super) ses: Vec<SesEngine>,
    pub(super) mock: Unused,
}

/// One `[[mail.engines.smtp]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SmtpEngine {
    pub(super) name: Unused,
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    #[serde(alias = "username")]
    pub(super) user: Option<String>,
    #[serde(alias = "password")]
    pub(super) pass: Option<String>,
    #[serde(alias = "fromEmail", alias = "defaultEmail")]
    pub(super) from: Option<String>,
}

/// One `[[mail.engines.ses]]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SesEngine {
    pub(super) name: Unused,
    pub(super) region: Option<String>,
    pub(super) endpoint: Option<String>,
    #[serde(rename = "accessKeyId", alias = "key")]
    pub(super) access_key_id: Option<String>,
    #[serde(rename = "secretAccessKey", alias = "pass")]
    pub(super) secret_access_key: Option<String>,
    #[serde(alias = "fromEmail", alias = "defaultEmail")]
    pub(super) from: Option<String>,
}

/// Go `[sms]` (Twilio).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SmsSection {
    #[serde(rename = "accountSID")]
    pub(super) account_sid: Option<String>,
    #[serde(rename = "authToken")]
    pub(super) auth_token: Option<String>,
    #[serde(rename = "fromNumber")]
    pub(super) from_number: Option<String>,
    #[serde(rename = "apiBase")]
    pub(super) api_base: Option<String>,
}

/// Go `[notification]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct NotificationSection {
    #[serde(rename = "adminPanelURL")]
    pub(super) admin_panel_url: Option<String>,
    #[serde(rename = "adminEmails")]
    pub(super) admin_emails: Option<StringList>,
    #[serde(rename = "adminPhones")]
    pub(super) admin_phones: Option<StringList>,
}
