//! The ByteTrack association loop: settings, per-track state and the stages
//! of one frame.

use super::assignment::{AssignmentSolver, CostMatrix};
use super::kalman::BoxFilter;
use super::{Track, TrackId, TrackState};
use crate::detection::{BBox, Detection, Embedding, Sighting};

/// Tracker settings. The defaults are ByteTrack's, except `min_hits`, which
/// asks for three matched frames before a person is trusted, `fuse_score`
/// (off: the SSD pedestrian detector's scores are low for people who are
/// partly hidden, and fusing them lost those people on PETS09-S2L1), and the
/// buffered IoU of lost tracks (ByteTrack has none).
///
/// Costs are `1 − IoU` between a track's predicted box and a detection, or
/// `1 − IoU × score` where `fuse_score` applies; a `max_cost` of 0.8 thus
/// means "IoU at least 0.2".
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    /// Detections scoring at least this are *high*: they may match any track
    /// and start new ones.
    pub high_score: f32,
    /// Detections scoring at least this, but below `high_score`, are *low*:
    /// they can only keep a confirmed track alive (ByteTrack's second stage,
    /// which rescues people who are partly occluded). Lower ones are ignored.
    pub low_score: f32,
    /// A high detection matched to no track starts one only if it scores at
    /// least this.
    pub new_track_score: f32,
    /// Largest cost of a match between a high detection and a confirmed or
    /// lost track.
    pub first_stage_max_cost: f32,
    /// Largest cost of a match between a low detection and a confirmed track
    /// left over by the first stage (plain IoU, never score-fused: low scores
    /// are expected there).
    pub second_stage_max_cost: f32,
    /// Largest cost of a match between a high detection left over by the
    /// first stage and a tentative track.
    pub tentative_max_cost: f32,
    /// Multiply IoU by the detection score in the first and tentative
    /// stages, so a confident detection wins over a doubtful one at the same
    /// overlap (ByteTrack's default outside crowded MOT20 scenes).
    pub fuse_score: bool,
    /// Matched frames, in a row and counting the first, after which a
    /// tentative track is confirmed (birth hysteresis). 0 behaves as 1:
    /// confirmed at birth.
    pub min_hits: u32,
    /// Frames a lost track is kept, coasting on its prediction, before it is
    /// removed (death hysteresis). In steps of the clock
    /// (`steps_per_second`).
    pub max_lost_frames: u32,
    /// Confirm the tracks born in the first frame at once, as ByteTrack does,
    /// so people already in view at start-up are followed from the first
    /// frame. Off by default: every confirmed track then has at least
    /// `min_hits` matches, and a false detection in the first frame cannot
    /// become a confirmed ghost; a real person is confirmed two frames later
    /// anyway.
    pub confirm_first_frame: bool,
    /// How much a lost track's predicted box and the candidate detections are
    /// widened for matching, per clock step the track has been missing, as a
    /// fraction of their size on each side (buffered IoU, as in C-BIoU). The
    /// prediction of a person hidden for a second drifts; plain IoU with it
    /// falls to zero and the person comes back under a new id, which is the
    /// commonest way a crossing is lost.
    pub lost_buffer_per_frame: f32,
    /// The most a lost track's box is widened.
    pub max_lost_buffer: f32,
    /// How appearance embeddings, when given, enter the association.
    pub appearance: AppearanceConfig,
    /// Rate of the tracker's clock, in steps a second. The motion model, the lost-track buffer
    /// and every `*_frames` setting count in these steps, and an update advances the clock by
    /// the time since the previous one (see [`Tracker::update_at`]). The per-step defaults were
    /// tuned at 10 steps a second; [`at_fps`](Self::at_fps) never runs the clock slower, so a
    /// camera analysed at 5 frames/s has its people's motion predicted over two steps per frame
    /// rather than as one long jump, and a frame dropped by a busy box is one step more.
    pub steps_per_second: f64,
    /// Steps an update advances when the frame has no timestamp to measure the time by.
    pub steps_per_update: u32,
}

/// The slowest clock [`TrackerConfig::at_fps`] gives a tracker: the rate its per-step defaults
/// were tuned at (PETS09-S2L1, 10 frames/s).
pub const MIN_STEPS_PER_SECOND: f64 = 10.0;

/// Appearance in the association (BoT-SORT / DeepSORT style); used only for the tracks and
/// detections that have an embedding, so a tracker fed none behaves as plain ByteTrack.
///
/// Distances are cosine distances (1 − cosine similarity) between L2-normalised embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct AppearanceConfig {
    /// Weight of the appearance distance in the cost of a pair that motion allows (its IoU cost
    /// within the stage's limit): cost = (1 − w) × (1 − IoU) + w × distance.
    pub weight: f32,
    /// A pair that motion allows but that looks more different than this never matches: it
    /// keeps two people who brush past each other from swapping identities.
    pub max_distance: f32,
    /// A lost track and a detection that do not overlap match on appearance alone when they are
    /// this similar and the detection is within reach of where the track was last seen.
    pub reid_distance: f32,
    /// Frames a lost track that has an embedding stays searchable by appearance after
    /// `max_lost_frames` (the lost-track pool). In steps of the clock.
    pub reid_frames: u32,
    /// Reach of the appearance-only search: the detection's centre within (1 + this × frames
    /// missing) track heights of where the track was last seen, and never more than `max_reach`
    /// heights.
    pub reach_per_frame: f32,
    pub max_reach: f32,
    /// How much of the track's embedding each new sighting keeps (exponential moving average).
    pub keep: f32,
    /// A matched track's embedding is refreshed after this many frames (embeddings on demand:
    /// a person walking alone is embedded now and then, not every frame).
    pub refresh_frames: u32,
}

impl Default for AppearanceConfig {
    fn default() -> Self {
        Self {
            weight: 0.3,
            max_distance: 0.4,
            reid_distance: 0.08,
            reid_frames: 35,
            reach_per_frame: 0.1,
            max_reach: 3.0,
            keep: 0.9,
            refresh_frames: 10,
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            first_stage_max_cost: 0.8,
            second_stage_max_cost: 0.5,
            tentative_max_cost: 0.7,
            fuse_score: false,
            min_hits: 3,
            max_lost_frames: 30,
            confirm_first_frame: false,
            lost_buffer_per_frame: 0.1,
            max_lost_buffer: 0.5,
            appearance: AppearanceConfig::default(),
            steps_per_second: MIN_STEPS_PER_SECOND,
            steps_per_update: 1,
        }
    }
}

