//! The `chatbox-server` binary: parse arguments, load settings, build, serve until SIGTERM or
//! Ctrl-C, shut down gracefully.

use std::net::SocketAddr;

use anyhow::Context;
use chatbox_server::env::ProcessEnv;
use chatbox_server::{App, banner, dev, load, parse_args};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = parse_args(std::env::args().skip(1)).map_err(anyhow::Error::msg)?;
    let settings = load(&args, &ProcessEnv)?;
    tracing::info!("{}", banner());
    let app = App::build(&settings).await?;
    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    if settings.dev {
        let local = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        // The dev banner is the product's interface in dev mode: printed, not logged.
        #[allow(clippy::print_stdout)]
        {
            println!("{}", dev::banner(&settings, &local));
        }
    }
    tracing::info!(%addr, prefix = %settings.path_prefix, "listening");
    app.serve(listener, shutdown_signal(), settings.shutdown_timeout)
        .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
