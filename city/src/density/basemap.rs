//! The map page's basemap: streets, water and place names under the cells, from a file the
//! deployment provides, never from the internet.
//!
//! - [`Basemap::MbTiles`]: an MBTiles file (SQLite) of **raster** tiles (PNG, JPEG or WebP),
//!   served by the city server at `/tiles/{z}/{x}/{y}` ([`MbTiles::tile`]);
//! - [`Basemap::Url`]: a tile URL template of the city's own tile service
//!   (`https://tiles.example/{z}/{x}/{y}.png`), fetched by the reader's browser;
//! - [`Basemap::None`]: the grid alone, and the page says so.
//!
//! **Coordinates.** The grid is WGS-84 (GeoJSON), and so is the web-mercator tile scheme the page
//! draws in. Tiles made from OpenStreetMap data are WGS-84; CGCS2000 differs from it by
//! centimetres and is drawn as is. Many Chinese web maps are in GCJ-02, shifted by hundreds of
//! metres: such tiles are refused ([`Datum::parse`]), never guessed at or shifted, so a
//! building is never drawn on the wrong street. The deployment states the datum; nothing is
//! inferred from the file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde_json::{Value, json};

/// The deepest zoom served (a tile of ~2 cm at the equator: far past any basemap's own).
pub const MAX_ZOOM: u8 = 24;

/// What is wrong with a basemap.
#[derive(Debug, thiserror::Error)]
pub enum BasemapError {
    #[error("basemap {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "basemap {path}: its tiles are {format:?}; only raster tiles (png, jpg, webp) are served: make raster MBTiles (see the README)"
    )]
    NotRaster { path: PathBuf, format: String },
    #[error(
        "basemap datum {0:?}: the grid is WGS-84, so the basemap must be too (wgs84, or cgcs2000: the same within centimetres); GCJ-02 or BD-09 tiles are not shifted here: make WGS-84 tiles from OpenStreetMap (see the README)"
    )]
    Datum(String),
    #[error("basemap tile: {0}")]
    Read(String),
    #[error("basemap URL {0:?}: give an http(s) URL or a path from / with {{z}}, {{x}} and {{y}}")]
    Url(String),
}

/// The datum the deployment says its basemap is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datum {
    Wgs84,
    Cgcs2000,
}

impl Datum {
    pub fn parse(text: &str) -> Result<Self, BasemapError> {
        match text.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "wgs84" => Ok(Self::Wgs84),
            "cgcs2000" => Ok(Self::Cgcs2000),
            _ => Err(BasemapError::Datum(text.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Wgs84 => "WGS-84",
            Self::Cgcs2000 => "CGCS2000",
        }
    }
}

/// Where the page's basemap comes from.
pub enum Basemap {
    None,
    MbTiles(Box<MbTiles>, Datum),
    Url(String, Datum),
}

impl Basemap {
    /// A tile URL template: `{z}`, `{x}` and `{y}` in it, http(s) or a path on this server.
    pub fn url(template: &str, datum: Datum) -> Result<Self, BasemapError> {
        let placed = ["{z}", "{x}", "{y}"].iter().all(|p| template.contains(p));
        let scheme = template.starts_with("https://") || template.starts_with("http://") || template.starts_with('/');
        if !placed || !scheme || template.chars().any(|c| c.is_whitespace() || c == '\'' || c == '"' || c == ';') {
            return Err(BasemapError::Url(template.to_string()));
        }
        Ok(Self::Url(template.to_string(), datum))
    }

    /// The origin (`https://tiles.example:8443`) the reader's browser fetches tiles from, when
    /// another than this server's: the page's content security policy lets it in.
    pub fn foreign_origin(&self) -> Option<String> {
        let Self::Url(template, _) = self else { return None };
        let rest = template.strip_prefix("https://").map(|r| ("https", r));
        let (scheme, rest) = rest.or_else(|| template.strip_prefix("http://").map(|r| ("http", r)))?;
        let host = rest.split('/').next().filter(|h| !h.is_empty())?;
        Some(format!("{scheme}://{host}"))
    }

