//! Encryption through a store: content written with one cipher and read with another behaves as
//! CONTRACT §7 says (rotation reads old values, a foreign key or legacy plaintext comes back as
//! stored).

use std::future::Future;

use chatbox_core::{Message, Sender, Session, SessionId, Store, UserId};
use chatbox_store::Cipher;
use chrono::Utc;

use crate::support::KEY;

const OLD: &[u8] = b"fedcba9876543210fedcba9876543210";

async fn write_one<S: Store>(store: &S, text: &str) -> SessionId {
    let id = SessionId::parse("enc").unwrap();
    let now = Utc::now();
    store
        .create_session(&Session::new(id.clone(), UserId::parse("u").unwrap(), now))
        .await
        .unwrap();
    store
        .append_message(&id, &Message::text(Sender::User, text, now))
        .await
        .unwrap();
    id
}

/// `open(cipher)` must reopen the same underlying storage with another cipher.
pub async fn rotation_foreign_key_and_legacy<S, F, Fut>(open: F)
where
    S: Store,
    F: Fn(Cipher) -> Fut,
    Fut: Future<Output = S>,
{
    // Legacy plaintext read by a keyed store: returned as-is.
    let legacy = open(Cipher::plaintext()).await;
    let id = write_one(&legacy, "legacy plain text").await;
    let keyed = open(Cipher::new(Some(KEY), None).unwrap()).await;
    assert_eq!(
        keyed.messages(&id, None).await.unwrap()[0].content,
        "legacy plain text"
    );
    // Written with OLD, read after rotation to KEY with OLD as previous: decrypts.
    let id2 = SessionId::parse("enc2").unwrap();
    let old = open(Cipher::new(Some(OLD), None).unwrap()).await;
    old.create_session(&Session::new(
        id2.clone(),
        UserId::parse("u").unwrap(),
        Utc::now(),
    ))
    .await
    .unwrap();
    old.append_message(
        &id2,
        &Message::text(Sender::Ai, "before rotation", Utc::now()),
    )
    .await
    .unwrap();
    let rotated = open(Cipher::new(Some(KEY), Some(OLD)).unwrap()).await;
    assert_eq!(
        rotated.messages(&id2, None).await.unwrap()[0].content,
        "before rotation"
    );
    // Read with only the new key: the stored ciphertext comes back unchanged, not an error.
    let wrong = keyed.messages(&id2, None).await.unwrap()[0].content.clone();
    assert_ne!(wrong, "before rotation");
    assert_eq!(
        Cipher::new(Some(OLD), None).unwrap().decrypt(&wrong),
        "before rotation",
        "the value is the untouched ciphertext"
    );
}
