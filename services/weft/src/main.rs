//! `weft`: run Weft (all-in-one or one service) and manage it from the command line.

use clap::Parser;

/// mimalloc: Weft allocates many small short-lived buffers per message (JSON, CloudEvents);
/// glibc's allocator showed up as ~17% of the CPU profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
