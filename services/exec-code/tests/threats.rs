//! The threat model of `uses: code`: escape and exhaustion attempts (n8n's sandbox escapes,
//! Windmill's out-of-memory reports). Each must end as a clean step failure with a clear code
//! (or a harmless output), while the executor stays up and runs the next script.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use weft_exec_code::{ByteSize, CodeExecutor, CodeWith, ErrorCode};

/// Host objects of Node, Deno, Bun or quickjs-libc that must not exist in the sandbox.
const HOST_NAMES: &str = "['process', 'require', 'module', 'exports', 'fetch', 'XMLHttpRequest', \
    'WebSocket', 'std', 'os', 'scriptArgs', 'print', 'Deno', 'Bun', 'setTimeout', 'setInterval', \
    'importScripts', 'Worker', '__weft_log']";

#[tokio::test]
async fn no_host_object_is_reachable() {
    let exec = executor();
    let ran = run(
        &exec,
        &format!(
            "const names = {HOST_NAMES};\n\
             const g = Function('return this')();\n\
             return names.filter(n => typeof g[n] !== 'undefined' || n in g);"
        ),
    )
    .await;
    assert_eq!(ran.output(), &json!([]));
}

#[tokio::test]
async fn require_import_and_fetch_are_not_defined() {
    let exec = executor();
    for (script, expect) in [
        (
            "return require('fs').readFileSync('/proc/self/environ', 'utf8')",
            "require is not defined",
        ),
        (
            "return fetch('http://127.0.0.1:8080/')",
            "fetch is not defined",
        ),
        ("return process.env", "process is not defined"),
    ] {
        let ran = run(&exec, script).await;
        let e = ran.error(ErrorCode::Script);
        assert!(e.message.contains(expect), "{script}: {e:?}");
    }
    // Dynamic import has no loader: the promise rejects.
    let ran = run(&exec, "const fs = await import('fs'); return fs").await;
    ran.error(ErrorCode::Script);
    let ran = run(
        &exec,
        "const m = await import('/proc/self/environ'); return m",
    )
    .await;
    ran.error(ErrorCode::Script);
    still_works(&exec).await;
}

#[tokio::test]
async fn constructor_chains_reach_only_the_sandbox() {
    let exec = executor();
    // n8n's escape: climb to Function through any object and ask for `process`.
    for script in [
        "return this.constructor.constructor('return process')()",
        "return ({}).constructor.constructor('return process')()",
        "return Promise.constructor('return process')()",
        "return (async () => {}).constructor('return process')()",
        "return (function*(){}).constructor('return process')().next()",
        "return [].map.constructor('return process')()",
        "return eval('process')",
        "return (0, eval)('require')('fs')",
        "return new Function('return require')()('child_process')",
    ] {
        let ran = run(&exec, script).await;
        let e = ran.error(ErrorCode::Script);
        assert!(e.message.contains("is not defined"), "{script}: {e:?}");
    }
    // The same tricks used only to *look*: nothing there.
    let ran = run(
        &exec,
        "const F = this.constructor.constructor;\n\
         return [typeof F('return process')().then, 0].length",
    )
    .await;
    ran.error(ErrorCode::Script);
    let ran = run(
        &exec,
        "return [typeof process, typeof Promise.constructor('return typeof process')(),\n\
         typeof Function('return this')().process, typeof globalThis.require]",
    )
    .await;
    assert_eq!(
        ran.output(),
        &json!(["undefined", "string", "undefined", "undefined"])
    );
    still_works(&exec).await;
}

#[tokio::test]
async fn template_literal_bypasses_find_nothing() {
    let exec = executor();
    // n8n's template-literal variants: code smuggled into `${…}` and tagged templates.
    let ran = run(
        &exec,
        "const a = `${this.constructor.constructor('return typeof process')()}`;\n\
         const b = `${(() => { try { return Function`return process```(); } catch (e) { return e.name; } })()}`;\n\
         const c = String.raw`${[].constructor.constructor('return typeof require')()}`;\n\
         return [a, b, c];",
    )
    .await;
    assert_eq!(
        ran.output(),
        &json!(["undefined", "ReferenceError", "undefined"])
    );
}

