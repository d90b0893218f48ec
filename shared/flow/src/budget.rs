//! Budgets for `${{ … }}` expressions: CEL is user code, so none may crash, stall or grow the
//! process that evaluates it.
//!
//! Two kinds of limit:
//! - **Shape, at compile time** (so at apply, with the line and field): at most
//!   [`MAX_SOURCE_BYTES`] of source and a syntax tree at most [`MAX_DEPTH`] deep. The evaluator
//!   walks the tree recursively, so depth is what protects the stack (`1+1+…+1` with 20,000
//!   terms overflowed it).
//! - **Work, at evaluation**: CEL has no loops other than the comprehension macros (`all`,
//!   `exists`, `exists_one`, `map`, `filter`), so the compiled tree is instrumented: every loop
//!   iteration calls [`STEP_FN`], which charges the [`Limits`] of the evaluation in progress —
//!   iterations, an estimate of the bytes the loop produced, and wall-clock time — and fails the
//!   evaluation with [`Exceeded`] once one runs out. Outside loops the work is bounded by the
//!   tree's size times the data's.
//!
//! The `cel` crate (0.15) has no cost budget of its own; its parser does have a recursion
//! limit (96), which bounds nesting of parentheses but not a left-associative chain. The
//! instrumentation keeps the interpreter's fast paths: a `map`/`filter` step keeps the
//! `@result + [x]` shape the interpreter appends in place (the charge wraps `x` or the guard).
//!
//! Consumes compiled CEL trees; produces instrumented trees and, per evaluation, a meter in a
//! thread-local (evaluation is synchronous on one thread). Touches nothing else.

use std::cell::Cell;
use std::time::{Duration, Instant};

use cel::ExecutionError;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, ListExpr, operators};
use cel::common::types::{CelString, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Env, IdedExpr};

use crate::ExprError;

/// Longest expression source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 4096;

/// Deepest syntax tree accepted: the evaluator recurses once per level, on the caller's
/// stack (a 2 MiB async worker; a debug build spends ~30 KiB a level, and overflowed past
/// 60). 32 still takes a chain of 32 operands, which CEL's specification asks implementations
/// to support.
pub const MAX_DEPTH: usize = 32;

/// Deepest nesting the parser accepts (counted in sub-expressions: each `(`, `[`, call
/// argument…). The parser (ANTLR-generated) recurses through about ten grammar rules per
/// level, so it runs on a thread of its own with [`PARSE_STACK`] bytes of stack.
pub const MAX_PARSE_NESTING: u16 = 32;

/// Stack of the parsing thread: ample for [`MAX_PARSE_NESTING`] even in a debug build.
const PARSE_STACK: usize = 64 << 20;

/// The function every comprehension iteration calls. `@` cannot start a CEL identifier, so no
/// expression can call or shadow it.
pub const STEP_FN: &str = "@weft_step";

/// What one evaluation (one condition, or one whole template) may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Comprehension iterations, summed over every loop of the evaluation.
    pub iterations: u64,
    /// Estimated bytes produced by loop steps (strings by length, lists and maps by entries).
    pub bytes: u64,
    /// Wall-clock time.
    pub time: Duration,
}

impl Limits {
    /// The full budget: the default of [`crate::eval_condition`] and [`crate::render`], and what
    /// the router allows a workflow `if` (evaluated before any transaction).
    pub const FULL: Limits = Limits {
        iterations: 200_000,
        bytes: 64 << 20,
        time: Duration::from_millis(250),
    };

    /// The budget of what the router evaluates inside an execution's transaction (a step's `if`
    /// and `with`, the `output:`): smaller, since the transaction holds a database connection
    /// and the execution's row lock while it runs.
    pub const STEP: Limits = Limits {
        iterations: 20_000,
        bytes: 16 << 20,
        time: Duration::from_millis(25),
    };

    /// A small first try that nearly every real expression fits; what exceeds it is evaluated
    /// again with [`Limits::FULL`] where it cannot hold up other work (see the router).
    pub const FAST: Limits = Limits {
        iterations: 5_000,
        bytes: 4 << 20,
        time: Duration::from_millis(5),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::FULL
    }
}

