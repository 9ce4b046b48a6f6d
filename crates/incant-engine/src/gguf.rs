//! Reading a GGUF file: metadata, the model configuration, the tokenizer vocabulary, and a
//! check that every tensor's bytes are really in the file.
//!
//! The file is memory-mapped, not read: the header is parsed from the mapping, and each
//! weight is repacked straight from its mapped bytes, after which its pages are released
//! ([`GgufFile::with_tensor_bytes`]), so loading holds one copy of the weights, never two.
//! candle parses the header from the mapped bytes; this module turns its
//! key/value metadata into typed values with errors that name the missing key, and refuses
//! truncated files up front (a download cut short is the most common way a model file goes
//! bad).

// Mapping a file is `unsafe` because another process could change it underneath; model
// files are only ever replaced whole (`incant models fetch` writes a new file and renames
// it), which leaves an existing mapping intact. Releasing pages (`MADV_DONTNEED`) is
// `unsafe` in general because private pages that were written would be lost; this mapping
// is read-only, so released pages read back the same bytes from the file.
#![allow(unsafe_code)]

use crate::{bad_model, EngineError};
use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};
use incant_tokenize::BpeVocab;
use memmap2::Mmap;
use std::fs::File;
use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An opened GGUF file with its parsed header.
pub struct GgufFile {
    /// Where it is.
    pub path: PathBuf,
    /// The header: metadata and tensor infos.
    pub content: Content,
    /// The whole file, mapped read-only; shared by the weights that use it in place.
    pub map: Arc<Mmap>,
}

fn tensor_len(info: &TensorInfo) -> usize {
    let elems = info.shape.elem_count();
    elems / info.ggml_dtype.block_size() * info.ggml_dtype.type_size()
}

