//! The density map as a picture (`lintel-city render --out map.png|map.svg`, `GET
//! /density.png`, `GET /density.svg`): the cells coloured by occupancy (fresh buildings only;
//! grey where no building is fresh), buildings as points or footprints (hollow when stale), a
//! legend and the time in the grid's time zone. The same colours as the map page, which reads
//! them from [`legend`](super::legend) through the GeoJSON.
//!
//! Texts in the language asked, from the page's catalogues ([`super::i18n`]); the PNG's drawn
//! with the system's CJK font ([`super::font`]).

use std::fmt::Write as _;

use lintel_http::i18n::Language;
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use super::basemap::MbTiles;
use super::font::{NoFont, Pen};
use super::grid::{Cell, Footprint, Grid, LonLat, centroid};
use super::i18n::CATALOGUES;
use super::legend::{Legends, NO_DATA_COLOUR};
use super::snapshot::{BuildingView, CellView, Snapshot};

/// What went wrong drawing or writing the picture.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{0}: the output must end in .png or .svg")]
    Format(String),
    #[error(transparent)]
    NoFont(#[from] NoFont),
    #[error("the picture is too large to draw")]
    Size,
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

const WIDTH: f32 = 1000.0;
const PANEL: f32 = 260.0;
const MARGIN: f32 = 30.0;
const TITLE: f32 = 50.0;

/// The text of `key` in `language`, its `{name}` placeholders filled from `values`.
fn text(language: Language, key: &str, values: &[(&str, &str)]) -> String {
    let mut out = CATALOGUES.text(language, key).to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

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

/// Writes the picture in `language` to `path`, PNG or SVG by its extension.
pub fn write(grid: &Grid, snapshot: &Snapshot, path: &std::path::Path, language: Language) -> Result<(), RenderError> {
    let name = path.display().to_string();
    let bytes = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("png") => png(grid, snapshot, language)?,
        Some("svg") => svg(grid, snapshot, language).into_bytes(),
        _ => return Err(RenderError::Format(name)),
    };
    std::fs::write(path, bytes).map_err(|e| RenderError::Write { path: name, reason: e.to_string() })
}

/// `<image>`s of the basemap's tiles over the picture's area, at the zoom whose pixels are
/// nearest the picture's (web-mercator tiles placed by their corners: over a community the two
/// projections differ by far less than a pixel). Empty where the file has no tile there.
fn basemap_images(tiles: &MbTiles, projection: &Projection) -> String {
    use base64::Engine as _;
    let (west, north) = (projection.west, projection.north);
    let east = west + f64::from(WIDTH) / (projection.scale * projection.cos_lat);
    let south = north - f64::from(projection.height) / projection.scale;
    // Pixels per degree of longitude: the picture's, and a tile's at zoom z (256 · 2^z / 360).
    let wanted = projection.scale * projection.cos_lat * 360.0 / 256.0;
    let mut zoom = (wanted.log2().ceil().max(0.0) as u8).clamp(tiles.minzoom, tiles.maxzoom);
    let range = |z: u8| {
        let (x0, y1) = tile_of(west, south, z);
        let (x1, y0) = tile_of(east, north, z);
        (x0, x1, y0, y1)
    };
    let count = |z: u8| {
        let (x0, x1, y0, y1) = range(z);
        (x1 - x0 + 1) as usize * (y1 - y0 + 1) as usize
    };
    while zoom > tiles.minzoom && count(zoom) > MAX_SVG_TILES {
        zoom -= 1;
    }
    if count(zoom) > MAX_SVG_TILES {
        return String::new();
    }
    let (x0, x1, y0, y1) = range(zoom);
    let mut out = String::new();
    for x in x0..=x1 {
        for y in y0..=y1 {
            let Ok(Some(bytes)) = tiles.tile(zoom, x, y) else { continue };
            let (lon0, lat0) = tile_corner(x, y, zoom);
            let (lon1, lat1) = tile_corner(x + 1, y + 1, zoom);
            let (px0, py0) = projection.xy(&[lon0, lat0]);
            let (px1, py1) = projection.xy(&[lon1, lat1]);
            let _ = write!(
                out,
                r#"<image x="{px0:.2}" y="{py0:.2}" width="{:.2}" height="{:.2}" preserveAspectRatio="none" href="data:{};base64,{}"/>"#,
                // Half a pixel over each neighbour: no hairline seams between tiles.
                px1 - px0 + 0.5,
                py1 - py0 + 0.5,
                tiles.content_type(),
                base64::engine::general_purpose::STANDARD.encode(bytes)
            );
        }
    }
    out
}

/// The web-mercator tile holding a longitude and latitude at zoom `z`.
fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let lat = lat.clamp(-85.05, 85.05).to_radians();
    let x = ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0);
    let y = ((1.0 - lat.tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor().clamp(0.0, n - 1.0);
    (x as u32, y as u32)
}

/// The north-west corner of tile `x`, `y` at zoom `z`: longitude, latitude.
fn tile_corner(x: u32, y: u32, z: u8) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let lon = f64::from(x) / n * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * f64::from(y) / n)).sinh().atan().to_degrees();
    (lon, lat)
}