impl TrackerConfig {
    /// These settings for `fps` analysed frames a second: the clock runs at `fps`, or at
    /// [`MIN_STEPS_PER_SECOND`] when that is faster, and durations become steps of it: a lost
    /// track is kept `max_lost` (found again by motion), and `reid_memory` more when its
    /// appearance is known; an embedding is refreshed once a second; the reach of the
    /// appearance-only search grows by 0.7 person heights a second (a brisk walk). Analysing
    /// slower than the clock, `min_hits` shrinks so that birth takes as long as at the clock's
    /// rate (3 sightings at 10 frames/s span 0.2 s, as 2 do at 5), but never below 2.
    pub fn at_fps(mut self, fps: f64, max_lost: std::time::Duration, reid_memory: std::time::Duration) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { MIN_STEPS_PER_SECOND };
        let clock = fps.max(MIN_STEPS_PER_SECOND);
        self.steps_per_second = clock;
        self.steps_per_update = (clock / fps).round().max(1.0) as u32;
        if self.min_hits > 2 {
            let span = f64::from(self.min_hits - 1) * fps / clock;
            self.min_hits = (span.round() as u32 + 1).max(2);
        }
        let steps = |d: std::time::Duration| (d.as_secs_f64() * clock).round().max(1.0) as u32;
        self.max_lost_frames = steps(max_lost);
        self.appearance.reid_frames = steps(reid_memory);
        self.appearance.refresh_frames = steps(std::time::Duration::from_secs(1));
        self.appearance.reach_per_frame = (0.7 / clock) as f32;
        self
    }
}

/// What one [`Tracker::update`] returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerUpdate<'a> {
    /// Every live track (tentative, confirmed and lost), in increasing id
    /// order. Counting usually wants the confirmed ones.
    pub tracks: &'a [Track],
    /// Ids of the tracks removed in this update (lost too long, or tentative
    /// and missed), which will never appear again: whoever keeps per-track
    /// state, such as a counter, can forget them. Tentative ids are included.
    pub removed: &'a [TrackId],
}

/// ByteTrack-style multi-object tracker for one camera. Call
/// [`update_at`](Self::update_at) (or [`update`](Self::update)) once per
/// analysed frame, with that frame's detections.
///
/// Each update:
/// 1. predicts every track to the frame's time, one clock step at a time
///    (lost tracks keep their height);
/// 2. matches high detections to confirmed and lost tracks; a lost track that
///    is matched is confirmed again with the same id;
/// 3. matches low detections to the confirmed tracks still unmatched; those
///    still unmatched become lost;
/// 4. matches the high detections left to tentative tracks; a tentative
///    track that is matched `min_hits` times is confirmed, one that misses a
///    frame is removed;
/// 5. removes tracks lost for more than `max_lost_frames`;
/// 6. starts a tentative track from each high detection still unmatched that
///    scores at least `new_track_score`.
///
/// Matching is optimal assignment on the cost matrix of each stage. The
/// working memory is kept between frames, so a steady scene allocates
/// nothing.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    /// Updates since creation or [`reset`](Self::reset).
    frame: u64,
    /// The clock step of the last update's timestamp, if it had one.
    last_step: Option<i64>,
    next_id: u64,
    /// Live tracks with their motion state, in increasing id order.
    live: Vec<Live>,
    /// The public view of `live`, rebuilt after each update.
    tracks: Vec<Track>,
    removed: Vec<TrackId>,
    scratch: Scratch,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
struct Live {
    track: Track,
    filter: BoxFilter,
    remove: bool,
    /// What the person looks like (moving average of the sightings embedded), if known.
    embedding: Option<Embedding>,
    /// Frames since `embedding` last took a sighting.
    embedding_age: u32,
    /// The box of the last matched detection, where an appearance-only search starts.
    last_seen: BBox,
}

impl Live {
    fn born(id: TrackId, detection: &Detection, state: TrackState, embedding: Option<Embedding>) -> Self {
        let filter = BoxFilter::new(&detection.bbox);
        let track = Track {
            id,
            bbox: filter.bbox(),
            score: detection.score,
            state,
            matched: true,
            hits: 1,
            frames_since_seen: 0,
            age: 1,
        };
        Self { track, filter, remove: false, embedding, embedding_age: 0, last_seen: detection.bbox }
    }
}

/// Per-frame index lists, kept for their allocations.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Indices of high and low detections.
    high: Vec<usize>,
    low: Vec<usize>,
    /// Indices of the tracks taking part in the current stage.
    pool: Vec<usize>,
    /// High detections left by the first stage.
    high_left: Vec<usize>,
    /// Tracks left by the first stage.
    tracks_left: Vec<usize>,
    /// Per detection: whether it overlaps another high detection.
    crowded: Vec<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Stage<'a> {
    max_cost: f32,
    fuse_score: bool,
    /// Widening of lost tracks' boxes per missing clock step, and its cap.
    lost_buffer: (f32, f32),
    /// The embeddings of the detections (empty: none), and how to use them.
    embeddings: &'a [Option<Embedding>],
    appearance: &'a AppearanceConfig,
    /// Match lost tracks by appearance alone (the search of the lost-track pool), instead of by
    /// motion refined by appearance.
    appearance_only: bool,
    /// Frames a lost track may be missing and still be matched by motion: after that its
    /// prediction means little, and only its appearance can find it.
    max_lost_frames: u32,
}

impl Stage<'_> {
    /// Cost of matching `detection` (index `d`) to the track `live`.
    fn cost(&self, live: &Live, detections: &[Detection], d: usize) -> f32 {
        let (track, detection) = (&live.track, &detections[d]);
        let buffer = match track.state {
            TrackState::Lost => (self.lost_buffer.0 * track.frames_since_seen as f32).min(self.lost_buffer.1),
            _ => 0.0,
        };
        let iou = widened(&track.bbox, buffer).iou(&widened(&detection.bbox, buffer));
        let motion = 1.0 - if self.fuse_score { iou * detection.score } else { iou };
        let appearance = match (&live.embedding, self.embeddings.get(d)) {
            (Some(seen), Some(Some(now))) => Some(seen.distance(now)),
            _ => None,
        };
        let a = self.appearance;
        match appearance {
            // A lost person, anywhere within reach, who looks the same.
            Some(distance) if self.appearance_only => {
                let found =
                    track.state == TrackState::Lost && distance <= a.reid_distance && within_reach(live, detection, a);
                if found { distance } else { 1.0 }
            }
            None if self.appearance_only => 1.0,
            _ if track.frames_since_seen > self.max_lost_frames => 1.0,
            None => motion,
            // Motion rules out the pair: appearance cannot bring it back here.
            Some(_) if motion > self.max_cost => 1.0,
            // Looks like someone else: never the same person, however well the boxes overlap.
            Some(distance) if distance > a.max_distance => 1.0,
            Some(distance) => (1.0 - a.weight) * motion + a.weight * distance,
        }
    }
}

