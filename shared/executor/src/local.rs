//! Agents a router may run in its own process ("local" tasks): the executors hosted beside it
//! register here, and the router claims one for a task instead of publishing the task.
//!
//! A local task is the same attempt as a published one — the same runner (secrets resolved at
//! the last moment and masked, typed `with`, deadline, heartbeats, cancels on
//! `weft.cancel.<agent>`, large outputs to the artifact store) — minus two bus round trips: the
//! task is not published and consumed, the result is handed back in memory instead of being
//! published on `weft.results.<agent>`. What makes it durable is the router's side (the task
//! stays in the outbox, leased, until its result commits; see the router's `local` module).
//!
//! Each registered agent runs at most its executor's `concurrency` local attempts at once,
//! besides the ones its consumer takes from the bus; a claim beyond that is refused and the
//! task goes to the bus. An executor registers when its service runs and is withdrawn when it
//! stops (so a restarted executor replaces its entry). Touches nothing else.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, RwLock},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use weft_events::{Task, TaskResult};

/// Runs one task to its result (the runner behind an executor service).
pub(crate) trait RunTask: Send + Sync {
    /// Run `task` and build its result.
    fn run_task(&self, task: Task) -> Pin<Box<dyn Future<Output = TaskResult> + Send + '_>>;
}

struct Entry {
    runner: Arc<dyn RunTask>,
    permits: Arc<Semaphore>,
    /// Which registration put it there (a stale withdrawal leaves a newer one alone).
    token: u64,
}

/// The agents hosted in this process, by name. Cloning shares the table.
#[derive(Clone, Default)]
pub struct Locals {
    table: Arc<RwLock<HashMap<String, Entry>>>,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Locals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .table
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Locals").field("agents", &names).finish()
    }
}

impl Locals {
    /// A slot to run one task of `agent` here: `None` when no executor of it runs in this
    /// process or all its local slots are taken (the task then goes to the bus).
    pub fn claim(&self, agent: &str) -> Option<Claim> {
        let table = self.table.read().ok()?;
        let entry = table.get(agent)?;
        let permit = entry.permits.clone().try_acquire_owned().ok()?;
        Some(Claim {
            runner: entry.runner.clone(),
            _permit: permit,
        })
    }

    /// Register `runner` for `agent` with `concurrency` local slots until the returned
    /// registration is dropped.
    pub(crate) fn register(
        &self,
        agent: &str,
        runner: Arc<dyn RunTask>,
        concurrency: usize,
    ) -> Registration {
        let token = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = Entry {
            runner,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            token,
        };
        if let Ok(mut table) = self.table.write() {
            table.insert(agent.to_string(), entry);
        }
        Registration {
            locals: self.clone(),
            agent: agent.to_string(),
            token,
        }
    }
}

/// An agent's entry in [`Locals`], withdrawn when dropped.
pub(crate) struct Registration {
    locals: Locals,
    agent: String,
    token: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut table) = self.locals.table.write()
            && table
                .get(&self.agent)
                .is_some_and(|e| e.token == self.token)
        {
            table.remove(&self.agent);
        }
    }
}

/// One local slot of an agent, taken by [`Locals::claim`]; freed when the task's run ends.
pub struct Claim {
    runner: Arc<dyn RunTask>,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Claim")
    }
}

impl Claim {
    /// Run `task` here, as the executor would have, and return its result.
    pub async fn run(self, task: Task) -> TaskResult {
        self.runner.run_task(task).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl RunTask for Echo {
        fn run_task(&self, task: Task) -> Pin<Box<dyn Future<Output = TaskResult> + Send + '_>> {
            Box::pin(async move {
                TaskResult {
                    attempt_id: task.attempt_id,
                    execution_id: task.execution_id,
                    step_id: task.step_id,
                    attempt: task.attempt,
                    outcome: weft_events::Outcome::Succeeded(task.with),
                    logs: Vec::new(),
                    logs_dropped: 0,
                }
            })
        }
    }

    fn task() -> Task {
        Task {
            attempt_id: uuid::Uuid::now_v7(),
            execution_id: uuid::Uuid::now_v7(),
            workflow: "w".into(),
            step_id: "s".into(),
            instance: None,
            attempt: 1,
            agent: "echo".into(),
            with: serde_json::json!({"n": 1}),
            timeout_ms: None,
            traceparent: None,
            heartbeat_timeout_ms: None,
        }
    }

    #[tokio::test]
    async fn a_claim_runs_here_within_the_agents_slots_and_frees_its_slot_when_done() {
        let locals = Locals::default();
        assert!(locals.claim("echo").is_none(), "nothing registered");
        let _reg = locals.register("echo", Arc::new(Echo), 2);
        assert!(locals.claim("other").is_none(), "not hosted here");
        let (a, b) = (locals.claim("echo"), locals.claim("echo"));
        assert!(a.is_some() && b.is_some());
        assert!(locals.claim("echo").is_none(), "both slots are taken");
        let t = task();
        let result = a.expect("claim").run(t.clone()).await;
        assert_eq!(result.attempt_id, t.attempt_id);
        assert_eq!(result.outcome, weft_events::Outcome::Succeeded(t.with));
        assert!(
            locals.claim("echo").is_some(),
            "the finished run freed its slot"
        );
    }

    #[test]
    fn a_stopped_executor_is_withdrawn_but_a_stale_withdrawal_keeps_its_successor() {
        let locals = Locals::default();
        let first = locals.register("echo", Arc::new(Echo), 1);
        let second = locals.register("echo", Arc::new(Echo), 1); // a restart
        drop(first);
        assert!(
            locals.claim("echo").is_some(),
            "the restarted executor stays"
        );
        drop(second);
        assert!(locals.claim("echo").is_none());
    }
}
