//! Tests of `${{ … }}` evaluation.

use serde_json::{Value, json};

use super::*;

fn ctx() -> Value {
    json!({
        "event": {"data": {"body": {"total": 150, "id": "o-1", "price": 9.5, "items": [1, 2]}}},
        "steps": {"a": {"status": "succeeded", "output": {"body": {"vip": true}}}},
        "inputs": {},
    })
}

#[test]
fn conditions() -> Result<(), ExprError> {
    assert!(eval_condition(
        "${{ event.data.body.total > 100 }}",
        &ctx()
    )?);
    assert!(!eval_condition("event.data.body.total > 200", &ctx())?);
    assert!(eval_condition("steps.a.status == \"succeeded\"", &ctx())?);
    assert!(eval_condition("has(steps.a.output.body.vip)", &ctx())?);
    assert!(!eval_condition("has(steps.a.output.body.score)", &ctx())?);
    assert!(eval_condition("size(event.data.body.items) == 2", &ctx())?);
    Ok(())
}

#[test]
fn condition_must_be_bool() {
    let err = eval_condition("event.data.body.total", &ctx());
    assert!(matches!(err, Err(ExprError::NotBool { got, .. }) if got == "150"));
}

#[test]
fn missing_variable_or_key_is_an_error() {
    assert!(matches!(
        eval_condition("nope == 1", &ctx()),
        Err(ExprError::Eval { .. })
    ));
    assert!(matches!(
        render(&json!("${{ event.data.body.nope }}"), &ctx()),
        Err(ExprError::Eval { .. })
    ));
}

#[test]
fn render_keeps_types() -> Result<(), ExprError> {
    let c = ctx();
    assert_eq!(
        render(&json!("${{ event.data.body.total }}"), &c)?,
        json!(150)
    );
    assert_eq!(
        render(&json!(" ${{ event.data.body.price }} "), &c)?,
        json!(9.5)
    );
    assert_eq!(
        render(&json!("${{ event.data.body }}"), &c)?,
        c["event"]["data"]["body"]
    );
    assert_eq!(
        render(&json!("${{ [1, 'a', null] }}"), &c)?,
        json!([1, "a", null])
    );
    assert_eq!(
        render(&json!("${{ {'a': {'b': 1}} }}"), &c)?,
        json!({"a": {"b": 1}})
    );
    let t = json!({"${{ x }}": [true, 1, "plain"], "n": null});
    assert_eq!(render(&t, &c)?, t);
    Ok(())
}

#[test]
fn render_interpolates() -> Result<(), ExprError> {
    let c = ctx();
    let t = json!({"msg": "order ${{ event.data.body.id }} of ${{ event.data.body.total }}",
                   "list": "items: ${{ event.data.body.items }}"});
    assert_eq!(
        render(&t, &c)?,
        json!({"msg": "order o-1 of 150", "list": "items: [1,2]"})
    );
    assert_eq!(
        render(&json!("a '}}' ${{ '}}' }}"), &c)?,
        json!("a '}}' }}")
    );
    Ok(())
}

#[test]
fn check_and_expressions_in() -> Result<(), ExprError> {
    check("${{ a.b > 1 }}")?;
    assert!(matches!(check("a >"), Err(ExprError::Syntax { .. })));
    assert!(matches!(check("${{ a"), Err(ExprError::Syntax { .. })));
    let v = json!({"x": ["${{ a }} and ${{ b.c }}", 3], "y": "plain"});
    assert_eq!(expressions_in(&v)?, vec!["a", "b.c"]);
    assert!(expressions_in(&json!("${{ a")).is_err());
    Ok(())
}

#[test]
fn programs_are_cached_and_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<IdedExpr>();
    for _ in 0..3 {
        assert!(check("1 + 1 == 2").is_ok());
    }
}

#[test]
fn secret_references_are_kept_for_the_executor() {
    let ctx = json!({"event": {"id": "e1"}});
    let t = json!({"auth": "${{ secrets.API_TOKEN }}", "h": "Bearer ${{secrets.API_TOKEN}} for ${{ event.id }}"});
    let out = render(&t, &ctx).expect("rendered");
    assert_eq!(out["auth"], "${{ secrets.API_TOKEN }}");
    assert_eq!(out["h"], "Bearer ${{ secrets.API_TOKEN }} for e1");
}

#[test]
fn mentions_of_secrets() {
    assert!(mentions_secrets("secrets.A"));
    assert!(mentions_secrets("'x' + secrets['A']"));
    assert!(!mentions_secrets("event.data.secrets_count"));
    assert!(!mentions_secrets("event.secrets"));
    assert_eq!(secret_ref(" secrets.A_1 "), Some("A_1"));
    assert_eq!(secret_ref("secrets.A + 'x'"), None);
}

