//! The table of every setting, grouped as `docs/configuration.md` shows them, and the Go
//! service's file keys that are read only to locate others or are accepted but unused.
//! `reference::tests` checks it against the resolvers, the file structs and the defaults.

use super::{Group, Setting};

const SERVER: &str = "Server";
const SECURITY: &str = "Security";
const WEBSOCKET: &str = "WebSocket";
const ENGINE: &str = "Engine";
const STORE: &str = "Store";
const UPLOADS: &str = "Uploads";
const NOTIFICATIONS: &str = "Notifications";
const PROVIDERS: &str = "LLM providers";
const LOGGING: &str = "Logging";
const FEATURES: &str = "Features";
const REPLICAS: &str = "Replicas";

/// The sections of the reference, in order.
pub const GROUPS: &[Group] = &[
    Group {
        name: SERVER,
        intro: "Where the server listens and how it stops.",
    },
    Group {
        name: SECURITY,
        intro: "Tokens, keys, who may connect from where, and the admin API's rate limit. \
                [Keys and secrets](#keys-and-secrets) shows how to make the keys.",
    },
    Group {
        name: WEBSOCKET,
        intro: "Limits and timings of the WebSocket connections (`P/ws`).",
    },
    Group {
        name: ENGINE,
        intro: "The chat engine: message rate, how long sessions stay live, deadlines of \
                replies and store calls, human takeover.",
    },
    Group {
        name: STORE,
        intro: "MongoDB when `MONGO_URI` (or a file spelling of it) is set, else the embedded \
                SQLite store under `CHATBOX_DATA_DIR`. The other `MONGO_*` settings apply to \
                MongoDB only.",
    },
    Group {
        name: UPLOADS,
        intro: "Files, photos and voice notes posted to `P/upload` go to an S3 (or \
                S3-compatible) bucket when `S3_ENDPOINT`, `S3_BUCKET` or `S3_ACCESS_KEY_ID` (or \
                a file spelling of one) is set, else to the `files` directory under \
                `CHATBOX_DATA_DIR`.",
    },
    Group {
        name: NOTIFICATIONS,
        intro: "Staff are told about help requests on every configured channel: SMTP or SES \
                email to `ADMIN_EMAILS`, SMS to `ADMIN_PHONES`, a signed JSON webhook. A channel \
                is on when any of its own settings is set; a half-configured channel, or \
                recipients no channel can reach, stop startup naming the missing key. With no \
                channel, dev mode writes notices to the log.",
    },
    Group {
        name: PROVIDERS,
        intro: "Providers come from `LLM_PROVIDER_<N>_*` variables or from `[[llm.providers]]` \
                entries in the file. Outside dev mode at least one is required; in dev mode \
                with none a built-in demo model answers.",
    },
    Group {
        name: LOGGING,
        intro: "Logs go to standard output only.",
    },
    Group {
        name: REPLICAS,
        intro: "Several replicas without sticky sessions share a NATS server with JetStream: \
                on when `NATS_URL` is set, and then `MONGO_URI` is required (one store for all). \
                Every replica of a deployment needs the same `NATS_PREFIX` and \
                `NATS_LEASE_TTL`.",
    },
    Group {
        name: FEATURES,
        intro: "Optional features, all on by default. A disabled feature answers \
                `FEATURE_DISABLED` and its control is hidden on the pages.",
    },
];

