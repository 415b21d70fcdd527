//! The shipped settings are ones the server accepts: each Deployment's ConfigMap plus its Secret
//! (the template's placeholders filled with sample values), and the compose file's environment
//! (its `${VAR:-default}` interpolations resolved), are loaded by the real server binary, whose
//! `healthcheck` subcommand validates the whole configuration before it connects anywhere. A
//! setting the server refuses (a bad duration, a half-configured channel) fails here.

use std::path::Path;
use std::process::Command;

use regex::Regex;
use serde_json::Value;

use super::Deployment;
use super::invariants::{items, of_kind};
use super::routes::free_port;

/// Sample values for the keys whose format the server checks; any other placeholder becomes
/// `sample`.
const SAMPLES: [(&str, &str); 2] = [
    ("JWT_SECRET", "k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq"),
    ("ENCRYPTION_KEY", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
];
/// What the server prints when it refuses its configuration (bins/chatbox-server/src/config.rs).
const REFUSED: &str = "invalid configuration";

/// Every shipped configuration the server refuses, with the server's reasons.
pub fn check(server: &Path, deployment: &Deployment) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for (name, env) in configurations(deployment) {
        if let Some(reasons) = refused(server, &env)? {
            out.push(format!(
                "{name}: the server refuses this configuration: {reasons}"
            ));
        }
    }
    Ok(out)
}

/// Each configuration the files describe, named, as environment variables.
pub fn configurations(deployment: &Deployment) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    let secrets: Vec<&Value> = deployment
        .standalone
        .iter()
        .flat_map(|(_, docs)| docs)
        .filter(|d| d["kind"] == "Secret")
        .collect();
    for (set, docs) in &deployment.sets {
        for d in of_kind(docs, "Deployment") {
            let mut env = Vec::new();
            for c in items(&d["spec"]["template"]["spec"]["containers"]) {
                for from in items(&c["envFrom"]) {
                    if let Some(map) = from["configMapRef"]["name"].as_str() {
                        let data = of_kind(docs, "ConfigMap")
                            .find(|m| m["metadata"]["name"] == map)
                            .map(|m| &m["data"]);
                        env.extend(pairs(data));
                    }
                    if let Some(secret) = from["secretRef"]["name"].as_str() {
                        let data = secrets
                            .iter()
                            .copied()
                            .chain(of_kind(docs, "Secret"))
                            .find(|s| s["metadata"]["name"] == secret)
                            .map(|s| &s["stringData"]);
                        env.extend(pairs(data).into_iter().map(|(k, v)| {
                            let v = filled(&k, &v);
                            (k, v)
                        }));
                    }
                }
            }
            out.push((format!("{set} Deployment/{}", d["metadata"]["name"]), env));
        }
    }
    let compose_env = &deployment.compose["services"]["chatbox"]["environment"];
    if let Some(map) = compose_env.as_object() {
        let env = map
            .iter()
            .map(|(k, v)| (k.clone(), interpolated(k, &scalar(v))))
            .collect();
        out.push(("deployments/docker-compose.yml service chatbox".into(), env));
    }
    out
}

/// The server's reasons when it refuses `env`, `None` when it accepts it.
pub fn refused(server: &Path, env: &[(String, String)]) -> anyhow::Result<Option<String>> {
    let dir = std::env::temp_dir().join(format!("chatbox-settings-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Nothing listens on this port: an accepted configuration ends in "cannot connect".
    let port = free_port()?.to_string();
    let mut cmd = Command::new(server);
    cmd.arg("healthcheck")
        .current_dir(&dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SERVER_PORT", &port);
    if let Some(profile) = std::env::var_os("LLVM_PROFILE_FILE") {
        cmd.env("LLVM_PROFILE_FILE", profile);
    }
    let output = cmd.output()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    Ok(text.contains(REFUSED).then(|| {
        text.lines()
            .skip_while(|l| !l.contains(REFUSED))
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }))
}

fn pairs(data: Option<&Value>) -> Vec<(String, String)> {
    data.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), scalar(v)))
        .collect()
}

fn scalar(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// A Secret template value with its placeholders replaced by sample values.
fn filled(key: &str, value: &str) -> String {
    if let Some((_, sample)) = SAMPLES.iter().find(|(k, _)| *k == key) {
        return (*sample).to_owned();
    }
    let placeholder = Regex::new(r"REPLACE_WITH[A-Z0-9_]*").expect("valid regex");
    placeholder.replace_all(value, "sample").into_owned()
}

/// A compose value with `${VAR}`, `${VAR:-default}` and `${VAR:?message}` resolved: the default
/// where there is one, else a sample value.
fn interpolated(key: &str, value: &str) -> String {
    let var = Regex::new(r"\$\{([A-Za-z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}").expect("valid regex");
    var.replace_all(value, |c: &regex::Captures<'_>| match c.get(2) {
        Some(default) => default.as_str().to_owned(),
        None => filled(&c[1], &format!("REPLACE_WITH_{key}")),
    })
    .into_owned()
}
