//! `cargo xtask screenshots`: refreshes the web UI's screenshots in `docs/screenshots/`.
//!
//! The browser tests write screenshots under the target directory on every run, so running
//! them never changes tracked files. This command runs them from a clean folder (no image left
//! over from an older run can slip in) and copies what they wrote into `docs/screenshots/`,
//! the one step that updates the images the README shows.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};

use crate::web;

/// Runs the browser tests, then copies every screenshot they wrote into `docs/screenshots/`.
pub fn update(root: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let shots = web::screenshots_dir(target_dir);
    if shots.exists() {
        fs::remove_dir_all(&shots).with_context(|| format!("clearing {}", shots.display()))?;
    }
    web::browser_tests(root, target_dir)?;
    let docs = root.join("docs").join("screenshots");
    fs::create_dir_all(&docs).with_context(|| format!("creating {}", docs.display()))?;
    let written = pngs(&shots)?;
    if written.is_empty() {
        bail!(
            "the browser tests wrote no screenshots into {}",
            shots.display()
        );
    }
    for name in &written {
        fs::copy(shots.join(name), docs.join(name))
            .with_context(|| format!("copying {name} into {}", docs.display()))?;
        eprintln!("  docs/screenshots/{name}");
    }
    for name in pngs(&docs)?.iter().filter(|n| !written.contains(n)) {
        eprintln!(
            "  docs/screenshots/{name} was not written by the tests: delete it if nothing shows it"
        );
    }
    eprintln!(
        "screenshots: {} copied into docs/screenshots/",
        written.len()
    );
    Ok(())
}

/// The `.png` file names in `dir`, sorted.
fn pngs(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".png") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}
