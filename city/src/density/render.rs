//! The density map as a picture (`lintel-city render --out map.png|map.svg`): the cells
//! coloured by occupancy (fresh buildings only; grey where no building is fresh), buildings as
//! points or footprints (hollow when stale), a legend and the time. The same colours as the map
//! page, which reads them from [`legend`](super::legend) through the GeoJSON.
//!
//! PNG labels use an 8×8 bitmap font (ASCII only: cell names are shown by id there); the SVG
//! carries the full names.

use std::fmt::Write as _;

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use super::grid::{Footprint, Grid, LonLat, centroid};
use super::legend::NO_DATA_COLOUR;
use super::snapshot::Snapshot;

/// What went wrong drawing or writing the picture.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}: the output must end in .png or .svg")]
    Format(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

const WIDTH: f32 = 1000.0;
const PANEL: f32 = 260.0;
const MARGIN: f32 = 30.0;
const TITLE: f32 = 50.0;

/// Longitude, latitude → pixels, keeping distances true at the grid's latitude.
struct Projection {
    west: f64,
    north: f64,
    scale: f64,
    cos_lat: f64,
    height: f32,
}

impl Projection {
    fn new(grid: &Grid) -> Self {
        let [w, s, e, n] = grid.bounds();
        let cos_lat = ((s + n) / 2.0).to_radians().cos();
        let (dx, dy) = (((e - w) * cos_lat).max(1e-9), (n - s).max(1e-9));
        let scale = f64::from(WIDTH - 2.0 * MARGIN) / dx;
        let height = (dy * scale) as f32 + 2.0 * MARGIN + TITLE;
        Self { west: w, north: n, scale, cos_lat, height: height.max(300.0) }
    }

    fn xy(&self, p: &LonLat) -> (f32, f32) {
        (
            MARGIN + ((p[0] - self.west) * self.cos_lat * self.scale) as f32,
            TITLE + MARGIN + ((self.north - p[1]) * self.scale) as f32,
        )
    }
}

/// Writes the picture to `path`, PNG or SVG by its extension.
pub fn write(grid: &Grid, snapshot: &Snapshot, path: &std::path::Path) -> Result<(), RenderError> {
    let name = path.display().to_string();
    let bytes = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => png(grid, snapshot),
        Some("svg") => svg(grid, snapshot).into_bytes(),
        _ => return Err(RenderError::Format(name)),
    };
    std::fs::write(path, bytes).map_err(|e| RenderError::Write { path: name, reason: e.to_string() })
}

fn title(grid: &Grid, snapshot: &Snapshot) -> String {
    format!("{} - occupancy at {}", grid.name.as_deref().unwrap_or("density"), local_time(grid, snapshot.at))
}

/// `at` as people in the grid's time zone read it: `2026-11-25 18:00 +08:00 Asia/Shanghai`, or
/// `2026-11-25 10:00 UTC` for a grid without a time zone.
pub fn local_time(grid: &Grid, at: lintel_wire::UtcTime) -> String {
    let Ok(instant) = jiff::Timestamp::from_second(at.unix_seconds()) else { return at.to_string() };
    match &grid.time_zone {
        Some(name) => format!("{} {name}", instant.to_zoned(grid.zone()).strftime("%Y-%m-%d %H:%M %:z")),
        None => format!("{} UTC", instant.to_zoned(jiff::tz::TimeZone::UTC).strftime("%Y-%m-%d %H:%M")),
    }
}