/// Whether `detection` is close enough to where the lost track was last seen for the person to
/// have walked there, and of a plausible size.
fn within_reach(live: &Live, detection: &Detection, a: &AppearanceConfig) -> bool {
    let seen = &live.last_seen;
    let reach = seen.height * (1.0 + a.reach_per_frame * live.track.frames_since_seen as f32).min(a.max_reach);
    let (sx, sy) = (seen.left + seen.width / 2.0, seen.top + seen.height / 2.0);
    let b = &detection.bbox;
    let (dx, dy) = (b.left + b.width / 2.0 - sx, b.top + b.height / 2.0 - sy);
    let ratio = b.height / seen.height;
    dx.hypot(dy) <= reach && (0.5..=2.0).contains(&ratio)
}

/// Builds the cost matrix of a stage and solves it; the outcome stays in the
/// matcher until the next stage.
#[derive(Debug, Clone, Default)]
struct Matcher {
    costs: CostMatrix,
    solver: AssignmentSolver,
    /// `(live index, detection index)` pairs.
    matches: Vec<(usize, usize)>,
    unmatched_tracks: Vec<usize>,
    unmatched_detections: Vec<usize>,
}

impl Matcher {
    fn associate(
        &mut self,
        live: &[Live],
        detections: &[Detection],
        pool: &[usize],
        candidates: &[usize],
        stage: Stage,
    ) {
        self.costs.reset(pool.len(), candidates.len(), 1.0);
        for (row, &t) in pool.iter().enumerate() {
            for (cost, &d) in self.costs.row_mut(row).iter_mut().zip(candidates) {
                *cost = stage.cost(&live[t], detections, d);
            }
        }
        let assignment = self.solver.solve(&self.costs, stage.max_cost);
        self.matches.clear();
        self.matches.extend(assignment.matches.iter().map(|&(r, c)| (pool[r], candidates[c])));
        self.unmatched_tracks.clear();
        self.unmatched_tracks.extend(assignment.unmatched_rows.iter().map(|&r| pool[r]));
        self.unmatched_detections.clear();
        self.unmatched_detections.extend(assignment.unmatched_cols.iter().map(|&c| candidates[c]));
    }

    /// Corrects each matched track with its detection, and its appearance with the detection's
    /// embedding unless the crop was shared with someone else.
    fn apply(&self, live: &mut [Live], detections: &[Detection], min_hits: u32, appearance: &Appearance<'_>) {
        for &(t, d) in &self.matches {
            let Live { track, filter, embedding, embedding_age, last_seen, .. } = &mut live[t];
            let detection = &detections[d];
            if let Some(Some(now)) = appearance.embeddings.get(d)
                && !appearance.crowded.get(d).copied().unwrap_or(false)
            {
                match embedding {
                    Some(seen) => seen.blend(now, appearance.config.keep),
                    None => *embedding = Some(now.clone()),
                }
                *embedding_age = 0;
            }
            *last_seen = detection.bbox;
            filter.update(&detection.bbox);
            track.bbox = filter.bbox();
            track.score = detection.score;
            track.matched = true;
            track.hits = track.hits.saturating_add(1);
            track.frames_since_seen = 0;
            track.state = match track.state {
                TrackState::Tentative if track.hits < min_hits => TrackState::Tentative,
                _ => TrackState::Confirmed,
            };
        }
    }
}

/// The embeddings of one update, with which detections share their crop with another person.
struct Appearance<'a> {
    embeddings: &'a [Option<Embedding>],
    crowded: &'a [bool],
    config: &'a AppearanceConfig,
}

/// Two detections overlapping more than this share too much of their crops for either to
/// update a track's appearance.
const CROWDED_IOU: f32 = 0.3;

/// `b` grown by `buffer` × its size on every side.
fn widened(b: &BBox, buffer: f32) -> BBox {
    if buffer <= 0.0 {
        return *b;
    }
    let (dx, dy) = (b.width * buffer, b.height * buffer);
    BBox { left: b.left - dx, top: b.top - dy, width: b.width + 2.0 * dx, height: b.height + 2.0 * dy }
}

/// A box the Kalman filter can take: finite, with a positive size. Anything
/// else from the detector is ignored rather than allowed to poison a track.
fn usable(b: &BBox) -> bool {
    [b.left, b.top, b.width, b.height].iter().all(|v| v.is_finite()) && b.width > 0.0 && b.height > 0.0
}

impl Tracker {
    /// A tracker with no tracks; the first id it gives is 1.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            frame: 0,
            last_step: None,
            next_id: 1,
            live: Vec::new(),
            tracks: Vec::new(),
            removed: Vec::new(),
            scratch: Scratch::default(),
            matcher: Matcher::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Changes the scores from which detections are *high* and may start a track, from the next
    /// update on (the tracks are kept): the detector is less sure of the same people in a dark
    /// picture ([`crate::infer::LowLight`]).
    pub fn set_score_thresholds(&mut self, high_score: f32, new_track_score: f32) {
        self.config.high_score = high_score;
        self.config.new_track_score = new_track_score;
    }

    /// The tracks after the last update, as in [`TrackerUpdate::tracks`].
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The ids removed by the last update, as in [`TrackerUpdate::removed`].
    pub fn removed(&self) -> &[TrackId] {
        &self.removed
    }

    /// Drops every track, for a camera whose stream restarted; returns their
    /// ids. New ids continue from the last one, so no id is ever reused.
    pub fn reset(&mut self) -> &[TrackId] {
        self.removed.clear();
        self.removed.extend(self.live.iter().map(|l| l.track.id));
        self.live.clear();
        self.tracks.clear();
        self.frame = 0;
        self.last_step = None;
        &self.removed
    }

