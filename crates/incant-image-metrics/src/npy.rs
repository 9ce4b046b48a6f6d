//! Reading an `N x D` feature matrix from a NumPy `.npy` file.
//!
//! `incant metrics fid A B` accepts feature matrices that users saved with `np.save` (from
//! their own Inception or CLIP runs). The format is a magic string, a version, a Python
//! dict literal header (`descr`, `fortran_order`, `shape`) and the raw array. Supported:
//! versions 1 to 3, `float32` and `float64` in either byte order, C or Fortran order, and
//! a 2-D shape (a 1-D array is one row). Anything else is an error that says what was found.

use std::path::Path;

use crate::error::{MetricsError, Result};
use crate::features::Features;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file into checked features; the path names the set in errors.
pub fn read_npy(path: &Path) -> Result<Features> {
    let name = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| npy_error(&name, format!("cannot read it: {e}")))?;
    parse_npy(&name, &bytes)
}

/// Parses `.npy` bytes; `name` labels the set in errors.
pub fn parse_npy(name: &str, bytes: &[u8]) -> Result<Features> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err(npy_error(
            name,
            "not a .npy file (no \\x93NUMPY magic); save features with np.save".into(),
        ));
    }
    let major = bytes[6];
    let (header_len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(npy_error(name, format!("unsupported .npy version {major}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| npy_error(name, "the header is cut short".into()))?;
    let header = std::str::from_utf8(header)
        .map_err(|_| npy_error(name, "the header is not text".into()))?;
    let descr = dict_value(header, "descr")
        .ok_or_else(|| npy_error(name, "the header has no 'descr'".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order")
        .ok_or_else(|| npy_error(name, "no 'fortran_order'".into()))?;
    let shape = dict_value(header, "shape")
        .ok_or_else(|| npy_error(name, "the header has no 'shape'".into()))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| npy_error(name, format!("bad shape {shape}")))
        })
        .collect::<Result<_>>()?;
    let (rows, cols) = match dims[..] {
        [n] => (1, n),
        [n, d] => (n, d),
        _ => {
            return Err(npy_error(
                name,
                format!("shape {shape}: features must be a 2-D N x D matrix"),
            ));
        }
    };
    let width = match &descr[1..] {
        "f4" => 4,
        "f8" => 8,
        _ => {
            return Err(npy_error(
                name,
                format!("dtype '{descr}': features must be float32 or float64"),
            ));
        }
    };
    let big = match descr.as_bytes()[0] {
        b'<' | b'=' | b'|' => false,
        b'>' => true,
        _ => {
            return Err(npy_error(
                name,
                format!("dtype '{descr}': unknown byte order"),
            ))
        }
    };
    let body = &bytes[start + header_len..];
    let count = rows * cols;
    if body.len() != count * width {
        return Err(npy_error(
            name,
            format!(
                "shape {shape} needs {} bytes of data, the file has {}",
                count * width,
                body.len()
            ),
        ));
    }
    let values: Vec<f64> = body
        .chunks_exact(width)
        .map(|c| match (width, big) {
            (4, false) => f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))),
            (4, true) => f64::from(f32::from_be_bytes(c.try_into().expect("4 bytes"))),
            (_, false) => f64::from_le_bytes(c.try_into().expect("8 bytes")),
            (_, true) => f64::from_be_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    let data = if fortran.trim() == "True" {
        // Column-major on disk: value (i, j) is at j * rows + i.
        (0..count)
            .map(|k| values[(k % cols) * rows + k / cols])
            .collect()
    } else {
        values
    };
    Features::from_flat(name, data, cols)
}

/// The text after `'key':` in a Python dict literal, up to the next top-level comma.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    None
}

fn npy_error(name: &str, detail: String) -> MetricsError {
    MetricsError::Npy {
        file: name.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn header_values_are_found() {
        let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
        assert_eq!(dict_value(h, "shape"), Some("(3, 2)"));
        assert_eq!(dict_value(h, "descr"), Some("'<f4'"));
        assert_eq!(dict_value(h, "fortran_order"), Some("False"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = parse_npy("a.npy", b"PK\x03\x04 not npy").unwrap_err();
        assert!(err.to_string().contains("no \\x93NUMPY magic"), "{err}");
        let ints = npy(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 8],
        );
        assert!(parse_npy("a.npy", &ints)
            .unwrap_err()
            .to_string()
            .contains("float32 or float64"));
        let cube = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }",
            &[0; 4],
        );
        assert!(parse_npy("a.npy", &cube)
            .unwrap_err()
            .to_string()
            .contains("2-D"));
        let short = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[0; 12],
        );
        let err = parse_npy("a.npy", &short).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs 16 bytes of data, the file has 12"),
            "{err}"
        );
        let nan = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &f64::NAN.to_le_bytes(),
        );
        assert!(matches!(
            parse_npy("a.npy", &nan),
            Err(MetricsError::NonFinite { .. })
        ));
    }
}
