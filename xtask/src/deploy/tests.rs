//! The deployment checks: the repository's files keep every rule, and each rule is shown to
//! catch what it is for on a broken copy.

use serde_json::{Value, json};
use xtask::workspace_root;

use super::invariants::{self, ServerKeys};
use super::{Deployment, container, kustomize, routes, settings, yaml};

fn deployment() -> Deployment {
    Deployment::read(&workspace_root()).unwrap()
}

fn set(d: &Deployment, name: &str) -> Vec<Value> {
    d.sets
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, docs)| docs.clone())
        .unwrap_or_else(|| panic!("no kustomization {name}"))
}

fn find<'a>(docs: &'a mut [Value], kind: &str) -> &'a mut Value {
    docs.iter_mut().find(|d| d["kind"] == kind).unwrap()
}

fn named<'a>(docs: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    docs.iter_mut()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn sts(docs: &mut [Value]) -> &mut Value {
    named(docs, "StatefulSet", "nats")
}

fn keys() -> ServerKeys {
    ServerKeys::read(&workspace_root())
}

#[test]
fn the_repository_keeps_every_rule() {
    let d = deployment();
    let names: Vec<&str> = d.sets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["base", "overlays/production"]);
    assert_eq!(d.standalone.len(), 1, "the Secret template stands alone");
    let violations = d.violations(&keys());
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn a_second_hpa_fails() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::one_hpa(&docs).is_empty());
    let mut second = find(&mut docs, "HorizontalPodAutoscaler").clone();
    second["metadata"]["name"] = json!("chatbox-memory");
    docs.push(second);
    let v = invariants::one_hpa(&docs);
    assert_eq!(v, ["expected exactly one HorizontalPodAutoscaler, found 2"]);
}

#[test]
fn namespace_and_pod_selectors_in_separate_items_fail() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::network_policies(&docs).is_empty());
    let np = find(&mut docs, "NetworkPolicy");
    let peer = np["spec"]["ingress"][0]["from"][0].clone();
    np["spec"]["ingress"][0]["from"] = json!([
        {"namespaceSelector": peer["namespaceSelector"]},
        {"podSelector": peer["podSelector"]},
    ]);
    // The namespaceSelector alone admits every pod of ingress-nginx's namespace; the
    // podSelector alone means pods of this namespace, harmless on its own.
    let v = invariants::network_policies(&docs);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("OR-ed"), "{v:#?}");
    assert!(v[0].contains("namespaceSelector alone"), "{v:#?}");
}

#[test]
fn a_workload_no_network_policy_selects_fails_and_every_policy_needs_dns() {
    let base = set(&deployment(), "base");
    let mut docs = base.clone();
    docs.retain(|d| !(d["kind"] == "NetworkPolicy" && d["metadata"]["name"] == "nats"));
    let v = invariants::network_policies(&docs);
    assert_eq!(v, ["StatefulSet/nats: no NetworkPolicy selects its pods"]);

    // NATS's policy restricts egress, so it needs DNS (its routes are names), but not the
    // server's MongoDB, HTTPS and SMTP.
    let mut docs = base;
    let np = named(&mut docs, "NetworkPolicy", "nats");
    np["spec"]["egress"].as_array_mut().unwrap().remove(0);
    let v = invariants::network_policies(&docs);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(
        v.iter()
            .all(|m| m.starts_with("NetworkPolicy/nats: egress must allow DNS")),
        "{v:#?}"
    );
}

#[test]
fn egress_without_dns_fails() {
    let mut docs = set(&deployment(), "base");
    let np = find(&mut docs, "NetworkPolicy");
    np["spec"]["egress"].as_array_mut().unwrap().remove(0);
    let v = invariants::network_policies(&docs);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v.iter().all(|m| m.contains("DNS")), "{v:#?}");
}

