//! The streaming engine shared by every vendor: one lazy [`ChunkStream`] per reply.
//!
//! Guarantees:
//! - nothing is sent until the stream is first polled, and dropping it drops the HTTP response
//!   body, which closes the connection (the request is aborted);
//! - the stream yields `Text*` then exactly one `Finished`, or ends with exactly one `Err`; a
//!   body that ends without the vendor's terminator, or carries an error event, is an `Err`;
//! - failures before the first text token are retried with jittered backoff when retryable;
//!   after a token has been yielded nothing is replayed;
//! - the first-token, idle and total deadlines are enforced here with `tokio::time`;
//! - usage is the vendor's when reported, otherwise a chars/4 estimate marked `estimated`.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use chatbox_core::LlmError;
use chatbox_core::ports::llm::{ChatRequest, Chunk, ChunkStream, TimeoutPhase, Usage};
use std::future::Future as _;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::backoff::{self, Decision};
use crate::classify;
use crate::history;
use crate::provider::Inner;
use crate::sse;
use crate::wire::{Decode, Decoded, Wire};

/// The most bytes read after a vendor's terminator to let the connection be reused.
const MAX_DRAIN_BYTES: usize = 64 * 1024;
/// The longest wait for the end of a body after the vendor's terminator.
const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// The most bytes of an error response body read for classification.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A lazy reply stream for `request`.
pub(crate) fn chat_stream<W: Wire>(inner: Arc<Inner<W>>, request: ChatRequest) -> ChunkStream {
    let driver = Driver {
        inner,
        request,
        deadline: None,
        body: None,
        retry: 0,
        emitted: false,
        done: false,
        pending_error: None,
        queue: VecDeque::new(),
        decoded: Vec::new(),
        reply_chars: 0,
        input_tokens: None,
        output_tokens: None,
    };
    // Boxed: `unfold` moves its state into and out of every item's future, and a driver is
    // hundreds of bytes (that copy showed in the relay profile); a box moves as a pointer.
    futures::stream::unfold(Box::new(driver), |mut driver| async move {
        let item = driver.next().await?;
        Some((item, driver))
    })
    .boxed()
}

/// An open response body being parsed.
struct Body<D> {
    bytes: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: sse::Parser,
    decoder: D,
    first_token_deadline: Instant,
    /// When the last bytes arrived (the idle deadline counts from here).
    last_read: Instant,
    /// One timer for the body's deadlines, re-armed only when it fires early (when bytes came
    /// meanwhile), never per chunk: a chunk costs no timer operation.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

struct Driver<W: Wire> {
    inner: Arc<Inner<W>>,
    request: ChatRequest,
    /// The total deadline, fixed at the first poll.
    deadline: Option<Instant>,
    body: Option<Body<W::Decoder>>,
    /// Retries done so far.
    retry: u32,
    /// Whether a text chunk was decoded (from then on nothing is retried).
    emitted: bool,
    /// Whether the terminal item (`Finished` or `Err`) was yielded.
    done: bool,
    /// A failure to report once the queued text is delivered.
    pending_error: Option<LlmError>,
    queue: VecDeque<Chunk>,
    decoded: Vec<Decoded>,
    reply_chars: usize,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// What the next step of the driver produced.
enum Step {
    /// Keep going (items may have been queued).
    Continue,
    /// A failure, to retry or report.
    Failed(LlmError),
}

impl<W: Wire> Driver<W> {
    async fn next(&mut self) -> Option<Result<Chunk, LlmError>> {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.inner.timeouts.total());
        loop {
            if let Some(chunk) = self.queue.pop_front() {
                if matches!(chunk, Chunk::Finished(_)) {
                    self.finish();
                    self.inner.health.record_success();
                }
                return Some(Ok(chunk));
            }
            if let Some(error) = self.pending_error.take() {
                self.finish();
                self.inner.health.record_failure(&error);
                tracing::warn!(
                    provider = %self.inner.id,
                    vendor = self.inner.wire.vendor(),
                    code = ?error.code(),
                    error = %error,
                    retries = self.retry,
                    after_first_token = self.emitted,
                    "llm reply failed"
                );
                return Some(Err(error));
            }
            if self.done {
                return None;
            }
            let step = match self.body.as_mut() {
                None => self.connect(deadline).await,
                Some(_) => self.read(deadline).await,
            };
            if let Step::Failed(error) = step
                && let Some(error) = self.retry_or_report(error, deadline).await
            {
                // Text decoded before the failure is still delivered, then the error.
                self.body = None;
                self.pending_error = Some(error);
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.body = None;
        self.queue.clear();
    }

    /// Sends the request and opens the body (bounded by the first-token deadline).
    async fn connect(&mut self, deadline: Instant) -> Step {
        let first_token_deadline = Instant::now() + self.inner.timeouts.first_token();
        let until = first_token_deadline.min(deadline);
        let send = self
            .inner
            .wire
            .chat_request(&self.inner.http, &self.request)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send();
        let response = match timeout_at(until, send).await {
            Err(_) => return Step::Failed(timeout(until, deadline, TimeoutPhase::FirstToken)),
            Ok(Err(error)) => return Step::Failed(classify::from_reqwest(error)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body: Vec<u8> = timeout_at(until, read_bounded(response))
                .await
                .unwrap_or_default();
            let error = self
                .inner
                .wire
                .classify(&self.request, status, &headers, &body);
            return Step::Failed(error);
        }
        self.body = Some(Body {
            bytes: response.bytes_stream().boxed(),
            parser: sse::Parser::new(),
            decoder: self.inner.wire.decoder(&self.request),
            first_token_deadline,
            last_read: Instant::now(),
            timer: Box::pin(sleep_until(first_token_deadline.min(deadline))),
        });
        Step::Continue
    }

    /// Reads and decodes the next piece of the body.
    async fn read(&mut self, deadline: Instant) -> Step {
        let Some(body) = self.body.as_mut() else {
            return Step::Continue;
        };
        let emitted = self.emitted;
        let idle = self.inner.timeouts.idle();
        // The deadline now: idle after the first token, first-token before; never past the
        // total.
        let due = |body: &Body<W::Decoder>| {
            let (until, phase) = if emitted {
                (body.last_read + idle, TimeoutPhase::Idle)
            } else {
                (body.first_token_deadline, TimeoutPhase::FirstToken)
            };
            (until.min(deadline), phase)
        };
        // The deadline only moves later while bytes come, except when the first token switches
        // the phase: then an earlier idle deadline re-arms the timer.
        let (until, _) = due(body);
        if until < body.timer.deadline() {
            body.timer.as_mut().reset(until);
        }
        let next = std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(item) = body.bytes.poll_next_unpin(cx) {
                return std::task::Poll::Ready(Ok(item));
            }
            loop {
                std::task::ready!(body.timer.as_mut().poll(cx));
                let (until, phase) = due(body);
                if Instant::now() >= until {
                    return std::task::Poll::Ready(Err((until, phase)));
                }
                body.timer.as_mut().reset(until);
            }
        })
        .await;
        let bytes = match next {
            Err((until, phase)) => return Step::Failed(timeout(until, deadline, phase)),
            Ok(None) => {
                return Step::Failed(LlmError::Protocol(
                    "stream ended without the vendor's terminator".into(),
                ));
            }
            Ok(Some(Err(error))) => return Step::Failed(classify::from_reqwest(error)),
            Ok(Some(Ok(bytes))) => bytes,
        };
        body.last_read = Instant::now();
        let Body {
            parser, decoder, ..
        } = body;
        let decoded = &mut self.decoded;
        if let Err(error) = parser.feed(&bytes, |event| decoder.event(&event, decoded)) {
            return Step::Failed(LlmError::Protocol(error.to_string()));
        }
        let mut items = std::mem::take(&mut self.decoded);
        let step = self.apply(items.drain(..));
        self.decoded = items;
        step
    }