/// Which limit an evaluation ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// Too many loop iterations.
    Iterations(u64),
    /// Loops produced too much data.
    Bytes(u64),
    /// Took too long.
    Time(Duration),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Iterations(n) => write!(f, "more than {n} loop iterations"),
            Exceeded::Bytes(n) => write!(f, "loops produced more than {} KiB", n / 1024),
            Exceeded::Time(d) => write!(f, "ran longer than {} ms", d.as_millis()),
        }
    }
}

#[derive(Clone, Copy)]
struct Meter {
    limits: Limits,
    iterations: u64,
    bytes: u64,
    deadline: Instant,
    exceeded: Option<Exceeded>,
}

thread_local! {
    static METER: Cell<Option<Meter>> = const { Cell::new(None) };
}

/// Run `f` (one evaluation) under `limits`; `Some` when it ran out of one of them.
pub(crate) fn metered<T>(limits: &Limits, f: impl FnOnce() -> T) -> (T, Option<Exceeded>) {
    let meter = Meter {
        limits: *limits,
        iterations: 0,
        bytes: 0,
        deadline: Instant::now() + limits.time,
        exceeded: None,
    };
    let outer = METER.replace(Some(meter));
    let out = f();
    let exceeded = METER.replace(outer).and_then(|m| m.exceeded);
    (out, exceeded)
}

/// Charge one iteration that produced `bytes`.
fn charge(bytes: u64) -> Result<(), Exceeded> {
    METER.with(|cell| {
        let Some(mut m) = cell.get() else {
            return Ok(());
        };
        m.iterations += 1;
        m.bytes = m.bytes.saturating_add(bytes);
        let exceeded = if let Some(e) = m.exceeded {
            Some(e)
        } else if m.iterations > m.limits.iterations {
            Some(Exceeded::Iterations(m.limits.iterations))
        } else if m.bytes > m.limits.bytes {
            Some(Exceeded::Bytes(m.limits.bytes))
        } else if Instant::now() > m.deadline {
            Some(Exceeded::Time(m.limits.time))
        } else {
            None
        };
        m.exceeded = exceeded;
        cell.set(Some(m));
        exceeded.map_or(Ok(()), Err)
    })
}

/// A rough size of what a loop step produced: strings by bytes, containers by entries.
fn weight(v: &dyn Val) -> u64 {
    if let Some(s) = v.downcast_ref::<CelString>() {
        return 16 + s.inner().len() as u64;
    }
    match v.as_sizer() {
        Some(sizer) => 16 + 16 * (*sizer.size().inner()).max(0) as u64,
        None => 16,
    }
}

/// [`STEP_FN`]: charge the meter for the value, then give it back unchanged.
fn step<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let value = args
        .pop()
        .ok_or_else(ExecutionError::missing_argument_or_target)?;
    charge(weight(value.as_ref()))
        .map_err(|e| ExecutionError::function_error("expression budget", e))?;
    Ok(value)
}

/// Declare [`STEP_FN`] on `env`.
pub(crate) fn register(env: &mut Env) {
    // Declared once, on a fresh environment: a duplicate is a programming error we can ignore.
    let _ = env.add_overload(STEP_FN, "weft_step_dyn", vec![DYN_TYPE], step);
}

/// Parse `src` with `env`'s macros on a thread with a large stack, check its depth and
/// instrument it. The caller has checked the length against [`MAX_SOURCE_BYTES`].
pub(crate) fn parse(env: &Env, src: &str) -> Result<IdedExpr, ExprError> {
    let parser = env.parser().max_recursion_depth(MAX_PARSE_NESTING);
    let owned = src.to_owned();
    let parsed = std::thread::Builder::new()
        .name("weft-cel-parse".into())
        .stack_size(PARSE_STACK)
        .spawn(move || {
            // The tree is checked and instrumented here too: both walk it.
            let mut tree = parser.parse(&owned).map_err(|e| {
                let message = e.to_string();
                if message.contains("Recursion limit") {
                    ExprError::Limit {
                        expr: excerpt(&owned),
                        message: format!(
                            "nested more than {MAX_PARSE_NESTING} levels deep; split it into steps"
                        ),
                    }
                } else {
                    ExprError::Syntax {
                        expr: owned.clone(),
                        message,
                    }
                }
            })?;
            check_depth(&tree).map_err(|message| ExprError::Limit {
                expr: excerpt(&owned),
                message,
            })?;
            instrument(&mut tree);
            Ok(tree)
        })
        .map_err(|e| ExprError::Syntax {
            expr: src.to_owned(),
            message: format!("cannot start the parser thread: {e}"),
        })?
        .join();
    parsed.unwrap_or_else(|_| {
        Err(ExprError::Syntax {
            expr: src.to_owned(),
            message: "the parser failed".into(),
        })
    })
}

