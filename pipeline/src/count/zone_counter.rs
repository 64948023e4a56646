//! Turns tracks into entry/exit events on counting lines and door polygons.
//!
//! Each confirmed track keeps, per zone, the last region (side of a line, inside or outside a
//! polygon) where it was seen *clearly*: farther than a hysteresis distance from the boundary.
//! A crossing is counted when the track is seen clearly in the other region for a few frames,
//! however many frames it was missing in between. Counting on the whole trajectory, not on two
//! consecutive frames, is what keeps a crossing that happens while the detector misses a person.

use std::collections::HashMap;
use std::time::Duration;

use lintel_calibration::CameraSpace;
use lintel_calibration::geometry::{Crossing, Point};
use lintel_calibration::site::{Zone, ZoneShape, ZoneSpace};

use crate::detection::BBox;
use crate::track::{Track, TrackId, TrackState};

/// Tuning of the counter (plain data, `Default` gives what the accuracy tests use).
#[derive(Debug, Clone, Copy)]
pub struct CounterConfig {
    /// Frames a track must be seen clearly in its new region before the crossing counts:
    /// 2 means a one-frame flicker never counts.
    pub frames_to_confirm: u32,
    /// How far (pixels) outside the frame edge a box may reach and still "touch" it: a track
    /// that leaves the picture right after crossing still counts.
    pub edge_margin: f32,
}

impl Default for CounterConfig {
    fn default() -> Self {
        Self { frames_to_confirm: 2, edge_margin: 4.0 }
    }
}

/// One counted passage through one zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossingEvent {
    /// Index of the zone in the counter's list.
    pub zone: usize,
    /// The track that crossed, so the node can look up its appearance for de-duplication across
    /// cameras. In memory only: the aggregator keeps directions and times, never this.
    pub track: TrackId,
    pub direction: Crossing,
    /// Frame where the track was first seen clearly on the new side.
    pub frame: u64,
    pub pts: Option<Duration>,
}

/// Two regions of a zone: `true` is the entry side of a line or the inside of a polygon.
type Region = bool;

#[derive(Debug, Clone, Copy)]
struct ZoneState {
    /// Region and place of the last clear sighting that was counted from.
    settled: Option<(Region, Point)>,
    /// A different region seen clearly, not yet for long enough.
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    region: Region,
    first_frame: u64,
    first_pts: Option<Duration>,
    frames: u32,
    last_point: Point,
    last_touched_edge: bool,
}

/// Counts crossings of every zone of one camera.
pub struct ZoneCounter {
    /// The zones in their space (undistorted pixels, or metres on the floor), each with its
    /// hysteresis distance in the same units.
    zones: Vec<(ZoneShape, f32, ZoneSpace)>,
    space: CameraSpace,
    /// Whether any zone is on the floor: only then are feet placed on it.
    on_floor: bool,
    frame_size: (f32, f32),
    config: CounterConfig,
    states: HashMap<TrackId, Vec<ZoneState>>,
}

impl ZoneCounter {
    /// Counts on `zones` (normalised or in metres, as in the site file) in frames that `space`
    /// maps (their size, the camera's lens and floor).
    pub fn new(zones: &[Zone], space: CameraSpace, config: CounterConfig) -> Self {
        let on_floor = zones.iter().any(|z| z.space == ZoneSpace::Floor);
        let zones = zones
            .iter()
            .map(|z| {
                let (shape, hysteresis) = space.zone_shape(z);
                (shape, hysteresis, z.space)
            })
            .collect();
        let (w, h) = space.size();
        Self { zones, space, on_floor, frame_size: (w as f32, h as f32), config, states: HashMap::new() }
    }

    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// Feeds the tracker's output for one frame; crossings found are appended to `events`.
    pub fn update(
        &mut self,
        tracks: &[Track],
        removed: &[TrackId],
        frame: u64,
        pts: Option<Duration>,
        events: &mut Vec<CrossingEvent>,
    ) {
        for track in tracks {
            // Only real sightings count: a prediction through a gap is a guess, and an unconfirmed
            // track may be a false detection. A tentative track's history is kept, so a person
            // who crosses while being confirmed is still counted once confirmed.
            if !track.matched {
                continue;
            }
            let (picture, floor) = self.space.zone_points(self.anchor_of(&track.bbox), self.on_floor);
            let touches_edge = self.touches_edge(&track.bbox);
            let confirmed = track.state == TrackState::Confirmed;
            let zone_count = self.zones.len();
            let states = self
                .states
                .entry(track.id)
                .or_insert_with(|| vec![ZoneState { settled: None, pending: None }; zone_count]);
            for (zone, ((geometry, hysteresis, space), state)) in self.zones.iter().zip(states.iter_mut()).enumerate() {
                // Feet above the floor's horizon are nowhere on it: no sighting for that zone.
                let anchor = match space {
                    ZoneSpace::Picture => Some(picture),
                    ZoneSpace::Floor => floor,
                };
                let Some(anchor) = anchor else { continue };
                let Some(region) = classify(geometry, *hysteresis, anchor) else { continue };
                let sighting = Sighting { region, point: anchor, frame, pts, touches_edge };
                if let Some((direction, since)) = observe(state, geometry, sighting, confirmed, self.config) {
                    events.push(CrossingEvent { zone, track: track.id, direction, frame: since.frame, pts: since.pts });
                }
            }
        }
        for id in removed {
            if let Some(states) = self.states.remove(id) {
                self.flush(*id, states, false, events);
            }
        }
    }

