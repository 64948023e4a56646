//! `lintel run`: the edge service. Watches every camera of a site file, counts, and publishes
//! per-building counts, occupancy, alerts and node status over MQTT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::gate_flag::{self, GateFlag};
use anyhow::Context;
use clap::Args;
use lintel::count::IntervalConfig;
use lintel::infer::{Detector, Detectors, Embedder, Manifest, Runtime};
use lintel::live::AuditAction;
use lintel::node::{NodeOptions, run_node};
use lintel::publish::{BrokerConfig, MqttVersion, NodeState, NodeStatus, Publisher, TlsFiles, UtcTime};
use lintel::web::board::CONSOLE_ROLE;
use lintel::web::server::AllowedHosts;
use lintel::web::{Access, CalibrateView, NodeMetrics, OperatorBoard, WebState};
use lintel_calibration::site::Site;

#[derive(Args)]
pub struct RunArgs {
    /// Settings file (TOML, e.g. /etc/lintel/lintel.toml): its keys are these options' long names
    /// (`site = "…"`, `mqtt = "…"`, `spool_max_kib = 1024`); options given here override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Site file (TOML): buildings, entrances, cameras, zones.
    #[arg(long)]
    site: PathBuf,
    /// MQTT broker, HOST:PORT; or the servers of a broker cluster, HOST:PORT,HOST:PORT,… (e.g. a
    /// NATS cluster's MQTT listeners): the node uses the first and moves to the next when one is
    /// lost. Without it: the broker configured on this machine (mosquitto) at 127.0.0.1:1883 when
    /// there is one, else an embedded in-memory broker on 127.0.0.1:1883.
    #[arg(long, value_name = "HOST:PORT[,…]")]
    mqtt: Option<String>,
    /// Start the embedded broker on this port of 127.0.0.1 (instead of --mqtt).
    #[cfg(feature = "embedded-broker")]
    #[arg(long, value_name = "PORT", conflicts_with = "mqtt")]
    embedded_port: Option<u16>,
    /// Environment variable holding the MQTT user name.
    #[arg(long, value_name = "VAR", requires = "mqtt")]
    mqtt_user_env: Option<String>,
    /// Environment variable holding the MQTT password (never on the command line).
    #[arg(long, value_name = "VAR", requires = "mqtt")]
    mqtt_password_env: Option<String>,
    /// The MQTT user name (not a secret).
    #[arg(long, value_name = "NAME", requires = "mqtt", conflicts_with = "mqtt_user_env")]
    mqtt_user: Option<String>,
    /// The MQTT password from the service's credentials: the file NAME of $CREDENTIALS_DIRECTORY
    /// (systemd's `LoadCredential=NAME:FILE`).
    #[arg(long, value_name = "NAME", requires = "mqtt", conflicts_with = "mqtt_password_env")]
    mqtt_password_credential: Option<String>,
    /// MQTT protocol version: 3.1.1 or 5.
    #[arg(long, value_name = "VERSION", default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    mqtt_version: String,
    /// TLS to the broker: the CA certificate (PEM) that signed the broker's certificate.
    #[arg(long, value_name = "FILE", requires = "mqtt")]
    mqtt_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a broker that asks for one; needs --mqtt-key and --mqtt-ca.
    #[arg(long, value_name = "FILE", requires_all = ["mqtt_key", "mqtt_ca"])]
    mqtt_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "mqtt_cert")]
    mqtt_key: Option<PathBuf>,
    /// Environment variable holding the operators' command key (at least 16 bytes): occupancy
    /// commands must be signed with it (`lintel occupancy set --command-key-env`). Without it the
    /// node refuses every command.
    #[arg(long, value_name = "VAR")]
    command_key_env: Option<String>,
    /// Directory of the on-disk spool (messages wait there until the broker acknowledges them).
    #[arg(long, default_value = "spool")]
    spool: PathBuf,
    /// Bound of the spool in KiB; `spool_filling` is raised at 80 %, and past the bound new
    /// messages are refused (logged) until the broker takes some.
    #[arg(long, value_name = "KIB", default_value_t = 64 * 1024)]
    spool_max_kib: u64,
    /// File keeping the intervals not yet published and the occupancy across restarts
    /// (default: inside the spool directory, `<spool>/state.json`, under the spool's lock).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Length of a counting interval in seconds.
    #[arg(long, default_value_t = 60)]
    interval_s: u64,
    /// Seconds without frames before a camera is reported offline.
    #[arg(long, default_value_t = 30)]
    offline_grace_s: u64,
    /// Seconds of a nearly uniform picture before a camera is reported blinded.
    #[arg(long, default_value_t = 60)]
    blinded_after_s: u64,
    /// Skip the detector on frames where nothing moves near a camera's zones and nobody is
    /// tracked there (an idle door), for at most MAX_SKIP_S seconds at a time (default: on,
    /// 2 s); `off`: the detector sees every frame. A site-file camera's `motion_gate` overrides it.
    #[arg(long, value_name = "MAX_SKIP_S|off", num_args = 0..=1, require_equals = true,
          default_value = gate_flag::DEFAULT_MAX_SKIP_S, default_missing_value = gate_flag::DEFAULT_MAX_SKIP_S,
          value_parser = gate_flag::parse)]
    motion_gate: GateFlag,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long)]
    run_for_s: Option<u64>,
    /// Model name from the manifest.
    #[arg(long)]
    model: Option<String>,
    /// The model manifest.
    #[arg(long, value_name = "FILE")]
    models: Option<PathBuf>,
    /// Serve Prometheus metrics on http://ADDRESS/metrics (e.g. 127.0.0.1:9100).
    #[arg(long, value_name = "ADDRESS")]
    metrics: Option<std::net::SocketAddr>,
    /// Serve the node's pages on http://ADDRESS: the operators' dashboard at `/` (and
    /// `/metrics`). Any address but loopback needs tokens.
    #[arg(long, value_name = "ADDRESS")]
    web: Option<std::net::SocketAddr>,
    /// Environment variable holding the operators' token for --web (dashboard, alerts).
    #[arg(long, value_name = "VAR", requires = "web")]
    web_operator_token_env: Option<String>,
    /// Environment variable holding the technicians' token for --web (everything operators may
    /// do, and the camera set-up).
    #[arg(long, value_name = "VAR", requires = "web")]
    web_technician_token_env: Option<String>,
    /// A DNS name the pages answer to (repeatable); IP addresses and `localhost` always are, any
    /// other name gets 421 (DNS rebinding).
    #[arg(long, value_name = "NAME", requires = "web")]
    web_host: Vec<String>,
    /// Show operators a blurred still of each camera on the dashboard (hidden as the set-up
    /// page's picture is, never unblurred), to see a moved or defocused camera for themselves.
    #[arg(long, requires = "web")]
    operator_stills: bool,
    /// The dashboard's history (SQLite: building intervals, alerts and acknowledgements)
    /// (default: `<spool>/history.sqlite`).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Days of history kept.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    history_days: u64,
    /// ONNX Runtime threads (default: ONNX Runtime's choice).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Frames of different cameras the detector sees side by side, each on its own copy of the
    /// model with its share of the threads (`1`: one frame at a time). Default: 2 on a box of 2
    /// cores or more (README "Many cameras on one box").
    #[arg(long, value_name = "N")]
    lanes: Option<usize>,
    /// Track with appearance too (re-ID model of the manifest; name one with --reid=MODEL):
    /// people hidden for a moment keep their identity, and an entrance watched by two cameras
    /// matches its crossings by appearance as well as by time.
    #[arg(long, value_name = "MODEL", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    reid: Option<String>,
    /// Stretch dark or flat pictures (dusk, night, infrared) to their full range of brightness
    /// before the detector: `auto` while a camera's picture is dark or flat, `on` always, `off`
    /// never. A site-file camera's `low_light` overrides it.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    low_light: lintel::infer::LowLightMode,
    /// Where the detector looks on each camera: `auto` at its zones and a margin, through the
    /// smallest region network that holds them, and at the whole frame every 2 s; `off` at the
    /// whole frame always (README, "A detector that looks where it counts").
    #[arg(long, value_name = "MODE", default_value = "auto")]
    detector_region: super::count::RegionMode,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut site = Site::load(&args.site)?;
    if !site.node_named {
        let (node, from) =
            lintel::node::derived_node_id(&site.id).map_err(|e| anyhow::anyhow!("{}: {e}", args.site.display()))?;
        eprintln!(
            "lintel run: {} names no node: this box is {node} (from {from}); name it with [site] node = \"…\"",
            args.site.display()
        );
        site.node = node;
    }
    // Without --mqtt, the embedded broker; it runs until the process ends.
    // The embedded broker keeps nothing: it gets a spool of its own, so the messages waiting for a
    // real broker are never drained into it.
    let mut fallbacks = Vec::new();
    let (host, port, spool) = match (&args.mqtt, embedded_port(&args)) {
        (Some(mqtt), _) => {
            let mut servers = parse_brokers(mqtt)?.into_iter();
            let Some((host, port)) = servers.next() else { anyhow::bail!("--mqtt {mqtt:?}: expected HOST:PORT") };
            fallbacks = servers.collect();
            (host, port, args.spool.clone())
        }
        (None, None) if machine_broker() => {
            eprintln!(
                "lintel run: no --mqtt given: using the broker configured on this machine, 127.0.0.1:{MQTT_PORT}"
            );
            ("127.0.0.1".to_string(), MQTT_PORT, args.spool.clone())
        }
        (None, port) => {
            let broker = start_embedded_broker(port.unwrap_or(MQTT_PORT))?;
            (broker.ip().to_string(), broker.port(), args.spool.join("embedded"))
        }
    };
    let manifest = Manifest::load(&args.models.clone().unwrap_or_else(super::default_manifest))?;
    let spec = manifest.detector(args.model.as_deref())?;
    let mut detector = Detector::load(Runtime::load()?, spec, &manifest.file_of(spec), args.threads)?;
    if args.detector_region == super::count::RegionMode::Auto {
        detector = detector.with_regions(Runtime::load()?, &manifest.regions_of(spec)?, args.threads)?;
    }
    // Lanes serve frames detected one at a time; a model that batches runs a round's frames at once.
    let lanes = if detector.preferred_batch() == 1 { args.lanes } else { Some(1) };
    let regions = detector.has_regions();
    let mut lanes = super::detector_lanes(Runtime::load()?, &manifest, spec, regions, lanes, args.threads)?;
    let mut embedder = match args.reid.as_deref() {
        Some(name) => {
            let spec = manifest.reid(Some(name).filter(|n| !n.is_empty()))?;
            Some(Embedder::load(Runtime::load()?, spec, &manifest.file_of(spec), args.threads)?)
        }
        None => None,
    };

    let mut broker = BrokerConfig::new(host, port, format!("lintel-{}-{}", site.id, site.node), &spool);
    broker.fallbacks = fallbacks;
    broker.subscriptions = lintel::node::command_filters(&site);
    // Acknowledgements made on a console, for the dashboard.
    if args.web.is_some() {
        broker.subscriptions.extend(lintel::node::ack_filter(&site.id, &site.node));
    }
    broker.spool_max_bytes = args.spool_max_kib.saturating_mul(1024);
    (broker.username, broker.password) = args.mqtt_login()?;
    broker.tls = tls_files(&args.mqtt_ca, &args.mqtt_cert, &args.mqtt_key);
    if broker.password.is_some() && broker.tls.is_none() {
        // Said once, at start, where an operator reads it; the password itself never is.
        tracing::warn!(
            "the MQTT password goes to {} in plain text (no --mqtt-ca): anyone on the path can read it; use TLS",
            broker.broker()
        );
    }
    broker.version = mqtt_version(&args.mqtt_version);
    let will = NodeStatus {
        site: site.id.clone(),
        node: site.node.clone(),
        seq: Default::default(),
        at: UtcTime::now(),
        state: NodeState::Offline,
        cameras: Vec::new(),
        version: None,
        web: None,
    };
    // A downgraded node refuses state a newer one wrote before it writes anything (the spool
    // checks its own format first thing as it opens).
    let state_file = args.state.clone().unwrap_or_else(|| default_state_file(&args.spool));
    lintel::node::check_state_file(&state_file)?;
    let history = args.history.clone().unwrap_or_else(|| args.spool.join("history.sqlite"));
    lintel::web::history::History::check_format(&history)?;
    let publisher = Publisher::start(broker, will)?;

    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed))
        .context("cannot install the signal handler")?;

    let metrics = Arc::new(NodeMetrics::default());
    let _metrics_server = match args.metrics {
        Some(address) => Some(
            lintel::web::server::serve_metrics_only(address, Arc::clone(&metrics))
                .with_context(|| format!("--metrics {address}: cannot listen"))?,
        ),
        None => None,
    };
    // The newest analysed frame of each camera, for the technicians' page.
    let live = lintel::live::LiveFrames::default();
    let zone_reloads = lintel::live::ZoneReloads::default();
    // Always on: logged at WARN (target `audit`) and shown on the dashboard when there is one.
    let audit = lintel::live::AuditTrail::default();
    let (board, _web_server, web_address) = match args.web {
        Some(address) => {
            let access = Access::with_tokens(
                read_env(args.web_operator_token_env.as_deref())?.as_deref(),
                read_env(args.web_technician_token_env.as_deref())?.as_deref(),
            )
            .map_err(|e| anyhow::anyhow!("--web: {e}"))?;
            access.check_address(address).map_err(|e| anyhow::anyhow!("--web {address}: {e}"))?;
            let retention = Duration::from_secs(args.history_days.max(1).saturating_mul(86_400));
            let board = OperatorBoard::open(&site, Arc::clone(&metrics), &history, retention)?;
            // The trail survives restarts in the history file, for the dashboard.
            audit.keep_in(Arc::clone(&board) as Arc<dyn lintel::live::AuditKeeper>);
            let mut state = WebState::pages(Arc::clone(&metrics), Arc::clone(&board), access, audit.clone());
            state.hosts = Some(AllowedHosts::with_names(&args.web_host));
            state.calibrate =
                Some(CalibrateView::new(site.clone(), args.site.clone(), live.clone(), zone_reloads.clone()));
            if args.operator_stills {
                let cameras = site.cameras.iter().map(|c| c.id.clone()).collect();
                state.stills = Some(lintel::web::stills::OperatorStills::new(cameras, live.clone()));
                board.offer_stills();
            }
            let server = lintel::web::server::serve_pages(address, state)
                .with_context(|| format!("--web {address}: cannot listen"))?;
            eprintln!(
                "lintel run: the dashboard is on http://{0}/, the camera set-up on http://{0}/calibrate",
                server.address()
            );
            board.publish_acks_with(publisher.retained_sender());
            let web_address = web_address(server.address(), &args.web_host);
            (Some(board), Some(server), web_address)
        }
        None => (None, None, None),
    };
    let options = NodeOptions {
        interval: IntervalConfig { length: Duration::from_secs(args.interval_s.max(1)), ..IntervalConfig::default() },
        offline_grace: Duration::from_secs(args.offline_grace_s),
        blinded_after: Duration::from_secs(args.blinded_after_s),
        motion_gate: args.motion_gate.0,
        run_for: args.run_for_s.map(Duration::from_secs),
        low_light: args.low_light,
        region: Some(detector.region_sizes())
            .filter(|sizes| !sizes.is_empty())
            .map(lintel::analysis::RegionConfig::with_sizes),
        state_file: Some(state_file),
        metrics: (args.metrics.is_some() || args.web.is_some()).then_some(metrics),
        live: args.web.is_some().then_some(live),
        zone_reloads: args.web.is_some().then_some(zone_reloads),
        audit: Some(audit.clone()),
        command_key: command_key(args.command_key_env.as_deref())?,
        show: board.clone().map(|board| lintel::node::ShowMessage(Arc::new(move |message| board.record(message)))),
        spooled: board
            .clone()
            .map(|board| lintel::node::ShowMessage(Arc::new(move |message| board.record_spooled(message)))),
        acks: board.map(|board| {
            let audit = audit.clone();
            lintel::node::AckSink(Arc::new(move |ack| {
                // Who acknowledged on a console is the console's word: in the detail, as `by`.
                if let Some(row) = board.record_remote_ack(&ack) {
                    let subject = format!("alert {} ({} {})", row.id, row.kind, row.subject);
                    let source = ack.source.as_deref().unwrap_or("a console");
                    audit.record(
                        AuditAction::AlertAcknowledged,
                        CONSOLE_ROLE,
                        "mqtt",
                        &subject,
                        &format!("by {} on {source}", ack.by),
                    );
                }
            }))
        }),
        web_address,
        service: Some(lintel::service::ServiceNotifier::from_env()),
        ..NodeOptions::default()
    };
    tracing::info!(site = %site.id, cameras = site.cameras.len(), "running");
    let detectors = Detectors { whole: &mut detector, lanes: &mut lanes };
    let summary = run_node(&site, detectors, embedder.as_mut(), &publisher, &options, &stop)?;
    // Give the broker a moment to take what is spooled; what it does not take stays on disk
    // and goes out at the next start.
    publisher.flush(Duration::from_secs(5));
    eprintln!(
        "lintel run: {} frames analysed, {} crossings ({} more seen by a second camera), {} intervals published ({} entries, {} exits)",
        summary.frames_analysed,
        summary.crossings,
        summary.duplicates,
        summary.intervals_published,
        summary.entries_published,
        summary.exits_published
    );
    Ok(ExitCode::SUCCESS)
}

