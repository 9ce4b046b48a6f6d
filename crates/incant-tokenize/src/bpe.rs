//! Byte-level BPE as GGUF files describe it, encoding to the same ids as llama.cpp.
//!
//! The steps follow llama.cpp's `llama_vocab::tokenize` for `tokenizer.ggml.model = gpt2`:
//! 1. Special tokens are cut out of the text first, longest first (control tokens only when
//!    the caller asks to parse them; user-defined tokens always).
//! 2. Each remaining fragment is split into words by the [`PreTokenizer`].
//! 3. Each word is mapped to its byte-level string and merged pair by pair, lowest merge rank
//!    first (leftmost on ties), until no ranked pair remains.
//! 4. Each resulting symbol becomes its token id, or one id per byte when the vocabulary does
//!    not have it.

use crate::bytes;
use crate::pretokenize::PreTokenizer;
use crate::TokenizeError;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The kind of a token, as stored in `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    /// An ordinary vocabulary entry.
    Normal,
    /// The unknown token.
    Unknown,
    /// A control token such as `<|im_start|>`: only parsed from text when asked.
    Control,
    /// A token added by the model's authors, always parsed from text.
    UserDefined,
    /// A placeholder.
    Unused,
    /// A raw byte (`<0x0A>`).
    Byte,
}

impl TokenType {
    /// Maps llama.cpp's numeric token types (1 normal ... 6 byte).
    pub fn from_gguf(value: i32) -> Self {
        match value {
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Normal,
        }
    }
}

/// Everything the GGUF metadata says about a tokenizer.
#[derive(Debug, Clone, Default)]
pub struct BpeVocab {
    /// `tokenizer.ggml.model`, e.g. `gpt2`.
    pub model: String,
    /// `tokenizer.ggml.pre`, e.g. `smollm`.
    pub pre: String,
    /// `tokenizer.ggml.tokens`.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type` (empty: all normal).
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`, each `"left right"`.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.eot_token_id` and other end-of-generation tokens.
    pub eot: Vec<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
    /// `tokenizer.ggml.add_eos_token`.
    pub add_eos: bool,
}

/// A byte-level BPE tokenizer.
#[derive(Debug)]
pub struct BpeTokenizer {
    tokens: Vec<String>,
    types: Vec<TokenType>,
    ids: HashMap<String, u32>,
    /// Merge ranks keyed by `"left right"`.
    ranks: HashMap<String, u32>,
    pre: PreTokenizer,
    /// Special tokens (control, user-defined, unknown), longest text first.
    specials: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    end_of_generation: Vec<u32>,
    add_bos: bool,
    add_eos: bool,
}

