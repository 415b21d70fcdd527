//! The session state machine: whether a reply is in flight, and the inputs waiting for it.
//!
//! ```text
//!            admit(input) while Idle and nothing waits → Run
//!   Idle ──start_reply──▶ Replying(id) ──finish(id) / cancel()──▶ Idle ──next_pending()──▶ …
//!            admit(input) while Replying (or others wait) → Queued, or Busy when the queue is full
//! ```
//!
//! Inputs are therefore handled strictly in arrival order, one at a time. Events of a reply that
//! is no longer current (cancelled, or a stale id) are ignored, so a cancelled reply can never
//! emit another frame.
//!
//! Human takeover is a second dimension: while an admin assists, no reply can start
//! ([`SessionState::start_reply`] refuses), and taking over cancels the reply in flight in the
//! same step. So once `admin_join` is announced no AI frame can follow until the admin leaves —
//! the state machine makes it impossible, no call site has to remember it.

use std::collections::VecDeque;
use std::time::Instant;

use chatbox_core::UserId;
use tokio_util::sync::CancellationToken;

/// The admin assisting a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assistant {
    /// The admin's user id.
    pub admin_id: UserId,
    /// The admin's display name.
    pub admin_name: String,
}

/// Another admin already assists the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict(pub Assistant);

/// What a takeover did.
#[derive(Debug)]
pub enum TakeOver {
    /// The admin now assists; the reply that was in flight, if any, is cancelled and returned.
    Joined(Option<ReplyInFlight>),
    /// The admin was already assisting; nothing changed.
    AlreadyAssisting,
}

/// A reply being streamed.
#[derive(Debug)]
pub struct ReplyInFlight {
    /// Distinguishes this reply's events from a previous one's.
    pub id: u64,
    /// The provider answering.
    pub model_id: String,
    /// When the reply started (for the response time).
    pub started: Instant,
    /// The text streamed so far.
    pub text: String,
    cancel: CancellationToken,
}

/// What to do with an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// Handle it now.
    Run(T),
    /// It waits for the current reply (and earlier inputs).
    Queued,
    /// The wait queue is full: refuse with `SESSION_BUSY`.
    Busy(T),
}

/// The state of one session.
#[derive(Debug)]
pub struct SessionState<T> {
    reply: Option<ReplyInFlight>,
    assistant: Option<Assistant>,
    pending: VecDeque<T>,
    max_pending: usize,
    next_reply_id: u64,
}

impl<T> SessionState<T> {
    /// Idle, with room for `max_pending` waiting inputs.
    pub fn new(max_pending: usize) -> Self {
        Self {
            reply: None,
            assistant: None,
            pending: VecDeque::new(),
            max_pending,
            next_reply_id: 1,
        }
    }

    /// Decides what happens to a new input.
    pub fn admit(&mut self, input: T) -> Admission<T> {
        if self.reply.is_none() && self.pending.is_empty() {
            Admission::Run(input)
        } else if self.pending.len() < self.max_pending {
            self.pending.push_back(input);
            Admission::Queued
        } else {
            Admission::Busy(input)
        }
    }

    /// The next waiting input, when no reply is in flight.
    pub fn next_pending(&mut self) -> Option<T> {
        if self.reply.is_some() {
            None
        } else {
            self.pending.pop_front()
        }
    }

    /// Removes and returns every waiting input (shutdown drops them, telling each sender).
    pub fn take_pending(&mut self) -> VecDeque<T> {
        std::mem::take(&mut self.pending)
    }

    /// True while a reply streams.
    pub fn is_replying(&self) -> bool {
        self.reply.is_some()
    }

    /// Idle → Replying. Returns the reply id and the token that cancels it; `None` while an admin
    /// assists (no reply may start then).
    pub fn start_reply(
        &mut self,
        model_id: &str,
        now: Instant,
    ) -> Option<(u64, CancellationToken)> {
        if self.assistant.is_some() {
            return None;
        }
        let id = self.next_reply_id;
        self.next_reply_id += 1;
        let cancel = CancellationToken::new();
        if let Some(old) = self.reply.take() {
            old.cancel.cancel();
        }
        self.reply = Some(ReplyInFlight {
            id,
            model_id: model_id.to_owned(),
            started: now,
            text: String::new(),
            cancel: cancel.clone(),
        });
        Some((id, cancel))
    }

    /// The admin assisting, if any.
    pub fn assistant(&self) -> Option<&Assistant> {
        self.assistant.as_ref()
    }

    /// An admin takes the session over: the reply in flight is cancelled in the same step.
    pub fn take_over(&mut self, admin: Assistant) -> Result<TakeOver, Conflict> {
        match &self.assistant {
            Some(a) if a.admin_id == admin.admin_id => Ok(TakeOver::AlreadyAssisting),
            Some(a) => Err(Conflict(a.clone())),
            None => {
                self.assistant = Some(admin);
                Ok(TakeOver::Joined(self.cancel()))
            }
        }
    }