    fn apply(&mut self, items: impl Iterator<Item = Decoded>) -> Step {
        for item in items {
            match item {
                Decoded::Text(text) => {
                    if text.is_empty() {
                        continue;
                    }
                    self.emitted = true;
                    self.reply_chars += text.chars().count();
                    self.queue.push_back(Chunk::Text(text));
                }
                Decoded::Usage { input, output } => {
                    self.input_tokens = input.or(self.input_tokens);
                    self.output_tokens = output.or(self.output_tokens);
                }
                Decoded::Done => {
                    let usage = self.usage();
                    self.queue.push_back(Chunk::Finished(usage));
                    // Whatever follows the terminator is not part of the reply; reading it to
                    // the end in the background lets HTTP/1.1 reuse the connection.
                    if let Some(body) = self.body.take() {
                        drain_in_background(body.bytes);
                    }
                    return Step::Continue;
                }
                Decoded::Error(error) => return Step::Failed(error),
            }
        }
        Step::Continue
    }

    fn usage(&self) -> Usage {
        let estimate_in = || history::estimate_tokens(self.inner.wire.prompt_chars(&self.request));
        let estimate_out = || history::estimate_tokens(self.reply_chars);
        Usage {
            input_tokens: self.input_tokens.unwrap_or_else(estimate_in),
            output_tokens: self.output_tokens.unwrap_or_else(estimate_out),
            estimated: self.input_tokens.is_none() || self.output_tokens.is_none(),
        }
    }

    /// Sleeps and returns `None` when the failure will be retried, or the error to report.
    async fn retry_or_report(&mut self, error: LlmError, deadline: Instant) -> Option<LlmError> {
        // Text already decoded cannot be taken back: the error ends the reply.
        if self.emitted || !error.is_retryable() {
            return Some(error);
        }
        let retry_after = match &error {
            LlmError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        let decision =
            backoff::decide(&self.inner.retry, self.retry, retry_after, &mut rand::rng());
        let Decision::RetryAfter(delay) = decision else {
            return Some(error);
        };
        let wake = Instant::now() + delay;
        if wake >= deadline {
            return Some(error);
        }
        tracing::debug!(
            provider = %self.inner.id,
            code = ?error.code(),
            retry = self.retry + 1,
            delay_ms = delay.as_millis() as u64,
            "retrying llm request before the first token"
        );
        self.body = None;
        self.queue.clear();
        self.input_tokens = None;
        self.output_tokens = None;
        sleep_until(wake).await;
        self.retry += 1;
        None
    }
}

fn timeout(until: Instant, deadline: Instant, phase: TimeoutPhase) -> LlmError {
    let phase = if until >= deadline {
        TimeoutPhase::Total
    } else {
        phase
    };
    LlmError::Timeout { phase }
}

/// Reads the rest of a finished body (bounded in time and size) so its connection can return
/// to the pool; without a runtime, or past the bounds, the body is simply dropped (closing it).
fn drain_in_background(mut bytes: BoxStream<'static, reqwest::Result<Bytes>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let drain = async {
            let mut left = MAX_DRAIN_BYTES;
            while let Some(Ok(chunk)) = bytes.next().await {
                left = left.saturating_sub(chunk.len());
                if left == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(MAX_DRAIN_TIME, drain).await;
    });
}

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error response.
async fn read_bounded(response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = response.bytes_stream();
    while let Some(Ok(chunk)) = bytes.next().await {
        let room = MAX_ERROR_BODY.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    out
}
