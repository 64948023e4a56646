//! `--motion-gate[=MAX_SKIP_S|off]`, the same on `lintel run` and `lintel count`: on by default
//! (2 s), `off` for a camera that must see the detector on every frame.

use std::time::Duration;

use lintel::infer::MotionGateConfig;

/// What the longest skip is when the flag names none.
pub const DEFAULT_MAX_SKIP_S: &str = "2";

/// The motion gate asked for on the command line: `None` when it is off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateFlag(pub Option<MotionGateConfig>);

/// Parses `off` or a number of seconds (the longest the detector may be skipped).
pub fn parse(value: &str) -> Result<GateFlag, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(GateFlag(None));
    }
    let seconds: f64 = value.parse().map_err(|_| format!("{value:?} is neither `off` nor a number of seconds"))?;
    let max_skip = Duration::try_from_secs_f64(seconds).map_err(|_| format!("{value} is not a number of seconds"))?;
    Ok(GateFlag(Some(MotionGateConfig { max_skip, ..MotionGateConfig::default() })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_turns_it_off_and_seconds_set_the_longest_skip() {
        assert_eq!(parse("off"), Ok(GateFlag(None)));
        assert_eq!(parse("OFF"), Ok(GateFlag(None)));
        let gate = parse("3.5").unwrap().0.unwrap();
        assert_eq!(gate.max_skip, Duration::from_millis(3500));
        assert_eq!(parse(DEFAULT_MAX_SKIP_S).unwrap().0.unwrap().max_skip, MotionGateConfig::default().max_skip);
        assert!(parse("-1").unwrap_err().contains("not a number of seconds"));
        assert!(parse("soon").unwrap_err().contains("neither `off`"));
    }
}