// --- Budgets (see crate::budget) -------------------------------------------------------------

fn lists() -> Value {
    let hundred: Vec<i64> = (0..100).collect();
    let ten: Vec<i64> = (0..10).collect();
    json!({"event": {"data": {"l": hundred, "t": ten, "s": "x".repeat(1 << 20)}}})
}

fn is_limit<T: std::fmt::Debug>(r: &Result<T, ExprError>) -> bool {
    matches!(r, Err(e) if e.code() == crate::ExprErrorCode::ExpressionLimit)
}

#[test]
fn a_long_chain_is_refused_at_compile_without_overflowing_the_stack() {
    // The example: 20,000 terms overflowed the evaluating thread's stack.
    let long = vec!["1"; 20_000].join("+");
    assert!(is_limit(&check(&long)), "{:?}", check(&long));
    // Short enough, but deeper than the evaluator may recurse.
    for n in [33, 60, 500] {
        let deep = vec!["1"; n].join(" + ");
        assert!(is_limit(&check(&deep)), "{n}: {:?}", check(&deep));
        let calls = format!("{}1{}", "size([".repeat(n), "])".repeat(n));
        assert!(is_limit(&check(&calls)), "{n}: {:?}", check(&calls));
        let lists = format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(is_limit(&check(&lists)), "{n}: {:?}", check(&lists));
    }
    // As deep as allowed still evaluates, on this (2 MiB) test thread.
    let fine = vec!["1"; 32].join(" + ");
    assert_eq!(eval_value(&fine, &json!({})), Ok(json!(32)));
    let lists = format!("{}1{}", "[".repeat(31), "]".repeat(31));
    assert!(eval_value(&lists, &json!({})).is_ok());
}

#[test]
fn nested_loops_run_out_of_iterations_quickly() {
    let started = std::time::Instant::now();
    let l = "event.data.l";
    let four = format!("{l}.all(a, {l}.all(b, {l}.all(c, {l}.all(d, a + b + c + d >= 0))))");
    assert!(is_limit(&eval_condition(&four, &lists())));
    let t = "event.data.t";
    let mut eight = "x1".to_string();
    for i in (1..=8).rev() {
        eight = format!("{t}.map(x{i}, {eight})");
    }
    assert!(is_limit(&eval_value(&eight, &lists())));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn every_macro_is_metered() {
    let tight = Limits {
        iterations: 50,
        ..Limits::FULL
    };
    let l = "event.data.l"; // 100 items
    for expr in [
        format!("{l}.all(x, x >= 0)"),
        format!("!{l}.exists(x, x < 0)"),
        format!("{l}.exists_one(x, x == 1)"),
        format!("size({l}.map(x, x + 1)) > 0"),
        format!("size({l}.filter(x, x > 0)) > 0"),
        format!("size({l}.map(x, x > 0, x)) > 0"),
    ] {
        assert!(
            is_limit(&eval_condition_within(&expr, &lists(), &tight)),
            "{expr} was not metered"
        );
        assert_eq!(eval_condition(&expr, &lists()), Ok(true), "{expr}");
    }
}

#[test]
fn an_absorbed_budget_error_still_fails_the_evaluation() {
    let l = "event.data.l";
    let expr = format!("{l}.all(a, {l}.all(b, {l}.all(c, true))) || true");
    assert!(is_limit(&eval_condition(&expr, &lists())));
}

#[test]
fn loops_that_build_large_values_run_out_of_memory_budget() {
    let expr = "size(event.data.l.map(x, event.data.s + event.data.s)) > 0";
    let r = eval_condition(expr, &lists());
    assert!(
        matches!(&r, Err(ExprError::Limit { message, .. }) if message.contains("KiB")),
        "{r:?}"
    );
}

#[test]
fn slow_loops_run_out_of_time() {
    let quick = Limits {
        time: std::time::Duration::from_millis(20),
        ..Limits::FULL
    };
    let expr = "event.data.l.all(x, size(event.data.s + event.data.s + event.data.s) > 0)";
    let r = eval_condition_within(expr, &lists(), &quick);
    assert!(
        matches!(&r, Err(ExprError::Limit { message, .. }) if message.contains("ms")),
        "{r:?}"
    );
}

#[test]
fn a_template_shares_one_budget() {
    let tight = Limits {
        iterations: 150,
        ..Limits::FULL
    };
    let one = "${{ size(event.data.l.map(x, x)) }}";
    assert_eq!(render_within(&json!(one), &lists(), &tight), Ok(json!(100)));
    let two = json!({"a": one, "b": one});
    assert!(is_limit(&render_within(&two, &lists(), &tight)));
}
