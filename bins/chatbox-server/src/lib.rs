//! The Chatbox server as a library: configuration (TOML + environment, validated with every bad
//! key listed), the choice of concrete backends (MongoDB when `MONGO_URI` is set, else the
//! embedded SQLite store; configured LLM providers, else the demo model in dev mode), dev mode,
//! signals and graceful shutdown. It is the only crate that names concrete backends and reads
//! the environment; host apps can embed [`App`] instead of running the binary, serving through
//! [`listener::nodelay`] as the binary does.

pub mod app;
pub mod config;
pub mod demo;
pub mod dev;
pub mod duration;
pub mod env;
pub mod error;
pub mod healthcheck;
pub mod listener;
pub mod secret;
pub mod telemetry;

pub use app::App;
pub use config::{Args, Settings, load};
pub use error::ServerError;

/// The server's name and version, as printed at startup.
pub fn banner() -> String {
    format!("chatbox-server {}", env!("CARGO_PKG_VERSION"))
}

/// Parses command-line arguments (`--config PATH`, `--dev`, a subcommand); `Err` carries the
/// usage text.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let usage = "usage: chatbox-server [check-data | healthcheck | config-reference] [--config PATH] [--dev]";
    let mut out = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dev" => out.dev = true,
            "check-data" => out.check_data = true,
            "healthcheck" => out.healthcheck = true,
            "config-reference" => out.config_reference = true,
            "--config" => {
                out.config = Some(
                    it.next()
                        .ok_or_else(|| format!("--config needs a path\n{usage}"))?
                        .into(),
                )
            }
            "--help" | "-h" => return Err(usage.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{usage}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_names_the_version() {
        assert_eq!(
            banner(),
            format!("chatbox-server {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn arguments_parse() {
        let a = parse_args([
            "--dev".to_owned(),
            "--config".to_owned(),
            "x.toml".to_owned(),
        ])
        .unwrap();
        assert!(a.dev && !a.check_data);
        assert_eq!(a.config.unwrap().to_str(), Some("x.toml"));
        assert!(parse_args(["check-data".to_owned()]).unwrap().check_data);
        assert!(
            parse_args(["config-reference".to_owned()])
                .unwrap()
                .config_reference
        );
        assert!(parse_args(["--config".to_owned()]).is_err());
        assert!(
            parse_args(["--bogus".to_owned()])
                .unwrap_err()
                .contains("--bogus")
        );
    }
}
