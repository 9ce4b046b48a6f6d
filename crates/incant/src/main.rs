//! The `incant` binary: parse the command line, run one command, map errors to exit codes.
//!
//! Exit codes: 0 success, 1 a check failed (later: failing assertions), 2 bad usage or
//! input (unknown model, missing file, invalid parameter). Errors print as one line with a
//! hint on the next; a closed stdout pipe (`incant ... | head`) exits 0 quietly.

mod cli;
mod commands;
mod guard_cli;
mod image_cli;
mod report;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Some(n) = cli.threads {
        // candle's CPU kernels size their thread pool from this variable; set it before
        // any pool exists.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => report::error(&err),
    }
}
