//! Docs stay true: README.md, ARCHITECTURE.md and `docs/` may only name environment variables,
//! repository paths and HTTP endpoints that exist. Names are taken from `code spans` and fenced
//! code blocks, where documentation puts them.

use std::path::Path;

use regex::Regex;
use walkdir::WalkDir;

use super::rust_files;

/// Variables that belong to the platform, not to us.
const EXTERNAL_VARS: [&str; 4] = ["CARGO_TARGET_DIR", "RUST_LOG", "CI", "HOME"];

/// The markdown files whose claims are checked.
pub fn doc_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    files.extend(
        WalkDir::new(root.join("docs"))
            .into_iter()
            .filter_map(Result::ok)
            .map(walkdir::DirEntry::into_path)
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    files.retain(|p| p.exists());
    files
}

/// Every code span and whitespace-separated token of every fenced block.
pub fn code_tokens(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let span = Regex::new(r"`([^`\n]+)`").expect("valid regex");
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            out.extend(line.split_whitespace().map(str::to_owned));
        } else {
            for c in span.captures_iter(line) {
                let inner = c.get(1).map_or("", |m| m.as_str());
                out.push(inner.to_owned());
                out.extend(inner.split_whitespace().map(str::to_owned));
            }
        }
    }
    out
}

/// What a token claims exists.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// An environment variable.
    EnvVar(String),
    /// A file or folder of the repository.
    Path(String),
    /// An HTTP endpoint under the path prefix; the string is the part after the prefix.
    Endpoint(String),
}

/// Classifies a token; `None` when it names nothing checkable.
pub fn classify(token: &str) -> Option<Claim> {
    let token = token.trim_matches(|c: char| matches!(c, ',' | ';' | '(' | ')' | '"' | '\'' | '.'));
    let env = Regex::new(r"^\$?\{?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\}?(=.*)?$").expect("valid regex");
    if let Some(c) = env.captures(token) {
        return c.get(1).map(|m| Claim::EnvVar(m.as_str().to_owned()));
    }
    let path = Regex::new(
        r"^(crates|bins|xtask|docs|web|deployments|\.ci|\.github|\.cargo)((/[A-Za-z0-9_.\-]+)+/?|/)$",
    )
    .expect("valid regex");
    if path.is_match(token) {
        return Some(Claim::Path(token.trim_end_matches('/').to_owned()));
    }
    let root_file = Regex::new(r"^[A-Za-z0-9_\-]+\.(toml|md|lock)$").expect("valid regex");
    if root_file.is_match(token) && token != "config.toml" {
        return Some(Claim::Path(token.to_owned()));
    }
    let endpoint = Regex::new(r"^(?:P|/chatbox)(/[A-Za-z0-9_.{}\-]+)+/?$").expect("valid regex");
    if endpoint.is_match(token) {
        let rest = token.trim_start_matches('P').trim_start_matches("/chatbox");
        return Some(Claim::Endpoint(rest.trim_end_matches('/').to_owned()));
    }
    None
}

/// Checks every claim of every doc file against the tree and the code.
pub fn check_docs_name_real_things(root: &Path) -> Vec<String> {
    let mut code = String::new();
    for rel in rust_files(root) {
        code.push_str(&std::fs::read_to_string(root.join(rel)).unwrap_or_default());
    }
    for extra in [".ci/run", ".github/workflows/ci.yml"] {
        code.push_str(&std::fs::read_to_string(root.join(extra)).unwrap_or_default());
    }
    let mut out = Vec::new();
    for doc in doc_files(root) {
        let rel = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        for token in code_tokens(&text) {
            let problem = match classify(&token) {
                Some(Claim::EnvVar(v))
                    if !EXTERNAL_VARS.contains(&v.as_str())
                        && !code.contains(&format!("\"{v}\""))
                        && !code.contains(&format!("{v}=")) =>
                {
                    Some(format!("names env var {v}, which no code reads"))
                }
                Some(Claim::Path(p)) if !root.join(&p).exists() => {
                    Some(format!("names path {p}, which does not exist"))
                }
                Some(Claim::Endpoint(e)) if !code.contains(&format!("\"{e}\"")) => {
                    Some(format!("names endpoint {e}, which no route serves"))
                }
                _ => None,
            };
            if let Some(p) = problem {
                let line = format!("{rel}: {p}");
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
    out
}
