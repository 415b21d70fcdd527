//! Project automation for the Chatbox workspace, as a library so that the house rules ("tidy")
//! run as plain `#[test]`s under `cargo test` as well as from `cargo xtask ci`.
//!
//! The binary (`cargo xtask ...`) adds the process-driving parts: the CI pipeline, test services,
//! coverage floors and cargo-deny.

// A command-line tool: printing progress to stderr is its interface.
#![allow(clippy::print_stderr)]

pub mod tidy;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}
