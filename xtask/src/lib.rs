//! Project automation for the Chatbox workspace, as a library so that the house rules ("tidy")
//! run as plain `#[test]`s under `cargo test` as well as from `cargo xtask ci`.
//!
//! The binary (`cargo xtask ...`) adds the process-driving parts: the CI pipeline, test services,
//! coverage floors and cargo-deny.

// A command-line tool: printing progress to stderr is its interface.
#![allow(clippy::print_stderr)]

pub mod tidy;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's directory). Read at run time from the
/// `CARGO_MANIFEST_DIR` cargo sets for `cargo run`/`cargo test`, so a binary left in a shared
/// target directory by another checkout never works on that other checkout.
pub fn workspace_root() -> PathBuf {
    let here = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    here.parent()
        .map_or_else(|| here.clone(), Path::to_path_buf)
}
