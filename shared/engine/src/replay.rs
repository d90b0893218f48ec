//! Deterministic replay: an execution's journal fed through [`decide`](crate::decide) again
//! from the state it was created in must arrive at exactly the recorded state.

use weft_flow::Workflow;

use crate::{Entry, Execution, Settings, decide_final};

/// Where replay and the recorded state part.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The first field that differs (`status`, `steps.<id>.status`, …).
    pub field: String,
    /// Its recorded value.
    pub recorded: String,
    /// Its replayed value.
    pub replayed: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: recorded {}, replayed {}",
            self.field, self.recorded, self.replayed
        )
    }
}

/// Fold `journal` through the core, from `created` (see [`Execution::created`]).
pub fn replay(
    wf: &Workflow,
    created: Execution,
    journal: &[Entry],
    settings: &Settings,
) -> Execution {
    journal.iter().fold(created, |state, entry| {
        decide_final(wf, state, entry, settings).state
    })
}

/// The first difference between a recorded and a replayed state, if any.
pub fn compare(recorded: &Execution, replayed: &Execution) -> Option<Divergence> {
    let differ = |field: &str, a: String, b: String| {
        (a != b).then(|| Divergence {
            field: field.to_string(),
            recorded: a,
            replayed: b,
        })
    };
    let show = |v: &dyn std::fmt::Debug| format!("{v:?}");
    differ("status", show(&recorded.status), show(&replayed.status))
        .or_else(|| {
            differ(
                "started_at",
                show(&recorded.started_at),
                show(&replayed.started_at),
            )
        })
        .or_else(|| differ("output", show(&recorded.output), show(&replayed.output)))
        .or_else(|| differ("error", show(&recorded.error), show(&replayed.error)))
        .or_else(|| {
            let ids = |e: &Execution| e.steps.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
            differ("steps", show(&ids(recorded)), show(&ids(replayed)))
        })
        .or_else(|| {
            recorded
                .steps
                .iter()
                .zip(&replayed.steps)
                .find_map(|(a, b)| {
                    let f = |name: &str| format!("steps.{}.{name}", a.id);
                    differ(&f("status"), show(&a.status), show(&b.status))
                        .or_else(|| differ(&f("attempts"), show(&a.attempts), show(&b.attempts)))
                        .or_else(|| differ(&f("output"), show(&a.output), show(&b.output)))
                        .or_else(|| differ(&f("error"), show(&a.error), show(&b.error)))
                        .or_else(|| differ(&f("attempt"), show(&a.attempt), show(&b.attempt)))
                        .or_else(|| {
                            let counts = |s: &crate::Step| {
                                s.fanout
                                    .as_ref()
                                    .map(|f| (f.total, f.next, f.succeeded, f.failed))
                            };
                            differ(&f("items"), show(&counts(a)), show(&counts(b)))
                        })
                })
        })
}
