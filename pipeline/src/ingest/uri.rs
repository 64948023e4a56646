//! URIs as they may appear in logs and errors: never with a password.

use std::path::Path;

/// Removes the user-info part (`user:password@`) and secret query values (`?password=…`) of a
/// URI so it can be logged.
///
/// ```
/// assert_eq!(lintel::ingest::redact_uri("rtsp://admin:s3cret@10.0.0.7/live"), "rtsp://***@10.0.0.7/live");
/// assert_eq!(lintel::ingest::redact_uri("file:///tmp/a.avi"), "file:///tmp/a.avi");
/// ```
pub fn redact_uri(uri: &str) -> String {
    lintel_calibration::site::redact_urls(uri)
}

/// Splits `user:password@` off a URI: the URI without it, and the decoded user and password.
///
/// Credentials travel to rtspsrc as properties, never inside the location, so that no element,
/// log line or error message built from the location can leak them.
pub(crate) fn split_userinfo(uri: &str) -> (String, Option<(String, String)>) {
    let Some(scheme_end) = uri.find("://") else {
        return (uri.to_string(), None);
    };
    let rest = &uri[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (uri.to_string(), None);
    };
    let userinfo = &rest[..at];
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let stripped = format!("{}{}", &uri[..scheme_end + 3], &rest[at + 1..]);
    (stripped, Some((percent_decode(user), percent_decode(password))))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        std::env::current_dir().map_err(|e| format!("cannot resolve {input}: {e}"))?.join(path)
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
    fn userinfo_is_split_off_and_decoded() {
        let (uri, login) = split_userinfo("rtsp://admin:p%40ss:w@10.0.0.7:554/live@1");
        assert_eq!(uri, "rtsp://10.0.0.7:554/live@1");
        assert_eq!(login, Some(("admin".to_string(), "p@ss:w".to_string())));
        assert_eq!(split_userinfo("rtsp://10.0.0.7/live"), ("rtsp://10.0.0.7/live".to_string(), None));
    }

    #[test]
    fn paths_become_file_uris() {
        assert_eq!(to_uri("/a b/c.avi").unwrap(), "file:///a%20b/c.avi");
        assert_eq!(to_uri("rtsp://h/x").unwrap(), "rtsp://h/x");
    }
}
