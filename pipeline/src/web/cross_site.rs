//! Requests another site's page makes the browser send are refused when they would change
//! something.
//!
//! A browser sends the node's cookie with a form another site submits to it, so a cookie alone
//! does not say the node's own page asked. Every request but `GET` and `HEAD` must therefore carry
//! `Content-Type: application/json` (which another site's page cannot send without the browser
//! first asking the node, which never agrees), or an `Origin` naming the host and port the request
//! was sent to; otherwise 403 and nothing is done.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Middleware: 403 for a state-changing request neither JSON nor from the node's own origin.
pub async fn refuse_cross_site_writes(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) || own_page_sent(request.headers()) {
        return next.run(request).await;
    }
    tracing::debug!(method = %request.method(), path = request.uri().path(), "web: a cross-site write was refused");
    (StatusCode::FORBIDDEN, "send JSON (Content-Type: application/json), or from this node's own pages\n")
        .into_response()
}

/// Whether a write's headers show the node's own page (or a script) sent it.
fn own_page_sent(headers: &axum::http::HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    let json = text(header::CONTENT_TYPE)
        .and_then(|t| t.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    json || text(header::ORIGIN).zip(text(header::HOST)).is_some_and(|(origin, host)| same_origin(origin, host))
}

/// Whether `origin` (`scheme://host[:port]`, as browsers send it) names `host` (the `Host`
/// header). `null`, which a browser sends for a form of a page with no referrer, is no origin.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let with_port = |a: &str| {
        let a = a.trim().to_ascii_lowercase();
        // A port is after the last ':' outside an IPv6 literal's brackets.
        if a.rsplit_once(':').is_some_and(|(_, tail)| !tail.contains(']')) { a } else { format!("{a}{default_port}") }
    };
    !authority.is_empty() && !authority.contains('/') && with_port(authority) == with_port(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_the_same_only_with_the_same_host_and_port() {
        assert!(same_origin("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_origin("http://Node.Example", "node.example:80"));
        assert!(same_origin("http://[::1]:8080", "[::1]:8080"));
        assert!(same_origin("http://[::1]", "[::1]:80"));
        assert!(!same_origin("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8080"));
        assert!(!same_origin("null", "127.0.0.1:8080"));
        assert!(!same_origin("https://127.0.0.1:8080", "127.0.0.1"));
        assert!(!same_origin("http://127.0.0.1:8080/x", "127.0.0.1:8080"));
        assert!(!same_origin("file://", ""));
    }

    #[test]
    fn json_or_the_own_origin_passes_and_a_form_does_not() {
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut map = axum::http::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(name.clone(), value.parse().unwrap());
            }
            map
        };
        let host = (header::HOST, "127.0.0.1:8080");
        assert!(own_page_sent(&headers(&[host.clone(), (header::CONTENT_TYPE, "application/json")])));
        assert!(own_page_sent(&headers(&[host.clone(), (header::CONTENT_TYPE, "Application/JSON; charset=utf-8")])));
        assert!(own_page_sent(&headers(&[host.clone(), (header::ORIGIN, "http://127.0.0.1:8080")])));
        let form = (header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        assert!(!own_page_sent(&headers(&[host.clone(), form.clone()])));
        assert!(!own_page_sent(&headers(&[host.clone(), form.clone(), (header::ORIGIN, "http://evil.example")])));
        assert!(!own_page_sent(&headers(&[host.clone(), form, (header::ORIGIN, "null")])));
        assert!(!own_page_sent(&headers(&[host.clone(), (header::CONTENT_TYPE, "text/plain; application/json")])));
        assert!(!own_page_sent(&headers(&[host])));
    }
}
