//! jq programs through the jaq crates: compile (with the errors' line and column), run under
//! the meter, and turn the values into JSON.
//!
//! Consumes a program's text and an input JSON value; produces the result (one value: itself;
//! several: an array of them; none: `null`) or a [`TransformError`]. Everything here runs on
//! the calling thread, which must have a large stack ([`STACK_SIZE`], see [`crate::run`]).
//! Touches nothing outside the evaluation: the standard library is there without `env`/`$ENV`
//! (the process environment holds secrets), `input`/`inputs`, modules or file access;
//! `debug`/`stderr` write to the attempt's log; `halt`/`halt_error` fail the attempt.

use jaq_core::box_iter::box_once;
use jaq_core::load::lex::Lexer;
use jaq_core::load::parse::{Def, Parser};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::Fun;
use jaq_core::{Compiler, Ctx, Error, Exn, Native, Vars, data::JustLut};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;

use crate::convert::{self, Sink};
use crate::error::{Code, TransformError};
use crate::instrument::{self, POSTLUDE, PRELUDE, RAW_RANGE, TICK};
use crate::meter;

type D = JustLut<Val>;

/// Longest program accepted, in bytes.
pub const MAX_PROGRAM_BYTES: usize = 64 << 10;
/// Stack of the thread that compiles and runs a program: parsing, compiling, running and
/// dropping nested values all recurse.
pub const STACK_SIZE: usize = 256 << 20;
/// How much of that stack an evaluation may use before it fails with `sandbox_limit`.
pub const MAX_STACK_USE: usize = 192 << 20;

/// Natives of the standard library left out: `env` reads the process environment.
const REMOVED: &[&str] = &["env"];

/// A compiled program.
pub struct Program {
    filter: jaq_core::Filter<D>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Program")
    }
}

fn step_error<'a>(e: meter::Exceeded) -> Exn<'a, Val> {
    Exn::from(Error::str(format_args!("weft limit: {e}")))
}

fn tick_native() -> Fun<D> {
    let native = Native::<D>::new(|cv| match meter::charge(&cv.1) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(step_error(e))),
    })
    .with_paths(|cv| match meter::charge(&cv.1.0) {
        Ok(()) => box_once(Ok(cv.1)),
        Err(e) => box_once(Err(step_error(e))),
    })
    .with_update(|cv, f| match meter::charge(&cv.1) {
        Ok(()) => f(cv.1),
        Err(e) => box_once(Err(step_error(e))),
    });
    (TICK, Box::new([]), native)
}

fn log_native(name: &'static str, args: Box<[jaq_core::Bind]>) -> Fun<D> {
    let native = Native::<D>::new(|cv| {
        let line = match &cv.1 {
            Val::TStr(s) => String::from_utf8_lossy(s).into_owned(),
            other => other.to_string(),
        };
        meter::log(line);
        Box::new(std::iter::empty())
    });
    (name, args, native)
}

/// The natives a program may call, by name.
pub fn natives() -> Vec<Fun<D>> {
    jaq_core::funs::<D>()
        .chain(jaq_std::funs::<D>())
        .chain(jaq_json::funs::<D>())
        .filter(|(name, _, _)| !REMOVED.contains(name))
        .map(|(name, args, native)| match name {
            "range" => (RAW_RANGE, args, native),
            "debug_empty" | "stderr_empty" => log_native(name, args),
            _ => (name, args, native),
        })
        .chain([tick_native()])
        .collect()
}

/// Line and column (1-based) of `part` inside `code`, when it is a slice of it.
fn position(code: &str, part: &str) -> Option<(usize, usize)> {
    let start = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    if start > code.len() {
        return None;
    }
    let before = &code[..start];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, column))
}

fn at(code: &str, part: &str, message: String) -> String {
    match position(code, part) {
        Some((l, c)) => format!("line {l}, column {c}: {message}"),
        None => message,
    }
}

fn bad(message: String) -> TransformError {
    TransformError::new(Code::BadInput, format!("jq program: {message}"))
}

/// Show at most 40 characters of the text an error points at.
fn near(found: &str) -> String {
    let s: String = found.chars().take(40).collect();
    if s.is_empty() {
        "the end of the program".to_owned()
    } else {
        format!("`{s}`")
    }
}

