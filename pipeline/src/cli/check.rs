//! `lintel check`: the preflight a technician runs after installing a box, and the service's
//! `ExecStartPre`. It takes exactly the options (and `--config` file) of `lintel run` and checks
//! what that run needs: the site file, the models, every camera (reachable, decoding, its frame
//! size and rate), the broker (with the login), the spool directory (writable, free space) and the
//! clock. One line per check; exit status 1 when any fails; `--json` for scripts.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use lintel::infer::{Detector, Embedder, Manifest, Runtime};
use lintel::ingest::{Frame, FrameSource, LiveOptions, Pulled, SourceOptions, redact_uri};
use lintel::publish::BrokerConfig;
use lintel_calibration::site::{Camera, Site};

use super::preflight::Preflight;

#[derive(Args)]
pub struct CheckArgs {
    /// Print one JSON object (`"schema": "lintel.check/1"`) instead of lines.
    #[arg(long)]
    json: bool,
    /// Skip the cameras and the broker (the service's `ExecStartPre`: `lintel run` retries them
    /// itself and spools meanwhile, so they must not stop it from starting).
    #[arg(long)]
    no_network: bool,
    /// How long each camera may take to deliver its first frame.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    camera_timeout_s: u64,
    #[command(flatten)]
    run: super::run::RunArgs,
}

/// How a check came out. A warning does not fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
struct Outcome {
    check: &'static str,
    /// What was checked: a file, a camera id, a broker address.
    subject: String,
    status: Status,
    detail: String,
}

