//! `lintel run` with cameras that ask for a login: one asking for Digest is watched; a device at
//! another camera's address that asks for Basic only (a fake camera after an ARP or DHCP spoof)
//! gets no password, the camera fails with one line saying Basic was refused; and the same Basic
//! server does get the login for a camera whose site entry says `auth = "basic"`.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Broker, RtspCamera, Subscriber, pets_site, scratch_dir};
use serde_json::Value;

const USER: &str = "viewer";
const PASSWORD: &str = "camera-secret-7731";

#[test]
fn a_camera_asking_for_basic_gets_no_password_and_fails_in_one_line() {
    let dir = scratch_dir("camera-auth");
    let broker = Broker::start(&dir);
    let digest = RtspCamera::with_login_auth("/walkway", USER, PASSWORD, "digest");
    let basic = RtspCamera::with_login_auth("/fake", USER, PASSWORD, "basic");
    let login = "username_env = \"LINTEL_TEST_CAM_USER\"\npassword_env = \"LINTEL_TEST_CAM_PASSWORD\"";
    let site = pets_site(&dir, &digest.url);
    let text = std::fs::read_to_string(&site)
        .unwrap()
        .replace(&format!("url = \"{}\"", digest.url), &format!("url = \"{}\"\nanalysis_fps = 2\n{login}", digest.url));
    let more = |id: &str, extra: &str| {
        format!(
            "\n[[camera]]\nid = \"{id}\"\nentrance = \"walkway\"\nurl = \"{}\"\nanalysis_fps = 2\n{login}\n{extra}\n\
             [[zone]]\ncamera = \"{id}\"\nname = \"{id}-line\"\nkind = \"line\"\npoints = [[0.0, 0.5], [1.0, 0.5]]\n",
            basic.url
        )
    };
    let text = format!("{text}{}{}", more("fake", ""), more("legacy", "auth = \"basic\""));
    std::fs::write(&site, text).unwrap();
    let status = Subscriber::start(broker.port, "lintel/v1/pets/node/+/status");

    let output = common::lintel_run(&site, &dir, broker.port, 20)
        .env("LINTEL_TEST_CAM_USER", USER)
        .env("LINTEL_TEST_CAM_PASSWORD", PASSWORD)
        .env("LINTEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    std::thread::sleep(Duration::from_secs(1));

    assert!(!stderr.contains(PASSWORD), "a password leaked: {stderr}");
    let refused: Vec<&str> = stderr.lines().filter(|l| l.contains("asked for Basic authentication")).collect();
    assert!(!refused.is_empty(), "{stderr}");
    assert!(refused.iter().all(|l| l.contains("fake") && l.contains("password was not sent")), "{refused:?}");
    assert!(!refused.iter().any(|l| l.contains("legacy")), "{refused:?}");

    // Seen in the node status: Digest and allowed Basic are live, the fake camera never was.
    let messages: Vec<(String, Value)> = status.drain();
    let states = |id: &str| -> Vec<String> {
        messages
            .iter()
            .filter_map(|(_, m)| m["cameras"].as_array())
            .flat_map(|cameras| cameras.iter().filter(|c| c["id"] == id).map(|c| c["state"].to_string()))
            .collect()
    };
    assert!(states("walkway").iter().any(|s| s.contains("live")), "{:?}", states("walkway"));
    assert!(states("legacy").iter().any(|s| s.contains("live")), "{:?}", states("legacy"));
    let fake = states("fake");
    assert!(!fake.is_empty() && !fake.iter().any(|s| s.contains("live")), "{fake:?}");
    assert!(fake.iter().any(|s| s.contains("failed")), "{fake:?}");
}
