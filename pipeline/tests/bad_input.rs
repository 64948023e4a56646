//! Bad input gets one clear line on stderr that says what and where, and a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lintel-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `lintel count` and returns its one-line error.
fn count_error(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lintel")).arg("count").args(args).output().expect("run lintel");
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    assert!(!output.status.success(), "lintel count {args:?} should fail; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected, got:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

const LINE: &str = "--line=door=0,300,768,300";

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_missing_video() {
    let error = count_error(&[LINE, "/nonexistent/clip.avi"]);
    assert!(error.contains("/nonexistent/clip.avi") && error.contains("cannot open"), "{error}");
}

#[test]
fn an_unreadable_video() {
    // A directory where a file should be: unreadable as a video, even for root.
    let dir = scratch("a-directory.avi");
    std::fs::create_dir_all(&dir).unwrap();
    let error = count_error(&[LINE, path_arg(&dir)]);
    assert!(error.contains("a-directory.avi"), "{error}");
}

#[test]
fn a_file_that_is_not_a_video() {
    let file = scratch("notes.avi");
    std::fs::write(&file, "these are meeting notes, not a video\n".repeat(100)).unwrap();
    let error = count_error(&[LINE, path_arg(&file)]);
    assert!(error.contains("notes.avi") && error.contains("not a video"), "{error}");
}

#[test]
fn a_truncated_video_reports_the_counts_made_and_fails() {
    let video = std::fs::read(workspace("fixtures/video/vtest.avi")).expect("run scripts/setup for vtest.avi");
    let file = scratch("cut.avi");
    std::fs::write(&file, &video[..video.len() / 5]).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["count", "--json", LINE, path_arg(&file)])
        .output()
        .expect("run lintel");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a truncated file must fail");
    assert!(stderr.contains("cut.avi") && stderr.contains("truncated"), "{stderr}");
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the counts made are printed");
    assert_eq!(counts["complete"], false);
    assert!(counts["frames"].as_u64().unwrap() > 50, "{counts}");
}

#[test]
fn a_missing_model() {
    let manifest = scratch("models-missing.toml");
    std::fs::write(
        &manifest,
        "[[model]]\nname = \"gone\"\nfile = \"gone.onnx\"\nformat = \"ssd-tf\"\ninput_name = \"image_tensor:0\"\n\
         input_layout = \"nhwc\"\ninput_dtype = \"uint8\"\ninput_width = 300\ninput_height = 300\nperson_class = 1\n",
    )
    .unwrap();
    let error = count_error(&[LINE, "--models", path_arg(&manifest), "/nonexistent.avi"]);
    assert!(error.contains("gone.onnx") && error.contains("not found"), "{error}");
}

#[test]
fn a_model_that_does_not_match_the_manifest() {
    let manifest = scratch("models-mismatch.toml");
    let model = workspace("models/test/wrong-input.onnx");
    assert!(model.exists(), "run python3 scripts/models/make_test_models.py");
    std::fs::write(
        &manifest,
        format!(
            "[[model]]\nname = \"m\"\nfile = \"{}\"\nformat = \"yolov8\"\ninput_name = \"images\"\n\
             input_layout = \"nchw\"\ninput_dtype = \"float32\"\ninput_width = 640\ninput_height = 640\n",
            model.display()
        ),
    )
    .unwrap();
    let error = count_error(&[LINE, "--models", path_arg(&manifest), "/nonexistent.avi"]);
    assert!(error.contains("wrong-input.onnx") && error.contains("does not match"), "{error}");
}

#[test]
fn a_malformed_model_manifest() {
    let manifest = scratch("models-bad.toml");
    std::fs::write(&manifest, "[[model]]\nname = \"m\"\nformat = \"yolo99\"\n").unwrap();
    let error = count_error(&[LINE, "--models", path_arg(&manifest), "/nonexistent.avi"]);
    assert!(error.contains("models-bad.toml:3"), "{error}");
}

fn site_with(replace: &str, with: &str) -> PathBuf {
    let text = std::fs::read_to_string(workspace("fixtures/pets.toml")).unwrap();
    assert!(text.contains(replace));
    let file = scratch(&format!("site-{}.toml", with.len()));
    std::fs::write(&file, text.replacen(replace, with, 1)).unwrap();
    file
}

fn line_of(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    text[..text.find(needle).unwrap()].matches('\n').count() + 1
}

#[test]
fn a_malformed_site_file() {
    let site = site_with("capacity = 300", "capacity = \"lots\"");
    let error = count_error(&["--site", path_arg(&site), "/nonexistent.avi"]);
    let expected = format!("{}:{}:", site.display(), line_of(&site, "capacity"));
    assert!(error.contains(&expected) && error.contains("capacity"), "{error} (expected {expected})");
}

#[test]
fn a_zone_that_names_an_unknown_camera() {
    let site = site_with("camera = \"walkway\"\nname = \"v400\"", "camera = \"gate\"\nname = \"v400\"");
    let error = count_error(&["--site", path_arg(&site), "/nonexistent.avi"]);
    let expected = format!("{}:{}:", site.display(), line_of(&site, "\"gate\""));
    assert!(error.contains(&expected) && error.contains("unknown camera \"gate\""), "{error} (expected {expected})");
}

#[test]
fn a_malformed_ad_hoc_line() {
    let error = count_error(&["--line", "door=1,2,3", "/nonexistent.avi"]);
    assert!(error.contains("door=1,2,3") && error.contains("NAME=X1,Y1,X2,Y2"), "{error}");
}

#[test]
fn an_unknown_camera_on_the_command_line() {
    let error = count_error(&["--site", path_arg(&workspace("fixtures/pets.toml")), "--camera", "lobby"]);
    assert!(error.contains("pets.toml") && error.contains("lobby") && error.contains("walkway"), "{error}");
}
