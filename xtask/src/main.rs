//! `cargo xtask <command>`: the project's automation (see `cargo xtask help`).

// A command-line tool: printing progress to stderr is its interface.
#![allow(clippy::print_stderr)]

mod bootstrap;
mod coverage;
mod deny;
mod deploy;
mod process;
mod screenshots;
mod services;
mod web;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use xtask::{tidy, workspace_root};

use crate::process::run;

const HELP: &str = "\
cargo xtask <command>

  ci          everything CI checks: fmt, clippy -D warnings, tidy, docs, all tests once under
              coverage with the test services (floors in xtask/coverage-floors.toml), the web
              UI's browser tests, the deployment files, cargo-deny; first installs the pinned
              tools it lacks (see bootstrap)
  bootstrap   only install what ci needs: cargo-llvm-cov, cargo-deny, rustup components,
              Debian's chromium (as root)
  deploy      only the deployment files: Dockerfile, deployments/ (validated offline, paths
              requested from the real server)
  container-check
              the Dockerfile's static release build, run as the image runs it (slow: not in ci)
  web         only the web UI's browser tests
  screenshots the browser tests, then their screenshots copied into docs/screenshots/
  lint        fmt check, clippy -D warnings, tidy
  test [ARGS] start the test services and run `cargo test ARGS` (e.g. -p chatbox-store)
  coverage    the test run under coverage with floors, without the lint steps
  docs        rustdoc with warnings denied, and the docs-name-real-things check
  tidy        only the house rules
  bench [ARGS] start the test services and run `cargo bench ARGS`
";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("lint") => lint(&root),
        Some("test") => test(&root, &rest),
        Some("coverage") => coverage_run(&root),
        Some("docs") => docs(&root),
        Some("tidy") => tidy_check(&root),
        Some("bench") => bench(&root, &rest),
        Some("web") => web::browser_tests(&root, &target_dir(&root)?),
        Some("screenshots") => screenshots::update(&root, &target_dir(&root)?),
        Some("bootstrap") => bootstrap::ensure(&root, &bootstrap::CI),
        Some("deploy") => deploy::check(&root, &target_dir(&root)?),
        Some("container-check") => deploy::container::check(&root, &target_dir(&root)?),
        Some("help" | "-h" | "--help") | None => {
            eprint!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{HELP}"),
    }
}

fn target_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    Ok(meta.target_directory.into_std_path_buf())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

fn ci(root: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    step("bootstrap: the pinned tools");
    bootstrap::ensure(root, &bootstrap::CI)?;
    lint(root)?;
    docs(root)?;
    coverage_run(root)?;
    step("web UI in headless Chromium");
    web::browser_tests(root, &target_dir(root)?)?;
    step("deployment files");
    deploy::check(root, &target_dir(root)?)?;
    step("cargo-deny");
    deny::check(root)?;
    eprintln!("\nxtask ci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

fn lint(root: &Path) -> anyhow::Result<()> {
    step("rustfmt");
    run(root, "cargo", &["fmt", "--all", "--", "--check"], &[])?;
    step("clippy");
    run(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    tidy_check(root)
}

fn tidy_check(root: &Path) -> anyhow::Result<()> {
    step("tidy");
    let violations = tidy::run_all(root)?;
    if !violations.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            violations.len(),
            violations.join("\n  ")
        );
    }
    eprintln!("tidy: clean");
    Ok(())
}

fn docs(root: &Path) -> anyhow::Result<()> {
    step("rustdoc (warnings denied)");
    let env = [("RUSTDOCFLAGS".to_owned(), "-D warnings".to_owned())];
    run(
        root,
        "cargo",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--quiet",
        ],
        &env,
    )?;
    step("docs name only real env vars, paths and endpoints");
    let problems = tidy::docs::check_docs_name_real_things(root);
    if !problems.is_empty() {
        bail!(
            "docs name things that do not exist:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn coverage_run(root: &Path) -> anyhow::Result<()> {
    step("tests (once, under coverage, with test services)");
    let target = target_dir(root)?;
    let services = services::start(&target)?;
    let result = coverage::run_tests_with_coverage(root, &target, &services.env);
    drop(services);
    result
}

fn test(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let target = target_dir(root)?;
    let services = services::start(&target)?;
    let mut full = vec!["test"];
    full.extend_from_slice(args);
    let result = run(root, "cargo", &full, &services.env);
    drop(services);
    result
}

fn bench(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let target = target_dir(root)?;
    let services = services::start(&target)?;
    let mut full = vec!["bench"];
    full.extend_from_slice(args);
    let result = run(root, "cargo", &full, &services.env);
    drop(services);
    result
}