#[test]
fn latest_and_untagged_images_fail() {
    let mut docs = set(&deployment(), "overlays/production");
    assert!(invariants::pinned_images(&docs).is_empty());
    let d = find(&mut docs, "Deployment");
    d["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("registry.example.com/chatbox:latest");
    let v = invariants::pinned_images(&docs);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains(":latest"), "{v:#?}");
    let nats = named(&mut docs, "StatefulSet", "nats");
    nats["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nats");
    let v = invariants::pinned_images(&docs);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v[1].starts_with("StatefulSet/nats container"), "{v:#?}");
    assert!(v[1].contains("untagged"), "{v:#?}");
    assert!(invariants::image_problem("mongo").is_some());
    assert!(invariants::image_problem("localhost:5000/chatbox").is_some());
    assert_eq!(
        invariants::image_problem("localhost:5000/chatbox:0.1.0"),
        None
    );
    assert_eq!(invariants::image_problem("repo/x@sha256:abc"), None);
}

#[test]
fn a_grace_period_not_longer_than_the_shutdown_fails() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::grace_covers_shutdown(&docs).is_empty());
    let d = find(&mut docs, "Deployment");
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(35);
    let v = invariants::grace_covers_shutdown(&docs);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("= 35s"), "{v:#?}");
    // The ConfigMap's SHUTDOWN_TIMEOUT is what counts.
    let d = find(&mut docs, "Deployment");
    d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(45);
    find(&mut docs, "ConfigMap")["data"]["SHUTDOWN_TIMEOUT"] = json!("1m");
    let v = invariants::grace_covers_shutdown(&docs);
    assert!(v[0].contains("SHUTDOWN_TIMEOUT (60s)"), "{v:#?}");
}

#[test]
fn sticky_sessions_fail() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::no_stickiness(&docs).is_empty());
    find(&mut docs, "Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] =
        json!("cookie");
    find(&mut docs, "Service")["spec"]["sessionAffinity"] = json!("ClientIP");
    assert_eq!(invariants::no_stickiness(&docs).len(), 2);
}

#[test]
fn short_websocket_timeouts_fail() {
    let mut docs = set(&deployment(), "base");
    find(&mut docs, "Ingress")["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"] =
        json!("60");
    let v = invariants::websocket_timeouts(&docs);
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("proxy-read-timeout"), "{v:#?}");
}

#[test]
fn probes_and_security_context_are_checked() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::probes_and_security(&docs).is_empty());
    let c = &mut find(&mut docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    c["livenessProbe"]["httpGet"]["path"] = json!("/healthz");
    c["securityContext"]["readOnlyRootFilesystem"] = json!(false);
    c["volumeMounts"] = json!([]);
    c["readinessProbe"]["httpGet"]["port"] = json!(9090);
    let v = invariants::probes_and_security(&docs);
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(
        v[1].contains("readinessProbe must use the container port SERVER_PORT=8080"),
        "{v:#?}"
    );
    assert!(v[0].contains("must GET /chatbox/healthz"), "{v:#?}");
}

#[test]
fn the_nats_security_context_is_checked_but_not_the_servers_probes() {
    let mut docs = set(&deployment(), "base");
    let pod = &mut named(&mut docs, "StatefulSet", "nats")["spec"]["template"]["spec"];
    pod["securityContext"]
        .as_object_mut()
        .unwrap()
        .remove("seccompProfile");
    let c = &mut pod["containers"][0];
    c["securityContext"]["readOnlyRootFilesystem"] = json!(false);
    c["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"]);
    let v = invariants::probes_and_security(&docs);
    assert_eq!(
        v,
        [
            "StatefulSet/nats container \"nats\": readOnlyRootFilesystem must be true",
            "StatefulSet/nats container \"nats\": capabilities must drop ALL",
            "StatefulSet/nats container \"nats\": seccompProfile must be RuntimeDefault",
        ]
    );
}

