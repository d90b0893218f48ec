//! The router's decision core: the state of one execution plus one input (a start, a result,
//! a timer, a cancel) gives the effects to apply and the state after them.
//!
//! Pure by design: no database, no bus, no clock. The time of a decision comes with its input
//! ([`Entry::at`]) and every id it creates is derived (attempts, timers), so feeding an
//! execution's journal — the inputs it was decided on, in order — through [`decide`] again
//! arrives at exactly the recorded state ([`replay`]). The router reads the state under the
//! execution's row lock, decides, and writes the effects and the journal entry in the same
//! transaction.
//!
//! Consumes workflow definitions (`weft_flow`), states and inputs; produces effects and
//! states. Touches nothing.

mod context;
mod decide;
mod effect;
mod fanout;
mod input;
pub mod replay;
pub mod state;
mod status;

pub use context::{build as context, for_event as event_context};
pub use decide::{
    Decision, Heavy, Settings, TASK_ENVELOPE_BYTES, decide, decide_final, decide_owned,
};
pub use effect::{Effect, Timer};
pub use fanout::{MAX_INLINE_OUTPUT, compact, stored_output};
pub use input::{Entry, Input, Kept, Outcome};
pub use state::{Attempt, Defaults, Execution, Fanout, Instance, Step};
pub use status::{AttemptStatus, ExecutionStatus, StepStatus, TimerKind};