fn title(grid: &Grid, snapshot: &Snapshot, language: Language) -> String {
    let t = |key: &str, values: &[(&str, &str)]| text(language, key, values);
    let name = grid.name.clone().unwrap_or_else(|| t("render.default_name", &[]));
    t("render.title", &[("name", &name), ("time", &local_time(grid, snapshot.at))])
}

/// Unix second `s` as RFC 3339 in the grid's time zone (`2026-11-26T00:00:00+08:00`), or in UTC
/// (`…Z`) for a grid without one.
pub fn local_rfc3339(grid: &Grid, s: i64) -> String {
    match (&grid.time_zone, jiff::Timestamp::from_second(s)) {
        (Some(_), Ok(instant)) => instant.to_zoned(grid.zone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        _ => lintel_wire::UtcTime::from_unix_seconds(s).to_string(),
    }
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

/// The picture as SVG text, in `language`.
pub fn svg(grid: &Grid, snapshot: &Snapshot, language: Language) -> String {
    svg_over(grid, snapshot, language, None)
}

/// The most basemap tiles one picture embeds (a coarser zoom is taken past it).
const MAX_SVG_TILES: usize = 64;

/// [`svg`] over `basemap`'s raster tiles (embedded, at the zoom nearest the picture's scale), the
/// cells translucent over them as on the page.
pub fn svg_over(grid: &Grid, snapshot: &Snapshot, language: Language, basemap: Option<&MbTiles>) -> String {
    let t = |key: &str, values: &[(&str, &str)]| escape(&text(language, key, values));
    let projection = Projection::new(grid);
    // The grid's fixed density classes: every picture of it compares with every other.
    let legend = Legends::of(grid).density;
    let (w, h) = (WIDTH + PANEL, projection.height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" lang="{}" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif">"#,
        language.code()
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let under = basemap.map(|tiles| basemap_images(tiles, &projection)).unwrap_or_default();
    if !under.is_empty() {
        // The map's area only: the title band and the legend stay on white.
        let _ = writeln!(
            s,
            r#"<clipPath id="map-area"><rect x="0" y="{TITLE}" width="{WIDTH}" height="{}"/></clipPath><g clip-path="url(#map-area)">{under}</g>"#,
            h - TITLE
        );
    }
    let cell_opacity = if under.is_empty() { "1" } else { "0.55" };
    let _ =
        writeln!(s, r#"<text x="{MARGIN}" y="32" font-size="20">{}</text>"#, escape(&title(grid, snapshot, language)));
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        let fill = match view.density_per_ha {
            Some(d) if view.buildings_fresh > 0 => legend.colour(d),
            _ => NO_DATA_COLOUR,
        };
        for polygon in &cell.polygons {
            let mut d = String::new();
            for ring in polygon {
                for (i, p) in ring.iter().enumerate() {
                    let (x, y) = projection.xy(p);
                    let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
                }
                d.push_str("Z ");
            }
            let _ = writeln!(
                s,
                r##"<path d="{d}" fill="{fill}" fill-opacity="{cell_opacity}" fill-rule="evenodd" stroke="#333" stroke-width="2"/>"##
            );
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
            r##"<text x="{x:.1}" y="{:.1}" font-size="14" text-anchor="middle" fill="#111">{} · {}</text>"##,
            y + 42.0,
            t("render.people", &[("count", &view.occupancy.to_string())]),
            t(
                "render.fresh",
                &[("fresh", &view.buildings_fresh.to_string()), ("buildings", &view.buildings.to_string())]
            ),
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
    }
    // Labels never cover one another (as in the PNG; widths estimated: CJK a square, Latin 0.6).
    let estimate =
        |text: &str, size: f32| text.chars().map(|c| if c.is_ascii() { 0.6 } else { 1.0 }).sum::<f32>() * size;
    let mut boxes = LabelBoxes::default();
    for (cell, _) in grid.cells.iter().zip(&snapshot.cells) {
        let (x, _) = projection.xy(&centroid(&cell.polygons[0][0]));
        let top = cell.polygons[0][0].iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
        let (_, y) = projection.xy(&[0.0, top]);
        boxes.reserve([x - 100.0, y + 4.0, 200.0, 44.0]);
    }
    for i in by_occupancy(snapshot) {
        let label = building_label(&snapshot.buildings[i]);
        let (x, y) = projection.xy(&grid.buildings[i].position);
        let w = estimate(&label, 12.0);
        if let Some([lx, ly, _, _]) = boxes.place(&[[x + 9.0, y - 8.0, w, 15.0], [x - 9.0 - w, y - 8.0, w, 15.0]]) {
            let _ = writeln!(s, r#"<text x="{lx:.1}" y="{:.1}" font-size="12">{}</text>"#, ly + 12.0, escape(&label));
        }
    }
    // The legend.
    let lx = WIDTH + 10.0;
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{}" font-size="16">{}</text>"#,
        TITLE + MARGIN,
        t("render.legend_density", &[])
    );
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
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="14">{}</text>"#,
        lx + 32.0,
        y + 15.0,
        t("map.legend_no_data", &[])
    );
    let y = y + 40.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{y}" r="6" fill="#1f3b73"/><text x="{}" y="{}" font-size="14">{}</text>"##,
        lx + 12.0,
        lx + 32.0,
        y + 5.0,
        t("render.building_fresh", &[])
    );
    let y = y + 26.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{y}" r="6" fill="none" stroke="#777" stroke-width="2"/><text x="{}" y="{}" font-size="14">{}</text>"##,
        lx + 12.0,
        lx + 32.0,
        y + 5.0,
        t("render.building_stale", &[])
    );
    let _ = writeln!(
        s,
        r#"<text x="{lx}" y="{}" font-size="12">{}</text>"#,
        y + 40.0,
        t("render.footer", &[("seconds", &snapshot.stale_after_s.to_string())])
    );
    s.push_str("</svg>\n");
    s
}

/// A cell's label lines and their sizes: its name (with its id where the bitmap font cannot
/// write the name), its people, its fresh buildings.
fn cell_texts(view: &CellView, cell: &Cell, pen: &Pen, language: Language) -> Vec<(String, f32)> {
    let t = |key: &str, values: &[(&str, &str)]| text(language, key, values);
    let name = match pen {
        Pen::Outline(_) => view.name.clone(),
        Pen::Bitmap => format!("{} {}", cell.id, view.name),
    };
    vec![
        (name, 18.0),
        (t("render.people", &[("count", &view.occupancy.to_string())]), 15.0),
        (
            t(
                "render.fresh",
                &[("fresh", &view.buildings_fresh.to_string()), ("buildings", &view.buildings.to_string())],
            ),
            15.0,
        ),
    ]
}

/// Where a cell's label lines go: centred under its top edge, one under the other: (text, centre
/// x, top y, size).
fn cell_lines(projection: &Projection, cell: &Cell, lines: &[(String, f32)]) -> Vec<(String, f32, f32, f32)> {
    let (x, _) = projection.xy(&centroid(&cell.polygons[0][0]));
    let top = cell.polygons[0][0].iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max);
    let (_, y) = projection.xy(&[0.0, top]);
    let mut line_y = y + 8.0;
    lines
        .iter()
        .map(|(line, size)| {
            let placed = (line.clone(), x, line_y, *size);
            line_y += size + 6.0;
            placed
        })
        .collect()
}

