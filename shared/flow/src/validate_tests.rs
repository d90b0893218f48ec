//! Tests of the semantic checks, through [`crate::parse`] so that lines are known.

use super::*;
use crate::parse::{Format, parse};

fn err(src: &str) -> ValidationError {
    match parse(src, Format::Yaml) {
        Ok(wf) => panic!("expected an error, parsed {wf:?}"),
        Err(e) => e,
    }
}

fn with_steps(steps: &str) -> String {
    format!("name: a\non: {{}}\nsteps:\n{steps}")
}

#[test]
fn names_and_ids() {
    for bad in ["Order", "-a", "a-", "a_b", &"a".repeat(64)] {
        let e = err(&format!(
            "name: {bad}\non: {{}}\nsteps:\n  a: {{uses: http}}\n"
        ));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(1), Some("name")),
            "{bad}"
        );
    }
    let e = err(&with_steps("  a: {uses: http}\n  9b: {uses: http}\n"));
    assert_eq!((e.line, e.field.as_deref()), (Some(5), Some("steps.9b")));
    let e = err("name: a\non: {}\nsteps: {}\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("steps")));
    let e = err(&with_steps("  a:\n    uses: ' '\n"));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("steps.a.uses"))
    );
}

#[test]
fn unknown_needs_names_field_and_line() {
    let e = err(&with_steps(
        "  a:\n    uses: http\n  b:\n    uses: http\n    needs: [a, c]\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(8), Some("steps.b.needs[1]"))
    );
    assert!(e.message.contains("unknown step `c`"), "{e}");
    let e = err(&with_steps("  a:\n    uses: http\n    needs: zz\n"));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("steps.a.needs"))
    );
    let e = err(&with_steps("  a:\n    uses: http\n    needs: a\n"));
    assert!(e.message.contains("cannot need itself"), "{e}");
}

#[test]
fn cycle_names_the_steps_and_a_line() {
    let e = err(&with_steps(
        "  x: {uses: http}\n  a:\n    uses: http\n    needs: [x, c]\n  b:\n    uses: http\n    needs: a\n  c:\n    uses: http\n    needs: b\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(7), Some("steps.a.needs"))
    );
    assert!(e.message.contains("a → c → b → a"), "{e}");
}

#[test]
fn retry_bounds() {
    let e = err(&with_steps(
        "  a:\n    uses: http\n    retry: {attempts: 0}\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("steps.a.retry.attempts"))
    );
    assert!(
        err(&with_steps(
            "  a:\n    uses: http\n    retry: {attempts: 101}\n"
        ))
        .line
            == Some(6)
    );
    let e = err(&with_steps(
        "  a:\n    uses: http\n    retry:\n      factor: 0.5\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(7), Some("steps.a.retry.factor"))
    );
}

#[test]
fn webhook_paths() {
    let hook =
        |p: &str| format!("name: a\non:\n  webhook:\n    path: {p}\nsteps:\n  a: {{uses: http}}\n");
    let long = "a".repeat(257);
    for bad in [
        "''",
        "/orders",
        "a b",
        "a?b",
        "../../api/v1/secrets",
        "..",
        ".",
        "a/../b",
        "a/./b",
        "a/..",
        "a//b",
        "a/",
        "a%2F..",
        "a\\\\b",
        "'a\tb'",
        "é",
        long.as_str(),
    ] {
        let e = err(&hook(bad));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(4), Some("on.webhook.path")),
            "{bad}"
        );
    }
    let longest = "a".repeat(256);
    for good in [
        "gh/push.v1~x_y-z",
        "a..b",
        ".well-known/x",
        "...",
        "a/.b/c.",
        longest.as_str(),
    ] {
        assert!(parse(&hook(good), Format::Yaml).is_ok(), "{good}");
    }
    let e =
        err("name: a\non:\n  webhook:\n    - path: x\n    - path: x\nsteps:\n  a: {uses: http}\n");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("on.webhook[1].path"))
    );
}

