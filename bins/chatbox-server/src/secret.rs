//! The JWT secret policy of CONTRACT §1: at least 32 bytes, no placeholder marker, no weak word.

/// Markers that show a value was never filled in (case-insensitive).
pub(crate) const PLACEHOLDERS: [&str; 5] = [
    "REPLACE_WITH",
    "PLACEHOLDER",
    "CHANGE-ME",
    "CHANGE_ME",
    "YOUR-",
];
/// Words that make a secret guessable (case-insensitive substrings).
pub(crate) const WEAK_WORDS: [&str; 10] = [
    "secret",
    "test",
    "password",
    "admin",
    "changeme",
    "default",
    "example",
    "demo",
    "12345",
    "placeholder",
];
/// The shortest accepted secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a value contains a placeholder marker, if it does.
pub fn placeholder_in(value: &str) -> Option<&'static str> {
    let upper = value.to_uppercase();
    PLACEHOLDERS.into_iter().find(|p| upper.contains(p))
}

/// Checks a JWT secret; the error says what is wrong without echoing the secret.
pub fn check_jwt_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "must be at least {MIN_SECRET_BYTES} bytes (got {})",
            secret.len()
        ));
    }
    if let Some(p) = placeholder_in(secret) {
        return Err(format!(
            "contains the placeholder marker {p:?}; set a real secret"
        ));
    }
    let lower = secret.to_lowercase();
    if let Some(w) = WEAK_WORDS.into_iter().find(|w| lower.contains(w)) {
        return Err(format!(
            "contains the weak word {w:?}; use a random secret (e.g. 48 random characters)"
        ));
    }
    Ok(())
}

/// Masks a secret for error messages: its length only.
pub fn mask(secret: &str) -> String {
    format!("<{} bytes hidden>", secret.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked() {
        assert!(check_jwt_secret("k7Qx9vLm2PzR8tWb4NcY6hJd3FgS5aEu1").is_ok());
        assert!(check_jwt_secret("short").unwrap_err().contains("32 bytes"));
        assert!(
            check_jwt_secret("REPLACE_WITH_A_LONG_RANDOM_VALUE_PLEASE")
                .unwrap_err()
                .contains("placeholder")
        );
        assert!(
            check_jwt_secret("my-super-Secret-value-that-is-long-enough")
                .unwrap_err()
                .contains("\"secret\"")
        );
        assert!(
            check_jwt_secret("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx12345")
                .unwrap_err()
                .contains("12345")
        );
        assert_eq!(mask("abc"), "<3 bytes hidden>");
    }
}