/// MQTT's registered port, where a machine's broker listens.
const MQTT_PORT: u16 = 1883;

/// Whether this machine has a broker of its own: mosquitto configured, or anything listening on
/// 127.0.0.1:1883. Then Lintel uses it (and spools while it starts) rather than take its port at
/// boot with a broker that keeps nothing.
/// Where a person reaches the pages, for the node's status: the first `--web-host` name, else
/// the address listened on unless it is every address (`0.0.0.0`, `::`: no name to give).
fn web_address(listening: std::net::SocketAddr, hosts: &[String]) -> Option<String> {
    match hosts.first() {
        Some(host) => Some(format!("http://{host}:{}/", listening.port())),
        None if listening.ip().is_unspecified() => None,
        None => Some(format!("http://{listening}/")),
    }
}

fn machine_broker() -> bool {
    let listening = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], MQTT_PORT)),
        Duration::from_millis(300),
    )
    .is_ok();
    listening || std::path::Path::new("/etc/mosquitto/mosquitto.conf").exists()
}

#[cfg(feature = "embedded-broker")]
fn embedded_port(args: &RunArgs) -> Option<u16> {
    args.embedded_port
}

#[cfg(not(feature = "embedded-broker"))]
fn embedded_port(_: &RunArgs) -> Option<u16> {
    None
}

