//! The city server's command line: `lintel-city` (also `lintel density` on an edge box) runs the
//! population-density layer (consumer, store, map, exports); `lintel-city render` /
//! `lintel-city export` draw the map and write the NGSI-LD entities for reports and other agencies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lintel_city::console::web::{ConsoleAccess, ConsoleWeb};
use lintel_city::console::webhooks::Webhooks;
use lintel_city::console::{AckOutbox, ConsoleConfig, ConsoleFeed, ConsoleMetrics, IncidentStore, OperationsPicture};
use lintel_city::density::access::Access;
use lintel_city::density::basemap::{Basemap, Datum, MbTiles};
use lintel_city::density::consumer::{Consumer, ConsumerConfig};
use lintel_city::density::jetstream::{JetStreamConfig, JetStreamConsumer, JetStreamMetrics};
use lintel_city::density::losses::LossMetrics;
use lintel_city::density::ngsi::NgsiOptions;
use lintel_city::density::web::{DensityWeb, parse_time};
use lintel_city::density::{Grid, Ingest, IngestMetrics, Retention, Snapshot, render, store};
use lintel_http::i18n::Language;
use lintel_wire::UtcTime;
use prometheus_client::registry::Registry;

#[derive(Parser)]
#[command(
    name = "lintel-city",
    version,
    about = "The city server: the population-density layer of many Lintel nodes (consumer, store, map, exports)",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct CityArgs {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    serve: ServeArgs,
    /// Where logs go: `auto` (the journal when systemd connected stderr to it, else stderr),
    /// `stderr`, or `journald` (structured fields).
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_to: lintel_settings::LogTarget,
}