#[test]
fn the_stateful_set_rules_catch_what_they_are_for() {
    let base = set(&deployment(), "base");
    assert!(invariants::stateful_sets(&base).is_empty());
    let broken = |change: &dyn Fn(&mut Vec<Value>)| {
        let mut docs = base.clone();
        change(&mut docs);
        invariants::stateful_sets(&docs)
    };

    // The client Service is not headless: no per-pod DNS names for the routes.
    let v = broken(&|d| sts(d)["spec"]["serviceName"] = json!("nats"));
    assert_eq!(
        v,
        ["StatefulSet/nats: its serviceName Service/nats must be headless (clusterIP: None)"]
    );
    let v = broken(&|d| sts(d)["spec"]["serviceName"] = json!("nats-routes"));
    assert_eq!(
        v,
        ["StatefulSet/nats: serviceName \"nats-routes\" is no Service of this set"]
    );
    let v = broken(&|d| {
        named(d, "Service", "nats-headless")["spec"]["selector"] = json!({"app": "nats"});
    });
    assert!(v[0].contains("does not select its pods"), "{v:#?}");

    let v = broken(&|d| {
        let c = &mut sts(d)["spec"]["template"]["spec"]["containers"][0];
        c.as_object_mut().unwrap().remove("readinessProbe");
        c["livenessProbe"]["httpGet"]["port"] = json!("metrics");
    });
    assert_eq!(
        v,
        [
            "StatefulSet/nats container \"nats\": livenessProbe port \"metrics\" is none of its ports",
            "StatefulSet/nats container \"nats\": needs a readinessProbe",
        ]
    );

    let v = broken(&|d| {
        let c = &mut sts(d)["spec"]["template"]["spec"]["containers"][0];
        c["volumeMounts"].as_array_mut().unwrap().pop();
    });
    assert_eq!(
        v,
        ["StatefulSet/nats: volumeClaimTemplate \"data\" is mounted by no container"]
    );

    for (min, problem) in [(1, "not a majority"), (3, "a node drain never ends")] {
        let v = broken(&|d| {
            named(d, "PodDisruptionBudget", "nats")["spec"]["minAvailable"] = json!(min);
        });
        assert_eq!(v.len(), 1, "{v:#?}");
        assert!(v[0].contains(problem), "{v:#?}");
    }
    let v = broken(&|d| {
        let pdb = named(d, "PodDisruptionBudget", "nats");
        pdb["spec"] = json!({"maxUnavailable": 2, "selector": pdb["spec"]["selector"]});
    });
    assert!(v[0].contains("keeps 1 of 3 pods"), "{v:#?}");
    let v = broken(&|d| d.retain(|r| r["kind"] != "PodDisruptionBudget"));
    assert_eq!(
        v,
        ["StatefulSet/nats: no PodDisruptionBudget covers its pods"]
    );
    let v = broken(&|d| {
        let mut second = named(d, "PodDisruptionBudget", "nats").clone();
        second["metadata"]["name"] = json!("nats-2");
        d.push(second);
    });
    assert!(
        v[0].contains("2 PodDisruptionBudgets cover its pods"),
        "{v:#?}"
    );
}

