//! The pages' languages: which one a request gets (the choice a person made on a page, kept in
//! the `lintel_lang` cookie; else the browser's `Accept-Language`; else English), and each page
//! set's message catalogues, one JSON object of key → text per language.
//!
//! A page's HTML is a template: `{{key}}` is replaced by the text of the request's language
//! (HTML-escaped) and `{{lang}}` by the language's code, so the first paint is in the reader's
//! language. Its scripts import `/i18n/i18n.js` ([`I18N_JS`]), which loads the same catalogue
//! (`{code}.json` beside itself: `/i18n/{code}.json`, or under the prefix a page set nests
//! [`Catalogues::router`] in, e.g. `/console/i18n/`) for the texts they write, and formats times
//! in the site's time zone.
//! Texts take `{name}` placeholders, which both languages must use alike ([`Catalogues::new`]
//! refuses a pair that differs in keys or placeholders).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The cookie that keeps the language a person chose on a page.
pub const LANGUAGE_COOKIE: &str = "lintel_lang";

/// The script every page imports for its texts and times (served at `/i18n/i18n.js`).
pub const I18N_JS: &str = include_str!("../assets/i18n.js");

/// A language the pages are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    English,
    /// Simplified Chinese.
    Chinese,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::Chinese];

    /// The BCP 47 tag, as in `<html lang>` and the catalogue's address.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Chinese => "zh-CN",
        }
    }

    /// The language a BCP 47 tag asks for, if the pages have it: any Chinese is Simplified
    /// Chinese (the only Chinese they are written in, and closer to a Traditional reader than
    /// English), any English is English.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Language::Chinese),
            "en" => Some(Language::English),
            _ => None,
        }
    }

    /// The language of a request: the `lintel_lang` cookie when it names one, else the first of
    /// `Accept-Language` (by weight) that the pages have, else English.
    pub fn of_request(headers: &HeaderMap) -> Self {
        let chosen = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANGUAGE_COOKIE)
            .and_then(|(_, value)| Language::from_tag(value));
        chosen
            .or_else(|| headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(preferred))
            .unwrap_or(Language::English)
    }
}

/// The best language of an `Accept-Language` value the pages have (weights honoured, `q=0`
/// refused, at most 32 entries read).
fn preferred(accept: &str) -> Option<Language> {
    let mut best: Option<(f32, usize, Language)> = None;
    for (order, entry) in accept.split(',').take(32).enumerate() {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("");
        let weight =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        let Some(language) = Language::from_tag(tag) else { continue };
        if !(weight > 0.0 && weight <= 1.0) {
            continue;
        }
        // Highest weight wins; among equals, the first listed.
        if best.is_none_or(|(w, o, _)| weight > w || (weight == w && order < o)) {
            best = Some((weight, order, language));
        }
    }
    best.map(|(_, _, language)| language)
}

/// Why a pair of catalogues was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("catalogue {language}: not a JSON object of texts: {message}")]
    NotTexts { language: &'static str, message: String },
    #[error("catalogue {language}: key {key:?} is missing (it is in {other})")]
    Missing { language: &'static str, key: String, other: &'static str },
    #[error("key {key:?}: the placeholders differ between languages ({en} against {zh})")]
    Placeholders { key: String, en: String, zh: String },
    #[error("key {key:?} is in two catalogue parts ({first} and {second})")]
    Twice { key: String, first: &'static str, second: &'static str },
}

/// One page set's catalogues: the same keys, with the same placeholders, in every language.
#[derive(Debug)]
pub struct Catalogues {
    texts: BTreeMap<Language, BTreeMap<String, String>>,
    json: BTreeMap<Language, String>,
}