#[derive(Subcommand)]
enum Action {
    /// Draw the map at a time as a picture (.png or .svg).
    Render(RenderArgs),
    /// Write the NGSI-LD entities (FIWARE Building, CrowdFlowObserved) for other agencies.
    Export(ExportArgs),
    /// Write the man page lintel-city.1 into DIR: for the package.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

#[derive(Args)]
struct ServeArgs {
    /// Settings file (TOML, e.g. /etc/lintel/lintel-city.toml): its keys are these options' long
    /// names (`grid = "…"`, `mqtt = "…"`, `retention_days = 30`); options given here override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The grid file: cells and buildings (GeoJSON).
    #[arg(long, value_name = "FILE", required = true)]
    grid: Option<PathBuf>,
    /// The MQTT broker the nodes publish to (MQTT 5).
    #[arg(long, value_name = "HOST:PORT", required_unless_present_any = ["web_only", "nats"])]
    mqtt: Option<String>,
    /// Consume from a NATS cluster instead (JetStream): its servers, comma-separated
    /// (nats://HOST:PORT,…). Every worker shares one durable consumer; the nodes publish MQTT to
    /// the servers' MQTT listeners.
    #[arg(long, value_name = "URL[,URL…]", conflicts_with_all = ["mqtt", "share_group"])]
    nats: Option<String>,
    /// The JetStream stream of the counts and occupancy subjects (created if absent).
    #[arg(long, value_name = "NAME", default_value = "LINTEL_DENSITY", requires = "nats")]
    nats_stream: String,
    /// The durable consumer the workers share.
    #[arg(long, value_name = "NAME", default_value = "lintel-density", requires = "nats")]
    nats_durable: String,
    /// Copies of the stream and the consumer, when this worker creates them (at most the servers).
    #[arg(long, value_name = "N", default_value_t = 3, requires = "nats")]
    nats_replicas: usize,
    /// How long the cluster waits for a worker's acknowledgement before handing the message to
    /// another (a worker that died).
    #[arg(long, value_name = "S", default_value_t = 30, requires = "nats")]
    nats_ack_wait_s: u64,
    /// How long the stream keeps a message, when this worker creates it (the longest store
    /// outage to ride out).
    #[arg(long, value_name = "HOURS", default_value_t = 48, requires = "nats")]
    nats_keep_hours: u64,
    /// Serve the map and the exports from the store without consuming (a second web front, or
    /// one reading a PostgreSQL read replica); no MQTT.
    #[arg(long, conflicts_with_all = ["mqtt", "nats", "share_group"])]
    web_only: bool,
    /// Serve the map, GeoJSON, history, NGSI-LD and metrics on this address. Any address but
    /// loopback needs --web-token-env.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    web: SocketAddr,
    /// Environment variable holding the viewers' token, which every web client must then send
    /// (`Authorization: Bearer TOKEN`, at least 16 characters): the map, GeoJSON, NGSI-LD,
    /// metrics, and a cell's history with small counts suppressed.
    #[arg(long, value_name = "VAR")]
    web_token_env: Option<String>,
    /// The viewers' token from the service's credentials: the file NAME of $CREDENTIALS_DIRECTORY
    /// (systemd's `LoadCredential=NAME:FILE`).
    #[arg(long, value_name = "NAME", conflicts_with = "web_token_env")]
    web_token_credential: Option<String>,
    /// Environment variable holding the analysts' token (bearer, at least 16 characters,
    /// not the viewers'): all a viewer sees, and the exact history (`/density/history`, every
    /// interval and building). Without it (viewer token, or loopback without tokens) the history
    /// is a cell's, small counts suppressed on fixed spans; `exact=1`, `step=interval` and
    /// `building=` answer 403.
    #[arg(long, value_name = "VAR")]
    analyst_token_env: Option<String>,
    /// The analysts' token from the service's credentials (a file NAME of $CREDENTIALS_DIRECTORY).
    #[arg(long, value_name = "NAME", conflicts_with = "analyst_token_env")]
    analyst_token_credential: Option<String>,
    /// Environment variable holding the operators' token (bearer, at least 16 characters, not
    /// the viewers' or the analysts'): the console's API (`/api/nodes`, `/api/alerts`,
    /// acknowledging). Without it the console answers only on loopback with no token set.
    #[arg(long, value_name = "VAR")]
    operator_token_env: Option<String>,
    /// The operators' token from the service's credentials (a file NAME of $CREDENTIALS_DIRECTORY).
    #[arg(long, value_name = "NAME", conflicts_with = "operator_token_env")]
    operator_token_credential: Option<String>,
    /// The MQTT user name (not a secret).
    #[arg(long, value_name = "NAME", requires = "mqtt_password_credential")]
    mqtt_user: Option<String>,
    /// The MQTT password from the service's credentials (a file NAME of $CREDENTIALS_DIRECTORY).
    #[arg(long, value_name = "NAME", requires = "mqtt_user")]
    mqtt_password_credential: Option<String>,
    /// The PostgreSQL password from the service's credentials (a file NAME of
    /// $CREDENTIALS_DIRECTORY), put into the --store URL (which then names the user alone).
    #[arg(long, value_name = "NAME")]
    store_password_credential: Option<String>,
    /// The console raises `node_offline` for a node heard from for no longer than this (three of
    /// the nodes' default 60 s intervals).
    #[arg(long, value_name = "S", default_value_t = 180)]
    offline_after_s: u32,
    /// The console's outgoing webhooks (JSON: hooks with url, template, kinds, quiet hours; see
    /// the README).
    #[arg(long, value_name = "FILE")]
    webhooks: Option<PathBuf>,
    /// Where the webhooks' undelivered notifications are kept across a restart (a folder, one
    /// file per hook).
    #[arg(long, value_name = "DIR", default_value = "webhooks-queue", requires = "webhooks")]
    webhooks_queue: PathBuf,
    /// A DNS name the web server answers to (repeatable); IP addresses and `localhost` always are,
    /// any other name is refused (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    web_host: Vec<String>,
    /// sqlite:PATH (one machine) or postgres://USER@HOST:PORT/DB (shared by many consumers).
    #[arg(long, value_name = "URL", default_value = "sqlite:density.db")]
    store: String,
    /// The map page's basemap: an MBTiles file of raster tiles (PNG, JPEG, WebP), served at
    /// /tiles/. Needs --basemap-datum. Without it or --basemap-url, the page shows the grid alone.
    #[arg(long, value_name = "FILE", requires = "basemap_datum")]
    basemap: Option<PathBuf>,
    /// Instead of a file: the tile URL template of the city's own tile service
    /// (https://tiles.example/{z}/{x}/{y}.png), fetched by the reader's browser.
    #[arg(long, value_name = "TEMPLATE", conflicts_with = "basemap", requires = "basemap_datum")]
    basemap_url: Option<String>,
    /// The datum of the basemap's tiles, stated, never guessed: wgs84 or cgcs2000 (the grid's own).
    /// GCJ-02 tiles are refused: they would put every building on the wrong street.
    #[arg(long, value_name = "DATUM")]
    basemap_datum: Option<String>,
    /// Share the load with the other consumers of this group (MQTT 5 shared subscription).
    #[arg(long, value_name = "GROUP")]
    share_group: Option<String>,
    /// The MQTT client id; a restarted worker with the same id resumes its session.
    #[arg(long, value_name = "ID", default_value = "lintel-density")]
    consumer_id: String,
    /// How long the broker keeps this worker's session while it is away (0: none; a worker that
    /// dies then loses what was in flight or queued for it, and the others get the rest).
    #[arg(long, value_name = "S", default_value_t = 3600)]
    session_expiry_s: u32,
    #[command(flatten)]
    common: CommonArgs,
    /// Keep intervals this many days (hourly roll-ups are kept longer).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    retention_days: u32,
    /// Keep hourly roll-ups (and the daily ones made from them) this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 400)]
    rollup_retention_days: u32,
    /// Do not publish the retained lintel/v1/density/cell/<cell> topics.
    #[arg(long)]
    no_cell_topics: bool,
    /// Stop after this many seconds (tests, demos).
    #[arg(long, value_name = "S")]
    run_for_s: Option<u64>,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// A building with no data for this long is stale (shown with its last value, not counted).
    #[arg(long, value_name = "S", default_value_t = 300)]
    stale_after_s: i64,
    /// In the NGSI-LD export and the viewers' history, counts from 1 to this minus one are merged
    /// (on fixed 6-hour blocks from the Unix epoch) or left out.
    #[arg(long, value_name = "N", default_value_t = 3)]
    ngsi_threshold: u64,
}

#[derive(Args)]
struct RenderArgs {
    #[arg(long, value_name = "FILE")]
    grid: PathBuf,
    #[arg(long, value_name = "URL", default_value = "sqlite:density.db")]
    store: String,
    /// The time to draw (RFC 3339); now if absent.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The picture: .png or .svg.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[arg(long, value_name = "S", default_value_t = 300)]
    stale_after_s: i64,
    /// The picture's language: zh-CN or en (default: from LANG, else English). A Chinese PNG
    /// needs a CJK font (Debian's fonts-wqy-microhei).
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
}

#[derive(Args)]
struct ExportArgs {
    #[arg(long, value_name = "FILE")]
    grid: PathBuf,
    #[arg(long, value_name = "URL", default_value = "sqlite:density.db")]
    store: String,
    /// Start of the flows exported (RFC 3339); 24 hours ago if absent.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the flows exported; now if absent (only whole hours that have ended).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: CityArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(Action::Render(a)) => render_map(a),
        Some(Action::Manpages { dir }) => manpages(&dir),
        Some(Action::Export(a)) => export(a),
        None => serve(args.serve),
    }
}