#[cfg(feature = "embedded-broker")]
fn start_embedded_broker(port: u16) -> anyhow::Result<std::net::SocketAddr> {
    use lintel::publish::embedded_broker::{BrokerError, EmbeddedBroker};

    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let broker = EmbeddedBroker::start(address).map_err(|error| match error {
        BrokerError::PortInUse { .. } => {
            anyhow::anyhow!("{error}; give a broker with --mqtt HOST:PORT or another port with --embedded-port")
        }
        error => error.into(),
    })?;
    eprintln!(
        "lintel run: started an embedded MQTT broker on {} (it keeps nothing: its messages are spooled apart from a real broker's)",
        broker.address()
    );
    Ok(broker.address())
}

#[cfg(not(feature = "embedded-broker"))]
fn start_embedded_broker(_: u16) -> anyhow::Result<std::net::SocketAddr> {
    anyhow::bail!("no MQTT broker: give one with --mqtt HOST:PORT (this build has no embedded broker)")
}

/// `<spool>/state.json`: inside the spool directory, so two nodes never share it (the spool is
/// locked) and it lands wherever the spool can be written. A state file of an older Lintel, beside
/// the spool (`<spool>.state.json`), is moved in.
fn default_state_file(spool: &std::path::Path) -> PathBuf {
    let state = spool.join("state.json");
    let old = spool.with_extension("state.json");
    if !state.exists() && old.is_file() && std::fs::create_dir_all(spool).is_ok() {
        match std::fs::rename(&old, &state) {
            Ok(()) => eprintln!("lintel run: moved the state file {} to {}", old.display(), state.display()),
            Err(error) => eprintln!("lintel run: cannot move the state file {} into the spool: {error}", old.display()),
        }
    }
    state
}

