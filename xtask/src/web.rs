//! The web UI's browser tests: real headless Chromium (Debian's `chromium`, driven by
//! `playwright-core`) against the real server binary.
//!
//! The tests write their screenshots into [`screenshots_dir`] under the target directory, never
//! into the tracked `docs/screenshots/` (`cargo xtask screenshots` copies them there).

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::process::run;

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The variable that tells the tests where to write screenshots.
const SCREENSHOTS_ENV: &str = "CHATBOX_SCREENSHOTS_DIR";

/// Where the browser tests write their screenshots.
pub fn screenshots_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("screenshots")
}

/// Builds the server, installs the pinned npm packages and runs `node --test` in `web/`.
pub fn browser_tests(root: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let web = root.join("web");
    if !web.join("package.json").exists() {
        bail!("web/package.json is missing: the browser tests cannot run");
    }
    if !Path::new(CHROMIUM).exists() {
        bail!(
            "{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium` (`cargo xtask ci` and `cargo xtask bootstrap` do this)"
        );
    }
    run(
        root,
        "cargo",
        &["build", "--quiet", "-p", "chatbox-server"],
        &[],
    )?;
    let server = target_dir.join("debug").join("chatbox-server");
    run(
        &web,
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        &[],
    )?;
    let env = [
        (
            "CHATBOX_SERVER_BIN".to_owned(),
            server.to_string_lossy().into_owned(),
        ),
        (
            SCREENSHOTS_ENV.to_owned(),
            screenshots_dir(target_dir).to_string_lossy().into_owned(),
        ),
    ];
    run(&web, "node", &["--test", "tests/"], &env)
}
