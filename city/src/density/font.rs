//! The text of the pictures ([`super::render`]): drawn from the system's CJK font (Debian's
//! `fonts-wqy-microhei`, or `fonts-noto-cjk`) with `ab_glyph`, so Chinese names, titles and
//! legends show as written.
//!
//! Without such a font a Chinese picture is refused ([`NoFont`], naming the package to
//! install), never drawn with holes where the words should be. An English picture falls back
//! to an 8×8 bitmap font, ASCII only (non-ASCII letters of names are left out), so a bare
//! machine still gets a readable map. `LINTEL_CITY_FONT` names another font file (TTF, OTF or
//! the first face of a TTC).

use std::path::Path;
use std::sync::{Arc, LazyLock};

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use lintel_http::i18n::Language;
use tiny_skia::{Paint, Pixmap, PremultipliedColorU8, Rect, Transform};

/// The Debian package a Chinese picture needs.
pub const FONT_PACKAGE: &str = "fonts-wqy-microhei";

/// Where Debian puts the CJK fonts, in order of preference (the first found is used).
pub const FONT_FILES: [&str; 3] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// The environment variable naming a font file instead of [`FONT_FILES`].
pub const FONT_ENV: &str = "LINTEL_CITY_FONT";

/// No font to draw Chinese with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a Chinese picture needs a CJK font: install Debian's {FONT_PACKAGE} ({looked})")]
pub struct NoFont {
    /// What was tried, and why it failed.
    pub looked: String,
}

/// The system's CJK font, read once per process.
static SYSTEM_FONT: LazyLock<Result<Arc<FontVec>, NoFont>> = LazyLock::new(|| {
    let candidates: Vec<String> = match std::env::var(FONT_ENV) {
        Ok(file) if !file.is_empty() => vec![file],
        _ => FONT_FILES.iter().map(|f| f.to_string()).collect(),
    };
    let mut looked = Vec::new();
    for file in &candidates {
        match std::fs::read(Path::new(file)) {
            // The first face of a collection (.ttc): the regular weight, Simplified Chinese.
            Ok(bytes) => match FontVec::try_from_vec_and_index(bytes, 0) {
                Ok(font) => return Ok(Arc::new(font)),
                Err(e) => looked.push(format!("{file}: not a font: {e}")),
            },
            Err(e) => looked.push(format!("{file}: {e}")),
        }
    }
    Err(NoFont { looked: looked.join("; ") })
});

/// What a picture's text is drawn with.
#[derive(Clone)]
pub enum Pen {
    /// An outline font: every script it has.
    Outline(Arc<FontVec>),
    /// The 8×8 bitmap font: ASCII only.
    Bitmap,
}

impl Pen {
    /// The pen for a picture in `language`: the system's CJK font; for English, the bitmap font
    /// when there is none.
    pub fn for_language(language: Language) -> Result<Pen, NoFont> {
        match (&*SYSTEM_FONT, language) {
            (Ok(font), _) => Ok(Pen::Outline(Arc::clone(font))),
            (Err(_), Language::English) => Ok(Pen::Bitmap),
            (Err(e), Language::Chinese) => Err(e.clone()),
        }
    }

    /// The bitmap font's scale for a text of `size` pixels: 16 px wide letters for the labels
    /// and the title, 8 px for small print (its letters are twice as wide as an outline font's).
    fn bitmap_scale(size: f32) -> f32 {
        if size >= 15.0 { 2.0 } else { 1.0 }
    }

