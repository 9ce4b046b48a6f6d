//! `incant serve`: the prompt folder behind incant-server's API (prompt endpoints and the
//! OpenAI-compatible ones), with incant-web's UI (inline-completion editor, runs, compare,
//! playground) on the same origin, until Ctrl-C or SIGTERM.

use crate::guard_cli::ServeArgs;
use crate::report::input_error;
use anyhow::{Context, Result};
use incant_server::ServeConfig;
use incant_web::{router, WebState};
use std::path::Path;
use std::process::ExitCode;

/// Runs the server.
pub fn run(models_dir: &Path, args: ServeArgs) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        return Err(input_error(
            format!("{} is not a folder", args.dir.display()),
            Some("serve a folder of .prompt files, e.g. `incant serve examples/quickstart`"),
        ));
    }
    let mut config = ServeConfig::new(&args.dir);
    config.host = args.host;
    config.port = args.port;
    config.keys_file = args.keys.clone();
    config.models_dir = models_dir.to_path_buf();
    config.log_requests = args.log;
    if !(args.reload_every >= 0.0 && args.reload_every.is_finite()) {
        return Err(input_error(
            format!(
                "--reload-every {} is not a number of seconds",
                args.reload_every
            ),
            Some("use e.g. --reload-every 5, or 0 to reload only on SIGHUP"),
        ));
    }
    config.reload_interval = std::time::Duration::from_secs_f64(args.reload_every);
    let ui = (!args.no_ui).then(|| router(WebState::new(super::runs::db_path(args.db.clone()))));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(incant_server::serve(config, ui))
        .map_err(|e| input_error(e.to_string(), None))?;
    Ok(ExitCode::SUCCESS)
}
