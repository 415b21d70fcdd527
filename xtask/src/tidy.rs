//! Tidy: the house rules of STYLE.md as checks over the source tree. Each check returns the list
//! of violations (empty = clean) so that tests can assert on it and CI can print all of them.

pub mod deps;
pub mod docs;
pub mod sources;

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// Folders whose files belong to the project (generated and vendored trees are skipped).
const SOURCE_ROOTS: [&str; 3] = ["crates", "bins", "xtask"];

/// Every `.rs` file of the project, relative paths sorted.
pub fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = SOURCE_ROOTS
        .iter()
        .flat_map(|dir| {
            WalkDir::new(root.join(dir))
                .into_iter()
                .filter_map(Result::ok)
        })
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .filter(|p| {
            !p.components()
                .any(|c| c.as_os_str() == "target" || c.as_os_str() == "node_modules")
        })
        .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect();
    files.sort();
    files
}

/// Runs every tidy check and returns all violations.
pub fn run_all(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    out.extend(sources::check_file_docs(root));
    out.extend(sources::check_banned_module_names(root));
    out.extend(sources::check_env_reads(root));
    out.extend(sources::check_unfinished_markers(root));
    out.extend(sources::check_tests_assert(root));
    out.extend(deps::check_workspace_deps(root)?);
    out.extend(deps::check_dependency_direction(&deps::workspace_edges(
        root,
    )?));
    out.extend(docs::check_docs_name_real_things(root));
    Ok(out)
}