impl Catalogues {
    /// Catalogues made of parts (one per page, say): `(name, English JSON, Chinese JSON)`, each
    /// checked as [`new`](Self::new) does; a key may be in one part only.
    pub fn from_parts(parts: &[(&'static str, &str, &str)]) -> Result<Self, CatalogueError> {
        let mut merged: BTreeMap<Language, BTreeMap<String, String>> = BTreeMap::new();
        let mut owner: BTreeMap<String, &'static str> = BTreeMap::new();
        for (name, english, chinese) in parts {
            let part = Self::new(english, chinese)?;
            for key in part.keys() {
                if let Some(first) = owner.insert(key.to_string(), name) {
                    return Err(CatalogueError::Twice { key: key.to_string(), first, second: name });
                }
            }
            for (language, texts) in part.texts {
                merged.entry(language).or_default().extend(texts);
            }
        }
        let json = merged
            .iter()
            .map(|(language, texts)| (*language, serde_json::to_string(texts).unwrap_or_else(|_| "{}".into())))
            .collect();
        Ok(Self { texts: merged, json })
    }

    /// Catalogues from their JSON (`{"key": "text", …}`), checked against each other.
    pub fn new(english: &str, chinese: &str) -> Result<Self, CatalogueError> {
        let parse = |language: Language, json: &str| {
            serde_json::from_str::<BTreeMap<String, String>>(json)
                .map_err(|e| CatalogueError::NotTexts { language: language.code(), message: e.to_string() })
        };
        let (en, zh) = (parse(Language::English, english)?, parse(Language::Chinese, chinese)?);
        for (this, that, language, other) in [(&en, &zh, "zh-CN", "en"), (&zh, &en, "en", "zh-CN")] {
            if let Some(key) = this.keys().find(|k| !that.contains_key(*k)) {
                return Err(CatalogueError::Missing { language, key: key.clone(), other });
            }
        }
        for (key, text) in &en {
            let (p_en, p_zh) = (placeholders(text), placeholders(&zh[key]));
            if p_en != p_zh {
                return Err(CatalogueError::Placeholders {
                    key: key.clone(),
                    en: format!("{p_en:?}"),
                    zh: format!("{p_zh:?}"),
                });
            }
        }
        let json = [(Language::English, english.to_string()), (Language::Chinese, chinese.to_string())].into();
        Ok(Self { texts: [(Language::English, en), (Language::Chinese, zh)].into(), json })
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts[&Language::English].keys().map(String::as_str)
    }

    /// The text of `key` in `language` (the key itself when there is none: it shows, and the
    /// tests catch it).
    pub fn text<'a>(&'a self, language: Language, key: &'a str) -> &'a str {
        self.texts[&language].get(key).map_or(key, String::as_str)
    }

    /// `template` in `language`: each `{{key}}` replaced by its text, HTML-escaped, and
    /// `{{lang}}` by the language's code.
    pub fn render(&self, language: Language, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + template.len() / 4);
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return out;
            };
            let key = after[..end].trim();
            if key == "lang" {
                out.push_str(language.code());
            } else {
                escape_into(&mut out, self.text(language, key));
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Keys `sources` use that no catalogue has: `{{key}}` in templates, `t("key"` and
    /// `data-i18n="key"` in scripts and HTML.
    pub fn missing_in(&self, sources: &[&str]) -> BTreeSet<String> {
        used_keys(sources)
            .into_iter()
            .filter(|k| k != "lang" && !self.texts[&Language::English].contains_key(k))
            .collect()
    }

    /// `GET /i18n/{code}.json` (the catalogue) and `GET /i18n/i18n.js` (the pages' script).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().route("/i18n/{file}", get(asset)).with_state(self)
    }
}

async fn asset(State(catalogues): State<Arc<Catalogues>>, Path(file): Path<String>) -> Response {
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if file == "i18n.js" {
        return ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), cache], I18N_JS)
            .into_response();
    }
    let language = file.strip_suffix(".json").and_then(|code| Language::ALL.into_iter().find(|l| l.code() == code));
    match language {
        Some(language) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8")), cache],
            catalogues.json[&language].clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such catalogue\n").into_response(),
    }
}

/// The `{name}` placeholders of a text, sorted.
fn placeholders(text: &str) -> BTreeSet<&str> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if after[..end].chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && end > 0 => {
                found.insert(&after[..end]);
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    found
}