#[test]
fn bad_expressions_name_the_field() {
    let e = err(&with_steps(
        "  notify:\n    uses: http\n    with:\n      json:\n        ok: ${{ a.b }}\n        order: \"id ${{ event.data.( }}\"\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(9), Some("steps.notify.with.json.order"))
    );
    let e = err(&with_steps(
        "  a:\n    uses: http\n    with: {list: [1, '${{ 1 + }}']}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.with.list[1]"));
    let e = err(&with_steps("  a:\n    uses: http\n    if: ${{ a ==  }}\n"));
    assert_eq!((e.line, e.field.as_deref()), (Some(6), Some("steps.a.if")));
    let e = err("name: a\non: {}\nif: x > \nsteps:\n  a: {uses: http}\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("if")));
    let e = err("name: a\non: {}\nif: a ${{ b }}\nsteps:\n  a: {uses: http}\n");
    assert!(e.message.contains("one expression"), "{e}");
    let e = err("name: a\non: {}\noutput: {x: '${{ ) }}'}\nsteps:\n  a: {uses: http}\n");
    assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("output.x")));
    let e = err(&with_steps(
        "  a:\n    uses: http\n    with: {u: '${{ a'}\n",
    ));
    assert!(e.message.contains("closing"), "{e}");
}

#[test]
fn without_source_there_is_no_line() -> Result<(), ValidationError> {
    let mut wf = parse("name: a\non: {}\nsteps:\n  a: {uses: http}\n", Format::Yaml)?;
    validate(&wf, None)?;
    wf.name = "Bad".into();
    let e = validate(&wf, None).err();
    assert_eq!(
        e.map(|e| (e.line, e.field)),
        Some((None, Some("name".into())))
    );
    Ok(())
}

#[test]
fn a_malformed_agent_name_is_rejected_with_its_line() {
    let e = err(&with_steps("  a:\n    uses: Http!\n"));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("steps.a.uses"))
    );
    assert!(e.message.contains("invalid agent name `Http!`"), "{e}");
}

#[test]
fn secrets_only_as_whole_references() {
    let e = err(&with_steps(
        "  a:\n    uses: http\n    with:\n      h: \"${{ 'Bearer ' + secrets.T }}\"\n",
    ));
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(7), Some("steps.a.with.h"))
    );
    assert!(
        e.message.contains("secrets may only be used"),
        "{}",
        e.message
    );
    let e = err(&with_steps(
        "  a:\n    uses: http\n    if: secrets.T == 'x'\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.if"));
    let ok = with_steps("  a:\n    uses: http\n    with:\n      h: \"Bearer ${{ secrets.T }}\"\n");
    assert!(parse(&ok, Format::Yaml).is_ok());
}

#[test]
fn service_triggers_are_checked_with_their_field() {
    let src = "name: a\non:\n  email:\n    host: h\n    username: u\n    password: ${{ secrets.P }}\n    after: move\nsteps:\n  a: {uses: http}\n";
    let e = err(src);
    assert_eq!(e.field.as_deref(), Some("on.email.move_to"));
    let src = "name: a\non:\n  cdc:\n    - dsn: \"${{ event.id }}\"\n      tables: [public.t]\nsteps:\n  a: {uses: http}\n";
    let e = err(src);
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(4), Some("on.cdc[0].dsn"))
    );
    let src = "name: a\non:\n  cdc:\n    dsn: ${{ secrets.DSN }}\n    tables: [orders]\nsteps:\n  a: {uses: http}\n";
    let e = err(src);
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(5), Some("on.cdc.tables"))
    );
}

/// A workflow with one webhook trigger whose lines after `path` are `extra` (indented 4).
fn hook_with(extra: &str) -> String {
    format!("name: a\non:\n  webhook:\n    path: x\n{extra}steps:\n  a: {{uses: http}}\n")
}

