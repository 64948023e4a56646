//! The node's pages in Simplified Chinese and English (`lintel_http::i18n`): the catalogues, one
//! part per page under `assets/i18n/` (`PAGE.en.json`, `PAGE.zh-CN.json`), and each page's HTML
//! rendered in the reader's language.

use std::sync::{Arc, LazyLock};

use axum::http::HeaderMap;
use axum::response::Html;
use lintel_http::i18n::{Catalogues, Language};

macro_rules! part {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("assets/i18n/", $name, ".en.json")),
            include_str!(concat!("assets/i18n/", $name, ".zh-CN.json")),
        )
    };
}

/// Every text of the node's pages, in both languages.
pub static CATALOGUES: LazyLock<Arc<Catalogues>> = LazyLock::new(|| {
    let parts = [part!("common"), part!("login"), part!("dashboard"), part!("calibrate")];
    // Embedded at build time and checked by this module's tests: an error here is a build's.
    Arc::new(Catalogues::from_parts(&parts).unwrap_or_else(|e| panic!("the node's catalogues: {e}")))
});

/// `template` (a page's HTML) in the language of the request with `headers`.
pub fn page(headers: &HeaderMap, template: &str) -> Html<String> {
    Html(CATALOGUES.render(Language::of_request(headers), template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::pages;

    #[test]
    fn the_catalogues_agree_and_every_text_a_page_uses_is_in_them() {
        let mut sources = vec![pages::LOGIN, pages::DASHBOARD, pages::CALIBRATE];
        sources.extend(pages::ASSETS.iter().map(|(_, _, body)| *body));
        let missing = CATALOGUES.missing_in(&sources);
        assert!(missing.is_empty(), "texts missing from pipeline/src/web/assets/i18n/: {missing:?}");
    }

    #[test]
    fn a_page_is_served_in_the_readers_language() {
        let mut headers = HeaderMap::new();
        headers.insert("accept-language", "zh-CN,zh;q=0.9".parse().unwrap());
        let Html(page) = page(&headers, pages::LOGIN);
        assert!(page.contains(r#"<html lang="zh-CN">"#) && page.contains("令牌"), "{page}");
        let Html(page) = super::page(&HeaderMap::new(), pages::LOGIN);
        assert!(page.contains(r#"<html lang="en">"#) && page.contains("Token"), "{page}");
    }
}
