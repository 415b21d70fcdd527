//! Dependency rules: every dependency comes from `[workspace.dependencies]`, and our crates
//! depend on each other only in the directions of STYLE.md's table (core at the bottom, the
//! server at the top; llm, store and notify never meet except through core's traits).

use std::path::Path;

use anyhow::Context;
use cargo_metadata::{DependencyKind, MetadataCommand};

/// One dependency edge between two workspace packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The depending package.
    pub from: String,
    /// The package depended on.
    pub to: String,
    /// True for `[dev-dependencies]` (tests, benches), false for normal and build dependencies.
    pub dev: bool,
}

impl Edge {
    /// A normal dependency edge.
    pub fn normal(from: &str, to: &str) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            dev: false,
        }
    }

    /// A dev-dependency edge.
    pub fn dev(from: &str, to: &str) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            dev: true,
        }
    }
}

/// Which of our crates each crate may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("chatbox-core", &[]),
    ("chatbox-llm", &["chatbox-core"]),
    ("chatbox-store", &["chatbox-core"]),
    ("chatbox-notify", &["chatbox-core"]),
    ("chatbox-session", &["chatbox-core"]),
    ("chatbox-ws", &["chatbox-core", "chatbox-session"]),
    (
        "chatbox-server",
        &[
            "chatbox-core",
            "chatbox-session",
            "chatbox-llm",
            "chatbox-store",
            "chatbox-notify",
            "chatbox-ws",
        ],
    ),
    ("xtask", &[]),
];

/// Extra crates each crate's tests and benches may use (fake servers, real backends).
const ALLOWED_DEV: &[(&str, &[&str])] = &[
    ("chatbox-core", &["chatbox-core"]),
    ("chatbox-llm", &["chatbox-core"]),
    ("chatbox-store", &["chatbox-core"]),
    ("chatbox-notify", &["chatbox-core"]),
    ("chatbox-session", &["chatbox-core", "chatbox-llm"]),
    (
        "chatbox-ws",
        &[
            "chatbox-core",
            "chatbox-session",
            "chatbox-llm",
            "chatbox-store",
        ],
    ),
];

fn allowed(table: &[(&str, &[&str])], from: &str, to: &str) -> Option<bool> {
    table
        .iter()
        .find(|(name, _)| *name == from)
        .map(|(_, deps)| deps.contains(&to))
}

/// Checks edges against the tables. A package missing from the table is itself a violation, so
/// a new crate must be placed in the house deliberately.
pub fn check_dependency_direction(edges: &[Edge]) -> Vec<String> {
    let mut out = Vec::new();
    for e in edges {
        let ok = if e.dev {
            allowed(ALLOWED, &e.from, &e.to).unwrap_or(false)
                || allowed(ALLOWED_DEV, &e.from, &e.to).unwrap_or(false)
                || e.from == "chatbox-server"
        } else {
            match allowed(ALLOWED, &e.from, &e.to) {
                Some(ok) => ok,
                None => {
                    out.push(format!(
                        "{}: not in the dependency table of xtask/src/tidy/deps.rs",
                        e.from
                    ));
                    continue;
                }
            }
        };
        if !ok {
            let kind = if e.dev {
                "dev-dependency"
            } else {
                "dependency"
            };
            out.push(format!(
                "forbidden {kind} edge {} -> {} (see STYLE.md 'Rooms and doors')",
                e.from, e.to
            ));
        }
    }
    out
}

/// Reads the edges between workspace packages from `cargo metadata`.
pub fn workspace_edges(root: &Path) -> anyhow::Result<Vec<Edge>> {
    let meta = MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ours: Vec<String> = meta
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut edges = Vec::new();
    for pkg in meta.workspace_packages() {
        for dep in &pkg.dependencies {
            if ours.contains(&dep.name) && dep.name != pkg.name.as_str() {
                let dev = dep.kind == DependencyKind::Development;
                edges.push(Edge {
                    from: pkg.name.to_string(),
                    to: dep.name.clone(),
                    dev,
                });
            }
        }
    }
    Ok(edges)
}

/// Every member manifest takes its dependencies from the workspace (`name.workspace = true`).
pub fn check_workspace_deps(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    for dir in ["crates", "bins"] {
        for entry in std::fs::read_dir(root.join(dir)).with_context(|| format!("read {dir}"))? {
            let path = entry?.path().join("Cargo.toml");
            if path.exists() {
                manifests.push(path);
            }
        }
    }
    manifests.sort();
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest)?;
        let doc: toml::Table =
            toml::from_str(&text).with_context(|| manifest.display().to_string())?;
        let rel = manifest
            .strip_prefix(root)
            .unwrap_or(&manifest)
            .display()
            .to_string();
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            let Some(deps) = doc.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for (name, spec) in deps {
                let from_workspace = spec
                    .as_table()
                    .and_then(|t| t.get("workspace"))
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false);
                if !from_workspace {
                    out.push(format!(
                        "{rel}: [{section}] {name} must be `{name}.workspace = true`"
                    ));
                }
            }
        }
    }
    Ok(out)
}
