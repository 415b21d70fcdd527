//! The configuration file's shape: its sections and keys, each optional, unknown keys refused.

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

pub(super) fn split_csv(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileConfig {
    pub(super) server: ServerSection,
    pub(super) chatbox: ChatboxSection,
    pub(super) mongo: MongoSection,
    pub(super) llm: LlmSection,
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
    pub(super) parent_origins: Option<StringList>,
    pub(super) trusted_proxies: Option<StringList>,
    pub(super) max_message_size: Option<usize>,
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
    pub(super) api_key: String,
    pub(super) model: String,
}