    /// Advances the tracker by one analysed frame with that frame's
    /// detections, `steps_per_update` steps of its clock. Detections with a
    /// non-finite or empty box, or a score below `low_score` (or NaN), are
    /// ignored.
    pub fn update(&mut self, detections: &[Detection]) -> TrackerUpdate<'_> {
        self.last_step = None;
        self.advance(self.config.steps_per_update, detections, &[])
    }

    /// [`update_with_appearance`](Self::update_with_appearance) for a frame shown at `pts`: the
    /// clock advances by the time since the previous update's frame, in whole steps and at
    /// least one, so frames skipped by a lower analysis rate, by the motion gate or by a busy
    /// box are predicted over. Without a timestamp (or when time went backwards, a new stream)
    /// it advances `steps_per_update`.
    pub fn update_at(&mut self, pts: Option<std::time::Duration>, sightings: &[Sighting]) -> TrackerUpdate<'_> {
        let now = pts.map(|pts| (pts.as_secs_f64() * self.config.steps_per_second).round() as i64);
        let steps = match (now, self.last_step) {
            (Some(now), Some(last)) if now > last => u32::try_from(now - last).unwrap_or(u32::MAX),
            _ => self.config.steps_per_update,
        };
        self.last_step = now;
        let (detections, embeddings) = split(sightings);
        self.advance(steps, &detections, &embeddings)
    }

    /// Which detections an embedding would help with now (embeddings on demand): high
    /// detections that start a track or may find a lost one (no clear overlap with a track
    /// being followed), that overlap more than one track (people passing each other, where
    /// identities swap), or whose track's appearance is missing or due for a refresh. A person
    /// walking alone is embedded every `refresh_frames`, not every frame.
    pub fn wants_appearance(&self, detections: &[Detection], wanted: &mut Vec<bool>) {
        let config = &self.config;
        wanted.clear();
        wanted.resize(detections.len(), false);
        let predicted: Vec<(BBox, &Live)> = self
            .live
            .iter()
            .map(|l| {
                let mut filter = l.filter;
                if l.track.state == TrackState::Lost {
                    filter.freeze_height();
                }
                // Where the next update will predict it: the next frame is due in
                // `steps_per_update` steps.
                for _ in 0..config.steps_per_update.max(1) {
                    filter.predict();
                }
                (filter.bbox(), l)
            })
            .collect();
        for (want, d) in wanted.iter_mut().zip(detections) {
            if d.score < config.high_score || !usable(&d.bbox) {
                continue;
            }
            let (mut best, mut second, mut best_track) = (0.0f32, 0.0f32, None);
            let mut lost_nearby = false;
            for (bbox, l) in &predicted {
                let iou = bbox.iou(&d.bbox);
                if l.track.state == TrackState::Lost {
                    lost_nearby |= l.embedding.is_some()
                        && (iou > 0.0 || within_reach(l, d, &config.appearance) && l.track.frames_since_seen > 0);
                    continue;
                }
                if iou > best {
                    (second, best, best_track) = (best, iou, Some(*l));
                } else if iou > second {
                    second = iou;
                }
            }
            let stale =
                best_track.is_none_or(|l| l.embedding.is_none() || l.embedding_age >= config.appearance.refresh_frames);
            *want = best < 0.5 || second > 0.1 || lost_nearby || stale;
        }
    }

    /// The appearance the tracker holds for a live track, if any: for the counter's
    /// de-duplication across cameras, in memory only.
    pub fn embedding(&self, id: TrackId) -> Option<&Embedding> {
        self.live.iter().find(|l| l.track.id == id).and_then(|l| l.embedding.as_ref())
    }

    /// [`update`](Self::update) with what some of the people looked like (the sightings'
    /// embeddings, where the re-ID model gave one). Tracks keep a moving average of
    /// their embeddings; a pair that overlaps costs a mix of box overlap and appearance distance
    /// (and never matches if the two look too different); a lost track that has an embedding is
    /// searched by appearance alone, within reach of where it was last seen, for
    /// `appearance.reid_frames` more frames before it is removed.
    pub fn update_with_appearance(&mut self, sightings: &[Sighting]) -> TrackerUpdate<'_> {
        self.last_step = None;
        let (detections, embeddings) = split(sightings);
        self.advance(self.config.steps_per_update, &detections, &embeddings)
    }

    /// One update, `steps` steps of the clock after the previous one; `embeddings[i]` is what
    /// `detections[i]` looked like (empty: nobody was embedded).
    fn advance(&mut self, steps: u32, detections: &[Detection], embeddings: &[Option<Embedding>]) -> TrackerUpdate<'_> {
        let Self { config, frame, next_id, live, tracks, removed, scratch: s, matcher, .. } = self;
        let min_hits = config.min_hits.max(1);
        *frame += 1;
        removed.clear();
        let steps = steps.max(1);
        // Past this, every unmatched track is removed whatever its prediction says.
        let predicted_steps = steps.min(config.max_lost_frames.saturating_add(config.appearance.reid_frames) + 1);

        // 1. Predict.
        for Live { track, filter, embedding_age, .. } in live.iter_mut() {
            if track.state == TrackState::Lost {
                filter.freeze_height();
            }
            for _ in 0..predicted_steps {
                filter.predict();
            }
            track.bbox = filter.bbox();
            track.matched = false;
            track.age = track.age.saturating_add(steps);
            track.frames_since_seen = track.frames_since_seen.saturating_add(steps);
            *embedding_age = embedding_age.saturating_add(steps);
        }

        s.high.clear();
        s.low.clear();
        for (i, d) in detections.iter().enumerate().filter(|(_, d)| usable(&d.bbox)) {
            if d.score >= config.high_score {
                s.high.push(i);
            } else if d.score >= config.low_score {
                s.low.push(i);
            }
        }
        s.crowded.clear();
        s.crowded.resize(detections.len(), false);
        if !embeddings.is_empty() {
            for (i, &a) in s.high.iter().enumerate() {
                for &b in &s.high[i + 1..] {
                    if detections[a].bbox.iou(&detections[b].bbox) > CROWDED_IOU {
                        s.crowded[a] = true;
                        s.crowded[b] = true;
                    }
                }
            }
        }
        let appearance = Appearance { embeddings, crowded: &s.crowded, config: &config.appearance };
        let lost_buffer = (config.lost_buffer_per_frame, config.max_lost_buffer);
        let stage = |max_cost: f32, fuse_score: bool| Stage {
            max_cost,
            fuse_score,
            lost_buffer,
            embeddings,
            appearance: &config.appearance,
            appearance_only: false,
            max_lost_frames: config.max_lost_frames,
        };

        // 2. High detections against every track already trusted, seen or not.
        s.pool.clear();
        s.pool.extend((0..live.len()).filter(|&t| live[t].track.state != TrackState::Tentative));
        matcher.associate(live, detections, &s.pool, &s.high, stage(config.first_stage_max_cost, config.fuse_score));
        matcher.apply(live, detections, min_hits, &appearance);
        s.high_left.clone_from(&matcher.unmatched_detections);
        s.tracks_left.clone_from(&matcher.unmatched_tracks);

        // 2b. The lost tracks still unmatched, searched by appearance among the high detections
        // that motion left: after motion, so that a lost track never takes a person away from a
        // track following them (DeepSORT's matching cascade puts them last for the same reason).
        if !embeddings.is_empty() {
            s.pool.clear();
            s.pool.extend(
                s.tracks_left
                    .iter()
                    .copied()
                    .filter(|&t| live[t].track.state == TrackState::Lost && live[t].embedding.is_some()),
            );
            let search = Stage { appearance_only: true, ..stage(config.appearance.reid_distance, false) };
            matcher.associate(live, detections, &s.pool, &s.high_left, search);
            matcher.apply(live, detections, min_hits, &appearance);
            s.high_left.clone_from(&matcher.unmatched_detections);
        }

        // 3. Low detections only against tracks seen until now: a low box is
        // too weak evidence to revive a lost track. Plain IoU: low boxes are
        // mostly people partly hidden, whose crops say little.
        s.pool.clear();
        s.pool.extend(s.tracks_left.iter().copied().filter(|&t| {
            let track = &live[t].track;
            track.state == TrackState::Confirmed && !track.matched
        }));
        let low_stage = Stage { embeddings: &[], ..stage(config.second_stage_max_cost, false) };
        matcher.associate(live, detections, &s.pool, &s.low, low_stage);
        matcher.apply(live, detections, min_hits, &appearance);
        for &t in &matcher.unmatched_tracks {
            live[t].track.state = TrackState::Lost;
        }

        // 4. The high detections left against tentative tracks.
        s.pool.clear();
        s.pool.extend((0..live.len()).filter(|&t| live[t].track.state == TrackState::Tentative));
        matcher.associate(live, detections, &s.pool, &s.high_left, stage(config.tentative_max_cost, config.fuse_score));
        matcher.apply(live, detections, min_hits, &appearance);
        for &t in &matcher.unmatched_tracks {
            live[t].remove = true;
        }

        // 5. Lost for too long; a track whose appearance is known stays in the pool searched by
        // appearance a while longer.
        for l in live.iter_mut() {
            let limit = match l.embedding {
                Some(_) => config.max_lost_frames.saturating_add(config.appearance.reid_frames),
                None => config.max_lost_frames,
            };
            if l.track.state == TrackState::Lost && l.track.frames_since_seen > limit {
                l.remove = true;
            }
        }
        removed.extend(live.iter().filter(|l| l.remove).map(|l| l.track.id));
        live.retain(|l| !l.remove);

        // 6. Births, appended so that `live` stays in id order.
        let confirmed_at_birth = min_hits <= 1 || (config.confirm_first_frame && *frame == 1);
        let state = if confirmed_at_birth { TrackState::Confirmed } else { TrackState::Tentative };
        for &d in &matcher.unmatched_detections {
            let detection = &detections[d];
            if detection.score >= config.new_track_score {
                let embedding = embeddings.get(d).cloned().flatten();
                live.push(Live::born(TrackId(*next_id), detection, state, embedding));
                *next_id += 1;
            }
        }

        tracks.clear();
        tracks.extend(live.iter().map(|l| l.track));
        TrackerUpdate { tracks, removed }
    }
}