impl GgufFile {
    /// Opens and validates a GGUF file.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let io = |source| EngineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: see the module comment; the mapping is read-only.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let len = map.len() as u64;
        let content = Content::read(&mut Cursor::new(&map[..]))
            .map_err(|e| bad_model(path, format!("not a readable GGUF file ({e})")))?;
        for (name, info) in &content.tensor_infos {
            let end = content.tensor_data_offset + info.offset + tensor_len(info) as u64;
            if end > len {
                return Err(bad_model(
                    path,
                    format!(
                        "truncated: tensor `{name}` ends at byte {end} but the file has {len} bytes"
                    ),
                ));
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            content,
            map: Arc::new(map),
        })
    }

    /// The tensor's description, or an error naming it.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo, EngineError> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| bad_model(&self.path, format!("tensor `{name}` is missing")))
    }

    /// Where the tensor's bytes are in [`Self::map`] (checked against the file's length by
    /// [`Self::open`]).
    pub fn tensor_range(&self, name: &str) -> Result<Range<usize>, EngineError> {
        let info = self.tensor_info(name)?;
        let start = (self.content.tensor_data_offset + info.offset) as usize;
        Ok(start..start + tensor_len(info))
    }

    /// Runs `f` on the tensor's bytes, then releases their pages from this process's
    /// memory (they stay in the page cache and read back the same if touched again).
    pub fn with_tensor_bytes<T>(
        &self,
        name: &str,
        f: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, EngineError> {
        let range = self.tensor_range(name)?;
        let out = f(&self.map[range.clone()]);
        // SAFETY: see the module comment: a read-only mapping, nothing is lost.
        #[cfg(unix)]
        let _ = unsafe {
            self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                range.start,
                range.len(),
            )
        };
        Ok(out)
    }

    /// The tensor as a candle `QTensor` (an owned copy), for the types the kernels do not
    /// use in place.
    pub fn qtensor(&self, name: &str) -> Result<candle_core::quantized::QTensor, EngineError> {
        self.tensor_info(name)?;
        self.content
            .tensor(
                &mut Cursor::new(&self.map[..]),
                name,
                &candle_core::Device::Cpu,
            )
            .map_err(|e| bad_model(&self.path, format!("tensor `{name}`: {e}")))
    }

    fn get(&self, key: &str) -> Result<&Value, EngineError> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| bad_model(&self.path, format!("metadata key `{key}` is missing")))
    }

    fn wrong_type(&self, key: &str, e: candle_core::Error) -> EngineError {
        bad_model(&self.path, format!("metadata key `{key}`: {e}"))
    }

    /// A string value.
    pub fn string(&self, key: &str) -> Result<String, EngineError> {
        self.get(key)?
            .to_string()
            .cloned()
            .map_err(|e| self.wrong_type(key, e))
    }

    /// An unsigned integer value of any width.
    pub fn uint(&self, key: &str) -> Result<u64, EngineError> {
        let v = self.get(key)?;
        match v {
            Value::U8(x) => Ok(u64::from(*x)),
            Value::U16(x) => Ok(u64::from(*x)),
            Value::U32(x) => Ok(u64::from(*x)),
            Value::U64(x) => Ok(*x),
            Value::I32(x) if *x >= 0 => Ok(*x as u64),
            Value::I64(x) if *x >= 0 => Ok(*x as u64),
            other => Err(bad_model(
                &self.path,
                format!("metadata key `{key}` should be an unsigned integer, found {other:?}"),
            )),
        }
    }

    /// A float value.
    pub fn float(&self, key: &str) -> Result<f64, EngineError> {
        match self.get(key)? {
            Value::F32(x) => Ok(f64::from(*x)),
            Value::F64(x) => Ok(*x),
            other => Err(bad_model(
                &self.path,
                format!("metadata key `{key}` should be a float, found {other:?}"),
            )),
        }
    }

    /// A boolean value, or `default` when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, EngineError> {
        match self.content.metadata.get(key) {
            None => Ok(default),
            Some(v) => v.to_bool().map_err(|e| self.wrong_type(key, e)),
        }
    }

    /// Whether a key is present.
    pub fn has(&self, key: &str) -> bool {
        self.content.metadata.contains_key(key)
    }

    fn string_array(&self, key: &str) -> Result<Vec<String>, EngineError> {
        let arr = self
            .get(key)?
            .to_vec()
            .map_err(|e| self.wrong_type(key, e))?;
        arr.iter()
            .map(|v| v.to_string().cloned().map_err(|e| self.wrong_type(key, e)))
            .collect()
    }

    fn int_array(&self, key: &str) -> Result<Vec<i32>, EngineError> {
        let arr = self
            .get(key)?
            .to_vec()
            .map_err(|e| self.wrong_type(key, e))?;
        arr.iter()
            .map(|v| v.to_i32().map_err(|e| self.wrong_type(key, e)))
            .collect()
    }

    fn opt_id(&self, key: &str) -> Result<Option<u32>, EngineError> {
        if self.has(key) {
            Ok(Some(self.uint(key)? as u32))
        } else {
            Ok(None)
        }
    }

    /// The tokenizer description in `tokenizer.ggml.*`.
    pub fn vocab(&self) -> Result<BpeVocab, EngineError> {
        let model = self.string("tokenizer.ggml.model")?;
        let pre = if self.has("tokenizer.ggml.pre") {
            self.string("tokenizer.ggml.pre")?
        } else {
            "default".to_string()
        };
        let tokens = self.string_array("tokenizer.ggml.tokens")?;
        let token_types = if self.has("tokenizer.ggml.token_type") {
            self.int_array("tokenizer.ggml.token_type")?
        } else {
            Vec::new()
        };
        let merges = if self.has("tokenizer.ggml.merges") {
            self.string_array("tokenizer.ggml.merges")?
        } else {
            Vec::new()
        };
        Ok(BpeVocab {
            model,
            pre,
            tokens,
            token_types,
            merges,
            bos: self.opt_id("tokenizer.ggml.bos_token_id")?,
            eos: self.opt_id("tokenizer.ggml.eos_token_id")?,
            eot: self
                .opt_id("tokenizer.ggml.eot_token_id")?
                .into_iter()
                .collect(),
            add_bos: self.bool_or("tokenizer.ggml.add_bos_token", false)?,
            add_eos: self.bool_or("tokenizer.ggml.add_eos_token", false)?,
        })
    }

    /// The chat template, if the file has one.
    pub fn chat_template(&self) -> Result<Option<String>, EngineError> {
        if self.has("tokenizer.chat_template") {
            Ok(Some(self.string("tokenizer.chat_template")?))
        } else {
            Ok(None)
        }
    }
}
