//! MQTT over TLS against a real mosquitto with a TLS listener, certificates made by `openssl` for
//! this test: the publisher delivers through it, a client certificate is sent when the broker asks
//! for one, and a CA that did not sign the broker's certificate is one clear error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Broker, Subscriber, free_port, scratch_dir, workspace};
use lintel::publish::{Alert, BrokerConfig, NodeStatus, Publisher, TlsFiles};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is not installed: run scripts/setup");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA `name`, and a certificate it signs for `subject_alt_name` (`IP:127.0.0.1`) with `usage`
/// (`serverAuth` or `clientAuth`): `<name>-ca.crt`, `<cert>.crt`, `<cert>.key`.
fn certificates(dir: &Path, ca: &str, cert: &str, subject_alt_name: &str, usage: &str) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca_key = format!("{ca}-ca.key");
    let ca_crt = format!("{ca}-ca.crt");
    if !dir.join(&ca_crt).exists() {
        let subject = format!("/CN=lintel test CA {ca}");
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", &ca_key, "-out", &ca_crt, "-days", "2", "-subj", &subject]);
        args.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
        openssl(dir, &args);
    }
    let (key, csr, crt, ext) =
        (format!("{cert}.key"), format!("{cert}.csr"), format!("{cert}.crt"), format!("{cert}.ext"));
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=lintel test"]);
    openssl(dir, &args);
    std::fs::write(
        dir.join(&ext),
        format!(
            "subjectAltName={subject_alt_name}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
    // mosquitto may read them as another user.
    for file in [&key, &crt, &ca_crt] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

struct Tls {
    dir: PathBuf,
    /// Server-authenticated listener, and one that also requires a client certificate.
    broker: Broker,
    port: u16,
    mutual_port: u16,
    plain_port: u16,
}

fn tls_broker(name: &str) -> Tls {
    let dir = scratch_dir(name);
    certificates(&dir, "good", "server", "IP:127.0.0.1", "serverAuth");
    certificates(&dir, "good", "client", "DNS:lintel-node", "clientAuth");
    certificates(&dir, "other", "unrelated", "IP:127.0.0.1", "serverAuth");
    let (plain_port, port, mutual_port) = (free_port(), free_port(), free_port());
    let d = dir.display();
    let settings = format!(
        "allow_anonymous true\n\
         listener {port} 127.0.0.1\ncafile {d}/good-ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
         listener {mutual_port} 127.0.0.1\ncafile {d}/good-ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
         require_certificate true\n"
    );
    let broker = Broker::start_with(&dir, plain_port, &settings);
    Tls { dir, broker, port, mutual_port, plain_port }
}

fn config(tls: &Tls, port: u16, name: &str, files: TlsFiles) -> BrokerConfig {
    let mut config =
        BrokerConfig::new("127.0.0.1", port, format!("lintel-tls-{name}"), tls.dir.join(format!("spool-{name}")));
    config.tls = Some(files);
    config
}

fn will() -> NodeStatus {
    common::offline_will()
}

fn alert(subject: &str) -> Alert {
    common::test_alert(subject)
}

#[test]
fn messages_go_through_tls_and_a_wrong_ca_is_one_clear_error() {
    let tls = tls_broker("mqtt-tls");
    // The subscriber reads on the plain listener of the same broker.
    let subscriber = Subscriber::start(tls.plain_port, "lintel/v1/s1/alerts");
    let good = TlsFiles { ca: tls.dir.join("good-ca.crt"), client: None };

    let publisher = Publisher::start(config(&tls, tls.port, "server", good.clone()), will()).unwrap();
    publisher.publish(alert("over-tls")).unwrap();
    assert!(publisher.flush(Duration::from_secs(20)), "not acknowledged over TLS: {:?}", publisher.status());
    drop(publisher);

    let mutual = TlsFiles {
        ca: tls.dir.join("good-ca.crt"),
        client: Some((tls.dir.join("client.crt"), tls.dir.join("client.key"))),
    };
    let publisher = Publisher::start(config(&tls, tls.mutual_port, "mutual", mutual), will()).unwrap();
    publisher.publish(alert("with-client-cert")).unwrap();
    assert!(
        publisher.flush(Duration::from_secs(20)),
        "not acknowledged with a client certificate: {:?}",
        publisher.status()
    );
    drop(publisher);

    let wrong = TlsFiles { ca: tls.dir.join("other-ca.crt"), client: None };
    let publisher = Publisher::start(config(&tls, tls.port, "wrong-ca", wrong), will()).unwrap();
    publisher.publish(alert("must-not-arrive")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        if let Some(error) = publisher.status().last_error {
            break error;
        }
        assert!(Instant::now() < deadline, "no error with the wrong CA");
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("wrong CA: {error}");
    assert!(error.starts_with(&format!("TLS with MQTT broker 127.0.0.1:{} failed", tls.port)), "{error}");
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(!error.contains('\n'));
    assert!(!publisher.status().connected);
    assert_eq!(publisher.status().spooled, 1, "kept for when the CA is fixed");
    drop(publisher);

    std::thread::sleep(Duration::from_millis(500));
    let subjects: Vec<String> =
        subscriber.drain().into_iter().map(|(_, m)| m["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(subjects, ["over-tls", "with-client-cert"]);
    drop(tls.broker);
}

fn occupancy_set(site: &Path, port: u16, tls: &[&str]) -> Output {
    common::with_command_key(
        Command::new(env!("CARGO_BIN_EXE_lintel"))
            .args(["occupancy", "set", "--site"])
            .arg(site)
            .args(["--building", "hall", "--value", "7", "--mqtt", &format!("127.0.0.1:{port}")])
            .args(tls),
    )
    .output()
    .unwrap()
}

#[test]
fn the_cli_sends_its_command_over_tls() {
    let tls = tls_broker("cli-tls");
    let subscriber = Subscriber::start(tls.plain_port, "lintel/v1/pets/building/hall/occupancy/set");
    let site = workspace("fixtures/pets.toml");
    let (ca, cert, key) = (tls.dir.join("good-ca.crt"), tls.dir.join("client.crt"), tls.dir.join("client.key"));
    let (ca, cert, key) = (ca.to_str().unwrap(), cert.to_str().unwrap(), key.to_str().unwrap());

    let sent = occupancy_set(&site, tls.mutual_port, &["--mqtt-ca", ca, "--mqtt-cert", cert, "--mqtt-key", key]);
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));

    let other = tls.dir.join("other-ca.crt");
    let refused = occupancy_set(&site, tls.port, &["--mqtt-ca", other.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TLS with MQTT broker") && stderr.contains("certificate"), "{stderr}");

    let not_pem = occupancy_set(&site, tls.port, &["--mqtt-ca", site.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&not_pem.stderr);
    assert!(!not_pem.status.success());
    assert!(stderr.contains("not a PEM CA certificate") && stderr.contains("pets.toml"), "{stderr}");

    std::thread::sleep(Duration::from_millis(500));
    let commands = subscriber.drain();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].1["occupancy"], 7);
}
