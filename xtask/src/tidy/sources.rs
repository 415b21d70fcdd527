//! Source-file rules: a `//!` header on every file, no grab-bag module names, environment reads
//! only in the server (and tests), no unfinished-work markers, no test without an assertion.

use std::path::Path;

use regex::{Regex, RegexSet};

use super::rust_files;

fn read(root: &Path, rel: &Path) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap_or_default()
}

fn is_test_path(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    s.contains("/tests/")
        || s.ends_with("tests.rs")
        || s.contains("/benches/")
        || s.contains("/testing/")
}

/// Every `.rs` file starts with a `//!` doc.
pub fn check_file_docs(root: &Path) -> Vec<String> {
    rust_files(root)
        .into_iter()
        .filter(|rel| !read(root, rel).trim_start().starts_with("//!"))
        .map(|rel| {
            format!(
                "{}: must start with a `//!` doc saying what it is for",
                rel.display()
            )
        })
        .collect()
}

/// No `util`, `utils`, `helpers`, `common`, `misc` or `constants` modules.
pub fn check_banned_module_names(root: &Path) -> Vec<String> {
    const BANNED: [&str; 7] = [
        "util",
        "utils",
        "helper",
        "helpers",
        "common",
        "misc",
        "constants",
    ];
    rust_files(root)
        .into_iter()
        .filter(|rel| {
            rel.components().any(|c| {
                let name = c.as_os_str().to_string_lossy();
                let stem = name.strip_suffix(".rs").unwrap_or(&name);
                BANNED.contains(&stem)
            })
        })
        .map(|rel| {
            format!(
                "{}: grab-bag module name; name it for what it holds",
                rel.display()
            )
        })
        .collect()
}

/// Only chatbox-server and xtask read the environment (tests may read service addresses).
pub fn check_env_reads(root: &Path) -> Vec<String> {
    let re = Regex::new(r"\benv::(var|var_os|vars|vars_os)\s*\(").expect("valid regex");
    rust_files(root)
        .into_iter()
        .filter(|rel| {
            !rel.starts_with("bins/chatbox-server")
                && !rel.starts_with("xtask")
                && !is_test_path(rel)
        })
        .filter(|rel| re.is_match(&read(root, rel)))
        .map(|rel| {
            format!(
                "{}: reads the environment; only chatbox-server may",
                rel.display()
            )
        })
        .collect()
}

/// No `todo!`, `unimplemented!`, `dbg!` or `#[ignore]` left behind.
pub fn check_unfinished_markers(root: &Path) -> Vec<String> {
    let markers = ["todo!(", "unimplemented!(", "dbg!(", "#[ignore"];
    let mut out = Vec::new();
    for rel in rust_files(root)
        .into_iter()
        .filter(|r| !r.starts_with("xtask/src/tidy"))
    {
        let text = read(root, &rel);
        for m in markers {
            if text.contains(m) {
                out.push(format!("{}: contains `{m}`", rel.display()));
            }
        }
    }
    out
}

/// What counts as a test checking something: each pattern is an explicit check whose failure
/// fails the test. A bare `?` does not count: it shows only that a call did not error, which says
/// nothing about what the call did.
const ASSERTING: [&str; 8] = [
    // `assert!`, `assert_eq!`, `debug_assert!`, `prop_assert_eq!`, `assert_matches!`, ...
    r"\b\w*assert\w*!",
    // An explicit failure path: `_ => panic!(..)`, `let .. else { unreachable!() }`.
    r"\b(panic|unreachable)!",
    // A result that must be an error.
    r"\.(unwrap_err|expect_err)\s*\(",
    // An expect-test snapshot, compared by `.assert_eq(..)` here or in the helper it is passed to.
    r"\bexpect(_file)?!\s*[\[(]",
    // A helper named for checking: `assert_frames(..)`, `check(..)`, `verify_order(..)`, and
    // expect-test's `.assert_eq(..)`.
    r"\b(assert|check|verify)(_\w+)?\s*(::<[^>]*>)?\s*\(",
    // `expect_close(..)`, `replies_asserts(..)` (but not `.expect(..)`, which only unwraps).
    r"\b(expect_\w+|\w+_asserts)\s*(::<[^>]*>)?\s*\(",
    // A shared suite run against one backend: `store_conformance::run_all(..)`.
    r"\b(run_all|\w*conformance::\w+)\s*(::<[^>]*>)?\s*\(",
    // A statement handing the whole test to a shared check of its crate's test modules (run once
    // per backend, say): `crate::concurrent::appends_lose_nothing(store).await;`.
    r"[{};]\s*crate::(\w+::)*\w+\s*\(",
];

/// Every `#[test]` (or `#[tokio::test]`) function body asserts something.
pub fn check_tests_assert(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    // xtask's own tidy tests hold deliberately bad samples.
    for rel in rust_files(root)
        .into_iter()
        .filter(|r| !r.starts_with("xtask"))
    {
        for name in tests_without_assertions(&read(root, &rel)) {
            out.push(format!("{}: test `{name}` asserts nothing", rel.display()));
        }
    }
    out
}

/// The names of test functions in `source` whose bodies contain no assertion.
pub fn tests_without_assertions(source: &str) -> Vec<String> {
    let attr = Regex::new(r"#\[(tokio::)?test(\([^)]*\))?\]").expect("valid regex");
    let fn_re = Regex::new(r"fn\s+([A-Za-z0-9_]+)").expect("valid regex");
    let asserting = RegexSet::new(ASSERTING).expect("valid regexes");
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let source = code.as_str();
    let mut out = Vec::new();
    for m in attr.find_iter(source) {
        let rest = &source[m.end()..];
        let Some(f) = fn_re.captures(rest) else {
            continue;
        };
        let name = f.get(1).map_or("", |g| g.as_str()).to_owned();
        let Some(open) = rest.find('{') else { continue };
        let body = balanced_block(&rest[open..]);
        let header = &rest[..open];
        if header.contains("should_panic") || asserting.is_match(body) {
            continue;
        }
        out.push(name);
    }
    out
}

/// The text of the `{ ... }` block at the start of `s` (braces counted naively).
fn balanced_block(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &s[..=i];
                }
            }
            _ => {}
        }
    }
    s
}
