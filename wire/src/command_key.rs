//! [`CommandKey`]: the operator key that signs occupancy commands (HMAC-SHA256) and that a node
//! checks them with. The MAC covers the command's canonical content *and* the site and building
//! of its topic, so a signed command cannot be moved to another building's topic.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The fewest bytes a key may have: 16 bytes of randomness (32 hex characters from
/// `openssl rand -hex 32` give more) keep HMAC-SHA256 out of reach of guessing.
pub const MIN_KEY_BYTES: usize = 16;

/// A shared secret between the operators' tool and the node. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct CommandKey(Vec<u8>);

/// A key that is too short to protect anything.
#[derive(Debug, thiserror::Error)]
#[error("the command key has {0} bytes; at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)")]
pub struct WeakCommandKey(pub usize);

impl CommandKey {
    /// A key from its bytes (the value of the environment variable `--command-key-env` names).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, WeakCommandKey> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(WeakCommandKey(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// The MAC of `fields`, lowercase hex.
    pub(crate) fn sign(&self, fields: &[&str]) -> String {
        let mac = self.mac(fields).finalize().into_bytes();
        mac.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `mac_hex` is the MAC of `fields`, compared in constant time.
    pub(crate) fn verify(&self, fields: &[&str], mac_hex: &str) -> bool {
        match from_hex(mac_hex) {
            Some(mac) => self.mac(fields).verify_slice(&mac).is_ok(),
            None => false,
        }
    }

    /// Each field length-prefixed, so no two different field lists feed the same bytes.
    fn mac(&self, fields: &[&str]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        for field in fields {
            mac.update(format!("{}:", field.len()).as_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }
}

impl fmt::Debug for CommandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommandKey(<redacted>)")
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_verifies_only_for_the_same_key_and_fields() {
        let key = CommandKey::new("0123456789abcdef0123").unwrap();
        let other = CommandKey::new("0123456789abcdef0124").unwrap();
        let mac = key.sign(&["s1", "b7", "42"]);
        assert_eq!(mac.len(), 64);
        assert!(key.verify(&["s1", "b7", "42"], &mac));
        assert!(!other.verify(&["s1", "b7", "42"], &mac));
        assert!(!key.verify(&["s1", "b8", "42"], &mac));
        // Moving a boundary between fields changes the MAC.
        assert!(!key.verify(&["s1b", "7", "42"], &mac));
        assert!(!key.verify(&["s1", "b7", "42"], &mac[..62]));
        assert!(!key.verify(&["s1", "b7", "42"], "zz"));
    }

    #[test]
    fn a_short_key_is_refused_and_no_key_is_ever_shown() {
        assert!(CommandKey::new("short").unwrap_err().to_string().contains("at least 16"));
        let key = CommandKey::new("a-secret-of-enough-length").unwrap();
        assert!(!format!("{key:?}").contains("secret"));
    }
}
