//! A downgraded node meets the state a newer Lintel left: `lintel run` refuses, with one line
//! naming the path and both format versions, before it writes anything, and every file of the
//! spool directory (messages, `last_seq`, state, history) is left byte for byte as it was.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Broker, lintel_run, scratch_dir, workspace};

/// Every file under `dir` with its contents (the lock file aside: taking a lock writes nothing).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "lock" && e.file_name() != "state.lock")
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// A node that ran leaves a spool, a state file and a history; one part is then marked as
/// written by format 9, and the node (this, older, one) is started again on them.
fn refused_after(dir: &Path, mark_newer: impl FnOnce(&Path)) -> String {
    let broker = Broker::start(dir);
    let site = workspace("fixtures/pets.toml");
    let first = lintel_run(&site, dir, broker.port, 4).args(["--web", "127.0.0.1:0"]).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let spool = dir.join("spool");
    assert!(spool.join("state.json").is_file() && spool.join("history.sqlite").is_file());
    mark_newer(&spool);
    let before = snapshot(&spool);
    let started = std::time::Instant::now();
    let again = lintel_run(&site, dir, broker.port, 20).args(["--web", "127.0.0.1:0"]).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "it ran instead of refusing");
    let stderr = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(!again.status.success(), "an older node accepted a newer format: {stderr}");
    let after = snapshot(&spool);
    let changed: Vec<_> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    assert!(changed.is_empty(), "the refused node changed {changed:?}");
    let line = stderr.lines().find(|l| l.contains("newer Lintel")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("lintel: ") && line.contains("format 9") && line.contains("format 1 at most"), "{line}");
    line.to_string()
}

#[test]
fn a_newer_spool_is_refused_untouched() {
    let dir = scratch_dir("downgrade-spool");
    let line = refused_after(&dir, |spool| std::fs::write(spool.join("format"), "9\n").unwrap());
    assert!(line.contains("spool/format: format 9"), "{line}");
    // The preflight the unit runs first says so too, and fails.
    let site = workspace("fixtures/pets.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_lintel"))
        .args(["check", "--no-network", "--site"])
        .arg(&site)
        .arg("--spool")
        .arg(dir.join("spool"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let formats =
        text.lines().find(|l| l.split_whitespace().nth(1) == Some("formats")).unwrap_or_else(|| panic!("{text}"));
    assert!(formats.starts_with("FAIL") && formats.contains("format 9"), "{formats}");
}

#[test]
fn a_newer_state_file_is_refused_untouched() {
    let dir = scratch_dir("downgrade-state");
    let line = refused_after(&dir, |spool| {
        let path = spool.join("state.json");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\":1"), "{text}");
        std::fs::write(&path, text.replace("\"format\":1", "\"format\":9")).unwrap();
    });
    assert!(line.contains("state.json: format 9"), "{line}");
}

#[test]
fn a_newer_history_is_refused_untouched() {
    let dir = scratch_dir("downgrade-history");
    let line = refused_after(&dir, |spool| {
        let db = rusqlite::Connection::open(spool.join("history.sqlite")).unwrap();
        db.pragma_update(None, "user_version", 9).unwrap();
        db.pragma_update(None, "wal_checkpoint", "TRUNCATE").unwrap();
    });
    assert!(line.contains("history.sqlite: format 9"), "{line}");
}