/// The buildings' indices, fullest first (their labels are placed first).
fn by_occupancy(snapshot: &Snapshot) -> Vec<usize> {
    let mut order: Vec<usize> = (0..snapshot.buildings.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(snapshot.buildings[i].occupancy.map_or(0, |o| o + 1)));
    order
}

/// The boxes (x, y, width, height) of the labels placed so far.
#[derive(Default)]
struct LabelBoxes(Vec<[f32; 4]>);

impl LabelBoxes {
    fn reserve(&mut self, rect: [f32; 4]) {
        self.0.push(rect);
    }

    /// The first of `candidates` that overlaps no label placed so far, now placed.
    fn place(&mut self, candidates: &[[f32; 4]]) -> Option<[f32; 4]> {
        let overlaps = |a: &[f32; 4], b: &[f32; 4]| {
            a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]
        };
        let free = candidates.iter().find(|c| c[0] >= 0.0 && !self.0.iter().any(|p| overlaps(c, p)))?;
        self.0.push(*free);
        Some(*free)
    }
}

/// A building's name and people (`社区礼堂 23`; in brackets when stale, `–` never heard from).
fn building_label(view: &BuildingView) -> String {
    match view.occupancy {
        Some(o) if !view.stale => format!("{} {o}", view.name),
        Some(o) => format!("{} ({o})", view.name),
        None => format!("{} -", view.name),
    }
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

/// The picture as PNG bytes, in `language` (refused without a font that has its letters).
pub fn png(grid: &Grid, snapshot: &Snapshot, language: Language) -> Result<Vec<u8>, RenderError> {
    let t = |key: &str, values: &[(&str, &str)]| text(language, key, values);
    let pen = Pen::for_language(language)?;
    let projection = Projection::new(grid);
    // The grid's fixed density classes: every picture of it compares with every other.
    let legend = Legends::of(grid).density;
    let (w, h) = ((WIDTH + PANEL) as u32, projection.height as u32);
    let mut pixmap = Pixmap::new(w, h).ok_or(RenderError::Size)?;
    pixmap.fill(Color::WHITE);
    let (black, dark) = ([0, 0, 0], [17, 17, 17]);
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
    pen.draw(&mut pixmap, MARGIN, 14.0, &title(grid, snapshot, language), 22.0, black);
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        let fill = match view.density_per_ha {
            Some(d) if view.buildings_fresh > 0 => legend.colour(d),
            _ => NO_DATA_COLOUR,
        };
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
    }
    // Labels never cover one another: the cells' first, then the buildings', fullest first, right
    // of their point or else left of it, or not at all.
    let mut boxes = LabelBoxes::default();
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        for (line, x, y, size) in cell_lines(&projection, cell, &cell_texts(view, cell, &pen, language)) {
            let w = pen.width(&line, size);
            boxes.reserve([x - w / 2.0 - 3.0, y - 1.0, w + 6.0, size * 1.25 + 2.0]);
        }
    }
    for i in by_occupancy(snapshot) {
        let (b, view) = (&grid.buildings[i], &snapshot.buildings[i]);
        let label = match pen {
            Pen::Outline(_) => building_label(view),
            // The bitmap font writes ASCII only: the building's id stands in for its name.
            Pen::Bitmap => building_label(&BuildingView { name: view.building.clone(), ..view.clone() }),
        };
        let (x, y) = projection.xy(&b.position);
        let (w, h) = (pen.width(&label, 15.0) + 6.0, 15.0 * 1.25 + 2.0);
        if let Some([lx, ly, _, _]) = boxes.place(&[[x + 7.0, y - 9.0, w, h], [x - 7.0 - w, y - 9.0, w, h]]) {
            pen.draw_boxed(&mut pixmap, lx + 3.0, ly + 1.0, &label, 15.0, black);
        }
    }
    // Cell labels last, over the buildings, under the top edge of the cell.
    for (cell, view) in grid.cells.iter().zip(&snapshot.cells) {
        for (line, x, y, size) in cell_lines(&projection, cell, &cell_texts(view, cell, &pen, language)) {
            pen.draw_boxed(&mut pixmap, x - pen.width(&line, size) / 2.0, y, &line, size, dark);
        }
    }
    let lx = WIDTH + 10.0;
    pen.draw(&mut pixmap, lx, TITLE + MARGIN - 12.0, &t("render.legend_density", &[]), 18.0, black);
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
        pen.draw(&mut pixmap, lx + 32.0, y + 1.0, &legend.label(class), 16.0, black);
    }
    let y = TITLE + MARGIN + 15.0 + 5.0 * 28.0;
    swatch(&mut pixmap, y, NO_DATA_COLOUR);
    pen.draw(&mut pixmap, lx + 32.0, y + 1.0, &t("map.legend_no_data", &[]), 16.0, black);
    let y = y + 40.0;
    if let Some(c) = PathBuilder::from_circle(lx + 12.0, y, 6.0) {
        pixmap.fill_path(&c, &paint("#1f3b73", 1.0), FillRule::Winding, Transform::identity(), None);
    }
    pen.draw(&mut pixmap, lx + 32.0, y - 9.0, &t("render.building_fresh", &[]), 16.0, black);
    let y = y + 26.0;
    if let Some(c) = PathBuilder::from_circle(lx + 12.0, y, 6.0) {
        pixmap.stroke_path(&c, &paint("#777777", 1.0), &stroke(2.0), Transform::identity(), None);
    }
    pen.draw(&mut pixmap, lx + 32.0, y - 9.0, &t("render.building_stale", &[]), 16.0, black);
    let footer = t("render.footer", &[("seconds", &snapshot.stale_after_s.to_string())]);
    pen.draw(&mut pixmap, lx, y + 26.0, &footer, 13.0, black);
    pixmap.encode_png().map_err(|_| RenderError::Size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lintel_http::i18n::Language;
    use lintel_wire::UtcTime;
    use std::path::Path;

    fn fixture() -> Grid {
        Grid::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson")).unwrap()
    }

    /// The pixels of the title's band (under the top margin, across the map) that are not white.
    fn inked_title_pixels(png: &[u8]) -> Vec<(u32, u32)> {
        let pixmap = Pixmap::decode_png(png).unwrap();
        let mut inked = Vec::new();
        for y in 10..45 {
            for x in 0..(WIDTH as u32) {
                let p = pixmap.pixel(x, y).unwrap();
                if p.red() < 128 && p.green() < 128 && p.blue() < 128 {
                    inked.push((x, y));
                }
            }
        }
        inked
    }

    #[test]
    fn the_png_is_written_in_the_language_asked_chinese_with_the_cjk_font() {
        let grid = fixture();
        let snapshot = Snapshot::build(&grid, &[], UtcTime::from_unix_seconds(1_764_064_800), 300);
        let chinese = match png(&grid, &snapshot, Language::Chinese) {
            Ok(bytes) => bytes,
            // A machine without the font: the refusal says what to install (scripts/setup does).
            Err(e) => panic!("{e}"),
        };
        let english = png(&grid, &snapshot, Language::English).unwrap();
        let (zh, en) = (inked_title_pixels(&chinese), inked_title_pixels(&english));
        assert!(zh.len() > 500, "the Chinese title is not drawn: {} dark pixels", zh.len());
        assert!(en.len() > 500, "the English title is not drawn: {} dark pixels", en.len());
        assert_ne!(zh, en, "the Chinese title is drawn as the English one");
        let svg = svg(&grid, &snapshot, Language::Chinese);
        assert!(svg.contains("在场人数") && svg.contains("2025-11-25 18:00 +08:00 Asia/Shanghai"), "{svg}");
    }

    #[test]
    fn times_are_written_in_the_grids_time_zone_or_utc() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/lishui-grid.geojson");
        let mut grid = Grid::load(&path).unwrap();
        let at = UtcTime::from_unix_seconds(1_764_064_800); // 2025-11-25T10:00:00Z
        assert_eq!(local_time(&grid, at), "2025-11-25 18:00 +08:00 Asia/Shanghai");
        // 16:00Z is midnight of the next day in Shanghai, on a 24-hour clock.
        let midnight = 1_764_086_400; // 2025-11-25T16:00:00Z
        assert_eq!(local_time(&grid, UtcTime::from_unix_seconds(midnight)), "2025-11-26 00:00 +08:00 Asia/Shanghai");
        assert_eq!(local_rfc3339(&grid, midnight), "2025-11-26T00:00:00+08:00");
        grid.time_zone = None;
        assert_eq!(local_time(&grid, at), "2025-11-25 10:00 UTC");
        assert_eq!(local_rfc3339(&grid, midnight), "2025-11-25T16:00:00Z");
    }

    #[test]
    fn a_chinese_building_name_survives_into_the_png() {
        let grid = fixture();
        let hall = grid.buildings.iter().position(|b| b.building == "hall").unwrap();
        assert!(grid.buildings[hall].name.contains("社区礼堂"), "{}", grid.buildings[hall].name);
        let mut unnamed = grid.clone();
        unnamed.buildings[hall].name = String::new();
        let at = UtcTime::from_unix_seconds(1_764_064_800);
        let draw = |g: &Grid| {
            let snapshot = Snapshot::build(g, &[], at, 300);
            Pixmap::decode_png(&png(g, &snapshot, Language::Chinese).unwrap()).unwrap()
        };
        let (named, bare) = (draw(&grid), draw(&unnamed));
        // Where the two differ: only beside the hall's point, and enough ink for its name's
        // four ideographs (each some tens of dark pixels at 15 px).
        let (x0, y0) = Projection::new(&grid).xy(&grid.buildings[hall].position);
        let mut changed = 0;
        for (i, (a, b)) in named.pixels().iter().zip(bare.pixels()).enumerate() {
            if a != b {
                let (x, y) = ((i as u32 % named.width()) as f32, (i as u32 / named.width()) as f32);
                assert!(
                    (x - x0).abs() < 300.0 && (y - y0).abs() < 30.0,
                    "a change at {x},{y}, away from the hall at {x0},{y0}"
                );
                changed += 1;
            }
        }
        assert!(changed > 150, "the name left {changed} pixels: not drawn");
    }

    #[test]
    fn labels_are_placed_right_then_left_or_not_at_all() {
        let mut boxes = LabelBoxes::default();
        boxes.reserve([100.0, 100.0, 50.0, 20.0]);
        assert_eq!(
            boxes.place(&[[120.0, 110.0, 40.0, 20.0], [10.0, 110.0, 40.0, 20.0]]),
            Some([10.0, 110.0, 40.0, 20.0])
        );
        assert_eq!(boxes.place(&[[20.0, 115.0, 40.0, 20.0], [130.0, 105.0, 10.0, 10.0]]), None);
        assert_eq!(boxes.place(&[[200.0, 100.0, 40.0, 20.0]]), Some([200.0, 100.0, 40.0, 20.0]));
    }
}
