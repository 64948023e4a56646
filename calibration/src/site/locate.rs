//! Which field of the site file a byte offset falls in. The TOML parser reports where a syntax or
//! shape error is only as a span of the text; these name the field there (`zone[1].points[0]`),
//! so the error can say which one is wrong.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

/// The dotted path of the field at a byte offset of `text` (`zone[1].points[0]`):
/// the smallest key or value in the parsed document that holds it.
/// `None` when the text is not valid TOML.
pub(super) fn field_at(text: &str, offset: usize) -> Option<String> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut best = None;
    visit_table(document.get_ref(), "", offset, &mut best);
    best.map(|(_, path)| path)
}

/// For a syntax error, where no document tree exists: the last table
/// header before the offset (`zone[1]`), and the key if one starts the
/// offending line.
pub(super) fn section_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut section = String::new();
    let mut key = None;
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if line_start > offset {
            break;
        }
        line_start += line.len();
        key = None;
        let trimmed = line.trim();
        if let Some(name) = header_name(trimmed, "[[", "]]") {
            let index = counts.entry(name).or_insert(0);
            section = format!("{name}[{index}]");
            *index += 1;
        } else if let Some(name) = header_name(trimmed, "[", "]") {
            section = name.to_owned();
        } else if line_start > offset
            && trimmed.starts_with('[')
            && trimmed.trim_start_matches('[').starts_with(|c: char| c.is_ascii_alphabetic())
        {
            // The offending line is a table header that did not parse
            // (an array of values would start with a digit or a quote):
            // it belongs to no table yet.
            section.clear();
            key = Some("table header");
        } else if let Some((name, _)) = trimmed.split_once('=') {
            key = Some(name.trim()).filter(|k| is_bare_key(k));
        }
    }
    match key {
        Some(key) if !section.is_empty() => format!("{section}.{key}"),
        Some(key) => key.to_owned(),
        None => section,
    }
}

/// The name in a table header line such as `[[zone]]`, if it is one.
fn header_name<'t>(line: &'t str, open: &str, close: &str) -> Option<&'t str> {
    let (name, rest) = line.strip_prefix(open)?.split_once(close)?;
    let name = name.trim();
    let rest = rest.trim_start();
    (!name.is_empty() && name.split('.').all(|k| is_bare_key(k.trim())) && (rest.is_empty() || rest.starts_with('#')))
        .then_some(name)
}

/// Whether `key` is a bare TOML key (one that needs no quotes).
fn is_bare_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// The narrowest field found so far that holds the offset: its span's width and its dotted path.
type Candidate = Option<(usize, String)>;

/// Walks a table's keys and values (and theirs), keeping the narrowest that holds `offset`.
fn visit_table(table: &toml::de::DeTable<'_>, prefix: &str, offset: usize, best: &mut Candidate) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        consider(key.span(), &path, offset, best);
        visit_value(value, &path, offset, best);
    }
}

/// Walks a value and, for a table or an array, what it holds.
fn visit_value(value: &Spanned<toml::de::DeValue<'_>>, path: &str, offset: usize, best: &mut Candidate) {
    consider(value.span(), path, offset, best);
    match value.get_ref() {
        toml::de::DeValue::Table(table) => visit_table(table, path, offset, best),
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit_value(item, &format!("{path}[{i}]"), offset, best);
            }
        }
        _ => {}
    }
}

/// Keeps `path` if its span holds `offset` and is no wider than the best so
/// far (ties go to the later, deeper one).
fn consider(span: Range<usize>, path: &str, offset: usize, best: &mut Candidate) {
    let holds = span.contains(&offset) || span.start == offset;
    if holds && best.as_ref().is_none_or(|(width, _)| span.len() <= *width) {
        *best = Some((span.len(), path.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use crate::site::fixtures::{invalid, line_of, minimal_with};

    #[test]
    fn a_typo_in_a_key_is_caught() {
        let text = minimal_with("name = \"z\"", "nmae = \"z\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "nmae"), "zone[0].nmae"));
        assert!(message.starts_with("unknown field `nmae`"), "{message}");

        let text = minimal_with("[site]", "[sites]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (1, "sites"));
    }

    #[test]
    fn a_wrong_type_names_the_value() {
        let text = minimal_with("[1.0, 0.5]]", "[1.0, \"half\"]]");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "points"), "zone[0].points[1][1]"));
        assert!(message.starts_with("invalid type: string \"half\""), "{message}");

        let text = minimal_with("kind = \"line\"", "kind = \"circle\"");
        let (_, field, message, _) = invalid(&text);
        assert_eq!(field, "zone[0].kind");
        assert_eq!(message, "unknown variant `circle`, expected `line` or `polygon`");
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = minimal_with("url = \"rtsp://10.0.0.7:554/stream1\"", "url = \"rtsp://10.0.0.7:554/stream1");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "url ="), "camera[0].url"));

        let text = minimal_with("[[zone]]", "[[zone]");
        let (line, field, _, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "[[zone]"), "table header"));

        let text = minimal_with("id = \"c\"", "id = \"c\"\nid = \"d\"");
        let (line, field, message, _) = invalid(&text);
        assert_eq!((line, field.as_str()), (line_of(&text, "id = \"d\""), "camera[0].id"));
        assert_eq!(message, "duplicate key");
    }
}