fn load_grid(path: &Path) -> anyhow::Result<Arc<Grid>> {
    Ok(Arc::new(Grid::load(path)?))
}

fn open_store(url: &str) -> anyhow::Result<store::Recorder> {
    store::open(url).with_context(|| format!("store {}", redact(url)))
}

/// The store URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{user}:…{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// A secret named by an environment variable (`--…-env VAR`) or a credential of the service
/// (`--…-credential NAME`): how it was named (for messages, never the value) and its value.
fn secret(
    env: (&str, &Option<String>),
    credential: (&str, &Option<String>),
) -> anyhow::Result<Option<(String, String)>> {
    match (env.1, credential.1) {
        (Some(var), _) => {
            let named = format!("{} {var}", env.0);
            let value = std::env::var(var).with_context(|| format!("{named}: the variable is not set"))?;
            Ok(Some((named, value)))
        }
        (None, Some(name)) => Ok(Some((format!("{} {name}", credential.0), lintel_settings::credential(name)?))),
        (None, None) => Ok(None),
    }
}

fn viewer_secret(args: &ServeArgs) -> anyhow::Result<Option<(String, String)>> {
    secret(("--web-token-env", &args.web_token_env), ("--web-token-credential", &args.web_token_credential))
}

fn analyst_secret(args: &ServeArgs) -> anyhow::Result<Option<(String, String)>> {
    secret(
        ("--analyst-token-env", &args.analyst_token_env),
        ("--analyst-token-credential", &args.analyst_token_credential),
    )
}

