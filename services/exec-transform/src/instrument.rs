//! Rewrites a parsed jq program so that every loop passes through the meter.
//!
//! jq loops only by recursion (a defined filter calling itself, directly or through the
//! standard library's `repeat`, `recurse`, `while`, `until`, `..`), by native generators
//! (`range`) and by `reduce`/`foreach`. So:
//! - every definition's body `b` becomes `__weft_tick | b` (a tail call stays a tail call:
//!   the right side of a pipe is a tail position, so jaq's tail-call optimisation still works);
//! - every `reduce`/`foreach` update `u` becomes `u | __weft_tick` (which also weighs the
//!   accumulator, so `reduce range(40) as $i ("a"; . + .)` stops at the value-size limit);
//! - `range/3` is the native renamed `__weft_range`, behind a definition that ticks per value.
//!
//! Consumes and produces `jaq_core::load::parse` terms and definitions. Touches nothing.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Def, Pattern, Term};
use jaq_core::path::{Part, Path};

/// The native every step calls (see [`crate::meter::charge`]). Not a jq identifier a program
/// could define or call by accident: it starts with two underscores, which we also refuse in
/// programs (see [`crate::jq`]).
pub const TICK: &str = "__weft_tick";
/// jaq's native `range/3`, renamed.
pub const RAW_RANGE: &str = "__weft_range";
/// Definitions placed before the standard library.
pub const PRELUDE: &str =
    "def range($from; $to; $by): __weft_range($from; $to; $by) | __weft_tick;";

/// Definitions placed after the standard library: the formats jq has and jaq's libraries
/// leave to its command line (`@csv`, `@tsv`, `@json`), written as jq does them.
pub const POSTLUDE: &str = r#"
def @json: tojson;
def @csv:
  if type != "array" then error("cannot csv-format \(type), only an array")
  else map(
    if type == "string" then "\"" + (split("\"") | join("\"\"")) + "\""
    elif type == "number" or type == "boolean" then tostring
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a csv row") end
  ) | join(",") end;
def @tsv:
  if type != "array" then error("cannot tsv-format \(type), only an array")
  else map(
    if type == "string" then
      split("\\") | join("\\\\") | split("\t") | join("\\t")
      | split("\n") | join("\\n") | split("\r") | join("\\r")
    elif type == "number" or type == "boolean" then tostring
    elif . == null then ""
    else error("\(type) (\(tojson)) is not valid in a tsv row") end
  ) | join("\t") end;
"#;

fn tick<'s>() -> Term<&'s str> {
    Term::Call(TICK, Vec::new())
}

fn pipe<'s>(l: Term<&'s str>, r: Term<&'s str>) -> Term<&'s str> {
    Term::BinOp(Box::new(l), BinaryOp::Pipe(None), Box::new(r))
}

fn bx(t: Term<&str>) -> Box<Term<&str>> {
    Box::new(t)
}

/// Instrument one definition.
pub fn def(d: Def<&str>) -> Def<&str> {
    Def {
        name: d.name,
        args: d.args,
        body: pipe(tick(), term(d.body)),
    }
}

fn pattern(p: Pattern<&str>) -> Pattern<&str> {
    match p {
        Pattern::Var(v) => Pattern::Var(v),
        Pattern::Arr(ps) => Pattern::Arr(ps.into_iter().map(pattern).collect()),
        Pattern::Obj(kvs) => Pattern::Obj(
            kvs.into_iter()
                .map(|(k, v)| (term(k), pattern(v)))
                .collect(),
        ),
    }
}

fn op(o: BinaryOp<&str>) -> BinaryOp<&str> {
    match o {
        BinaryOp::Pipe(Some(p)) => BinaryOp::Pipe(Some(pattern(p))),
        other => other,
    }
}

/// Instrument a term (recursively).
pub fn term(t: Term<&str>) -> Term<&str> {
    match t {
        t @ (Term::Id | Term::Recurse | Term::Num(_) | Term::Var(_) | Term::Break(_)) => t,
        Term::Str(fmt, parts) => Term::Str(
            fmt,
            parts
                .into_iter()
                .map(|p| match p {
                    StrPart::Term(t) => StrPart::Term(term(t)),
                    other => other,
                })
                .collect(),
        ),
        Term::Arr(t) => Term::Arr(t.map(|t| bx(term(*t)))),
        Term::Obj(kvs) => Term::Obj(
            kvs.into_iter()
                .map(|(k, v)| (term(k), v.map(term)))
                .collect(),
        ),
        Term::Neg(t) => Term::Neg(bx(term(*t))),
        Term::BinOp(l, o, r) => Term::BinOp(bx(term(*l)), op(o), bx(term(*r))),
        Term::Label(l, t) => Term::Label(l, bx(term(*t))),
        Term::Fold(kind, xs, p, args) => {
            let args = args
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    if i == 1 {
                        pipe(term(a), tick())
                    } else {
                        term(a)
                    }
                })
                .collect();
            Term::Fold(kind, bx(term(*xs)), pattern(p), args)
        }
        Term::TryCatch(t, c) => Term::TryCatch(bx(term(*t)), c.map(|c| bx(term(*c)))),
        Term::IfThenElse(branches, els) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(c, t)| (term(c), term(t)))
                .collect(),
            els.map(|e| bx(term(*e))),
        ),
        Term::Def(defs, t) => Term::Def(defs.into_iter().map(def).collect(), bx(term(*t))),
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(term).collect()),
        Term::Path(t, path) => Term::Path(
            bx(term(*t)),
            Path(
                path.0
                    .into_iter()
                    .map(|(part, opt)| {
                        let part = match part {
                            Part::Index(i) => Part::Index(term(i)),
                            Part::Range(a, b) => Part::Range(a.map(term), b.map(term)),
                        };
                        (part, opt)
                    })
                    .collect(),
            ),
        ),
    }
}
