//! URIs as they may appear in logs and errors: never with a password.

use std::path::Path;

/// Removes the user-info part (`user:password@`) of a URI so it can be logged.
///
/// ```
/// assert_eq!(lintel::ingest::redact_uri("rtsp://admin:s3cret@10.0.0.7/live"), "rtsp://***@10.0.0.7/live");
/// assert_eq!(lintel::ingest::redact_uri("file:///tmp/a.avi"), "file:///tmp/a.avi");
/// ```
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &uri[..scheme_end + 3], &rest[at..]),
        None => uri.to_string(),
    }
}

/// Turns a path or URI given by a user into a URI GStreamer understands.
pub(crate) fn to_uri(input: &str) -> Result<String, String> {
    if input.contains("://") {
        return Ok(input.to_string());
    }
    let path = Path::new(input);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot resolve {input}: {e}"))?
            .join(path)
    };
    let mut uri = String::from("file://");
    for byte in absolute.to_string_lossy().bytes() {
        // Percent-encode everything that is not safe in a path segment.
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_and_password() {
        assert_eq!(redact_uri("rtsp://u:p@h:554/x@y"), "rtsp://***@h:554/x@y");
        assert_eq!(redact_uri("rtsp://h/x"), "rtsp://h/x");
        assert_eq!(redact_uri("not a uri"), "not a uri");
    }

    #[test]
    fn paths_become_file_uris() {
        assert_eq!(to_uri("/a b/c.avi").unwrap(), "file:///a%20b/c.avi");
        assert_eq!(to_uri("rtsp://h/x").unwrap(), "rtsp://h/x");
    }
}
