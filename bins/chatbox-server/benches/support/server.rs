//! The server under test as its own process (optionally pinned to its own core when the machine
//! has two), and what `/proc` says about it (CPU time, resident memory). Shared by the load and
//! upload benchmarks (`#[path]`); each uses what it needs.

#![allow(dead_code)] // each benchmark binary uses part of this module

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::SECRET;

/// The core the server runs on (the load client, fake vendor and echo baseline use the other).
pub const SERVER_CORE: &str = "1";
/// The core of the load generator.
pub const LOAD_CORE: &str = "0";

/// True when the server and the load each get a core of their own. Decided once, before the
/// load generator pins itself (after which `available_parallelism` reports one core).
pub fn pinning() -> bool {
    static PINNING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNING.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
            && Command::new("taskset")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// Pins the calling thread, and every thread it starts afterwards, to the load core.
pub fn pin_self() {
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-cp", LOAD_CORE, &pid])
        .stdout(Stdio::null())
        .status();
}

/// A command that runs `program` on the server core (plain when pinning is unavailable).
pub fn on_server_core(program: &str) -> Command {
    if pinning() {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", SERVER_CORE, program]);
        cmd
    } else {
        Command::new(program)
    }
}

/// This bench binary re-run on the server core as a baseline server (`key=value` in its
/// environment says which), and the address it prints on its first line.
pub fn spawn_self(key: &str, value: &str) -> (Process, SocketAddr) {
    let exe = std::env::current_exe().unwrap();
    let mut child = on_server_core(exe.to_str().unwrap())
        .env(key, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().parse().unwrap();
    (Process { child }, addr)
}

/// A child process that is killed when dropped.
pub struct Process {
    pub child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    fn stat_field(&self, file: &str, key: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Resident memory (kB).
    pub fn rss_kb(&self) -> u64 {
        self.stat_field("status", "VmRSS:")
    }

    /// Peak resident memory (kB).
    pub fn peak_rss_kb(&self) -> u64 {
        self.stat_field("status", "VmHWM:")
    }

    /// CPU time the process has used (user + system, all threads).
    pub fn cpu(&self) -> Duration {
        cpu_of(&self.child.id().to_string())
    }

    /// User and system CPU time, separately.
    pub fn cpu_split(&self) -> (Duration, Duration) {
        cpu_split_of(&self.child.id().to_string())
    }
}

/// CPU time the load generator (this process) has used.
pub fn own_cpu() -> Duration {
    cpu_of("self")
}

fn cpu_of(pid: &str) -> Duration {
    let (user, system) = cpu_split_of(pid);
    user + system
}

/// User and system CPU time of process `pid` (`self` for this one).
pub fn cpu_split_of(pid: &str) -> (Duration, Duration) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after `)`.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / clock_ticks() as f64);
    (secs(ticks(11)), secs(ticks(12)))
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The server under test; dropping it stops the process and removes its data directory.
pub struct Server {
    pub process: Process,
    pub addr: SocketAddr,
    /// The server's data directory (on tmpfs), when the bench made one.
    pub data: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// Starts the release server with `extra` settings (its provider endpoint among them) on top
/// of the benchmarks' common ones; on the server core when `pinned`.
pub async fn start(pinned: bool, extra: &[(&str, String)]) -> Server {
    // A port picked by the OS can still be taken by a client socket's source port before the
    // server binds it; try a few.
    for _ in 0..10 {
        if let Some(server) = try_start(pinned, extra).await {
            return server;
        }
    }
    panic!("server did not start");
}

async fn try_start(pinned: bool, extra: &[(&str, String)]) -> Option<Server> {
    // Probed on every address, as the server listens: a port free on 127.0.0.1 alone can be the
    // source port of a load connection from 127.0.0.2–4 (the server would fail with "address in
    // use" after an idle run of many thousand connections).
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = PathBuf::from(format!(
        "/dev/shm/chatbox-bench-{}-{port}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&data);
    // `BENCH_SERVER_BIN` runs another build (say, main's before a change) under the same load.
    let bin = std::env::var("BENCH_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_chatbox-server").to_owned());
    let mut command = if pinned {
        on_server_core(&bin)
    } else {
        Command::new(&bin)
    };
    let child = command
        .env_clear()
        .envs([
            ("JWT_SECRET", SECRET.to_owned()),
            ("SERVER_PORT", port.to_string()),
            ("CHATBOX_DATA_DIR", data.display().to_string()),
            ("RUST_LOG", "error".into()),
            ("LLM_PROVIDER_1_ID", "fake".into()),
            ("LLM_PROVIDER_1_TYPE", "openai".into()),
            ("LLM_PROVIDER_1_API_KEY", "sk-bench".into()),
            ("LLM_PROVIDER_1_MODEL", "bench".into()),
        ])
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut server = Server {
        process: Process { child },
        addr,
        data: Some(data),
    };
    for _ in 0..600 {
        if let Ok((200, _)) = chatbox_ws::testing::http(addr, "GET", "/chatbox/healthz", &[]).await
        {
            return Some(server);
        }
        if let Ok(Some(_)) = server.process.child.try_wait() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
