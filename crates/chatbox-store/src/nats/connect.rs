//! Turning a [`NatsConfig`] into async-nats connect options and server addresses.
//!
//! Guarantees:
//! - `user:password@` in a server URL authenticates with that user and password, and a lone
//!   `token@` with that token (percent-decoded), as in the other NATS clients; the addresses
//!   handed to async-nats carry no credentials, so nothing it logs can show them.
//! - Every connect attempt is bounded by `op_timeout`, requests (mail, JetStream API) too.
//! - A problem with the config is an [`Error::InvalidConfig`] naming the field, never quoting a
//!   URL (it may hold a secret).

use async_nats::{ConnectOptions, ServerAddr};
use chatbox_core::BrokerError;

use super::config::NatsConfig;
use crate::error::{Error, FieldProblem};

/// The config's name in errors.
const WHAT: &str = "NATS broker";

/// The connect options and server addresses `config` asks for.
pub(super) async fn options(
    config: &NatsConfig,
) -> Result<(ConnectOptions, Vec<ServerAddr>), BrokerError> {
    let mut options = ConnectOptions::new()
        .name(&config.replica)
        .connection_timeout(config.op_timeout)
        .request_timeout(Some(config.op_timeout))
        .require_tls(config.require_tls);
    let mut servers = Vec::new();
    let mut userinfo = None;
    for (i, server) in config.url.split(',').map(str::trim).enumerate() {
        let addr: ServerAddr = server
            .parse()
            .map_err(|e| invalid("url", format!("server {} is not a NATS URL: {e}", i + 1)))?;
        let mut url = addr.into_inner();
        let user = decode(url.username());
        let password = url.password().and_then(decode);
        if let (None, Some(user)) = (&userinfo, user.filter(|u| !u.is_empty())) {
            userinfo = Some((user, password));
        }
        // Neither can fail on a URL that has a host, which every NATS URL has.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let addr = ServerAddr::from_url(url)
            .map_err(|e| invalid("url", format!("server {} is not a NATS URL: {e}", i + 1)))?;
        servers.push(addr);
    }
    options = match userinfo {
        Some((user, Some(password))) => options.user_and_password(user, password),
        Some((token, None)) => options.token(token),
        None => options,
    };
    if let Some(ca) = &config.tls_ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some(creds) = &config.credentials {
        options = options.credentials_file(creds).await.map_err(|e| {
            invalid(
                "credentials",
                format!("cannot be read as a NATS .creds file: {e}"),
            )
        })?;
    }
    Ok((options, servers))
}

/// The error of an invalid config.
pub(super) fn invalid_config(problems: Vec<FieldProblem>) -> BrokerError {
    BrokerError::Backend(Box::new(Error::InvalidConfig {
        what: WHAT,
        problems,
    }))
}

fn invalid(key: &'static str, reason: String) -> BrokerError {
    invalid_config(vec![FieldProblem { key, reason }])
}

/// Percent-decodes a URL's user or password; `None` when it is not UTF-8.
fn decode(value: &str) -> Option<String> {
    let raw = value.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let escaped = (b == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_percent_decoded() {
        assert_eq!(decode("ann").as_deref(), Some("ann"));
        assert_eq!(decode("p%40ss%3Aw%C3%A9").as_deref(), Some("p@ss:wé"));
        assert_eq!(decode("100%").as_deref(), Some("100%"));
        assert_eq!(decode("%FF"), None);
    }

    #[tokio::test]
    async fn credentials_leave_the_addresses() {
        let config = NatsConfig {
            url: "nats://ann:s3cret@a.example:4222, tls://tok3n@b.example".into(),
            replica: "r1".into(),
            ..NatsConfig::default()
        };
        let servers = match options(&config).await {
            Ok((_, servers)) => servers,
            Err(e) => panic!("options: {e}"),
        };
        let urls: Vec<&str> = servers.iter().map(ServerAddr::as_url_str).collect();
        assert_eq!(urls, ["nats://a.example:4222", "tls://b.example"]);
    }

    #[tokio::test]
    async fn a_bad_url_is_a_config_error_that_does_not_quote_it() {
        let config = NatsConfig {
            url: "http://ann:s3cret@a.example".into(),
            replica: "r1".into(),
            ..NatsConfig::default()
        };
        let Err(BrokerError::Backend(e)) = options(&config).await else {
            panic!("an http URL is refused");
        };
        let shown = e.to_string();
        assert!(
            shown.contains("url") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
