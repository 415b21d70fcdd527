//! The replay buffer: the most recent frames of a session, by `seq`, bounded in count and bytes,
//! so a client that reconnects with `last_seq = N` gets every frame after N — or learns that it
//! cannot, and reloads history instead.
//!
//! Reply chunks, most of what a session sends, are kept compact: a chunk's text is appended to
//! its reply's *run* (one string per reply), and the entry keeps where it lies and when it was
//! sent. Its frame (≈ 250 bytes of JSON, most of it the same for every chunk) is written again,
//! byte for byte what went out, only when a resume asks for it. A chunk costs [`ENTRY`] bytes
//! and its text, and no allocation of its own; a streaming reply's frames are freed as soon as
//! every connection has sent them.

use std::collections::VecDeque;
use std::sync::Arc;

use chatbox_core::protocol::ChunkFrames;
use chrono::{DateTime, Utc};

/// What a resume can get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every frame after the requested seq, in order (possibly none).
    Complete(Vec<Arc<str>>),
    /// Some frames after the requested seq are gone (or the seq is from another incarnation).
    Gap,
}

/// One frame held.
#[derive(Debug)]
enum Entry {
    /// A frame as it was sent.
    Frame(Arc<str>),
    /// A reply chunk: `len` bytes at offset `start` of run `run`'s text, sent at `at`
    /// (nanoseconds since the Unix epoch).
    Chunk {
        run: u32,
        start: u32,
        len: u32,
        at: i64,
    },
}

/// Bytes counted for an entry besides its text: its slot.
pub(crate) const ENTRY: usize = std::mem::size_of::<(u64, Entry)>();

// A chunk's slot is the whole cost of its frame: keep it small.
const _: () = assert!(ENTRY <= 32);

/// The text of one reply's chunks, and how to write their frames.
#[derive(Debug)]
struct Run {
    frames: Arc<ChunkFrames>,
    text: String,
    /// Offset of `text[0]` in the run: its evicted start is dropped once it is large.
    base: usize,
    /// Chunks of this run still held.
    held: usize,
}

/// A run's evicted start is dropped once it is this large and half of its text.
const RUN_TRIM: usize = 4096;

/// A bounded window of frames with consecutive seqs.
#[derive(Debug)]
pub struct ReplayBuffer {
    frames: VecDeque<(u64, Entry)>,
    /// The runs that held chunks refer to, oldest first; `runs[0]` has id `first_run`.
    runs: VecDeque<Run>,
    first_run: u32,
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
}

impl ReplayBuffer {
    /// An empty buffer keeping at most `max_frames` frames and `max_bytes` bytes (frames and
    /// chunk texts, [`ENTRY`] bytes more each).
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            runs: VecDeque::new(),
            first_run: 0,
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    /// Records frame `seq`; seqs must be pushed in increasing order.
    pub fn push(&mut self, seq: u64, frame: Arc<str>) {
        self.bytes += frame.len() + ENTRY;
        self.frames.push_back((seq, Entry::Frame(frame)));
        self.evict();
    }

    /// Records frame `seq`, the chunk `text` of the reply whose frames `frames` writes, sent
    /// at `at`: what `frames.write(.., text, at, seq)` wrote, kept compact.
    pub fn push_chunk(
        &mut self,
        seq: u64,
        frames: &Arc<ChunkFrames>,
        text: &str,
        at: DateTime<Utc>,
    ) {
        let same_run = self
            .runs
            .back()
            .is_some_and(|run| Arc::ptr_eq(&run.frames, frames));
        if !same_run {
            self.runs.push_back(Run {
                frames: Arc::clone(frames),
                text: String::new(),
                base: 0,
                held: 0,
            });
        }
        let id = self.run_id(self.runs.len() - 1);
        let compact = self.runs.back_mut().and_then(|run| {
            let start = u32::try_from(run.base + run.text.len()).ok()?;
            let len = u32::try_from(text.len()).ok()?;
            start.checked_add(len)?;
            Some((run, start, len, at.timestamp_nanos_opt()?))
        });
        let Some((run, start, len, at_ns)) = compact else {
            // Out of the compact form's range (a reply of gigabytes, a time past 2262): keep
            // the frame itself.
            self.drop_empty_last_run();
            let mut buf = Vec::new();
            frames.write(&mut buf, text, at, seq);
            self.push(seq, Arc::from(String::from_utf8_lossy(&buf)));
            return;
        };
        run.text.push_str(text);
        run.held += 1;
        self.bytes += text.len() + ENTRY;
        let entry = Entry::Chunk {
            run: id,
            start,
            len,
            at: at_ns,
        };
        self.frames.push_back((seq, entry));
        self.evict();
    }

