//! The code executor: runs `uses: code` steps — user JavaScript in a sandboxed process.
//!
//! # What a step writes
//!
//! ```yaml
//! steps:
//!   score:
//!     uses: code
//!     with:
//!       inputs: { order: "${{ event.data.body }}" }
//!       memory: 32MiB          # default 64MiB; 4MiB..max_memory (512MiB)
//!       timeout: 2s            # default 5s; at most max_timeout (60s)
//!       script: |
//!         const total = inputs.order.items.reduce((s, i) => s + i.price * i.qty, 0);
//!         console.log("total", total);
//!         if (total < 0) throw new Error("negative total");
//!         return { total, vip: total > 1000 };
//! ```
//!
//! `script` is the body of an async function (QuickJS-ng, ES2023). It sees `inputs` (the
//! JSON of `with.inputs`) and `console` (`log`/`info`/`warn`/`error`/`debug`: each call is one
//! line of the attempt's log, strings as they are and other values as JSON; at most
//! `max_log_lines` lines of at most 8 KiB each and `max_log_bytes` in all, the rest counted).
//! It returns the step's output (`steps.<id>.output`), which must be JSON: `JSON.stringify`
//! decides (`undefined` → `null`, a function or symbol dropped, a `BigInt` or a cycle is an
//! error); the output is re-parsed as plain JSON, so keys such as `__proto__` are ordinary
//! keys and pollute nothing. There is no `require`, `import`, `fetch`, `process`, file,
//! network, timer (`setTimeout`) or environment: nothing outside the script can settle a
//! promise, so a script that awaits one that never settles fails at once.
//!
//! # Errors (all permanent except `internal`)
//!
//! | code | when |
//! |---|---|
//! | `script` | the script threw (message `Name: message`, and the line in the script), had a syntax error, returned something that is not JSON, or awaited a promise that never settles |
//! | `sandbox_limit` | over `memory`, stack overflow (deep recursion), output over `max_output_bytes`, CPU time (rlimit) or address space (the process was killed) |
//! | `timeout` | the script ran past its `timeout` (stopped by the engine's interrupt handler, or killed by the executor 1 s later) or past the step's deadline |
//! | `cancelled` | the step was cancelled while it ran; the runner was killed |
//! | `bad_input` | `memory` or `timeout` out of range, script and inputs over 8 MiB |
//! | `internal` | the sandbox cannot start (bubblewrap missing or refused, runner unusable); the message says why, and the agent's readiness check ([`CodeExecutor::check`], behind `/readyz`) fails too |
//!
//! # How it is isolated
//!
//! The executor never evaluates user code itself. Each script runs in its own short-lived
//! process, the *runner* ([`runner`]), started under bubblewrap ([`sandbox`]): new user, PID,
//! network (only `lo`), IPC and UTS namespaces, no capabilities, no environment, a root with
//! only the shared libraries and the runner binary (read-only), a fresh `/proc`, a minimal
//! `/dev` and an empty `/tmp`; as an unprivileged uid (65534) when Weft runs as root. The
//! runner sets its own rlimits before any user code runs — open files 8, processes 0 (so
//! `fork` fails; JavaScript has no way to ask anyway), core 0, file size 0, address space
//! (what is mapped plus `memory` plus slack) and CPU time (timeout + 1 s) — then QuickJS's
//! heap limit (`memory`), stack limit (1 MiB) and an interrupt handler at the deadline. The
//! executor kills the process at the wall-clock deadline and on cancellation. The runner
//! holds no secret, credential or connection: its stdin carries only the script and its
//! inputs (a script sees a secret only when the step passes one in `inputs`; the platform
//! masks secret values in the output, error and log afterwards).
//!
//! # Runner command
//!
//! A runner is the `weft` binary itself, run as `weft __code-runner` (a hidden subcommand
//! that calls [`runner::main`]), so nothing else needs installing: by default the executor
//! runs `std::env::current_exe()` with that argument. `[exec_code.sandbox] runner = [path,
//! args…]` names another command, e.g. this crate's `weft-code-runner` binary (the tests use
//! it). When the sandbox user cannot read the binary (a folder on its path is closed to
//! others, e.g. under `/root`), it is copied once to a private temporary folder.
//!
//! # Protocol and pool
//!
//! Executor and runner speak newline-delimited JSON over the runner's stdin/stdout
//! ([`protocol`]), every size bounded on both sides. A runner serves exactly one script and
//! exits; a [`pool`] keeps `warm_runners` (default 2) started and waiting for their request,
//! so a step does not wait for bubblewrap and the engine to start.
//!
//! Consumes `with` of `uses: code` steps; produces their output and log lines. Touches
//! child processes (bwrap and runners) and, when staging, a temporary folder.

pub mod agent;
pub mod config;
pub mod error;
pub mod executor;
pub mod pool;
pub mod protocol;
pub mod runner;
pub mod sandbox;
pub mod with;

pub use agent::CodeAgent;
pub use config::CodeConfig;
pub use error::{CodeError, ErrorCode};
pub use executor::CodeExecutor;
pub use sandbox::{Sandbox, SandboxConfig, SandboxError};
pub use with::{ByteSize, CodeWith};
