//! JWT verification (CONTRACT §1) and where a request's token comes from.
//!
//! Only the configured HMAC algorithm is accepted: `alg:none`, RSA/EC and a token signed with a
//! different HMAC size are rejected. Claims: `user_id` (non-empty), `roles` (array, may be empty),
//! `name` (optional; any scalar is taken as text), `exp` (required unless allowed otherwise; an
//! integer or a float), `nbf` honoured, with leeway.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chatbox_core::{Identity, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

/// Why a token was refused or a verifier could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token in the request.
    #[error("missing authentication token")]
    Missing,
    /// The token is malformed, badly signed, expired, not yet valid, or lacks a required claim.
    #[error("invalid token")]
    Invalid,
    /// The configured algorithm is not HS256/384/512.
    #[error("unsupported JWT algorithm {0:?}; allowed: HS256, HS384, HS512")]
    Algorithm(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    user_id: String,
    roles: Vec<String>,
    /// Host apps of the Go service send numbers here too: any scalar is taken as text.
    #[serde(default, deserialize_with = "scalar_text")]
    name: Option<String>,
    /// Some issuers write `exp` as a float (`1735689600.0`): whole seconds are taken.
    #[serde(default, deserialize_with = "seconds")]
    exp: Option<i64>,
}

fn scalar_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e15)
                    .map(|f| f.trunc() as i64)
            })
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("exp is not a time")),
        _ => Err(serde::de::Error::custom("exp is not a number")),
    }
}

/// A verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who it identifies.
    pub identity: Identity,
    /// Its expiry (Unix seconds), if it has one.
    pub expires_at: Option<i64>,
}

/// Verifies tokens with one secret and algorithm.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for `algorithm` (`HS256`, `HS384`, `HS512`).
    pub fn new(
        secret: &[u8],
        algorithm: &str,
        leeway_secs: u64,
        allow_no_exp: bool,
    ) -> Result<Self, AuthError> {
        let alg = match algorithm {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => return Err(AuthError::Algorithm(other.to_owned())),
        };
        let mut validation = Validation::new(alg);
        validation.leeway = leeway_secs;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        if allow_no_exp {
            validation.set_required_spec_claims::<&str>(&[]);
        }
        Ok(Self {
            key: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Verifies a token and returns who it identifies.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let data =
            decode::<Claims>(token, &self.key, &self.validation).map_err(|_| AuthError::Invalid)?;
        let claims = data.claims;
        let user_id = UserId::parse(&claims.user_id).map_err(|_| AuthError::Invalid)?;
        Ok(Verified {
            identity: Identity::new(user_id, claims.name, claims.roles),
            expires_at: claims.exp,
        })
    }
}

/// The bearer token of `Authorization: Bearer <jwt>`, if well-formed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// The token of a WebSocket or page request: the header, else `?token=`.
pub fn request_token<'a>(headers: &'a HeaderMap, query_token: Option<&'a str>) -> Option<&'a str> {
    bearer(headers).or(query_token.filter(|t| !t.is_empty()))
}

#[cfg(test)]
mod tests;
