//! `weft`: run Weft (all-in-one or one service) and manage it from the command line.

use clap::Parser;

/// mimalloc: Weft allocates many small short-lived buffers per message (JSON, CloudEvents);
/// glibc's allocator showed up as ~17% of the CPU profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // `weft __code-runner`: the sandboxed JavaScript runner of `uses: code` (started by the code
    // executor under bubblewrap). Handled before anything else starts (no runtime, no threads):
    // it sets its own limits and serves one script.
    #[cfg(feature = "exec-code")]
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__code-runner")
    {
        weft_exec_code::runner::main();
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    weft_runtime::init_crypto();
    let args = weft::cli::Args::parse();
    match weft::cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
