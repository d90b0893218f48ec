//! `weft`: run Weft (all-in-one or one service) and manage it from the command line.

use clap::Parser;

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
