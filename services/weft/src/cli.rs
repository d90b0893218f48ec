//! Command-line interface.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use weft_runtime::{CommonConfig, Shutdown};

use crate::{client::Client, host, serve::Service};

/// Weft: event-driven workflow automation.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in this process behind one listener (WEFT_HTTP_ADDR).
    Dev {
        /// Apply the workflow files in this folder (or file) once running.
        #[arg(long)]
        apply: Option<PathBuf>,
    },
    /// Run one service (or several in one process), with its own listener for health and metrics.
    Serve {
        /// The service: api, router, webhook, cdc, files, cron, imap or exec-<agent>. Several
        /// share one process (e.g. `router exec-http`: the router then runs that executor's
        /// tasks without the bus).
        #[arg(required = true, num_args = 1.., value_parser = clap::builder::PossibleValuesParser::new(Service::names()))]
        service: Vec<String>,
    },
    /// Apply workflow files (a file or every .yaml/.yml/.json file in a folder).
    Apply {
        /// File or folder.
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[command(flatten)]
        api: ApiUrl,
    },
    /// Start a workflow by hand.
    Run {
        /// Workflow name.
        workflow: String,
        /// Inputs as a JSON object.
        #[arg(long, default_value = "{}")]
        inputs: String,
        /// Wait for the execution to end and print it.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        api: ApiUrl,
    },
    /// Replay an execution's journal through the decision core and compare the result with the
    /// state in the database (DATABASE_URL); exits non-zero when they differ.
    Replay {
        /// Execution id.
        id: uuid::Uuid,
    },
    /// Inspect executions.
    Runs {
        /// What to do.
        #[command(subcommand)]
        command: RunsCommand,
        #[command(flatten)]
        api: ApiUrl,
    },
    /// Inspect and replay dead letters: messages a consumer gave up on.
    DeadLetters {
        /// What to do.
        #[command(subcommand)]
        command: DeadLettersCommand,
        #[command(flatten)]
        api: ApiUrl,
    },
}

/// `weft dead-letters …`.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters, oldest first, with why each was given up on.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show one dead letter with its message, as JSON.
    Get {
        /// Dead-letter id (from `list`).
        id: u64,
    },
    /// Publish a dead letter again to its original subject, then remove it.
    Replay {
        /// Dead-letter id (from `list`).
        id: u64,
    },
}

/// `weft runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List executions, newest first.
    List {
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Show one execution with every step attempt.
    Get {
        /// Execution id.
        id: String,
    },
    /// Follow an execution until it ends; exits non-zero unless it succeeded.
    Watch {
        /// Execution id.
        id: String,
    },
    /// Run an ended execution again from a step: the steps it needs keep their outputs.
    Rerun {
        /// Execution id.
        id: String,
        /// The step to run again, with everything after it.
        #[arg(long)]
        from: String,
    },
    /// Approve a step waiting for a decision (`approval:`).
    Approve(Decision),
    /// Reject a step waiting for a decision (`approval:`); the step fails.
    Reject(Decision),
}

/// `--api`: the admin API's base URL, for every command that talks to it.
#[derive(Debug, clap::Args)]
pub struct ApiUrl {
    /// Admin API base URL.
    #[arg(
        long = "api",
        global = true,
        env = "WEFT_API_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
}

/// A decision on an `approval` step.
#[derive(Debug, clap::Args)]
pub struct Decision {
    /// Execution id.
    id: String,
    /// Step id.
    step: String,
    /// Who decides (default: $USER).
    #[arg(long, env = "USER")]
    by: String,
    /// Why.
    #[arg(long)]
    comment: Option<String>,
}