#[test]
fn webhook_auth_problems_name_the_field() {
    let cases = [
        (
            "    auth: {github: {secret: ''}}\n",
            5,
            "on.webhook.auth.github.secret",
        ),
        (
            "    auth:\n      hmac: {secret: k}\n",
            6,
            "on.webhook.auth.hmac",
        ),
        (
            "    auth:\n      hmac:\n        secret: k\n        header: x-sig\n        algorithm: md5\n",
            9,
            "on.webhook.auth.hmac.algorithm",
        ),
        (
            "    auth:\n      hmac:\n        secret: k\n        header: 'x sig'\n",
            8,
            "on.webhook.auth.hmac.header",
        ),
        (
            "    auth: {token: {header: x-token, value: ' '}}\n",
            5,
            "on.webhook.auth.token.value",
        ),
        (
            "    auth:\n      standard: {secret: 'whsec_!!'}\n",
            6,
            "on.webhook.auth.standard.secret",
        ),
        (
            "    auth:\n      stripe: {secret: s, tolerance: 0s}\n",
            6,
            "on.webhook.auth.stripe.tolerance",
        ),
        (
            "    auth:\n      github: {secret: '${{ secrets.A }}-x'}\n",
            6,
            "on.webhook.auth.github.secret",
        ),
        ("    auth: {gitlab: {token: t}}\n", 5, "on.webhook.auth"),
        (
            "    auth:\n      github: {secret: a}\n      token: {header: x, value: y}\n",
            6,
            "on.webhook.auth",
        ),
        (
            "    respond: wait\n    wait_timeout: 10m\n",
            6,
            "on.webhook.wait_timeout",
        ),
        ("    respond: later\n", 5, "on.webhook.respond"),
    ];
    for (extra, line, field) in cases {
        let e = err(&hook_with(extra));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(line), Some(field)),
            "{extra}: {e} / {}",
            e.message
        );
    }
    let e = err(&hook_with("    auth:\n      hmac: {secret: k}\n"));
    assert!(e.message.contains("header"), "{e}");
}

#[test]
fn valid_webhook_auth_and_respond() -> Result<(), ValidationError> {
    let wf = parse(
        &hook_with(
            "    auth:\n      hmac: {secret: '${{ secrets.KEY }}', header: X-Sig, algorithm: sha512, encoding: base64, prefix: 'v1='}\n    respond: wait\n",
        ),
        Format::Yaml,
    )?;
    let hook = &wf.on.webhook.as_slice()[0];
    assert_eq!(hook.respond, crate::Respond::Wait);
    assert_eq!(hook.wait_timeout, std::time::Duration::from_secs(10));
    let Some(crate::WebhookAuth::Hmac(h)) = &hook.auth else {
        panic!("hmac auth expected: {hook:?}");
    };
    assert_eq!(h.algorithm, crate::webhook_auth::HmacAlgorithm::Sha512);
    assert_eq!(h.secret.expose(), "${{ secrets.KEY }}");
    for ok in [
        "    auth: {github: {secret: s}}\n",
        "    auth: {stripe: {secret: whsec_x, tolerance: 1m}}\n",
        "    auth: {standard: {secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'}}\n",
        "    auth: {token: {header: X-Gitlab-Token, value: t}}\n",
    ] {
        parse(&hook_with(ok), Format::Yaml)?;
    }
    Ok(())
}

#[test]
fn workflow_trigger_problems_name_the_field() {
    let wf = |on: &str| format!("name: down\non:\n  workflow:\n{on}steps:\n  a: {{uses: http}}\n");
    let cases = [
        ("    name: Up\n", 4, "on.workflow.name"),
        ("    name: down\n", 4, "on.workflow.name"),
        ("    name: up\n    status: done\n", 5, "on.workflow.status"),
        ("    name: up\n    status: []\n", 5, "on.workflow.status"),
        (
            "    - name: up\n    - name: x\n      statuz: failed\n",
            6,
            "on.workflow[1].statuz",
        ),
    ];
    for (on, line, field) in cases {
        let e = err(&wf(on));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (Some(line), Some(field)),
            "{on}: {e}"
        );
    }
    assert!(
        parse(
            &wf("    name: up\n    status: [failed, timed_out]\n"),
            Format::Yaml
        )
        .is_ok()
    );
}

