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
    },
}

/// The text being checked and where it came from, for error messages.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Source<'_> {
    /// An error on the line where `span` starts.
    pub(super) fn error(&self, span: &Range<usize>, field: impl Into<String>, message: String) -> SiteError {
        SiteError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            field: field.into(),
            message,
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
