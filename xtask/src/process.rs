//! Running commands: each step prints what it runs and fails with the command line when it fails.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Runs `program args...` in `dir`, inheriting stdio, with extra environment `envs`.
pub fn run(
    dir: &Path,
    program: &str,
    args: &[&str],
    envs: &[(String, String)],
) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// True when `cargo <sub> --version` works (a cargo subcommand is installed).
pub fn cargo_has(sub: &str) -> bool {
    Command::new("cargo")
        .args([sub, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
