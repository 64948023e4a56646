//! The node's pages in Simplified Chinese and English (`lintel_http::i18n`): the catalogues, one
//! part per page under `assets/i18n/` (`PAGE.en.json`, `PAGE.zh-CN.json`), and each page's HTML
//! rendered in the reader's language. The `said` part holds the texts the node sends the pages
//! as codes ([`Said`](crate::live::Said)): site-file and set-up errors, audit details.

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
    let parts = [part!("common"), part!("login"), part!("dashboard"), part!("calibrate"), part!("said")];
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

    /// Every catalogue key the node sends the pages as a code ([`crate::live::Said`]).
    fn codes_the_node_sends() -> Vec<String> {
        use crate::live::DETAIL_CODES;
        use crate::setup::lens_and_floor::FLOOR_CODES;
        use crate::setup::lens_estimation::NoLens;
        use crate::setup::{Refusal, SETUP_CODES};
        use lintel_calibration::site::Problem;
        let mut codes: Vec<String> = Problem::CODES.iter().map(|code| format!("site.{code}")).collect();
        for part in [&SETUP_CODES[..], &Refusal::CODES, &DETAIL_CODES, &FLOOR_CODES, &NoLens::CODES] {
            codes.extend(part.iter().map(|c| c.to_string()));
        }
        codes
    }

    #[test]
    fn the_catalogues_agree_and_every_text_a_page_uses_is_in_them() {
        let mut sources = vec![pages::LOGIN, pages::DASHBOARD, pages::CALIBRATE];
        sources.extend(pages::ASSETS.iter().map(|(_, _, body)| *body));
        let missing = CATALOGUES.missing_in(&sources);
        assert!(missing.is_empty(), "texts missing from pipeline/src/web/assets/i18n/: {missing:?}");
        // The texts the node sends as codes, which no page names literally.
        let keys: Vec<&str> = CATALOGUES.keys().collect();
        let codes = codes_the_node_sends();
        let missing: Vec<&String> = codes.iter().filter(|code| !keys.contains(&code.as_str())).collect();
        assert!(missing.is_empty(), "codes missing from assets/i18n/said.*.json: {missing:?}");
    }

    #[test]
    fn every_text_of_the_said_part_is_a_code_the_node_sends() {
        // A text left behind by a removed code is caught too.
        let said: std::collections::BTreeMap<String, String> =
            serde_json::from_str(include_str!("assets/i18n/said.en.json")).unwrap();
        let codes = codes_the_node_sends();
        let unused: Vec<&String> = said.keys().filter(|k| !codes.contains(k)).collect();
        assert!(unused.is_empty(), "texts no code names: {unused:?}");
    }

    #[test]
    fn a_refusal_names_every_value_its_text_shows() {
        use crate::setup::Refusal;
        // One of each: the text's placeholders must all be filled (a `{name}` left would show).
        let refusals = [
            Refusal::TooManyPoints { zone: "东门".into(), max: 64 },
            Refusal::LineTwoPoints { zone: "东门".into() },
            Refusal::EntrySide { zone: "东门".into(), side: "up".into() },
            Refusal::Kind { zone: "东门".into(), kind: "circle".into() },
            Refusal::Space { zone: "东门".into(), space: "sky".into() },
            Refusal::TooManyZones { max: 64 },
            Refusal::NoZone { camera: "cam-1".into(), zone: "东门".into() },
            Refusal::TooManyPassages { max: 100_000 },
            Refusal::NoValidation { camera: "cam-1".into() },
            Refusal::Board { message: "bad".into(), corners: "2x2".into(), square_mm: 25.0 },
            Refusal::CaptureSeconds { max: 120.0, seconds: 0.0 },
        ];
        assert_eq!(refusals.len(), Refusal::CODES.len());
        for refusal in refusals {
            let said = refusal.said();
            for language in Language::ALL {
                let mut text = CATALOGUES.text(language, &said.code).to_string();
                for (name, value) in &said.params {
                    text = text.replace(&format!("{{{name}}}"), value);
                }
                assert!(!text.contains('{') && text != said.code, "{language:?} {}: {text}", said.code);
            }
        }
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
