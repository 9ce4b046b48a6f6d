//! Incremental UTF-8 decoding for streamed generation.
//!
//! A byte-level BPE token can end in the middle of a multi-byte character (an emoji is often
//! split over two or three tokens). Streaming must not print half a character, so the bytes
//! of generated tokens go through a [`Utf8Stream`], which returns only complete characters
//! and keeps an unfinished tail for the next token. Bytes that can never become valid UTF-8
//! are replaced by U+FFFD, exactly once each, as `String::from_utf8_lossy` would.

/// Buffers bytes and yields the longest complete UTF-8 prefix.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// A new, empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the text that is now complete (possibly empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(
                        std::str::from_utf8(&self.pending[..valid]).expect("checked prefix"),
                    );
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_split_over_pushes_comes_out_whole() {
        let bytes = "a😀b".as_bytes();
        let mut s = Utf8Stream::new();
        let mut got = Vec::new();
        for b in bytes {
            got.push(s.push(&[*b]));
        }
        assert_eq!(got, ["a", "", "", "", "😀", "b"]);
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_chars() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(&[b'x', 0xFF, b'y']), "x\u{FFFD}y");
        assert_eq!(s.push(&[0xE2, 0x82]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }
}
