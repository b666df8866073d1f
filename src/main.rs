//! The `calig` command-line tool.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Attribution runs independent chunks on one worker per core (CALIG_WORKERS); candle's own
    // intra-op threads on top of that oversubscribe the cores (measured: CA-LIG on MiniLM 2.1 s
    // with 2 intra-op threads and one worker, 1.4 s with 2 workers of 1 thread). Respect a
    // user's RAYON_NUM_THREADS; set before any thread exists.
    if std::env::var_os("RAYON_NUM_THREADS").is_none()
        && std::env::var_os("CALIG_WORKERS").is_none()
    {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