#[tokio::test]
async fn infinite_loops_time_out_even_when_caught() {
    let exec = executor();
    for script in [
        "while (true) {}",
        "try { while (true) {} } catch (e) { return 'caught'; } finally { return 'finally'; }",
        "for (;;) { try { for (;;) {} } catch (e) {} }",
        "await Promise.resolve(); while (true) { await null; }",
    ] {
        let mut with = CodeWith::script(script);
        with.timeout = Duration::from_millis(300);
        let ran = run_with(&exec, with).await;
        let e = ran.error(ErrorCode::Timeout);
        // Stopped by the runner's interrupt handler (uncatchable), not by the executor's kill.
        assert_eq!(
            e.message, "the script ran longer than its timeout of 300ms",
            "{script}"
        );
        assert!(
            ran.took < Duration::from_millis(1200),
            "{script}: {:?}",
            ran.took
        );
    }
    still_works(&exec).await;
}

#[tokio::test]
async fn an_unsettled_promise_fails_at_once() {
    let exec = executor();
    let ran = run(&exec, "await new Promise(() => {}); return 1").await;
    let e = ran.error(ErrorCode::Script);
    assert!(e.message.contains("never settles"), "{e:?}");
    assert!(ran.took < Duration::from_secs(2), "{:?}", ran.took);
    let ran = run(
        &exec,
        "return new Promise((resolve) => { globalThis.later = resolve; })",
    )
    .await;
    ran.error(ErrorCode::Script);
    still_works(&exec).await;
}

#[tokio::test]
async fn a_blocked_runner_is_killed_by_the_executor() {
    let exec = executor();
    // Joining 2^32 - 1 holes loops in native code, where the interrupt handler never runs:
    // only the executor's kill at the deadline (plus grace) ends it (the CPU rlimit would, a
    // little later). (`Atomics.wait` would block too, but QuickJS refuses it on this thread.)
    let mut with = CodeWith::script("return new Array(2 ** 32 - 1).join('').length;");
    with.timeout = Duration::from_millis(300);
    let ran = run_with(&exec, with).await;
    let e = ran.error(ErrorCode::Timeout);
    assert!(e.message.contains("killed"), "{e:?}");
    assert!(ran.took >= Duration::from_millis(1300), "{:?}", ran.took);
    assert!(ran.took < Duration::from_secs(3), "{:?}", ran.took);
    let ran = run(
        &exec,
        "return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)",
    )
    .await;
    assert!(
        ran.error(ErrorCode::Script)
            .message
            .contains("cannot block"),
        "{ran:?}"
    );
    still_works(&exec).await;
}

#[tokio::test]
async fn allocation_bombs_hit_the_memory_limit() {
    let exec = executor();
    for script in [
        "const a = []; while (true) a.push(new Array(100000).fill(1.5));",
        "return 'x'.repeat(2 ** 25).length",
        "return new ArrayBuffer(512 * 1024 * 1024).byteLength",
        "const m = new Map(); for (let i = 0; ; i++) m.set(i, {i, s: 'v' + i});",
        "return JSON.stringify(new Array(10000000).fill('abcdefgh')).length",
    ] {
        let mut with = CodeWith::script(script);
        with.memory = ByteSize(16 << 20);
        with.timeout = Duration::from_secs(20);
        let ran = run_with(&exec, with).await;
        let e = ran.error(ErrorCode::SandboxLimit);
        assert!(e.message.contains("memory"), "{script}: {e:?}");
    }
    // Doubling a string builds ropes that cost little memory: the engine's length cap stops it.
    let ran = run(&exec, "let s = 'x'; while (true) s = s + s;").await;
    assert!(
        ran.error(ErrorCode::Script)
            .message
            .contains("string too long"),
        "{ran:?}"
    );
    still_works(&exec).await;
}

