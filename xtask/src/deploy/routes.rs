//! The manifests' HTTP paths against the real router: the server binary runs (dev mode, on a
//! free loopback port, with the ConfigMap's path prefix) and every probe path and the Prometheus
//! scrape path must answer 200 (loopback is an allowed metrics network), every ingress path
//! anything but 404. A renamed route or prefix then fails here, not in a
//! cluster whose pods never become ready.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::invariants::{config_value, items, of_kind};

/// How long the server may take to answer its health check.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's default path prefix.
const DEFAULT_PREFIX: &str = "/chatbox";

/// What a path must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly 200 (a probe).
    Ok,
    /// Anything but 404 (an ingress path: a redirect or a 401 still means the route exists).
    Served,
}

/// One path a manifest sends traffic to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Where it comes from, for messages (`overlays/production Deployment/chatbox readinessProbe`).
    pub source: String,
    /// The request path.
    pub path: String,
    /// What it must answer.
    pub expect: Expect,
}

/// The prefix the set's server runs with (its ConfigMap's `CHATBOX_PATH_PREFIX`) and every
/// probe and ingress path of the set.
pub fn routes_of(set: &str, docs: &[Value]) -> (String, Vec<Route>) {
    let mut prefix = None;
    let mut routes = Vec::new();
    for d in of_kind(docs, "Deployment") {
        prefix = prefix.or_else(|| config_value(docs, d, "CHATBOX_PATH_PREFIX"));
        if let Some(path) =
            d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"].as_str()
        {
            routes.push(Route {
                source: format!(
                    "{set} Deployment/{} prometheus.io/path",
                    d["metadata"]["name"]
                ),
                path: path.to_owned(),
                expect: Expect::Ok,
            });
        }
        let spec = &d["spec"]["template"]["spec"];
        for c in items(&spec["containers"]) {
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                if let Some(path) = c[probe]["httpGet"]["path"].as_str() {
                    routes.push(Route {
                        source: format!("{set} Deployment/{} {probe}", d["metadata"]["name"]),
                        path: path.to_owned(),
                        expect: Expect::Ok,
                    });
                }
            }
        }
    }
    for ing in of_kind(docs, "Ingress") {
        for rule in items(&ing["spec"]["rules"]) {
            for p in items(&rule["http"]["paths"]) {
                if let Some(path) = p["path"].as_str() {
                    routes.push(Route {
                        source: format!("{set} Ingress/{}", ing["metadata"]["name"]),
                        path: path.to_owned(),
                        expect: Expect::Served,
                    });
                }
            }
        }
    }
    (prefix.unwrap_or_else(|| DEFAULT_PREFIX.into()), routes)
}

/// Starts `server` once per prefix and requests every route; returns the violations.
pub fn check(server: &Path, sets: &[(String, Vec<Route>)]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut prefixes: Vec<&String> = sets.iter().map(|(p, _)| p).collect();
    prefixes.sort();
    prefixes.dedup();
    for prefix in prefixes {
        let running = RunningServer::start(server, &[("CHATBOX_PATH_PREFIX", prefix)], &["--dev"])?;
        for (_, routes) in sets.iter().filter(|(p, _)| p == prefix) {
            for r in routes {
                let status = http_status(running.addr, &r.path)
                    .with_context(|| format!("GET {} ({})", r.path, r.source))?;
                let fine = match r.expect {
                    Expect::Ok => status == 200,
                    Expect::Served => status != 404,
                };
                if !fine {
                    let wanted = match r.expect {
                        Expect::Ok => "200",
                        Expect::Served => "a served route (not 404)",
                    };
                    out.push(format!(
                        "{}: GET {} answered {status}, wanted {wanted} (the server runs with CHATBOX_PATH_PREFIX={prefix})",
                        r.source, r.path
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The server binary in the profile folder a test binary runs from (`target/<profile>/deps/..`),
/// so a test under `cargo llvm-cov` finds the build of that same run.
#[cfg(test)]
pub fn server_next_to_test_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("the test binary's path")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary's profile folder")?;
    let server = profile_dir.join("chatbox-server");
    if !server.exists() {
        bail!(
            "{} is missing: run `cargo build -p chatbox-server` first",
            server.display()
        );
    }
    Ok(server)
}

/// A server process on a free loopback port; stopped on drop.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl RunningServer {
    /// Starts `program args` with only `env` (plus its port and a fresh data directory, its
    /// working directory) and waits until `P/healthz` answers 200.
    pub fn start(program: &Path, env: &[(&str, &str)], args: &[&str]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "chatbox-deploy-check-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(dir.join("data"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&dir)
            .env_clear()
            .env("SERVER_PORT", port.to_string())
            .env("CHATBOX_DATA_DIR", dir.join("data"))
            .env("RUST_LOG", "warn");
        // Under `cargo llvm-cov` an instrumented server writes its profile where it is told.
        if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
            cmd.env("LLVM_PROFILE_FILE", profile);
        }
        let prefix = env
            .iter()
            .find(|(k, _)| *k == "CHATBOX_PATH_PREFIX")
            .map_or(DEFAULT_PREFIX, |(_, v)| v);
        Self::spawn(cmd.envs(env.iter().copied()), port, dir, prefix)
    }

    /// Spawns a prepared command that will listen on `port` and waits for `prefix/healthz`.
    pub fn spawn(cmd: &mut Command, port: u16, dir: PathBuf, prefix: &str) -> anyhow::Result<Self> {
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("start {:?}", cmd.get_program()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = RunningServer { addr, child, dir };
        let health = format!("{prefix}/healthz");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if http_status(addr, &health).is_ok_and(|s| s == 200) {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited at startup ({status}):\n{}",
                    server.output()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "GET {health} did not answer 200 within {STARTUP_TIMEOUT:?}:\n{}",
                    server.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Waits up to `limit` for the process to exit on its own.
    pub fn wait_exit(
        &mut self,
        limit: Duration,
    ) -> anyhow::Result<Option<std::process::ExitStatus>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(None)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The status code of `GET path` (HTTP/1.1, no redirects followed).
pub fn http_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n") && head.len() < 256 {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no HTTP status line: {line:?}"))
}
