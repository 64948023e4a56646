//! The export for other agencies: NGSI-LD entities (normalized form) of FIWARE's Smart Data
//! Models, so any context broker (Orion-LD, Scorpio, Stellio) or data platform that speaks them
//! can take the layer without a Lintel-specific adapter.
//!
//! - one `Building` per building of the grid (`dataModel.Building`): `peopleOccupancy` (when
//!   fresh), `peopleCapacity`, `category`, `address`, `location`;
//! - `CrowdFlowObserved` (`dataModel.Transportation`) per grid cell, direction and period:
//!   `peopleCount` of people who went in (`inbound`: entries of its buildings) or out
//!   (`outbound`: exits), `dateObservedFrom`/`To` (and `dateObserved` as an ISO 8601 interval),
//!   over whole hours that have ended.
//!
//! **Small counts are not exported.** A cell's hours are cut into fixed spans
//! ([`super::suppress`]): an hour whose entries or exits are from 1 to `threshold − 1`
//! (default 3) is merged with the following hours of that cell until both reach the threshold
//! (the entity then covers the merged span), within fixed blocks of 6 hours counted from the
//! Unix epoch; a span that still falls short is left out. The spans depend on the data, never on
//! the request's `from`, so differencing two exports recovers no small count. A building's
//! occupancy under the threshold is left out of its entity. So a single person's late-night
//! passage never reaches another agency as an event, while analysts keep the exact counts.
//! Zero is exported as is (it reveals no one).

use serde_json::{Value, json};

use super::grid::{Footprint, Grid};
use super::snapshot::Snapshot;
use super::store::{Recorder, StoreError};
use super::suppress::Suppression;
use lintel_wire::UtcTime;

/// The `@context` of every entity: the NGSI-LD core and the two Smart Data Models' contexts
/// (names only; a consumer resolves them, the export needs no network).
pub const CONTEXT: [&str; 3] = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Building/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
];

/// How small counts are kept from other agencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NgsiOptions {
    /// Counts from 1 to `threshold − 1` are merged or left out.
    pub threshold: u64,
    /// The fixed blocks (hours from the Unix epoch) a small count is merged within before it is
    /// left out.
    pub max_merge_hours: u32,
}

impl Default for NgsiOptions {
    fn default() -> Self {
        let s = Suppression::default();
        Self { threshold: s.threshold, max_merge_hours: s.block_hours }
    }
}

impl NgsiOptions {
    pub fn suppression(&self) -> Suppression {
        Suppression { threshold: self.threshold, block_hours: self.max_merge_hours }
    }
}

/// The entities for `from_s..to_s` (flows of whole hours ended by `now`) and the buildings now.
pub fn export(
    grid: &Grid,
    store: &mut Recorder,
    from_s: i64,
    to_s: i64,
    now: UtcTime,
    stale_after_s: i64,
    options: &NgsiOptions,
) -> Result<Vec<Value>, StoreError> {
    let snapshot = Snapshot::build(grid, &store.latest()?, now, stale_after_s);
    let mut entities: Vec<Value> = grid
        .buildings
        .iter()
        .zip(&snapshot.buildings)
        .map(|(b, view)| {
            let mut e = json!({
                "id": urn("Building", &[&b.site, &b.building]),
                "type": "Building",
                "name": property(json!(b.name)),
                "category": property(json!([b.category])),
                "address": property(json!({
                    "streetAddress": b.name,
                    "addressLocality": grid.name.clone().unwrap_or_else(|| b.cell.clone()),
                })),
                "location": geo_property(match &b.footprint {
                    Footprint::Point(p) => json!({"type": "Point", "coordinates": p}),
                    Footprint::Polygon(p) => json!({"type": "Polygon", "coordinates": p}),
                }),
                "@context": CONTEXT,
            });
            if let Some(capacity) = b.capacity {
                e["peopleCapacity"] = property(json!(capacity));
            }
            if let (Some(occupancy), false) = (view.occupancy, view.stale)
                && !is_small(occupancy, options.threshold)
            {
                e["peopleOccupancy"] = property(json!(occupancy));
            }
            e
        })
        .collect();

    // Whole hours only: the window's hours, the flows of those that have ended.
    let hour = 3600;
    let from = from_s - from_s.rem_euclid(hour);
    let end = to_s - to_s.rem_euclid(hour);
    let suppression = options.suppression();
    if end > from {
        for cell in &grid.cells {
            let buildings: Vec<String> = grid.buildings_in(&cell.id).map(|b| b.key()).collect();
            let spans = suppression.read(store, &buildings, from, end, now.unix_seconds())?;
            let location = if cell.polygons.len() == 1 {
                json!({"type": "Polygon", "coordinates": cell.polygons[0]})
            } else {
                json!({"type": "MultiPolygon", "coordinates": cell.polygons})
            };
            for (direction, counts) in [
                ("inbound", spans.iter().map(|p| (p.start_s, p.end_s, p.entries)).collect::<Vec<_>>()),
                ("outbound", spans.iter().map(|p| (p.start_s, p.end_s, p.exits)).collect()),
            ] {
                for (start, stop, count) in counts {
                    entities.push(json!({
                        "id": urn("CrowdFlowObserved", &[&cell.id, direction, &start.to_string()]),
                        "type": "CrowdFlowObserved",
                        "name": property(json!(cell.name)),
                        "direction": property(json!(direction)),
                        "peopleCount": property(json!(count)),
                        "dateObserved": property(json!(format!(
                            "{}/{}", UtcTime::from_unix_seconds(start), UtcTime::from_unix_seconds(stop)
                        ))),
                        "dateObservedFrom": date_time(start),
                        "dateObservedTo": date_time(stop),
                        "location": geo_property(location.clone()),
                        "@context": CONTEXT,
                    }));
                }
            }
        }
    }
    Ok(entities)
}

fn is_small(count: u64, threshold: u64) -> bool {
    count > 0 && count < threshold
}

fn property(value: Value) -> Value {
    json!({"type": "Property", "value": value})
}

fn geo_property(value: Value) -> Value {
    json!({"type": "GeoProperty", "value": value})
}

fn date_time(seconds: i64) -> Value {
    json!({"type": "Property", "value": {"@type": "DateTime", "@value": UtcTime::from_unix_seconds(seconds)}})
}

/// `urn:ngsi-ld:<Type>:<part>:<part>…`, each part percent-encoded beyond letters, digits, `-`, `.`, `_`.
fn urn(kind: &str, parts: &[&str]) -> String {
    let mut id = format!("urn:ngsi-ld:{kind}");
    for part in parts {
        id.push(':');
        for byte in part.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._".contains(&byte) {
                id.push(byte as char);
            } else {
                id.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uris() {
        assert_eq!(urn("Building", &["pets", "hall"]), "urn:ngsi-ld:Building:pets:hall");
        assert_eq!(urn("Building", &["a b", "网"]), "urn:ngsi-ld:Building:a%20b:%E7%BD%91");
    }
}
