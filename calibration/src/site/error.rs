//! [`SiteError`], and [`Source`]: the text and path of the file being read, which turns a span of
//! the text into an error that names its line, and the TOML parser's errors into one line that
//! holds no secret.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::locate::{field_at, section_at};
use super::redact::redact_urls;

/// Why a site file could not be used. Displays as one line that names the
/// file, and the line and field where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The file could not be read.
    #[error("{}: cannot read site file: {error}", path.display())]
    Read {
        /// The site file.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is not valid TOML, does not have the expected shape, or
    /// fails validation.
    #[error("{}:{line}: {field}: {message}", path.display())]
    Invalid {
        /// The site file.
        path: PathBuf,
        /// 1-based line of the offending value.
        line: usize,
        /// Dotted path of the field, e.g. `zone[1].camera`.
        field: String,
        /// What is wrong, without any secret from the file.
        message: String,
        /// The same, for a page to say in its reader's language.
        problem: Problem,
    },
}

/// What is wrong with a field, as a page says it in its reader's language: a stable code (the
/// catalogue key `site.{code}` of the pages that show site errors) and the values its text names.
/// Checks a page cannot get wrong keep the code `invalid` (line and field only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub params: Vec<(&'static str, String)>,
}

impl Problem {
    /// Every code a [`Problem`] may have (the pages' catalogues must have each).
    pub const CODES: [&'static str; 22] = [
        "invalid",
        "empty",
        "duplicate_zone",
        "unknown_building",
        "unknown_entrance",
        "unknown_camera",
        "no_such_space",
        "floor_space_without_floor",
        "not_floor_position",
        "outside_picture",
        "outside_picture_lens",
        "line_points",
        "line_distinct",
        "polygon_entry_side",
        "polygon_points",
        "polygon_area",
        "min_distance_picture",
        "min_distance_floor",
        "lens",
        "floor_points",
        "floor_heights",
        "floor_shape",
    ];

    /// A problem with code `code` (one of [`Problem::CODES`]) naming `params`.
    pub fn new(code: &'static str, params: &[(&'static str, &dyn std::fmt::Display)]) -> Self {
        debug_assert!(Self::CODES.contains(&code), "site problem code {code} is not in Problem::CODES");
        Self { code, params: params.iter().map(|(k, v)| (*k, v.to_string())).collect() }
    }
}

/// The text being checked and where it came from, for error messages.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    /// An error on the line where `span` starts.
    pub(super) fn error(&self, span: &Range<usize>, field: impl Into<String>, message: String) -> SiteError {
        self.problem(span, field, message, Problem::new("invalid", &[]))
    }

    /// An error on the line where `span` starts, with the code a page says it by.
    pub(super) fn problem(
        &self,
        span: &Range<usize>,
        field: impl Into<String>,
        message: String,
        problem: Problem,
    ) -> SiteError {
        SiteError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            field: field.into(),
            message,
            problem,
        }
    }

    /// The 1-based line of a byte offset.
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        1 + self.text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count()
    }

    /// Turns a TOML syntax or shape error into one line. The TOML crate's
    /// display spans several lines and quotes the source line, which could
    /// hold a password; its message alone does neither.
    pub(super) fn toml_error(&self, error: &toml::de::Error) -> SiteError {
        let span = error.span().unwrap_or(0..0);
        let message = redact_urls(&error.message().replace('\n', "; "));
        let mut field = field_at(self.text, span.start).unwrap_or_else(|| section_at(self.text, span.start));
        // A missing field is reported on its table, so the name is only in
        // the message.
        if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            if field.is_empty() {
                field = missing.to_owned();
            } else if !field.ends_with(&format!(".{missing}")) {
                field = format!("{field}.{missing}");
            }
        }
        if field.is_empty() {
            field = "file".to_owned();
        }
        self.error(&span, field, message)
    }
}

#[cfg(test)]
mod tests {
    use crate::site::fixtures::{invalid, line_of, minimal_with};

    #[test]
    fn a_missing_key_names_its_table() {
        let text = minimal_with("name = \"z\"\n", "");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "[[zone]]"), "zone[0].name"));
        assert_eq!(message, "missing field `name`");

        let (line, field, message, _) = invalid("");
        assert_eq!((line, field.as_str(), message.as_str()), (1, "site", "missing field `site`"));
    }

    #[test]
    fn a_time_zone_must_be_one_the_iana_database_knows() {
        let site = crate::site::Site::parse(
            &minimal_with("id = \"s\"\n", "id = \"s\"\ntime_zone = \"Asia/Shanghai\"\n"),
            "m.toml",
        );
        assert_eq!(site.unwrap().time_zone.as_deref(), Some("Asia/Shanghai"));
        let text = minimal_with("id = \"s\"\n", "id = \"s\"\ntime_zone = \"Asia/Lishui\"\n");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "time_zone"), "site.time_zone"));
        assert!(message.contains("\"Asia/Lishui\" is not a time zone name"), "{message}");
    }

    #[test]
    fn shape_errors_do_not_echo_credentials_either() {
        let text = minimal_with("url =", "analysis_fps = \"rtsp://admin:hunter2@cam/\"\nurl =");
        let (_, field, _, display) = invalid(&text);
        assert_eq!(field, "camera[0].analysis_fps");
        assert!(!display.contains("hunter2"), "{display}");
    }
}
