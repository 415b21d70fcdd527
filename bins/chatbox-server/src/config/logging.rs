//! Logging settings: the default level and the format.

use super::file::LogSection;
use super::resolver::Resolver;

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// The default level (`RUST_LOG` overrides it with full filter directives).
    pub level: String,
    /// One JSON object per line instead of text.
    pub json: bool,
}

/// Log level and format (`LOG_LEVEL` / `log.level`, `LOG_FORMAT` / `log.format`).
pub(super) fn logging(r: &mut Resolver<'_>, log: LogSection) -> LogSettings {
    let level = match r.pick("LOG_LEVEL", "log.level", log.level) {
        None => "info".to_owned(),
        Some((key, raw)) => {
            let l = raw.trim().to_ascii_lowercase();
            match l.as_str() {
                "trace" | "debug" | "info" | "error" => l,
                "warn" | "warning" => "warn".into(),
                "fatal" | "panic" => "error".into(),
                _ => {
                    r.error(&key, &raw, "allowed: trace, debug, info, warn, error");
                    "info".into()
                }
            }
        }
    };
    let json = match r.pick("LOG_FORMAT", "log.format", log.format) {
        None => false,
        Some((key, raw)) => match raw.trim() {
            "json" => true,
            "text" => false,
            _ => {
                r.error(&key, &raw, "allowed: json, text");
                false
            }
        },
    };
    LogSettings { level, json }
}
