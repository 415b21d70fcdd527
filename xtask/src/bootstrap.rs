//! What `cargo xtask ci` (and `container-check`) need besides cargo, found or installed: the
//! pinned cargo subcommands (`cargo install --locked`), rustup components and targets, Debian
//! packages (`apt-get`, only as root; otherwise the error names the one command to run) and
//! programs that must already be there (Python 3, Node). The Python packages are not here: each
//! venv installs its pinned set on first use (`services.rs`, `deploy/tools.rs`).
//!
//! Looking (`Machine::survey`) is separate from deciding (`plan`, a pure function, tested) and
//! from doing (`ensure`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use crate::process::run;

/// A cargo subcommand installed from crates.io at a pinned version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CargoTool {
    /// The crate.
    pub krate: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The subcommand (`cargo <sub>`).
    pub sub: &'static str,
}

/// Coverage for the test run.
pub const CARGO_LLVM_COV: CargoTool = CargoTool {
    krate: "cargo-llvm-cov",
    version: "0.9.1",
    sub: "llvm-cov",
};
/// Licenses, bans, sources and advisories.
pub const CARGO_DENY: CargoTool = CargoTool {
    krate: "cargo-deny",
    version: "0.20.2",
    sub: "deny",
};
/// The static build's target.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// One thing a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A pinned cargo subcommand.
    Cargo(CargoTool),
    /// A rustup component of the pinned toolchain.
    Component(&'static str),
    /// A rustup target of the pinned toolchain.
    Target(&'static str),
    /// A Debian package, present when `file` exists (absolute) or is on PATH.
    Apt {
        /// The package.
        package: &'static str,
        /// A file it installs.
        file: &'static str,
    },
    /// A program that must be on PATH; `hint` says how to get it.
    Program {
        /// The program.
        name: &'static str,
        /// How to install it.
        hint: &'static str,
    },
}

/// What `cargo xtask ci` needs.
pub const CI: [Need; 9] = [
    Need::Component("rustfmt"),
    Need::Component("clippy"),
    Need::Component("llvm-tools"),
    Need::Cargo(CARGO_LLVM_COV),
    Need::Cargo(CARGO_DENY),
    // The web UI is tested in Debian's Chromium, never a downloaded browser.
    Need::Apt {
        package: "chromium",
        file: "/usr/bin/chromium",
    },
    Need::Program {
        name: "python3",
        hint: "Python 3 with its venv module (Debian: apt-get install -y python3-venv)",
    },
    Need::Program {
        name: "node",
        hint: "Node.js (Debian: apt-get install -y nodejs npm)",
    },
    Need::Program {
        name: "npm",
        hint: "npm (Debian: apt-get install -y npm)",
    },
];

/// What `cargo xtask container-check` needs for the static (musl) build.
pub const CONTAINER: [Need; 2] = [
    Need::Target(MUSL_TARGET),
    // musl-gcc compiles the C parts (aws-lc, SQLite) for musl.
    Need::Apt {
        package: "musl-tools",
        file: "x86_64-linux-musl-gcc",
    },
];

/// What the machine has, as far as the needs go.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// Installed cargo subcommands and the version each reports.
    pub cargo_tools: BTreeMap<String, String>,
    /// Whether rustup manages the toolchain.
    pub rustup: bool,
    /// Installed rustup components, without the host suffix (`llvm-tools`, `clippy`).
    pub components: BTreeSet<String>,
    /// Installed rustup targets.
    pub targets: BTreeSet<String>,
    /// Files and programs found (absolute paths, or names found on PATH).
    pub files: BTreeSet<String>,
    /// Running as root (apt-get allowed).
    pub root: bool,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Run this command.
    Run {
        /// The program.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
    /// Cannot be installed from here; `fix` is what to run or install.
    Missing {
        /// What is missing.
        what: String,
        /// How to get it.
        fix: String,
    },
    /// Present, but not at the pinned version: used anyway, and said so.
    Note(String),
}

impl Step {
    fn run(program: &str, args: &[&str]) -> Step {
        Step::Run {
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// The command line of a `Run` step.
    pub fn command_line(&self) -> Option<String> {
        match self {
            Step::Run { program, args } => Some(format!("{program} {}", args.join(" "))),
            _ => None,
        }
    }
}

/// What to do so that `machine` meets `needs`, in order: rustup first, then cargo installs,
/// then one `apt-get update` and one `apt-get install` for every missing package.
pub fn plan(machine: &Machine, needs: &[Need]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut apt: Vec<&str> = Vec::new();
    for need in needs {
        match *need {
            Need::Component(c) if machine.rustup && !machine.components.contains(c) => {
                steps.push(Step::run("rustup", &["component", "add", c]));
            }
            Need::Target(t) if !machine.targets.contains(t) => {
                if machine.rustup {
                    steps.push(Step::run("rustup", &["target", "add", t]));
                } else {
                    steps.push(Step::Missing {
                        what: format!("the Rust target {t}"),
                        fix: format!(
                            "a toolchain with the {t} standard library (rustup target add {t})"
                        ),
                    });
                }
            }
            Need::Cargo(tool) => match machine.cargo_tools.get(tool.sub) {
                None => steps.push(Step::run(
                    "cargo",
                    &["install", "--locked", tool.krate, "--version", tool.version],
                )),
                Some(v) if v != tool.version => steps.push(Step::Note(format!(
                    "{} {v} is installed; CI pins {} (`cargo install --locked {} --version {}`)",
                    tool.krate, tool.version, tool.krate, tool.version
                ))),
                Some(_) => {}
            },
            Need::Apt { package, file } if !machine.files.contains(file) => apt.push(package),
            Need::Program { name, hint } if !machine.files.contains(name) => {
                steps.push(Step::Missing {
                    what: name.to_owned(),
                    fix: hint.to_owned(),
                });
            }
            _ => {}
        }
    }
    if !apt.is_empty() {
        let mut install = vec!["install", "-y", "-qq"];
        install.extend(&apt);
        if machine.root {
            steps.push(Step::run("apt-get", &["update", "-qq"]));
            steps.push(Step::run("apt-get", &install));
        } else {
            steps.push(Step::Missing {
                what: apt.join(", "),
                fix: format!("as root: apt-get install -y {}", apt.join(" ")),
            });
        }
    }
    steps
}

impl Machine {
    /// Looks at this machine for what `needs` name.
    pub fn survey(root_dir: &Path, needs: &[Need]) -> Machine {
        let mut m = Machine {
            rustup: on_path("rustup").is_some(),
            root: output("id", &["-u"], root_dir).is_some_and(|id| id.trim() == "0"),
            ..Machine::default()
        };
        if m.rustup {
            let list = |args: &[&str]| {
                output("rustup", args, root_dir)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            let host = host_triple(root_dir).unwrap_or_default();
            m.components = list(&["component", "list", "--installed"])
                .into_iter()
                .map(|c| {
                    let c = c.trim_end_matches(&format!("-{host}")).to_owned();
                    c.trim_end_matches("-preview").to_owned()
                })
                .collect();
            m.targets = list(&["target", "list", "--installed"])
                .into_iter()
                .collect();
        }
        for need in needs {
            match *need {
                Need::Cargo(tool) => {
                    if let Some(v) = output("cargo", &[tool.sub, "--version"], root_dir) {
                        let version = v.split_whitespace().nth(1).unwrap_or_default();
                        m.cargo_tools
                            .insert(tool.sub.to_owned(), version.to_owned());
                    }
                }
                Need::Apt { file, .. } | Need::Program { name: file, .. } => {
                    let found = if file.starts_with('/') {
                        Path::new(file).exists()
                    } else {
                        on_path(file).is_some()
                    };
                    if found {
                        m.files.insert(file.to_owned());
                    }
                }
                Need::Component(_) | Need::Target(_) => {}
            }
        }
        m
    }
}

/// Installs what `needs` lack; fails naming everything that cannot be installed from here.
pub fn ensure(root_dir: &Path, needs: &[Need]) -> anyhow::Result<()> {
    let steps = plan(&Machine::survey(root_dir, needs), needs);
    let commands: Vec<String> = steps.iter().filter_map(Step::command_line).collect();
    if commands.is_empty() {
        eprintln!("xtask: bootstrap: every pinned tool is installed");
    } else {
        eprintln!("xtask: bootstrap: installing:\n  {}", commands.join("\n  "));
    }
    let mut missing = Vec::new();
    for step in &steps {
        match step {
            Step::Run { program, args } => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let env = [("DEBIAN_FRONTEND".to_owned(), "noninteractive".to_owned())];
                run(root_dir, program, &args, &env)?;
            }
            Step::Missing { what, fix } => missing.push(format!("{what}: {fix}")),
            Step::Note(note) => eprintln!("xtask: bootstrap: note: {note}"),
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing, and not installable from here:\n  {}",
            missing.join("\n  ")
        );
    }
    Ok(())
}

/// The full path of `program` on PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn output(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn host_triple(dir: &Path) -> Option<String> {
    output("rustc", &["-vV"], dir)?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_machine() -> Machine {
        Machine {
            cargo_tools: [
                ("llvm-cov".to_owned(), CARGO_LLVM_COV.version.to_owned()),
                ("deny".to_owned(), CARGO_DENY.version.to_owned()),
            ]
            .into(),
            rustup: true,
            components: ["rustfmt", "clippy", "llvm-tools"]
                .map(str::to_owned)
                .into(),
            targets: [MUSL_TARGET.to_owned()].into(),
            files: [
                "/usr/bin/chromium",
                "python3",
                "node",
                "npm",
                "x86_64-linux-musl-gcc",
            ]
            .map(str::to_owned)
            .into(),
            root: true,
        }
    }

    fn commands(steps: &[Step]) -> Vec<String> {
        steps.iter().filter_map(Step::command_line).collect()
    }

    #[test]
    fn a_complete_machine_needs_nothing() {
        assert_eq!(plan(&full_machine(), &CI), []);
        assert_eq!(plan(&full_machine(), &CONTAINER), []);
    }

    #[test]
    fn missing_cargo_tools_are_installed_at_the_pinned_versions() {
        let mut m = full_machine();
        m.cargo_tools.clear();
        m.components.remove("llvm-tools");
        assert_eq!(
            commands(&plan(&m, &CI)),
            [
                "rustup component add llvm-tools",
                "cargo install --locked cargo-llvm-cov --version 0.9.1",
                "cargo install --locked cargo-deny --version 0.20.2",
            ]
        );
    }

    #[test]
    fn another_version_is_used_with_a_note_not_replaced() {
        let mut m = full_machine();
        m.cargo_tools.insert("deny".into(), "0.99.0".into());
        let steps = plan(&m, &CI);
        assert_eq!(commands(&steps), Vec::<String>::new());
        assert!(
            matches!(&steps[..], [Step::Note(n)] if n.contains("cargo-deny 0.99.0") && n.contains("0.20.2")),
            "{steps:?}"
        );
    }

    #[test]
    fn debian_packages_are_installed_as_root_in_one_apt_run() {
        let mut m = full_machine();
        m.files.remove("/usr/bin/chromium");
        m.files.remove("x86_64-linux-musl-gcc");
        let mut needs = CI.to_vec();
        needs.extend(CONTAINER);
        assert_eq!(
            commands(&plan(&m, &needs)),
            [
                "apt-get update -qq",
                "apt-get install -y -qq chromium musl-tools"
            ]
        );
    }

    #[test]
    fn without_root_a_missing_package_names_the_command_to_run() {
        let mut m = full_machine();
        m.root = false;
        m.files.remove("/usr/bin/chromium");
        let steps = plan(&m, &CI);
        assert_eq!(
            steps,
            [Step::Missing {
                what: "chromium".into(),
                fix: "as root: apt-get install -y chromium".into(),
            }]
        );
    }

    #[test]
    fn missing_programs_and_targets_are_reported_or_added() {
        let mut m = full_machine();
        m.files.remove("node");
        m.targets.clear();
        let mut needs = CI.to_vec();
        needs.extend(CONTAINER);
        let steps = plan(&m, &needs);
        assert_eq!(
            commands(&steps),
            ["rustup target add x86_64-unknown-linux-musl"]
        );
        assert!(
            steps
                .iter()
                .any(|s| matches!(s, Step::Missing { what, .. } if what == "node")),
            "{steps:?}"
        );
    }
}
