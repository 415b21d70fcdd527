//! The Broker conformance suite: one `pub async fn` per behaviour of the [`Broker`] contract
//! (see the rules in [`crate::ports::broker`]).
//!
//! A backend implements [`World`]: a fresh, isolated deployment per behaviour whose replicas are
//! made by name, and a way to pause (this crate has no runtime). Every read of a stream is
//! bounded by the caller's test timeout; the functions panic with a message naming the broken
//! rule. Lease expiry is waited for by polling, never by a fixed sleep.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::ids::SessionId;
use crate::ports::broker::{Acquired, Broker, BrokerError, Lease, LogFrame};

/// A deployment under test.
pub trait World: Send + Sync {
    /// The backend.
    type B: Broker;
    /// The handle of replica `name` (a new connection for a networked backend).
    fn replica(&self, name: &str) -> impl Future<Output = Self::B> + Send;
    /// Waits `d` (the suite polls lease expiry with it).
    fn pause(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// Runs every behaviour, each in a fresh world from `make`.
pub async fn run_all<W, F, Fut>(make: F)
where
    W: World,
    F: Fn() -> Fut,
    Fut: Future<Output = W>,
{
    a_lease_is_exclusive(&make().await).await;
    renew_keeps_a_lease_and_release_frees_it(&make().await).await;
    an_expired_lease_moves_with_a_greater_token(&make().await).await;
    lease_keys_are_independent(&make().await).await;
    a_log_is_read_in_order_then_followed(&make().await).await;
    a_log_keeps_its_recent_history(&make().await).await;
    logs_are_per_session(&make().await).await;
    a_claim_marks_the_log_right_after_its_newest_frame(&make().await).await;
    mail_reaches_its_replica_in_order(&make().await).await;
    announcements_reach_every_replica(&make().await).await;
}

/// A test session id.
pub fn session(s: &str) -> SessionId {
    SessionId::parse(s).unwrap_or_else(|e| panic!("test id {s}: {e}"))
}

/// A log frame with `seq`, `token` and a body naming both.
pub fn frame(seq: u64, token: u64) -> LogFrame {
    LogFrame {
        seq,
        token,
        body: Bytes::from(format!("{{\"seq\":{seq},\"token\":{token}}}")),
    }
}

fn mine(outcome: Acquired, what: &str) -> Lease {
    match outcome {
        Acquired::Mine(lease) => lease,
        Acquired::Held { by, .. } => panic!("{what}: the key is held by {by}"),
    }
}

async fn acquire<B: Broker>(b: &B, key: &str) -> Acquired {
    b.acquire(key)
        .await
        .unwrap_or_else(|e| panic!("acquire {key} on {}: {e}", b.replica()))
}

/// One replica holds a key; the others, and the holder itself, are told who.
pub async fn a_lease_is_exclusive<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let lease = mine(acquire(&a, "s.one").await, "a free key is taken");
    assert_eq!(lease.key, "s.one");
    let held = Acquired::Held {
        by: "a".into(),
        token: lease.token,
    };
    assert_eq!(
        acquire(&b, "s.one").await,
        held,
        "another replica is told who holds it"
    );
    assert_eq!(acquire(&a, "s.one").await, held, "a lease is taken once");
}

/// Renewal keeps the lease; release frees it for another replica, with a greater token; the old
/// holder's renew then fails and its release does not free the new lease.
pub async fn renew_keeps_a_lease_and_release_frees_it<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let first = mine(acquire(&a, "s.two").await, "a free key is taken");
    let renewed = a.renew(&first).await.expect("a held lease renews");
    assert_eq!(
        renewed.token, first.token,
        "renewal keeps the fencing token"
    );
    assert!(matches!(acquire(&b, "s.two").await, Acquired::Held { .. }));
    a.release(&renewed).await.expect("release");
    let second = mine(acquire(&b, "s.two").await, "a released key is free");
    assert!(
        second.token > first.token,
        "a later lease has a greater token"
    );
    assert!(
        matches!(a.renew(&renewed).await, Err(BrokerError::LeaseLost)),
        "the old holder's renew fails"
    );
    a.release(&renewed)
        .await
        .expect("a stale release is a no-op");
    b.renew(&second)
        .await
        .expect("a stale release does not free the new holder's lease");
}

