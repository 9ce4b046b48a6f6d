//! Text in the embedded font: measuring, wrapping and drawing labels.
//!
//! Labels are set in Roboto Regular (Apache-2.0, `assets/`), the font A1111's grids use,
//! compiled into the binary so a sheet looks the same everywhere and needs no system font.
//! Sizes are em sizes in pixels, like PIL's `ImageFont.truetype(font, size)`. Wrapping is
//! A1111's: words are added to a line while it fits; a single word wider than the line is
//! broken between characters so nothing is drawn outside its cell.

use crate::canvas::{Canvas, Rgb};
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use std::sync::LazyLock;

static FONT_BYTES: &[u8] = include_bytes!("../assets/Roboto-Regular.ttf");

static FONT: LazyLock<FontRef<'static>> =
    LazyLock::new(|| FontRef::try_from_slice(FONT_BYTES).expect("the embedded Roboto font parses"));

fn scale(size: f32) -> PxScale {
    FONT.pt_to_px_scale(size).unwrap_or(PxScale::from(size))
}

/// Width of `text` on one line at em size `size`.
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
    let font = FONT.as_scaled(scale(size));
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            w += font.kern(p, id);
        }
        w += font.h_advance(id);
        prev = Some(id);
    }
    w
}

/// Height of one line (ascent to descent) at em size `size`.
pub(crate) fn line_height(size: f32) -> f32 {
    let font = FONT.as_scaled(scale(size));
    font.ascent() - font.descent()
}

/// Wraps `text` into lines no wider than `max_width`.
pub(crate) fn wrap(text: &str, size: f32, max_width: f32) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("lines is never empty");
        let candidate = if last.is_empty() {
            word.to_string()
        } else {
            format!("{last} {word}")
        };
        if text_width(&candidate, size) <= max_width {
            *last = candidate;
            continue;
        }
        if last.is_empty() {
            lines.pop();
        }
        // The word starts a new line; break it if it alone is too wide.
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if text_width(&piece, size) > max_width && piece.chars().count() > 1 {
                piece.pop();
                lines.push(std::mem::take(&mut piece));
                piece.push(c);
            }
        }
        lines.push(piece);
    }
    lines
}

/// Draws one line with its top-left corner at (x, y).
pub(crate) fn draw_text(canvas: &mut Canvas, text: &str, x: f32, y: f32, size: f32, color: Rgb) {
    let sc = scale(size);
    let font = FONT.as_scaled(sc);
    let baseline = y + font.ascent();
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            caret += font.kern(p, id);
        }
        let glyph = id.with_scale_and_position(sc, point(caret, baseline));
        caret += font.h_advance(id);
        prev = Some(id);
        if let Some(outlined) = FONT.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                canvas.blend(
                    b.min.x as i64 + i64::from(gx),
                    b.min.y as i64 + i64::from(gy),
                    color,
                    cov,
                );
            });
        }
    }
}

/// Draws one line centred on (cx, cy).
pub(crate) fn draw_text_centered(
    canvas: &mut Canvas,
    text: &str,
    cx: f32,
    cy: f32,
    size: f32,
    color: Rgb,
) {
    let w = text_width(text, size);
    draw_text(
        canvas,
        text,
        cx - w / 2.0,
        cy - line_height(size) / 2.0,
        size,
        color,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::{BLACK, WHITE};

    #[test]
    fn wraps_to_width_and_breaks_long_words() {
        let lines = wrap("a photo of a cat sitting on a red chair", 20.0, 120.0);
        assert!(lines.len() > 1);
        assert!(
            lines.iter().all(|l| text_width(l, 20.0) <= 120.0),
            "{lines:?}"
        );
        let lines = wrap("supercalifragilisticexpialidocious", 20.0, 60.0);
        assert!(
            lines.len() > 2 && lines.iter().all(|l| text_width(l, 20.0) <= 60.0),
            "{lines:?}"
        );
    }

    #[test]
    fn draws_ink() {
        let mut c = Canvas::new(100, 40, WHITE);
        draw_text(&mut c, "Seed: 5", 2.0, 2.0, 20.0, BLACK);
        assert!(c.px.iter().any(|&v| v < 100));
    }
}
