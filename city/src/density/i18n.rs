//! The density map's texts in Simplified Chinese and English (`lintel_http::i18n`): the
//! catalogues under `assets/i18n/` (`PART.en.json`, `PART.zh-CN.json`), the page rendered in the
//! reader's language, and the pictures' texts ([`super::render`]) from the same catalogues.

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

/// Every text of the density layer's page and pictures, in both languages.
pub static CATALOGUES: LazyLock<Arc<Catalogues>> = LazyLock::new(|| {
    let parts = [part!("map"), part!("render")];
    // Embedded at build time and checked by this module's tests: an error here is a build's.
    Arc::new(Catalogues::from_parts(&parts).unwrap_or_else(|e| panic!("the density catalogues: {e}")))
});

/// `template` (a page's HTML) in the language of the request with `headers`.
pub fn page(headers: &HeaderMap, template: &str) -> Html<String> {
    Html(CATALOGUES.render(Language::of_request(headers), template))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::density::web::{MAP_PAGE, MAP_SCRIPT};

    #[test]
    fn the_catalogues_agree_and_every_text_the_map_uses_is_in_them() {
        let missing = CATALOGUES.missing_in(&[MAP_PAGE, MAP_SCRIPT, include_str!("render.rs")]);
        assert!(missing.is_empty(), "texts missing from city/src/density/assets/i18n/: {missing:?}");
        // The check itself sees a key that is not there.
        assert_eq!(CATALOGUES.missing_in(&[r#"t("map.nowhere")"#]).len(), 1);
    }

    #[test]
    fn the_map_is_served_in_the_readers_language() {
        let mut headers = HeaderMap::new();
        headers.insert("accept-language", "zh-CN,zh;q=0.9,en;q=0.5".parse().unwrap());
        let Html(page) = page(&headers, MAP_PAGE);
        assert!(page.contains(r#"<html lang="zh-CN">"#) && page.contains("人口密度"), "{page}");
        assert!(!page.contains("{{"), "{page}");
        let Html(page) = super::page(&HeaderMap::new(), MAP_PAGE);
        assert!(page.contains(r#"<html lang="en">"#) && page.contains("People per hectare"), "{page}");
    }
}
