//! The Go service's settings this design does not use, each with the reason, so an operator who
//! switches binaries sees one warning per such key instead of a refusal or silence.
//! Every other Go key is read into a setting elsewhere in this module.

use super::file::FileConfig;
use super::resolver::Resolver;

/// Environment variables of the Go deployment (reference §5) that are accepted but unused.
pub(super) const UNUSED_ENV: &[(&str, &str)] = &[
    (
        "WS_READ_BUFFER_SIZE",
        "buffers grow per frame; MAX_MESSAGE_SIZE bounds a frame",
    ),
    (
        "WS_WRITE_BUFFER_SIZE",
        "buffers grow per frame; MAX_MESSAGE_SIZE bounds a frame",
    ),
    (
        "LOG_DIR",
        "logs go to standard output only (read-only root filesystem); collect them from the container",
    ),
    ("LOG_STANDARD_OUTPUT", "logs always go to standard output"),
    ("LOG_INFO_FILE", "logs go to standard output only"),
    ("LOG_WARN_FILE", "logs go to standard output only"),
    ("LOG_ERROR_FILE", "logs go to standard output only"),
    (
        "MONGO_VERBOSE",
        "driver logging is chosen with RUST_LOG (e.g. RUST_LOG=info,mongodb=debug)",
    ),
    (
        "MONGO_USERNAME",
        "put credentials in MONGO_URI (mongodb://user:pass@host/)",
    ),
    (
        "MONGO_PASSWORD",
        "put credentials in MONGO_URI (mongodb://user:pass@host/)",
    ),
    ("UPLOAD_SITE", "files are served at P/files/{file_id}"),
    ("UPLOAD_ENTRY_NAME", "uploads are posted to P/upload"),
    ("UPLOAD_PREFIX", "files are served at P/files/{file_id}"),
    (
        "UPLOAD_TMP_PATH",
        "uploads stream to storage without a temporary file",
    ),
    (
        "SMS_PROVIDER",
        "SMS is Twilio-compatible: set SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SMS_FROM_NUMBER (SMS_API_BASE for another vendor)",
    ),
    (
        "SMS_API_KEY",
        "SMS is Twilio-compatible: set SMS_ACCOUNT_SID and SMS_AUTH_TOKEN",
    ),
    (
        "ADMIN_API_KEY",
        "admins authenticate with a JWT whose roles include admin",
    ),
    (
        "RATE_LIMIT_CLEANUP_INTERVAL",
        "rate-limit windows expire by themselves",
    ),
    (
        "SESSION_TTL",
        "a session's live state is dropped RECONNECT_TIMEOUT after its last connection and reply; stored sessions are kept",
    ),
    (
        "SESSION_CLEANUP_INTERVAL",
        "each session times its own eviction; there is no periodic sweep",
    ),
    (
        "K8S_NAMESPACE",
        "the server does not call the Kubernetes API",
    ),
    (
        "K8S_SERVICE_NAME",
        "the server does not call the Kubernetes API",
    ),
    (
        "K8S_CONFIGMAP_NAME",
        "the server does not call the Kubernetes API",
    ),
    (
        "K8S_SECRET_NAME",
        "the server does not call the Kubernetes API",
    ),
    (
        "K8S_ENABLE_PROBE",
        "probes are always served at P/healthz and P/readyz",
    ),
];

/// The reason `env_key` of [`UNUSED_ENV`] is unused.
fn why(env_key: &str) -> &'static str {
    UNUSED_ENV
        .iter()
        .find(|(k, _)| *k == env_key)
        .map_or("not used by this server", |(_, w)| *w)
}

/// One warning per unused Go key present in the file or the environment.
pub(super) fn warn_unused(r: &mut Resolver<'_>, file: &FileConfig) {
    let ws = &file.chatbox.websocket;
    let upload = file.userupload.types.first();
    let mut file_keys: Vec<(&str, bool, &str)> = vec![
        (
            "chatbox.websocket.read_buffer_size",
            ws.read_buffer_size.is_some(),
            why("WS_READ_BUFFER_SIZE"),
        ),
        (
            "chatbox.websocket.write_buffer_size",
            ws.write_buffer_size.is_some(),
            why("WS_WRITE_BUFFER_SIZE"),
        ),
        ("log.dir", file.log.dir.is_some(), why("LOG_DIR")),
        (
            "log.standardOutput",
            file.log.standard_output.is_some(),
            why("LOG_STANDARD_OUTPUT"),
        ),
        (
            "dbs.verbose",
            file.dbs.verbose.is_some(),
            why("MONGO_VERBOSE"),
        ),
        (
            "userupload.site",
            file.userupload.site.is_some(),
            why("UPLOAD_SITE"),
        ),
        (
            "userupload.types[0].entryName",
            upload.is_some_and(|t| t.entry_name.is_some()),
            why("UPLOAD_ENTRY_NAME"),
        ),
        (
            "userupload.types[0].prefix",
            upload.is_some_and(|t| t.prefix.is_some()),
            why("UPLOAD_PREFIX"),
        ),
        (
            "userupload.types[0].tmpPath",
            upload.is_some_and(|t| t.tmp_path.is_some()),
            why("UPLOAD_TMP_PATH"),
        ),
        (
            "mail.engines.mock",
            file.mail.engines.mock.is_some(),
            "notifications are tested against real protocol sinks; LogNotifier serves dev mode",
        ),
        (
            "kubernetes",
            file.kubernetes.is_some(),
            "the server does not call the Kubernetes API",
        ),
    ];
    let names = |n: usize| n > 0;
    file_keys.push((
        "mail.engines.smtp[].name",
        names(
            file.mail
                .engines
                .smtp
                .iter()
                .filter(|e| e.name.is_some())
                .count(),
        ),
        "one SMTP server is used; its name is not needed",
    ));
    file_keys.push((
        "mail.engines.ses[].name",
        names(
            file.mail
                .engines
                .ses
                .iter()
                .filter(|e| e.name.is_some())
                .count(),
        ),
        "one SES account is used; its name is not needed",
    ));
    if file.mail.engines.smtp.len() > 1 {
        file_keys.push((
            "mail.engines.smtp[1..]",
            true,
            "only the first SMTP engine is used",
        ));
    }
    if file.mail.engines.ses.len() > 1 {
        file_keys.push((
            "mail.engines.ses[1..]",
            true,
            "only the first SES engine is used",
        ));
    }
    for (key, present, why) in file_keys {
        if present {
            r.warn(key, why);
        }
    }
    for (key, why) in UNUSED_ENV {
        if r.env.get(key).is_some() {
            r.warn(key, why);
        }
    }
}
