//! The rules a deployment must keep, checked on the rendered resources (and on the compose file,
//! the Secret template and the Dockerfile). Each check returns its violations, empty when clean,
//! so tests show each rule catching what it is for.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use super::kustomize::{id, split_image};

/// The server's default `SHUTDOWN_TIMEOUT` (bins/chatbox-server/src/config.rs).
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// The server's default path prefix.
const DEFAULT_PREFIX: &str = "/chatbox";
/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECS: u64 = 30;
/// WebSockets idle this long must survive the ingress (seconds).
const MIN_PROXY_TIMEOUT_SECS: u64 = 3600;
/// The fields of `LLM_PROVIDER_<N>_*`.
const PROVIDER_FIELDS: [&str; 6] = ["ID", "NAME", "TYPE", "ENDPOINT", "API_KEY", "MODEL"];
/// What marks a value still to be filled in (the server refuses to start on it).
const PLACEHOLDER: &str = "REPLACE_WITH";

/// The environment variables the server reads: every `"UPPER_CASE"` string literal of its
/// sources (tests excluded), plus the `LLM_PROVIDER_<N>_*` family it formats.
#[derive(Debug, Clone, Default)]
pub struct ServerKeys {
    keys: BTreeSet<String>,
}

impl ServerKeys {
    /// Reads the keys from `bins/chatbox-server/src`.
    pub fn read(root: &Path) -> Self {
        let literal = Regex::new(r#""([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)""#).expect("valid regex");
        let mut keys = BTreeSet::new();
        let src = root.join("bins/chatbox-server/src");
        for entry in walkdir::WalkDir::new(src)
            .into_iter()
            .filter_map(Result::ok)
        {
            let path = entry.path();
            let is_test = path.file_name().is_some_and(|n| n == "tests.rs");
            if is_test || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap_or_default();
            keys.extend(literal.captures_iter(&text).map(|c| c[1].to_owned()));
            if text.contains("LLM_PROVIDER_{n}_") {
                keys.insert("LLM_PROVIDER_{n}_".into());
            }
        }
        ServerKeys { keys }
    }

    /// A set of keys, for tests.
    #[cfg(test)]
    pub fn of(keys: &[&str]) -> Self {
        ServerKeys {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// True when the server reads `key`.
    pub fn reads(&self, key: &str) -> bool {
        if self.keys.contains(key) {
            return true;
        }
        let provider = Regex::new(r"^LLM_PROVIDER_[0-9]+_([A-Z_]+)$").expect("valid regex");
        provider.captures(key).is_some_and(|c| {
            self.keys.contains("LLM_PROVIDER_{n}_") && PROVIDER_FIELDS.contains(&&c[1])
        })
    }
}

/// Every rule over one rendered kustomization; `set` names it in messages.
pub fn check_set(set: &str, docs: &[Value], keys: &ServerKeys) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(one_hpa(docs));
    out.extend(network_policies(docs));
    out.extend(grace_covers_shutdown(docs));
    out.extend(pinned_images(docs));
    out.extend(no_stickiness(docs));
    out.extend(probes_and_security(docs));
    out.extend(websocket_timeouts(docs));
    out.extend(env_keys_are_real(docs, keys));
    out.into_iter().map(|v| format!("{set}: {v}")).collect()
}

/// Exactly one HorizontalPodAutoscaler (autoscaling/v2), aimed at a Deployment of the set: two
/// would fight over the replica count.
pub fn one_hpa(docs: &[Value]) -> Vec<String> {
    let hpas: Vec<&Value> = of_kind(docs, "HorizontalPodAutoscaler").collect();
    if hpas.len() != 1 {
        return vec![format!(
            "expected exactly one HorizontalPodAutoscaler, found {}",
            hpas.len()
        )];
    }
    let hpa = hpas[0];
    let mut out = Vec::new();
    if hpa["apiVersion"] != "autoscaling/v2" {
        out.push(format!("{} must be autoscaling/v2", id(hpa)));
    }
    let target = &hpa["spec"]["scaleTargetRef"];
    let aimed = of_kind(docs, "Deployment")
        .any(|d| target["kind"] == "Deployment" && d["metadata"]["name"] == target["name"]);
    if !aimed {
        out.push(format!("{} scales no Deployment of this set", id(hpa)));
    }
    out
}

/// Every ingress peer names namespace AND pods in one item (two items are OR-ed, admitting
/// every pod of the namespace and every pod so labelled anywhere); egress allows DNS over UDP
/// and TCP, MongoDB, HTTPS and SMTP.
pub fn network_policies(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let policies: Vec<&Value> = of_kind(docs, "NetworkPolicy").collect();
    if policies.is_empty() {
        out.push("no NetworkPolicy".to_owned());
    }
    for np in policies {
        for rule in items(&np["spec"]["ingress"]) {
            for peer in items(&rule["from"]) {
                let both =
                    peer.get("namespaceSelector").is_some() && peer.get("podSelector").is_some();
                if !both {
                    out.push(format!(
                        "{}: an ingress `from` item must hold namespaceSelector and podSelector together (separate items are OR-ed): {peer}",
                        id(np)
                    ));
                }
            }
        }
        let egress_ports: BTreeSet<(i64, String)> = items(&np["spec"]["egress"])
            .flat_map(|rule| items(&rule["ports"]))
            .filter_map(|p| {
                let proto = p["protocol"].as_str().unwrap_or("TCP").to_owned();
                p["port"].as_i64().map(|n| (n, proto))
            })
            .collect();
        for (port, proto, what) in [
            (53, "UDP", "DNS"),
            (53, "TCP", "DNS"),
            (27017, "TCP", "MongoDB"),
            (443, "TCP", "HTTPS"),
            (587, "TCP", "SMTP submission"),
            (465, "TCP", "SMTPS"),
        ] {
            if !egress_ports.contains(&(port, proto.to_owned())) {
                out.push(format!(
                    "{}: egress must allow {what} ({port}/{proto})",
                    id(np)
                ));
            }
        }
    }
    out
}

/// Each Deployment's `terminationGracePeriodSeconds` exceeds its preStop pause plus the
/// `SHUTDOWN_TIMEOUT` of its ConfigMap, so a graceful shutdown is never cut by SIGKILL.
pub fn grace_covers_shutdown(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for d in of_kind(docs, "Deployment") {
        let spec = &d["spec"]["template"]["spec"];
        let grace = spec["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(DEFAULT_GRACE_SECS);
        let shutdown = match config_value(docs, d, "SHUTDOWN_TIMEOUT") {
            None => DEFAULT_SHUTDOWN_TIMEOUT,
            Some(raw) => match parse_duration(&raw) {
                Some(t) => t,
                None => {
                    out.push(format!(
                        "{}: SHUTDOWN_TIMEOUT {raw:?} is no duration",
                        id(d)
                    ));
                    continue;
                }
            },
        };
        let pause = items(&spec["containers"])
            .filter_map(|c| c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64())
            .max()
            .unwrap_or(0);
        let needed = pause + shutdown.as_secs();
        if grace <= needed {
            out.push(format!(
                "{}: terminationGracePeriodSeconds {grace} must exceed the preStop pause ({pause}s) + SHUTDOWN_TIMEOUT ({}s) = {needed}s",
                id(d),
                shutdown.as_secs()
            ));
        }
    }
    out
}

/// Every image names a version tag or a digest, never `latest` or nothing.
pub fn pinned_images(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for r in docs {
        for c in containers(r) {
            if let Some(problem) = c["image"].as_str().map_or(Some("no image"), image_problem) {
                out.push(format!("{} container {}: {problem}", id(r), c["name"]));
            }
        }
    }
    out
}

/// Why `image` is not pinned, if it is not.
pub fn image_problem(image: &str) -> Option<&'static str> {
    let (_, reference) = split_image(image);
    let tag = reference
        .strip_prefix(':')
        .map(|t| t.split('@').next().unwrap_or(t));
    if tag == Some("latest") {
        return Some("`:latest` is not a version; pin a release tag or a digest");
    }
    if reference.is_empty() {
        return Some("untagged (means :latest); pin a release tag or a digest");
    }
    None
}

/// No session stickiness: sessions resume on any pod, and affinity would pile reconnects onto
/// one pod and keep them there.
pub fn no_stickiness(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for r in docs {
        if let Some(annotations) = r["metadata"]["annotations"].as_object() {
            for key in annotations.keys() {
                let k = key.to_ascii_lowercase();
                if k.contains("affinity") || k.contains("session-cookie") {
                    out.push(format!("{}: sticky-session annotation {key}", id(r)));
                }
            }
        }
        if r["kind"] == "Service"
            && let Some(a) = r["spec"]["sessionAffinity"].as_str()
            && a != "None"
        {
            out.push(format!("{}: sessionAffinity {a}", id(r)));
        }
    }
    out
}

/// Each Deployment's containers: liveness on `P/healthz`, readiness on `P/readyz` (P from the
/// ConfigMap), on the declared port; non-root, read-only root, no capabilities, RuntimeDefault
/// seccomp; the data directory on a volume.
pub fn probes_and_security(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for d in of_kind(docs, "Deployment") {
        let pod = &d["spec"]["template"]["spec"];
        let prefix =
            config_value(docs, d, "CHATBOX_PATH_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        let port = config_value(docs, d, "SERVER_PORT").unwrap_or_else(|| "8080".into());
        let data_dir = config_value(docs, d, "CHATBOX_DATA_DIR");
        let pod_sc = &pod["securityContext"];
        for c in items(&pod["containers"]) {
            let who = format!("{} container {}", id(d), c["name"]);
            for (probe, path) in [
                ("livenessProbe", format!("{prefix}/healthz")),
                ("readinessProbe", format!("{prefix}/readyz")),
            ] {
                let get = &c[probe]["httpGet"];
                if get["path"] != path.as_str() {
                    out.push(format!(
                        "{who}: {probe} must GET {path}, not {}",
                        get["path"]
                    ));
                }
                // The probe's port, by name or number, must be the one SERVER_PORT opens.
                let server_port = items(&c["ports"]).find(|p| {
                    p["containerPort"].as_i64().map(|n| n.to_string()) == Some(port.clone())
                });
                let port_ok = server_port.is_some_and(|p| match &get["port"] {
                    Value::String(name) => p["name"] == name.as_str(),
                    number => p["containerPort"] == *number,
                });
                if !port_ok {
                    out.push(format!(
                        "{who}: {probe} must use the container port SERVER_PORT={port}"
                    ));
                }
            }
            let sc = &c["securityContext"];
            let field = |name: &str| {
                if sc[name].is_null() {
                    &pod_sc[name]
                } else {
                    &sc[name]
                }
            };
            if field("runAsNonRoot") != true {
                out.push(format!("{who}: runAsNonRoot must be true"));
            }
            if sc["readOnlyRootFilesystem"] != true {
                out.push(format!("{who}: readOnlyRootFilesystem must be true"));
            }
            if sc["allowPrivilegeEscalation"] != false {
                out.push(format!("{who}: allowPrivilegeEscalation must be false"));
            }
            if !items(&sc["capabilities"]["drop"]).any(|c| c == "ALL") {
                out.push(format!("{who}: capabilities must drop ALL"));
            }
            if field("seccompProfile")["type"] != "RuntimeDefault" {
                out.push(format!("{who}: seccompProfile must be RuntimeDefault"));
            }
            if let Some(dir) = &data_dir
                && !items(&c["volumeMounts"]).any(|m| m["mountPath"] == dir.as_str())
            {
                out.push(format!(
                    "{who}: CHATBOX_DATA_DIR={dir} must be a mounted volume (the root filesystem is read-only)"
                ));
            }
        }
    }
    out
}

/// Every Ingress keeps idle WebSockets for at least an hour.
pub fn websocket_timeouts(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for ing in of_kind(docs, "Ingress") {
        for key in ["proxy-read-timeout", "proxy-send-timeout"] {
            let full = format!("nginx.ingress.kubernetes.io/{key}");
            let value = &ing["metadata"]["annotations"][&full];
            let secs = value
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .or_else(|| value.as_u64());
            if secs.is_none_or(|s| s < MIN_PROXY_TIMEOUT_SECS) {
                out.push(format!(
                    "{}: {full} must be at least \"{MIN_PROXY_TIMEOUT_SECS}\" (WebSockets), is {value}",
                    id(ing)
                ));
            }
        }
    }
    out
}

/// ConfigMap and Secret keys are variables the server reads (a typo would be ignored silently).
pub fn env_keys_are_real(docs: &[Value], keys: &ServerKeys) -> Vec<String> {
    let mut out = Vec::new();
    for r in docs {
        let data = match r["kind"].as_str() {
            Some("ConfigMap") => &r["data"],
            Some("Secret") => {
                if r["stringData"].is_null() {
                    &r["data"]
                } else {
                    &r["stringData"]
                }
            }
            _ => continue,
        };
        for key in data.as_object().into_iter().flat_map(|m| m.keys()) {
            if !keys.reads(key) {
                out.push(format!("{}: {key} is no variable the server reads", id(r)));
            }
        }
    }
    out
}

/// The compose file: pinned images, and the server's environment names only real variables.
pub fn check_compose(compose: &Value, keys: &ServerKeys) -> Vec<String> {
    let mut out = Vec::new();
    for (name, service) in compose["services"].as_object().into_iter().flatten() {
        if let Some(image) = service["image"].as_str()
            && service.get("build").is_none()
            && let Some(problem) = image_problem(image)
        {
            out.push(format!("compose service {name} image {image}: {problem}"));
        }
        if name == "chatbox" {
            for key in service["environment"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.keys())
            {
                if !keys.reads(key) {
                    out.push(format!(
                        "compose service chatbox: {key} is no variable the server reads"
                    ));
                }
            }
            if service["read_only"] != true {
                out.push("compose service chatbox: read_only must be true".to_owned());
            }
        }
    }
    out
}

/// The Secret template: real keys only, and every value a placeholder (no secret is committed).
pub fn check_secret_template(doc: &Value, keys: &ServerKeys) -> Vec<String> {
    let mut out = env_keys_are_real(std::slice::from_ref(doc), keys);
    for (key, value) in doc["stringData"].as_object().into_iter().flatten() {
        if !value.as_str().is_some_and(|v| v.contains(PLACEHOLDER)) {
            out.push(format!(
                "{}: {key} must be a {PLACEHOLDER}... placeholder, never a real value",
                id(doc)
            ));
        }
    }
    out
}

/// The Dockerfile: the Rust version of rust-toolchain.toml, pinned base images, a non-root
/// user and a health check.
pub fn check_dockerfile(text: &str, toolchain_channel: &str) -> Vec<String> {
    let mut out = Vec::new();
    let arg = Regex::new(r"(?m)^ARG RUST_VERSION=(\S+)$").expect("valid regex");
    let version = arg.captures(text).map(|c| c[1].to_owned());
    if version.as_deref() != Some(toolchain_channel) {
        out.push(format!(
            "Dockerfile: ARG RUST_VERSION={} must equal rust-toolchain.toml's channel {toolchain_channel}",
            version.as_deref().unwrap_or("<missing>")
        ));
    }
    let from = Regex::new(r"(?m)^FROM\s+(\S+)").expect("valid regex");
    for c in from.captures_iter(text) {
        let image = c[1].replace("${RUST_VERSION}", version.as_deref().unwrap_or(""));
        if let Some(problem) = image_problem(&image) {
            out.push(format!("Dockerfile: FROM {image}: {problem}"));
        }
    }
    let user = Regex::new(r"(?m)^USER\s+(\S+)").expect("valid regex");
    match user.captures_iter(text).last() {
        Some(u) if !u[1].starts_with("0") && !u[1].starts_with("root") => {}
        _ => out.push("Dockerfile: the image must end with a non-root USER".to_owned()),
    }
    let healthcheck =
        Regex::new(r"(?m)^HEALTHCHECK\s+(?:--\S+\s+|\\\s+)*CMD\s").expect("valid regex");
    if !healthcheck.is_match(text) {
        out.push("Dockerfile: needs a HEALTHCHECK".to_owned());
    }
    out
}

/// Resources of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    docs.iter().filter(move |d| d["kind"] == kind)
}

/// A value's array items (none when it is no array).
pub fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The containers and init containers of a workload.
fn containers(r: &Value) -> impl Iterator<Item = &Value> {
    let spec = &r["spec"]["template"]["spec"];
    items(&spec["containers"]).chain(items(&spec["initContainers"]))
}

/// `key` from a ConfigMap the Deployment's containers take their environment from.
pub fn config_value(docs: &[Value], deployment: &Value, key: &str) -> Option<String> {
    let maps: Vec<&str> = containers(deployment)
        .flat_map(|c| items(&c["envFrom"]))
        .filter_map(|e| e["configMapRef"]["name"].as_str())
        .collect();
    of_kind(docs, "ConfigMap")
        .filter(|m| maps.iter().any(|n| m["metadata"]["name"] == *n))
        .find_map(|m| m["data"][key].as_str().map(str::to_owned))
}

/// A Go-style duration as the server reads it: `30s`, `1m30s`, `2m0s`, `100ms`, `1h`, or a
/// bare number of seconds.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    if let Ok(secs) = raw.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let re = Regex::new(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$").expect("valid regex");
    let s = raw.trim();
    let c = re.captures(s).filter(|_| !s.is_empty())?;
    let n = |i: usize| c.get(i).map_or(Ok(0), |m| m.as_str().parse::<u64>());
    let secs = n(1).ok()? * 3600 + n(2).ok()? * 60 + n(3).ok()?;
    Some(Duration::from_secs(secs) + Duration::from_millis(n(4).ok()?))
}