#[test]
fn nats_url_must_lead_to_the_sets_nats_cluster() {
    let base = set(&deployment(), "base");
    assert!(invariants::broker_in_the_set(&base).is_empty());
    let with = |change: &dyn Fn(&mut Vec<Value>)| {
        let mut docs = base.clone();
        change(&mut docs);
        invariants::broker_in_the_set(&docs)
    };
    let url = |value: &'static str| {
        move |d: &mut Vec<Value>| {
            named(d, "ConfigMap", "chatbox-config")["data"]["NATS_URL"] = json!(value);
        }
    };

    // Credentials, a qualified name, several servers and the default port read right.
    let v = with(&url(
        "nats://u:p@nats-headless.chatbox.svc.cluster.local:4222, nats://nats",
    ));
    assert!(v.is_empty(), "{v:#?}");

    let v = with(&url("nats://broker:4222"));
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].starts_with("Deployment/chatbox: NATS_URL names host broker, which is no Service"),
        "{v:#?}"
    );
    let v = with(&url("nats://nats:4223"));
    assert_eq!(
        v,
        ["Service/nats: exposes no port 4223, which NATS_URL names"]
    );
    let v = with(&|d| {
        named(d, "Service", "nats")["spec"]["selector"] = json!({"app.kubernetes.io/name": "nast"});
    });
    assert!(v[0].contains("selects the pods of no workload"), "{v:#?}");

    // The server's egress to NATS, and NATS's ingress from the server.
    let v = with(&|d| {
        let np = named(d, "NetworkPolicy", "chatbox");
        np["spec"]["egress"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["ports"][0]["port"] != 4222);
    });
    assert_eq!(
        v,
        [
            "Deployment/chatbox: no NetworkPolicy lets its pods reach StatefulSet/nats on port 4222 (NATS_URL)"
        ]
    );
    let v = with(&|d| {
        let np = named(d, "NetworkPolicy", "nats");
        np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] =
            json!({"app.kubernetes.io/name": "chatbox-admin"});
    });
    assert_eq!(
        v,
        [
            "StatefulSet/nats: no NetworkPolicy admits Deployment/chatbox's pods to it on port 4222 (NATS_URL)"
        ]
    );

    // One replica needs no broker: without NATS_URL nothing is required.
    let mut docs = base.clone();
    docs.retain(|r| r["metadata"]["labels"]["app.kubernetes.io/name"] != "nats");
    assert!(!invariants::broker_in_the_set(&docs).is_empty());
    named(&mut docs, "ConfigMap", "chatbox-config")["data"]
        .as_object_mut()
        .unwrap()
        .remove("NATS_URL");
    assert!(invariants::broker_in_the_set(&docs).is_empty());
    assert_eq!(
        invariants::nats_host_port("tls://a:b@host:4333/x"),
        Some(("host", 4333))
    );
    assert_eq!(invariants::nats_host_port("nats://:4222"), None);
}

#[test]
fn env_keys_the_server_does_not_read_fail() {
    let mut docs = set(&deployment(), "base");
    assert!(invariants::env_keys_are_real(&docs, &keys()).is_empty());
    find(&mut docs, "ConfigMap")["data"]["SHUTDOWN_TIMOUT"] = json!("30s");
    let v = invariants::env_keys_are_real(&docs, &keys());
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("SHUTDOWN_TIMOUT"), "{v:#?}");
    // NATS's ConfigMap holds a file, not an environment, until the server reads it as one.
    let mut docs = set(&deployment(), "base");
    let c = &mut find(&mut docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    c["envFrom"]
        .as_array_mut()
        .unwrap()
        .push(json!({"configMapRef": {"name": "nats-config"}}));
    let v = invariants::env_keys_are_real(&docs, &keys());
    assert_eq!(
        v,
        ["ConfigMap/nats-config: nats.conf is no variable the server reads"]
    );
    let k = ServerKeys::of(&["LLM_PROVIDER_{n}_"]);
    assert!(k.reads("LLM_PROVIDER_3_API_KEY"));
    assert!(!k.reads("LLM_PROVIDER_3_KEY"));
}

#[test]
fn a_secret_template_with_a_real_value_fails() {
    let d = deployment();
    let (_, docs) = &d.standalone[0];
    let mut secret = docs[0].clone();
    assert!(invariants::check_secret_template(&secret, &keys()).is_empty());
    secret["stringData"]["JWT_SECRET"] = json!("k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1ZoPq");
    let v = invariants::check_secret_template(&secret, &keys());
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("JWT_SECRET"), "{v:#?}");
}

