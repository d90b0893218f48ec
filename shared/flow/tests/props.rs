//! Property tests of what faces the outside in the workflow file: the parser and the field
//! locator take any text without panicking, and the expression compiler and evaluator take any
//! expression — generated from CEL's grammar, nested macros included — without panicking,
//! overflowing the stack or running past their budget.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use weft_flow::locate::{SourceMap, display_path};
use weft_flow::{Format, Limits, parse};

const EXAMPLE: &str = include_str!("../../../examples/order-alert.yaml");

/// Text that looks like a workflow file: the example with random edits.
fn edited_example() -> impl Strategy<Value = String> {
    let edit = (
        0..EXAMPLE.len(),
        0..4usize,
        "[ -~\\n\\t:{}\\[\\]\"'\\\\#&*!|>%@`-]{0,8}",
    );
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut text = EXAMPLE.to_string();
        for (at, kind, piece) in edits {
            let mut at = at.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let end = (at + piece.len()).min(text.len());
            let end = (end..=text.len())
                .find(|&e| text.is_char_boundary(e))
                .unwrap_or(text.len());
            match kind {
                0 => text.insert_str(at, &piece),
                1 => text.replace_range(at..end, ""),
                _ => text.replace_range(at..end, &piece),
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_parser_takes_any_text(text in "\\PC{0,200}", json in any::<bool>()) {
        let format = if json { Format::Json } else { Format::Yaml };
        let _ = parse(&text, format);
        let _ = SourceMap::parse(&text);
    }

    #[test]
    fn edited_files_parse_or_fail_at_a_line_of_the_file(text in edited_example()) {
        let lines = text.lines().count() + 1;
        match parse(&text, Format::Yaml) {
            Ok(wf) => prop_assert!(!wf.name.is_empty()),
            Err(e) => {
                prop_assert!(!e.message.is_empty());
                if let Some(line) = e.line {
                    prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}: {e}");
                }
            }
        }
    }

    #[test]
    fn the_locator_finds_every_key_it_reports(text in edited_example()) {
        if let Ok(map) = SourceMap::parse(&text) {
            let lines = text.lines().count() + 1;
            for dup in map.duplicates() {
                prop_assert!(dup.start.0 >= 1 && dup.start.0 <= lines, "{}", display_path(&dup.path));
                prop_assert!(map.position(&dup.path).is_some(), "{}", display_path(&dup.path));
            }
        }
    }
}

/// CEL expressions from the grammar: literals, the event's fields, operators, calls, lists,
/// maps, conditionals and the comprehension macros, nested.
fn cel() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (-5i64..100).prop_map(|i| i.to_string()),
        "[a-z]{0,6}".prop_map(|s| format!("'{s}'")),
        Just("event.data.l".to_string()),
        Just("event.data.s".to_string()),
        Just("event.data.m".to_string()),
        Just("x".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        let op = prop_oneof![
            Just("+"),
            Just("-"),
            Just("*"),
            Just("/"),
            Just("%"),
            Just("=="),
            Just("<"),
            Just("&&"),
            Just("||"),
            Just("in"),
        ];
        let mac = prop_oneof![
            Just("map"),
            Just("filter"),
            Just("all"),
            Just("exists"),
            Just("exists_one"),
        ];
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            (inner.clone(), mac, inner.clone()).prop_map(|(r, m, b)| format!("{r}.{m}(x, {b})")),
            inner.clone().prop_map(|a| format!("size({a})")),
            inner.clone().prop_map(|a| format!("!{a}")),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("{{{k}: {v}}}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("{a}[{b}]")),
        ]
    })
}

/// Nested loops over the event's 100 items, every macro in every position: up to 10^8
/// iterations without a budget.
fn loops() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        Just("event.data.l.all(x{i}, {inner})"),
        Just("event.data.l.exists(x{i}, !({inner}))"),
        Just("event.data.l.exists_one(x{i}, {inner})"),
        Just("size(event.data.l.map(x{i}, {inner})) >= 0"),
        Just("size(event.data.l.filter(x{i}, {inner})) >= 0"),
        Just("size(event.data.l.map(x{i}, x{i} >= 0, {inner})) >= 0"),
    ];
    prop::collection::vec(level, 1..=4).prop_map(|levels| {
        let mut expr = format!("x{} >= 0", levels.len());
        for (i, level) in levels.iter().enumerate().rev() {
            let i = i + 1;
            expr = level
                .replace("{i}", &i.to_string())
                .replace("{inner}", &expr);
        }
        expr
    })
}

fn context() -> Value {
    let l: Vec<i64> = (0..100).collect();
    json!({"event": {"data": {"l": l, "s": "x".repeat(10_000), "m": {"a": 1, "b": [1, 2]}}}})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_compiles_or_fails_cleanly(text in "\\PC{0,300}") {
        let _ = weft_flow::check(&text);
        let _ = weft_flow::eval_condition_within(&text, &json!({}), &Limits::FAST);
    }

    #[test]
    fn generated_expressions_evaluate_within_their_budget(expr in prop_oneof![cel(), loops()]) {
        let ctx = context();
        let started = Instant::now();
        let _ = weft_flow::eval_condition_within(&expr, &ctx, &Limits::FAST);
        let _ = weft_flow::render_within(&json!({"v": format!("${{{{ {expr} }}}}")}), &ctx, &Limits::FAST);
        // Two evaluations of at most 5 ms of loops each, plus work outside loops (bounded by
        // the expression's size); generous for a loaded debug build.
        prop_assert!(started.elapsed() < Duration::from_secs(3), "{expr} took {:?}", started.elapsed());
    }
}