/// `--mqtt HOST:PORT`.
pub(super) fn parse_broker(mqtt: &str) -> anyhow::Result<(String, u16)> {
    lintel_wire::split_host_port(mqtt).with_context(|| format!("--mqtt {mqtt:?}: expected HOST:PORT"))
}

/// `--mqtt HOST:PORT[,HOST:PORT…]`: the servers of a broker cluster, in the order tried.
pub(super) fn parse_brokers(mqtt: &str) -> anyhow::Result<Vec<(String, u16)>> {
    mqtt.split(',').map(|one| parse_broker(one.trim())).collect()
}

/// `--mqtt-version` (clap allows only the two values).
pub(super) fn mqtt_version(version: &str) -> MqttVersion {
    if version == "5" { MqttVersion::V5 } else { MqttVersion::V311 }
}

/// `--mqtt-ca`, `--mqtt-cert`, `--mqtt-key` (clap checks that they come together).
pub(super) fn tls_files(ca: &Option<PathBuf>, cert: &Option<PathBuf>, key: &Option<PathBuf>) -> Option<TlsFiles> {
    Some(TlsFiles { ca: ca.clone()?, client: cert.clone().zip(key.clone()) })
}

/// The command key from the environment variable `var` (its value is never logged or shown).
pub(super) fn command_key(var: Option<&str>) -> anyhow::Result<Option<lintel_wire::CommandKey>> {
    let Some(value) = read_env(var)? else { return Ok(None) };
    let key = lintel_wire::CommandKey::new(value).with_context(|| format!("environment variable {var:?}"))?;
    Ok(Some(key))
}

