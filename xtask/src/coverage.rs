//! Coverage: the test run under `cargo llvm-cov`, per-crate line coverage, and the floors in
//! `xtask/coverage-floors.toml` that it may not drop below.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};

use crate::process::{cargo_has, run};

/// Files that are tests or tooling, not product code.
const IGNORE_FILES: &str = r"(/tests/|/benches/|tests\.rs$|/xtask/)";

/// Runs every test once under coverage and checks the floors.
pub fn run_tests_with_coverage(
    root: &Path,
    target_dir: &Path,
    env: &[(String, String)],
) -> anyhow::Result<()> {
    if !cargo_has("llvm-cov") {
        bail!(
            "cargo-llvm-cov is not installed: `cargo install --locked cargo-llvm-cov` (`cargo xtask ci` and `cargo xtask bootstrap` do this)"
        );
    }
    let json = target_dir.join("coverage.json");
    let json_str = json.to_string_lossy().into_owned();
    run(
        root,
        "cargo",
        &[
            "llvm-cov",
            "--workspace",
            "--all-features",
            "--json",
            "--summary-only",
            "--output-path",
            &json_str,
            "--ignore-filename-regex",
            IGNORE_FILES,
        ],
        env,
    )?;
    let per_crate = per_crate_coverage(
        root,
        &std::fs::read_to_string(&json).context("read coverage json")?,
    )?;
    check_floors(root, &per_crate)
}

/// Line coverage per crate, `(covered, count)`, from llvm-cov's JSON summary.
pub fn per_crate_coverage(root: &Path, json: &str) -> anyhow::Result<BTreeMap<String, (u64, u64)>> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    let files = v["data"][0]["files"]
        .as_array()
        .context("coverage json has no files")?;
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for f in files {
        let name = f["filename"].as_str().unwrap_or_default();
        let rel = Path::new(name)
            .strip_prefix(root)
            .unwrap_or(Path::new(name));
        let mut parts = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let krate = match (parts.next().as_deref(), parts.next()) {
            (Some("crates" | "bins"), Some(k)) => k,
            _ => continue,
        };
        let lines = &f["summary"]["lines"];
        let entry = out.entry(krate).or_default();
        entry.0 += lines["covered"].as_u64().unwrap_or(0);
        entry.1 += lines["count"].as_u64().unwrap_or(0);
    }
    Ok(out)
}

fn percent((covered, count): (u64, u64)) -> f64 {
    if count == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / count as f64
    }
}

/// Compares each crate with its floor; prints the table; fails listing every crate below.
pub fn check_floors(root: &Path, per_crate: &BTreeMap<String, (u64, u64)>) -> anyhow::Result<()> {
    let floors_path = root.join("xtask/coverage-floors.toml");
    let floors: toml::Table = toml::from_str(&std::fs::read_to_string(&floors_path)?)
        .with_context(|| floors_path.display().to_string())?;
    let mut failures = Vec::new();
    eprintln!("\nline coverage by crate (floor from xtask/coverage-floors.toml):");
    for (krate, &counts) in per_crate {
        let pct = percent(counts);
        let floor = floors
            .get(krate)
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
        match floor {
            Some(f) => {
                eprintln!(
                    "  {krate:<16} {pct:6.2}%  ({}/{} lines, floor {f:.1}%)",
                    counts.0, counts.1
                );
                if pct + 1e-9 < f {
                    failures.push(format!("{krate}: {pct:.2}% < floor {f:.1}%"));
                }
            }
            None => eprintln!(
                "  {krate:<16} {pct:6.2}%  ({}/{} lines, NO FLOOR: add one)",
                counts.0, counts.1
            ),
        }
    }
    if !failures.is_empty() {
        bail!("coverage below floor:\n  {}", failures.join("\n  "));
    }
    Ok(())
}