impl Outcome {
    fn new(check: &'static str, subject: impl Into<String>, result: Result<String, String>) -> Self {
        let (status, detail) = match result {
            Ok(detail) => (Status::Ok, detail),
            Err(detail) => (Status::Fail, detail),
        };
        Self { check, subject: subject.into(), status, detail }
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let plan = args.run.preflight();
    let camera_timeout = Duration::from_secs(args.camera_timeout_s.max(1));
    let mut outcomes = Vec::new();
    let site = match Site::load(&plan.site) {
        Ok(site) => {
            outcomes.push(Outcome::new(
                "site",
                plan.site.display().to_string(),
                Ok(format!(
                    "site {}: {} buildings, {} entrances, {} cameras",
                    site.id,
                    site.buildings.len(),
                    site.entrances.len(),
                    site.cameras.len()
                )),
            ));
            Some(site)
        }
        Err(error) => {
            outcomes.push(Outcome::new("site", plan.site.display().to_string(), Err(error.to_string())));
            None
        }
    };
    outcomes.extend(check_models(&plan));
    // Cameras at once: each may take up to the timeout.
    if let Some(site) = site.as_ref().filter(|_| !args.no_network) {
        let cameras: Vec<Outcome> = std::thread::scope(|scope| {
            let running: Vec<_> =
                site.cameras.iter().map(|camera| scope.spawn(move || check_camera(camera, camera_timeout))).collect();
            running
                .into_iter()
                .zip(&site.cameras)
                .map(|(thread, camera)| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Outcome::new("camera", camera.id.clone(), Err("the check panicked".into())))
                })
                .collect()
        });
        outcomes.extend(cameras);
    }
    if !args.no_network {
        outcomes.push(check_broker(&plan, site.as_ref()));
    }
    outcomes.push(check_formats(&plan));
    outcomes.push(check_spool(&plan.spool, plan.spool_max_kib));
    outcomes.push(check_clock());

    let failed = outcomes.iter().filter(|o| o.status == Status::Fail).count();
    if args.json {
        let checks: Vec<_> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({"check": o.check, "subject": o.subject, "status": o.status.name().to_lowercase(), "detail": o.detail})
            })
            .collect();
        let report =
            serde_json::json!({"schema": "lintel.check/1", "ok": failed == 0, "failed": failed, "checks": checks});
        println!("{report}");
    } else {
        for o in &outcomes {
            println!("{:<4}  {:<7} {}: {}", o.status.name(), o.check, o.subject, o.detail);
        }
        if failed > 0 {
            println!("lintel check: {failed} of {} checks failed", outcomes.len());
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The ONNX Runtime library and every model the run would load.
fn check_models(plan: &Preflight) -> Vec<Outcome> {
    let subject = plan.models.display().to_string();
    let manifest = match Manifest::load(&plan.models) {
        Ok(manifest) => manifest,
        Err(error) => return vec![Outcome::new("models", subject, Err(error.to_string()))],
    };
    let runtime = match Runtime::load() {
        Ok(runtime) => runtime,
        Err(error) => return vec![Outcome::new("models", subject, Err(error.to_string()))],
    };
    let mut outcomes = Vec::new();
    let detector = manifest.detector(plan.model.as_deref()).map_err(|e| e.to_string()).and_then(|spec| {
        let file = manifest.file_of(spec);
        // `lintel run` loads the region networks too (`--detector-region auto`, the default).
        let regions = manifest.regions_of(spec).map_err(|e| e.to_string())?;
        Detector::load(runtime, spec, &file, plan.threads)
            .and_then(|detector| detector.with_regions(runtime, &regions, plan.threads))
            .map(|detector| {
                format!(
                    "detector {} loads ({}, ONNX Runtime {}){}",
                    spec.name,
                    file.display(),
                    runtime.library().display(),
                    match detector.region_sizes().len() {
                        0 => String::new(),
                        n => format!(", with its {n} region networks"),
                    }
                )
            })
            .map_err(|e| e.to_string())
    });
    outcomes.push(Outcome::new("models", subject.clone(), detector));
    if let Some(name) = &plan.reid {
        let reid =
            manifest.reid(Some(name.as_str()).filter(|n| !n.is_empty())).map_err(|e| e.to_string()).and_then(|spec| {
                let file = manifest.file_of(spec);
                Embedder::load(runtime, spec, &file, plan.threads)
                    .map(|_| format!("re-ID model {} loads ({})", spec.name, file.display()))
                    .map_err(|e| e.to_string())
            });
        outcomes.push(Outcome::new("models", subject, reid));
    }
    outcomes
}

/// Most of a picture black: a warning, not a failure (the node runs, and raises `camera_blinded`).
const BLACK_PICTURE: f64 = 0.5;

/// Opens the camera as the node would (its login included), takes its first frame and, for a live
/// camera, counts frames for two seconds; warns when its picture is mostly black, or below black.
fn check_camera(camera: &Camera, timeout: Duration) -> Outcome {
    let warn = |detail: String| Outcome { check: "camera", subject: camera.id.clone(), status: Status::Warn, detail };
    match probe_camera(camera, timeout) {
        Ok(Probe { detail, below_black: Some(share), .. }) => warn(format!(
            "{detail}: the camera sends its picture below black ({:.0}% of its luma under 16 in a stream that \
             says 16-235): Lintel reads it as full range (0-255) and counts on it, but other viewers may show \
             its dark part black; set the camera's video range right",
            share * 100.0
        )),
        Ok(Probe { detail, black, .. }) if black >= BLACK_PICTURE => warn(format!(
            "{detail}: {:.0}% of the picture is black: the lens is covered or the scene is unlit; nobody can \
             be counted on it",
            black * 100.0
        )),
        result => Outcome::new("camera", camera.id.clone(), result.map(|probe| probe.detail)),
    }
}

/// What [`probe_camera`] saw.
struct Probe {
    /// The camera's line: size, frame rate, time to the first frame.
    detail: String,
    /// How much of its picture is black ([`lintel::ingest::RgbView::black_share`], the mean over
    /// the frames looked at).
    black: f64,
    /// [`FrameSource::below_black`]: the stream is read as full range.
    below_black: Option<f64>,
}

/// Reads the camera for a first frame and two seconds more.
fn probe_camera(camera: &Camera, timeout: Duration) -> Result<Probe, String> {
    let url = redact_uri(&camera.url);
    let credentials = lintel::node::credentials_of(camera)?;
    let live = LiveOptions { credentials, timeout, ..LiveOptions::default() };
    let options = SourceOptions { live: true, ..SourceOptions::default() };
    let mut source = FrameSource::open_with(&camera.url, &options, &live).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let first = loop {
        match source.poll_frame(Duration::from_millis(200)).map_err(|e| e.to_string())? {
            Pulled::Frame(frame) => break frame,
            Pulled::Ended => return Err(format!("{url}: the stream ended before its first frame")),
            Pulled::Waiting if started.elapsed() > timeout => {
                return Err(format!("{url}: no frame within {} s", timeout.as_secs()));
            }
            Pulled::Waiting => {}
        }
    };
    let waited = started.elapsed();
    let black_share = |frame: &Frame| frame.rgb().map_or(0.0, |view| view.black_share());
    let mut black = vec![black_share(&first)];
    // The rate the camera really delivers, over two seconds.
    let window = Duration::from_secs(2);
    let counting = Instant::now();
    let mut frames = 0u32;
    while counting.elapsed() < window {
        match source.poll_frame(Duration::from_millis(100)).map_err(|e| e.to_string())? {
            Pulled::Frame(frame) => {
                frames += 1;
                black.push(black_share(&frame));
            }
            Pulled::Ended => break,
            Pulled::Waiting => {}
        }
    }
    let measured = f64::from(frames) / counting.elapsed().as_secs_f64();
    let declared = source.source_fps().map(|fps| format!(", the stream says {fps:.1}")).unwrap_or_default();
    let detail = format!(
        "{url}: {}×{} at {measured:.1} frames/s{declared} (first frame after {:.1} s)",
        first.source_width,
        first.source_height,
        waited.as_secs_f64()
    );
    Ok(Probe { detail, black: black.iter().sum::<f64>() / black.len() as f64, below_black: source.below_black() })
}

/// Connects with the login and TLS the node would use; publishes nothing.
fn check_broker(plan: &Preflight, site: Option<&Site>) -> Outcome {
    let Some(mqtt) = &plan.mqtt else {
        return Outcome {
            check: "broker",
            subject: "(none)".into(),
            status: Status::Warn,
            detail:
                "no --mqtt: the run uses this machine's broker on 127.0.0.1:1883 or an embedded one that keeps nothing"
                    .into(),
        };
    };
    Outcome::new("broker", mqtt.clone(), probe_broker(plan, mqtt, site))
}

fn probe_broker(plan: &Preflight, mqtt: &str, site: Option<&Site>) -> Result<String, String> {
    // A cluster (HOST:PORT,…): its first server, the one a node starts with.
    let servers = super::run::parse_brokers(mqtt).map_err(|e| format!("{e:#}"))?;
    let Some((host, port)) = servers.into_iter().next() else { return Err(format!("--mqtt {mqtt:?}: no server")) };
    let (username, password) = plan.login.as_ref().map_err(|e| format!("{e:#}"))?.clone();
    // A client id of its own: the running node (same site and node) must not be disconnected.
    let who = site.map(|s| format!("{}-{}", s.id, s.node)).unwrap_or_default();
    let mut config = BrokerConfig::new(host, port, format!("lintel-check-{who}-{}", std::process::id()), &plan.spool);
    config.username = username;
    config.password = password;
    config.tls = plan.tls.clone();
    config.version = plan.mqtt_version;
    let login = config.username.as_deref().map(|u| format!(" as {u:?}")).unwrap_or_default();
    let tls = if config.tls.is_some() { " over TLS" } else { "" };
    lintel::publish::connect_once(&config, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    Ok(format!("accepted the connection{login}{tls}"))
}

/// The spool, state file and history are in formats this Lintel reads (after a downgrade they
/// may not be: `run` would refuse them).
fn check_formats(plan: &Preflight) -> Outcome {
    let subject = plan.spool.display().to_string();
    let result = lintel::publish::Spool::check_format(&plan.spool)
        .map_err(|e| e.to_string())
        .and_then(|()| lintel::node::check_state_file(&plan.state).map_err(|e| e.to_string()))
        .and_then(|()| lintel::web::history::History::check_format(&plan.history).map_err(|e| e.to_string()))
        .map(|()| "spool, state file and history: formats this Lintel reads".to_string());
    Outcome::new("formats", subject, result)
}

/// The spool directory exists (or can be made), takes a file, and has room for the spool's bound.
fn check_spool(spool: &Path, max_kib: u64) -> Outcome {
    let subject = spool.display().to_string();
    match probe_spool(spool) {
        Ok((free, detail)) if free < max_kib.saturating_mul(1024) => Outcome {
            check: "spool",
            subject,
            status: Status::Warn,
            detail: format!("{detail} (the spool may grow to {} MiB): less than it may need", max_kib >> 10),
        },
        Ok((_, detail)) => {
            Outcome::new("spool", subject, Ok(format!("{detail} (the spool may grow to {} MiB)", max_kib >> 10)))
        }
        Err(detail) => Outcome::new("spool", subject, Err(detail)),
    }
}

/// Free bytes and a line, or why the directory cannot take the spool.
fn probe_spool(spool: &Path) -> Result<(u64, String), String> {
    std::fs::create_dir_all(spool).map_err(|e| format!("cannot create it: {e}"))?;
    let probe = spool.join(format!(".lintel-check-{}", std::process::id()));
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        use std::io::Write;
        file.write_all(b"lintel check\n")?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| format!("cannot write in it: {e}"))?;
    let stat = nix::sys::statvfs::statvfs(spool).map_err(|e| format!("cannot read its free space: {e}"))?;
    // 32-bit on some targets (armhf boxes), 64-bit on others.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Ok((free, format!("writable, {} MiB free", free >> 20)))
}

/// The wall clock: after this program was built (a box without RTC battery boots in 1970), and
/// synchronised by NTP (the kernel's own flag, whichever daemon sets it) or a warning.
fn check_clock() -> Outcome {
    // 2026-01-01T00:00:00Z: no Lintel was built before it.
    const EARLIEST: u64 = 1_767_225_600;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let shown = lintel::publish::UtcTime::now().to_string();
    if now < EARLIEST {
        return Outcome::new(
            "clock",
            "system",
            Err(format!("{shown} is before 2026: the clock is not set; counts would carry wrong times")),
        );
    }
    match ntp_synchronised() {
        Some(true) => Outcome::new("clock", "system", Ok(format!("{shown}, synchronised (NTP)"))),
        Some(false) => Outcome {
            check: "clock",
            subject: "system".into(),
            status: Status::Warn,
            detail: format!(
                "{shown}, not synchronised by NTP: intervals may drift (enable systemd-timesyncd or chrony)"
            ),
        },
        None => Outcome {
            check: "clock",
            subject: "system".into(),
            status: Status::Warn,
            detail: format!("{shown}, cannot tell whether NTP synchronises it"),
        },
    }
}

/// The kernel's clock state (`adjtimex(2)` read-only): `TIME_ERROR` means unsynchronised.
fn ntp_synchronised() -> Option<bool> {
    // SAFETY: a zeroed timex with modes = 0 only reads the kernel's state into it.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut timex) };
    (state >= 0).then_some(state != libc::TIME_ERROR)
}
