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
//! **Small counts are not exported.** A count from 1 to `threshold − 1` (default 3) in a cell's
//! hour is merged with the following hours of that cell and direction until the sum reaches the
//! threshold (the entity then covers the merged span), for at most `max_merge_hours`; a span
//! that still falls short is left out. A building's occupancy under the threshold is left out
//! of its entity. So a single person's late-night passage never reaches another agency as an
//! event, while the community's own map and history keep the exact counts. Zero is exported as
//! is (it reveals no one).

use serde_json::{Value, json};

use super::grid::{Footprint, Grid};
use super::snapshot::Snapshot;
use super::store::{Recorder, Step, StoreError};
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
    /// The longest span a small count is merged over before it is left out.
    pub max_merge_hours: u32,
}

impl Default for NgsiOptions {
    fn default() -> Self {
        Self { threshold: 3, max_merge_hours: 6 }
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

    let hour = 3600;
    let from = from_s - from_s.rem_euclid(hour);
    let end = to_s.min(now.unix_seconds());
    let end = end - end.rem_euclid(hour);
    if end > from {
        for cell in &grid.cells {
            let buildings: Vec<String> = grid.buildings_in(&cell.id).map(|b| b.key()).collect();
            let points = store.history(&buildings, from, end, Step::Hour, 100_000)?;
            let location = if cell.polygons.len() == 1 {
                json!({"type": "Polygon", "coordinates": cell.polygons[0]})
            } else {
                json!({"type": "MultiPolygon", "coordinates": cell.polygons})
            };
            for (direction, counts) in [
                ("inbound", points.iter().map(|p| (p.start_s, p.end_s, p.entries)).collect::<Vec<_>>()),
                ("outbound", points.iter().map(|p| (p.start_s, p.end_s, p.exits)).collect()),
            ] {
                for (start, stop, count) in suppress(&counts, options) {
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

/// Consecutive `(start, end, count)` hours → the spans exported: small counts merged forward
/// with the next hours (only if they follow without a gap) until they reach the threshold, or
/// left out after `max_merge_hours` or at a gap or the end.
pub fn suppress(hours: &[(i64, i64, u64)], options: &NgsiOptions) -> Vec<(i64, i64, u64)> {
    let mut out = Vec::new();
    let mut pending: Option<(i64, i64, u64, u32)> = None;
    for &(start, end, count) in hours {
        if let Some((_, p_end, _, _)) = pending
            && p_end != start
        {
            pending = None; // a gap: what was pending is left out
        }
        match pending.take() {
            None if !is_small(count, options.threshold) => out.push((start, end, count)),
            None => pending = Some((start, end, count, 1)),
            Some((p_start, _, p_count, hours)) => {
                let sum = p_count + count;
                if sum >= options.threshold {
                    out.push((p_start, end, sum));
                } else if hours < options.max_merge_hours {
                    pending = Some((p_start, end, sum, hours + 1));
                }
            }
        }
    }
    out
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

    const H: i64 = 3600;

    fn hours(counts: &[u64]) -> Vec<(i64, i64, u64)> {
        counts.iter().enumerate().map(|(i, &c)| (i as i64 * H, (i as i64 + 1) * H, c)).collect()
    }

    #[test]
    fn small_counts_merge_forward_until_they_reach_the_threshold() {
        let o = NgsiOptions::default();
        assert_eq!(suppress(&hours(&[5, 0, 7]), &o), hours(&[5, 0, 7]));
        // 1 + 0 + 1 + 2 = 4 over four hours; then 9 alone.
        assert_eq!(suppress(&hours(&[1, 0, 1, 2, 9]), &o), vec![(0, 4 * H, 4), (4 * H, 5 * H, 9)]);
        // A lone passage at the end never goes out.
        assert_eq!(suppress(&hours(&[4, 1]), &o), vec![(0, H, 4)]);
        // Merged at most six hours, then left out.
        assert_eq!(suppress(&hours(&[1, 0, 0, 0, 0, 0, 0, 5]), &o), vec![(7 * H, 8 * H, 5)]);
        // Never across a gap.
        assert_eq!(suppress(&[(0, H, 1), (2 * H, 3 * H, 2)], &o), vec![]);
        // Threshold 1: nothing is small.
        assert_eq!(suppress(&hours(&[1, 2]), &NgsiOptions { threshold: 1, max_merge_hours: 6 }), hours(&[1, 2]));
    }

    #[test]
    fn ids_are_uris() {
        assert_eq!(urn("Building", &["pets", "hall"]), "urn:ngsi-ld:Building:pets:hall");
        assert_eq!(urn("Building", &["a b", "网"]), "urn:ngsi-ld:Building:a%20b:%E7%BD%91");
    }
}