/// Run a parsed command line.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Dev { apply } => serve(&Service::all(), apply, true).await,
        Command::Serve { service } => {
            let mut services = Vec::with_capacity(service.len());
            for name in &service {
                let one =
                    Service::parse(name).with_context(|| format!("no service named `{name}`"))?;
                if !services.contains(&one) {
                    services.push(one);
                }
            }
            serve(&services, None, false).await
        }
        Command::Replay { id } => replay(id).await,
        Command::Apply { file, api } => {
            Client::new(&api.url)?.apply_path(&file).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            workflow,
            inputs,
            wait,
            api,
        } => {
            let inputs: serde_json::Value =
                serde_json::from_str(&inputs).context("--inputs is not JSON")?;
            let client = Client::new(&api.url)?;
            let id = client.run(&workflow, &inputs).await?;
            println!("{id}");
            if wait {
                return client.watch(&id).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::DeadLetters { command, api } => {
            let client = Client::new(&api.url)?;
            match command {
                DeadLettersCommand::List { limit } => client.dead_letters(limit).await?,
                DeadLettersCommand::Get { id } => client.dead_letter(id).await?,
                DeadLettersCommand::Replay { id } => client.replay_dead_letter(id).await?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs { command, api } => {
            let client = Client::new(&api.url)?;
            match command {
                RunsCommand::List {
                    workflow,
                    status,
                    limit,
                } => {
                    client
                        .list(workflow.as_deref(), status.as_deref(), limit)
                        .await?
                }
                RunsCommand::Get { id } => client.get(&id).await?,
                RunsCommand::Watch { id } => return client.watch(&id).await,
                RunsCommand::Rerun { id, from } => client.rerun(&id, &from).await?,
                RunsCommand::Approve(d) => {
                    client
                        .decide(&d.id, &d.step, true, &d.by, d.comment)
                        .await?
                }
                RunsCommand::Reject(d) => {
                    client
                        .decide(&d.id, &d.step, false, &d.by, d.comment)
                        .await?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(
    services: &[Service],
    apply: Option<PathBuf>,
    dev: bool,
) -> anyhow::Result<ExitCode> {
    let mut config: CommonConfig = weft_runtime::load()?;
    weft_runtime::telemetry::init_logging(&config.log_format);
    if dev && config.master_key.0.trim().is_empty() {
        let (key, path) = crate::devkey::load_or_create()?;
        tracing::warn!(path = %path.display(),
            "WEFT_MASTER_KEY is not set: using this laptop's development key (set WEFT_MASTER_KEY in production)");
        config.master_key = weft_runtime::Redacted(key);
    }
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let Some(path) = apply else {
        host::start(services, &config, shutdown).await?.wait().await;
        return Ok(ExitCode::SUCCESS);
    };
    // Ready means what we were asked to apply is applied and its webhooks are routed.
    let reason = format!("applying {}", path.display());
    let running = host::start_held(services, &config, shutdown, &reason).await?;
    let url = format!("http://{}", running.addr);
    match apply_and_route(&Client::new(&url)?, &running, &path).await {
        Ok(()) => running.startup.open(),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "applying {} failed", path.display());
            running
                .startup
                .hold(&format!("applying {} failed: {e:#}", path.display()));
        }
    }
    running.wait().await;
    Ok(ExitCode::SUCCESS)
}

/// Apply the workflows at `path`, then wait until the webhook service routes their paths.
async fn apply_and_route(
    client: &Client,
    running: &host::Running,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    let applied = client.apply_path(path).await?;
    let paths: Vec<String> = applied
        .iter()
        .flat_map(|wf| wf.on.webhook.as_slice().iter().map(|t| t.path.clone()))
        .collect();
    running
        .routed(&paths, std::time::Duration::from_secs(30))
        .await
        .map_err(anyhow::Error::msg)
}

/// `weft replay <id>`: says how many entries were replayed and whether the state matches.
async fn replay(id: uuid::Uuid) -> anyhow::Result<ExitCode> {
    let config: CommonConfig = weft_runtime::load().context("loading the configuration")?;
    let store = weft_store::Store::connect(&config.database_url, 2)
        .await
        .context("connecting to the database")?;
    let Some(report) = weft_router::replay::replay(&store, id).await? else {
        anyhow::bail!("no execution {id}");
    };
    match report.divergence {
        None => {
            println!(
                "execution {id}: {} journal entries replay to the recorded state ({})",
                report.entries, report.recorded.status
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(d) => {
            println!(
                "execution {id}: the replay of {} journal entries diverges: {d}",
                report.entries
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