/// The picture as SVG text.
pub fn svg(grid: &Grid, snapshot: &Snapshot) -> String {
    let projection = Projection::new(grid);
    let legend = snapshot.legend();
    let (w, h) = (WIDTH + PANEL, projection.height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{MARGIN}" y="32" font-size="20">{}</text>"#, escape(&title(grid, snapshot)));
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        let fill = if view.buildings_fresh == 0 { NO_DATA_COLOUR } else { legend.colour(view.occupancy) };
        for polygon in &cell.polygons {
            let mut d = String::new();
            for ring in polygon {
                for (i, p) in ring.iter().enumerate() {
                    let (x, y) = projection.xy(p);
                    let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
                }
                d.push_str("Z ");
            }
            let _ =
                writeln!(s, r##"<path d="{d}" fill="{fill}" fill-rule="evenodd" stroke="#333" stroke-width="2"/>"##);
        }
        let (x, _) = projection.xy(&centroid(&cell.polygons[0][0]));
        let top = cell.polygons[0][0].iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
        let (_, y) = projection.xy(&[0.0, top]);
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" font-size="16" text-anchor="middle" fill="#111">{}</text>"##,
            y + 22.0,
            escape(&view.name)
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" font-size="14" text-anchor="middle" fill="#111">{} people, {}/{} fresh</text>"##,
            y + 42.0,
            view.occupancy,
            view.buildings_fresh,
            view.buildings
        );
    }
    for (b, view) in grid.buildings.iter().zip(&snapshot.buildings) {
        let (fill, stroke) = if view.stale { ("none", "#777") } else { ("#1f3b73", "#1f3b73") };
        match &b.footprint {
            Footprint::Polygon(p) => {
                let points: Vec<String> = p[0]
                    .iter()
                    .map(|q| {
                        let (x, y) = projection.xy(q);
                        format!("{x:.1},{y:.1}")
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    r#"<polygon points="{}" fill="{fill}" fill-opacity="0.35" stroke="{stroke}" stroke-width="1.5"/>"#,
                    points.join(" ")
                );
            }
            Footprint::Point(_) => {}
        }
        let (x, y) = projection.xy(&b.position);
        let _ =
            writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{fill}" stroke="{stroke}" stroke-width="2"/>"#);
        let label = match view.occupancy {
            Some(o) if !view.stale => o.to_string(),
            Some(o) => format!("({o})"),
            None => "-".into(),
        };
        let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#, x + 9.0, y + 4.0, escape(&label));
    }
    // The legend.
    let lx = WIDTH + 10.0;
    let _ = writeln!(s, r#"<text x="{lx}" y="{}" font-size="16">People in cell</text>"#, TITLE + MARGIN);
    for class in 0..legend.colours.len() {
        let y = TITLE + MARGIN + 15.0 + class as f32 * 28.0;
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{y}" width="24" height="20" fill="{}" stroke="#333"/>"##,
            legend.colours[class]
        );
        let _ =
            writeln!(s, r#"<text x="{}" y="{}" font-size="14">{}</text>"#, lx + 32.0, y + 15.0, legend.label(class));
    }
    let y = TITLE + MARGIN + 15.0 + 5.0 * 28.0;
    let _ = writeln!(s, r##"<rect x="{lx}" y="{y}" width="24" height="20" fill="{NO_DATA_COLOUR}" stroke="#333"/>"##);
    let _ = writeln!(s, r#"<text x="{}" y="{}" font-size="14">no fresh data</text>"#, lx + 32.0, y + 15.0);
    let y = y + 40.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{y}" r="6" fill="#1f3b73"/><text x="{}" y="{}" font-size="14">building, fresh</text>"##,
        lx + 12.0,
        lx + 32.0,
        y + 5.0
    );
    let y = y + 26.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{y}" r="6" fill="none" stroke="#777" stroke-width="2"/><text x="{}" y="{}" font-size="14">stale (last value)</text>"##,
        lx + 12.0,
        lx + 32.0,
        y + 5.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{}" font-size="12">WGS-84; stale after {} s</text>"#,
        y + 40.0,
        snapshot.stale_after_s
    );
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn colour(hex: &str) -> Color {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    Color::from_rgba8((v >> 16) as u8, (v >> 8) as u8, v as u8, 255)
}

fn paint(hex: &str, alpha: f32) -> Paint<'static> {
    let mut paint = Paint::default();
    let mut c = colour(hex);
    c.set_alpha(alpha);
    paint.set_color(c);
    paint.anti_alias = true;
    paint
}

/// The picture as PNG bytes.
pub fn png(grid: &Grid, snapshot: &Snapshot) -> Vec<u8> {
    let projection = Projection::new(grid);
    let legend = snapshot.legend();
    let (w, h) = ((WIDTH + PANEL) as u32, projection.height as u32);
    let Some(mut pixmap) = Pixmap::new(w, h) else { return Vec::new() };
    pixmap.fill(Color::WHITE);
    let stroke = |width: f32| Stroke { width, ..Stroke::default() };
    let ring_path = |rings: &[Vec<LonLat>]| {
        let mut pb = PathBuilder::new();
        for ring in rings {
            for (i, p) in ring.iter().enumerate() {
                let (x, y) = projection.xy(p);
                if i == 0 { pb.move_to(x, y) } else { pb.line_to(x, y) }
            }
            pb.close();
        }
        pb.finish()
    };
    text(&mut pixmap, MARGIN, 20.0, &ascii(&title(grid, snapshot)), 2, "#000000");
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        let fill = if view.buildings_fresh == 0 { NO_DATA_COLOUR } else { legend.colour(view.occupancy) };
        for polygon in &cell.polygons {
            if let Some(path) = ring_path(polygon) {
                pixmap.fill_path(&path, &paint(fill, 1.0), FillRule::EvenOdd, Transform::identity(), None);
                pixmap.stroke_path(&path, &paint("#333333", 1.0), &stroke(2.0), Transform::identity(), None);
            }
        }
    }
    for (b, view) in grid.buildings.iter().zip(&snapshot.buildings) {
        let colour = if view.stale { "#777777" } else { "#1f3b73" };
        if let Footprint::Polygon(p) = &b.footprint
            && let Some(path) = ring_path(p)
        {
            if !view.stale {
                pixmap.fill_path(&path, &paint(colour, 0.35), FillRule::EvenOdd, Transform::identity(), None);
            }
            pixmap.stroke_path(&path, &paint(colour, 1.0), &stroke(1.5), Transform::identity(), None);
        }
        let (x, y) = projection.xy(&b.position);
        if let Some(circle) = PathBuilder::from_circle(x, y, 6.0) {
            if !view.stale {
                pixmap.fill_path(&circle, &paint(colour, 1.0), FillRule::Winding, Transform::identity(), None);
            }
            pixmap.stroke_path(&circle, &paint(colour, 1.0), &stroke(2.0), Transform::identity(), None);
        }
        let label = match view.occupancy {
            Some(o) if !view.stale => o.to_string(),
            Some(o) => format!("({o})"),
            None => "-".into(),
        };
        text(&mut pixmap, x + 10.0, y - 7.0, &label, 2, "#000000");
    }
    // Cell labels last, over the buildings, under the top edge of the cell.
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        let (x, _) = projection.xy(&centroid(&cell.polygons[0][0]));
        let top = cell.polygons[0][0].iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
        let (_, y) = projection.xy(&[0.0, top]);
        let lines = [
            format!("{} {}", cell.id, ascii(&view.name)),
            format!("{} people", view.occupancy),
            format!("{}/{} fresh", view.buildings_fresh, view.buildings),
        ];
        for (i, line) in lines.iter().enumerate() {
            text(&mut pixmap, x - line.len() as f32 * 8.0, y + 8.0 + i as f32 * 20.0, line, 2, "#111111");
        }
    }
    let lx = WIDTH + 10.0;
    text(&mut pixmap, lx, TITLE + MARGIN - 8.0, "People in cell", 2, "#000000");
    let swatch = |pixmap: &mut Pixmap, y: f32, hex: &str| {
        if let Some(rect) = Rect::from_xywh(lx, y, 24.0, 20.0) {
            pixmap.fill_rect(rect, &paint(hex, 1.0), Transform::identity(), None);
            let path = PathBuilder::from_rect(rect);
            pixmap.stroke_path(&path, &paint("#333333", 1.0), &stroke(1.0), Transform::identity(), None);
        }
    };
    for class in 0..legend.colours.len() {
        let y = TITLE + MARGIN + 15.0 + class as f32 * 28.0;
        swatch(&mut pixmap, y, legend.colours[class]);
        text(&mut pixmap, lx + 32.0, y + 2.0, &legend.label(class), 2, "#000000");
    }
    let y = TITLE + MARGIN + 15.0 + 5.0 * 28.0;
    swatch(&mut pixmap, y, NO_DATA_COLOUR);
    text(&mut pixmap, lx + 32.0, y + 2.0, "no fresh data", 2, "#000000");
    let y = y + 40.0;
    if let Some(c) = PathBuilder::from_circle(lx + 12.0, y, 6.0) {
        pixmap.fill_path(&c, &paint("#1f3b73", 1.0), FillRule::Winding, Transform::identity(), None);
    }
    text(&mut pixmap, lx + 32.0, y - 8.0, "fresh", 2, "#000000");
    let y = y + 26.0;
    if let Some(c) = PathBuilder::from_circle(lx + 12.0, y, 6.0) {
        pixmap.stroke_path(&c, &paint("#777777", 1.0), &stroke(2.0), Transform::identity(), None);
    }
    text(&mut pixmap, lx + 32.0, y - 8.0, "stale", 2, "#000000");
    text(&mut pixmap, lx, y + 30.0, &format!("stale after {}s", snapshot.stale_after_s), 1, "#000000");
    pixmap.encode_png().unwrap_or_default()
}

/// Only the ASCII characters of `text` (the bitmap font has no others), spaces squeezed.
fn ascii(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Draws ASCII text with the 8×8 bitmap font, each font pixel `scale`×`scale`.
fn text(pixmap: &mut Pixmap, x: f32, y: f32, text: &str, scale: u32, hex: &str) {
    use font8x8::UnicodeFonts;
    let paint = paint(hex, 1.0);
    let s = scale as f32;
    for (i, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else { continue };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0
                    && let Some(rect) = Rect::from_xywh(x + (i as f32 * 8.0 + col as f32) * s, y + row as f32 * s, s, s)
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
    use lintel_wire::UtcTime;
    use std::path::Path;

    #[test]
    fn times_are_written_in_the_grids_time_zone_or_utc() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson");
        let mut grid = Grid::load(&path).unwrap();
        let at = UtcTime::from_unix_seconds(1_764_064_800); // 2025-11-25T10:00:00Z
        assert_eq!(local_time(&grid, at), "2025-11-25 18:00 +08:00 Asia/Shanghai");
        grid.time_zone = None;
        assert_eq!(local_time(&grid, at), "2025-11-25 10:00 UTC");
    }
}
