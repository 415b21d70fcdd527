//! Running the server binary: environment, readiness, SIGTERM, and its output.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chatbox_ws::testing;
use tokio::process::{Child, Command};

/// The JWT secret the tests configure.
pub const SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq";
/// The longest the server may take to become healthy.
const START_GUARD: Duration = Duration::from_secs(30);

/// Which store the server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The embedded store in this directory.
    Sqlite(PathBuf),
    /// MongoDB at this URI, in this database.
    Mongo { uri: String, database: String },
}

impl Backend {
    /// A fresh embedded store in a new temporary directory.
    pub fn sqlite(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("chatbox-it-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Backend::Sqlite(dir)
    }

    /// A fresh MongoDB database on the test Mongo-wire server. Fails loudly when none runs.
    pub fn mongo(name: &str) -> Self {
        let uri = std::env::var("CHATBOX_TEST_MONGO_URI").unwrap_or_else(|_| {
            panic!(
                "CHATBOX_TEST_MONGO_URI is not set: these tests need a MongoDB-wire server. Run \
                 `cargo xtask test -p chatbox-server` (it starts one), or start `secantusd-py \
                 --port 27217 --storage-path :memory:` and set CHATBOX_TEST_MONGO_URI=mongodb://127.0.0.1:27217"
            )
        });
        let database = format!("it_{}_{name}", std::process::id());
        Backend::Mongo { uri, database }
    }

    /// Both backends, each fresh.
    pub fn both(name: &str) -> [Backend; 2] {
        [Backend::sqlite(name), Backend::mongo(name)]
    }
}

/// A running server process.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary with `env` (and nothing else from the test's environment) in `cwd`.
pub async fn start(env: &[(String, String)], args: &[&str], cwd: &Path) -> Server {
    let port = free_port();
    let mut env = env.to_vec();
    env.insert(0, ("SERVER_PORT".into(), port.to_string()));
    start_at(port, "/chatbox", &env, args, cwd).await
}

/// Starts the binary, which is configured (by `env` or its config file) to listen on `port`
/// under `prefix`, and waits until `prefix/healthz` answers.
pub async fn start_at(
    port: u16,
    prefix: &str,
    env: &[(String, String)],
    args: &[&str],
    cwd: &Path,
) -> Server {
    std::fs::create_dir_all(cwd).unwrap();
    let log = cwd.join(format!("server-{port}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_chatbox-server"))
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Server { addr, child, log };
    let deadline = Instant::now() + START_GUARD;
    let health = format!("{prefix}/healthz");
    loop {
        if let Ok((200, _)) = testing::http(addr, "GET", &health, &[]).await {
            return server;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited at startup ({status}):\n{}", server.output());
        }
        assert!(
            Instant::now() < deadline,
            "server not healthy in time:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The server's environment for `backend` with one OpenAI-compatible provider at `endpoint`.
pub fn env_for(backend: &Backend, endpoint: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("JWT_SECRET", SECRET.to_owned()),
        (
            "ENCRYPTION_KEY",
            "0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("LLM_PROVIDER_1_ID", "fake".to_owned()),
        ("LLM_PROVIDER_1_NAME", "Fake".to_owned()),
        ("LLM_PROVIDER_1_TYPE", "openai".to_owned()),
        ("LLM_PROVIDER_1_ENDPOINT", endpoint.to_owned()),
        ("LLM_PROVIDER_1_API_KEY", "sk-fake".to_owned()),
        ("LLM_PROVIDER_1_MODEL", "fake-model".to_owned()),
        ("SHUTDOWN_TIMEOUT", "20s".to_owned()),
    ];
    match backend {
        Backend::Sqlite(dir) => env.push(("CHATBOX_DATA_DIR", dir.display().to_string())),
        Backend::Mongo { uri, database } => {
            env.push(("MONGO_URI", uri.clone()));
            env.push(("MONGO_DATABASE", database.clone()));
        }
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

impl Server {
    /// Everything the server printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the server is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the process at once (SIGKILL: no shutdown, nothing flushed) and waits for it.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// Waits for the process to exit (fails the test after `within`); returns whether it exited
    /// successfully.
    pub async fn wait_exit(&mut self, within: Duration) -> bool {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap().success(),
            Err(_) => panic!("server did not exit in time:\n{}", self.output()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `kill_on_drop` ends the process; this makes it immediate.
        let _ = self.child.start_kill();
    }
}
