//! Checks compose.yaml and k8s/ against the crates in services/: every `weft serve <x>`
//! names a known service that has a crate. Reads files only; starts nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use yaml_serde::Value;

const DEFAULT_SERVICES: [&str; 4] = ["webhook", "router", "api", "exec-http"];

fn repo_root() -> PathBuf {
    weft_testkit::repo_root()
}

/// The service names `weft serve` knows: the string literals of services/weft/src/serve.rs
/// that look like names, if that file exists; else the default four.
fn known_services(root: &Path) -> anyhow::Result<BTreeSet<String>> {
    let serve = root.join("services/weft/src/serve.rs");
    if !serve.exists() {
        return Ok(DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect());
    }
    let text =
        std::fs::read_to_string(&serve).with_context(|| format!("reading {}", serve.display()))?;
    let names: BTreeSet<String> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        .map(str::to_owned)
        .collect();
    // `exec-<agent>` for every executor crate (services/exec-*), as services/weft hosts them.
    let mut names = names;
    for entry in std::fs::read_dir(root.join("services"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with("exec-") {
            names.insert(name);
        }
    }
    anyhow::ensure!(
        !names.is_empty(),
        "no service names found in {}",
        serve.display()
    );
    Ok(names)
}

/// `services/<x>` must be a crate (exec-http lives in services/exec-http).
fn crate_dir(root: &Path, service: &str) -> PathBuf {
    root.join("services").join(service)
}

/// `x` when `cmd` is the sequence ["weft", "serve", x, …].
fn served(cmd: Option<&Value>) -> Option<String> {
    let seq = cmd?.as_sequence()?;
    let words: Vec<&str> = seq.iter().filter_map(Value::as_str).collect();
    match words.as_slice() {
        ["weft", "serve", name, ..] => Some((*name).to_owned()),
        _ => None,
    }
}

fn check_served(root: &Path, known: &BTreeSet<String>, name: &str, whence: &str) {
    assert!(
        known.contains(name),
        "{whence}: `weft serve {name}` is not a known service ({known:?})"
    );
    let dir = crate_dir(root, name);
    assert!(
        dir.join("Cargo.toml").is_file(),
        "{whence}: `weft serve {name}` has no crate at {}",
        dir.display()
    );
}

#[test]
fn compose_services_are_known_and_have_crates() -> anyhow::Result<()> {
    let root = repo_root();
    let known = known_services(&root)?;
    let text =
        std::fs::read_to_string(root.join("compose.yaml")).context("reading compose.yaml")?;
    let mut doc: Value = yaml_serde::from_str(&text).context("parsing compose.yaml")?;
    doc.apply_merge()
        .context("resolving `<<:` merge keys in compose.yaml")?;
    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .context("compose.yaml has no services mapping")?;

    let mut served_names = BTreeSet::new();
    for (key, service) in services {
        let key = key.as_str().unwrap_or("?");
        let Some(name) = served(service.get("command")) else {
            continue;
        };
        check_served(&root, &known, &name, &format!("compose.yaml service {key}"));
        let env = service
            .get("environment")
            .and_then(Value::as_mapping)
            .with_context(|| format!("compose service {key} has no environment mapping"))?;
        for var in ["NATS_URL", "DATABASE_URL", "WEFT_HTTP_ADDR"] {
            assert!(
                env.get(var).is_some(),
                "compose service {key} does not set {var}"
            );
        }
        assert!(
            service.get("build").is_some() || service.get("image").is_some(),
            "{key}: no image"
        );
        served_names.insert(name);
    }
    for required in DEFAULT_SERVICES {
        assert!(
            served_names.contains(required),
            "compose.yaml runs no `weft serve {required}`"
        );
    }
    let image = |k: &str| {
        services
            .get(k)
            .and_then(|s| s.get("image"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    assert!(
        image("nats").is_some_and(|i| i.starts_with("nats:2.15")),
        "compose needs NATS 2.15"
    );
    assert!(
        image("postgres").is_some_and(|i| i.starts_with("postgres:15")),
        "compose needs PostgreSQL 15"
    );
    Ok(())
}

#[test]
fn k8s_deployments_are_known_and_have_crates() -> anyhow::Result<()> {
    let root = repo_root();
    let known = known_services(&root)?;
    let mut served_names = BTreeSet::new();
    let mut scaled_exec_http = false;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join("k8s"))
        .context("reading k8s/")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    anyhow::ensure!(!entries.is_empty(), "k8s/ has no .yaml files");
    for path in entries {
        let text = std::fs::read_to_string(&path)?;
        // Multi-document files: split on `---` lines.
        let docs = text
            .split("\n---")
            .map(|d| d.trim_start_matches("---"))
            .filter(|d| !d.trim().is_empty());
        for doc in docs {
            let doc: Value =
                yaml_serde::from_str(doc).with_context(|| format!("parsing {}", path.display()))?;
            if doc.is_null() {
                continue;
            }
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
            if kind == "Deployment" {
                let containers = doc
                    .get("spec")
                    .and_then(|s| s.get("template"))
                    .and_then(|t| t.get("spec"))
                    .and_then(|s| s.get("containers"))
                    .and_then(Value::as_sequence)
                    .with_context(|| {
                        format!("{}: Deployment without containers", path.display())
                    })?;
                for c in containers {
                    if let Some(name) = served(c.get("command")) {
                        check_served(&root, &known, &name, &path.display().to_string());
                        served_names.insert(name);
                    }
                }
            }
            if kind == "ScaledObject" {
                let triggers = doc
                    .get("spec")
                    .and_then(|s| s.get("triggers"))
                    .and_then(Value::as_sequence);
                for t in triggers.into_iter().flatten() {
                    let meta = |k: &str| {
                        t.get("metadata")
                            .and_then(|m| m.get(k))
                            .and_then(Value::as_str)
                    };
                    if meta("stream") == Some("WEFT_TASKS") && meta("consumer") == Some("exec-http")
                    {
                        scaled_exec_http = true;
                    }
                }
            }
        }
    }
    for required in DEFAULT_SERVICES {
        assert!(
            served_names.contains(required),
            "k8s/ has no Deployment running `weft serve {required}`"
        );
    }
    assert!(
        scaled_exec_http,
        "k8s/ needs a KEDA ScaledObject on WEFT_TASKS consumer exec-http"
    );
    Ok(())
}
