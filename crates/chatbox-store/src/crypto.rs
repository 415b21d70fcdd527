//! Encryption of message content at rest, byte-compatible with the Go service (CONTRACT §7):
//! AES-256-GCM, a fresh random 12-byte nonce per value, no associated data, stored as standard
//! base64 of `nonce ‖ ciphertext ‖ tag(16)`.
//!
//! Guarantees: a key that is not exactly 32 bytes is refused when the [`Cipher`] is built, never
//! later. Reading tries the current key, then the previous one (key rotation); a value that
//! decrypts with neither (legacy plaintext, a tampered value, a foreign key) is returned exactly as
//! stored, as the Go service did. Neither keys nor contents are ever logged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chatbox_core::StoreError;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::Error;

/// The key length AES-256 needs, in bytes.
pub const KEY_LEN: usize = 32;
/// The GCM tag length, in bytes.
const TAG_LEN: usize = 16;

/// Encrypts and decrypts message content. Cheap to clone; without a key it passes text through.
#[derive(Clone)]
pub struct Cipher {
    current: Option<std::sync::Arc<LessSafeKey>>,
    previous: Option<std::sync::Arc<LessSafeKey>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Cipher")
            .field("encrypting", &self.current.is_some())
            .field("has_previous_key", &self.previous.is_some())
            .finish()
    }
}

fn make_key(which: &'static str, raw: &[u8]) -> Result<LessSafeKey, Error> {
    if raw.len() != KEY_LEN {
        return Err(Error::KeyLength {
            which,
            len: raw.len(),
        });
    }
    let unbound = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| Error::KeyLength {
        which,
        len: raw.len(),
    })?;
    Ok(LessSafeKey::new(unbound))
}

impl Cipher {
    /// A cipher that encrypts with `key` and decrypts with `key`, then `previous`. Each key is
    /// the raw bytes of the configured string (as the Go service used them) and must be exactly
    /// 32 bytes. `key = None` stores plaintext (while still reading values encrypted with
    /// `previous`).
    pub fn new(key: Option<&[u8]>, previous: Option<&[u8]>) -> Result<Self, Error> {
        Ok(Self {
            current: key
                .map(|k| make_key("encryption key", k))
                .transpose()?
                .map(std::sync::Arc::new),
            previous: previous
                .map(|k| make_key("previous encryption key", k))
                .transpose()?
                .map(std::sync::Arc::new),
            rng: SystemRandom::new(),
        })
    }

    /// A cipher without keys: content is stored and read as plaintext.
    pub fn plaintext() -> Self {
        Self {
            current: None,
            previous: None,
            rng: SystemRandom::new(),
        }
    }

    /// True when new content is encrypted.
    pub fn is_encrypting(&self) -> bool {
        self.current.is_some()
    }

    /// Encrypts `plain` for storage (or returns it unchanged without a key).
    pub fn encrypt(&self, plain: &str) -> Result<String, StoreError> {
        let Some(key) = &self.current else {
            return Ok(plain.to_owned());
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Backend("the system random number generator failed".into()))?;
        Ok(seal(key, nonce, plain))
    }

    /// Decrypts a stored value; anything that does not decrypt with either key is returned as
    /// stored.
    pub fn decrypt(&self, stored: &str) -> String {
        if self.current.is_none() && self.previous.is_none() {
            return stored.to_owned();
        }
        let Ok(bytes) = STANDARD.decode(stored) else {
            return stored.to_owned();
        };
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return stored.to_owned();
        }
        for key in [&self.current, &self.previous].into_iter().flatten() {
            if let Some(plain) = open(key, &bytes) {
                return plain;
            }
        }
        tracing::debug!(
            stored_len = stored.len(),
            "content looks encrypted but no key opens it; returned as stored"
        );
        stored.to_owned()
    }
}

/// Seals `plain` under `key` with `nonce`: base64(nonce ‖ ciphertext ‖ tag).
fn seal(key: &LessSafeKey, nonce: [u8; NONCE_LEN], plain: &str) -> String {
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    let mut in_out = plain.as_bytes().to_vec();
    // Sealing only fails for inputs beyond GCM's ~64 GiB limit, far over any message bound.
    match key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut in_out,
    ) {
        Ok(()) => {
            out.extend_from_slice(&in_out);
            STANDARD.encode(out)
        }
        Err(_) => plain.to_owned(),
    }
}