pub(super) fn read_env(var: Option<&str>) -> anyhow::Result<Option<String>> {
    var.map(|v| std::env::var(v).with_context(|| format!("environment variable {v} is not set"))).transpose()
}

/// What `lintel check` needs of the settings `lintel run` would start with.
impl RunArgs {
    /// The MQTT user name and password, from the options, the environment or the credentials.
    pub(super) fn mqtt_login(&self) -> anyhow::Result<(Option<String>, Option<String>)> {
        let user = match &self.mqtt_user {
            Some(user) => Some(user.clone()),
            None => read_env(self.mqtt_user_env.as_deref())?,
        };
        let password = match &self.mqtt_password_credential {
            Some(name) => Some(lintel::service::credential(name)?),
            None => read_env(self.mqtt_password_env.as_deref())?,
        };
        Ok((user, password))
    }

    /// The settings a preflight checks, as `run` reads them.
    pub(super) fn preflight(&self) -> super::preflight::Preflight {
        super::preflight::Preflight {
            site: self.site.clone(),
            mqtt: self.mqtt.clone(),
            mqtt_version: mqtt_version(&self.mqtt_version),
            tls: tls_files(&self.mqtt_ca, &self.mqtt_cert, &self.mqtt_key),
            spool: self.spool.clone(),
            spool_max_kib: self.spool_max_kib,
            state: self.state.clone().unwrap_or_else(|| self.spool.join("state.json")),
            history: self.history.clone().unwrap_or_else(|| self.spool.join("history.sqlite")),
            models: self.models.clone().unwrap_or_else(super::default_manifest),
            model: self.model.clone(),
            reid: self.reid.clone(),
            threads: self.threads,
            login: self.mqtt_login(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_broker_cluster_is_its_servers_separated_by_commas() {
        let servers = super::parse_brokers("n1:1883, n2:1884,10.0.0.3:1885").unwrap();
        assert_eq!(servers, [("n1".into(), 1883), ("n2".into(), 1884), ("10.0.0.3".into(), 1885)]);
        assert_eq!(super::parse_brokers("127.0.0.1:1883").unwrap(), [("127.0.0.1".to_string(), 1883)]);
        for bad in ["n1:1883,", "n1", "n1:1883,n2:x"] {
            let error = super::parse_brokers(bad).unwrap_err().to_string();
            assert!(error.contains("expected HOST:PORT"), "{bad}: {error}");
        }
    }
}
