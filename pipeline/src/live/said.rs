//! [`Said`]: a text the node shows a person, kept as the pages' catalogues say it (a key and the
//! values of its `{name}` placeholders), so a page renders it in its reader's language. The
//! English beside it (an error's `Display`, an audit entry's `detail`) stays for logs and scripts.

use std::collections::BTreeMap;
use std::fmt::Display;

use serde::{Deserialize, Serialize};

/// A catalogue key (`code`) and the values its text names (`params`), as the pages receive them:
/// `{"code": "setup.no_zone", "params": {"camera": "cam-1", "zone": "东门"}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    pub code: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

impl Said {
    /// The text `code` of the pages' catalogues, naming `params`.
    pub fn new(code: impl Into<String>, params: &[(&str, &dyn Display)]) -> Self {
        Self { code: code.into(), params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    /// This text as JSON (`{"code", "params"}`), for a store that keeps it as a string.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A text [`Said::to_json`] wrote; `None` for anything else (a row written before texts had
    /// codes).
    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json).ok().filter(|s: &Said| !s.code.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_goes_to_json_and_back() {
        let said = Said::new("setup.no_zone", &[("camera", &"cam-1"), ("zone", &"东门")]);
        assert_eq!(said.to_json(), r#"{"code":"setup.no_zone","params":{"camera":"cam-1","zone":"东门"}}"#);
        assert_eq!(Said::from_json(&said.to_json()), Some(said));
        assert_eq!(Said::from_json("people unblurred for 30 s"), None);
        assert_eq!(Said::from_json(""), None);
    }
}
