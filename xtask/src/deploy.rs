//! `cargo xtask deploy`: the deployment files (`Dockerfile`, `deployments/`) checked offline,
//! as a step of `cargo xtask ci`:
//!
//! 1. every YAML file reads the same with xtask's strict reader and with PyYAML;
//! 2. each kustomization (base and overlays) is rendered, and compared with `kubectl kustomize`
//!    where kubectl is installed;
//! 3. every rendered resource, and each standalone manifest (the Secret template), validates
//!    with `kubernetes-validate --strict` against the oldest and the newest supported Kubernetes;
//! 4. hadolint lints the Dockerfile;
//! 5. the rules of `invariants.rs` hold (one HPA, AND-ed NetworkPolicy peers, a grace period
//!    longer than the shutdown, pinned images, no stickiness, real probe paths and env keys, a
//!    quorum-keeping NATS StatefulSet that `NATS_URL` leads to, ...);
//! 6. the probe, scrape and ingress paths are requested from the real server binary;
//! 7. the server accepts each shipped configuration (ConfigMap + Secret, the compose file's).
//!
//! `cargo xtask container-check` (`container.rs`) is the slow companion: the static release
//! build, run the way the image runs it.

pub mod container;
mod invariants;
mod kustomize;
mod routes;
mod settings;
mod tools;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::bootstrap::on_path;
use crate::process::run;

use self::invariants::ServerKeys;

/// Kubernetes versions the manifests must validate against: the oldest supported (the preStop
/// `sleep` action needs 1.30) and the newest the validator ships.
pub const KUBERNETES_VERSIONS: [&str; 2] = ["1.30.0", "1.37.0"];

/// The deployment files, rendered and read.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Each kustomization's rendering, named by its folder under `deployments/kubernetes`.
    pub sets: Vec<(String, Vec<Value>)>,
    /// Manifests no kustomization reads (the Secret template), by file.
    pub standalone: Vec<(PathBuf, Vec<Value>)>,
    /// `deployments/docker-compose.yml`.
    pub compose: Value,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// rust-toolchain.toml's channel.
    pub toolchain: String,
}