    /// End of stream: the video stopped, not the person, so a crossing seen for too few frames
    /// still counts.
    pub fn finish(&mut self, events: &mut Vec<CrossingEvent>) {
        let mut states: Vec<_> = self.states.drain().collect();
        // Events in a stable order, whatever the hash map's.
        states.sort_by_key(|(id, _)| *id);
        for (id, s) in states {
            self.flush(id, s, true, events);
        }
    }

    /// A track ends: a crossing seen for too few frames still counts when the person was last
    /// seen at the edge of the picture (they walked out of it, so there were no more frames),
    /// or when the stream ended.
    fn flush(&self, track: TrackId, states: Vec<ZoneState>, stream_ended: bool, events: &mut Vec<CrossingEvent>) {
        for (zone, state) in states.into_iter().enumerate() {
            if let (Some((from, from_point)), Some(pending)) = (state.settled, state.pending)
                && pending.region != from
                && (pending.last_touched_edge || stream_ended)
                && passes_through(&self.zones[zone].0, from_point, pending.last_point)
            {
                events.push(CrossingEvent {
                    zone,
                    track,
                    direction: direction_of(pending.region),
                    frame: pending.first_frame,
                    pts: pending.first_pts,
                });
            }
        }
    }

    /// Where a person stands: the bottom centre of the box, kept inside the picture. A box cut by
    /// the frame edge (or predicted past it) must not put the feet beyond the end of a line drawn
    /// to the edge, or the crossing would seem to go around it.
    fn anchor_of(&self, bbox: &BBox) -> (f32, f32) {
        let (x, y) = bbox.bottom_centre();
        (x.clamp(0.0, self.frame_size.0), y.clamp(0.0, self.frame_size.1))
    }

    fn touches_edge(&self, bbox: &BBox) -> bool {
        let m = self.config.edge_margin;
        bbox.left <= m
            || bbox.top <= m
            || bbox.right() >= self.frame_size.0 - m
            || bbox.bottom() >= self.frame_size.1 - m
    }
}

#[derive(Clone, Copy)]
struct Sighting {
    region: Region,
    point: Point,
    frame: u64,
    pts: Option<Duration>,
    touches_edge: bool,
}

/// When a crossing happened: the first frame the new region was seen.
#[derive(Clone, Copy)]
struct Since {
    frame: u64,
    pts: Option<Duration>,
}

/// Updates one track's state for one zone; returns a crossing when one completes.
fn observe(
    state: &mut ZoneState,
    geometry: &ZoneShape,
    s: Sighting,
    confirmed: bool,
    config: CounterConfig,
) -> Option<(Crossing, Since)> {
    let Some((settled, from_point)) = state.settled else {
        state.settled = Some((s.region, s.point));
        return None;
    };
    if s.region == settled {
        // Back where it was (or never left): a flicker to the other side is forgotten.
        state.pending = None;
        state.settled = Some((settled, s.point));
        return None;
    }
    let pending = state.pending.get_or_insert(Pending {
        region: s.region,
        first_frame: s.frame,
        first_pts: s.pts,
        frames: 0,
        last_point: s.point,
        last_touched_edge: false,
    });
    pending.frames += 1;
    pending.last_point = s.point;
    pending.last_touched_edge = s.touches_edge;
    if !confirmed || pending.frames < config.frames_to_confirm {
        return None;
    }
    let since = Since { frame: pending.first_frame, pts: pending.first_pts };
    let counted = passes_through(geometry, from_point, s.point).then(|| (direction_of(s.region), since));
    // Whether or not the path went through the segment (it may have walked around its end),
    // the track is now settled in its new region.
    state.pending = None;
    state.settled = Some((s.region, s.point));
    counted
}

