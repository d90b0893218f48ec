//! compose.yaml and k8s/ follow the executor list (`weft::executors::EXECUTORS`): every hosted
//! executor has a compose service and a k8s manifest (generated from one template: run with
//! `WEFT_BLESS=1` to rewrite them), and no manifest names an executor this build lacks.

use std::path::PathBuf;

use weft::executors::EXECUTORS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The k8s manifest of `exec-<agent>`.
fn manifest(agent: &str) -> String {
    let name = format!("exec-{agent}");
    let note = match agent {
        "code" => {
            "\n# bubblewrap needs unprivileged user namespaces on the node (kernel.unprivileged_userns_clone=1)\n# and no seccomp profile that forbids unshare/clone(CLONE_NEWUSER)."
        }
        _ => "",
    };
    let seccomp = match agent {
        "code" => "\n        seccompProfile: { type: Unconfined }",
        _ => "",
    };
    format!(
        r#"# weft serve {name} — runs `uses: {agent}` steps. Generated from the executor list by
# services/weft/tests/manifests.rs (WEFT_BLESS=1 rewrites it).{note}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: weft
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: weft
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
        app.kubernetes.io/part-of: weft
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001{seccomp}
      containers:
        - name: {name}
          image: weft:dev
          command: ["weft", "serve", "{name}"]
          env:
            - name: NATS_URL
              value: nats://nats.weft.svc.cluster.local:4222
            - name: WEFT_HTTP_ADDR
              value: 0.0.0.0:8080
            - name: RUST_LOG
              value: info
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            httpGet: {{ path: /readyz, port: http }}
          livenessProbe:
            httpGet: {{ path: /healthz, port: http }}
            initialDelaySeconds: 10
          resources:
            requests: {{ cpu: 100m, memory: 128Mi }}
            limits: {{ memory: 512Mi }}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: weft
  labels:
    app.kubernetes.io/name: {name}
    app.kubernetes.io/part-of: weft
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: 80
      targetPort: http
"#
    )
}

#[test]
fn k8s_manifests_follow_the_executor_list() {
    let kustomization =
        std::fs::read_to_string(root().join("k8s/kustomization.yaml")).expect("kustomization");
    for e in EXECUTORS {
        let path = root().join(format!("k8s/exec-{}.yaml", e.agent));
        let expected = manifest(e.agent);
        if std::env::var_os("WEFT_BLESS").is_some() {
            std::fs::write(&path, &expected).expect("write");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "{} differs from the template; regenerate with `WEFT_BLESS=1 cargo test -p weft --test manifests`",
            path.display()
        );
        assert!(
            kustomization.contains(&format!("  - exec-{}.yaml\n", e.agent)),
            "k8s/kustomization.yaml does not list exec-{}.yaml",
            e.agent
        );
    }
    for entry in std::fs::read_dir(root().join("k8s")).expect("k8s/") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf8");
        if let Some(agent) = name
            .strip_prefix("exec-")
            .and_then(|n| n.strip_suffix(".yaml"))
        {
            assert!(
                EXECUTORS.iter().any(|e| e.agent == agent),
                "k8s/{name} names an executor this build does not host"
            );
        }
    }
}

#[test]
fn compose_runs_every_executor() {
    let compose = std::fs::read_to_string(root().join("compose.yaml")).expect("compose.yaml");
    let doc: yaml_serde::Value = yaml_serde::from_str(&compose).expect("yaml");
    let services = doc["services"].as_mapping().expect("services");
    let served: Vec<String> = services
        .values()
        .filter_map(|s| s["command"].as_sequence())
        .filter_map(|c| c.get(2).and_then(|v| v.as_str()).map(str::to_owned))
        .collect();
    for e in EXECUTORS {
        let name = e.service_name();
        assert!(
            served.contains(&name),
            "compose.yaml has no service running `weft serve {name}`"
        );
    }
    for name in served.iter().filter(|n| n.starts_with("exec-")) {
        assert!(
            weft::executors::Executor::by_service_name(name).is_some(),
            "compose.yaml runs `weft serve {name}`, which this build does not host"
        );
    }
}
