//! Tests of the transform agent's logic: jq programs, `map`, inputs, limits, the apply check.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::{Code, TransformError};
use crate::{ArtifactRef, ArtifactSource, TransformConfig, TransformWith, check_with};

/// An in-memory artifact store.
#[derive(Default)]
struct Store(HashMap<String, Vec<u8>>);

impl Store {
    fn put(&mut self, name: &str, content_type: &str, bytes: &[u8]) -> Value {
        let id = format!("a{}", self.0.len());
        self.0.insert(id.clone(), bytes.to_vec());
        json!({"id": id, "name": name, "content_type": content_type, "size": bytes.len(),
               "sha256": "00"})
    }
}

impl ArtifactSource for Store {
    async fn get(&self, r: &ArtifactRef) -> Result<Vec<u8>, TransformError> {
        self.0.get(&r.id).cloned().ok_or_else(|| {
            TransformError::new(
                Code::ArtifactNotFound,
                format!("artifact `{}` ({}) not found", r.name, r.id),
            )
        })
    }
}

async fn run_with(
    config: &TransformConfig,
    store: &Store,
    with: Value,
) -> Result<Value, TransformError> {
    let with: TransformWith = serde_json::from_value(with).expect("with");
    crate::transform(config, with, store, CancellationToken::new(), None)
        .await
        .result
}

async fn run(with: Value) -> Result<Value, TransformError> {
    run_with(&TransformConfig::default(), &Store::default(), with).await
}

async fn jq(program: &str, input: Value) -> Result<Value, TransformError> {
    run(json!({"input": input, "jq": program})).await
}

