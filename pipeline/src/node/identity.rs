//! The node's own id when the site file names none: two boxes that both fell back on the same
//! default would knock each other off the broker and share `(node, seq)`, so consumers that
//! de-duplicate on it would discard real counts.

use std::path::Path;

use sha2::{Digest, Sha256};

/// Where systemd (and D-Bus before it) keep the machine's stable, unique id.
const MACHINE_ID_FILES: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// `edge-` and 12 hex digits, stable for this machine and site: derived from the machine id.
pub fn derived_node_id(site: &str) -> Result<(String, &'static str), String> {
    for path in MACHINE_ID_FILES {
        if let Ok(text) = std::fs::read_to_string(Path::new(path))
            && !text.trim().is_empty()
        {
            return Ok((node_id_from(text.trim(), site), path));
        }
    }
    Err(format!(
        "the site file names no node and this machine has no machine id ({}): give [site] node = \"…\", one per box",
        MACHINE_ID_FILES.join(", ")
    ))
}

/// The node id of machine `machine_id` on site `site`.
pub fn node_id_from(machine_id: &str, site: &str) -> String {
    let digest =
        Sha256::new().chain_update(machine_id.as_bytes()).chain_update([0]).chain_update(site.as_bytes()).finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("edge-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_machine_gets_its_own_stable_id() {
        let a = node_id_from("4c4c4544004a3010804cb3c04f4d4a31", "pets");
        assert_eq!(a, node_id_from("4c4c4544004a3010804cb3c04f4d4a31", "pets"), "stable");
        assert_ne!(a, node_id_from("9e1b6a5f0d7c4e2b8a3f6c1d2e4b5a69", "pets"), "unique per machine");
        assert_ne!(a, node_id_from("4c4c4544004a3010804cb3c04f4d4a31", "other"));
        assert!(a.starts_with("edge-") && a.len() == 17, "{a}");
        assert!(a[5..].chars().all(|c| c.is_ascii_hexdigit()));
    }
}
