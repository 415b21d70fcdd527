//! Test services: the processes a full test run needs, started before the tests and stopped
//! after, with their addresses passed to the tests through environment variables.
//!
//! - A MongoDB-wire server (SecantusDB from PyPI, pinned), installed on first use into a Python
//!   venv under the cargo target directory; its URI goes in `CHATBOX_TEST_MONGO_URI`.
//!
//! `CHATBOX_REQUIRE_SERVICES=1` tells the tests that services were provided, so a missing one is
//! a failure, never a skip.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::process::run;

/// The pinned SecantusDB release.
const SECANTUS_PACKAGE: &str = "SecantusDB==0.7.0b3";
/// How long a service may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Running services; dropping this stops them.
pub struct Services {
    children: Vec<(String, Child)>,
    /// Environment variables the tests need.
    pub env: Vec<(String, String)>,
}

impl Drop for Services {
    fn drop(&mut self) {
        for (name, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("xtask: stopped {name}");
        }
    }
}

/// Starts every test service (reusing one whose address is already in the environment).
pub fn start(target_dir: &Path) -> anyhow::Result<Services> {
    let mut services = Services {
        children: Vec::new(),
        env: Vec::new(),
    };
    match std::env::var("CHATBOX_TEST_MONGO_URI") {
        Ok(uri) if !uri.is_empty() => {
            eprintln!("xtask: using the Mongo-wire server at {uri} from CHATBOX_TEST_MONGO_URI");
            services.env.push(("CHATBOX_TEST_MONGO_URI".into(), uri));
        }
        _ => {
            let (child, uri) = start_secantus(target_dir)?;
            services.children.push(("secantusd".into(), child));
            services.env.push(("CHATBOX_TEST_MONGO_URI".into(), uri));
        }
    }
    services
        .env
        .push(("CHATBOX_REQUIRE_SERVICES".into(), "1".into()));
    Ok(services)
}

fn venv_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("test-services").join("venv")
}

/// Installs SecantusDB into the venv unless it is there already; returns the server program.
pub fn ensure_secantus(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(target_dir);
    let program = venv.join("bin").join("secantusd-py");
    let marker = venv.join(".installed-secantus");
    if program.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == SECANTUS_PACKAGE) {
        return Ok(program);
    }
    eprintln!(
        "xtask: installing {SECANTUS_PACKAGE} into {}",
        venv.display()
    );
    std::fs::create_dir_all(&venv)?;
    let venv_str = venv.to_string_lossy().into_owned();
    run(target_dir, "python3", &["-m", "venv", &venv_str], &[])?;
    let pip = venv.join("bin").join("pip").to_string_lossy().into_owned();
    run(
        target_dir,
        &pip,
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SECANTUS_PACKAGE,
        ],
        &[],
    )?;
    if !program.exists() {
        bail!(
            "{SECANTUS_PACKAGE} installed but {} is missing",
            program.display()
        );
    }
    std::fs::write(&marker, SECANTUS_PACKAGE)?;
    Ok(program)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

fn start_secantus(target_dir: &Path) -> anyhow::Result<(Child, String)> {
    let program = ensure_secantus(target_dir)?;
    let port = free_port()?;
    let log_path = target_dir.join("test-services").join("secantusd.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new(&program)
        .args(["--port", &port.to_string(), "--storage-path", ":memory:"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("start {}", program.display()))?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "secantusd exited at startup ({status}); see {}",
                log_path.display()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!(
                "secantusd did not accept connections within {STARTUP_TIMEOUT:?}; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let uri = format!("mongodb://127.0.0.1:{port}");
    eprintln!("xtask: Mongo-wire server (SecantusDB) listening at {uri}");
    Ok((child, uri))
}