async fn ok(program: &str, input: Value) -> Value {
    jq(program, input)
        .await
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn orders() -> Value {
    json!([
        {"id": 1, "customer": "ann", "total": 120.5, "tags": ["vip"]},
        {"id": 2, "customer": "bob", "total": 80, "tags": []},
        {"id": 3, "customer": "ann", "total": 30, "tags": ["new", "vip"]}
    ])
}

#[tokio::test]
async fn jq_programs_of_every_day() {
    let cases: Vec<(&str, Value)> = vec![
        (".", orders()),
        ("[.[] | select(.total > 50) | .id]", json!([1, 2])),
        ("map(.total) | add", json!(230.5)),
        (
            "group_by(.customer) | map({customer: .[0].customer, n: length})",
            json!([{"customer": "ann", "n": 2}, {"customer": "bob", "n": 1}]),
        ),
        ("map(select(.tags | index(\"vip\"))) | length", json!(2)),
        (
            "[.[] | [.id, .customer] | @csv]",
            json!(["1,\"ann\"", "2,\"bob\"", "3,\"ann\""]),
        ),
        (".[0].customer | @base64", json!("YW5u")),
        ("\"YW5u\" | @base64d", json!("ann")),
        ("map(.customer) | unique", json!(["ann", "bob"])),
        ("sort_by(-.total) | first | .id", json!(1)),
        ("to_entries | map(.key) ", json!([0, 1, 2])),
        (
            "[.[] | .customer | ascii_upcase] | join(\"-\")",
            json!("ANN-BOB-ANN"),
        ),
        ("map(.total) | max", json!(120.5)),
        ("reduce .[] as $o (0; . + $o.total)", json!(230.5)),
        (
            "[.[] | .customer | test(\"^a\")]",
            json!([true, false, true]),
        ),
        (
            "[.[] | .customer | sub(\"n\"; \"N\")]",
            json!(["aNn", "bob", "aNn"]),
        ),
        ("[paths(type == \"number\")] | length", json!(6)),
        (
            ".[1] | del(.tags) | keys",
            json!(["customer", "id", "total"]),
        ),
        ("map(.id) | @json", json!("[1,2,3]")),
        (
            "[\"a\\tb\", 1, null, true] | @tsv",
            json!("a\\tb\t1\t\ttrue"),
        ),
        (
            "[\"say \\\"hi\\\"\", 1.5, null, false] | @csv",
            json!("\"say \"\"hi\"\"\",1.5,,false"),
        ),
        (
            "@csv \"row: \\([.[0].id, .[0].customer])\"",
            json!("row: 1,\"ann\""),
        ),
        ("[.[0].customer] | @sh", json!("'ann'")),
        ("[limit(2; .[])] | length", json!(2)),
        ("[range(5)] | map(. * 2)", json!([0, 2, 4, 6, 8])),
        ("0 | todateiso8601", json!("1970-01-01T00:00:00Z")),
        ("[.[] | .total | floor]", json!([120, 80, 30])),
        ("def double: . * 2; map(.id | double)", json!([2, 4, 6])),
        ("[.[] | try error(\"x\") catch .]", json!(["x", "x", "x"])),
        ("[recurse | numbers] | length", json!(6)),
        ("nan", json!(null)),
        ("{a: 1} | has(\"a\")", json!(true)),
    ];
    for (program, want) in cases {
        assert_eq!(ok(program, orders()).await, want, "{program}");
    }
}

#[tokio::test]
async fn several_values_give_an_array_one_gives_itself_none_gives_null() {
    assert_eq!(ok(".[] | .id", orders()).await, json!([1, 2, 3]));
    assert_eq!(ok(".[0].id", orders()).await, json!(1));
    assert_eq!(ok("[.[0].id]", orders()).await, json!([1]));
    assert_eq!(ok("empty", orders()).await, json!(null));
    assert_eq!(ok("1, 2", json!(null)).await, json!([1, 2]));
}

#[tokio::test]
async fn the_environment_is_not_reachable() {
    // SAFETY-free: the variable is set for this test process only to prove it cannot be read.
    // (std::env::set_var is unsafe in edition 2024 and the workspace forbids unsafe, so read
    // one that is always there instead.)
    assert!(std::env::var_os("PATH").is_some());
    for program in [
        "env",
        "$ENV",
        "env.PATH",
        "$ENV.PATH",
        "$__prog_args",
        "input",
        "inputs",
        "import \"x\" as x; .",
        "include \"x\"; .",
        "input_filename",
    ] {
        let err = jq(program, json!(null)).await.expect_err(program);
        assert_eq!(err.code, Code::BadInput, "{program}: {err}");
    }
    let err = jq("env", json!(null)).await.expect_err("env");
    assert!(
        err.message.contains("undefined") && err.message.contains("env"),
        "{err}"
    );
    // Reserved names cannot reach the raw natives.
    let err = jq("[__weft_range(0; 1e9; 1)]", json!(null))
        .await
        .expect_err("reserved");
    assert_eq!(err.code, Code::BadInput);
}

/// The natives a program can call: an upgrade of jaq that adds one must be looked at.
#[test]
fn the_natives_are_exactly_these() {
    let mut names: Vec<String> = crate::jq::natives()
        .iter()
        .map(|(name, args, _)| format!("{name}/{}", args.len()))
        .collect();
    names.sort();
    assert!(!names.iter().any(|n| n.starts_with("env/")));
    assert!(names.iter().any(|n| n == "__weft_tick/0"));
    assert!(names.iter().any(|n| n == "__weft_range/3"));
    assert!(!names.iter().any(|n| n == "range/3"));
    let listed = names.join(" ");
    for forbidden in [
        "env/",
        "input/",
        "inputs/",
        "input_filename/",
        "get_search_list/",
        "getpath_file",
        "read",
        "open",
    ] {
        assert!(
            !listed.contains(&format!(" {forbidden}")),
            "{forbidden} in {listed}"
        );
    }
    // None of these reads the process, its files or the network; `debug_empty`/`stderr_empty`
    // are ours (they write to the attempt's log), `halt` fails the attempt.
    assert_eq!(
        listed, EXPECTED_NATIVES,
        "natives changed: look at the new ones"
    );
}

const EXPECTED_NATIVES: &str = "__weft_range/3 __weft_tick/0 acos/0 acosh/0 ascii_downcase/0 ascii_upcase/0 asin/0 asinh/0 atan/0 atan2/2 atanh/0 bsearch/1 cbrt/0 ceil/0 contains/1 copysign/2 cos/0 cosh/0 debug_empty/0 decode_base64/0 decode_uri/0 encode_base64/0 encode_uri/0 endswith/1 erf/0 erfc/0 error_empty/0 escape_html/0 escape_sh/0 exp/0 exp10/0 exp2/0 explode/0 expm1/0 fabs/0 fdim/2 first/1 floor/0 fma/3 fmax/2 fmin/2 fmod/2 frexp/0 fromdateiso8601/0 fromjson/0 gmtime/0 group_by/1 halt/1 has/1 hypot/2 ilogb/0 implode/0 indices/1 j0/0 j1/0 jn/2 key_values/0 keys_unsorted/0 last/1 ldexp/2 length/0 lgamma/0 limit/2 localtime/0 log/0 log10/0 log1p/0 log2/0 ltrim/0 ltrimstr/1 matches/2 max_by_or_empty/1 min_by_or_empty/1 mktime/0 modf/0 nearbyint/0 nextafter/2 now/0 path/1 path_value/1 pow/2 remainder/2 reverse/0 rint/0 round/0 rtrim/0 rtrimstr/1 scalbln/2 sin/0 sinh/0 skip/2 sort/0 sort_by/1 split_/2 split_matches/2 sqrt/0 startswith/1 stderr_empty/0 strflocaltime/1 strftime/1 strptime/1 tan/0 tanh/0 tgamma/0 tobytes/0 todateiso8601/0 tojson/0 trim/0 trunc/0 unescape_html/0 utf8bytelength/0 y0/0 y1/0 yn/2";

#[tokio::test]
async fn runtime_errors_are_script_failures() {
    for program in [
        "error(\"boom\")",
        ".a.b",
        "1 + \"a\"",
        "halt",
        "halt_error",
        "[] | .a",
    ] {
        let err = jq(program, json!([1])).await.expect_err(program);
        assert_eq!(err.code, Code::Transform, "{program}: {err}");
        assert!(!err.retryable());
    }
    let err = jq("error(\"boom\")", json!(null)).await.expect_err("boom");
    assert!(err.message.contains("boom"), "{err}");
    let err = jq("\"abc\" | tobytes", json!(null))
        .await
        .expect_err("bytes");
    assert_eq!(err.code, Code::Transform, "{err}");
    let err = jq("{(1): 2}", json!(null)).await;
    assert!(err.is_err(), "{err:?}");
}

#[tokio::test]
async fn bad_programs_name_line_and_column() {
    let err = jq(".a |\n  map(.b", json!(null)).await.expect_err("syntax");
    assert_eq!(err.code, Code::BadInput);
    assert!(err.message.contains("line 2"), "{err}");
    let err = jq(".a\n| nosuchfn(1)", json!(null))
        .await
        .expect_err("undefined");
    assert!(err.message.contains("line 2, column 3"), "{err}");
    assert!(err.message.contains("nosuchfn"), "{err}");
    let err = jq("\"unterminated", json!(null)).await.expect_err("lex");
    assert_eq!(err.code, Code::BadInput, "{err}");
}

fn small() -> TransformConfig {
    TransformConfig {
        timeout_ms: 2_000,
        ..TransformConfig::default()
    }
}

async fn limited(program: &str) -> TransformError {
    let started = Instant::now();
    let err = run_with(&small(), &Store::default(), json!({"jq": program}))
        .await
        .expect_err(program);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{program} took {:?}",
        started.elapsed()
    );
    err
}

