//! cargo-deny: bans, licenses and sources run offline; advisories need the RustSec database,
//! which runs only where a local copy exists and is otherwise reported as skipped, loudly.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::process::{cargo_has, run};

fn advisory_db() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let db = home.join("advisory-dbs");
    std::fs::read_dir(&db).ok()?.next().is_some().then_some(db)
}

/// Runs the cargo-deny checks.
pub fn check(root: &Path) -> anyhow::Result<()> {
    if !cargo_has("deny") {
        bail!(
            "cargo-deny is not installed: `cargo install --locked cargo-deny` (`cargo xtask ci` and `cargo xtask bootstrap` do this)"
        );
    }
    run(root, "cargo", &["fetch", "--quiet"], &[])?;
    run(
        root,
        "cargo",
        &["deny", "--offline", "check", "bans", "licenses", "sources"],
        &[],
    )?;
    if let Some(db) = advisory_db() {
        eprintln!(
            "xtask: advisories: using the local RustSec copy in {}",
            db.display()
        );
        run(
            root,
            "cargo",
            &["deny", "--offline", "check", "advisories"],
            &[],
        )?;
    } else {
        eprintln!(
            "\n==================== NOTICE ====================\n\
             cargo-deny ADVISORIES check SKIPPED: no local RustSec database\n\
             (expected under $CARGO_HOME/advisory-dbs). This machine cannot\n\
             reach it; run `cargo deny fetch && cargo deny check advisories`\n\
             where the network allows (the GitHub workflow does).\n\
             ================================================\n"
        );
    }
    Ok(())
}
