//! The publisher speaking MQTT 5 to a real mosquitto: the same guarantees as over 3.1.1 (in order,
//! nothing lost through a broker outage, a refused login is one clear line), commands received on
//! its subscriptions, and `lintel occupancy set --mqtt-version 5`.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Broker, Subscriber, free_port, scratch_dir, workspace};
use lintel::publish::{Alert, BrokerConfig, MqttVersion, NodeStatus, Publisher, SeqNo};

fn config(port: u16, name: &str, dir: &Path) -> BrokerConfig {
    let mut config =
        BrokerConfig::new("127.0.0.1", port, format!("lintel-v5-{name}"), dir.join(format!("spool-{name}")));
    config.version = MqttVersion::V5;
    config
}

fn will() -> NodeStatus {
    common::offline_will()
}

fn alert(n: u32) -> Alert {
    common::test_alert(format!("cam-{n}"))
}

fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn over_mqtt_5_a_broker_outage_loses_nothing_and_keeps_the_order() {
    let dir = scratch_dir("mqtt5-outage");
    let data = dir.join("broker-data");
    let port = free_port();
    let broker = Broker::start_with(&dir, port, &Broker::persistent_settings(&data));
    let subscriber = Subscriber::start_with(port, "lintel/v1/s1/alerts", &["-c", "-i", "lintel-v5-sub"]);
    let publisher = Publisher::start(config(port, "outage", &dir), will()).unwrap();

    let mut seqs: Vec<SeqNo> = vec![publisher.publish(alert(0)).unwrap()];
    assert!(publisher.flush(Duration::from_secs(20)), "{:?}", publisher.status());
    broker.stop();
    assert!(wait_until(|| !publisher.status().connected));
    seqs.extend((1..=10).map(|n| publisher.publish(alert(n)).unwrap()));
    assert!(
        wait_until(|| publisher.status().last_error.is_some_and(|e| e.contains("cannot reach MQTT broker"))),
        "{:?}",
        publisher.status()
    );
    assert_eq!(publisher.status().spooled, 10);

    let broker = Broker::start_with(&dir, port, &Broker::persistent_settings(&data));
    assert!(publisher.flush(Duration::from_secs(40)), "the spool did not drain: {:?}", publisher.status());
    // mosquitto_sub reconnects on its own schedule (about a second): wait for it, then a little
    // more to see that nothing comes twice.
    let mut arrived: Vec<SeqNo> = Vec::new();
    wait_until(|| {
        arrived.extend(subscriber.drain().iter().map(|(_, m)| m["seq"].as_u64().unwrap()));
        arrived.len() >= seqs.len()
    });
    std::thread::sleep(Duration::from_millis(500));
    arrived.extend(subscriber.drain().iter().map(|(_, m)| m["seq"].as_u64().unwrap()));
    assert_eq!(arrived, seqs, "all, in order, none twice");
    assert!(publisher.metrics().connects >= 2);
    drop(broker);
}

#[test]
fn over_mqtt_5_a_refused_login_is_one_clear_line_and_commands_arrive() {
    let dir = scratch_dir("mqtt5-login");
    let (user, right, wrong) = ("lintel-node", "v5-right-Horse", "v5-wrong-Zebra");
    let broker = Broker::start_with(&dir, free_port(), &Broker::password_settings(&dir, user, right));

    let mut refused = config(broker.port, "refused", &dir);
    refused.username = Some(user.into());
    refused.password = Some(wrong.into());
    let publisher = Publisher::start(refused, will()).unwrap();
    publisher.publish(alert(1)).unwrap();
    assert!(
        wait_until(|| publisher.status().last_error.is_some_and(|e| e.contains("refused the login"))),
        "{:?}",
        publisher.status()
    );
    let error = publisher.status().last_error.unwrap();
    println!("MQTT 5, wrong password: {error}");
    assert!(error.contains(user) && error.contains(&broker.port.to_string()), "{error}");
    assert!(!error.contains(wrong) && !error.contains(right) && !error.contains('\n'), "{error}");
    assert_eq!(publisher.status().spooled, 1);
    drop(publisher);

    // With the right password: the command topic of the node is subscribed, and what a person
    // publishes there reaches the node.
    let mut accepted = config(broker.port, "accepted", &dir);
    accepted.username = Some(user.into());
    accepted.password = Some(right.into());
    accepted.subscriptions = vec!["lintel/v1/s1/building/+/occupancy/set".into()];
    let publisher = Publisher::start(accepted, will()).unwrap();
    assert!(wait_until(|| publisher.status().connected), "{:?}", publisher.status());
    let topic = "lintel/v1/s1/building/b7/occupancy/set";
    let mut received = Vec::new();
    assert!(
        wait_until(|| {
            // The subscription goes out right after the connection: publish until it is there.
            let sent = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-u", user, "-P", right])
                .args(["-q", "1", "-t", topic, "-m", "{}"])
                .status()
                .unwrap();
            assert!(sent.success());
            received.extend(publisher.received());
            !received.is_empty()
        }),
        "no command received"
    );
    assert_eq!(received[0].topic, topic);
    assert_eq!(received[0].payload, b"{}");
}

#[test]
fn the_cli_sets_the_occupancy_over_mqtt_5() {
    let dir = scratch_dir("mqtt5-cli");
    let broker = Broker::start(&dir);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/pets/building/hall/occupancy/set");
    let output = common::with_command_key(
        Command::new(env!("CARGO_BIN_EXE_lintel"))
            .args(["occupancy", "set", "--site"])
            .arg(workspace("fixtures/pets.toml"))
            .args(["--building", "hall", "--value", "9", "--mqtt", &format!("127.0.0.1:{}", broker.port)])
            .args(["--mqtt-version", "5"]),
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::thread::sleep(Duration::from_millis(500));
    let commands = subscriber.drain();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].1["occupancy"], 9);
}
