//! A validation: a technician taps each passage in and out of one zone while Lintel counts, and
//! the two tallies are compared at the end. Each result is appended to the validation log beside
//! the site file (times and counts only, one JSON line each).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Refusal, SetupError};
use crate::publish::UtcTime;

/// The most passages a technician may report for one validation (a typo, or a script).
pub const MAX_TAPS: u64 = 100_000;

/// Entries and exits of one zone.
pub type Tally = (u64, u64);

/// A validation under way on one camera.
#[derive(Clone, Debug)]
struct Validation {
    zone: String,
    /// The zone's place among the camera's zones, and its tally when the validation started.
    index: usize,
    start_tally: Tally,
    started: SystemTime,
}

/// One finished validation, as kept in the validation log (times and counts only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ValidationResult {
    pub camera: String,
    pub zone: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: String,
    pub manual_in: u64,
    pub manual_out: u64,
    pub lintel_in: u64,
    pub lintel_out: u64,
    /// 1 − (|Δin| + |Δout|) ÷ (the technician's crossings): 1 is perfect agreement.
    pub agreement: f64,
}

/// How well Lintel's tally agrees with the technician's: 1 − (|Δin| + |Δout|) ÷ (the
/// technician's passages), at least 0. With no passage tapped, 1 if Lintel counted none too, else 0.
pub fn agreement(manual: Tally, lintel: Tally) -> f64 {
    let passages = manual.0 + manual.1;
    let differences = manual.0.abs_diff(lintel.0) + manual.1.abs_diff(lintel.1);
    if passages == 0 {
        if differences == 0 { 1.0 } else { 0.0 }
    } else {
        (1.0 - differences as f64 / passages as f64).max(0.0)
    }
}

/// What Lintel counted between `start` and `now`, two readings of one zone's tally. A tally
/// restarts when the zones are saved: a validation across a save counts from then.
fn counted_since(start: Tally, now: Tally) -> Tally {
    (now.0.checked_sub(start.0).unwrap_or(now.0), now.1.checked_sub(start.1).unwrap_or(now.1))
}

/// The validations under way, one per camera (site-file order).
#[derive(Debug, Default)]
pub struct Validations {
    under_way: Mutex<HashMap<usize, Validation>>,
}

impl Validations {
    /// Starts validating zone `zone`, at `index` among camera `camera`'s zones whose tallies are
    /// `tallies` now; replaces the camera's validation under way, if any.
    pub fn start(&self, camera: usize, zone: String, index: usize, tallies: &[Tally], now: SystemTime) {
        let start_tally = tallies.get(index).copied().unwrap_or((0, 0));
        let validation = Validation { zone, index, start_tally, started: now };
        self.under_way.lock().unwrap_or_else(|p| p.into_inner()).insert(camera, validation);
    }

    /// Ends camera `camera`'s validation (its id `camera_id`, its tallies now `tallies`) with the
    /// technician's `manual` tally, and compares the two.
    pub fn stop(
        &self,
        camera: usize,
        camera_id: &str,
        manual: Tally,
        tallies: &[Tally],
        now: SystemTime,
    ) -> Result<ValidationResult, SetupError> {
        if manual.0 > MAX_TAPS || manual.1 > MAX_TAPS {
            return Err(Refusal::TooManyPassages { max: MAX_TAPS }.into());
        }
        let validation = self.under_way.lock().unwrap_or_else(|p| p.into_inner()).remove(&camera);
        let Some(validation) = validation else {
            return Err(Refusal::NoValidation { camera: camera_id.to_string() }.into());
        };
        let now_tally = tallies.get(validation.index).copied().unwrap_or((0, 0));
        let lintel = counted_since(validation.start_tally, now_tally);
        let time = |t: SystemTime| UtcTime::from(t).to_string();
        Ok(ValidationResult {
            camera: camera_id.to_string(),
            zone: validation.zone,
            started: time(validation.started),
            ended: time(now),
            manual_in: manual.0,
            manual_out: manual.1,
            lintel_in: lintel.0,
            lintel_out: lintel.1,
            agreement: agreement(manual, lintel),
        })
    }
}

/// The validation log beside the site file: `<site>.validation.jsonl`, one result a line.
#[derive(Clone, Debug)]
pub struct ValidationLog {
    path: PathBuf,
}

