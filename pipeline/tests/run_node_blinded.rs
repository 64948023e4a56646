//! A camera whose picture stays uniform (here a black clip made by GStreamer, as a covered lens
//! looks) raises `camera_blinded` over a real mosquitto; the camera on the real clip beside it
//! does not.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Broker, Subscriber, scratch_dir, video};

#[test]
fn a_covered_camera_raises_camera_blinded_and_a_normal_one_does_not() {
    let dir = scratch_dir("run-blinded");
    let black = dir.join("black.avi");
    let made = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "pattern=black", "num-buffers=750", "!"])
        .args(["video/x-raw,width=320,height=240,framerate=25/1", "!", "avenc_mpeg4", "!", "avimux", "!"])
        .arg("filesink")
        .arg(format!("location={}", black.display()))
        .status()
        .expect("gst-launch-1.0 is not installed: run scripts/setup");
    assert!(made.success(), "could not make the black clip");

    let site = dir.join("site.toml");
    std::fs::write(
        &site,
        format!(
            r#"[site]
id = "pets"
node = "edge-01"

[[building]]
id = "hall"

[[entrance]]
id = "walkway"
building = "hall"

[[camera]]
id = "walkway"
entrance = "walkway"
url = "file://{clip}"

[[camera]]
id = "covered"
entrance = "walkway"
url = "file://{black}"

[[zone]]
camera = "walkway"
name = "line"
kind = "line"
points = [[0.0, 0.52], [1.0, 0.52]]

[[zone]]
camera = "covered"
name = "line"
kind = "line"
points = [[0.0, 0.52], [1.0, 0.52]]
"#,
            clip = video().display(),
            black = black.display()
        ),
    )
    .unwrap();

    let broker = Broker::start(&dir);
    let subscriber = Subscriber::start(broker.port, "lintel/v1/pets/alerts");
    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["run", "--site"])
        .arg(&site)
        .args(["--mqtt", &format!("127.0.0.1:{}", broker.port), "--spool"])
        .arg(dir.join("spool"))
        .args(["--interval-s", "2", "--blinded-after-s", "3", "--run-for-s", "15"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    std::thread::sleep(Duration::from_secs(1));

    let alerts: Vec<serde_json::Value> = subscriber.drain().into_iter().map(|(_, m)| m).collect();
    let blinded: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["kind"] == "camera_blinded").collect();
    println!("{blinded:?}");
    assert_eq!(blinded.len(), 1, "one alert for the covered camera, none for the other: {alerts:?}");
    assert_eq!(blinded[0]["subject"], "covered");
    let message = blinded[0]["message"].as_str().unwrap();
    assert!(message.contains("camera covered") && !message.contains("file://"), "{message}");
}
