//! JWT verification rules.

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-unit";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token(alg: Algorithm, claims: Value) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn verifier() -> JwtVerifier {
    JwtVerifier::new(SECRET, "HS256", 30, false).unwrap()
}

#[test]
fn a_valid_token_gives_the_identity() {
    // One reading of the clock: two could straddle a second.
    let exp = now() + 60;
    let t = token(
        Algorithm::HS256,
        json!({"user_id": "u1", "roles": ["chat_admin"], "name": "Ana", "exp": exp}),
    );
    let v = verifier().verify(&t).unwrap();
    assert_eq!(v.identity.user_id.as_str(), "u1");
    assert_eq!(v.identity.name, "Ana");
    assert!(v.identity.is_admin());
    assert_eq!(v.expires_at, Some(exp));
}

#[test]
fn required_claims_and_times_are_enforced() {
    let v = verifier();
    let bad = [
        json!({"roles": [], "exp": now() + 60}),
        json!({"user_id": "", "roles": [], "exp": now() + 60}),
        json!({"user_id": "u1", "exp": now() + 60}),
        json!({"user_id": "u1", "roles": "admin", "exp": now() + 60}),
        json!({"user_id": "u1", "roles": []}),
        json!({"user_id": "u1", "roles": [], "exp": now() - 120}),
        json!({"user_id": "u1", "roles": [], "exp": now() + 600, "nbf": now() + 300}),
    ];
    for claims in bad {
        assert_eq!(
            v.verify(&token(Algorithm::HS256, claims.clone())),
            Err(AuthError::Invalid),
            "{claims}"
        );
    }
    let within_leeway = token(
        Algorithm::HS256,
        json!({"user_id": "u1", "roles": [], "exp": now() - 10}),
    );
    assert!(v.verify(&within_leeway).is_ok(), "30 s leeway");
    let no_exp = token(Algorithm::HS256, json!({"user_id": "u1", "roles": []}));
    assert!(
        JwtVerifier::new(SECRET, "HS256", 30, true)
            .unwrap()
            .verify(&no_exp)
            .is_ok()
    );
}

#[test]
fn other_algorithms_and_unsigned_tokens_are_rejected() {
    let claims = json!({"user_id": "u1", "roles": [], "exp": now() + 60});
    assert_eq!(
        verifier().verify(&token(Algorithm::HS512, claims.clone())),
        Err(AuthError::Invalid)
    );
    // alg:none: header {"alg":"none"} and an empty signature.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    assert_eq!(verifier().verify(&none), Err(AuthError::Invalid));
    let forged = token(Algorithm::HS256, claims).replace('.', ".x");
    assert_eq!(verifier().verify(&forged), Err(AuthError::Invalid));
    assert!(matches!(
        JwtVerifier::new(SECRET, "RS256", 0, false),
        Err(AuthError::Algorithm(_))
    ));
}

#[test]
fn token_comes_from_the_header_else_the_query() {
    let mut h = HeaderMap::new();
    assert_eq!(request_token(&h, Some("q")), Some("q"));
    assert_eq!(request_token(&h, Some("")), None);
    h.insert(AUTHORIZATION, "Bearer hdr".parse().unwrap());
    assert_eq!(request_token(&h, Some("q")), Some("hdr"));
    h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
    assert_eq!(bearer(&h), None);
}

#[test]
fn float_exp_and_non_string_names_from_existing_issuers_are_accepted() {
    let exp = (now() + 600) as f64 + 0.5;
    let t = token(
        Algorithm::HS256,
        json!({"user_id": "u1", "roles": [], "name": 42, "exp": exp}),
    );
    let v = verifier().verify(&t).unwrap();
    assert_eq!(v.identity.name, "42");
    assert_eq!(v.expires_at, Some(exp.trunc() as i64));
    let expired = token(
        Algorithm::HS256,
        json!({"user_id": "u1", "roles": [], "exp": (now() - 3600) as f64}),
    );
    assert_eq!(
        verifier().verify(&expired),
        Err(AuthError::Invalid),
        "a float exp still expires"
    );
}