#[tokio::test]
async fn runaway_programs_end_as_clean_failures() {
    for program in [
        "[range(1e9)]",
        "repeat(1)",
        "[repeat(1)]",
        "last(range(1e12))",
        "def f: f; f",
        "def f: 1 + f; f",
        "[recurse(. + 1)] | length",
        "until(false; .)",
        "[limit(1e9; repeat(1))]",
        "reduce range(1e12) as $x (0; . + 1)",
        "reduce range(64) as $x (\"ab\"; . + .)",
        "reduce range(64) as $x ([1]; . + .)",
        "[foreach range(1e12) as $x (0; . + 1)]",
        "try repeat(1) catch 0",
        "def f: try (1, f) catch f; [f]",
        "0 | [while(true; . + 1)]",
        "reduce range(60) as $x ([1]; [., .])",
    ] {
        let err = limited(program).await;
        assert!(
            matches!(err.code, Code::SandboxLimit | Code::OutputTooLarge),
            "{program}: {err}"
        );
    }
}

#[tokio::test]
async fn output_limits() {
    let config = TransformConfig {
        max_values: 10,
        max_output_bytes: 1000,
        ..TransformConfig::default()
    };
    let err = run_with(&config, &Store::default(), json!({"jq": "range(11)"}))
        .await
        .expect_err("values");
    assert_eq!(err.code, Code::OutputTooLarge, "{err}");
    assert!(
        run_with(&config, &Store::default(), json!({"jq": "range(10)"}))
            .await
            .is_ok()
    );
    let err = run_with(&config, &Store::default(), json!({"jq": "\"x\" * 2000"}))
        .await
        .expect_err("bytes");
    assert_eq!(err.code, Code::OutputTooLarge, "{err}");
    let err = run_with(&config, &Store::default(),
        json!({"map": {"a": "'x' + 'y'", "b": "[1,2,3].map(i, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' + string(i))"}})).await;
    assert!(err.is_ok(), "{err:?}");
}