/// Every setting.
pub const SETTINGS: &[Setting] = &[
    // Server
    Setting {
        group: SERVER,
        env: "SERVER_HOST",
        file: "server.host",
        go_file: &[],
        default: "0.0.0.0",
        unit: "IP address",
        about: "Address to listen on; 127.0.0.1 in dev mode.",
    },
    Setting {
        group: SERVER,
        env: "SERVER_PORT",
        file: "server.port",
        go_file: &[],
        default: "8080",
        unit: "TCP port",
        about: "Port to listen on.",
    },
    Setting {
        group: SERVER,
        env: "CHATBOX_PATH_PREFIX",
        file: "chatbox.path_prefix",
        go_file: &[],
        default: "/chatbox",
        unit: "URL path",
        about: "The prefix `P` of every route (`P/ws`, `P/healthz`, the pages). Starts with `/` \
                and does not end with one.",
    },
    Setting {
        group: SERVER,
        env: "SHUTDOWN_TIMEOUT",
        file: "server.shutdown_timeout",
        go_file: &[],
        default: "30s",
        unit: "duration",
        about: "How long a graceful stop (SIGTERM, Ctrl-C) lets replies in flight finish before \
                cutting them short.",
    },
    // Security
    Setting {
        group: SECURITY,
        env: "JWT_SECRET",
        file: "chatbox.jwt_secret",
        go_file: &[],
        default: "",
        unit: "text, ≥ 32 bytes",
        about: "HMAC key of the users' JWTs, shared with the host application that issues them. \
                Required outside dev mode; generated for the run in dev mode.",
    },
    Setting {
        group: SECURITY,
        env: "",
        file: "chatbox.jwt_algorithm",
        go_file: &[],
        default: "HS256",
        unit: "HS256, HS384 or HS512",
        about: "The JWT signing algorithm.",
    },
    Setting {
        group: SECURITY,
        env: "",
        file: "chatbox.jwt_allow_no_exp",
        go_file: &[],
        default: "false",
        unit: "true/false",
        about: "Accept tokens without an `exp` claim.",
    },
    Setting {
        group: SECURITY,
        env: "JWT_LEEWAY",
        file: "chatbox.jwt_leeway",
        go_file: &[],
        default: "30s",
        unit: "duration",
        about: "Clock leeway for the `exp` and `nbf` claims.",
    },
    Setting {
        group: SECURITY,
        env: "ENCRYPTION_KEY",
        file: "chatbox.encryption_key",
        go_file: &[],
        default: "",
        unit: "text, exactly 32 bytes",
        about: "AES-256-GCM key of message content at rest. Unset: new messages are stored as \
                plain text.",
    },
    Setting {
        group: SECURITY,
        env: "ENCRYPTION_KEY_PREVIOUS",
        file: "chatbox.encryption_key_previous",
        go_file: &[],
        default: "",
        unit: "text, exactly 32 bytes",
        about: "The key before the last rotation: tried when reading, never used for writing. \
                Needs `ENCRYPTION_KEY`.",
    },
    Setting {
        group: SECURITY,
        env: "WS_ALLOWED_ORIGINS",
        file: "chatbox.allowed_origins",
        go_file: &[],
        default: "",
        unit: "origin list",
        about: "`Origin` values allowed to open `P/ws`; empty allows any.",
    },
    Setting {
        group: SECURITY,
        env: "PARENT_ORIGINS",
        file: "chatbox.parent_origins",
        go_file: &[],
        default: "",
        unit: "origin list",
        about: "Origins allowed to embed the pages in a frame and to post them a fresh token; \
                empty forbids framing.",
    },
    Setting {
        group: SECURITY,
        env: "CORS_ALLOWED_ORIGINS",
        file: "chatbox.cors_allowed_origins",
        go_file: &[],
        default: "",
        unit: "origin list",
        about: "Origins allowed to call the REST API from a browser (CORS); empty sends no CORS \
                headers.",
    },
    Setting {
        group: SECURITY,
        env: "TRUSTED_PROXIES",
        file: "chatbox.trusted_proxies",
        go_file: &[],
        default: "",
        unit: "CIDR list",
        about: "Proxies whose `X-Forwarded-For` and `Forwarded` headers name the client for \
                per-client limits; empty trusts none (the Go service trusted the private \
                ranges).",
    },
    Setting {
        group: SECURITY,
        env: "METRICS_ALLOWED_NETWORKS",
        file: "chatbox.metrics_allowed_networks",
        go_file: &[],
        default: "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,::1/128,fc00::/7",
        unit: "CIDR list",
        about: "Networks allowed to read `P/metrics/prometheus`: by default the private ranges \
                and loopback.",
    },
    Setting {
        group: SECURITY,
        env: "ADMIN_RATE_LIMIT",
        file: "chatbox.admin_rate_limit",
        go_file: &[],
        default: "20",
        unit: "requests (≥ 1)",
        about: "Admin API requests per admin per `ADMIN_RATE_WINDOW`.",
    },
    Setting {
        group: SECURITY,
        env: "ADMIN_RATE_WINDOW",
        file: "chatbox.admin_rate_window",
        go_file: &[],
        default: "60s",
        unit: "duration",
        about: "The admin API's rate window.",
    },
    // WebSocket
    Setting {
        group: WEBSOCKET,
        env: "MAX_MESSAGE_SIZE",
        file: "chatbox.max_message_size",
        go_file: &[],
        default: "1048576",
        unit: "bytes (≥ 1024)",
        about: "Largest inbound WebSocket message; a bigger one closes the connection with 1009.",
    },
    Setting {
        group: WEBSOCKET,
        env: "MAX_CONNECTIONS_PER_USER",
        file: "chatbox.max_connections_per_user",
        go_file: &[],
        default: "10",
        unit: "connections (≥ 1)",
        about: "Concurrent WebSocket connections per user.",
    },
    Setting {
        group: WEBSOCKET,
        env: "MAX_CONNECTIONS",
        file: "chatbox.max_connections",
        go_file: &[],
        default: "10000",
        unit: "connections (≥ 1)",
        about: "WebSocket connections this process accepts in all.",
    },
    Setting {
        group: WEBSOCKET,
        env: "WS_WRITE_TIMEOUT",
        file: "chatbox.write_timeout",
        go_file: &["chatbox.websocket.write_wait"],
        default: "10s",
        unit: "duration",
        about: "How long one write to a socket may take; a client that stops reading is dropped \
                after this and its connection slot freed.",
    },
    Setting {
        group: WEBSOCKET,
        env: "WS_WRITE_WAIT",
        file: "",
        go_file: &[],
        default: "",
        unit: "duration",
        about: "The Go configmap's name for `WS_WRITE_TIMEOUT`, read when that is unset.",
    },
    Setting {
        group: WEBSOCKET,
        env: "WS_PING_PERIOD",
        file: "chatbox.websocket.ping_period",
        go_file: &[],
        default: "30s",
        unit: "duration",
        about: "Interval between server pings.",
    },
    Setting {
        group: WEBSOCKET,
        env: "WS_PONG_WAIT",
        file: "chatbox.websocket.pong_wait",
        go_file: &[],
        default: "60s",
        unit: "duration",
        about: "Silence from the client after which the connection is closed; must be longer \
                than `WS_PING_PERIOD`.",
    },
    // Engine
    Setting {
        group: ENGINE,
        env: "RATE_LIMIT",
        file: "chatbox.rate_limit",
        go_file: &[],
        default: "100",
        unit: "messages per minute (≥ 1)",
        about: "Messages one user may send per minute.",
    },
    Setting {
        group: ENGINE,
        env: "RECONNECT_TIMEOUT",
        file: "chatbox.reconnect_timeout",
        go_file: &[],
        default: "15m",
        unit: "duration",
        about: "How long a session with no connection and no reply in progress stays live, so \
                that a client reconnecting within it resumes the session and gets the frames it \
                missed.",
    },
    Setting {
        group: ENGINE,
        env: "LLM_STREAM_TIMEOUT",
        file: "chatbox.llm_stream_timeout",
        go_file: &[],
        default: "2m",
        unit: "duration",
        about: "The longest one streamed reply may take; then it fails with `LLM_TIMEOUT`.",
    },
    Setting {
        group: ENGINE,
        env: "STORE_TIMEOUT",
        file: "chatbox.store_timeout",
        go_file: &[],
        default: "10s",
        unit: "duration",
        about: "The longest one store call made by the engine may take.",
    },
    Setting {
        group: ENGINE,
        env: "MAX_SESSIONS_PER_USER",
        file: "chatbox.max_sessions_per_user",
        go_file: &[],
        default: "20",
        unit: "sessions (≥ 1)",
        about: "Live sessions one user may have at once. One more evicts the user's longest-idle \
                session, or is refused when none is idle.",
    },
    Setting {
        group: ENGINE,
        env: "ADMIN_GRACE",
        file: "chatbox.admin_grace",
        go_file: &[],
        default: "60s",
        unit: "duration",
        about: "How long an admin who took a conversation over may be disconnected before the \
                session is released and the AI answers again.",
    },
    Setting {
        group: ENGINE,
        env: "",
        file: "chatbox.system_prompt",
        go_file: &[],
        default: "",
        unit: "text",
        about: "A system prompt sent to the model with every conversation.",
    },
    // Replicas
    Setting {
        group: REPLICAS,
        env: "NATS_URL",
        file: "",
        go_file: &[],
        default: "",
        unit: "`nats://`, `tls://`, `ws://` or `wss://` URL(s), comma-separated",
        about: "The NATS server(s), JetStream enabled; may carry `user:password@` or \
                `token@`. Unset: one replica, everything in process.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_CREDS",
        file: "",
        go_file: &[],
        default: "",
        unit: "path",
        about: "A NATS `.creds` file (user JWT and NKey seed) to authenticate with.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_TLS_CA",
        file: "",
        go_file: &[],
        default: "",
        unit: "path",
        about: "PEM CA certificates to trust for TLS to NATS.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_REQUIRE_TLS",
        file: "",
        go_file: &[],
        default: "false",
        unit: "true/false",
        about: "Refuse a NATS server without TLS.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_PREFIX",
        file: "",
        go_file: &[],
        default: "chatbox",
        unit: "name (`A-Z a-z 0-9 - _`)",
        about: "Names the deployment's lease bucket, frame stream and subjects.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_LEASE_TTL",
        file: "",
        go_file: &[],
        default: "10s",
        unit: "duration",
        about: "How long a dead replica keeps its sessions: they move after this.",
    },
    Setting {
        group: REPLICAS,
        env: "NATS_HISTORY",
        file: "",
        go_file: &[],
        default: "2048",
        unit: "frames",
        about: "Frames kept per session in NATS for resume on any replica (default: the \
                replay window).",
    },
    Setting {
        group: REPLICAS,
        env: "CHATBOX_REPLICA",
        file: "",
        go_file: &[],
        default: "",
        unit: "name",
        about: "This replica's name (unset: `HOSTNAME`, else `chatbox`); a random suffix per \
                process is added.",
    },
    // Store
    Setting {
        group: STORE,
        env: "MONGO_URI",
        file: "mongo.uri",
        go_file: &["dbs.chat.uri", "database.uri"],
        default: "",
        unit: "`mongodb://` or `mongodb+srv://` URL",
        about: "Use MongoDB (credentials go in the URL); unset, the embedded SQLite store. \
                Refused in dev mode.",
    },
    Setting {
        group: STORE,
        env: "MONGO_DATABASE",
        file: "mongo.database",
        go_file: &["dbs.chat.database"],
        default: "chat",
        unit: "name",
        about: "The MongoDB database.",
    },
    Setting {
        group: STORE,
        env: "MONGO_COLLECTION",
        file: "mongo.collection",
        go_file: &["dbs.chat.collection"],
        default: "sessions",
        unit: "name",
        about: "The collection of session documents.",
    },
    Setting {
        group: STORE,
        env: "MONGO_CONNECT_TIMEOUT",
        file: "mongo.connect_timeout",
        go_file: &["dbs.chat.connectTimeout"],
        default: "10s",
        unit: "duration",
        about: "Connect and server-selection timeout.",
    },
    Setting {
        group: STORE,
        env: "MONGO_RETRY_ATTEMPTS",
        file: "mongo.retry_attempts",
        go_file: &[],
        default: "3",
        unit: "attempts (1 to 10)",
        about: "Attempts for an operation that fails transiently.",
    },
    Setting {
        group: STORE,
        env: "MONGO_RETRY_DELAY",
        file: "mongo.retry_delay",
        go_file: &[],
        default: "100ms",
        unit: "duration",
        about: "Delay before the first retry; it grows up to `MONGO_RETRY_MAX_DELAY`.",
    },
    Setting {
        group: STORE,
        env: "MONGO_RETRY_MAX_DELAY",
        file: "mongo.retry_max_delay",
        go_file: &[],
        default: "2s",
        unit: "duration",
        about: "The longest delay between retries.",
    },
    Setting {
        group: STORE,
        env: "MONGO_SLOW_THRESHOLD",
        file: "mongo.slow_threshold",
        go_file: &["dbs.slowThreshold"],
        default: "",
        unit: "duration",
        about: "Operations slower than this are logged and counted; unset or `0` turns it off.",
    },
    Setting {
        group: STORE,
        env: "CHATBOX_DATA_DIR",
        file: "chatbox.data_dir",
        go_file: &[],
        default: "./chatbox-data",
        unit: "directory",
        about: "Where the embedded store (when `MONGO_URI` is unset) and uploads (when no S3 \
                bucket is configured) are kept.",
    },
    // Uploads
    Setting {
        group: UPLOADS,
        env: "UPLOAD_MAX_SIZE",
        file: "uploads.max_size",
        go_file: &["userupload.types[0].maxSize"],
        default: "100MB",
        unit: "size",
        about: "The largest file accepted.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_ENDPOINT",
        file: "uploads.s3_endpoint",
        go_file: &["connection_sources.s3_providers[].endpoint"],
        default: "",
        unit: "`http://` or `https://` URL",
        about: "Endpoint of an S3-compatible service (MinIO, Ceph); unset, AWS S3.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_REGION",
        file: "uploads.s3_region",
        go_file: &["connection_sources.s3_providers[].region"],
        default: "us-east-1",
        unit: "region",
        about: "The bucket's region.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_BUCKET",
        file: "uploads.s3_bucket",
        go_file: &["userupload.types[0].storage[].bucket"],
        default: "chat-files",
        unit: "name",
        about: "The bucket.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_ACCESS_KEY_ID",
        file: "uploads.s3_access_key_id",
        go_file: &["connection_sources.s3_providers[].key"],
        default: "",
        unit: "text",
        about: "Access key id, set together with `S3_SECRET_ACCESS_KEY`; neither set, the AWS \
                default credential chain.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_SECRET_ACCESS_KEY",
        file: "uploads.s3_secret_access_key",
        go_file: &["connection_sources.s3_providers[].pass"],
        default: "",
        unit: "secret",
        about: "Secret access key, set together with `S3_ACCESS_KEY_ID`.",
    },
    Setting {
        group: UPLOADS,
        env: "S3_USE_PATH_STYLE",
        file: "uploads.s3_use_path_style",
        go_file: &[],
        default: "",
        unit: "true/false (also 1/0, yes/no)",
        about: "Path-style bucket addressing. Unset, it is on for an `S3_ENDPOINT` outside \
                amazonaws.com (MinIO and Ceph need it) and off otherwise.",
    },
    // Notifications
    Setting {
        group: NOTIFICATIONS,
        env: "SMTP_HOST",
        file: "",
        go_file: &["mail.engines.smtp[0].host"],
        default: "",
        unit: "host name or IP address",
        about: "SMTP server for staff email.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMTP_PORT",
        file: "",
        go_file: &["mail.engines.smtp[0].port"],
        default: "587",
        unit: "TCP port",
        about: "SMTP port.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMTP_USER",
        file: "",
        go_file: &["mail.engines.smtp[0].{user,username}"],
        default: "",
        unit: "text",
        about: "SMTP user name, set together with `SMTP_PASS`.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMTP_PASS",
        file: "",
        go_file: &["mail.engines.smtp[0].{pass,password}"],
        default: "",
        unit: "secret",
        about: "SMTP password, set together with `SMTP_USER`.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMTP_TLS",
        file: "",
        go_file: &[],
        default: "starttls",
        unit: "starttls, tls or none",
        about: "How the SMTP connection is encrypted: STARTTLS, TLS from the start, or not at \
                all (with a password only to a loopback host).",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SES_REGION",
        file: "",
        go_file: &["mail.engines.ses[0].region"],
        default: "",
        unit: "region",
        about: "Send staff email through Amazon SES v2 in this region.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SES_ENDPOINT",
        file: "",
        go_file: &["mail.engines.ses[0].endpoint"],
        default: "",
        unit: "URL",
        about: "Another SES v2 endpoint than AWS's for the region.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SES_ACCESS_KEY_ID",
        file: "",
        go_file: &["mail.engines.ses[0].{accessKeyId,key}"],
        default: "",
        unit: "text",
        about: "SES access key id; unset, the AWS default credential chain.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SES_SECRET_ACCESS_KEY",
        file: "",
        go_file: &["mail.engines.ses[0].{secretAccessKey,pass}"],
        default: "",
        unit: "secret",
        about: "SES secret access key.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "EMAIL_FROM",
        file: "",
        go_file: &[
            "mail.engines.smtp[0].{from,fromEmail,defaultEmail}",
            "mail.engines.ses[0].{from,fromEmail,defaultEmail}",
            "mail.{defaultFromEmail,fromEmail}",
        ],
        default: "",
        unit: "email address",
        about: "Sender of staff email; required by either email channel.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "EMAIL_FROM_NAME",
        file: "",
        go_file: &["mail.defaultFromName"],
        default: "",
        unit: "text",
        about: "Display name of the sender.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "EMAIL_REPLY_TO",
        file: "",
        go_file: &["mail.replyToEmail"],
        default: "",
        unit: "email address",
        about: "Reply-To address of staff email.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "ADMIN_EMAILS",
        file: "",
        go_file: &["notification.adminEmails", "mail.adminEmail"],
        default: "",
        unit: "email list",
        about: "Staff addresses that get an email per help request.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "ADMIN_PHONES",
        file: "",
        go_file: &["notification.adminPhones"],
        default: "",
        unit: "phone number list",
        about: "Staff numbers that get an SMS per help request.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMS_ACCOUNT_SID",
        file: "",
        go_file: &["sms.accountSID"],
        default: "",
        unit: "letters and digits",
        about: "Account of the Twilio-compatible SMS API.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMS_AUTH_TOKEN",
        file: "",
        go_file: &["sms.authToken"],
        default: "",
        unit: "secret",
        about: "Auth token of the SMS API.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMS_FROM_NUMBER",
        file: "",
        go_file: &["sms.fromNumber"],
        default: "",
        unit: "phone number",
        about: "Sender number of the SMS.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "SMS_API_BASE",
        file: "",
        go_file: &["sms.apiBase"],
        default: "https://api.twilio.com",
        unit: "URL",
        about: "Base URL of the Twilio-compatible SMS API.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "NOTIFY_WEBHOOK_URL",
        file: "",
        go_file: &[],
        default: "",
        unit: "URL",
        about: "Receives one JSON `POST` per help request.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "NOTIFY_WEBHOOK_SECRET",
        file: "",
        go_file: &[],
        default: "",
        unit: "secret",
        about: "Signs each webhook body: header `X-Chatbox-Signature: sha256=<hex>`, the \
                HMAC-SHA256 of the raw body keyed with this string.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "ADMIN_PANEL_URL",
        file: "chatbox.admin_panel_url",
        go_file: &["notification.adminPanelURL"],
        default: "",
        unit: "URL",
        about: "Base URL of the admin pages, for the links in notifications.",
    },
    Setting {
        group: NOTIFICATIONS,
        env: "NOTIFY_RETRY_INTERVAL",
        file: "chatbox.notify_retry_interval",
        go_file: &[],
        default: "30s",
        unit: "duration",
        about: "How often undelivered notifications are retried; they are also retried at \
                startup.",
    },
    // LLM providers
    Setting {
        group: PROVIDERS,
        env: "LLM_PROVIDER_<N>_{ID,NAME,TYPE,ENDPOINT,API_KEY,MODEL}",
        file: "llm.providers[].{id,name,type,endpoint,api_key,model}",
        go_file: &[
            "llm.providers[].apiKey",
            "chatbox.llm.providers[].{id,name,type,endpoint,api_key,apiKey,model}",
        ],
        default: "",
        unit: "text per field",
        about: "One provider per `N` from 1 to 10, gaps allowed: `ID` (what a client selects; \
                required), `NAME` (shown to users; defaults to the id), `TYPE` (`openai`, \
                `anthropic` or `dify`), `ENDPOINT` (the vendor's base URL), `API_KEY`, `MODEL` \
                (the vendor's model name; not needed for Dify). The environment wins per `N`, \
                and `LLM_PROVIDER_<N>_API_KEY` alone overrides the key of the file's `N`-th \
                entry, as in the Go service.",
    },
    Setting {
        group: PROVIDERS,
        env: "LLM_PROVIDER_<N>_VISION",
        file: "llm.providers[].vision",
        go_file: &["chatbox.llm.providers[].vision"],
        default: "false",
        unit: "true/false (also 1/0, yes/no)",
        about: "The model takes images: a photo a user sends is included in the request, not \
                only described in text. For `openai` and `anthropic` providers.",
    },
    Setting {
        group: PROVIDERS,
        env: "LLM_PROVIDER_<N>_TRANSCRIPTION_MODEL",
        file: "llm.providers[].transcription_model",
        go_file: &["chatbox.llm.providers[].transcription_model"],
        default: "",
        unit: "model name",
        about: "The speech-to-text model this provider's `/audio/transcriptions` runs; unset on \
                the `TRANSCRIPTION_PROVIDER`, `whisper-1`.",
    },
    Setting {
        group: PROVIDERS,
        env: "TRANSCRIPTION_PROVIDER",
        file: "",
        go_file: &[],
        default: "",
        unit: "provider id",
        about: "The provider that transcribes voice notes: the id of a configured `openai` \
                provider (its `/audio/transcriptions`). Unset, voice notes are kept \
                untranscribed.",
    },
    // Logging
    Setting {
        group: LOGGING,
        env: "LOG_LEVEL",
        file: "log.level",
        go_file: &[],
        default: "info",
        unit: "trace, debug, info, warn or error",
        about: "The log level. The Go spellings `warning`, `fatal` and `panic` read as `warn`, \
                `error` and `error`.",
    },
    Setting {
        group: LOGGING,
        env: "LOG_FORMAT",
        file: "log.format",
        go_file: &[],
        default: "text",
        unit: "text or json",
        about: "`json` writes one JSON object per line.",
    },
    Setting {
        group: LOGGING,
        env: "RUST_LOG",
        file: "",
        go_file: &[],
        default: "",
        unit: "tracing filter directives",
        about: "Overrides `LOG_LEVEL` with full filter directives, such as \
                `info,mongodb=debug`.",
    },
    // Features
    Setting {
        group: FEATURES,
        env: "ENABLE_METRICS",
        file: "features.metrics",
        go_file: &[],
        default: "true",
        unit: "true/false",
        about: "Serve Prometheus metrics at `P/metrics/prometheus`.",
    },
    Setting {
        group: FEATURES,
        env: "ENABLE_ADMIN_TAKEOVER",
        file: "features.admin_takeover",
        go_file: &[],
        default: "true",
        unit: "true/false",
        about: "Admins may take conversations over.",
    },
    Setting {
        group: FEATURES,
        env: "ENABLE_HELP_REQUESTS",
        file: "features.help_requests",
        go_file: &[],
        default: "true",
        unit: "true/false",
        about: "Users may ask for a human.",
    },
    Setting {
        group: FEATURES,
        env: "ENABLE_FILE_UPLOADS",
        file: "features.file_uploads",
        go_file: &[],
        default: "true",
        unit: "true/false",
        about: "Users may send files and photos.",
    },
    Setting {
        group: FEATURES,
        env: "ENABLE_VOICE_MESSAGES",
        file: "features.voice_messages",
        go_file: &[],
        default: "true",
        unit: "true/false",
        about: "Users may send voice notes.",
    },
];

