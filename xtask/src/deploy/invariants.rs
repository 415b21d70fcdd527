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
/// The kinds of resource that run pods. A Deployment is the chatbox server (the rules that read
/// its ConfigMap say so); a StatefulSet is a service it relies on (NATS).
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];
/// NATS's client port, when `NATS_URL` names none.
const NATS_PORT: i64 = 4222;

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
    out.extend(stateful_sets(docs));
    out.extend(broker_in_the_set(docs));
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

/// Every workload's pods are selected by a NetworkPolicy. An ingress peer with a
/// namespaceSelector names pods too, in the same item (as two items they are OR-ed, and a
/// namespaceSelector alone admits every pod of those namespaces; a podSelector alone means pods
/// of the policy's own namespace). A policy restricting egress allows DNS over UDP and TCP; one
/// selecting a Deployment's pods (the server's) also MongoDB, HTTPS and SMTP.
pub fn network_policies(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let policies: Vec<&Value> = of_kind(docs, "NetworkPolicy").collect();
    for w in workloads(docs) {
        if !policies
            .iter()
            .any(|np| label_selects(&np["spec"]["podSelector"], pod_labels(w)))
        {
            out.push(format!("{}: no NetworkPolicy selects its pods", id(w)));
        }
    }
    for np in policies {
        for rule in items(&np["spec"]["ingress"]) {
            for peer in items(&rule["from"]) {
                if peer.get("namespaceSelector").is_some() && peer.get("podSelector").is_none() {
                    out.push(format!(
                        "{}: an ingress `from` item with a namespaceSelector must hold a podSelector too, in the same item (separate items are OR-ed; a namespaceSelector alone admits every pod of those namespaces): {peer}",
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
        let servers = of_kind(docs, "Deployment")
            .any(|d| label_selects(&np["spec"]["podSelector"], pod_labels(d)));
        let mut needed = Vec::new();
        if servers || restricts(np, "Egress") {
            needed.extend([(53, "UDP", "DNS"), (53, "TCP", "DNS")]);
        }
        if servers {
            needed.extend([
                (27017, "TCP", "MongoDB"),
                (443, "TCP", "HTTPS"),
                (587, "TCP", "SMTP submission"),
                (465, "TCP", "SMTPS"),
            ]);
        }
        for (port, proto, what) in needed {
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

/// Every workload's containers: non-root, read-only root, no privilege escalation, no
/// capabilities, RuntimeDefault seccomp. A Deployment's (the server's) also: liveness on
/// `P/healthz`, readiness on `P/readyz` (P from the ConfigMap), on the declared port; the data
/// directory on a volume.
pub fn probes_and_security(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for d in workloads(docs) {
        let server = d["kind"] == "Deployment";
        let pod = &d["spec"]["template"]["spec"];
        let prefix =
            config_value(docs, d, "CHATBOX_PATH_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        let port = config_value(docs, d, "SERVER_PORT").unwrap_or_else(|| "8080".into());
        let data_dir = config_value(docs, d, "CHATBOX_DATA_DIR");
        let pod_sc = &pod["securityContext"];
        for c in containers(d) {
            let who = format!("{} container {}", id(d), c["name"]);
            let probes = if server {
                vec![
                    ("livenessProbe", format!("{prefix}/healthz")),
                    ("readinessProbe", format!("{prefix}/readyz")),
                ]
            } else {
                Vec::new()
            };
            for (probe, path) in probes {
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
            if server
                && let Some(dir) = &data_dir
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

/// Each StatefulSet (NATS: a JetStream cluster, which needs a majority of its servers): its
/// `serviceName` is a headless Service of the set selecting its pods (their stable DNS names,
/// which the cluster routes use); every container has liveness and readiness probes on a port
/// it declares; every volumeClaimTemplate is mounted; exactly one PodDisruptionBudget covers its
/// pods, keeping a majority of its replicas while letting one go (a drain can proceed and the
/// cluster keeps its quorum).
pub fn stateful_sets(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for s in of_kind(docs, "StatefulSet") {
        let labels = pod_labels(s);
        let name = &s["spec"]["serviceName"];
        match of_kind(docs, "Service").find(|svc| svc["metadata"]["name"] == *name) {
            None => out.push(format!(
                "{}: serviceName {name} is no Service of this set",
                id(s)
            )),
            Some(svc) => {
                if svc["spec"]["clusterIP"] != "None" {
                    out.push(format!(
                        "{}: its serviceName {} must be headless (clusterIP: None)",
                        id(s),
                        id(svc)
                    ));
                }
                if !selects(&svc["spec"]["selector"], labels) {
                    out.push(format!(
                        "{}: its serviceName {} does not select its pods",
                        id(s),
                        id(svc)
                    ));
                }
            }
        }
        let pod = &s["spec"]["template"]["spec"];
        for c in items(&pod["containers"]) {
            let who = format!("{} container {}", id(s), c["name"]);
            for probe in ["livenessProbe", "readinessProbe"] {
                let handler = &c[probe];
                if handler.is_null() {
                    out.push(format!("{who}: needs a {probe}"));
                    continue;
                }
                let port = if handler["httpGet"].is_null() {
                    &handler["tcpSocket"]["port"]
                } else {
                    &handler["httpGet"]["port"]
                };
                let declared = items(&c["ports"]).any(|p| match port {
                    Value::String(name) => p["name"] == name.as_str(),
                    number => p["containerPort"] == *number,
                });
                if !port.is_null() && !declared {
                    out.push(format!("{who}: {probe} port {port} is none of its ports"));
                }
            }
        }
        for claim in items(&s["spec"]["volumeClaimTemplates"]) {
            let claim = &claim["metadata"]["name"];
            let mounted = items(&pod["containers"])
                .any(|c| items(&c["volumeMounts"]).any(|m| m["name"] == *claim));
            if !mounted {
                out.push(format!(
                    "{}: volumeClaimTemplate {claim} is mounted by no container",
                    id(s)
                ));
            }
        }
        out.extend(quorum_budget(docs, s));
    }
    out
}

/// The one PodDisruptionBudget of StatefulSet `s` keeps a majority and lets one pod go.
fn quorum_budget(docs: &[Value], s: &Value) -> Vec<String> {
    let replicas = s["spec"]["replicas"].as_i64().unwrap_or(1);
    let budgets: Vec<&Value> = of_kind(docs, "PodDisruptionBudget")
        .filter(|b| label_selects(&b["spec"]["selector"], pod_labels(s)))
        .collect();
    let budget = match budgets.as_slice() {
        [one] => *one,
        [] => return vec![format!("{}: no PodDisruptionBudget covers its pods", id(s))],
        _ => {
            return vec![format!(
                "{}: {} PodDisruptionBudgets cover its pods (evictions then fail): keep one",
                id(s),
                budgets.len()
            )];
        }
    };
    let spec = &budget["spec"];
    let kept = match (
        spec["minAvailable"].as_i64(),
        spec["maxUnavailable"].as_i64(),
    ) {
        (Some(min), _) => min,
        (None, Some(max)) => replicas - max,
        (None, None) => {
            return vec![format!(
                "{}: minAvailable or maxUnavailable must be a number of pods (of {replicas})",
                id(budget)
            )];
        }
    };
    let mut out = Vec::new();
    if kept <= replicas / 2 {
        out.push(format!(
            "{}: keeps {kept} of {replicas} pods of {}: not a majority (the cluster's quorum)",
            id(budget),
            id(s)
        ));
    }
    if kept >= replicas {
        out.push(format!(
            "{}: keeps {kept} of {replicas} pods of {}: no pod may go, so a node drain never ends",
            id(budget),
            id(s)
        ));
    }
    out
}

/// When a Deployment's ConfigMap sets `NATS_URL`, the broker is part of the set: each URL's
/// host is a Service of the set exposing the URL's port (4222 by default) and selecting the pods
/// of another workload of the set; the NetworkPolicies let the Deployment's pods reach that
/// port, and admit them on it to the broker's pods. (A broker outside the cluster would need
/// this rule relaxed: the shipped sets deploy it.)
pub fn broker_in_the_set(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let policies: Vec<&Value> = of_kind(docs, "NetworkPolicy").collect();
    for d in of_kind(docs, "Deployment") {
        let Some(urls) = config_value(docs, d, "NATS_URL") else {
            continue;
        };
        let clients = pod_labels(d);
        for url in urls.split(',').map(str::trim) {
            let Some((host, port)) = nats_host_port(url) else {
                out.push(format!("{}: NATS_URL entry {url:?} names no host", id(d)));
                continue;
            };
            let service_name = host.split('.').next().unwrap_or(host);
            let Some(service) =
                of_kind(docs, "Service").find(|s| s["metadata"]["name"] == service_name)
            else {
                out.push(format!(
                    "{}: NATS_URL names host {host}, which is no Service of this set (the NATS cluster is deployed with the set: nats-*.yaml)",
                    id(d)
                ));
                continue;
            };
            let Some(service_port) = items(&service["spec"]["ports"]).find(|p| p["port"] == port)
            else {
                out.push(format!(
                    "{}: exposes no port {port}, which NATS_URL names",
                    id(service)
                ));
                continue;
            };
            let Some(broker) = workloads(docs)
                .find(|w| *w != d && selects(&service["spec"]["selector"], pod_labels(w)))
            else {
                out.push(format!(
                    "{}: selects the pods of no workload of this set, so NATS_URL leads nowhere",
                    id(service)
                ));
                continue;
            };
            let target = container_port(broker, &service_port["targetPort"], port);
            let servers = pod_labels(broker);
            let egress: Vec<&&Value> = policies
                .iter()
                .filter(|np| label_selects(&np["spec"]["podSelector"], clients))
                .filter(|np| restricts(np, "Egress"))
                .collect();
            let reaches = egress.iter().any(|np| {
                items(&np["spec"]["egress"])
                    .any(|r| rule_allows(r, &target) && peers_include(&r["to"], servers))
            });
            if !egress.is_empty() && !reaches {
                out.push(format!(
                    "{}: no NetworkPolicy lets its pods reach {} on port {} (NATS_URL)",
                    id(d),
                    id(broker),
                    target.0
                ));
            }
            let ingress: Vec<&&Value> = policies
                .iter()
                .filter(|np| label_selects(&np["spec"]["podSelector"], servers))
                .filter(|np| restricts(np, "Ingress"))
                .collect();
            let admitted = ingress.iter().any(|np| {
                items(&np["spec"]["ingress"])
                    .any(|r| rule_allows(r, &target) && peers_include(&r["from"], clients))
            });
            if !ingress.is_empty() && !admitted {
                out.push(format!(
                    "{}: no NetworkPolicy admits {}'s pods to it on port {} (NATS_URL)",
                    id(broker),
                    id(d),
                    target.0
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

/// The keys of the ConfigMaps a Deployment (the server) takes its environment from, and of
/// Secrets, are variables the server reads (a typo would be ignored silently). Other ConfigMaps
/// (NATS's `nats.conf`) are files, not environments.
pub fn env_keys_are_real(docs: &[Value], keys: &ServerKeys) -> Vec<String> {
    let mut out = Vec::new();
    let environments: Vec<&Value> = of_kind(docs, "Deployment")
        .flat_map(containers)
        .flat_map(|c| items(&c["envFrom"]))
        .map(|e| &e["configMapRef"]["name"])
        .collect();
    for r in docs {
        let data = match r["kind"].as_str() {
            Some("ConfigMap") if environments.contains(&&r["metadata"]["name"]) => &r["data"],
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
            out.extend(compose_broker(compose, service));
        }
    }
    out
}

/// The compose file's `NATS_URL` names a service of the file, with a health check, that the
/// server waits for (`depends_on` it healthy): a server that starts first fails to connect.
fn compose_broker(compose: &Value, chatbox: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(urls) = chatbox["environment"]["NATS_URL"].as_str() else {
        return out;
    };
    for url in urls.split(',') {
        let Some((host, _)) = nats_host_port(url.trim()) else {
            out.push(format!(
                "compose service chatbox: NATS_URL {url:?} names no host"
            ));
            continue;
        };
        let broker = &compose["services"][host];
        if broker.is_null() {
            out.push(format!(
                "compose service chatbox: NATS_URL names {host}, which is no service of the file"
            ));
            continue;
        }
        if broker["healthcheck"]["test"].is_null() {
            out.push(format!(
                "compose service {host}: needs a healthcheck (NATS_URL)"
            ));
        }
        if chatbox["depends_on"][host]["condition"] != "service_healthy" {
            out.push(format!(
                "compose service chatbox: must depend on {host} with condition service_healthy (NATS_URL)"
            ));
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

/// The resources that run pods.
pub fn workloads(docs: &[Value]) -> impl Iterator<Item = &Value> {
    docs.iter()
        .filter(|d| WORKLOAD_KINDS.iter().any(|k| d["kind"] == *k))
}

/// The labels of a workload's pods.
pub fn pod_labels(workload: &Value) -> &Value {
    &workload["spec"]["template"]["metadata"]["labels"]
}

/// True when a Service's `selector` (a map of labels) selects pods labelled `labels`; an empty
/// or missing selector selects none here (such a Service has no endpoints of its own).
pub fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels[k] == *v))
}

/// True when a label selector (`matchLabels`; `{}` selects every pod) selects pods labelled
/// `labels`. One with `matchExpressions` selects none here: the manifests do not use them.
pub fn label_selects(selector: &Value, labels: &Value) -> bool {
    if selector.get("matchExpressions").is_some() || !selector.is_object() {
        return false;
    }
    selector["matchLabels"]
        .as_object()
        .is_none_or(|m| m.iter().all(|(k, v)| labels[k] == *v))
}

/// True when a NetworkPolicy restricts `direction` (`Ingress` or `Egress`) for its pods.
fn restricts(np: &Value, direction: &str) -> bool {
    match np["spec"]["policyTypes"].as_array() {
        Some(types) => types.iter().any(|t| t == direction),
        // Without policyTypes: Ingress always, Egress when there are egress rules.
        None => direction == "Ingress" || !np["spec"]["egress"].is_null(),
    }
}

/// True when a rule's `ports` (none: every port) include `port`, by number or by name.
fn rule_allows(rule: &Value, port: &(i64, Option<String>)) -> bool {
    rule.get("ports").is_none()
        || items(&rule["ports"]).any(|p| match &p["port"] {
            Value::String(name) => port.1.as_deref() == Some(name.as_str()),
            Value::Null => true,
            number => number.as_i64() == Some(port.0),
        })
}

/// True when a rule's peers (`to` or `from`; none: everyone) include the pods labelled
/// `labels` by a podSelector.
fn peers_include(peers: &Value, labels: &Value) -> bool {
    peers.as_array().is_none_or(Vec::is_empty)
        || items(peers).any(|p| label_selects(&p["podSelector"], labels))
}

/// The host and port of one `NATS_URL` entry (`nats://[user[:password]@]host[:port]`).
pub fn nats_host_port(url: &str) -> Option<(&str, i64)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let address = authority.rsplit('@').next()?;
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()?),
        None => (
            address,
            match scheme {
                "ws" => 80,
                "wss" => 443,
                _ => NATS_PORT,
            },
        ),
    };
    (!host.is_empty()).then_some((host, port))
}

/// A container port of `workload` by a Service's `targetPort` (a name or a number; none: the
/// Service's `port`): its number and its name.
fn container_port(workload: &Value, target: &Value, port: i64) -> (i64, Option<String>) {
    let mut declared = containers(workload).flat_map(|c| items(&c["ports"]));
    let found = match target {
        Value::String(name) => declared.find(|p| p["name"] == name.as_str()),
        Value::Null => declared.find(|p| p["containerPort"] == port),
        number => declared.find(|p| p["containerPort"] == *number),
    };
    match found {
        Some(p) => (
            p["containerPort"].as_i64().unwrap_or(port),
            p["name"].as_str().map(str::to_owned),
        ),
        None => (target.as_i64().unwrap_or(port), None),
    }
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
