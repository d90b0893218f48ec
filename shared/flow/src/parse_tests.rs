//! Tests of parsing through [`parse`]: the file format and deserialization errors.

use std::time::Duration;

use super::*;
use crate::{ManualTrigger, MatchPattern, OneOrMany, StringMatch};

/// The example of DESIGN.md, "The workflow file".
pub(crate) const EXAMPLE: &str = r#"name: order-alert                 # unique; [a-z0-9-]
description: Tell the team about large orders
on:
  webhook:
    path: orders                  # POST /hooks/orders
if: ${{ event.data.body.total > 100 }}    # optional filter on the triggering event
steps:
  enrich:
    uses: http
    with:
      method: POST
      url: http://127.0.0.1:9000/enrich
      json: ${{ event.data.body }}
    retry: { attempts: 3, backoff: 500ms, factor: 2 }
    timeout: 10s
  notify:
    needs: [enrich]
    if: ${{ steps.enrich.output.body.vip }}
    uses: http
    with:
      method: POST
      url: http://127.0.0.1:9000/notify
      json: { order: "${{ event.data.body.id }}", score: "${{ steps.enrich.output.body.score }}" }
"#;

fn err(src: &str) -> ValidationError {
    match parse(src, Format::Yaml) {
        Ok(wf) => panic!("expected an error, parsed {wf:?}"),
        Err(e) => e,
    }
}

#[test]
fn design_example_parses() -> Result<(), ValidationError> {
    let wf = parse(EXAMPLE, Format::Yaml)?;
    assert_eq!(wf.name, "order-alert");
    assert_eq!(wf.on.webhook.as_slice()[0].path, "orders");
    assert_eq!(
        wf.condition.as_deref(),
        Some("${{ event.data.body.total > 100 }}")
    );
    let enrich = &wf.steps["enrich"];
    assert_eq!(enrich.retry.attempts, 3);
    assert_eq!(enrich.retry.backoff, Duration::from_millis(500));
    assert_eq!(enrich.timeout, Some(Duration::from_secs(10)));
    assert_eq!(wf.steps["notify"].needs, vec!["enrich"]);
    assert_eq!(
        wf.steps["notify"].with["json"]["order"],
        "${{ event.data.body.id }}"
    );
    Ok(())
}

#[test]
fn json_form_parses_to_the_same() -> Result<(), ValidationError> {
    let wf = parse(EXAMPLE, Format::Yaml)?;
    let json = serde_json::to_string_pretty(&wf).map_err(|e| ValidationError {
        line: None,
        column: None,
        field: None,
        message: e.to_string(),
    })?;
    assert_eq!(parse(&json, Format::Json)?, wf);
    // JSON is YAML too.
    assert_eq!(parse(&json, Format::Yaml)?, wf);
    Ok(())
}

#[test]
fn triggers_shapes() -> Result<(), ValidationError> {
    let src = "name: a\non:\n  manual:\n  webhook: [{path: x}, {path: y/z}]\n  event:\n    type: {prefix: com.github.}\n    source: gh\nsteps:\n  a: {uses: http, needs: []}\n";
    let wf = parse(src, Format::Yaml)?;
    assert_eq!(wf.on.manual, Some(ManualTrigger::default()));
    assert_eq!(wf.on.webhook.as_slice().len(), 2);
    let OneOrMany::One(ev) = &wf.on.event else {
        panic!("one event trigger expected");
    };
    let prefix = StringMatch::Pattern(MatchPattern::Prefix("com.github.".into()));
    assert_eq!(ev.ty, Some(prefix));
    assert_eq!(ev.source, Some(StringMatch::Exact("gh".into())));
    // No trigger at all is allowed (runs through the API only).
    let wf = parse("name: a\non: {}\nsteps:\n  a: {uses: http}\n", Format::Yaml)?;
    assert_eq!(wf.on.manual, None);
    Ok(())
}

#[test]
fn invalid_yaml_has_a_line() {
    let e = err("name: a\non: {}\nsteps:\n  a:\n    uses: [x\n  b: c\n");
    assert!(e.line.is_some_and(|l| l >= 5), "{e}");
}

#[test]
fn unknown_fields_have_line_and_field() {
    let e = err("name: a\non: {}\nbogus: 1\nsteps:\n  a:\n    uses: http\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("bogus")),
        "{e}"
    );
    assert!(e.message.contains("unknown field `bogus`"), "{e}");

    let e = err("name: a\non: {}\nsteps:\n  a:\n    uses: http\n    nedds: [b]\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("steps.a.nedds"))
    );

    let e = err("name: a\non:\n  webhook:\n    pth: x\nsteps:\n  a:\n    uses: http\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("on.webhook.pth"))
    );
    assert!(e.message.contains("expected one of `path`"), "{e}");

    let e = err(
        "name: a\non:\n  webhook:\n    - path: x\n    - pth: y\nsteps:\n  a:\n    uses: http\n",
    );
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("on.webhook[1].pth"))
    );

    let e = err("name: a\non:\n  event:\n    type: {prefx: a}\nsteps:\n  a: {uses: http}\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("on.event.type.prefx"))
    );
}

