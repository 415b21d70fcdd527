//! One Server-Sent Events parser for every vendor: a pure, byte-level state machine.
//!
//! It follows the WHATWG event-stream rules that matter to LLM vendors: `data:` lines accumulate
//! (joined by `\n`), `event:` names the event, lines starting with `:` are comments, a blank line
//! dispatches, and lines may end in LF, CRLF or a lone CR, even when the CR and LF arrive in
//! different reads. Input may be cut anywhere (mid-line, mid-UTF-8 sequence) and the same events
//! come out. There is no line-length cap that truncates data: the only bound is
//! [`MAX_EVENT_BYTES`] per event, and exceeding it is an error, never a silently shortened reply.
//! Buffers are reused between events, so steady-state parsing does not allocate.

use std::borrow::Cow;

/// The most bytes one event (its data lines together) may hold before the parser gives up.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event, borrowing the parser's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` name, empty when none was given (the SSE default type "message").
    pub name: &'a str,
    /// The data lines joined by `\n`, invalid UTF-8 replaced by U+FFFD.
    pub data: Cow<'a, str>,
}

/// The stream cannot be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event grew past [`MAX_EVENT_BYTES`].
    #[error("server-sent event larger than {MAX_EVENT_BYTES} bytes")]
    EventTooLarge,
}

/// The incremental parser. Feed it bytes as they arrive; it calls back once per complete event.
#[derive(Debug)]
pub struct Parser {
    /// The current, incomplete line (only used when a line spans two reads).
    line: Vec<u8>,
    /// Accumulated `data:` values of the event being built, each followed by `\n`.
    data: Vec<u8>,
    /// The `event:` name of the event being built.
    name: Vec<u8>,
    /// Whether any `data:` line was seen for the event being built.
    has_data: bool,
    /// The previous read ended in CR, so a leading LF in the next read ends nothing.
    after_cr: bool,
    /// Still at the very start of the stream (a UTF-8 BOM there is dropped).
    at_start: bool,
    max_event: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with the default [`MAX_EVENT_BYTES`] bound.
    pub fn new() -> Self {
        Self::with_max_event(MAX_EVENT_BYTES)
    }

    /// A parser with a custom bound on one event's size, in bytes.
    pub fn with_max_event(max_event: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            name: Vec::new(),
            has_data: false,
            after_cr: false,
            at_start: true,
            max_event,
        }
    }

    /// Parses `input`, calling `on_event` for each event completed by it. Partial lines are kept
    /// for the next call.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if self.at_start {
            // The BOM may itself be split across reads; wait for three bytes to decide.
            let buffered = self.line.len();
            if buffered + input.len() < 3
                && b"\xEF\xBB\xBF".starts_with(&[&self.line[..], input].concat())
            {
                self.line.extend_from_slice(input);
                return Ok(());
            }
            self.at_start = false;
            if buffered > 0 {
                let mut joined = std::mem::take(&mut self.line);
                joined.extend_from_slice(input);
                let rest = joined.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&joined[..]);
                return self.feed_body(rest, &mut on_event);
            }
            input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
        }
        self.feed_body(input, &mut on_event)
    }

    fn feed_body(
        &mut self,
        mut input: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if input.is_empty() {
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = input.strip_prefix(b"\n") {
                input = rest;
            }
        }
        while let Some(pos) = input.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = input.split_at(pos);
            let is_cr = tail.first() == Some(&b'\r');
            input = tail.get(1..).unwrap_or_default();
            if is_cr {
                match input.first() {
                    Some(b'\n') => input = input.get(1..).unwrap_or_default(),
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.line.is_empty() {
                self.process_line(head, on_event)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(head);
                let result = self.process_line(&line, on_event);
                line.clear();
                self.line = line;
                result?;
            }
        }
        if !input.is_empty() {
            if self.line.len() + input.len() > self.max_event {
                return Err(SseError::EventTooLarge);
            }
            self.line.extend_from_slice(input);
        }
        Ok(())
    }

    fn process_line(
        &mut self,
        line: &[u8],
        on_event: &mut impl FnMut(Event<'_>),
    ) -> Result<(), SseError> {
        if line.is_empty() {
            self.dispatch(on_event);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_event {
                    return Err(SseError::EventTooLarge);
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
                self.has_data = true;
            }
            b"event" => {
                self.name.clear();
                self.name.extend_from_slice(value);
            }
            // `id` and `retry` matter for browser reconnection, which a one-shot reply never uses.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        if self.has_data {
            let data = self.data.strip_suffix(b"\n").unwrap_or(&self.data[..]);
            let name = std::str::from_utf8(&self.name).unwrap_or_default();
            on_event(Event {
                name,
                data: String::from_utf8_lossy(data),
            });
        }
        self.data.clear();
        self.name.clear();
        self.has_data = false;
    }

    /// True when bytes of an unfinished event are buffered (a stream ending now was cut short).
    pub fn has_partial_event(&self) -> bool {
        self.has_data || !self.line.is_empty()
    }
}

#[cfg(test)]
mod tests;