#[tokio::test]
async fn deep_recursion_is_a_stack_limit() {
    let exec = executor();
    for script in [
        "function f(n) { return f(n + 1) + 1; } return f(0);",
        "const f = async (n) => 1 + await f(n + 1); return await f(0);",
        "let a = []; for (let i = 0; i < 100000; i++) a = [a]; return a;",
        "const o = {}; o.toString = () => `${o}`; return String(o);",
    ] {
        let ran = run(&exec, script).await;
        let e = ran.error(ErrorCode::SandboxLimit);
        assert!(e.message.contains("stack"), "{script}: {e:?}");
    }
    still_works(&exec).await;
}

#[tokio::test]
async fn huge_outputs_are_refused() {
    let mut config = config(0);
    config.max_output_bytes = 64 * 1024;
    let exec = CodeExecutor::new(config).expect("executor");
    for script in [
        "return 'x'.repeat(100 * 1024)",
        "return Array.from({length: 20000}, (_, i) => i)",
        "return 'é'.repeat(40 * 1024)",
    ] {
        let ran = run(&exec, script).await;
        let e = ran.error(ErrorCode::SandboxLimit);
        assert!(e.message.contains("output"), "{script}: {e:?}");
    }
    // Just under the limit is fine.
    let ran = run(&exec, "return 'x'.repeat(60 * 1024).length").await;
    assert_eq!(ran.output(), &json!(61440));
    still_works(&exec).await;
}

#[tokio::test]
async fn prototype_pollution_stays_in_the_sandbox_and_the_output_is_plain_json() {
    let exec = executor();
    let ran = run(
        &exec,
        "Object.prototype.polluted = 'yes';\n\
         const out = JSON.parse('{\"__proto__\": {\"isAdmin\": true}, \"constructor\": {\"prototype\": {\"x\": 1}}}');\n\
         out.normal = 1;\n\
         return out;",
    )
    .await;
    let output = ran.output();
    // `__proto__` is an ordinary key of plain JSON: no inherited `polluted`, nothing merged.
    assert_eq!(
        output,
        &json!({"__proto__": {"isAdmin": true}, "constructor": {"prototype": {"x": 1}}, "normal": 1})
    );
    // A later script in a fresh runner sees a clean Object.prototype.
    let ran = run(
        &exec,
        "return [({}).polluted === undefined, ({}).isAdmin === undefined]",
    )
    .await;
    assert_eq!(ran.output(), &json!([true, true]));
}

#[tokio::test]
async fn the_sandbox_sees_no_host_network_environment_or_files_and_has_its_limits() {
    let exec = executor();
    // What any code in the runner could see (native code included), from its self-check mode.
    let sandbox = weft_exec_code::Sandbox::new(&config(0).sandbox()).expect("sandbox");
    let report = sandbox.self_check().await.expect("self-check");
    assert_eq!(report.interfaces, ["lo"], "network");
    assert!(
        report.env.iter().all(|n| n == "PWD"),
        "environment: {:?}",
        report.env
    );
    assert!(
        !report.environ.contains("PATH") && !report.environ.contains("CARGO"),
        "{}",
        report.environ
    );
    assert!(!report.etc_passwd, "host files");
    assert_eq!(
        report.root,
        ["dev", "lib", "lib64", "proc", "runner", "tmp", "usr"]
    );
    assert_eq!(report.pid, 2, "own PID namespace (bwrap is 1)");
    // Fork fails (NPROC 0), few files, no core dumps, no files written, bounded memory and CPU.
    assert_eq!(
        report.limit("Max processes"),
        Some(("0".into(), "0".into())),
        "{}",
        report.limits
    );
    assert_eq!(
        report.limit("Max open files"),
        Some(("8".into(), "8".into()))
    );
    assert_eq!(
        report.limit("Max core file size"),
        Some(("0".into(), "0".into()))
    );
    assert_eq!(
        report.limit("Max file size"),
        Some(("0".into(), "0".into()))
    );
    let (soft, _) = report.limit("Max address space").expect("AS");
    assert!(
        soft.parse::<u64>().is_ok_and(|b| b < 1 << 30),
        "address space {soft}"
    );
    assert_eq!(report.limit("Max cpu time"), Some(("2".into(), "3".into())));
    assert_eq!(report.two, 2);
    weft_exec_code::executor::verify(&report).expect("verify");
    exec.check().await.expect("check");
}