#[test]
fn the_dockerfile_rules_hold_and_catch() {
    let d = deployment();
    assert!(invariants::check_dockerfile(&d.dockerfile, &d.toolchain).is_empty());
    let v = invariants::check_dockerfile(&d.dockerfile, "1.96.0");
    assert_eq!(v.len(), 1);
    assert!(v[0].contains("rust-toolchain.toml"), "{v:#?}");
    let broken = d
        .dockerfile
        .replace("static-debian12:nonroot@sha256:", "static-debian12@sha256:")
        .replace(
            "FROM gcr.io/distroless/static-debian12@",
            "FROM gcr.io/distroless/static-debian12:latest #",
        )
        .replace("USER 65532:65532", "USER root")
        .replace("HEALTHCHECK --interval", "# HEALTH --interval");
    let v = invariants::check_dockerfile(&broken, &d.toolchain);
    assert_eq!(v.len(), 3, "{v:#?}");
}

#[test]
fn the_compose_file_is_checked() {
    let d = deployment();
    assert!(invariants::check_compose(&d.compose, &keys()).is_empty());
    let mut compose = d.compose.clone();
    compose["services"]["mongodb"]["image"] = json!("mongo");
    compose["services"]["chatbox"]["environment"]["MONGO_URL"] = json!("mongodb://x");
    assert_eq!(invariants::check_compose(&compose, &keys()).len(), 2);

    // NATS_URL names a service of the file, healthy before the server starts.
    let mut compose = d.compose.clone();
    compose["services"]["chatbox"]["environment"]["NATS_URL"] = json!("nats://broker:4222");
    let v = invariants::check_compose(&compose, &keys());
    assert_eq!(
        v,
        ["compose service chatbox: NATS_URL names broker, which is no service of the file"]
    );
    let mut compose = d.compose.clone();
    compose["services"]["nats"]
        .as_object_mut()
        .unwrap()
        .remove("healthcheck");
    compose["services"]["chatbox"]["depends_on"]["nats"] = json!({"condition": "service_started"});
    let v = invariants::check_compose(&compose, &keys());
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(v[0].contains("nats: needs a healthcheck"), "{v:#?}");
    assert!(
        v[1].contains("must depend on nats with condition service_healthy"),
        "{v:#?}"
    );
}

#[test]
fn the_overlay_renders_like_kustomize() {
    let d = deployment();
    let mut prod = set(&d, "overlays/production");
    assert_eq!(prod.len(), 13);
    assert!(prod.iter().all(|r| r["metadata"]["namespace"] == "chatbox"));
    let dep = find(&mut prod, "Deployment").clone();
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["image"],
        "registry.example.com/chatbox/chatbox-server:0.1.0"
    );
    assert_eq!(c["resources"]["requests"]["cpu"], "500m");
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"], "/chatbox/readyz",
        "patching merges"
    );
    let hpa = find(&mut prod, "HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert_eq!(
        kustomize::split_image("registry:5000/a/b:1.0@sha256:x"),
        ("registry:5000/a/b", ":1.0@sha256:x")
    );
}

#[test]
fn the_yaml_reader_reads_the_subset_and_refuses_the_rest() {
    let docs = yaml::parse_documents(
        "t",
        "a: 1 # comment\nb:\n  - x: \"q#\"\n    y: 'it''s'\n  - [1, \"two\"]\nc:\n- 2.5\n- true\n- ~\n---\nd: {}\n",
    )
    .unwrap();
    assert_eq!(
        docs,
        [
            json!({"a": 1, "b": [{"x": "q#", "y": "it's"}, [1, "two"]], "c": [2.5, true, null]}),
            json!({"d": {}}),
        ]
    );
    // Literal block scalars: `#` and blank lines are content, the first line's indentation is
    // removed, `|` keeps one final line break and `|-` none.
    let docs = yaml::parse_documents(
        "t",
        "m:\n  conf: |\n    # a comment\n    a {\n      b: \"c\\\\d\"\n    }\n\n    e: 1\n\n\n  next: |-\n    x\n- z\n",
    );
    assert!(docs.is_err(), "a sequence after a mapping's end: {docs:?}");
    let docs = yaml::parse_documents(
        "t",
        "m:\n  conf: |\n    # a comment\n    a {\n      b: \"c\\\\d\"\n    }\n\n    e: 1\n\n\n  next: |-\n    x\n  l:\n    - k: |\n        y\n      j: 2\n",
    )
    .unwrap();
    assert_eq!(
        docs,
        [json!({"m": {
            "conf": "# a comment\na {\n  b: \"c\\\\d\"\n}\n\ne: 1\n",
            "next": "x",
            "l": [{"k": "y\n", "j": 2}],
        }})]
    );
    for bad in [
        "a: &x 1\n",
        "a: yes\n",
        "a: 1\na: 2\n",
        "a:\n\tb: 1\n",
        "a: >\n  x\n",
        "a: |+\n  x\n",
        "a: |2\n  x\n",
        "a: |\nb: 1\n",
        "a: |\n  x\n \t\n",
        "a: {b: 1}\n",
    ] {
        assert!(
            yaml::parse_documents("t", bad).is_err(),
            "{bad:?} must be refused"
        );
    }
    assert_eq!(
        yaml::parse_documents("t", "a: 0.1.0\nb: \"8080\"\nc: 10.0.0.0/8\n").unwrap(),
        [json!({"a": "0.1.0", "b": "8080", "c": "10.0.0.0/8"})]
    );
}

