//! A small client of the admin API for the CLI.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use serde_json::Value;

/// Admin API client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        weft_runtime::init_crypto();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The URL of `path` under `/api/v1`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Send `req`; its JSON body, or an error with the API's status and message.
    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("no message");
            bail!("{status}: {message}");
        }
        Ok(body)
    }

    /// Apply one file, or every `.yaml`, `.yml` and `.json` file of a folder (sorted by name);
    /// the workflows applied.
    pub async fn apply_path(&self, path: &Path) -> anyhow::Result<Vec<weft_flow::Workflow>> {
        let mut files = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                let p = entry?.path();
                if matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                ) {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        // Files that fail are tried again after the others while that gets further: a
        // workflow that `call`s another applies once its callee did, whatever their names.
        let mut applied = Vec::new();
        let mut pending: Vec<&PathBuf> = files.iter().collect();
        let mut errors = Vec::new();
        loop {
            let before = pending.len();
            errors.clear();
            let mut again = Vec::new();
            for file in pending {
                match self.apply_file(file).await {
                    Ok((msg, wf)) => {
                        println!("{}: {msg}", file.display());
                        applied.push(wf);
                    }
                    Err(e) => {
                        errors.push(format!("{}: {e:#}", file.display()));
                        again.push(file);
                    }
                }
            }
            pending = again;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for e in &errors {
            eprintln!("{e}");
        }
        if !errors.is_empty() {
            bail!("{} of {} files not applied", errors.len(), files.len());
        }
        Ok(applied)
    }

    async fn apply_file(&self, file: &Path) -> anyhow::Result<(String, weft_flow::Workflow)> {
        let source = std::fs::read_to_string(file)?;
        let json = file.extension().and_then(|e| e.to_str()) == Some("json");
        let format = if json {
            weft_flow::Format::Json
        } else {
            weft_flow::Format::Yaml
        };
        let wf = weft_flow::parse(&source, format).map_err(|e| anyhow::anyhow!("{e}"))?;
        let content_type = if json {
            "application/json"
        } else {
            "application/yaml"
        };
        let req = self
            .http
            .put(self.url(&format!("/workflows/{}", wf.name)))
            .header("content-type", content_type)
            .body(source);
        let body = self.send(req).await?;
        let result = body["result"].as_str().unwrap_or("applied");
        let message = format!("{} {} (version {})", wf.name, result, body["version"]);
        Ok((message, wf))
    }

    /// Request a manual run; returns the execution id.
    pub async fn run(&self, workflow: &str, inputs: &Value) -> anyhow::Result<String> {
        let req = self
            .http
            .post(self.url(&format!("/workflows/{workflow}/run")))
            .json(&serde_json::json!({"inputs": inputs}));
        let body = self.send(req).await?;
        body["execution_id"]
            .as_str()
            .map(str::to_string)
            .context("no execution_id in the answer")
    }

    /// Print a table of executions.
    pub async fn list(
        &self,
        workflow: Option<&str>,
        status: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<()> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(workflow.map(|w| ("workflow", w.to_string())));
        query.extend(status.map(|s| ("status", s.to_string())));
        let body = self
            .send(self.http.get(self.url("/executions")).query(&query))
            .await?;
        println!(
            "{:<36}  {:<24}  {:<10}  STARTED",
            "ID", "WORKFLOW", "STATUS"
        );
        for e in body["items"].as_array().into_iter().flatten() {
            println!(
                "{:<36}  {:<24}  {:<10}  {}",
                e["id"].as_str().unwrap_or(""),
                e["workflow"].as_str().unwrap_or(""),
                e["status"].as_str().unwrap_or(""),
                e["started_at"].as_str().unwrap_or("-")
            );
        }
        Ok(())
    }

    /// Print one execution as JSON.
    /// Approve (`approved`) or reject a step waiting for a decision; prints the decision.
    pub async fn decide(
        &self,
        id: &str,
        step: &str,
        approved: bool,
        by: &str,
        comment: Option<String>,
    ) -> anyhow::Result<()> {
        let verb = if approved { "approve" } else { "reject" };
        let url = self.url(&format!("/executions/{id}/steps/{step}/{verb}"));
        let body = serde_json::json!({"by": by, "comment": comment});
        let answer = self.send(self.http.post(url).json(&body)).await?;
        println!(
            "{id} {step} {}",
            answer["decision"].as_str().unwrap_or(verb)
        );
        Ok(())
    }

    /// `POST /executions/{id}/rerun`; prints the new execution's id.
    pub async fn rerun(&self, id: &str, from: &str) -> anyhow::Result<()> {
        let url = self.url(&format!("/executions/{id}/rerun"));
        let body = serde_json::json!({ "from": from });
        let answer = self.send(self.http.post(url).json(&body)).await?;
        println!("{}", answer["execution_id"].as_str().unwrap_or_default());
        Ok(())
    }

    pub async fn get(&self, id: &str) -> anyhow::Result<()> {
        let body = self
            .send(self.http.get(self.url(&format!("/executions/{id}"))))
            .await?;
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(())
    }

    /// Follow an execution until it ends: its steps now, then every step as it moves (the
    /// server-sent events of `GET /executions/{id}/events`; polling when they are not
    /// available), then its end. Exits non-zero unless it succeeded.
    pub async fn watch(&self, id: &str) -> anyhow::Result<ExitCode> {
        let path = format!("/executions/{id}");
        let body = self.send(self.http.get(self.url(&path))).await?;
        for step in body["steps"].as_array().into_iter().flatten() {
            println!("{}", step_line(step));
        }
        if is_running(&body) && self.follow(id).await.is_err() {
            return self.poll(id).await;
        }
        let body = self.send(self.http.get(self.url(&path))).await?;
        if is_running(&body) {
            return self.poll(id).await; // the stream broke off early
        }
        Ok(ended(id, &body))
    }

    /// Print each live step event of `id` until the run's end closes the stream.
    async fn follow(&self, id: &str) -> anyhow::Result<()> {
        let url = self.url(&format!("/executions/{id}/events"));
        let mut resp = self
            .http
            .get(url)
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "events: {}", resp.status());
        let mut buffer = String::new();
        while let Some(chunk) = resp.chunk().await? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(at) = buffer.find("\n\n") {
                let block: String = buffer.drain(..at + 2).collect();
                let data = block.lines().find_map(|l| l.strip_prefix("data:"));
                let Some(event) = data.and_then(|d| serde_json::from_str::<Value>(d.trim()).ok())
                else {
                    continue; // a keep-alive
                };
                let data = &event["data"];
                if let Some(step) = data["step"].as_str() {
                    println!("  {step:<24} {}", data["status"].as_str().unwrap_or(""));
                }
            }
        }
        Ok(())
    }

    /// Poll `id` until it ends, printing each step line once.
    async fn poll(&self, id: &str) -> anyhow::Result<ExitCode> {
        let mut seen: Vec<String> = Vec::new();
        loop {
            let body = self
                .send(self.http.get(self.url(&format!("/executions/{id}"))))
                .await?;
            for step in body["steps"].as_array().into_iter().flatten() {
                let line = step_line(step);
                if !seen.contains(&line) {
                    println!("{line}");
                    seen.push(line);
                }
            }
            if !is_running(&body) {
                return Ok(ended(id, &body));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A step of an execution detail as one line.
fn step_line(step: &Value) -> String {
    format!(
        "  {:<24} {} ({} attempts)",
        step["id"].as_str().unwrap_or(""),
        step["status"].as_str().unwrap_or(""),
        step["attempts"].as_array().map_or(0, Vec::len)
    )
}

fn is_running(body: &Value) -> bool {
    matches!(body["status"].as_str(), Some("queued" | "running"))
}

/// Print how the execution ended; success only when it succeeded.
fn ended(id: &str, body: &Value) -> ExitCode {
    let status = body["status"].as_str().unwrap_or("");
    println!("{id} {status}");
    if !body["error"].is_null() {
        println!("error: {}", body["error"]);
    }
    match status {
        "succeeded" => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}
