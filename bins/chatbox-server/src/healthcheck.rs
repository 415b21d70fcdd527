//! `chatbox-server healthcheck`: asks the running server on this host for `P/healthz` and exits
//! 0 on 200, 1 otherwise — the container `HEALTHCHECK` of an image with no shell or `wget`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Settings;

/// The whole exchange is bounded by this.
const DEADLINE: Duration = Duration::from_secs(3);

/// GETs `P/healthz` on the loopback address at the configured port; `Err` says why it failed.
pub async fn check(settings: &Settings) -> Result<(), String> {
    let path = format!("{}/healthz", settings.path_prefix);
    let host = if settings.host.is_ipv6() {
        "[::1]"
    } else {
        "127.0.0.1"
    };
    let addr = format!("{host}:{}", settings.port);
    let exchange = async {
        let mut stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send the request: {e}"))?;
        let mut head = vec![0u8; 64];
        let n = stream
            .read(&mut head)
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status_line = String::from_utf8_lossy(&head[..n]);
        if status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(format!(
                "{path} answered {:?}",
                status_line.lines().next().unwrap_or_default()
            ))
        }
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| format!("{path} did not answer within {DEADLINE:?}"))?
}