#[test]
fn probe_and_ingress_paths_are_checked_against_the_real_server() {
    let server = routes::server_next_to_test_binary().unwrap();
    let d = deployment();
    let good = d.routes();
    assert!(good.iter().all(|(prefix, _)| prefix == "/chatbox"));
    assert_eq!(routes::check(&server, &good).unwrap(), Vec::<String>::new());

    // A copy of the base Deployment whose readiness probe asks a path the router lacks.
    let root = workspace_root();
    let text = std::fs::read_to_string(root.join("deployments/kubernetes/base/deployment.yaml"))
        .unwrap()
        .replace("path: /chatbox/readyz", "path: /chatbox/ready");
    let mut docs = set(&d, "base");
    *find(&mut docs, "Deployment") = yaml::parse_documents("copy", &text).unwrap().remove(0);
    find(&mut docs, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/chat");
    let broken = vec![routes::routes_of("copy", &docs)];
    let v = routes::check(&server, &broken).unwrap();
    assert_eq!(v.len(), 2, "{v:#?}");
    assert!(
        v[0].contains("readinessProbe: GET /chatbox/ready answered 404"),
        "{v:#?}"
    );
    assert!(
        v[1].contains("Ingress/\"chatbox\": GET /chat answered 404"),
        "{v:#?}"
    );
}

#[test]
fn a_dynamically_linked_binary_is_told_from_a_static_one() {
    // This test binary is linked against glibc: it names an interpreter.
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(container::elf_interpreter(&exe).unwrap());
    // A minimal ELF header with no program headers.
    let mut header = vec![0u8; 64];
    header[..6].copy_from_slice(b"\x7fELF\x02\x01");
    assert!(!container::elf_interpreter(&header).unwrap());
    assert!(container::elf_interpreter(b"#!/bin/sh").is_err());
}

#[test]
fn the_server_accepts_the_shipped_settings_and_refuses_broken_ones() {
    let server = routes::server_next_to_test_binary().unwrap();
    let d = deployment();
    let configurations = settings::configurations(&d);
    let names: Vec<&str> = configurations.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "base Deployment/\"chatbox\"",
            "overlays/production Deployment/\"chatbox\"",
            "deployments/docker-compose.yml service chatbox",
        ]
    );
    assert_eq!(settings::check(&server, &d).unwrap(), Vec::<String>::new());

    let (_, mut env) = configurations[0].clone();
    assert!(
        env.iter()
            .any(|(k, v)| k == "JWT_SECRET" && !v.contains("REPLACE_WITH"))
    );
    env.retain(|(k, _)| k != "SHUTDOWN_TIMEOUT");
    env.push(("SHUTDOWN_TIMEOUT".into(), "soon".into()));
    let reasons = settings::refused(&server, &env).unwrap().unwrap();
    assert!(reasons.contains("SHUTDOWN_TIMEOUT = soon"), "{reasons}");
}