/// The standard library and our prelude, instrumented.
fn prelude<'s>() -> Vec<Def<&'s str>> {
    let before = jaq_core::load::parse(PRELUDE, |p| p.defs()).unwrap_or_default();
    let after = jaq_core::load::parse(POSTLUDE, |p| p.defs()).unwrap_or_default();
    before
        .into_iter()
        .chain(jaq_core::defs())
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .chain(after)
        .map(instrument::def)
        .collect()
}

/// Compile `code`: a `bad_input` error names the line and column of the program.
pub fn compile(code: &str) -> Result<Program, TransformError> {
    if code.len() > MAX_PROGRAM_BYTES {
        return Err(bad(format!(
            "{} bytes long; at most {MAX_PROGRAM_BYTES} are allowed",
            code.len()
        )));
    }
    if code.contains("__weft") {
        return Err(bad("names starting with `__weft` are reserved".to_owned()));
    }
    let tokens = Lexer::new(code).lex().map_err(|errs| {
        let msgs: Vec<String> = errs
            .iter()
            .map(|(expect, found)| {
                at(
                    code,
                    found,
                    format!("expected {} near {}", expect.as_str(), near(found)),
                )
            })
            .collect();
        bad(msgs.join("; "))
    })?;
    let term = Parser::new(&tokens).parse(|p| p.term()).map_err(|errs| {
        let msgs: Vec<String> = errs
            .iter()
            .map(|(expect, found)| {
                let found = found.map_or(&code[code.len()..], |t| t.as_str());
                at(
                    code,
                    found,
                    format!("expected {} near {}", expect.as_str(), near(found)),
                )
            })
            .collect();
        bad(msgs.join("; "))
    })?;
    let main = Def {
        name: "__weft_main",
        args: Vec::new(),
        body: instrument::term(term),
    };
    let mut defs = prelude();
    defs.push(main);
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: "__weft_main",
                path: (),
            },
        )
        .map_err(|errs| bad(format!("cannot load: {} error(s)", errs.len())))?;
    let filter = Compiler::default()
        .with_funs(natives())
        .compile(modules)
        .map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(_file, errs)| errs)
                .map(|(name, undefined)| {
                    at(
                        code,
                        name,
                        format!("undefined {} `{name}`", undefined.as_str()),
                    )
                })
                .collect();
            bad(msgs.join("; "))
        })?;
    Ok(Program { filter })
}

/// Limits of one run besides the meter's.
#[derive(Debug, Clone, Copy)]
pub struct OutputLimits {
    /// Most values.
    pub max_values: usize,
    /// Most bytes of compact JSON, all values together.
    pub max_bytes: usize,
}

fn over(e: meter::Exceeded) -> TransformError {
    let code = match e {
        meter::Exceeded::Cancelled => Code::Cancelled,
        _ => Code::SandboxLimit,
    };
    TransformError::new(code, format!("jq: {e}"))
}

fn runtime_error(e: Exn<'_, Val>) -> TransformError {
    match e.get_err() {
        Ok(err) => TransformError::new(Code::Transform, format!("jq: {err}")),
        Err(exn) => match exn.get_halt() {
            Ok(code) => TransformError::new(Code::Transform, format!("jq: halt({code})")),
            Err(_) => TransformError::new(Code::Transform, "jq: the program failed"),
        },
    }
}

/// Run `program` on `input`. Call inside [`meter::metered`]; the meter's verdict, when it ran
/// out, takes precedence over whatever this returns (see [`crate::run`]).
pub fn run(
    program: &Program,
    input: &Value,
    limits: OutputLimits,
) -> Result<Value, TransformError> {
    let input = Val::deserialize(input)
        .map_err(|e| TransformError::new(Code::BadInput, format!("input: {e}")))?;
    let ctx = Ctx::<D>::new(&program.filter.lut, Vars::new([]));
    let mut sink = Sink::new(limits.max_bytes);
    let mut values = Vec::new();
    for out in program.filter.id.run((ctx, input)) {
        meter::check_between().map_err(over)?;
        let v = out.map_err(runtime_error)?;
        if values.len() >= limits.max_values {
            return Err(TransformError::new(
                Code::OutputTooLarge,
                format!(
                    "jq: the program yielded more than {} values",
                    limits.max_values
                ),
            ));
        }
        values.push(convert::to_json(&v, &mut sink)?);
    }
    Ok(match values.len() {
        0 => Value::Null,
        1 => values.pop().unwrap_or(Value::Null),
        _ => Value::Array(values),
    })
}