impl ValidationLog {
    /// The log of the site file at `site_path`.
    pub fn beside(site_path: &Path) -> Self {
        let mut path = site_path.as_os_str().to_owned();
        path.push(".validation.jsonl");
        Self { path: PathBuf::from(path) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `result` and waits until it is on disk.
    pub fn append(&self, result: &ValidationResult) -> Result<(), SetupError> {
        let kept = |error: std::io::Error| SetupError::ValidationNotKept { path: self.path.clone(), error };
        let line = serde_json::to_string(result).map_err(|e| kept(e.into()))?;
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(kept)?;
        writeln!(file, "{line}").map_err(kept)?;
        file.sync_all().map_err(kept)
    }

    /// Camera `camera`'s last `most` results, newest first; none when the log is missing, and
    /// lines that are not results are passed over.
    pub fn recent(&self, camera: &str, most: usize) -> Vec<ValidationResult> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut results: Vec<ValidationResult> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<ValidationResult>(l).ok())
            .filter(|r| r.camera == camera)
            .collect();
        results.reverse();
        results.truncate(most);
        results
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn agreement_is_one_less_the_differences_over_the_passages_tapped() {
        assert_eq!(agreement((10, 10), (10, 10)), 1.0);
        assert_eq!(agreement((10, 10), (9, 12)), 1.0 - 3.0 / 20.0);
        // Counting more is as wrong as counting fewer.
        assert_eq!(agreement((8, 2), (10, 0)), agreement((8, 2), (6, 4)));
        // Never below zero, however far off.
        assert_eq!(agreement((1, 1), (50, 0)), 0.0);
        // Nobody passed: perfect if Lintel saw nobody too, else nothing.
        assert_eq!(agreement((0, 0), (0, 0)), 1.0);
        assert_eq!(agreement((0, 0), (0, 1)), 0.0);
    }

    #[test]
    fn a_validation_compares_what_lintel_counted_since_it_started() {
        let validations = Validations::default();
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // Camera 2's second zone had counted 5 in and 3 out before the technician started.
        validations.start(2, "door".into(), 1, &[(40, 40), (5, 3)], started);
        let ended = started + Duration::from_secs(90);
        let result = validations.stop(2, "cam-2", (4, 2), &[(41, 41), (9, 4)], ended).unwrap();
        assert_eq!((result.lintel_in, result.lintel_out), (4, 1));
        assert_eq!((result.manual_in, result.manual_out), (4, 2));
        assert_eq!(result.agreement, 1.0 - 1.0 / 6.0);
        assert_eq!((result.camera.as_str(), result.zone.as_str()), ("cam-2", "door"));
        assert_eq!(result.started, "2023-11-14T22:13:20Z");
        assert_eq!(result.ended, "2023-11-14T22:14:50Z");
        // It is over: stopping again is refused.
        let again = validations.stop(2, "cam-2", (4, 2), &[(41, 41), (9, 4)], ended);
        assert!(
            matches!(again, Err(SetupError::Refused(why)) if why.to_string() == "no validation under way on camera cam-2")
        );
    }

    #[test]
    fn a_validation_across_a_save_counts_from_the_save() {
        let validations = Validations::default();
        validations.start(0, "door".into(), 0, &[(30, 20)], SystemTime::now());
        // The zones were saved meanwhile: the tally restarted from zero.
        let result = validations.stop(0, "cam", (3, 2), &[(3, 1)], SystemTime::now()).unwrap();
        assert_eq!((result.lintel_in, result.lintel_out), (3, 1));
    }

    #[test]
    fn an_impossible_tally_is_refused_and_the_validation_goes_on() {
        let validations = Validations::default();
        validations.start(0, "door".into(), 0, &[], SystemTime::now());
        let refused = validations.stop(0, "cam", (MAX_TAPS + 1, 0), &[], SystemTime::now());
        assert!(
            matches!(refused, Err(SetupError::Refused(why)) if why.to_string().contains("more than 100000 passages"))
        );
        let result = validations.stop(0, "cam", (0, 0), &[], SystemTime::now()).unwrap();
        assert_eq!(result.agreement, 1.0);
    }

    #[test]
    fn the_log_keeps_each_result_and_gives_a_cameras_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = ValidationLog::beside(&dir.path().join("site.toml"));
        assert_eq!(log.path(), dir.path().join("site.toml.validation.jsonl"));
        assert!(log.recent("cam-1", 20).is_empty(), "no log yet");
        let result = |camera: &str, zone: &str| ValidationResult {
            camera: camera.into(),
            zone: zone.into(),
            started: "2024-01-01T10:00:00Z".into(),
            ended: "2024-01-01T10:05:00Z".into(),
            manual_in: 3,
            manual_out: 4,
            lintel_in: 3,
            lintel_out: 5,
            agreement: 1.0 - 1.0 / 7.0,
        };
        for zone in ["a", "b", "c"] {
            log.append(&result("cam-1", zone)).unwrap();
            log.append(&result("cam-2", zone)).unwrap();
        }
        // A torn line (a power cut mid-write) does not hide the rest.
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"{\"camera\":\"cam-1\",\n")
            .unwrap();
        log.append(&result("cam-1", "d")).unwrap();
        let zones = |results: Vec<ValidationResult>| results.into_iter().map(|r| r.zone).collect::<Vec<_>>();
        assert_eq!(zones(log.recent("cam-1", 20)), ["d", "c", "b", "a"]);
        assert_eq!(zones(log.recent("cam-1", 2)), ["d", "c"]);
        assert_eq!(log.recent("cam-2", 20)[0], result("cam-2", "c"));
    }

    #[test]
    fn a_log_that_cannot_be_written_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let log = ValidationLog::beside(&dir.path().join("missing").join("site.toml"));
        let result = Validations::default();
        result.start(0, "door".into(), 0, &[], SystemTime::now());
        let result = result.stop(0, "cam", (1, 1), &[], SystemTime::now()).unwrap();
        let Err(error @ SetupError::ValidationNotKept { .. }) = log.append(&result) else { panic!("written") };
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