/// The boxes, and their embeddings where any was given (an empty list when none was: the
/// tracker then matches on motion alone, without looking at appearance at all).
fn split(sightings: &[Sighting]) -> (Vec<Detection>, Vec<Option<Embedding>>) {
    let detections = sightings.iter().map(|s| s.detection).collect();
    let embeddings = if sightings.iter().any(|s| s.looks.is_some()) {
        sightings.iter().map(|s| s.looks.clone()).collect()
    } else {
        Vec::new()
    };
    (detections, embeddings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Sightings of `detections`, with `embeddings[i]` for the i-th where given.
    fn sightings(detections: &[Detection], embeddings: &[Option<Embedding>]) -> Vec<Sighting> {
        let looks = |i: usize| embeddings.get(i).cloned().flatten();
        detections.iter().enumerate().map(|(i, d)| Sighting { detection: *d, looks: looks(i) }).collect()
    }

    fn det(left: f32, top: f32, width: f32, height: f32, score: f32) -> Detection {
        Detection { bbox: BBox { left, top, width, height }, score, class: 0 }
    }

    /// A person walking right at 4 px per frame.
    fn walker(t: u32, score: f32) -> Detection {
        det(50.0 + 4.0 * t as f32, 100.0, 60.0, 160.0, score)
    }

    fn only(tracks: &[Track]) -> Track {
        assert_eq!(tracks.len(), 1, "{tracks:#?}");
        tracks[0]
    }

    #[test]
    fn a_person_walking_keeps_one_id_and_is_confirmed_after_min_hits() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..60 {
            let update = tracker.update(&[walker(t, 0.9)]);
            assert!(update.removed.is_empty());
            let track = only(update.tracks);
            assert_eq!(track.id, TrackId(1));
            assert!(track.matched);
            assert_eq!((track.hits, track.age, track.frames_since_seen), (t + 1, t + 1, 0));
            let want = if t < 2 { TrackState::Tentative } else { TrackState::Confirmed };
            assert_eq!(track.state, want, "frame {t}");
            assert!(track.bbox.iou(&walker(t, 0.9).bbox) > 0.9, "the estimate follows the person");
        }
    }

    #[test]
    fn a_person_missing_for_ten_frames_comes_back_with_the_same_id() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..20 {
            tracker.update(&[walker(t, 0.9)]);
        }
        for t in 20..30 {
            let update = tracker.update(&[]);
            assert!(update.removed.is_empty());
            let track = only(update.tracks);
            assert_eq!((track.id, track.state, track.matched), (TrackId(1), TrackState::Lost, false));
            assert_eq!(track.frames_since_seen, t - 19);
            // It coasts along the path it was walking.
            assert!(track.bbox.iou(&walker(t, 0.9).bbox) > 0.7, "frame {t}: {:?}", track.bbox);
        }
        for t in 30..35 {
            let track = only(tracker.update(&[walker(t, 0.9)]).tracks);
            assert_eq!((track.id, track.state, track.matched), (TrackId(1), TrackState::Confirmed, true));
        }
    }

    #[test]
    fn a_track_lost_too_long_is_removed_and_reported() {
        let config = TrackerConfig { max_lost_frames: 5, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(config);
        for t in 0..10 {
            tracker.update(&[walker(t, 0.9)]);
        }
        for _ in 0..5 {
            let update = tracker.update(&[]);
            assert_eq!(only(update.tracks).state, TrackState::Lost);
            assert!(update.removed.is_empty());
        }
        let update = tracker.update(&[]);
        assert!(update.tracks.is_empty());
        assert_eq!(update.removed, &[TrackId(1)]);
        // Coming back later is a new person as far as the tracker knows.
        let track = only(tracker.update(&[walker(16, 0.9)]).tracks);
        assert_eq!((track.id, track.state), (TrackId(2), TrackState::Tentative));
        assert!(tracker.removed().is_empty());
    }

    #[test]
    fn a_one_frame_false_detection_never_becomes_confirmed() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..20 {
            let mut detections = vec![walker(t, 0.9)];
            if t == 8 {
                detections.push(det(400.0, 300.0, 50.0, 120.0, 0.95));
            }
            let update = tracker.update(&detections);
            for track in update.tracks {
                if track.id != TrackId(1) {
                    assert_eq!((track.id, track.state), (TrackId(2), TrackState::Tentative));
                }
            }
            assert_eq!(update.tracks.len(), if t == 8 { 2 } else { 1 });
            assert_eq!(update.removed, if t == 9 { &[TrackId(2)][..] } else { &[] });
        }
    }

    #[test]
    fn two_people_crossing_keep_their_ids_through_an_occlusion() {
        // A walks right, B walks left a little further back; B is hidden
        // behind A for seven frames around the moment they cross (t ≈ 33).
        let a = |t: u32| det(100.0 + 6.0 * t as f32, 100.0, 60.0, 180.0, 0.9);
        let b = |t: u32| det(500.0 - 6.0 * t as f32, 130.0, 60.0, 180.0, 0.8);
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut ids = None;
        for t in 0..70 {
            let hidden = (30..=36).contains(&t);
            let detections = if hidden { vec![a(t)] } else { vec![b(t), a(t)] };
            let update = tracker.update(&detections);
            assert!(update.removed.is_empty());
            assert_eq!(update.tracks.len(), 2, "frame {t}");
            if t < 2 {
                continue;
            }
            // Who is who: the track nearer each person's true box.
            let nearest = |d: Detection| {
                *update.tracks.iter().max_by(|x, y| x.bbox.iou(&d.bbox).total_cmp(&y.bbox.iou(&d.bbox))).unwrap()
            };
            let (ta, tb) = (nearest(a(t)), nearest(b(t)));
            assert_ne!(ta.id, tb.id, "frame {t}");
            assert_eq!(ta.state, TrackState::Confirmed);
            assert_eq!(tb.state, if hidden { TrackState::Lost } else { TrackState::Confirmed }, "frame {t}");
            let now = (ta.id, tb.id);
            assert_eq!(*ids.get_or_insert(now), now, "identities swapped at frame {t}");
        }
    }

    #[test]
    fn low_score_detections_keep_a_track_alive_but_start_none() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..10 {
            tracker.update(&[walker(t, 0.9)]);
        }
        for t in 10..40 {
            let track = only(tracker.update(&[walker(t, 0.3)]).tracks);
            assert_eq!((track.id, track.state, track.matched), (TrackId(1), TrackState::Confirmed, true), "frame {t}");
            assert_eq!(track.score, 0.3);
        }
        // Below the low threshold, a detection is ignored: the track is lost.
        assert_eq!(only(tracker.update(&[walker(40, 0.05)]).tracks).state, TrackState::Lost);

        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..10 {
            assert!(tracker.update(&[walker(t, 0.3)]).tracks.is_empty());
        }
        // Between high_score and new_track_score: may match, may not start.
        assert!(tracker.update(&[walker(10, 0.55)]).tracks.is_empty());
    }

    #[test]
    fn a_low_score_detection_does_not_revive_a_lost_track_but_a_high_one_does() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..10 {
            tracker.update(&[walker(t, 0.9)]);
        }
        tracker.update(&[]);
        let track = only(tracker.update(&[walker(11, 0.3)]).tracks);
        assert_eq!((track.state, track.matched), (TrackState::Lost, false));
        let track = only(tracker.update(&[walker(12, 0.9)]).tracks);
        assert_eq!((track.id, track.state, track.hits), (TrackId(1), TrackState::Confirmed, 11));
    }

    #[test]
    fn confirm_first_frame_confirms_only_the_first_frame() {
        let config = TrackerConfig { confirm_first_frame: true, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(config);
        let first = [det(0.0, 0.0, 50.0, 100.0, 0.9), det(300.0, 0.0, 50.0, 100.0, 0.9)];
        let update = tracker.update(&first);
        assert!(update.tracks.iter().all(|t| t.state == TrackState::Confirmed));
        let update = tracker.update(&[first[0], first[1], det(600.0, 0.0, 50.0, 100.0, 0.9)]);
        let states: Vec<_> = update.tracks.iter().map(|t| (t.id.0, t.state)).collect();
        assert_eq!(states, [(1, TrackState::Confirmed), (2, TrackState::Confirmed), (3, TrackState::Tentative)]);
    }

    #[test]
    fn min_hits_of_one_or_zero_confirms_at_birth() {
        for min_hits in [0, 1] {
            let mut tracker = Tracker::new(TrackerConfig { min_hits, ..TrackerConfig::default() });
            assert_eq!(only(tracker.update(&[walker(0, 0.9)]).tracks).state, TrackState::Confirmed);
        }
    }

    #[test]
    fn unusable_detections_are_ignored() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let junk = [
            det(f32::NAN, 0.0, 50.0, 100.0, 0.9),
            det(0.0, 0.0, 0.0, 100.0, 0.9),
            det(0.0, 0.0, 50.0, -1.0, 0.9),
            det(0.0, 0.0, 50.0, f32::INFINITY, 0.9),
            det(0.0, 0.0, 50.0, 100.0, f32::NAN),
        ];
        assert!(tracker.update(&junk).tracks.is_empty());
    }

    #[test]
    fn reset_reports_the_dropped_ids_and_never_reuses_them() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        tracker.update(&[walker(0, 0.9), det(400.0, 0.0, 50.0, 100.0, 0.9)]);
        assert_eq!(tracker.reset(), &[TrackId(1), TrackId(2)]);
        assert!(tracker.tracks().is_empty());
        assert_eq!(only(tracker.update(&[walker(0, 0.9)]).tracks).id, TrackId(3));
    }

    fn look(seed: f32) -> Embedding {
        Embedding::normalised(&(0..16).map(|i| (seed * (i as f32 + 1.0)).sin()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_lost_person_is_found_again_by_appearance_where_motion_cannot_reach() {
        // Walks right for 20 frames, is hidden 12 frames while turning back, reappears 80 px
        // behind where they were last seen: far from the prediction, within reach.
        let config =
            TrackerConfig::default().at_fps(7.0, std::time::Duration::from_secs(3), std::time::Duration::from_secs(5));
        for with_appearance in [false, true] {
            let mut tracker = Tracker::new(config.clone());
            let me = look(1.0);
            let embeddings = |n: usize| if with_appearance { vec![Some(me.clone()); n] } else { Vec::new() };
            for t in 0..20 {
                tracker.update_with_appearance(&sightings(&[walker(t, 0.9)], &embeddings(1)));
            }
            for _ in 0..12 {
                tracker.update_with_appearance(&sightings(&[], &[]));
            }
            let back = det(50.0 + 4.0 * 19.0 - 80.0, 100.0, 60.0, 160.0, 0.9);
            let track = only(
                tracker
                    .update_with_appearance(&sightings(&[back], &embeddings(1)))
                    .tracks
                    .iter()
                    .filter(|t| t.matched)
                    .copied()
                    .collect::<Vec<_>>()
                    .as_slice(),
            );
            assert_eq!(track.id == TrackId(1), with_appearance, "{track:?}");
        }
    }

    #[test]
    fn at_fps_runs_the_clock_at_ten_steps_a_second_or_faster() {
        let (lost, memory) = (std::time::Duration::from_secs(3), std::time::Duration::from_secs(5));
        let at = |fps: f64| TrackerConfig::default().at_fps(fps, lost, memory);
        let summary = |c: TrackerConfig| {
            (c.steps_per_second, c.steps_per_update, c.min_hits, c.max_lost_frames, c.appearance.reid_frames)
        };
        assert_eq!(summary(at(10.0)), (10.0, 1, 3, 30, 50));
        assert_eq!(summary(at(30.0)), (30.0, 1, 3, 90, 150));
        // Half the frames: two steps each, and birth after two sightings 0.2 s apart, as three
        // sightings span at 10 frames/s.
        assert_eq!(summary(at(5.0)), (10.0, 2, 2, 30, 50));
        // Never confirmed at birth, however slow the analysis.
        assert_eq!(summary(at(1.0)), (10.0, 10, 2, 30, 50));
        assert_eq!(summary(at(0.0)), summary(at(10.0)));
    }

    /// The stream time of clock step `step` at the default 10 steps a second.
    fn at_step(step: u32) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(100 * u64::from(step)))
    }

    #[test]
    fn frames_dropped_by_a_busy_box_are_predicted_over() {
        // 10 px a step, 60 px wide: after six steps unseen the person is a box width further on.
        let walk = |step: u32| det(50.0 + 10.0 * step as f32, 100.0, 60.0, 160.0, 0.9);
        let seen: Vec<u32> = (0..=10).chain([16, 17, 18, 21, 22]).collect();

        let mut tracker = Tracker::new(TrackerConfig::default());
        for &step in &seen {
            let track = only(tracker.update_at(at_step(step), &sightings(&[walk(step)], &[])).tracks);
            assert_eq!((track.id, track.matched, track.age), (TrackId(1), true, step + 1), "step {step}");
            assert!(track.bbox.iou(&walk(step).bbox) > 0.9, "step {step}: {:?}", track.bbox);
        }
        // Unseen for a second: lost, ten steps since it was seen, coasting along its path.
        let update = tracker.update_at(at_step(32), &sightings(&[], &[]));
        let track = only(update.tracks);
        assert_eq!((track.state, track.frames_since_seen), (TrackState::Lost, 10));
        assert!(track.bbox.iou(&walk(32).bbox) > 0.7, "{:?}", track.bbox);

        // Counting updates instead of time, the prediction stays a box width behind after the gap.
        let mut tracker = Tracker::new(TrackerConfig::default());
        for &step in &seen[..12] {
            tracker.update(&[walk(step)]);
        }
        assert!(tracker.tracks().iter().any(|t| t.id != TrackId(1)), "{:?}", tracker.tracks());
    }

    #[test]
    fn without_a_usable_timestamp_an_update_is_steps_per_update() {
        let config = TrackerConfig { steps_per_update: 2, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(config);
        assert_eq!(only(tracker.update_at(at_step(50), &sightings(&[walker(0, 0.9)], &[])).tracks).age, 1);
        assert_eq!(only(tracker.update_at(None, &sightings(&[walker(2, 0.9)], &[])).tracks).age, 3);
        // Time went backwards: a new stream.
        assert_eq!(only(tracker.update_at(at_step(60), &sightings(&[walker(4, 0.9)], &[])).tracks).age, 5);
        assert_eq!(only(tracker.update_at(at_step(1), &sightings(&[walker(6, 0.9)], &[])).tracks).age, 7);
        assert_eq!(only(tracker.update_at(at_step(2), &sightings(&[walker(7, 0.9)], &[])).tracks).age, 8);
    }

    #[test]
    fn someone_who_looks_different_does_not_take_over_a_track() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..10 {
            tracker.update_with_appearance(&sightings(&[walker(t, 0.9)], &[Some(look(1.0))]));
        }
        // The first person leaves; a different-looking person stands exactly where they would be.
        let update = tracker.update_with_appearance(&sightings(&[walker(10, 0.9)], &[Some(look(7.0))]));
        let first = update.tracks.iter().find(|t| t.id == TrackId(1)).unwrap();
        assert_eq!((first.state, first.matched), (TrackState::Lost, false));
        assert!(update.tracks.iter().any(|t| t.id == TrackId(2) && t.matched));
        // Without embeddings the same boxes continue the track.
        let mut tracker = Tracker::new(TrackerConfig::default());
        for t in 0..11 {
            tracker.update(&[walker(t, 0.9)]);
        }
        assert_eq!(only(tracker.tracks()).id, TrackId(1));
    }

    #[test]
    fn embeddings_are_wanted_for_new_and_crowded_people_and_now_and_then_for_the_rest() {
        let config = TrackerConfig::default();
        let refresh = config.appearance.refresh_frames;
        let mut tracker = Tracker::new(config);
        let mut wanted = Vec::new();
        tracker.wants_appearance(&[walker(0, 0.9), walker(0, 0.3)], &mut wanted);
        assert_eq!(wanted, [true, false], "a new person yes, a low-score box never");
        let mut asked = 0;
        for t in 0..40 {
            tracker.wants_appearance(&[walker(t, 0.9)], &mut wanted);
            let embeddings = if wanted[0] { vec![Some(look(1.0))] } else { vec![None] };
            asked += wanted[0] as u32;
            tracker.update_with_appearance(&sightings(&[walker(t, 0.9)], &embeddings));
        }
        assert!(
            asked >= 40 / refresh && asked <= 40 / refresh + 2,
            "a person alone is embedded {asked} times in 40 frames"
        );
        // A second person followed right beside the first: the box between them is uncertain.
        let beside = |t: u32| det(50.0 + 4.0 * t as f32 + 30.0, 100.0, 60.0, 160.0, 0.9);
        for t in 40..45 {
            tracker.update(&[walker(t, 0.9), beside(t)]);
        }
        let between = det(50.0 + 4.0 * 45.0 + 15.0, 100.0, 60.0, 160.0, 0.9);
        tracker.wants_appearance(&[between], &mut wanted);
        assert_eq!(wanted, [true]);
    }

    /// Frames of a random scene: a few people moving at constant velocity,
    /// each detected in most frames with a random score and some jitter, plus
    /// random clutter.
    fn scene() -> impl Strategy<Value = Vec<Vec<Detection>>> {
        let person = (0f32..600.0, 0f32..400.0, -10f32..10.0, -5f32..5.0, 20f32..80.0, 60f32..200.0);
        (1usize..40).prop_flat_map(move |frames| {
            let sighting = (prop::bool::weighted(0.8), 0f32..1.0, -2f32..2.0);
            let people = prop::collection::vec((person.clone(), prop::collection::vec(sighting, frames)), 0..6);
            let junk = (0f32..640.0, 0f32..480.0, 10f32..100.0, 10f32..200.0, 0f32..1.0);
            let clutter = prop::collection::vec(prop::collection::vec(junk, 0..3), frames);
            (people, clutter).prop_map(move |(people, clutter)| {
                (0..frames)
                    .map(|f| {
                        let t = f as f32;
                        let mut detections: Vec<Detection> = people
                            .iter()
                            .filter(|(_, sightings)| sightings[f].0)
                            .map(|((x, y, vx, vy, w, h), sightings)| {
                                let (_, score, jitter) = sightings[f];
                                det(x + vx * t + jitter, y + vy * t - jitter, *w, *h, score)
                            })
                            .collect();
                        detections.extend(clutter[f].iter().map(|&(x, y, w, h, s)| det(x, y, w, h, s)));
                        detections
                    })
                    .collect()
            })
        })
    }

    fn config() -> impl Strategy<Value = TrackerConfig> {
        (1u32..5, 0u32..6, any::<bool>(), any::<bool>()).prop_map(
            |(min_hits, max_lost_frames, fuse_score, confirm_first_frame)| TrackerConfig {
                min_hits,
                max_lost_frames,
                fuse_score,
                confirm_first_frame,
                ..TrackerConfig::default()
            },
        )
    }

    proptest! {
        #[test]
        fn tracker_invariants(config in config(), frames in scene()) {
            let mut tracker = Tracker::new(config.clone());
            let mut previous: BTreeMap<TrackId, Track> = BTreeMap::new();
            let mut gone: BTreeSet<TrackId> = BTreeSet::new();
            let mut highest = 0;
            for (f, detections) in frames.iter().enumerate() {
                let frame = f as u32 + 1;
                let update = tracker.update(detections);
                let ids: Vec<TrackId> = update.tracks.iter().map(|t| t.id).collect();
                prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids unique and sorted: {ids:?}");

                for track in update.tracks {
                    prop_assert!(!gone.contains(&track.id), "id {:?} reused", track.id);
                    if !previous.contains_key(&track.id) {
                        prop_assert!(track.id.0 > highest, "new id {:?} not above {highest}", track.id);
                        highest = track.id.0;
                        prop_assert_eq!((track.age, track.hits), (1, 1));
                    }
                    prop_assert!(track.hits >= 1 && track.hits <= track.age);
                    prop_assert_eq!(track.matched, track.frames_since_seen == 0);
                    match track.state {
                        TrackState::Tentative => {
                            prop_assert!(track.matched, "a tentative track that misses is removed");
                            prop_assert_eq!(track.hits, track.age, "tentative hits are consecutive");
                            prop_assert!(track.hits < config.min_hits);
                        }
                        TrackState::Confirmed => {
                            prop_assert!(track.matched, "a confirmed track that misses becomes lost");
                            let born_in_first_frame = track.age == frame;
                            prop_assert!(
                                track.hits >= config.min_hits || (config.confirm_first_frame && born_in_first_frame),
                                "confirmed with {} hits", track.hits
                            );
                        }
                        TrackState::Lost => {
                            prop_assert!(track.frames_since_seen <= config.max_lost_frames);
                        }
                    }
                }
                let matched = update.tracks.iter().filter(|t| t.matched).count();
                prop_assert!(matched <= detections.len(), "{matched} matched, {} detections", detections.len());

                // Every track that disappears is reported, exactly once.
                let vanished: Vec<TrackId> = previous.keys().copied().filter(|id| !ids.contains(id)).collect();
                prop_assert_eq!(update.removed, &vanished[..]);
                for before in update.removed.iter().filter_map(|id| previous.get(id)) {
                    match before.state {
                        // It missed this frame.
                        TrackState::Tentative => {}
                        // It missed this frame and may not be lost at all.
                        TrackState::Confirmed => prop_assert_eq!(config.max_lost_frames, 0),
                        // Its time ran out exactly now.
                        TrackState::Lost => prop_assert_eq!(before.frames_since_seen, config.max_lost_frames),
                    }
                }
                gone.extend(update.removed.iter().copied());
                previous = update.tracks.iter().map(|t| (t.id, *t)).collect();
            }
        }
    }
}