fn bearer((named, value): &(String, String)) -> anyhow::Result<lintel_http::BearerToken> {
    lintel_http::BearerToken::new(value).map_err(|why| anyhow::anyhow!("{named}: {why}"))
}

/// The viewers' token; none is allowed only on loopback, where no one else can connect.
fn web_token(args: &ServeArgs) -> anyhow::Result<Option<lintel_http::BearerToken>> {
    let Some(viewer) = viewer_secret(args)? else {
        if !args.web.ip().is_loopback() {
            anyhow::bail!(
                "--web {}: a server others can reach needs a token: set --web-token-env VAR or --web-token-credential NAME (or serve on 127.0.0.1)",
                args.web
            );
        }
        return Ok(None);
    };
    bearer(&viewer).map(Some)
}

/// The analysts' token, never the same as the viewers'.
fn analyst_token(args: &ServeArgs) -> anyhow::Result<Option<lintel_http::BearerToken>> {
    let Some(analyst) = analyst_secret(args)? else { return Ok(None) };
    if viewer_secret(args)?.is_some_and(|(_, viewer)| viewer == analyst.1) {
        anyhow::bail!("{}: the analyst token must differ from the viewers'", analyst.0);
    }
    bearer(&analyst).map(Some)
}

/// The operators' token, never the viewers' or the analysts'.
fn operator_token(args: &ServeArgs) -> anyhow::Result<Option<lintel_http::BearerToken>> {
    let operator = secret(
        ("--operator-token-env", &args.operator_token_env),
        ("--operator-token-credential", &args.operator_token_credential),
    )?;
    let Some(operator) = operator else { return Ok(None) };
    for (_, other) in [viewer_secret(args)?, analyst_secret(args)?].into_iter().flatten() {
        if other == operator.1 {
            anyhow::bail!("{}: the operators' token must differ from the viewers' and the analysts'", operator.0);
        }
    }
    bearer(&operator).map(Some)
}

/// `--store` with the password of `--store-password-credential` put in (percent-encoded), for a
/// PostgreSQL URL that names its user alone.
fn store_url(args: &ServeArgs) -> anyhow::Result<String> {
    let Some(name) = &args.store_password_credential else { return Ok(args.store.clone()) };
    let password = lintel_settings::credential(name)?;
    with_password(&args.store, &password).ok_or_else(|| {
        anyhow::anyhow!(
            "--store-password-credential {name}: --store must be postgres://USER@HOST/DB (a user, no password), not {}",
            redact(&args.store)
        )
    })
}

