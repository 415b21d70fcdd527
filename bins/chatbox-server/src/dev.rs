//! Dev mode's welcome: ready-to-use tokens and links, and a loud warning that this setup is not
//! for production.

use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use crate::config::Settings;

/// Lifetime of the tokens printed in dev mode.
const DEV_TOKEN_HOURS: i64 = 24;

/// Mints a token for `user_id` with `roles`, signed with the configured secret.
pub fn dev_token(settings: &Settings, user_id: &str, roles: &[&str]) -> String {
    let exp = Utc::now().timestamp() + DEV_TOKEN_HOURS * 3600;
    let claims = json!({"user_id": user_id, "name": user_id, "roles": roles, "exp": exp});
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(settings.edge.jwt_secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// The dev-mode banner: links that open the web UI's pages (CONTRACT §8) with ready tokens (the
/// page moves the token out of the address bar at once), for a user, and an admin token.
pub fn banner(settings: &Settings, base_url: &str) -> String {
    let p = &settings.path_prefix;
    let user = dev_token(settings, "demo-user", &[]);
    let admin = dev_token(settings, "demo-admin", &["admin"]);
    format!(
        "\n================================================================\n\
         Chatbox DEV MODE - NOT FOR PRODUCTION\n\
         embedded store, {}, generated JWT secret\n\
         ================================================================\n\
         health:         {base_url}{p}/healthz\n\
         user chat:      {base_url}{p}/chat.html?token={user}\n\
         user sessions:  {base_url}{p}/sessions.html?token={user}\n\
         user websocket: {}{p}/ws?token={user}\n\
         admin dashboard: {base_url}{p}/admin.html?token={admin}\n\
         admin token:    {admin}\n\
         (tokens are valid for {DEV_TOKEN_HOURS} h)\n",
        if settings.providers.is_empty() {
            "demo AI model"
        } else {
            "configured AI providers"
        },
        base_url.replacen("http", "ws", 1),
    )
}