/// Keys named in `sources`: `{{key}}`, `t("key"` / `t('key'`, `data-i18n…="key"`.
fn used_keys(sources: &[&str]) -> BTreeSet<String> {
    let is_key = |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    let mut keys = BTreeSet::new();
    for source in sources {
        for piece in source.split("{{").skip(1) {
            if let Some(key) = piece.split_once("}}").map(|(k, _)| k.trim()).filter(|k| is_key(k)) {
                keys.insert(key.to_string());
            }
        }
        for (open, quote) in [("t(\"", '"'), ("t('", '\''), ("data-i18n=\"", '"'), ("data-i18n-title=\"", '"')] {
            for (at, _) in source.match_indices(open) {
                // `t(` must not end another name (`sort(`, `set(`).
                let before = source[..at].chars().next_back();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.') {
                    continue;
                }
                let piece = &source[at + open.len()..];
                if let Some(key) = piece.split(quote).next().filter(|k| is_key(k)) {
                    keys.insert(key.to_string());
                }
            }
        }
    }
    keys
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_language_is_the_choice_made_then_the_browsers_then_english() {
        use Language::*;
        assert_eq!(Language::of_request(&headers(&[])), English);
        assert_eq!(Language::of_request(&headers(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])), Chinese);
        assert_eq!(Language::of_request(&headers(&[("accept-language", "en-US,en;q=0.9,zh;q=0.8")])), English);
        assert_eq!(Language::of_request(&headers(&[("accept-language", "fr, zh-Hant;q=0.5, en;q=0.4")])), Chinese);
        assert_eq!(Language::of_request(&headers(&[("accept-language", "zh;q=0, en;q=0.1")])), English);
        assert_eq!(Language::of_request(&headers(&[("accept-language", "fr, de")])), English);
        let chose = headers(&[("accept-language", "zh-CN"), ("cookie", "a=b; lintel_lang=en; c=d")]);
        assert_eq!(Language::of_request(&chose), English);
        let hostile = headers(&[("accept-language", &"zh;q=nan,".repeat(5000)), ("cookie", "lintel_lang=xx")]);
        assert_eq!(Language::of_request(&hostile), English);
    }

    #[test]
    fn catalogues_must_have_the_same_keys_and_placeholders() {
        assert!(Catalogues::new(r#"{"a": "A {n}"}"#, r#"{"a": "甲 {n}"}"#).is_ok());
        let missing = Catalogues::new(r#"{"a": "A", "b": "B"}"#, r#"{"a": "甲"}"#).unwrap_err();
        assert_eq!(missing.to_string(), r#"catalogue zh-CN: key "b" is missing (it is in en)"#);
        let extra = Catalogues::new(r#"{"a": "A"}"#, r#"{"a": "甲", "c": "丙"}"#).unwrap_err();
        assert!(matches!(extra, CatalogueError::Missing { language: "en", .. }), "{extra}");
        let placeholders = Catalogues::new(r#"{"a": "{n} in"}"#, r#"{"a": "{m} 进"}"#).unwrap_err();
        assert!(matches!(placeholders, CatalogueError::Placeholders { .. }), "{placeholders}");
        assert!(Catalogues::new(r#"{"a": 1}"#, r#"{"a": "甲"}"#).is_err());
    }

    #[test]
    fn parts_make_one_catalogue_and_a_key_belongs_to_one_part() {
        let c = Catalogues::from_parts(&[
            ("a", r#"{"a": "A"}"#, r#"{"a": "甲"}"#),
            ("b", r#"{"b": "B"}"#, r#"{"b": "乙"}"#),
        ])
        .unwrap();
        assert_eq!(c.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(c.text(Language::Chinese, "b"), "乙");
        let twice = Catalogues::from_parts(&[
            ("a", r#"{"a": "A"}"#, r#"{"a": "甲"}"#),
            ("b", r#"{"a": "B"}"#, r#"{"a": "乙"}"#),
        ])
        .unwrap_err();
        assert_eq!(twice.to_string(), r#"key "a" is in two catalogue parts (a and b)"#);
    }

    #[test]
    fn a_template_is_rendered_in_the_language_escaped() {
        let c = Catalogues::new(r#"{"title": "Doors & <cams>"}"#, r#"{"title": "门与摄像头"}"#).unwrap();
        let page = r#"<html lang="{{lang}}"><h1>{{ title }}</h1>{{nope}} {{"#;
        assert_eq!(c.render(Language::English, page), r#"<html lang="en"><h1>Doors &amp; &lt;cams&gt;</h1>nope {{"#);
        assert_eq!(c.render(Language::Chinese, page), r#"<html lang="zh-CN"><h1>门与摄像头</h1>nope {{"#);
    }

    #[test]
    fn keys_used_by_pages_and_scripts_are_found() {
        let c = Catalogues::new(r#"{"a.b": "x"}"#, r#"{"a.b": "y"}"#).unwrap();
        let html = r#"<p>{{a.b}}</p><span data-i18n="c"></span><html lang="{{lang}}">"#;
        let js = r#"el.textContent = t("d", { n }); sort('x'); t('a.b');"#;
        assert_eq!(c.missing_in(&[html, js]), ["c".to_string(), "d".to_string()].into());
    }
}
