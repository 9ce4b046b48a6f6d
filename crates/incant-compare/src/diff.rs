//! A word-level diff of two outputs, for the side-by-side view of the HTML report.
//!
//! Texts are split into words and the whitespace between them (so joining the pieces
//! gives the text back), and the longest common subsequence of the two piece lists decides
//! what was kept, removed and added. The LCS table is quadratic; outputs longer than
//! [`MAX_PIECES`] pieces are shown as wholly replaced instead of diffed.

/// Longer texts are not diffed (the table would be too large).
pub const MAX_PIECES: usize = 4000;

/// One piece of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// In both texts.
    Same(&'a str),
    /// Only in the old text.
    Removed(&'a str),
    /// Only in the new text.
    Added(&'a str),
}

/// Words and the runs of whitespace between them, in order.
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_space: Option<bool> = None;
    for (i, ch) in text.char_indices() {
        let space = ch.is_whitespace();
        if prev_space.is_some_and(|p| p != space) {
            out.push(&text[start..i]);
            start = i;
        }
        prev_space = Some(space);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The word diff from `old` to `new`.
pub fn word_diff<'a>(old: &'a str, new: &'a str) -> Vec<Piece<'a>> {
    let a = tokens(old);
    let b = tokens(new);
    if a.len() > MAX_PIECES || b.len() > MAX_PIECES {
        let mut out: Vec<Piece> = Vec::new();
        if !old.is_empty() {
            out.push(Piece::Removed(old));
        }
        if !new.is_empty() {
            out.push(Piece::Added(new));
        }
        return out;
    }
    // lcs[i][j]: LCS length of a[i..] and b[j..].
    let w = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * w + j] = if a[i] == b[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Piece::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
            out.push(Piece::Removed(a[i]));
            i += 1;
        } else {
            out.push(Piece::Added(b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_rejoin_to_the_text() {
        for t in ["", "a", " a  b\n", "héllo wörld", "x\t\ty "] {
            assert_eq!(tokens(t).concat(), t);
        }
        assert_eq!(tokens("a  bc d"), ["a", "  ", "bc", " ", "d"]);
    }

    #[test]
    fn diff_marks_changed_words() {
        let d = word_diff("the cat sat", "the dog sat");
        assert_eq!(
            d,
            [
                Piece::Same("the"),
                Piece::Same(" "),
                Piece::Removed("cat"),
                Piece::Added("dog"),
                Piece::Same(" "),
                Piece::Same("sat"),
            ]
        );
        let old: String = d
            .iter()
            .filter_map(|p| match p {
                Piece::Same(s) | Piece::Removed(s) => Some(*s),
                Piece::Added(_) => None,
            })
            .collect();
        assert_eq!(old, "the cat sat");
        assert_eq!(word_diff("", "new"), [Piece::Added("new")]);
    }
}