/// At most 200 characters of an expression, for messages about one that is too long.
pub(crate) fn excerpt(src: &str) -> String {
    match src.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &src[..i]),
        None => src.to_owned(),
    }
}

/// Refuse a tree deeper than [`MAX_DEPTH`] (walked without recursion: the tree may be deep).
pub(crate) fn check_depth(root: &IdedExpr) -> Result<(), String> {
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!(
                "nested more than {MAX_DEPTH} levels deep; split it into steps"
            ));
        }
        for child in children(&node.expr) {
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}

fn children(e: &Expr) -> Vec<&IdedExpr> {
    match e {
        Expr::Call(c) => c.target.as_deref().into_iter().chain(&c.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => m.entries.iter().flat_map(|en| entry(&en.expr)).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(|en| entry(&en.expr)).collect(),
        Expr::Select(s) => vec![&s.operand],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

fn entry(e: &EntryExpr) -> Vec<&IdedExpr> {
    match e {
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

/// Make every comprehension of `root` charge the meter once per iteration. Call after
/// [`check_depth`] (it recurses).
pub(crate) fn instrument(root: &mut IdedExpr) {
    match &mut root.expr {
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                instrument(t);
            }
            c.args.iter_mut().for_each(instrument);
        }
        Expr::Comprehension(c) => {
            for part in [
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ] {
                instrument(part);
            }
            meter_loop(c);
        }
        Expr::List(l) => l.elements.iter_mut().for_each(instrument),
        Expr::Map(m) => m
            .entries
            .iter_mut()
            .for_each(|en| instrument_entry(&mut en.expr)),
        Expr::Struct(s) => s
            .entries
            .iter_mut()
            .for_each(|en| instrument_entry(&mut en.expr)),
        Expr::Select(s) => instrument(&mut s.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn instrument_entry(e: &mut EntryExpr) {
    match e {
        EntryExpr::MapEntry(m) => {
            instrument(&mut m.key);
            instrument(&mut m.value);
        }
        EntryExpr::StructField(f) => instrument(&mut f.value),
    }
}

/// Put the charge where the comprehension evaluates it once per iteration. A `map`/`filter`
/// step (`@result + [x]`, or `g ? @result + [x] : @result`) keeps its shape, which the
/// interpreter appends in place: `x` (map) or the guard `g` (filter) is wrapped. Any other loop
/// evaluates its condition every iteration: that is wrapped.
fn meter_loop(c: &mut ComprehensionExpr) {
    let accu = c.accu_var.clone();
    let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if *n == accu);
    let literal_cond = matches!(c.loop_cond.expr, Expr::Literal(_));
    if literal_cond && is_accu(&c.result) {
        let Expr::Call(call) = &mut c.loop_step.expr else {
            return wrap(&mut c.loop_cond);
        };
        if call.func_name == operators::CONDITIONAL
            && let [guard, step, otherwise] = call.args.as_mut_slice()
            && is_accu(otherwise)
            && appended(step, &accu).is_some()
        {
            return wrap(guard);
        }
        if let Some(item) = appended(&mut c.loop_step, &accu) {
            return wrap(item);
        }
    }
    wrap(&mut c.loop_cond);
}

/// The `x` of a step `@result + [x]`.
fn appended<'a>(step: &'a mut IdedExpr, accu: &str) -> Option<&'a mut IdedExpr> {
    let Expr::Call(call) = &mut step.expr else {
        return None;
    };
    if call.func_name != operators::ADD || call.target.is_some() {
        return None;
    }
    match call.args.as_mut_slice() {
        [lhs, rhs] if matches!(&lhs.expr, Expr::Ident(n) if n == accu) => match &mut rhs.expr {
            Expr::List(ListExpr { elements, .. }) if elements.len() == 1 => elements.first_mut(),
            _ => None,
        },
        _ => None,
    }
}

/// Replace `e` with `@weft_step(e)`.
fn wrap(e: &mut IdedExpr) {
    let inner = std::mem::take(e);
    *e = IdedExpr {
        id: inner.id,
        expr: Expr::Call(CallExpr {
            func_name: STEP_FN.to_owned(),
            target: None,
            args: vec![inner],
        }),
    };
}
