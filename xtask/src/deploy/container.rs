//! `cargo xtask container-check`: the binary the Dockerfile builds, built the same way (release,
//! `x86_64-unknown-linux-musl`, `--locked`), shown to be static, then run as the image runs it:
//! as uid 65532, with a production configuration (no dev mode) and a read-only root filesystem
//! where only the data directory is writable. Its `P/healthz` must answer 200, its `healthcheck`
//! subcommand (the image's HEALTHCHECK) must pass, and SIGTERM must stop it cleanly.
//!
//! As root with `unshare` and `setpriv` (util-linux), the read-only root is real: a private
//! mount namespace remounts `/` read-only and binds the data directory writable. Elsewhere the
//! check runs the binary as it is and says loudly that the read-only root was not emulated.
//!
//! Not part of `cargo xtask ci`: after any code change the thin-LTO release build takes minutes
//! on two cores.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::routes::{RunningServer, free_port, http_status};
use crate::bootstrap::{self, MUSL_TARGET, on_path};
use crate::process::run;

/// The build command, exactly as the Dockerfile runs it (`cargo xtask deploy` checks that).
pub const BUILD_ARGS: [&str; 9] = [
    "build",
    "--release",
    "--locked",
    // Symbols stripped: the image stays small; profiling uses the ordinary release build.
    "--config",
    "profile.release.strip=true",
    "--target",
    MUSL_TARGET,
    "-p",
    "chatbox-server",
];
/// distroless's `nonroot` user and group.
const NONROOT: u32 = 65532;
/// The prefix the image sets.
const PREFIX: &str = "/chatbox";
/// The shutdown bound the check configures.
const SHUTDOWN_TIMEOUT_SECS: u64 = 5;
/// A JWT secret for the check only (the server's policy accepts it).
const JWT_SECRET: &str = "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq";
/// An encryption key for the check only: exactly 32 bytes.
const ENCRYPTION_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// Runs in a private mount namespace: makes `$1` (the data directory) a mount of its own, remounts
/// `/` read-only, then becomes the nonroot user and runs `$2` with the remaining arguments.
const READ_ONLY_ROOT: &str = "set -e\n\
    mount --bind \"$1\" \"$1\"\n\
    mount -o remount,bind,ro /\n\
    cd /\n\
    shift\n\
    exec setpriv --reuid=65532 --regid=65532 --clear-groups --inh-caps=-all -- \"$@\"\n";

/// Builds, inspects and runs the static binary.
pub fn check(root: &Path, target_dir: &Path) -> anyhow::Result<()> {
    bootstrap::ensure(root, &bootstrap::CONTAINER)?;
    let started = Instant::now();
    run(root, "cargo", &BUILD_ARGS, &[])?;
    eprintln!("xtask: static build took {:.0?}", started.elapsed());
    let built = target_dir
        .join(MUSL_TARGET)
        .join("release")
        .join("chatbox-server");
    ensure_static(&built)?;
    let run_started = Instant::now();
    let result = run_like_the_image(&built);
    eprintln!(
        "xtask: running the static binary took {:.1?}",
        run_started.elapsed()
    );
    result
}

/// Fails unless `path` is an ELF executable without a program interpreter (statically linked).
pub fn ensure_static(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    if elf_interpreter(&bytes)? {
        bail!(
            "{} is dynamically linked (it has a PT_INTERP program header); the distroless static image has no libc",
            path.display()
        );
    }
    eprintln!("xtask: {} is statically linked", path.display());
    Ok(())
}

/// Whether a 64-bit little-endian ELF file asks for a program interpreter.
pub fn elf_interpreter(bytes: &[u8]) -> anyhow::Result<bool> {
    const PT_INTERP: u32 = 3;
    let le_u16 = |at: usize| -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(
            bytes.get(at..at + 2).context("truncated ELF")?.try_into()?,
        ))
    };
    let le_u32 = |at: usize| -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(
            bytes.get(at..at + 4).context("truncated ELF")?.try_into()?,
        ))
    };
    let le_u64 = |at: usize| -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(
            bytes.get(at..at + 8).context("truncated ELF")?.try_into()?,
        ))
    };
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let phoff = usize::try_from(le_u64(0x20)?)?;
    let phentsize = usize::from(le_u16(0x36)?);
    let phnum = usize::from(le_u16(0x38)?);
    for i in 0..phnum {
        if le_u32(phoff + i * phentsize)? == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the real read-only root can be set up here.
fn can_emulate_read_only_root() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && on_path("unshare").is_some() && on_path("setpriv").is_some()
}