impl BpeTokenizer {
    /// Builds the tokenizer from GGUF metadata.
    pub fn new(vocab: BpeVocab) -> Result<Self, TokenizeError> {
        if vocab.model != "gpt2" {
            return Err(TokenizeError::UnsupportedModel(vocab.model));
        }
        let pre = PreTokenizer::from_gguf_name(&vocab.pre).ok_or_else(|| {
            TokenizeError::UnsupportedPreTokenizer {
                found: vocab.pre.clone(),
                supported: PreTokenizer::SUPPORTED.to_string(),
            }
        })?;
        let n = vocab.tokens.len();
        if n == 0 {
            return Err(TokenizeError::InvalidVocab("no tokens".into()));
        }
        if !vocab.token_types.is_empty() && vocab.token_types.len() != n {
            return Err(TokenizeError::InvalidVocab(format!(
                "{} token types for {} tokens",
                vocab.token_types.len(),
                n
            )));
        }
        let types: Vec<TokenType> = (0..n)
            .map(|i| {
                vocab
                    .token_types
                    .get(i)
                    .map_or(TokenType::Normal, |&t| TokenType::from_gguf(t))
            })
            .collect();
        let mut ids = HashMap::with_capacity(n);
        for (i, t) in vocab.tokens.iter().enumerate() {
            ids.entry(t.clone()).or_insert(i as u32);
        }
        let mut ranks = HashMap::with_capacity(vocab.merges.len());
        for (rank, m) in vocab.merges.iter().enumerate() {
            // llama.cpp splits at the first space after the first character.
            let split = m
                .char_indices()
                .skip(1)
                .find(|&(_, c)| c == ' ')
                .map(|(i, _)| i)
                .ok_or_else(|| TokenizeError::InvalidVocab(format!("merge `{m}` has no space")))?;
            let key = format!("{} {}", &m[..split], &m[split + 1..]);
            ranks.entry(key).or_insert(rank as u32);
        }
        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                matches!(
                    types[i as usize],
                    TokenType::Control | TokenType::UserDefined | TokenType::Unknown
                ) && !vocab.tokens[i as usize].is_empty()
            })
            .collect();
        specials.sort_by_key(|&i| Reverse(vocab.tokens[i as usize].len()));
        for id in [vocab.bos, vocab.eos].into_iter().flatten() {
            if id as usize >= n {
                return Err(TokenizeError::InvalidVocab(format!(
                    "special token id {id} is outside the vocabulary of {n}"
                )));
            }
        }
        let mut end_of_generation: Vec<u32> = vocab.eos.into_iter().chain(vocab.eot).collect();
        end_of_generation.dedup();
        Ok(Self {
            tokens: vocab.tokens,
            types,
            ids,
            ranks,
            pre,
            specials,
            bos: vocab.bos,
            eos: vocab.eos,
            end_of_generation,
            add_bos: vocab.add_bos,
            add_eos: vocab.add_eos,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The beginning-of-sequence token, if the model has one.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The end-of-sequence token, if the model has one.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether generating `id` ends the reply (EOS, EOT).
    pub fn is_end_of_generation(&self, id: u32) -> bool {
        self.end_of_generation.contains(&id)
    }

    /// The token's text as stored in the vocabulary (`Ġthe`), if `id` exists.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a token whose vocabulary text is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// The token's type.
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// Encodes text as llama.cpp's `llama_tokenize(text, add_special, parse_special)` does.
    ///
    /// `add_special` adds BOS/EOS where the model asks for them; `parse_special` turns the
    /// text of control tokens (such as `<|im_start|>`) into those tokens.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut words = Vec::new();
        let mut scratch = Scratch::default();
        for fragment in self.partition_specials(text, parse_special) {
            match fragment {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(range) => {
                    let text = &text[range];
                    words.clear();
                    self.pre.split(text, &mut words);
                    for w in &words {
                        self.encode_word(&text[w.clone()], &mut scratch, &mut out);
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// The bytes a token stands for. Control tokens give their text when `special` is set
    /// and nothing otherwise (as llama.cpp's `token_to_piece`).
    pub fn token_bytes(
        &self,
        id: u32,
        special: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), TokenizeError> {
        let token = self
            .tokens
            .get(id as usize)
            .ok_or(TokenizeError::UnknownId {
                id,
                size: self.tokens.len(),
            })?;
        match self.types[id as usize] {
            TokenType::Normal => bytes::decode_token(token, out),
            TokenType::UserDefined => out.extend_from_slice(token.as_bytes()),
            TokenType::Control | TokenType::Unknown if special => {
                out.extend_from_slice(token.as_bytes())
            }
            TokenType::Byte => {
                if let Some(b) = token
                    .strip_prefix("<0x")
                    .and_then(|s| s.strip_suffix('>'))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(b);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Decodes ids to text (invalid UTF-8 replaced by U+FFFD).
    pub fn decode(&self, ids: &[u32], special: bool) -> Result<String, TokenizeError> {
        let mut bytes = Vec::new();
        for &id in ids {
            self.token_bytes(id, special, &mut bytes)?;
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn partition_specials(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut fragments = vec![Fragment::Text(0..text.len())];
        for &id in &self.specials {
            let ty = self.types[id as usize];
            if !parse_special && matches!(ty, TokenType::Control | TokenType::Unknown) {
                continue;
            }
            let needle = self.tokens[id as usize].as_str();
            let mut next = Vec::with_capacity(fragments.len());
            for f in fragments {
                let Fragment::Text(range) = f else {
                    next.push(f);
                    continue;
                };
                let mut start = range.start;
                let hay = &text[range.clone()];
                for (off, _) in hay.match_indices(needle) {
                    let at = range.start + off;
                    if at > start {
                        next.push(Fragment::Text(start..at));
                    }
                    next.push(Fragment::Token(id));
                    start = at + needle.len();
                }
                if start < range.end {
                    next.push(Fragment::Text(start..range.end));
                }
            }
            fragments = next;
        }
        fragments
    }

    fn encode_word(&self, word: &str, s: &mut Scratch, out: &mut Vec<u32>) {
        s.encoded.clear();
        bytes::encode_bytes(word.as_bytes(), &mut s.encoded);
        let enc = s.encoded.as_str();
        // Symbols are char ranges of `enc`, kept as a doubly linked list.
        s.symbols.clear();
        let mut prev: isize = -1;
        let mut iter = enc.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            let len = c.len_utf8();
            let next = if iter.peek().is_some() {
                s.symbols.len() as isize + 1
            } else {
                -1
            };
            s.symbols.push(Symbol {
                start: i,
                len,
                prev,
                next,
            });
            prev = s.symbols.len() as isize - 1;
        }
        s.queue.clear();
        for i in 1..s.symbols.len() {
            self.push_pair(enc, &s.symbols, i - 1, i, &mut s.queue, &mut s.key);
        }
        while let Some(Reverse((_, left, right, size))) = s.queue.pop() {
            let (l, r) = (&s.symbols[left], &s.symbols[right]);
            // Skip pairs that changed since they were queued.
            if l.len == 0 || r.len == 0 || l.len + r.len != size || l.next != right as isize {
                continue;
            }
            let r_next = r.next;
            let r_len = r.len;
            s.symbols[left].len += r_len;
            s.symbols[left].next = r_next;
            s.symbols[right].len = 0;
            if r_next >= 0 {
                s.symbols[r_next as usize].prev = left as isize;
            }
            let lp = s.symbols[left].prev;
            if lp >= 0 {
                self.push_pair(enc, &s.symbols, lp as usize, left, &mut s.queue, &mut s.key);
            }
            if r_next >= 0 {
                self.push_pair(
                    enc,
                    &s.symbols,
                    left,
                    r_next as usize,
                    &mut s.queue,
                    &mut s.key,
                );
            }
        }
        let mut i: isize = if s.symbols.is_empty() { -1 } else { 0 };
        while i >= 0 {
            let sym = &s.symbols[i as usize];
            let piece = &enc[sym.start..sym.start + sym.len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in word_bytes(piece) {
                        let mut tmp = [0u8; 4];
                        let key = bytes::byte_to_char(b).encode_utf8(&mut tmp);
                        if let Some(&id) = self.ids.get(&*key) {
                            out.push(id);
                        }
                    }
                }
            }
            i = sym.next;
        }
    }

    fn push_pair(
        &self,
        enc: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Reverse<(u32, usize, usize, usize)>>,
        key: &mut String,
    ) {
        let (l, r) = (&symbols[left], &symbols[right]);
        key.clear();
        key.push_str(&enc[l.start..l.start + l.len]);
        key.push(' ');
        key.push_str(&enc[r.start..r.start + r.len]);
        if let Some(&rank) = self.ranks.get(key.as_str()) {
            queue.push(Reverse((rank, left, right, l.len + r.len)));
        }
    }
}

/// The original bytes of a byte-level piece.
fn word_bytes(piece: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(piece.len());
    bytes::decode_token(piece, &mut v);
    v
}

enum Fragment {
    Token(u32),
    Text(std::ops::Range<usize>),
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: isize,
    next: isize,
}

/// Buffers reused across words so encoding does not allocate per word.
#[derive(Default)]
struct Scratch {
    encoded: String,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Reverse<(u32, usize, usize, usize)>>,
    key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> BpeTokenizer {
        let mut tokens: Vec<String> = vec!["<|end|>".into()];
        tokens.extend((0..=255u8).map(|b| bytes::byte_to_char(b).to_string()));
        for t in ["he", "ll", "hell", "hello", "Ġw", "Ġwo"] {
            tokens.push(t.into());
        }
        let mut types = vec![1; tokens.len()];
        types[0] = 3;
        BpeTokenizer::new(BpeVocab {
            model: "gpt2".into(),
            pre: "gpt2".into(),
            tokens,
            token_types: types,
            merges: ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"]
                .map(String::from)
                .to_vec(),
            eos: Some(0),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn merges_apply_by_rank() {
        let t = toy();
        let ids = t.encode("hello wo", false, false);
        let texts: Vec<_> = ids.iter().map(|&i| t.token_text(i).unwrap()).collect();
        assert_eq!(texts, ["hello", "Ġwo"]);
        assert_eq!(t.decode(&ids, false).unwrap(), "hello wo");
    }

    #[test]
    fn control_tokens_only_parsed_on_request() {
        let t = toy();
        assert_eq!(t.encode("he<|end|>", false, true), vec![257, 0]);
        assert!(t.encode("he<|end|>", false, false).len() > 2);
    }

    #[test]
    fn unknown_id_is_an_error() {
        assert!(toy().decode(&[99_999], false).is_err());
    }
}