#[test]
fn a_step_is_exactly_one_kind_with_the_fields_that_go_with_it() {
    let cases = [
        ("  a: {needs: []}\n", "steps.a", "a step needs `uses`"),
        (
            "  a: {uses: http, sleep: 1s}\n",
            "steps.a.sleep",
            "cannot go together",
        ),
        (
            "  a: {sleep: 1s, with: {x: 1}}\n",
            "steps.a.with",
            "`with` is for agent steps",
        ),
        (
            "  a: {uses: http, cases: {x: []}}\n",
            "steps.a.cases",
            "goes with `switch`",
        ),
        (
            "  a: {switch: \"${{ event.data }}\"}\n",
            "steps.a.switch",
            "needs `cases`",
        ),
        (
            "  a: {switch: \"${{ event.data }}\", cases: {x: [nope]}}\n",
            "steps.a.cases.x[0]",
            "unknown step `nope`",
        ),
        (
            "  a: {switch: \"${{ event.data }}\", default: [a]}\n",
            "steps.a.default[0]",
            "cannot branch to itself",
        ),
        ("  a: {until: \"${{ event. }}\"}\n", "steps.a.until", ""),
        (
            "  a: {switch: \"${{ 1 }}\", cases: {default: [b]}}\n  b: {uses: http}\n",
            "steps.a.cases.default",
            "not a case value",
        ),
    ];
    for (steps, field, message) in cases {
        let e = err(&with_steps(steps));
        assert_eq!(e.field.as_deref(), Some(field), "{steps}: {e}");
        assert!(e.message.contains(message), "{steps}: {e}");
    }
}

#[test]
fn branch_steps_need_their_switch_and_cycles_through_it_are_found() {
    let wf = parse(
        &with_steps(
            "  s: {switch: \"${{ event.data.kind }}\", cases: {a: [x]}, default: [y]}\n  x: {uses: http}\n  y: {sleep: 1s}\n",
        ),
        Format::Yaml,
    )
    .expect("valid");
    assert_eq!(wf.steps["x"].needs, ["s"]);
    assert_eq!(wf.steps["y"].needs, ["s"]);
    let e = err(&with_steps(
        "  s: {switch: \"${{ 1 }}\", cases: {a: [x]}, needs: x}\n  x: {uses: http}\n",
    ));
    assert!(e.message.contains("cycle"), "{e}");
}

#[test]
fn on_failure_steps_have_ids_of_their_own_and_need_each_other() {
    let e = err("name: a\non: {}\nsteps:\n  a: {uses: http}\non_failure:\n  a: {uses: http}\n");
    assert_eq!(e.field.as_deref(), Some("on_failure.a"), "{e}");
    assert!(e.message.contains("already a step id"), "{e}");
    let e = err(
        "name: a\non: {}\nsteps:\n  a: {uses: http}\non_failure:\n  n: {uses: http, needs: a}\n",
    );
    assert_eq!(e.field.as_deref(), Some("on_failure.n.needs"), "{e}");
    let e = err(
        "name: a\non: {}\nsteps:\n  a: {uses: http}\non_failure:\n  n: {uses: http, needs: m}\n  m: {uses: http, needs: n}\n",
    );
    assert!(e.message.contains("cycle"), "{e}");
    assert_eq!(e.line, Some(6), "{e}");
}