/// Keys of the Go service's file that are read to locate other keys, with what they do.
pub const GO_FILE_READ: &[(&str, &str)] = &[
    (
        "userupload.types[0].storage[].type",
        "the first storage entry of type `s3` is the one read",
    ),
    (
        "userupload.types[0].storage[].target",
        "names the `[[connection_sources.s3_providers]]` entry whose endpoint, region and keys \
         are read; unset, the first one",
    ),
    (
        "connection_sources.s3_providers[].name",
        "what `storage.target` names",
    ),
];

/// Keys of the Go service's file that are accepted but unused, with the reason the startup
/// warning gives.
pub const GO_FILE_UNUSED: &[(&str, &str)] = &[
    (
        "chatbox.websocket.read_buffer_size",
        "buffers grow per frame; MAX_MESSAGE_SIZE bounds a frame",
    ),
    (
        "chatbox.websocket.write_buffer_size",
        "buffers grow per frame; MAX_MESSAGE_SIZE bounds a frame",
    ),
    (
        "log.dir",
        "logs go to standard output only (read-only root filesystem); collect them from the \
         container",
    ),
    ("log.standardOutput", "logs always go to standard output"),
    (
        "dbs.verbose",
        "driver logging is chosen with RUST_LOG (e.g. RUST_LOG=info,mongodb=debug)",
    ),
    ("userupload.site", "files are served at P/files/{file_id}"),
    (
        "userupload.types[0].entryName",
        "uploads are posted to P/upload",
    ),
    (
        "userupload.types[0].prefix",
        "files are served at P/files/{file_id}",
    ),
    (
        "userupload.types[0].tmpPath",
        "uploads stream to storage without a temporary file",
    ),
    (
        "userupload.types[1..]",
        "one upload type is served (POST P/upload); the first entry's limits apply",
    ),
    (
        "mail.engines.mock",
        "notifications are tested against real protocol sinks; LogNotifier serves dev mode",
    ),
    (
        "mail.engines.smtp[].name",
        "one SMTP server is used; its name is not needed",
    ),
    (
        "mail.engines.ses[].name",
        "one SES account is used; its name is not needed",
    ),
    (
        "mail.engines.smtp[1..]",
        "only the first SMTP engine is used",
    ),
    ("mail.engines.ses[1..]", "only the first SES engine is used"),
    ("kubernetes", "the server does not call the Kubernetes API"),
];
