//! Feature switches (`ENABLE_*`, the Go configmap's names, or `[features]` in the file); all on
//! by default. A disabled feature answers with `FEATURE_DISABLED` and its page control is hidden.

use serde::Deserialize;

use super::resolver::Resolver;

/// Which optional features are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `P/metrics/prometheus` (`ENABLE_METRICS`).
    pub metrics: bool,
    /// Admin takeover (`ENABLE_ADMIN_TAKEOVER`).
    pub admin_takeover: bool,
    /// Help requests (`ENABLE_HELP_REQUESTS`).
    pub help_requests: bool,
    /// File and photo uploads (`ENABLE_FILE_UPLOADS`).
    pub file_uploads: bool,
    /// Voice messages (`ENABLE_VOICE_MESSAGES`).
    pub voice_messages: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            metrics: true,
            admin_takeover: true,
            help_requests: true,
            file_uploads: true,
            voice_messages: true,
        }
    }
}

/// `[features]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FeaturesSection {
    pub(super) metrics: Option<bool>,
    pub(super) admin_takeover: Option<bool>,
    pub(super) help_requests: Option<bool>,
    pub(super) file_uploads: Option<bool>,
    pub(super) voice_messages: Option<bool>,
}

pub(super) fn resolve(r: &mut Resolver<'_>, file: FeaturesSection) -> Features {
    let mut flag = |env_key: &str, value: Option<bool>| -> bool {
        match r.env.get(env_key) {
            Some(raw) => match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    r.error(env_key, &raw, "allowed: true, false");
                    true
                }
            },
            None => value.unwrap_or(true),
        }
    };
    Features {
        metrics: flag("ENABLE_METRICS", file.metrics),
        admin_takeover: flag("ENABLE_ADMIN_TAKEOVER", file.admin_takeover),
        help_requests: flag("ENABLE_HELP_REQUESTS", file.help_requests),
        file_uploads: flag("ENABLE_FILE_UPLOADS", file.file_uploads),
        voice_messages: flag("ENABLE_VOICE_MESSAGES", file.voice_messages),
    }
}