/// A lease that is not renewed expires; another replica then takes it with a greater token and
/// the old holder cannot renew.
pub async fn an_expired_lease_moves_with_a_greater_token<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let first = mine(acquire(&a, "s.three").await, "a free key is taken");
    let ttl = a.lease_ttl();
    let step = ttl / 10;
    let mut waited = Duration::ZERO;
    let second = loop {
        if let Acquired::Mine(lease) = acquire(&b, "s.three").await {
            break lease;
        }
        assert!(waited < ttl * 20, "a lease not renewed expires ({ttl:?})");
        w.pause(step).await;
        waited += step;
    };
    assert!(
        second.token > first.token,
        "the new lease has a greater token"
    );
    assert!(
        matches!(a.renew(&first).await, Err(BrokerError::LeaseLost)),
        "an expired holder's renew fails"
    );
}

/// Keys that differ only in characters a backend might treat specially are different keys.
pub async fn lease_keys_are_independent<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let keys = [
        "s.x",
        "s.x y",
        "s.x*",
        "s.x>",
        "s.x.y",
        "s.é",
        "c.user@example.com.3",
    ];
    for key in keys {
        mine(acquire(&a, key).await, "each key is its own lease");
    }
    mine(acquire(&b, "s.xy").await, "an unleased key is free");
}

/// A reader gets the retained frames in order, then later ones live; a reader on another
/// replica gets the same sequence; `last` is the newest.
pub async fn a_log_is_read_in_order_then_followed<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let s = session("log-order");
    for seq in 1..=3 {
        a.append(&s, frame(seq, 7)).await.expect("append");
    }
    let mut reader = b.read(&s).await.expect("read");
    a.append_batch(&s, vec![frame(4, 7), frame(5, 7)])
        .await
        .expect("append a batch");
    let mut got = Vec::new();
    while got.len() < 5 {
        let f = reader
            .next()
            .await
            .expect("the log is followed")
            .expect("frame");
        got.push(f);
    }
    let want: Vec<LogFrame> = (1..=5).map(|seq| frame(seq, 7)).collect();
    assert_eq!(got, want, "history then live, in append order");
    let mut other = a.read(&s).await.expect("read");
    for want in &want {
        let f = other.next().await.expect("history").expect("frame");
        assert_eq!(&f, want, "every reader sees the same order");
    }
    assert_eq!(b.last(&s).await.expect("last"), Some(frame(5, 7)));
}

/// A log keeps at least its last `history` frames, ending with the newest.
pub async fn a_log_keeps_its_recent_history<W: World>(w: &W) {
    let a = w.replica("a").await;
    let s = session("log-bounded");
    let history = u64::try_from(a.history()).unwrap_or(u64::MAX);
    let total = history + 5;
    for seq in 1..=total {
        a.append(&s, frame(seq, 1)).await.expect("append");
    }
    let mut reader = a.read(&s).await.expect("read");
    let mut seqs = Vec::new();
    loop {
        let f = reader.next().await.expect("history").expect("frame");
        seqs.push(f.seq);
        if f.seq == total {
            break;
        }
    }
    assert!(
        seqs.len() as u64 >= history,
        "at least {history} frames kept"
    );
    assert!(
        seqs.windows(2).all(|p| p[1] == p[0] + 1),
        "retained frames are contiguous: {seqs:?}"
    );
    assert!(seqs.len() as u64 <= total, "no frame twice");
}