fn run_like_the_image(built: &Path) -> anyhow::Result<()> {
    // A world-readable copy: the nonroot user cannot reach into root's home where targets live.
    let dir = std::env::temp_dir().join(format!("chatbox-container-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let bin = dir.join("chatbox-server");
    std::fs::copy(built, &bin)?;
    let result = run_in(&dir, &bin, &data);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(dir: &Path, bin: &Path, data: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let port = free_port()?;
    let env = image_env(port, data);
    let read_only = can_emulate_read_only_root();
    let mut cmd = if read_only {
        std::os::unix::fs::chown(data, Some(NONROOT), Some(NONROOT))?;
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(READ_ONLY_ROOT)
            .arg("sh")
            .arg(data)
            .arg(bin);
        c
    } else {
        eprintln!(
            "\n==================== NOTICE ====================\n\
             container-check: the read-only root filesystem is NOT emulated\n\
             (it needs root, unshare and setpriv). The binary runs as it is.\n\
             ================================================\n"
        );
        Command::new(bin)
    };
    cmd.current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    let log_dir = dir.join("log");
    std::fs::create_dir_all(&log_dir)?;
    let mut server = RunningServer::spawn(&mut cmd, port, log_dir, PREFIX)
        .context("the static binary did not become healthy")?;
    eprintln!(
        "xtask: static binary healthy on {} ({})",
        server.addr,
        if read_only {
            "uid 65532, read-only root, data directory writable"
        } else {
            "as the current user"
        }
    );
    // The provider points at a closed port: readiness reports it but stays ready (a vendor
    // outage must not take every pod out of the Service).
    let readyz = http_status(server.addr, &format!("{PREFIX}/readyz"))?;
    if readyz != 200 {
        bail!("GET {PREFIX}/readyz answered {readyz}, wanted 200 with an unreachable provider");
    }
    let healthcheck = Command::new(bin)
        .arg("healthcheck")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .context("run `chatbox-server healthcheck`")?;
    if !healthcheck.status.success() {
        bail!(
            "`chatbox-server healthcheck` failed against a healthy server ({}):\n{}{}",
            healthcheck.status,
            String::from_utf8_lossy(&healthcheck.stdout),
            String::from_utf8_lossy(&healthcheck.stderr)
        );
    }
    let stored = std::fs::read_dir(data)?.count();
    if stored == 0 {
        bail!(
            "nothing was written to CHATBOX_DATA_DIR {}:\n{}",
            data.display(),
            server.output()
        );
    }
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()?;
    if !status.success() {
        bail!("could not send SIGTERM to the server");
    }
    let limit = Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 5);
    match server.wait_exit(limit)? {
        Some(s) if s.success() => {}
        Some(s) => bail!(
            "the server exited with {s} after SIGTERM:\n{}",
            server.output()
        ),
        None => bail!(
            "the server did not stop within {limit:?} of SIGTERM:\n{}",
            server.output()
        ),
    }
    let mut gone = env.clone();
    gone.retain(|(k, _)| k != "SERVER_PORT");
    gone.push(("SERVER_PORT".into(), free_port()?.to_string()));
    let refused = Command::new(bin)
        .arg("healthcheck")
        .env_clear()
        .envs(gone.iter().map(|(k, v)| (k, v)))
        .output()?;
    if refused.status.success() {
        bail!("`chatbox-server healthcheck` passed with no server listening");
    }
    eprintln!(
        "xtask: container-check passed: static, healthy, healthcheck 0 (and 1 with no server), clean stop on SIGTERM"
    );
    Ok(())
}

/// A production configuration like the image's, on loopback, with a provider that cannot be
/// reached (only `readyz` asks it).
fn image_env(port: u16, data: &Path) -> Vec<(String, String)> {
    [
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", port.to_string()),
        ("CHATBOX_PATH_PREFIX", PREFIX.to_owned()),
        ("CHATBOX_DATA_DIR", data.display().to_string()),
        ("SHUTDOWN_TIMEOUT", format!("{SHUTDOWN_TIMEOUT_SECS}s")),
        ("JWT_SECRET", JWT_SECRET.to_owned()),
        ("ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
        ("LLM_PROVIDER_1_ID", "unreachable".to_owned()),
        ("LLM_PROVIDER_1_TYPE", "openai".to_owned()),
        (
            "LLM_PROVIDER_1_ENDPOINT",
            "http://127.0.0.1:9/v1".to_owned(),
        ),
        ("LLM_PROVIDER_1_API_KEY", "sk-container-check".to_owned()),
        ("LLM_PROVIDER_1_MODEL", "none".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