#[tokio::test]
async fn cancellation_stops_a_running_program() {
    let token = CancellationToken::new();
    let with: TransformWith =
        serde_json::from_value(json!({"jq": "last(range(1e15))"})).expect("with");
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        t.cancel();
    });
    let started = Instant::now();
    let out = crate::transform(
        &TransformConfig::default(),
        with,
        &Store::default(),
        token,
        None,
    )
    .await;
    let err = out.result.expect_err("cancelled");
    assert_eq!(err.code, Code::Cancelled, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_step_deadline_shortens_the_time_limit() {
    let with: TransformWith =
        serde_json::from_value(json!({"jq": "last(range(1e15))"})).expect("with");
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_millis(300);
    let out = crate::transform(
        &TransformConfig::default(),
        with,
        &Store::default(),
        CancellationToken::new(),
        Some(deadline),
    )
    .await;
    assert_eq!(out.result.expect_err("deadline").code, Code::SandboxLimit);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn debug_lines_go_to_the_attempt_log() {
    let with: TransformWith = serde_json::from_value(
        json!({"input": [1, 2], "jq": ".[] | debug(\"saw \\(.)\") | . + 1"}),
    )
    .expect("with");
    let out = crate::transform(
        &TransformConfig::default(),
        with,
        &Store::default(),
        CancellationToken::new(),
        None,
    )
    .await;
    assert_eq!(out.result.expect("ok"), json!([2, 3]));
    assert_eq!(out.log, vec!["saw 1".to_owned(), "saw 2".to_owned()]);
}

#[tokio::test]
async fn inputs_from_artifacts_and_text() {
    let mut store = Store::default();
    let ndjson = store.put(
        "orders.ndjson",
        "application/x-ndjson",
        b"{\"id\":1,\"total\":5}\n\n{\"id\":2,\"total\":7}\n",
    );
    let json_doc = store.put("orders.json", "application/json", b"{\"items\":[1,2,3]}");
    let broken = store.put("broken.json", "application/json", b"{\"items\":");
    let config = TransformConfig::default();
    let got = run_with(
        &config,
        &store,
        json!({"input": ndjson, "jq": "map(.total) | add"}),
    )
    .await;
    assert_eq!(got.expect("ndjson"), json!(12));
    let got = run_with(
        &config,
        &store,
        json!({"input": json_doc, "jq": ".items | length"}),
    )
    .await;
    assert_eq!(got.expect("json"), json!(3));
    let got = run_with(
        &config,
        &store,
        json!({"input": json_doc, "map": {"n": "size(input.items)"}}),
    )
    .await;
    assert_eq!(got.expect("map on artifact"), json!({"n": 3}));
    let err = run_with(&config, &store, json!({"input": broken, "jq": "."}))
        .await
        .expect_err("broken");
    assert_eq!(err.code, Code::BadInput);
    assert!(err.message.contains("broken.json"), "{err}");
    let missing = json!({"id": "nope", "name": "gone.json", "content_type": "application/json",
                          "size": 3, "sha256": "00"});
    let err = run_with(&config, &store, json!({"input": missing, "jq": "."}))
        .await
        .expect_err("missing");
    assert_eq!(err.code, Code::ArtifactNotFound);
    assert!(err.message.contains("gone.json"));
    let got = run(json!({"input": "{\"a\": 1}", "input_format": "json", "jq": ".a"})).await;
    assert_eq!(got.expect("json text"), json!(1));
    let got = run(json!({"input": "1\n2\n", "input_format": "ndjson", "jq": "add"})).await;
    assert_eq!(got.expect("ndjson text"), json!(3));
    let err = run(json!({"input": "nope", "input_format": "json", "jq": "."}))
        .await
        .expect_err("text");
    assert_eq!(err.code, Code::BadInput);
    let config = TransformConfig {
        max_input_bytes: 4,
        ..TransformConfig::default()
    };
    let err = run_with(&config, &store, json!({"input": json_doc, "jq": "."}))
        .await
        .expect_err("big");
    assert_eq!(err.code, Code::SandboxLimit);
}

#[tokio::test]
async fn one_program_exactly() {
    let err = run(json!({"input": 1, "jq": ".", "map": {"a": "input"}}))
        .await
        .expect_err("both");
    assert_eq!(err.code, Code::BadInput);
    let err = run(json!({"input": 1})).await.expect_err("neither");
    assert_eq!(err.code, Code::BadInput);
    assert!(serde_json::from_value::<TransformWith>(json!({"jq": ".", "shell": "ls"})).is_err());
}

#[tokio::test]
async fn cel_map() {
    let got = run(json!({
        "input": {"items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}], "name": "Ann"},
        "map": {
            "count": "size(input.items)",
            "total": "input.items.map(i, i.price * i.qty).exists(x, x > 5)",
            "greeting": "'hello ' + input.name",
            "first": "input.items[0]",
            "braces": "{'a': {'b': 1}}"
        }
    }))
    .await
    .expect("map");
    assert_eq!(
        got,
        json!({"count": 2, "total": true, "greeting": "hello Ann",
                           "first": {"price": 2, "qty": 3}, "braces": {"a": {"b": 1}}})
    );
    let err = run(json!({"input": {}, "map": {"x": "input.missing"}}))
        .await
        .expect_err("missing");
    assert_eq!(err.code, Code::Transform);
    assert!(err.message.starts_with("map.x"), "{err}");
    let err = run(json!({"input": {}, "map": {"x": "[1,2"}}))
        .await
        .expect_err("syntax");
    assert_eq!(err.code, Code::BadInput, "{err}");
    let err = run(json!({"input": null,
        "map": {"x": "[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, [1,2,3,4,5,6,7,8,9,10].all(e, [1,2,3,4,5,6,7,8,9,10].all(f, true))))))"}}))
        .await.expect_err("budget");
    assert_eq!(err.code, Code::SandboxLimit, "{err}");
}

#[test]
fn apply_time_check() {
    assert_eq!(
        check_with(&json!({"input": "${{ event.data }}", "jq": ".a | map(.b)"})),
        Ok(())
    );
    assert_eq!(check_with(&json!({"jq": "${{ inputs.program }}"})), Ok(()));
    assert_eq!(
        check_with(&json!({"map": {"a": "input.x + 1", "b": "${{ event.id }}"}})),
        Ok(())
    );
    assert_eq!(check_with(&json!({"map": "${{ inputs.m }}"})), Ok(()));
    let (field, message) = check_with(&json!({"jq": ".a |\n  map(.b"})).expect_err("jq");
    assert_eq!(field, "jq");
    assert!(message.contains("line 2"), "{message}");
    let (field, message) = check_with(&json!({"jq": "env.SECRET"})).expect_err("env");
    assert_eq!(field, "jq");
    assert!(message.contains("env"), "{message}");
    let (field, _) = check_with(&json!({"map": {"a": "input.x +"}})).expect_err("cel");
    assert_eq!(field, "map.a");
    let (field, _) = check_with(&json!({"map": {"a": 1}})).expect_err("not a string");
    assert_eq!(field, "map.a");
    let (field, _) = check_with(&json!({"jq": ".", "map": {}})).expect_err("both");
    assert_eq!(field, "jq");
    let (field, _) = check_with(&json!({"input": 1})).expect_err("neither");
    assert_eq!(field, "");
    let (field, _) = check_with(&json!({"jq": ".", "shell": "ls"})).expect_err("unknown");
    assert_eq!(field, "shell");
    let (field, _) = check_with(&json!({"jq": ".", "input_format": "xml"})).expect_err("format");
    assert_eq!(field, "input_format");
    let (field, _) = check_with(&json!({"jq": 5})).expect_err("jq type");
    assert_eq!(field, "jq");
}

#[test]
fn huge_and_deep_programs_are_refused_or_compiled_without_crashing() {
    let long = "1".to_owned() + &" | 1".repeat(20_000);
    assert!(check_with(&json!({"jq": long})).is_err(), "over 64 KiB");
    let chain = "1".to_owned() + &"|.".repeat(10_000);
    assert_eq!(check_with(&json!({"jq": chain})), Ok(()));
    let nested = "[".repeat(5000) + &"]".repeat(5000);
    let _ = check_with(&json!({"jq": nested}));
}

#[test]
fn the_schema_documents_every_field() {
    let schema = serde_json::to_value(schemars::schema_for!(TransformWith)).expect("schema");
    let props = schema["properties"].as_object().expect("properties");
    for field in ["input", "input_format", "jq", "map"] {
        let doc = props[field]["description"].as_str().unwrap_or("");
        assert!(!doc.is_empty(), "{field} has no description");
    }
    assert_eq!(schema["additionalProperties"], json!(false));
}
