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
        // A reader that went away (`calig ... | head`) ends the program quietly: there is
        // nobody left to tell, and stderr may be the same closed pipe.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