fn direction_of(region: Region) -> Crossing {
    if region { Crossing::Entry } else { Crossing::Exit }
}

/// The region of `p`, or `None` inside the hysteresis band around the boundary.
fn classify(geometry: &ZoneShape, hysteresis: f32, p: Point) -> Option<Region> {
    match geometry {
        ZoneShape::Line(line) => {
            let d = line.signed_distance(p);
            (d.abs() >= hysteresis.max(f32::MIN_POSITIVE)).then_some(d > 0.0)
        }
        ZoneShape::Polygon(polygon) => {
            (polygon.distance_to_boundary(p) >= hysteresis.max(f32::MIN_POSITIVE)).then(|| polygon.contains(p))
        }
    }
}

/// Whether the straight path between two clear sightings goes through a line's segment
/// (not around its end). Any change of polygon region is a passage through its boundary.
fn passes_through(geometry: &ZoneShape, from: Point, to: Point) -> bool {
    match geometry {
        ZoneShape::Line(line) => line.crossing(from, to).is_some(),
        ZoneShape::Polygon(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use lintel_calibration::geometry::{CountingLine, Polygon, Side};

    use super::*;
    use crate::track::TrackId;

    fn track(id: u64, x: f32, feet_y: f32, state: TrackState, matched: bool) -> Track {
        Track {
            id: TrackId(id),
            bbox: BBox { left: x - 10.0, top: feet_y - 50.0, width: 20.0, height: 50.0 },
            score: 0.9,
            state,
            matched,
            hits: 10,
            frames_since_seen: 0,
            age: 10,
        }
    }

    /// A counter of one zone given in pixels of a 200×200 frame, with 5 px of hysteresis (the zone
    /// is normalised as a site file has it; these values come back exact).
    fn counter_200(shape: ZoneShape) -> ZoneCounter {
        let zone = Zone {
            camera: "cam".into(),
            name: "zone".into(),
            shape: match shape {
                ZoneShape::Line(l) => ZoneShape::Line(CountingLine::new(
                    Point::new(l.a.x / 200.0, l.a.y / 200.0),
                    Point::new(l.b.x / 200.0, l.b.y / 200.0),
                    l.entry_side,
                )),
                ZoneShape::Polygon(p) => ZoneShape::Polygon(Polygon::new(
                    p.points.iter().map(|q| Point::new(q.x / 200.0, q.y / 200.0)).collect(),
                )),
            },
            min_distance: 5.0 / 200.0,
            aggregate: true,
            space: ZoneSpace::Picture,
            entrance: None,
        };
        let counter = ZoneCounter::new(&[zone], CameraSpace::plain((200, 200)), CounterConfig::default());
        assert_eq!(counter.zones[0].1, 5.0);
        counter
    }

    /// A horizontal line across a 200×200 frame at y = 100; below it (Right of A→B) is inside.
    fn line_counter() -> ZoneCounter {
        let line = CountingLine::new(Point::new(0.0, 100.0), Point::new(200.0, 100.0), Side::Right);
        counter_200(ZoneShape::Line(line))
    }

    fn walk(counter: &mut ZoneCounter, ys: &[Option<f32>], state: TrackState) -> Vec<CrossingEvent> {
        let mut events = Vec::new();
        for (frame, y) in ys.iter().enumerate() {
            let tracks: Vec<Track> = match y {
                Some(y) => vec![track(1, 100.0, *y, state, true)],
                None => vec![track(1, 100.0, 0.0, state, false)],
            };
            counter.update(&tracks, &[], frame as u64, None, &mut events);
        }
        counter.update(&[], &[TrackId(1)], ys.len() as u64, None, &mut events);
        events
    }

    #[test]
    fn a_walk_down_through_the_line_is_one_entry() {
        let ys: Vec<_> = (0..20).map(|i| Some(60.0 + i as f32 * 5.0)).collect();
        let events = walk(&mut line_counter(), &ys, TrackState::Confirmed);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].direction, Crossing::Entry);
    }

    #[test]
    fn jitter_on_the_line_counts_nothing() {
        let ys: Vec<_> = (0..30).map(|i| Some(if i % 2 == 0 { 97.0 } else { 103.0 })).collect();
        assert!(walk(&mut line_counter(), &ys, TrackState::Confirmed).is_empty());
    }

    #[test]
    fn a_one_frame_flicker_does_not_count() {
        let mut ys = vec![Some(80.0); 10];
        ys[5] = Some(130.0);
        assert!(walk(&mut line_counter(), &ys, TrackState::Confirmed).is_empty());
    }

    #[test]
    fn unconfirmed_tracks_do_not_count() {
        let ys: Vec<_> = (0..20).map(|i| Some(60.0 + i as f32 * 5.0)).collect();
        assert!(walk(&mut line_counter(), &ys, TrackState::Tentative).is_empty());
    }

    #[test]
    fn a_crossing_during_a_detection_gap_counts() {
        let mut ys = vec![Some(70.0), Some(75.0), Some(80.0)];
        ys.extend([None; 8]);
        ys.extend([Some(125.0), Some(130.0), Some(135.0)]);
        let events = walk(&mut line_counter(), &ys, TrackState::Confirmed);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].direction, Crossing::Entry);
    }

    #[test]
    fn walking_back_and_forth_counts_both_ways() {
        let mut ys: Vec<_> = (0..10).map(|i| Some(60.0 + i as f32 * 8.0)).collect();
        ys.extend((0..10).map(|i| Some(132.0 - i as f32 * 8.0)));
        let events = walk(&mut line_counter(), &ys, TrackState::Confirmed);
        let directions: Vec<_> = events.iter().map(|e| e.direction).collect();
        assert_eq!(directions, vec![Crossing::Entry, Crossing::Exit]);
    }

    #[test]
    fn a_line_near_the_frame_edge_still_counts() {
        // Line at y = 190 of a 200-high frame: the person is seen once beyond it, at the edge, then leaves.
        let line = CountingLine::new(Point::new(0.0, 190.0), Point::new(200.0, 190.0), Side::Right);
        let mut counter = counter_200(ZoneShape::Line(line));
        let ys = [Some(160.0), Some(170.0), Some(180.0), Some(199.0)];
        let events = walk(&mut counter, &ys.map(|y| y), TrackState::Confirmed);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].direction, Crossing::Entry);
    }

    #[test]
    fn passing_beside_a_short_line_counts_nothing() {
        let line = CountingLine::new(Point::new(150.0, 100.0), Point::new(200.0, 100.0), Side::Right);
        let mut counter = counter_200(ZoneShape::Line(line));
        let ys: Vec<_> = (0..20).map(|i| Some(60.0 + i as f32 * 5.0)).collect();
        assert!(walk(&mut counter, &ys, TrackState::Confirmed).is_empty());
    }

    #[test]
    fn entering_a_door_polygon_is_an_entry() {
        let door = Polygon::new(vec![
            Point::new(50.0, 100.0),
            Point::new(150.0, 100.0),
            Point::new(150.0, 180.0),
            Point::new(50.0, 180.0),
        ]);
        let mut counter = counter_200(ZoneShape::Polygon(door));
        let ys: Vec<_> = (0..10).map(|i| Some(60.0 + i as f32 * 8.0)).collect();
        let events = walk(&mut counter, &ys, TrackState::Confirmed);
        assert_eq!(events.iter().map(|e| e.direction).collect::<Vec<_>>(), vec![Crossing::Entry]);
    }

    #[test]
    fn a_crossing_seen_once_when_the_video_ends_counts() {
        let mut counter = line_counter();
        let mut events = Vec::new();
        for (frame, y) in [70.0, 80.0, 90.0, 120.0].into_iter().enumerate() {
            counter.update(&[track(1, 100.0, y, TrackState::Confirmed, true)], &[], frame as u64, None, &mut events);
        }
        assert!(events.is_empty(), "one frame on the new side is not enough while the video goes on");
        counter.finish(&mut events);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].frame, 3);
    }

    #[test]
    fn feet_below_the_frame_still_cross_a_line_drawn_to_the_edge() {
        // A vertical line down to the bottom edge; the person walks left along the bottom with the
        // box reaching 20 px below the picture.
        let line = CountingLine::new(Point::new(100.0, 0.0), Point::new(100.0, 200.0), Side::Right);
        let mut counter = counter_200(ZoneShape::Line(line));
        let mut events = Vec::new();
        for (frame, x) in [150.0, 140.0, 130.0, 120.0, 90.0, 80.0, 70.0].into_iter().enumerate() {
            counter.update(&[track(1, x, 220.0, TrackState::Confirmed, true)], &[], frame as u64, None, &mut events);
        }
        assert_eq!(events.iter().map(|e| e.direction).collect::<Vec<_>>(), vec![Crossing::Entry]);
    }
}
