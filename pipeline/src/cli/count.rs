//! `lintel count`: a video file through the whole pipeline, counts printed per zone,
//! entrance and building.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::gate_flag::{self, GateFlag};
use anyhow::{Context, bail};
use clap::Args;
use lintel::analysis::{DetectorMirror, RegionConfig};
use lintel::infer::{Detector, Detectors, Embedder, LowLightConfig, LowLightMode, Manifest, MotionGateConfig, Runtime};
use lintel::replay::{ReplayOptions, ReplayReport, replay};
use lintel_calibration::geometry::{CountingLine, Point, Side};
use lintel_calibration::site::{Site, Zone, ZoneShape};
use serde::Serialize;

#[derive(Args)]
pub struct CountArgs {
    /// Video file or URI; defaults to the camera's URL in the site file.
    video: Option<String>,
    /// Site file (TOML) with buildings, entrances, cameras and zones.
    #[arg(long)]
    site: Option<PathBuf>,
    /// Camera of the site file whose zones to count on (may be left out if there is one).
    #[arg(long)]
    camera: Option<String>,
    /// Ad-hoc counting segment in video pixels, NAME=X1,Y1,X2,Y2 (repeatable): crossing onto
    /// the right-hand side of A→B as drawn on the image is an entry.
    #[arg(long = "line", value_name = "NAME=X1,Y1,X2,Y2")]
    lines: Vec<String>,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// Write the tracks in MOTChallenge CSV (frame,id,left,top,width,height,score,-1,-1,-1).
    #[arg(long, value_name = "FILE")]
    tracks_out: Option<PathBuf>,
    /// Model name from the manifest (default: the manifest's default).
    #[arg(long)]
    model: Option<String>,
    /// The model manifest.
    #[arg(long, value_name = "FILE")]
    models: Option<PathBuf>,
    /// Analyse this many frames per second (default: every frame).
    #[arg(long)]
    fps: Option<f64>,
    /// ONNX Runtime threads (default: ONNX Runtime's choice).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Track with appearance too: embed people with the re-ID model MODEL of the manifest
    /// (default: its first model with role = "reid"; name one with --reid=MODEL).
    #[arg(long, value_name = "MODEL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    reid: Option<String>,
    /// Seconds a lost person is searched by appearance after motion gave up (with --reid).
    #[arg(long, value_name = "S", requires = "reid")]
    reid_memory_s: Option<f64>,
    /// Skip the detector on frames where nothing moves near the zones and nobody is tracked
    /// there (an idle door), for at most MAX_SKIP_S seconds at a time (default: on, 2 s);
    /// `off`: the detector sees every frame. A site-file camera's `motion_gate` overrides it.
    #[arg(long, value_name = "MAX_SKIP_S|off", num_args = 0..=1, require_equals = true,
          default_value = gate_flag::DEFAULT_MAX_SKIP_S, default_missing_value = gate_flag::DEFAULT_MAX_SKIP_S,
          value_parser = gate_flag::parse)]
    motion_gate: GateFlag,
    /// Stop at this many seconds into the video.
    #[arg(long, value_name = "S")]
    until_s: Option<f64>,
    /// Frames per run of the detector: on a CPU a batch of small frames takes less time per
    /// frame. Frames are still tracked one by one, in order, so the counts are those of
    /// frame-by-frame detection. Default: 4 for a 300×300 model, 1 for 768×576 (where a batch
    /// only costs memory). 1 with the motion gate (it decides frame by frame).
    #[arg(long, value_name = "N")]
    batch: Option<usize>,
    /// Stretch dark or flat pictures (dusk, night, infrared) to their full range of brightness
    /// before the detector: `auto` while the picture is dark or flat, `on` always, `off` never.
    /// A site-file camera's `low_light` overrides it.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    low_light: LowLightMode,
    /// How the detector sees the frames (its network is not mirror-symmetric): `off` as they are;
    /// `alternate` mirrors every other one, so the counts nearly do not depend on which way the
    /// street runs, at some cost in box jitter; `both` sees every frame as it is and mirrored and
    /// fuses the boxes, so a camera and its mirror image count alike, at twice the detector's
    /// cost (README, "Which way the street runs").
    #[arg(long, value_name = "MODE", default_value = "off")]
    detector_mirror: DetectorMirror,
    /// Consecutive frames the detector sees side by side, each on its own copy of the model with
    /// its share of the threads (`1`: one frame at a time). Frames are still tracked one by one,
    /// in order, with what frame-by-frame detection gives them. Default: 2 on a box of 2 cores or
    /// more (1.108× the frame rate on 2 cores, for 117 MB more; README "Two frames side by side").
    #[arg(long, value_name = "N")]
    lanes: Option<usize>,
    /// Where the detector looks: `auto` at the zones and a margin of about a person's height,
    /// through the model's smaller region network that holds them, and at the whole frame every
    /// 2 s (the whole frame when no region network is smaller); `off` at the whole frame always
    /// (README, "A detector that looks where it counts").
    #[arg(long, value_name = "MODE", default_value = "auto")]
    detector_region: RegionMode,
}

