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
    send_sync::<Program>();
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