/// Opens `nonce ‖ ciphertext ‖ tag`; `None` when the key or the bytes are wrong, or the
/// plaintext is not UTF-8.
fn open(key: &LessSafeKey, bytes: &[u8]) -> Option<String> {
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = sealed.to_vec();
    let plain = key.open_in_place(nonce, Aad::empty(), &mut in_out).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210";
    /// Produced independently (Node.js / OpenSSL, AES-256-GCM, nonce 00..0b, key `KEY`).
    const VECTOR: &str = "AAECAwQFBgcICQoLZYDXELY4tN7HsVHKGarxQ4kocOJOyh3oRdhaaXzwbg8bxeXOK5DSsKE=";

    #[test]
    fn matches_an_independent_aes_gcm_implementation() {
        let c = Cipher::new(Some(KEY), None).unwrap();
        assert_eq!(c.decrypt(VECTOR), "Hello from the Go service");
        let key = make_key("k", KEY).unwrap();
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        assert_eq!(seal(&key, nonce, "Hello from the Go service"), VECTOR);
    }

    #[test]
    fn round_trips_with_a_fresh_nonce_each_time() {
        let c = Cipher::new(Some(KEY), None).unwrap();
        let a = c.encrypt("secret ✓").unwrap();
        let b = c.encrypt("secret ✓").unwrap();
        assert_ne!(a, b, "nonces must differ");
        assert_ne!(a, "secret ✓");
        assert_eq!(
            STANDARD.decode(&a).unwrap().len(),
            12 + "secret ✓".len() + 16
        );
        assert_eq!(c.decrypt(&a), "secret ✓");
        assert_eq!(c.decrypt(&b), "secret ✓");
    }

    #[test]
    fn wrong_key_length_is_refused() {
        let err = Cipher::new(Some(b"short"), None).unwrap_err();
        assert!(matches!(err, Error::KeyLength { len: 5, .. }), "{err}");
        let err = Cipher::new(Some(KEY), Some(&[0u8; 33])).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KeyLength {
                    which: "previous encryption key",
                    len: 33
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn tampered_wrong_key_and_legacy_plaintext_come_back_as_stored() {
        let c = Cipher::new(Some(KEY), None).unwrap();
        let sealed = c.encrypt("hello").unwrap();
        let mut raw = STANDARD.decode(&sealed).unwrap();
        raw[14] ^= 0x01;
        let tampered = STANDARD.encode(raw);
        assert_eq!(c.decrypt(&tampered), tampered);
        let other = Cipher::new(Some(OTHER), None).unwrap();
        assert_eq!(other.decrypt(&sealed), sealed);
        assert_eq!(
            c.decrypt("just plain legacy text"),
            "just plain legacy text"
        );
        assert_eq!(
            c.decrypt("aGVsbG8="),
            "aGVsbG8=",
            "short base64 stays as is"
        );
        assert_eq!(c.decrypt(""), "");
    }

    #[test]
    fn previous_key_reads_old_values_and_new_values_use_the_current_key() {
        let old = Cipher::new(Some(OTHER), None).unwrap();
        let stored = old.encrypt("from before rotation").unwrap();
        let rotated = Cipher::new(Some(KEY), Some(OTHER)).unwrap();
        assert_eq!(rotated.decrypt(&stored), "from before rotation");
        let fresh = rotated.encrypt("after").unwrap();
        assert_eq!(
            Cipher::new(Some(KEY), None).unwrap().decrypt(&fresh),
            "after"
        );
        assert_eq!(
            old.decrypt(&fresh),
            fresh,
            "the old key cannot read new values"
        );
    }

    #[test]
    fn without_a_key_content_passes_through_and_debug_hides_keys() {
        let c = Cipher::plaintext();
        assert!(!c.is_encrypting());
        assert_eq!(c.encrypt("plain").unwrap(), "plain");
        assert_eq!(c.decrypt(VECTOR), VECTOR);
        let dbg = format!("{:?}", Cipher::new(Some(KEY), None).unwrap());
        assert!(!dbg.contains("0123"), "{dbg}");
    }
}