    /// The id of `runs[index]`.
    fn run_id(&self, index: usize) -> u32 {
        // Ids wrap: only their differences within the window matter.
        self.first_run.wrapping_add(index as u32)
    }

    /// The index in `runs` of run `id`.
    fn run_index(&self, id: u32) -> usize {
        id.wrapping_sub(self.first_run) as usize
    }

    /// Removes a run just opened that no chunk went into.
    fn drop_empty_last_run(&mut self) {
        if self.runs.back().is_some_and(|run| run.held == 0) {
            self.runs.pop_back();
        }
    }

    /// Drops the oldest frames while over a bound; the newest frame always stays.
    fn evict(&mut self) {
        while self.frames.len() > self.max_frames
            || (self.bytes > self.max_bytes && self.frames.len() > 1)
        {
            let Some((_, old)) = self.frames.pop_front() else {
                return;
            };
            match old {
                Entry::Frame(frame) => self.bytes -= frame.len() + ENTRY,
                Entry::Chunk {
                    run, start, len, ..
                } => {
                    self.bytes -= len as usize + ENTRY;
                    self.release(run, start as usize + len as usize);
                }
            }
        }
    }

    /// A chunk of run `id` ending at offset `end` was evicted.
    fn release(&mut self, id: u32, end: usize) {
        let index = self.run_index(id);
        let Some(run) = self.runs.get_mut(index) else {
            return;
        };
        run.held -= 1;
        if run.held == 0 {
            // Chunks leave in order, so the runs before this one are gone already.
            debug_assert_eq!(index, 0, "runs are released oldest first");
            if index == 0 {
                self.runs.pop_front();
                self.first_run = self.first_run.wrapping_add(1);
            }
            return;
        }
        // A reply longer than the window: drop the text no held chunk refers to.
        let dead = end - run.base;
        if dead >= RUN_TRIM && dead * 2 >= run.text.len() {
            run.text.drain(..dead);
            run.base = end;
        }
    }