/// `--detector-region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegionMode {
    Auto,
    Off,
}

fn seconds(option: &str, s: f64) -> anyhow::Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(s).map_err(|_| anyhow::anyhow!("{option}: {s} is not a number of seconds"))
}

/// Hysteresis of ad-hoc lines: 1% of the frame height each side, like a site file's default.
const AD_HOC_MIN_DISTANCE: f32 = 0.01;

/// A zone counted by `lintel count`, with what it adds into (for the report).
struct CountedZone {
    zone: Zone,
    entrance: Option<String>,
    building: Option<String>,
}

pub fn run(args: CountArgs) -> anyhow::Result<ExitCode> {
    let mut zones = Vec::new();
    let mut camera_id = None;
    // The camera's motion gate (site file over --motion-gate); ad-hoc lines follow the flag.
    let mut camera_gate = None;
    let mut low_light = LowLightConfig::with_mode(args.low_light);
    let mut camera_region = None;
    let mut site = None;
    let mut geometry = Default::default();
    if let Some(path) = &args.site {
        let loaded = Site::load(path)?;
        let camera = match &args.camera {
            Some(id) => loaded
                .camera(id)
                .with_context(|| format!("{}: no camera {id:?} (cameras: {})", path.display(), camera_ids(&loaded)))?,
            None if loaded.cameras.len() == 1 => &loaded.cameras[0],
            None => bail!("{}: several cameras, choose one with --camera ({})", path.display(), camera_ids(&loaded)),
        };
        for zone in loaded.zones_for(&camera.id) {
            // A zone counts for its own entrance when it names one, else for its camera's.
            let entrance = loaded.entrance_of_zone(zone);
            let building = entrance.and_then(|e| loaded.building(&e.building)).map(|b| b.id.clone());
            let entrance = entrance.map(|e| e.id.clone());
            zones.push(CountedZone { zone: zone.clone(), entrance, building });
        }
        geometry = camera.geometry();
        camera_id = Some(camera.id.clone());
        camera_gate = Some(MotionGateConfig::for_camera(args.motion_gate.0, camera));
        low_light = LowLightConfig::for_camera(args.low_light, camera);
        camera_region = camera.detector_region;
        site = Some(loaded);
    } else if args.camera.is_some() {
        bail!("--camera needs --site");
    }
    // Ad-hoc lines are in pixels of the video: normalised once its size is known.
    let lines = args.lines.iter().map(|spec| parse_line(spec)).collect::<anyhow::Result<Vec<_>>>()?;
    if zones.is_empty() && lines.is_empty() {
        bail!("nothing to count on: give --site FILE [--camera ID] or --line NAME=X1,Y1,X2,Y2");
    }
    let video = match (&args.video, &camera_id, &site) {
        (Some(video), _, _) => video.clone(),
        (None, Some(id), Some(site)) => site.camera(id).map(|c| c.url.clone()).unwrap_or_default(),
        _ => bail!("no video given"),
    };

    let manifest_path = args.models.clone().unwrap_or_else(super::default_manifest);
    let manifest = Manifest::load(&manifest_path)?;
    let spec = manifest.detector(args.model.as_deref())?;
    let runtime = Runtime::load()?;
    let mut detector = Detector::load(runtime, spec, &manifest.file_of(spec), args.threads)?;
    // A site-file camera's `detector_region = false` shows the detector whole frames.
    if args.detector_region == RegionMode::Auto && camera_region != Some(false) {
        detector = detector.with_regions(runtime, &manifest.regions_of(spec)?, args.threads)?;
    }
    let region_sizes = detector.region_sizes();
    let mut embedder = match args.reid.as_deref() {
        Some(name) => {
            let spec = manifest.reid(Some(name).filter(|n| !n.is_empty()))?;
            Some(Embedder::load(runtime, spec, &manifest.file_of(spec), args.threads)?)
        }
        None => None,
    };

    let options = ReplayOptions {
        fps: args.fps,
        tracks_out: args.tracks_out.clone(),
        progress: !args.json && std::io::stderr().is_terminal(),
        reid_memory: args.reid_memory_s.map(std::time::Duration::from_secs_f64),
        motion_gate: match camera_gate {
            Some(gate) => gate,
            None => args.motion_gate.0,
        },
        until: args.until_s.map(|s| seconds("--until-s", s)).transpose()?,
        batch: args.batch.unwrap_or_else(|| detector.preferred_batch()),
        low_light,
        geometry,
        mirror: args.detector_mirror,
        region: (!region_sizes.is_empty()).then(|| RegionConfig::with_sizes(region_sizes)),
        ..Default::default()
    };
    // Lanes serve frames detected one at a time; batches of frames go through one session.
    let lanes = if options.batch_for(&detector) == 1 { args.lanes } else { Some(1) };
    let mut lanes = super::detector_lanes(runtime, &manifest, spec, detector.has_regions(), lanes, args.threads)?;
    let site_zones: Vec<Zone> = zones.iter().map(|z| z.zone.clone()).collect();
    let with_lines = |size| site_zones.into_iter().chain(lines.iter().map(|line| line.normalised(size))).collect();
    let detectors = Detectors { whole: &mut detector, lanes: &mut lanes };
    let report = replay(detectors, embedder.as_mut(), &video, with_lines, &options)?;
    let size = report.source_size;
    zones.extend(lines.iter().map(|line| CountedZone { zone: line.normalised(size), entrance: None, building: None }));
    let reid = embedder.as_ref().map(|e| e.spec().name.as_str());
    let summary = Summary::new(&video, &spec.name, reid, camera_id.as_deref(), &zones, &report);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        summary.print_table();
    }
    match report.interrupted {
        // The counts made so far are printed above; the error still fails the command.
        Some(error) => Err(error.into()),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn camera_ids(site: &Site) -> String {
    site.cameras.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
}

/// An ad-hoc `--line`: a segment in pixels of the video.
struct PixelLine {
    name: String,
    line: CountingLine,
}

impl PixelLine {
    /// The line as a zone of a `width` × `height` video (normalised, as site-file zones are).
    fn normalised(&self, (width, height): (u32, u32)) -> Zone {
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let point = |p: Point| Point::new(p.x / w, p.y / h);
        Zone {
            camera: String::new(),
            name: self.name.clone(),
            shape: ZoneShape::Line(CountingLine::new(point(self.line.a), point(self.line.b), self.line.entry_side)),
            min_distance: AD_HOC_MIN_DISTANCE,
            aggregate: false,
            space: Default::default(),
            entrance: None,
        }
    }
}

/// `NAME=X1,Y1,X2,Y2` in video pixels.
fn parse_line(spec: &str) -> anyhow::Result<PixelLine> {
    let usage = || format!("--line {spec:?}: expected NAME=X1,Y1,X2,Y2 (pixels of the video)");
    let (name, coords) = spec.split_once('=').with_context(usage)?;
    let numbers: Vec<f32> =
        coords.split(',').map(|n| n.trim().parse::<f32>()).collect::<Result<_, _>>().ok().with_context(usage)?;
    let [x1, y1, x2, y2] = numbers[..] else { bail!(usage()) };
    if name.is_empty() || (x1 == x2 && y1 == y2) || numbers.iter().any(|n| !n.is_finite()) {
        bail!(usage());
    }
    Ok(PixelLine {
        name: name.to_string(),
        line: CountingLine::new(Point::new(x1, y1), Point::new(x2, y2), Side::Right),
    })
}

/// What `lintel count` prints; the JSON form is documented in the README.
#[derive(Serialize)]
struct Summary {
    schema: &'static str,
    video: String,
    model: String,
    reid_model: Option<String>,
    camera: Option<String>,
    frames: u64,
    /// Frames the motion gate kept from the detector.
    skipped: u64,
    /// Frames the detector saw stretched by the low-light curve.
    low_light: u64,
    /// Frames the detector saw only the zones' region of.
    regional: u64,
    width: u32,
    height: u32,
    source_fps: Option<f64>,
    elapsed_s: f64,
    analysed_fps: f64,
    tracks: u64,
    detections: u64,
    embedded: u64,
    zones: Vec<ZoneSummary>,
    entrances: Vec<Totals>,
    buildings: Vec<Totals>,
    complete: bool,
}

#[derive(Serialize)]
struct ZoneSummary {
    name: String,
    kind: &'static str,
    entrance: Option<String>,
    building: Option<String>,
    aggregate: bool,
    entries: u64,
    exits: u64,
}

#[derive(Serialize, Default)]
struct Totals {
    id: String,
    entries: u64,
    exits: u64,
}

impl Summary {
    fn new(
        video: &str,
        model: &str,
        reid_model: Option<&str>,
        camera: Option<&str>,
        zones: &[CountedZone],
        report: &ReplayReport,
    ) -> Self {
        let zone_summaries: Vec<ZoneSummary> = zones
            .iter()
            .zip(&report.zones)
            .map(|(CountedZone { zone, entrance, building }, tally)| ZoneSummary {
                name: zone.name.clone(),
                kind: match zone.shape {
                    ZoneShape::Line(_) => "line",
                    ZoneShape::Polygon(_) => "polygon",
                },
                entrance: entrance.clone(),
                building: building.clone(),
                aggregate: zone.aggregate,
                entries: tally.entries,
                exits: tally.exits,
            })
            .collect();
        let roll_up = |key: fn(&ZoneSummary) -> Option<&String>| {
            let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
            for zone in zone_summaries.iter().filter(|z| z.aggregate) {
                if let Some(id) = key(zone) {
                    let t = totals.entry(id.clone()).or_insert_with(|| Totals { id: id.clone(), ..Default::default() });
                    t.entries += zone.entries;
                    t.exits += zone.exits;
                }
            }
            totals.into_values().collect::<Vec<_>>()
        };
        let entrances = roll_up(|z| z.entrance.as_ref());
        let buildings = roll_up(|z| z.building.as_ref());
        let elapsed = report.elapsed.as_secs_f64();
        Self {
            schema: "lintel.count/1",
            video: lintel::ingest::redact_uri(video),
            model: model.to_string(),
            reid_model: reid_model.map(str::to_string),
            camera: camera.map(str::to_string),
            frames: report.frames,
            skipped: report.skipped,
            low_light: report.low_light,
            regional: report.regional,
            width: report.source_size.0,
            height: report.source_size.1,
            source_fps: report.source_fps,
            elapsed_s: elapsed,
            analysed_fps: if elapsed > 0.0 { report.frames as f64 / elapsed } else { 0.0 },
            tracks: report.tracks,
            detections: report.detections,
            embedded: report.embeddings,
            zones: zone_summaries,
            entrances,
            buildings,
            complete: report.interrupted.is_none(),
        }
    }

    fn print_table(&self) {
        println!(
            "{}: {} frames ({}×{}) in {:.1} s, {:.1} frames/s, model {}",
            self.video, self.frames, self.width, self.height, self.elapsed_s, self.analysed_fps, self.model
        );
        if self.skipped > 0 {
            println!("motion gate: the detector skipped {} of {} frames", self.skipped, self.frames);
        }
        if self.low_light > 0 {
            println!("low light: the detector saw {} of {} frames stretched", self.low_light, self.frames);
        }
        if self.regional > 0 {
            println!("region: the detector saw only the zones' region of {} of {} frames", self.regional, self.frames);
        }
        if let Some(reid) = &self.reid_model {
            println!("re-ID model {reid}: {} of {} detections embedded", self.embedded, self.detections);
        }
        println!("{:<20} {:<8} {:<16} {:<16} {:>8} {:>8}", "zone", "kind", "entrance", "building", "entries", "exits");
        for z in &self.zones {
            let dash = "-".to_string();
            println!(
                "{:<20} {:<8} {:<16} {:<16} {:>8} {:>8}",
                z.name,
                z.kind,
                z.entrance.as_ref().unwrap_or(&dash),
                z.building.as_ref().unwrap_or(&dash),
                z.entries,
                z.exits
            );
        }
        for (label, totals) in [("entrance", &self.entrances), ("building", &self.buildings)] {
            for t in totals {
                println!("{label} {}: {} entries, {} exits", t.id, t.entries, t.exits);
            }
        }
    }
}
