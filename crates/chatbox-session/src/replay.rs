//! The replay buffer: the most recent frames of a session, by `seq`, bounded in count and bytes,
//! so a client that reconnects with `last_seq = N` gets every frame after N — or learns that it
//! cannot, and reloads history instead.

use std::collections::VecDeque;
use std::sync::Arc;

/// What a resume can get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every frame after the requested seq, in order (possibly none).
    Complete(Vec<Arc<str>>),
    /// Some frames after the requested seq are gone (or the seq is from another incarnation).
    Gap,
}

/// A bounded window of serialized frames with consecutive seqs.
#[derive(Debug)]
pub struct ReplayBuffer {
    frames: VecDeque<(u64, Arc<str>)>,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl ReplayBuffer {
    /// An empty buffer keeping at most `max_frames` frames and `max_bytes` bytes.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// Records frame `seq`; seqs must be pushed in increasing order.
    pub fn push(&mut self, seq: u64, frame: Arc<str>) {
        self.bytes += frame.len();
        self.frames.push_back((seq, frame));
        while self.frames.len() > self.max_frames
            || (self.bytes > self.max_bytes && self.frames.len() > 1)
        {
            if let Some((_, old)) = self.frames.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The frames after `last_seq`, given that the session's latest seq is `current`.
    pub fn since(&self, last_seq: u64, current: u64) -> Replay {
        if last_seq > current {
            return Replay::Gap;
        }
        if last_seq == current {
            return Replay::Complete(Vec::new());
        }
        match self.frames.front() {
            Some(&(oldest, _)) if oldest <= last_seq + 1 => Replay::Complete(
                self.frames
                    .iter()
                    .filter(|(s, _)| *s > last_seq)
                    .map(|(_, f)| Arc::clone(f))
                    .collect(),
            ),
            _ => Replay::Gap,
        }
    }

    /// Frames held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when no frame is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn replays_everything_after_last_seq_in_order() {
        let mut b = ReplayBuffer::new(10, 1 << 20);
        for seq in 101..=105 {
            b.push(seq, frame(&format!("f{seq}")));
        }
        assert_eq!(
            b.since(102, 105),
            Replay::Complete(vec![frame("f103"), frame("f104"), frame("f105")])
        );
        assert_eq!(b.since(105, 105), Replay::Complete(vec![]));
        assert_eq!(
            b.since(100, 105).clone(),
            Replay::Complete((101..=105).map(|s| frame(&format!("f{s}"))).collect())
        );
    }

    #[test]
    fn evicted_frames_or_foreign_seqs_are_a_gap() {
        let mut b = ReplayBuffer::new(3, 1 << 20);
        for seq in 1..=6 {
            b.push(seq, frame("x"));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.since(2, 6), Replay::Gap, "frames 3 is gone");
        assert!(matches!(b.since(3, 6), Replay::Complete(v) if v.len() == 3));
        assert_eq!(
            b.since(7, 6),
            Replay::Gap,
            "a seq from the future (another incarnation)"
        );
    }

    #[test]
    fn byte_bound_evicts_oldest_but_keeps_the_latest() {
        let mut b = ReplayBuffer::new(100, 10);
        b.push(1, frame("aaaaaa"));
        b.push(2, frame("bbbbbb"));
        assert_eq!(b.len(), 1);
        b.push(3, frame(&"c".repeat(50)));
        assert_eq!(b.len(), 1, "one oversized frame is still kept");
        assert!(!b.is_empty());
    }
}