    /// What the page needs to draw it (`GET /density/basemap.json`).
    pub fn describe(&self) -> Value {
        match self {
            Self::None => json!({"kind": "none"}),
            Self::MbTiles(m, datum) => json!({
                "kind": "mbtiles", "tiles": [format!("/tiles/{{z}}/{{x}}/{{y}}.{}", m.format)],
                "minzoom": m.minzoom, "maxzoom": m.maxzoom, "bounds": m.bounds,
                "attribution": m.attribution, "name": m.name, "datum": datum.name(),
            }),
            Self::Url(template, datum) => json!({
                "kind": "url", "tiles": [template], "minzoom": 0, "maxzoom": 19, "datum": datum.name(),
            }),
        }
    }
}

/// An MBTiles file of raster tiles, read-only (<https://github.com/mapbox/mbtiles-spec>).
pub struct MbTiles {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// `png`, `jpg` or `webp`.
    pub format: String,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// West, south, east, north, when the file says.
    pub bounds: Option<[f64; 4]>,
    pub attribution: Option<String>,
    pub name: Option<String>,
}

impl MbTiles {
    pub fn open(path: &Path) -> Result<Self, BasemapError> {
        let error = |reason: String| BasemapError::Open { path: path.to_owned(), reason };
        if !path.is_file() {
            return Err(error("no such file".into()));
        }
        let connection =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| error(e.to_string()))?;
        let meta = |key: &str| -> Result<Option<String>, BasemapError> {
            connection
                .query_row("SELECT value FROM metadata WHERE name = ?1", [key], |r| r.get::<_, String>(0))
                .optional()
                .map_err(|e| error(format!("not an MBTiles file (metadata: {e})")))
        };
        let format = meta("format")?.unwrap_or_else(|| "png".into()).to_ascii_lowercase();
        let format = match format.as_str() {
            "png" | "webp" => format,
            "jpg" | "jpeg" => "jpg".into(),
            _ => return Err(BasemapError::NotRaster { path: path.to_owned(), format }),
        };
        let zoom = |key: &str, default: u8| -> Result<u8, BasemapError> {
            match meta(key)? {
                None => Ok(default),
                Some(z) => {
                    z.trim().parse::<u8>().ok().filter(|z| *z <= MAX_ZOOM).ok_or_else(|| error(format!("{key} {z:?}")))
                }
            }
        };
        let (minzoom, maxzoom) = (zoom("minzoom", 0)?, zoom("maxzoom", MAX_ZOOM)?);
        let bounds = meta("bounds")?.and_then(|b| {
            let v: Vec<f64> = b.split(',').filter_map(|n| n.trim().parse().ok()).collect();
            <[f64; 4]>::try_from(v).ok()
        });
        let (attribution, name) = (meta("attribution")?, meta("name")?);
        connection
            .query_row("SELECT count(*) FROM tiles LIMIT 1", [], |r| r.get::<_, i64>(0))
            .map_err(|e| error(format!("no tiles table: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            connection: Mutex::new(connection),
            format,
            minzoom,
            maxzoom,
            bounds,
            attribution,
            name,
        })
    }

    /// The content type of its tiles.
    pub fn content_type(&self) -> &'static str {
        match self.format.as_str() {
            "jpg" => "image/jpeg",
            "webp" => "image/webp",
            _ => "image/png",
        }
    }

    /// The tile at `z/x/y` (XYZ, as the page asks: row 0 at the north; MBTiles stores TMS rows,
    /// row 0 at the south), if the file has it. The caller checks `x` and `y` against `z`.
    pub fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>, BasemapError> {
        let tms_row = (1u64 << z) - 1 - u64::from(y);
        let connection = self.connection.lock().map_err(|_| BasemapError::Read("lock poisoned".into()))?;
        connection
            .query_row(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3",
                rusqlite::params![z, x, tms_row as i64],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(|e| BasemapError::Read(format!("{}: {e}", self.path.display())))
    }
}

/// Checks a tile address from a request: `z` up to [`MAX_ZOOM`], `x` and `y` inside the zoom's
/// 2ᶻ × 2ᶻ tiles; `y` may carry an extension (`3.png`).
pub fn tile_address(z: &str, x: &str, y: &str) -> Option<(u8, u32, u32)> {
    let y = y.split_once('.').map_or(y, |(n, _)| n);
    let z: u8 = z.parse().ok().filter(|z| *z <= MAX_ZOOM)?;
    let (x, y): (u32, u32) = (x.parse().ok()?, y.parse().ok()?);
    let side = 1u64 << z;
    (u64::from(x) < side && u64::from(y) < side).then_some((z, x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_addresses_are_bounded_by_their_zoom() {
        assert_eq!(tile_address("0", "0", "0.png"), Some((0, 0, 0)));
        assert_eq!(tile_address("2", "3", "3"), Some((2, 3, 3)));
        assert_eq!(tile_address("2", "4", "0"), None);
        assert_eq!(tile_address("25", "0", "0"), None);
        assert_eq!(tile_address("x", "0", "0"), None);
        assert_eq!(tile_address("3", "-1", "0"), None);
    }

    #[test]
    fn the_datum_is_stated_and_gcj02_is_refused() {
        assert_eq!(Datum::parse("WGS-84").unwrap(), Datum::Wgs84);
        assert_eq!(Datum::parse("cgcs2000").unwrap(), Datum::Cgcs2000);
        let e = Datum::parse("gcj02").unwrap_err().to_string();
        assert!(e.contains("GCJ-02") && e.contains("README"), "{e}");
        assert!(Basemap::url("https://tiles.example/{z}/{x}/{y}.png", Datum::Wgs84).is_ok());
        assert!(Basemap::url("https://tiles.example/{z}/{x}.png", Datum::Wgs84).is_err());
        assert!(Basemap::url("javascript:{z}{x}{y}", Datum::Wgs84).is_err());
        let url = Basemap::url("https://tiles.example:8443/osm/{z}/{x}/{y}.png", Datum::Wgs84).unwrap();
        assert_eq!(url.foreign_origin().as_deref(), Some("https://tiles.example:8443"));
        assert_eq!(Basemap::url("/osm/{z}/{x}/{y}.png", Datum::Wgs84).unwrap().foreign_origin(), None);
    }
}