    /// The assisting admin `admin_id` leaves; the AI answers again. `None` when `admin_id` is
    /// not the one assisting.
    pub fn release(&mut self, admin_id: &UserId) -> Option<Assistant> {
        if self
            .assistant
            .as_ref()
            .is_some_and(|a| &a.admin_id == admin_id)
        {
            self.assistant.take()
        } else {
            None
        }
    }

    /// The current reply, if `id` is current.
    pub fn current(&mut self, id: u64) -> Option<&mut ReplyInFlight> {
        self.reply.as_mut().filter(|r| r.id == id)
    }

    /// Replying(id) → Idle, returning the finished reply; `None` for a stale id.
    pub fn finish(&mut self, id: u64) -> Option<ReplyInFlight> {
        if self.reply.as_ref().is_some_and(|r| r.id == id) {
            self.reply.take()
        } else {
            None
        }
    }

    /// Cancels the reply in flight at once (its task stops; its later events are stale).
    pub fn cancel(&mut self) -> Option<ReplyInFlight> {
        let reply = self.reply.take()?;
        reply.cancel.cancel();
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_run_in_order_one_at_a_time() {
        let mut s = SessionState::new(2);
        assert_eq!(s.admit("a"), Admission::Run("a"));
        let (id, _) = s.start_reply("m", Instant::now()).unwrap();
        assert_eq!(s.admit("b"), Admission::Queued);
        assert_eq!(s.admit("c"), Admission::Queued);
        assert_eq!(s.admit("d"), Admission::Busy("d"), "queue of 2 is full");
        assert_eq!(s.next_pending(), None, "nothing runs while replying");
        assert!(s.finish(id).is_some());
        assert_eq!(s.next_pending(), Some("b"));
        assert_eq!(
            s.admit("e"),
            Admission::Queued,
            "c still waits, so e queues behind it"
        );
        assert_eq!(s.next_pending(), Some("c"));
        assert_eq!(s.next_pending(), Some("e"));
        assert_eq!(s.next_pending(), None);
    }

    fn admin(id: &str) -> Assistant {
        Assistant {
            admin_id: UserId::parse(id).unwrap(),
            admin_name: id.to_uppercase(),
        }
    }

    #[test]
    fn taking_over_cancels_the_reply_and_no_reply_starts_until_release() {
        let mut s: SessionState<()> = SessionState::new(1);
        let (id, token) = s.start_reply("m", Instant::now()).unwrap();
        s.current(id).unwrap().text.push_str("half");
        let TakeOver::Joined(Some(cut)) = s.take_over(admin("ada")).unwrap() else {
            panic!("the reply in flight is handed back")
        };
        assert_eq!(cut.text, "half");
        assert!(token.is_cancelled(), "the provider request is aborted");
        assert!(
            s.current(id).is_none() && s.finish(id).is_none(),
            "its events are stale"
        );
        assert!(
            s.start_reply("m", Instant::now()).is_none(),
            "no reply while assisted"
        );
        assert!(matches!(
            s.take_over(admin("ada")),
            Ok(TakeOver::AlreadyAssisting)
        ));
        assert_eq!(
            s.take_over(admin("bob")).unwrap_err(),
            Conflict(admin("ada"))
        );
        assert!(
            s.release(&admin("bob").admin_id).is_none(),
            "only the assisting admin leaves"
        );
        assert_eq!(s.release(&admin("ada").admin_id), Some(admin("ada")));
        assert!(s.assistant().is_none());
        assert!(
            s.start_reply("m", Instant::now()).is_some(),
            "the AI answers again"
        );
    }

    #[test]
    fn take_pending_empties_the_queue_even_while_replying() {
        let mut s = SessionState::new(4);
        let _ = s.start_reply("m", Instant::now()).unwrap();
        assert_eq!(s.admit("a"), Admission::Queued);
        assert_eq!(s.admit("b"), Admission::Queued);
        assert_eq!(s.take_pending(), ["a", "b"]);
        assert!(s.is_replying(), "the reply in flight is not touched");
        assert_eq!(s.next_pending(), None);
    }

    #[test]
    fn cancel_stops_the_reply_and_makes_its_events_stale() {
        let mut s: SessionState<()> = SessionState::new(1);
        let (id, token) = s.start_reply("m", Instant::now()).unwrap();
        s.current(id).unwrap().text.push_str("partial");
        let cancelled = s.cancel().unwrap();
        assert_eq!(cancelled.text, "partial");
        assert!(token.is_cancelled());
        assert!(s.current(id).is_none());
        assert!(s.finish(id).is_none(), "a cancelled reply cannot finish");
        let (id2, _) = s.start_reply("m", Instant::now()).unwrap();
        assert_ne!(id, id2);
        assert!(s.is_replying());
    }
}
