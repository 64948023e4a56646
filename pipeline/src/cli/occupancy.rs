//! `lintel occupancy set`: sets a building's occupancy estimate on the running node, through a
//! retained MQTT command, signed with the operators' command key, that the node applies once
//! (also if it is offline now and connects later).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use lintel::publish::{BrokerConfig, OccupancySet, publish_once};
use lintel_calibration::site::Site;

#[derive(Args)]
pub struct OccupancyArgs {
    #[command(subcommand)]
    command: OccupancyCommand,
}

#[derive(Subcommand)]
enum OccupancyCommand {
    /// Set a building's occupancy to what a person counted now.
    Set(SetArgs),
}

#[derive(Args)]
struct SetArgs {
    /// Site file (TOML) of the node: gives the site id and the buildings.
    #[arg(long)]
    site: PathBuf,
    /// Building id from the site file.
    #[arg(long)]
    building: String,
    /// People inside the building now.
    #[arg(long)]
    value: u64,
    /// Environment variable holding the operators' command key, the one the node was started
    /// with (`lintel run --command-key-env`): the command is signed with it.
    #[arg(long, value_name = "VAR")]
    command_key_env: String,
    /// Who issues the command, for the node's audit trail (default: the user name in $USER).
    #[arg(long, value_name = "NAME")]
    issued_by: Option<String>,
    /// MQTT broker the node uses, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1883")]
    mqtt: String,
    /// Environment variable holding the MQTT user name.
    #[arg(long, value_name = "VAR")]
    mqtt_user_env: Option<String>,
    /// Environment variable holding the MQTT password (never on the command line).
    #[arg(long, value_name = "VAR")]
    mqtt_password_env: Option<String>,
    /// MQTT protocol version: 3.1.1 or 5.
    #[arg(long, value_name = "VERSION", default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    mqtt_version: String,
    /// TLS to the broker: the CA certificate (PEM) that signed the broker's certificate.
    #[arg(long, value_name = "FILE")]
    mqtt_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a broker that asks for one; needs --mqtt-key and --mqtt-ca.
    #[arg(long, value_name = "FILE", requires_all = ["mqtt_key", "mqtt_ca"])]
    mqtt_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "mqtt_cert")]
    mqtt_key: Option<PathBuf>,
}

pub fn run(args: OccupancyArgs) -> anyhow::Result<ExitCode> {
    let OccupancyCommand::Set(args) = args.command;
    let site = Site::load(&args.site)?;
    if site.building(&args.building).is_none() {
        let known: Vec<&str> = site.buildings.iter().map(|b| b.id.as_str()).collect();
        anyhow::bail!("{}: no building {:?} (buildings: {})", args.site.display(), args.building, known.join(", "));
    }
    let (host, port) = super::run::parse_broker(&args.mqtt)?;
    let key = super::run::command_key(Some(&args.command_key_env))?
        .with_context(|| format!("environment variable {} is not set", args.command_key_env))?;
    let issued_by = args.issued_by.or_else(|| std::env::var("USER").ok()).filter(|by| !by.is_empty());
    let set = OccupancySet { issued_by, ..OccupancySet::new(args.value) }.signed(&key, &site.id, &args.building);
    // What the node would refuse (an --issued-by too long, say) is refused here, before it is sent.
    OccupancySet::parse(&set.to_json()).map_err(|why| anyhow::anyhow!("the command would be refused: {why}"))?;
    let topic = OccupancySet::topic(&site.id, &args.building)?;
    // No spool for a one-shot command: the client id only has to differ from the node's.
    let mut broker = BrokerConfig::new(host, port, format!("lintel-{}-cli-{}", site.id, std::process::id()), "");
    broker.username = super::run::read_env(args.mqtt_user_env.as_deref())?;
    broker.password = super::run::read_env(args.mqtt_password_env.as_deref())?;
    broker.tls = super::run::tls_files(&args.mqtt_ca, &args.mqtt_cert, &args.mqtt_key);
    broker.version = super::run::mqtt_version(&args.mqtt_version);
    publish_once(&broker, &topic, set.to_json(), true, Duration::from_secs(10))
        .with_context(|| format!("cannot set the occupancy of building {}", args.building))?;
    eprintln!(
        "lintel occupancy: command {2} to set building {0} to {1} published, retained on {topic}; \
         the node applies it if it holds the same command key, and logs in its audit trail either way",
        args.building, set.occupancy, set.id
    );
    Ok(ExitCode::SUCCESS)
}