    /// The width of `text` at `size` pixels.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        match self {
            Pen::Outline(font) => {
                let font = font.as_scaled(PxScale::from(size));
                text.chars().map(|c| font.h_advance(font.glyph_id(c))).sum()
            }
            Pen::Bitmap => ascii(text).len() as f32 * 8.0 * Self::bitmap_scale(size),
        }
    }

    /// Draws `text` at `size` pixels in `rgb`, its box's top left at `x`, `y`.
    pub fn draw(&self, pixmap: &mut Pixmap, x: f32, y: f32, text: &str, size: f32, rgb: [u8; 3]) {
        match self {
            Pen::Outline(font) => outline(pixmap, font, x, y, text, size, rgb),
            Pen::Bitmap => bitmap(pixmap, x, y, &ascii(text), Self::bitmap_scale(size), rgb),
        }
    }

    /// Draws `text` on a light box, readable over any fill.
    pub fn draw_boxed(&self, pixmap: &mut Pixmap, x: f32, y: f32, text: &str, size: f32, rgb: [u8; 3]) {
        if let Some(rect) = Rect::from_xywh(x - 3.0, y - 1.0, self.width(text, size) + 6.0, size * 1.25 + 2.0) {
            let mut paint = Paint::default();
            paint.set_color_rgba8(255, 255, 255, 215);
            pixmap.fill_rect(rect, &paint, Transform::identity(), None);
        }
        self.draw(pixmap, x, y, text, size, rgb);
    }
}

fn outline(pixmap: &mut Pixmap, font: &FontVec, x: f32, y: f32, text: &str, size: f32, rgb: [u8; 3]) {
    let scaled = font.as_scaled(PxScale::from(size));
    let baseline = y + scaled.ascent();
    let (width, height) = (pixmap.width() as i64, pixmap.height() as i64);
    let pixels = pixmap.pixels_mut();
    let mut caret = x;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(PxScale::from(size), point(caret, baseline));
        caret += scaled.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let (px, py) = (bounds.min.x as i64 + i64::from(gx), bounds.min.y as i64 + i64::from(gy));
            if px < 0 || py < 0 || px >= width || py >= height {
                return;
            }
            let pixel = &mut pixels[(py * width + px) as usize];
            let a = coverage.clamp(0.0, 1.0);
            let blend = |src: u8, dst: u8| (f32::from(src) * a + f32::from(dst) * (1.0 - a)).round() as u8;
            let alpha = blend(255, pixel.alpha());
            // Premultiplied: the background's colour is already scaled by its alpha.
            let (r, g, b) = (
                blend(rgb[0], pixel.red()).min(alpha),
                blend(rgb[1], pixel.green()).min(alpha),
                blend(rgb[2], pixel.blue()).min(alpha),
            );
            if let Some(mixed) = PremultipliedColorU8::from_rgba(r, g, b, alpha) {
                *pixel = mixed;
            }
        });
    }
}

/// Only the ASCII characters of `text` (the bitmap font has no others), spaces squeezed.
pub fn ascii(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Draws ASCII text with the 8×8 bitmap font, each font pixel `scale`×`scale`.
fn bitmap(pixmap: &mut Pixmap, x: f32, y: f32, text: &str, scale: f32, rgb: [u8; 3]) {
    use font8x8::UnicodeFonts;
    let mut paint = Paint::default();
    paint.set_color_rgba8(rgb[0], rgb[1], rgb[2], 255);
    for (i, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else { continue };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0
                    && let Some(rect) =
                        Rect::from_xywh(x + (i as f32 * 8.0 + col as f32) * scale, y + row as f32 * scale, scale, scale)
                {
                    pixmap.fill_rect(rect, &paint, Transform::identity(), None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitmap_pen_draws_ascii_and_measures_what_it_draws() {
        assert_eq!(ascii("第一网格 West  wg-01"), "West wg-01");
        assert_eq!(Pen::Bitmap.width("第一 ab", 16.0), 2.0 * 16.0);
        let mut pixmap = Pixmap::new(40, 20).unwrap();
        pixmap.fill(tiny_skia::Color::WHITE);
        Pen::Bitmap.draw(&mut pixmap, 0.0, 0.0, "第", 16.0, [0, 0, 0]);
        assert!(pixmap.pixels().iter().all(|p| p.red() == 255), "no glyph for a Chinese letter");
        Pen::Bitmap.draw(&mut pixmap, 0.0, 0.0, "A", 16.0, [0, 0, 0]);
        assert!(pixmap.pixels().iter().any(|p| p.red() == 0));
    }
}
