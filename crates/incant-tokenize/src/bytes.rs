//! GPT-2's reversible mapping between bytes and printable unicode characters.
//!
//! Byte-level BPE vocabularies store tokens as strings in which every byte of the original
//! UTF-8 text is replaced by one printable character (a space becomes `Ġ`, a newline `Ċ`).
//! Encoding maps each byte of a pre-tokenized word through this table before the merges run;
//! decoding maps the characters of each token back to bytes.

use std::sync::OnceLock;

struct Tables {
    to_char: [char; 256],
    to_byte: std::collections::HashMap<char, u8>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut to_char = ['\0'; 256];
        let printable = |b: u32| {
            (u32::from(b'!')..=u32::from(b'~')).contains(&b)
                || (0xA1..=0xAC).contains(&b)
                || (0xAE..=0xFF).contains(&b)
        };
        let mut next = 256u32;
        for b in 0u32..256 {
            let c = if printable(b) {
                b
            } else {
                let c = next;
                next += 1;
                c
            };
            to_char[b as usize] = char::from_u32(c).expect("table values are valid chars");
        }
        let to_byte = to_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        Tables { to_char, to_byte }
    })
}

/// The printable character that stands for byte `b`.
pub fn byte_to_char(b: u8) -> char {
    tables().to_char[b as usize]
}

/// The byte a printable character stands for, if it is one of the 256 table characters.
pub fn char_to_byte(c: char) -> Option<u8> {
    tables().to_byte.get(&c).copied()
}

/// Encodes raw bytes as the byte-level string used by the vocabulary.
pub fn encode_bytes(bytes: &[u8], out: &mut String) {
    out.extend(bytes.iter().map(|&b| byte_to_char(b)));
}

/// Decodes a byte-level token string back to bytes; characters outside the table are kept
/// as their UTF-8 bytes (llama.cpp does the same for added tokens).
pub fn decode_token(token: &str, out: &mut Vec<u8>) {
    for c in token.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_and_newline_map_like_gpt2() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
    }

    #[test]
    fn table_round_trips_every_byte() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
    }
}
