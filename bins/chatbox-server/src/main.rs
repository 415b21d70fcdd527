//! The `chatbox-server` binary: parse arguments, load settings, build, serve until SIGTERM or
//! Ctrl-C, shut down gracefully.

use std::net::SocketAddr;

use anyhow::Context;
use chatbox_server::env::ProcessEnv;
use chatbox_server::{App, banner, dev, load, parse_args};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args(std::env::args().skip(1)).map_err(anyhow::Error::msg)?;
    if args.config_reference {
        // The reference is the command's output (`docs/configuration.md`): printed, not logged,
        // and it needs no configuration.
        #[allow(clippy::print_stdout)]
        {
            print!("{}", chatbox_server::config::reference_markdown());
        }
        return Ok(());
    }
    let settings = load(&args, &ProcessEnv)?;
    if args.healthcheck {
        return chatbox_server::healthcheck::check(&settings)
            .await
            .map_err(anyhow::Error::msg);
    }
    init_logging(&settings.log);
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    if args.check_data {
        return check_data_report(&settings).await;
    }
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

/// `RUST_LOG` (full filter directives) wins over `LOG_LEVEL`; `LOG_FORMAT=json` for one JSON
/// object per line.
fn init_logging(log: &chatbox_server::config::LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if log.json {
        builder.json().init();
    } else {
        builder.init();
    }
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

/// Prints what `check-data` found; fails (exit status 1) when anything is unreadable.
async fn check_data_report(settings: &chatbox_server::config::Settings) -> anyhow::Result<()> {
    let problems = chatbox_server::app::check_data(settings).await?;
    // The report is the command's output: printed, not logged.
    #[allow(clippy::print_stdout)]
    {
        for p in &problems {
            match p.message {
                Some(i) => println!("session {} message {i}: {}", p.session, p.reason),
                None => println!("session {}: {}", p.session, p.reason),
            }
        }
        println!("check-data: {} unreadable part(s)", problems.len());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} unreadable part(s) in the collection", problems.len())
    }
}