/// Frames of one session never show in another's log, whatever the ids hold.
pub async fn logs_are_per_session<W: World>(w: &W) {
    let a = w.replica("a").await;
    let (one, two) = (session("a b.c*"), session("a b.c"));
    assert_eq!(
        a.last(&one).await.expect("last"),
        None,
        "an unknown log is empty"
    );
    a.append(&one, frame(1, 1)).await.expect("append");
    a.append(&two, frame(9, 1)).await.expect("append");
    assert_eq!(a.last(&one).await.expect("last"), Some(frame(1, 1)));
    assert_eq!(a.last(&two).await.expect("last"), Some(frame(9, 1)));
    let mut reader = a.read(&one).await.expect("read");
    assert_eq!(
        reader.next().await.expect("history").expect("frame"),
        frame(1, 1)
    );
    a.append(&one, frame(2, 1)).await.expect("append");
    assert_eq!(
        reader.next().await.expect("live").expect("frame"),
        frame(2, 1),
        "the other session's frames are not in this log"
    );
}

/// `claim_log` returns the newest frame and appends the new owner's marker right after it;
/// concurrent claims each see the frame just before their own marker.
pub async fn a_claim_marks_the_log_right_after_its_newest_frame<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let s = session("claimed");
    assert_eq!(
        a.claim_log(&s, 3).await.expect("claim"),
        None,
        "an empty log"
    );
    a.append(&s, frame(1, 3)).await.expect("append");
    a.append(&s, frame(2, 3)).await.expect("append");
    let seen = b.claim_log(&s, 9).await.expect("claim");
    assert_eq!(
        seen,
        Some(frame(2, 3)),
        "the newest frame before the marker"
    );
    let marker = b.last(&s).await.expect("last").expect("the marker");
    assert!(marker.is_marker(), "the marker is the newest frame now");
    assert_eq!((marker.seq, marker.token), (2, 9));
    let mut reader = a.read(&s).await.expect("read");
    let mut got = Vec::new();
    while got.len() < 4 {
        got.push(reader.next().await.expect("history").expect("frame"));
    }
    assert!(
        got[0].is_marker() && got[0].token == 3,
        "the first claim's marker"
    );
    assert_eq!(got[1..3], [frame(1, 3), frame(2, 3)]);
    assert!(got[3].is_marker() && got[3].token == 9);
    // Racing claims: each returns what was newest when its marker went in.
    let (x, y) = futures::join!(a.claim_log(&s, 10), b.claim_log(&s, 11));
    let (x, y) = (x.expect("claim"), y.expect("claim"));
    let tokens = [x.map(|f| f.token), y.map(|f| f.token)];
    assert!(
        tokens.contains(&Some(9)) && (tokens.contains(&Some(10)) || tokens.contains(&Some(11))),
        "one claim saw the other's marker: {tokens:?}"
    );
}

/// Mail reaches the named replica in order; mail to nobody fails at once.
pub async fn mail_reaches_its_replica_in_order<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let mut b_mail = b.mail().await.expect("mail");
    let mut a_mail = a.mail().await.expect("mail");
    for i in 0..20 {
        a.send("b", Bytes::from(format!("m{i}")))
            .await
            .expect("send to a listening replica");
    }
    for i in 0..20 {
        let m = b_mail.next().await.expect("mail arrives");
        assert_eq!(m, Bytes::from(format!("m{i}")), "mail keeps its order");
    }
    b.send("a", Bytes::from_static(b"back"))
        .await
        .expect("send");
    assert_eq!(
        a_mail.next().await.expect("mail arrives"),
        Bytes::from_static(b"back"),
        "a replica's mail holds only what was sent to it"
    );
    let err = a.send("nobody", Bytes::from_static(b"x")).await;
    assert!(
        matches!(err, Err(BrokerError::NoRecipient(_))),
        "mail to a replica nobody runs fails: {err:?}"
    );
}

/// An announcement reaches every replica, the sender included.
pub async fn announcements_reach_every_replica<W: World>(w: &W) {
    let (a, b) = (w.replica("a").await, w.replica("b").await);
    let mut on_a = a.announcements().await.expect("announcements");
    let mut on_b = b.announcements().await.expect("announcements");
    a.announce(Bytes::from_static(b"hello"))
        .await
        .expect("announce");
    assert_eq!(on_a.next().await, Some(Bytes::from_static(b"hello")));
    assert_eq!(on_b.next().await, Some(Bytes::from_static(b"hello")));
}