/// `postgres://USER@…` with `:PASSWORD` after the user; `None` for any other URL.
fn with_password(url: &str, password: &str) -> Option<String> {
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme = &url[..url.len() - rest.len()];
    let (user, host) = rest.split_once('@')?;
    if user.is_empty() || user.contains(':') || user.contains('/') {
        return None;
    }
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("{scheme}{user}:{encoded}@{host}"))
}

/// The MQTT login of `--mqtt-user` and `--mqtt-password-credential`.
fn mqtt_login(args: &ServeArgs) -> anyhow::Result<Option<(String, String)>> {
    match (&args.mqtt_user, &args.mqtt_password_credential) {
        (Some(user), Some(name)) => Ok(Some((user.clone(), lintel_settings::credential(name)?))),
        _ => Ok(None),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let Some(grid_path) = &args.grid else {
        anyhow::bail!("lintel-city needs --grid FILE");
    };
    let grid = load_grid(grid_path)?;
    // With the password of --store-password-credential, if any: only ever shown redacted.
    let url = store_url(&args)?;
    let metrics = Arc::new(IngestMetrics::default());
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let nats_metrics = Arc::new(JetStreamMetrics::default());
    if args.nats.is_some() {
        nats_metrics.register(&mut registry);
    }
    let console_metrics = Arc::new(ConsoleMetrics::default());
    console_metrics.register(&mut registry);
    // Losses are counted by a consumer that sees every message (MQTT, no share group).
    let losses =
        (args.mqtt.is_some() && !args.web_only && args.share_group.is_none()).then(|| Arc::new(LossMetrics::default()));
    if let Some(losses) = &losses {
        losses.register(&mut registry);
    }
    let retention = Retention {
        raw_s: i64::from(args.retention_days) * 86_400,
        hourly_s: i64::from(args.rollup_retention_days) * 86_400,
    };
    // The consumer creates the tables; the web side only reads.
    let consumer_store = if args.web_only { None } else { Some(open_store(&url)?) };
    let reader = store::open_reader(&url).with_context(|| format!("store {}", redact(&url)))?;
    let web_state = Arc::new(DensityWeb {
        grid: Arc::clone(&grid),
        store: Mutex::new(reader),
        stale_after_s: args.common.stale_after_s,
        registry,
        ngsi: NgsiOptions { threshold: args.common.ngsi_threshold, ..NgsiOptions::default() },
        losses: losses.clone(),
        basemap: basemap(&args)?,
    });
    let access = Access { viewer: web_token(&args)?, analyst: analyst_token(&args)? };
    let console_access = ConsoleAccess {
        operator: operator_token(&args)?,
        open_without_token: args.web.ip().is_loopback()
            && viewer_secret(&args)?.is_none()
            && args.operator_token_env.is_none()
            && args.operator_token_credential.is_none(),
    };
    // The operators' console: gathered by the consumer, served beside the map.
    let consuming = !args.web_only && args.mqtt.is_some();
    let picture = consuming.then(|| {
        let config = ConsoleConfig { offline_after_ms: i64::from(args.offline_after_s) * 1000, ..Default::default() };
        Arc::new(Mutex::new(OperationsPicture::new(config)))
    });
    let outbox = consuming.then(|| Arc::new(AckOutbox::default()));
    let webhooks = match (&args.webhooks, consuming) {
        (Some(path), true) => {
            let hooks = lintel_city::console::webhooks::load(path).map_err(|e| anyhow::anyhow!("--webhooks {e}"))?;
            let files = lintel_city::console::webhook_queue::PendingFiles::open(&args.webhooks_queue)
                .context("--webhooks-queue")?;
            Some(Arc::new(Webhooks::start(hooks, Some(files)).context("cannot start the webhooks")?))
        }
        _ => None,
    };
    let mut changes = None;
    let console_feed = match (&picture, &outbox) {
        (Some(picture), Some(outbox)) => {
            let store = IncidentStore::open(&url).with_context(|| format!("store {}", redact(&url)))?;
            let mut feed =
                ConsoleFeed::new(Arc::clone(picture), store, Arc::clone(&console_metrics), Arc::clone(outbox))
                    .with_context(|| format!("store {}", redact(&url)))?;
            feed.webhooks = webhooks.clone();
            changes = Some(Arc::clone(&feed.changes));
            Some(Arc::new(Mutex::new(Some(feed))))
        }
        _ => None,
    };
    let console_web = Arc::new(ConsoleWeb {
        picture,
        store: Mutex::new(IncidentStore::open_reader(&url).with_context(|| format!("store {}", redact(&url)))?),
        outbox,
        source: args.consumer_id.clone(),
        // The community's time zone, from the grid file (the browser's when it names none).
        time_zone: grid.time_zone.clone(),
        webhooks,
        changes,
        streams: Default::default(),
    });
    let hosts = lintel_http::AllowedHosts::with_names(&args.web_host);
    let routes = lintel_city::density::web::app(web_state, hosts.clone(), access)
        .merge(lintel_city::console::web::app(console_web, hosts, console_access));
    let web =
        lintel_http::HttpServer::serve(args.web, routes).with_context(|| format!("cannot serve on {}", args.web))?;
    let (mqtt_store, consumer_store) = match args.nats {
        Some(_) => (None, consumer_store),
        None => (consumer_store, None),
    };
    let consumer = match (mqtt_store, &args.mqtt) {
        (Some(store), Some(mqtt)) => {
            let (host, port) =
                lintel_wire::split_host_port(mqtt).with_context(|| format!("--mqtt {mqtt:?}: expected HOST:PORT"))?;
            let mut config = ConsumerConfig::new(host, port, args.consumer_id.clone());
            config.share_group = args.share_group.clone();
            config.session_expiry_s = args.session_expiry_s;
            config.stale_after_s = args.common.stale_after_s;
            config.retention = retention;
            config.publish_cells = !args.no_cell_topics;
            config.losses = losses;
            config.console = console_feed;
            config.login = mqtt_login(&args)?;
            let ingest = Ingest::new(Arc::clone(&grid), store, Arc::clone(&metrics));
            Some(Consumer::start(config, ingest).context("cannot start the consumer")?)
        }
        _ => None,
    };
    let nats_consumer = match (consumer_store, &args.nats) {
        (Some(store), Some(nats)) => {
            let servers: Vec<String> =
                nats.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            anyhow::ensure!(!servers.is_empty(), "--nats {nats:?}: expected nats://HOST:PORT[,…]");
            let mut config = JetStreamConfig::new(servers);
            config.stream = args.nats_stream.clone();
            config.durable = args.nats_durable.clone();
            config.replicas = args.nats_replicas.max(1);
            config.ack_wait = Duration::from_secs(args.nats_ack_wait_s.max(1));
            config.keep = Duration::from_secs(args.nats_keep_hours.max(1) * 3600);
            config.retention = retention;
            config.metrics = Arc::clone(&nats_metrics);
            let ingest = Ingest::new(Arc::clone(&grid), store, Arc::clone(&metrics));
            Some(JetStreamConsumer::start(config, ingest).context("cannot start the NATS consumer")?)
        }
        _ => None,
    };
    // The first line a script may wait for.
    println!("density: http://{}/ ({} cells, {} buildings)", web.address(), grid.cells.len(), grid.buildings.len());

    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    ctrlc::set_handler(move || on_signal.store(true, Ordering::Relaxed)).context("cannot handle signals")?;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if args.run_for_s.is_some_and(|s| started.elapsed() >= Duration::from_secs(s)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(consumer);
    drop(nats_consumer);
    drop(web);
    Ok(ExitCode::SUCCESS)
}

fn basemap(args: &ServeArgs) -> anyhow::Result<Basemap> {
    let datum = || -> anyhow::Result<Datum> {
        let text = args.basemap_datum.as_deref().context("--basemap-datum: say which datum the tiles are in")?;
        Ok(Datum::parse(text)?)
    };
    Ok(match (&args.basemap, &args.basemap_url) {
        (Some(file), _) => Basemap::MbTiles(Box::new(MbTiles::open(file)?), datum()?),
        (None, Some(template)) => Basemap::url(template, datum()?)?,
        (None, None) => Basemap::None,
    })
}

fn render_map(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let grid = load_grid(&args.grid)?;
    let mut store = open_store(&args.store)?;
    let (states, at) = match &args.at {
        Some(text) => {
            let at = parse_time(text).map_err(|e| anyhow::anyhow!("--at: {e}"))?;
            (store.as_of(at.unix_seconds())?, at)
        }
        None => (store.latest()?, UtcTime::now()),
    };
    let language = match args.lang.as_deref() {
        Some(tag) => Language::from_tag(tag).ok_or_else(|| anyhow::anyhow!("--lang {tag:?}: use zh-CN or en"))?,
        None => std::env::var("LANG").ok().and_then(|tag| Language::from_tag(&tag)).unwrap_or(Language::English),
    };
    let snapshot = Snapshot::build(&grid, &states, at, args.stale_after_s);
    render::write(&grid, &snapshot, &args.out, language)?;
    println!("{}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let grid = load_grid(&args.grid)?;
    let mut store = open_store(&args.store)?;
    let now = UtcTime::now();
    let time = |text: &Option<String>, name: &str, default: i64| -> anyhow::Result<i64> {
        match text {
            Some(t) => Ok(parse_time(t).map_err(|e| anyhow::anyhow!("--{name}: {e}"))?.unix_seconds()),
            None => Ok(default),
        }
    };
    let from = time(&args.from, "from", now.unix_seconds() - 86_400)?;
    let to = time(&args.to, "to", now.unix_seconds())?;
    let options = NgsiOptions { threshold: args.common.ngsi_threshold, ..NgsiOptions::default() };
    let entities =
        lintel_city::density::ngsi::export(&grid, &mut store, from, to, now, args.common.stale_after_s, &options)?;
    let text = serde_json::to_string_pretty(&entities)?;
    std::fs::write(&args.out, text + "\n").with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{}: {} entities", args.out.display(), entities.len());
    Ok(ExitCode::SUCCESS)
}

/// `lintel-city.1`, rendered from the options.
fn manpages(dir: &Path) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let path = dir.join("lintel-city.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(CityArgs::command()).render(&mut page)?;
    std::fs::write(&path, page).with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_packaged_settings_file_is_valid() {
        use clap::{CommandFactory, Parser};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/lintel-city/lintel-city.toml");
        let (options, _) = lintel_settings::file::read(&path, &super::CityArgs::command(), "lintel-city").unwrap();
        let argv = std::iter::once("lintel-city".into()).chain(options);
        let args = super::CityArgs::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(args.serve.store, "sqlite:/var/lib/lintel-city/density.db");
    }

    #[test]
    fn a_store_password_from_a_credential_goes_into_the_url_percent_encoded() {
        assert_eq!(
            super::with_password("postgres://lintel@db:5432/density", "p@ss:w/rd é").as_deref(),
            Some("postgres://lintel:p%40ss%3Aw%2Frd%20%C3%A9@db:5432/density")
        );
        // A URL with a password already, no user, or not PostgreSQL: refused, not guessed.
        for url in ["postgres://lintel:old@db/density", "postgres://db/density", "sqlite:density.db"] {
            assert_eq!(super::with_password(url, "x"), None, "{url}");
        }
    }

    #[test]
    fn store_urls_are_shown_without_their_password() {
        assert_eq!(super::redact("postgres://lintel:s3cret@db:5432/density"), "postgres://lintel:…@db:5432/density");
        assert_eq!(super::redact("sqlite:density.db"), "sqlite:density.db");
    }
}