    /// The frame of one entry, as it was sent (`None` if its run were missing, which the
    /// order of eviction rules out).
    fn frame(&self, seq: u64, entry: &Entry, buf: &mut Vec<u8>) -> Option<Arc<str>> {
        match entry {
            Entry::Frame(frame) => Some(Arc::clone(frame)),
            Entry::Chunk {
                run,
                start,
                len,
                at,
            } => {
                let run = self.runs.get(self.run_index(*run))?;
                let from = (*start as usize).checked_sub(run.base)?;
                let text = run.text.get(from..from + *len as usize)?;
                run.frames
                    .write(buf, text, DateTime::from_timestamp_nanos(*at), seq);
                Some(Arc::from(String::from_utf8_lossy(buf)))
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
            Some(&(oldest, _)) if oldest <= last_seq + 1 => {
                let mut buf = Vec::new();
                let frames: Option<Vec<_>> = self
                    .frames
                    .iter()
                    .filter(|(s, _)| *s > last_seq)
                    .map(|(seq, entry)| self.frame(*seq, entry, &mut buf))
                    .collect();
                frames.map_or(Replay::Gap, Replay::Complete)
            }
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

    fn template(model: &str) -> Arc<ChunkFrames> {
        let id = chatbox_core::SessionId::parse("s1").unwrap();
        Arc::new(ChunkFrames::new(&id, model))
    }

    /// The frame `frames` writes for a chunk: what went out live.
    fn written(frames: &ChunkFrames, text: &str, at: DateTime<Utc>, seq: u64) -> Arc<str> {
        let mut buf = Vec::new();
        frames.write(&mut buf, text, at, seq);
        Arc::from(String::from_utf8(buf).unwrap())
    }

    fn at(ns: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(1_790_000_000_000_000_000 + ns)
    }

    #[test]
    fn chunks_are_replayed_byte_for_byte_between_other_frames_and_across_replies() {
        let mut b = ReplayBuffer::new(100, 1 << 20);
        let (first, second) = (template("gpt"), template("claude"));
        let mut sent = Vec::new();
        b.push(1, frame("loading"));
        sent.push(frame("loading"));
        for (seq, text) in [(2, "Hel"), (3, "lo, \"wörld\"\n\u{1}"), (4, "")] {
            b.push_chunk(seq, &first, text, at(seq as i64 * 1_001));
            sent.push(written(&first, text, at(seq as i64 * 1_001), seq));
        }
        b.push(5, frame("done"));
        sent.push(frame("done"));
        for (seq, text) in [(6, "é🙂"), (7, "second reply")] {
            b.push_chunk(seq, &second, text, at(seq as i64));
            sent.push(written(&second, text, at(seq as i64), seq));
        }
        assert_eq!(b.runs.len(), 2, "one run per reply");
        assert_eq!(b.since(0, 7), Replay::Complete(sent.clone()));
        assert_eq!(b.since(3, 7), Replay::Complete(sent[3..].to_vec()));
        assert_eq!(b.since(6, 7), Replay::Complete(sent[6..].to_vec()));
    }

    #[test]
    fn a_chunk_costs_its_text_and_a_slot_not_its_frame() {
        let frames = template("gpt");
        let frame_len = written(&frames, "abcd", at(0), 1).len();
        assert!(frame_len > 4 * ENTRY, "a frame is far bigger than a slot");
        // Room for ten chunks of four bytes, far fewer frames.
        let mut b = ReplayBuffer::new(1000, 10 * (4 + ENTRY));
        for seq in 1..=10 {
            b.push_chunk(seq, &frames, "abcd", at(0));
        }
        assert_eq!(b.len(), 10);
        b.push_chunk(11, &frames, "abcd", at(0));
        assert_eq!(b.len(), 10, "the oldest chunk went");
        assert_eq!(b.since(0, 11), Replay::Gap);
        assert!(matches!(b.since(1, 11), Replay::Complete(v) if v.len() == 10));
    }

    #[test]
    fn evicted_replies_free_their_text_and_a_long_reply_its_start() {
        let mut b = ReplayBuffer::new(4, 1 << 20);
        let old = template("gpt");
        b.push_chunk(1, &old, "old reply", at(0));
        let long = template("gpt");
        let piece = "x".repeat(1000);
        for seq in 2..=40 {
            b.push_chunk(seq, &long, &piece, at(seq as i64));
        }
        assert_eq!(
            b.runs.len(),
            1,
            "the old reply's run went with its last chunk"
        );
        let run = &b.runs[0];
        assert!(
            run.text.len() <= 4 * 1000 + RUN_TRIM * 2,
            "the long reply's evicted start was dropped: {} bytes kept",
            run.text.len()
        );
        let expect: Vec<_> = (37..=40)
            .map(|seq| written(&long, &piece, at(seq as i64), seq))
            .collect();
        assert_eq!(b.since(36, 40), Replay::Complete(expect));
        b.push(41, frame("done"));
        b.push(42, frame("a"));
        b.push(43, frame("b"));
        b.push(44, frame("c"));
        assert!(b.runs.is_empty(), "no chunk held, no run kept");
    }

    #[test]
    fn a_chunk_out_of_the_compact_range_is_kept_as_its_frame() {
        let mut b = ReplayBuffer::new(10, 1 << 20);
        let frames = template("gpt");
        let far = DateTime::parse_from_rfc3339("2300-01-01T00:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        b.push_chunk(1, &frames, "later", far);
        b.push_chunk(2, &frames, "now", at(5));
        assert_eq!(
            b.since(0, 2),
            Replay::Complete(vec![
                written(&frames, "later", far, 1),
                written(&frames, "now", at(5), 2)
            ])
        );
    }
}
