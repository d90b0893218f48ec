//! The service host: connects the bus (and the database when a hosted service needs it),
//! applies migrations and creates the streams idempotently, then runs the chosen services in this
//! process behind one HTTP listener that also serves `/healthz`, `/readyz` and `/metrics`.
//! `weft dev` hosts every service; `weft serve <name>` hosts one.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::Router;
use tokio::task::JoinSet;
use weft_bus::Bus;
use weft_runtime::{CommonConfig, Gate, OnFailure, Readiness, Shutdown, health_router};
use weft_secrets::{MasterKey, Secrets};
use weft_store::Store;

use crate::{executors::ExecHost, serve::Service};

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The bus is unreachable or its streams cannot be created.
    #[error(transparent)]
    Bus(#[from] weft_bus::BusError),
    /// The database is unreachable or migrations failed.
    #[error(transparent)]
    Store(#[from] weft_store::StoreError),
    /// A service's own configuration section does not load.
    #[error("{0}")]
    Config(String),
    /// An executor could not be built.
    #[error("cannot start an executor: {0}")]
    Executor(String),
    /// `WEFT_MASTER_KEY` is malformed.
    #[error("WEFT_MASTER_KEY: {0}")]
    MasterKey(String),
    /// The listener could not be bound.
    #[error(transparent)]
    Listen(#[from] std::io::Error),
}

/// Services running in this process.
#[derive(Debug)]
pub struct Running {
    /// Where the HTTP listener is bound.
    pub addr: SocketAddr,
    /// Triggering it stops everything.
    pub shutdown: Shutdown,
    /// `/readyz` reports not ready while this is held (see [`start_held`]).
    pub startup: Gate,
    /// The webhook service's route table, when it runs here.
    routes: Option<weft_webhook::Registry>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Wait until every service has stopped (after `shutdown`).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Wait until every path in `paths` is routed by the webhook service hosted here (a no-op
    /// without one); `Err` names the first path still unrouted after `within`.
    pub async fn routed(&self, paths: &[String], within: Duration) -> Result<(), String> {
        let Some(routes) = &self.routes else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + within;
        for path in paths {
            while !matches!(routes.lookup(path), weft_webhook::Lookup::Known(_)) {
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("/hooks/{path} is not routed after {within:?}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Stop and wait.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.wait()).await;
    }
}

/// Start `services` with `config`; returns once the listener is bound and the services run.
pub async fn start(
    services: &[Service],
    config: &CommonConfig,
    shutdown: Shutdown,
) -> Result<Running, HostError> {
    start_with(services, config, shutdown, Gate::default()).await
}

/// As [`start`], with `/readyz` not ready until the caller opens [`Running::startup`] (e.g.
/// once the workflows it was asked to apply are applied and routable).
pub async fn start_held(
    services: &[Service],
    config: &CommonConfig,
    shutdown: Shutdown,
    reason: &str,
) -> Result<Running, HostError> {
    start_with(services, config, shutdown, Gate::held_for(reason)).await
}

async fn start_with(
    services: &[Service],
    config: &CommonConfig,
    shutdown: Shutdown,
    startup: Gate,
) -> Result<Running, HostError> {
    // Install the metrics recorder before any service counts anything.
    weft_runtime::telemetry::metrics_handle();
    let name = match services {
        [one] => format!("weft-{}", one.name()),
        _ => "weft-dev".to_string(),
    };
    let bus = Bus::connect(&config.nats_url, &name).await?;
    bus.ensure_streams().await?;
    let probe = bus.clone();
    let mut readiness = Readiness::default()
        .with_gate("startup", startup.clone())
        .with("bus", move || {
            let bus = probe.clone();
            async move { bus.check().await }
        });
    let store = if services.iter().any(|s| s.needs_database()) {
        let store = Store::connect(&config.database_url, config.database_pool).await?;
        store.migrate().await?;
        let probe = store.clone();
        readiness = readiness.with("database", move || {
            let store = probe.clone();
            async move { store.check().await }
        });
        Some(store)
    } else {
        None
    };
    let master_key = master_key(config)?;
    let deps = Deps {
        secrets: Secrets::watch(bus.clone(), master_key.clone(), shutdown.clone()),
        master_key,
        artifacts: artifact_store(config, &bus).await?,
        locals: weft_executor::Locals::default(),
        bus,
        store,
    };
    let mut app = Router::new();
    let mut tasks = JoinSet::new();
    let mut routes = None;
    let exec = match services.iter().any(|s| matches!(s, Service::Exec(_))) {
        true => Some(exec_host(&deps, config).await?),
        false => None,
    };
    let policy = config.on_service_failure;
    let mut checks = Vec::new();
    for service in services {
        let hosted = Hosted {
            tasks: &mut tasks,
            routes: &mut routes,
            exec: exec.as_ref(),
            readiness: &mut checks,
            policy,
        };
        app = add(*service, app, hosted, config, &deps, &shutdown).await?;
    }
    for check in checks {
        readiness = check(readiness);
    }
    let app = app.merge(health_router(readiness));
    let listener = weft_runtime::http::bind(&config.http_addr).await?;
    let addr = listener.local_addr()?;
    let stop = shutdown.clone();
    let limits = config.http_limits();
    // The listener cannot be bound again from here: its failure always stops the process.
    let listener = std::sync::Mutex::new(Some((listener, app, limits, stop)));
    let serve = make(move || {
        let taken = listener.lock().ok().and_then(|mut l| l.take());
        async move {
            let Some((listener, app, limits, stop)) = taken else {
                return Err("the listener is gone".to_string());
            };
            weft_runtime::http::serve(listener, app, &limits, stop)
                .await
                .map_err(|e| e.to_string())
        }
    });
    supervise(
        &mut tasks,
        "HTTP listener".into(),
        &shutdown,
        OnFailure::Stop,
        serve,
    );
    tracing::info!(%addr, services = ?services.iter().map(|s| s.name()).collect::<Vec<_>>(), "weft is running");
    Ok(Running {
        addr,
        shutdown,
        startup,
        routes,
        tasks,
    })
}

/// What the hosted services share.
struct Deps {
    bus: Bus,
    store: Option<Store>,
    master_key: Option<Arc<MasterKey>>,
    secrets: Secrets,
    /// The artifact store executors and the IMAP trigger share.
    artifacts: weft_executor::Artifacts,
    /// The executors of this process, whose tasks a router beside them runs without the bus.
    locals: weft_executor::Locals,
}

/// What every executor of this process shares: the bus, secrets, the JetStream artifact store
/// and the `[executors]` settings.
async fn exec_host(deps: &Deps, common: &CommonConfig) -> Result<ExecHost, HostError> {
    // `executor_concurrency` and `ack_wait_ms` of the common settings are the defaults.
    let base = weft_executor::ExecutorConfig {
        concurrency: common.executor_concurrency,
        ack_wait_ms: common.ack_wait_ms,
        ..Default::default()
    };
    let config = weft_runtime::load_section_over("executors", base)
        .map_err(|e| HostError::Executor(e.to_string()))?;
    Ok(ExecHost {
        bus: deps.bus.clone(),
        inputs: Arc::new(deps.secrets.clone()),
        artifacts: deps.artifacts.clone(),
        locals: deps.locals.clone(),
        config,
    })
}

/// The artifact store the settings name: an S3 bucket when `artifacts_s3_bucket` is set, else
/// the JetStream object store `weft_artifacts`.
async fn artifact_store(
    config: &CommonConfig,
    bus: &Bus,
) -> Result<weft_executor::Artifacts, HostError> {
    let bucket = config.artifacts_s3_bucket.trim();
    if bucket.is_empty() {
        return Ok(weft_executor::Artifacts::jetstream(bus).await?);
    }
    let set = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    let settings = weft_s3::S3Settings {
        endpoint: set(&config.artifacts_s3_endpoint),
        region: config.artifacts_s3_region.clone(),
        access_key_id: set(&config.artifacts_s3_access_key_id),
        secret_access_key: set(&config.artifacts_s3_secret_access_key.0),
    };
    let store = weft_s3::S3Artifacts::new(&settings, bucket, &config.artifacts_s3_prefix);
    Ok(weft_executor::Artifacts::remote(Arc::new(store)))
}

/// The master key from the configuration (`WEFT_MASTER_KEY`), when one is set.
fn master_key(config: &CommonConfig) -> Result<Option<Arc<MasterKey>>, HostError> {
    if config.master_key.0.trim().is_empty() {
        return Ok(None);
    }
    MasterKey::parse(&config.master_key.0)
        .map(|k| Some(Arc::new(k)))
        .map_err(|e| HostError::MasterKey(e.to_string()))
}

/// A service's own settings: the `[name]` table / `WEFT_<NAME>_…` variables over `base`.
fn section<T>(name: &str, base: T) -> Result<T, HostError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    weft_runtime::load_section_over(name, base).map_err(|e| HostError::Config(e.to_string()))
}

/// A service the host can start again: each call gives a fresh run of it.
type Make = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

/// Run one service as a task of the host. When it ends before shutdown — an error, a panic, or
/// a return nobody asked for — the host logs which service and why, then per `policy` stops
/// everything (an orchestrator or `scripts/dev` restarts the process whole, rather than it
/// running on without the service, unseen) or starts the service again with backoff.
fn supervise(
    tasks: &mut JoinSet<()>,
    name: String,
    shutdown: &Shutdown,
    policy: OnFailure,
    make: Make,
) {
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let why = match tokio::spawn(make()).await {
                Ok(Ok(())) if shutdown.is_triggered() => return,
                Ok(Ok(())) => "it stopped on its own".to_string(),
                Ok(Err(e)) => e,
                Err(e) => format!("it panicked: {e}"),
            };
            if shutdown.is_triggered() {
                return;
            }
            if policy == OnFailure::Stop {
                tracing::error!(service = %name, reason = %why, "service failed; stopping weft");
                shutdown.trigger();
                return;
            }
            tracing::error!(service = %name, reason = %why, retry_in = ?backoff, "service failed; starting it again");
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    });
}

/// A [`Make`] from a closure.
fn make<F, Fut>(f: F) -> Make
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Box::new(move || Box::pin(f()))
}

/// Run a trigger service for `source`, resolving secrets in its configs.
fn spawn_trigger<S: weft_trigger::Source>(
    hosted: &mut Hosted<'_>,
    source: impl Fn() -> S + Send + Sync + 'static,
    deps: &Deps,
    shutdown: &Shutdown,
) {
    let kind = std::any::type_name::<S>()
        .rsplit("::")
        .next()
        .unwrap_or("?");
    let deps = weft_trigger::TriggerDeps {
        bus: deps.bus.clone(),
        secrets: deps.secrets.clone(),
    };
    let stop = shutdown.clone();
    let run = make(move || {
        let service = weft_trigger::TriggerService::new(source(), deps.clone());
        let stop = stop.clone();
        async move { service.run(stop).await.map_err(|e| e.to_string()) }
    });
    supervise(
        hosted.tasks,
        format!("trigger {kind}"),
        shutdown,
        hosted.policy,
        run,
    );
}

/// What [`add`] leaves behind: background tasks, and the webhook service's route table.
struct Hosted<'a> {
    tasks: &'a mut JoinSet<()>,
    routes: &'a mut Option<weft_webhook::Registry>,
    /// What the executors share (when any runs here).
    exec: Option<&'a ExecHost>,
    /// Readiness checks the services add.
    readiness: &'a mut Vec<Box<dyn FnOnce(Readiness) -> Readiness + Send>>,
    /// What to do when a service fails.
    policy: OnFailure,
}

async fn add(
    service: Service,
    app: Router,
    mut hosted: Hosted<'_>,
    config: &CommonConfig,
    deps: &Deps,
    shutdown: &Shutdown,
) -> Result<Router, HostError> {
    let bus = &deps.bus;
    Ok(match (service, deps.store.as_ref()) {
        (Service::Api, Some(store)) => {
            let config = section("api", weft_api::ApiConfig::default())?;
            let checks = crate::executors::EXECUTORS
                .iter()
                .map(|e| (e.agent.to_string(), e.check_with))
                .collect();
            let deps = weft_api::ApiDeps {
                store: store.clone(),
                bus: bus.clone(),
                master_key: deps.master_key.clone(),
                checks,
            };
            let api = weft_api::ApiService::new(config, deps);
            let readiness = api.readiness();
            hosted.readiness.push(Box::new(move |r| r.merge(readiness)));
            let (service, stop) = (api.clone(), shutdown.clone());
            let run = make(move || {
                let (api, stop) = (service.clone(), stop.clone());
                async move { api.run(stop).await.map_err(|e| e.to_string()) }
            });
            supervise(hosted.tasks, "api".into(), shutdown, hosted.policy, run);
            app.merge(api.router())
        }
        (Service::Router, Some(store)) => {
            // `[router]` / `WEFT_ROUTER_…`, over the common `ack_wait_ms`.
            let rc = section("router", weft_router::RouterConfig::from_common(config))?;
            let deps = weft_router::RouterDeps {
                store: store.clone(),
                bus: bus.clone(),
                artifacts: deps.artifacts.clone(),
                locals: deps.locals.clone(),
            };
            let stop = shutdown.clone();
            let run = make(move || {
                let router = weft_router::RouterService::new(rc.clone(), deps.clone());
                let stop = stop.clone();
                async move { router.run(stop).await.map_err(|e| e.to_string()) }
            });
            supervise(hosted.tasks, "router".into(), shutdown, hosted.policy, run);
            app
        }
        (Service::Webhook, _) => {
            // `[webhook]` / `WEFT_WEBHOOK_…`, over the common `max_body_bytes`.
            let wc = section("webhook", weft_webhook::WebhookConfig::from_common(config))?;
            let deps = weft_webhook::WebhookDeps {
                bus: bus.clone(),
                secrets: deps.secrets.clone(),
            };
            let webhook = weft_webhook::WebhookService::new(wc, deps);
            *hosted.routes = Some(webhook.registry().clone());
            // A restart runs a clone: the routes served here keep the same table.
            let (service, stop) = (webhook.clone(), shutdown.clone());
            let run = make(move || {
                let (webhook, stop) = (service.clone(), stop.clone());
                async move { webhook.run(stop).await.map_err(|e| e.to_string()) }
            });
            supervise(hosted.tasks, "webhook".into(), shutdown, hosted.policy, run);
            app.merge(webhook.router())
        }
        (Service::Exec(executor), _) => {
            let Some(host) = hosted.exec else {
                return Err(HostError::Executor("no executor host".into()));
            };
            let started = executor
                .start(host, shutdown.clone())
                .map_err(|e| HostError::Executor(e.to_string()))?;
            hosted.readiness.push(started.readiness);
            // The first run is the one just built (so a bad setting fails the start); a
            // restart builds the agent again.
            let first = std::sync::Mutex::new(Some(started.run));
            let (host, stop) = (host.clone(), shutdown.clone());
            let run = make(move || {
                let ready = first.lock().ok().and_then(|mut f| f.take());
                let again = ready.is_none().then(|| executor.start(&host, stop.clone()));
                async move {
                    match (ready, again) {
                        (Some(run), _) => run.await,
                        (None, Some(Ok(started))) => started.run.await,
                        (None, Some(Err(e))) => Err(e.to_string()),
                        (None, None) => Err("nothing to run".into()),
                    }
                }
            });
            supervise(
                hosted.tasks,
                executor.service_name(),
                shutdown,
                hosted.policy,
                run,
            );
            app
        }
        (Service::Cdc, _) => {
            spawn_trigger(&mut hosted, weft_cdc::CdcSource::new, deps, shutdown);
            app
        }
        (Service::Files, _) => {
            // `on.file` (local folders) and `on.s3`.
            spawn_trigger(&mut hosted, || weft_files::FileSource, deps, shutdown);
            spawn_trigger(&mut hosted, weft_s3::S3Source::default, deps, shutdown);
            app
        }
        (Service::Cron, _) => {
            spawn_trigger(&mut hosted, || weft_cron::CronSource, deps, shutdown);
            app
        }
        (Service::Imap, _) => {
            // Attachments go where executors read them (`uses: email` forwards them).
            let artifacts = deps.artifacts.clone();
            let source = move || weft_imap::ImapSource::new(artifacts.clone());
            spawn_trigger(&mut hosted, source, deps, shutdown);
            app
        }
        (_, None) => app, // needs_database() guarantees a store for api and router
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    async fn stops_weft(
        service: impl Future<Output = Result<(), String>> + Send + 'static,
    ) -> bool {
        let shutdown = Shutdown::new();
        let mut tasks = JoinSet::new();
        let once = std::sync::Mutex::new(Some(Box::pin(service)));
        let run = make(move || {
            let service = once.lock().ok().and_then(|mut s| s.take());
            async move {
                match service {
                    Some(s) => s.await,
                    None => Err("ran twice".into()),
                }
            }
        });
        supervise(&mut tasks, "test".into(), &shutdown, OnFailure::Stop, run);
        while tasks.join_next().await.is_some() {}
        shutdown.is_triggered()
    }

    #[tokio::test]
    async fn a_failed_panicked_or_vanished_service_stops_the_host() {
        assert!(stops_weft(async { Err("broken".to_string()) }).await);
        assert!(stops_weft(async { Ok(()) }).await, "ended before shutdown");
        assert!(stops_weft(async { panic!("boom") }).await);
    }

    #[tokio::test(start_paused = true)]
    async fn with_restart_a_failed_service_is_started_again_and_the_host_stays_up() {
        let shutdown = Shutdown::new();
        let mut tasks = JoinSet::new();
        let starts = Arc::new(AtomicUsize::new(0));
        let (counted, stop) = (starts.clone(), shutdown.clone());
        let run = make(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let stop = stop.clone();
            async move {
                if n < 2 {
                    return Err(format!("failure {n}"));
                }
                stop.wait().await;
                Ok(())
            }
        });
        supervise(
            &mut tasks,
            "test".into(),
            &shutdown,
            OnFailure::Restart,
            run,
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3, "started again twice");
        assert!(!shutdown.is_triggered(), "the host stays up");
        shutdown.trigger();
        while tasks.join_next().await.is_some() {}
    }
}