#[test]
fn wrong_shapes_say_what_is_expected() {
    let e = err("name: a\non:\n  webhook: orders\nsteps:\n  a:\n    uses: http\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("on.webhook")));
    assert!(
        e.message
            .contains("an object {path, auth, respond, wait_timeout} (or a list of them)"),
        "{e}"
    );

    let e = err("name: a\non: {}\nsteps:\n  a:\n    uses: http\n    timeout: forever\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("steps.a.timeout"))
    );

    let e = err("name: a\non: {}\nsteps:\n  a:\n    with: {}\n");
    assert_eq!(e.field.as_deref(), Some("steps.a"));
    assert!(e.message.contains("a step needs `uses`"), "{e}");
}

#[test]
fn json_errors_have_line_and_field() {
    let src =
        "{\n  \"name\": \"a\",\n  \"on\": {\"webhook\": {\"pth\": \"x\"}},\n  \"steps\": {}\n}";
    let e = parse(src, Format::Json).err();
    let e = e.as_ref().map(|e| (e.line, e.field.as_deref()));
    assert_eq!(e, Some((Some(3), Some("on.webhook.pth"))));

    let src = "{\"name\": \"a\", \"on\": {},\n \"steps\": {\"a\": {\"uses\": 1}}}";
    let e = parse(src, Format::Json).err();
    let e = e.as_ref().map(|e| (e.line, e.field.as_deref()));
    assert_eq!(e, Some((Some(2), Some("steps.a.uses"))));
}

#[test]
fn duplicate_keys_are_errors() {
    let e = err(
        "name: a\non: {}\nsteps:\n  a:\n    uses: http\n  b:\n    uses: y\n  a:\n    uses: z\n",
    );
    assert_eq!((e.line, e.field.as_deref()), (Some(8), Some("steps.a")));
    assert!(e.message.contains("duplicate step id `a`"), "{e}");
    assert!(e.message.contains("first at line 4"), "{e}");

    let e = err("name: a\nname: b\non: {}\nsteps:\n  a: {uses: http}\n");
    assert_eq!(e.line, Some(2));
}

#[test]
fn empty_source() {
    assert!(err("  \n").message.contains("empty"));
}

#[test]
fn tab_indented_json_and_crlf_yaml_keep_lines() {
    let src = "{\n\t\"name\": \"a\",\n\t\"on\": {},\n\t\"steps\": {\n\t\t\"a\": {\"uses\": \"x\", \"needs\": \"b\"}\n\t}\n}\n";
    let e = parse(src, Format::Json).err();
    assert_eq!(e.and_then(|e| e.line), Some(5));
    let src = "name: a\r\non: {}\r\nsteps:\r\n  a:\r\n    uses: http\r\n    needs: b\r\n";
    let e = parse(src, Format::Yaml).err();
    assert_eq!(e.and_then(|e| e.line), Some(6));
}

#[test]
fn text_holding_nul_is_refused_with_line_and_field() {
    let cases = [
        (
            Format::Yaml,
            "name: x\ndescription: \"a\\0b\"\non: { manual: {} }\nsteps:\n  a: { uses: http, with: { url: \"http://127.0.0.1:1/\" } }\n",
            2,
            "description",
        ),
        (
            Format::Yaml,
            "name: x\non: { manual: {} }\nsteps:\n  a:\n    uses: http\n    with: { url: \"http://127.0.0.1:1/\", h: [\"ok\", \"\\x00\"] }\n",
            6,
            "steps.a.with.h[1]",
        ),
        (
            Format::Yaml,
            "name: x\non: { manual: {} }\nsteps:\n  a: { uses: http, with: { \"k\\U00000000\": 1, url: \"http://127.0.0.1:1/\" } }\n",
            4,
            "steps.a.with.k\u{0}",
        ),
        (
            Format::Json,
            "{\"name\": \"x\",\n\"description\": \"\\u0000\",\n\"on\": {\"manual\": {}}, \"steps\": {\"a\": {\"uses\": \"http\", \"with\": {\"url\": \"http://127.0.0.1:1/\"}}}}",
            2,
            "description",
        ),
    ];
    for (format, source, line, field) in cases {
        let e = parse(source, format).expect_err(source);
        assert!(e.message.contains("U+0000"), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
    }
    // Backslashes that write no NUL are fine.
    let fine = "name: x\ndescription: \"a\\\\0 and \\t\"\non: { manual: {} }\nsteps:\n  a: { uses: http, with: { url: \"http://127.0.0.1:1/\" } }\n";
    assert!(parse(fine, Format::Yaml).is_ok());
}
