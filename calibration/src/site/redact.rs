//! Masking credentials in URLs, so that a URL can be logged, shown or put in an error: the user
//! information (`rtsp://user:pass@host`) and the values of query parameters that carry secrets.

/// Replaces the user information of every URL in `text` (`rtsp://user:pass@host`), and the
/// values of query parameters that carry secrets (`?user=…&password=…`, tokens, keys), with
/// `***`, so the text can be logged or shown.
///
/// ```
/// use lintel_calibration::site::redact_urls;
/// assert_eq!(
///     redact_urls("rtsp://admin:hunter2@10.0.0.7:554/live"),
///     "rtsp://***@10.0.0.7:554/live"
/// );
/// assert_eq!(
///     redact_urls("rtsp://10.0.0.7/live?channel=1&user=admin&password=hunter2"),
///     "rtsp://10.0.0.7/live?channel=1&user=***&password=***"
/// );
/// ```
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(&redact_query_secrets(before));
        let authority_end = after
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                rest = &after[userinfo_end..];
            }
            None => rest = after,
        }
    }
    out.push_str(&redact_query_secrets(rest));
    out
}

/// Whether a URL query parameter named `name` carries a secret (or a user name, which is half of
/// one).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "user" | "username" | "login" | "u" | "p")
        || ["pass", "pwd", "token", "secret", "auth", "key", "sig", "credential"].iter().any(|s| name.contains(s))
}

/// Masks the values of secret query parameters (`?name=value` or `&name=value`) in `text`.
fn redact_query_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['?', '&', ';']) {
        let (before, after) = rest.split_at(start + 1);
        out.push_str(before);
        let name_end =
            after.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))).unwrap_or(after.len());
        let (name, tail) = after.split_at(name_end);
        out.push_str(name);
        match tail.strip_prefix('=') {
            Some(value) if is_secret_param(name) => {
                let value_end = value
                    .find(|c: char| matches!(c, '&' | '#' | ';' | '"' | '\'' | '`') || c.is_whitespace())
                    .unwrap_or(value.len());
                out.push_str("=***");
                rest = &value[value_end..];
            }
            _ => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Whether a URL's query names a secret parameter (see [`redact_urls`]).
pub(super) fn query_has_secret(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else { return false };
    let query = query.split('#').next().unwrap_or("");
    query.split(['&', ';']).any(|pair| pair.split_once('=').is_some_and(|(name, _)| is_secret_param(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_urls_hides_only_user_information() {
        assert_eq!(
            redact_urls("opening rtsp://u:p@cam:554/a@b and file:///x@y"),
            "opening rtsp://***@cam:554/a@b and file:///x@y"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(redact_urls("\"rtsp://u:p@h\""), "\"rtsp://***@h\"");
    }
}