impl Deployment {
    /// Reads and renders everything under `root`.
    pub fn read(root: &Path) -> anyhow::Result<Self> {
        let kube = root.join("deployments").join("kubernetes");
        let mut sets = Vec::new();
        let mut read_by_sets = Vec::new();
        for dir in kustomize::kustomizations(&kube) {
            let name = dir
                .strip_prefix(&kube)
                .unwrap_or(&dir)
                .display()
                .to_string();
            sets.push((name, kustomize::render(&dir)?));
            read_by_sets.extend(kustomize::files_of(&dir)?.into_iter().map(normal));
        }
        let mut standalone = Vec::new();
        for file in yaml_files(&kube) {
            if !read_by_sets.contains(&normal(file.clone())) {
                standalone.push((file.clone(), yaml::read_file(&file)?));
            }
        }
        let compose_docs = yaml::read_file(&root.join("deployments/docker-compose.yml"))?;
        let toolchain: toml::Table = toml::from_str(
            &std::fs::read_to_string(root.join("rust-toolchain.toml"))
                .context("read rust-toolchain.toml")?,
        )?;
        Ok(Deployment {
            sets,
            standalone,
            compose: compose_docs.into_iter().next().unwrap_or(Value::Null),
            dockerfile: std::fs::read_to_string(root.join("Dockerfile"))
                .context("read Dockerfile")?,
            toolchain: toolchain["toolchain"]["channel"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Every rule of `invariants.rs`; empty when all hold.
    pub fn violations(&self, keys: &ServerKeys) -> Vec<String> {
        let mut out = Vec::new();
        for (name, docs) in &self.sets {
            out.extend(invariants::check_set(name, docs, keys));
        }
        for (file, docs) in &self.standalone {
            for doc in docs.iter().filter(|d| d["kind"] == "Secret") {
                out.extend(
                    invariants::check_secret_template(doc, keys)
                        .into_iter()
                        .map(|v| format!("{}: {v}", file.display())),
                );
            }
        }
        out.extend(invariants::check_compose(&self.compose, keys));
        out.extend(invariants::check_dockerfile(
            &self.dockerfile,
            &self.toolchain,
        ));
        let build = format!("cargo {}", container::BUILD_ARGS.join(" "));
        if !self.dockerfile.contains(&build) {
            out.push(format!(
                "Dockerfile: must build with `{build}`, as container-check does"
            ));
        }
        out
    }

    /// The probe and ingress paths of every set, each with the prefix its server runs with.
    pub fn routes(&self) -> Vec<(String, Vec<routes::Route>)> {
        self.sets
            .iter()
            .map(|(name, docs)| routes::routes_of(name, docs))
            .collect()
    }
}

/// Runs every check; fails listing every problem.
pub fn check(root: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let tools = tools::ensure(target_dir)?;
    let mut problems = Vec::new();

    let files = yaml_files(&root.join("deployments"));
    let theirs = tools.pyyaml_documents(&files)?;
    for (file, pyyaml) in files.iter().zip(&theirs) {
        if &yaml::read_file(file)? != pyyaml {
            problems.push(format!(
                "{}: xtask's YAML reader and PyYAML read it differently (simplify the YAML)",
                file.display()
            ));
        }
    }

    let deployment = Deployment::read(root)?;
    problems.extend(compare_with_kubectl(root, &tools, &deployment)?);

    let out_dir = target_dir.join("deploy-check");
    std::fs::create_dir_all(&out_dir)?;
    let mut to_validate = Vec::new();
    for (name, docs) in &deployment.sets {
        let file = out_dir.join(format!("{}.yaml", name.replace('/', "-")));
        let text: Vec<String> = docs.iter().map(Value::to_string).collect();
        std::fs::write(&file, text.join("\n---\n"))?;
        to_validate.push(file.display().to_string());
    }
    for (file, _) in &deployment.standalone {
        to_validate.push(file.display().to_string());
    }
    for version in KUBERNETES_VERSIONS {
        let mut args = vec!["--strict", "--quiet", "-k", version];
        args.extend(to_validate.iter().map(String::as_str));
        let program = tools.kubernetes_validate().display().to_string();
        if run(root, &program, &args, &[]).is_err() {
            problems.push(format!(
                "kubernetes-validate: the manifests do not validate against Kubernetes {version} (above)"
            ));
        }
    }

    let hadolint = tools.hadolint().display().to_string();
    if run(root, &hadolint, &["--no-color", "Dockerfile"], &[]).is_err() {
        problems.push("hadolint: the Dockerfile has findings (above)".to_owned());
    }

    problems.extend(deployment.violations(&ServerKeys::read(root)));

    eprintln!(
        "deploy: YAML, rendering, validation, hadolint and rules took {:.1?}",
        started.elapsed()
    );
    run(
        root,
        "cargo",
        &["build", "--quiet", "-p", "chatbox-server"],
        &[],
    )?;
    let server = target_dir.join("debug").join("chatbox-server");
    let paths_started = Instant::now();
    problems.extend(routes::check(&server, &deployment.routes())?);
    problems.extend(settings::check(&server, &deployment)?);
    eprintln!(
        "deploy: paths and settings against the real server took {:.1?}",
        paths_started.elapsed()
    );

    if !problems.is_empty() {
        bail!(
            "the deployment files have {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!(
        "deploy: {} kustomization(s), {} standalone manifest(s), compose and Dockerfile clean in {:.1?}",
        deployment.sets.len(),
        deployment.standalone.len(),
        started.elapsed()
    );
    Ok(())
}

/// Each set rendered by `kubectl kustomize`, compared resource by resource with ours.
fn compare_with_kubectl(
    root: &Path,
    tools: &tools::Tools,
    deployment: &Deployment,
) -> anyhow::Result<Vec<String>> {
    let Some(kubectl) = on_path("kubectl") else {
        eprintln!(
            "xtask: kubectl is not installed: the kustomize rendering is not compared with kubectl's"
        );
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let kube = root.join("deployments").join("kubernetes");
    let tmp = std::env::temp_dir().join(format!("chatbox-kustomize-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    for (name, ours) in &deployment.sets {
        let rendered = Command::new(&kubectl)
            .arg("kustomize")
            .arg(kube.join(name))
            .output()
            .context("run kubectl kustomize")?;
        if !rendered.status.success() {
            out.push(format!(
                "kubectl kustomize {name} failed: {}",
                String::from_utf8_lossy(&rendered.stderr)
            ));
            continue;
        }
        let file = tmp.join(format!("{}.yaml", name.replace('/', "-")));
        std::fs::write(&file, &rendered.stdout)?;
        let theirs = tools.pyyaml_documents(std::slice::from_ref(&file))?;
        let by_id = |docs: &[Value]| -> BTreeMap<String, Value> {
            docs.iter().map(|d| (kustomize::id(d), d.clone())).collect()
        };
        let (a, b) = (
            by_id(ours),
            by_id(theirs.first().map_or(&[], Vec::as_slice)),
        );
        for id in a.keys().chain(b.keys()) {
            if a.get(id) != b.get(id) {
                out.push(format!(
                    "{name}: {id} renders differently with xtask and kubectl kustomize"
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    out.dedup();
    if out.is_empty() {
        eprintln!("xtask: every kustomization renders as `kubectl kustomize` renders it");
    }
    Ok(out)
}

/// Every `.yaml`/`.yml` file under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// A path without `..` and `.` parts (kustomizations name their base as `../../base`).
fn normal(path: PathBuf) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
