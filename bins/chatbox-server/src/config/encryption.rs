//! The message encryption keys: the current one, and the previous one kept for reading.

use super::file::ChatboxSection;
use super::resolver::Resolver;
use crate::secret::{mask, placeholder_in};

/// The message encryption key and the previous one (read-only), each exactly 32 bytes.
pub(super) fn encryption_keys(
    r: &mut Resolver<'_>,
    c: &mut ChatboxSection,
) -> (Option<String>, Option<String>) {
    let mut keys = Vec::new();
    for (env_key, file_key, value) in [
        (
            "ENCRYPTION_KEY",
            "chatbox.encryption_key",
            c.encryption_key.take(),
        ),
        (
            "ENCRYPTION_KEY_PREVIOUS",
            "chatbox.encryption_key_previous",
            c.encryption_key_previous.take(),
        ),
    ] {
        let picked = r
            .pick(env_key, file_key, value)
            .filter(|(_, v)| !v.is_empty());
        if let Some((key, k)) = &picked {
            if k.len() != 32 {
                r.error(key, &mask(k), "must be exactly 32 bytes (AES-256)");
            } else if placeholder_in(k).is_some() {
                r.error(
                    key,
                    &mask(k),
                    "contains a placeholder marker; set a real key",
                );
            }
        }
        keys.push(picked.map(|(_, v)| v));
    }
    let previous = keys.pop().flatten();
    let current = keys.pop().flatten();
    if current.is_none() && previous.is_some() {
        r.error(
            "ENCRYPTION_KEY_PREVIOUS",
            "<set>",
            "needs ENCRYPTION_KEY too (the previous key is only for reading)",
        );
    }
    (current, previous)
}