#[test]
fn an_approval_is_a_kind_of_its_own_with_a_checked_message() {
    let e = err(&with_steps("  a: {approval: {message: hi}, uses: http}\n"));
    assert_eq!(e.field.as_deref(), Some("steps.a.approval"), "{e}");
    let e = err(&with_steps(
        "  a: {approval: {message: \"${{ event. }}\"}}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.approval.message"), "{e}");
    let e = err(&with_steps("  a: {approval: {message: hi, who: [x]}}\n"));
    assert!(e.message.contains("who"), "{e}");
}

#[test]
fn a_wait_needs_a_type_one_match_condition_and_a_window_of_at_most_a_day() {
    let ok = parse(
        &with_steps(
            "  a: {wait: {type: {prefix: shop.}, match: \"${{ event.data.n == 1 }}\", window: 1d}}\n",
        ),
        Format::Yaml,
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = err(&with_steps("  a: {wait: {source: x}}\n"));
    assert!(e.message.contains("type"), "{e}");
    let e = err(&with_steps(
        "  a: {wait: {type: t, match: \"a ${{ 1 }}\"}}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.wait.match"), "{e}");
    let e = err(&with_steps("  a: {wait: {type: t, window: 25h}}\n"));
    assert_eq!(e.field.as_deref(), Some("steps.a.wait.window"), "{e}");
    let e = err(&with_steps("  a: {wait: {type: t, timeout: 0s}}\n"));
    assert_eq!(e.field.as_deref(), Some("steps.a.wait.timeout"), "{e}");
    let e = err(&with_steps("  a: {wait: {type: t}, sleep: 1s}\n"));
    assert!(e.message.contains("one kind"), "{e}");
}

#[test]
fn concurrency_and_debounce_are_checked_and_exclusive() {
    let base = "name: w\non: {webhook: {path: w}}\nsteps:\n  a: {uses: http}\n";
    let ok = format!(
        "{base}concurrency: {{key: \"${{{{ event.data.body.c }}}}\", limit: 3, policy: cancel_previous}}\n"
    );
    assert!(parse(&ok, Format::Yaml).is_ok(), "{ok}");
    let e = err(&format!("{base}concurrency: {{limit: 0}}\n"));
    assert_eq!(e.field.as_deref(), Some("concurrency.limit"), "{e}");
    let e = err(&format!(
        "{base}concurrency: {{key: \"${{{{ event. }}}}\"}}\n"
    ));
    assert_eq!(e.field.as_deref(), Some("concurrency.key"), "{e}");
    let e = err(&format!("{base}concurrency: {{policy: drop}}\n"));
    assert!(e.message.contains("drop"), "{e}");
    let e = err(&format!("{base}debounce: {{period: 0s}}\n"));
    assert_eq!(e.field.as_deref(), Some("debounce.period"), "{e}");
    let e = err(&format!(
        "{base}debounce: {{period: 1s}}\nconcurrency: {{}}\n"
    ));
    assert_eq!(e.field.as_deref(), Some("debounce"), "{e}");
    let scheduled = "name: w\non: {schedule: {cron: \"* * * * *\", overlap: skip}}\nconcurrency: {}\nsteps:\n  a: {uses: http}\n";
    let e = err(scheduled);
    assert_eq!(e.field.as_deref(), Some("on.schedule.overlap"), "{e}");
}

#[test]
fn a_rate_limit_goes_with_agent_steps_and_has_a_window() {
    let ok = parse(
        &with_steps("  a: {uses: http, rate_limit: {limit: 10, per: 1s}}\n"),
        Format::Yaml,
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = err(&with_steps(
        "  a: {sleep: 1s, rate_limit: {limit: 1, per: 1s}}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.rate_limit"), "{e}");
    let e = err(&with_steps(
        "  a: {uses: http, rate_limit: {limit: 0, per: 1s}}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.rate_limit.limit"), "{e}");
    let e = err(&with_steps(
        "  a: {uses: http, rate_limit: {limit: 1, per: 2d}}\n",
    ));
    assert_eq!(e.field.as_deref(), Some("steps.a.rate_limit.per"), "{e}");
}
