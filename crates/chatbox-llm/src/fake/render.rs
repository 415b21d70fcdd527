//! Each vendor's wire format as the fakes write it: SSE events of a streamed reply, error
//! bodies, transcripts. Shapes follow the vendors' documented streams (ids and timestamps are
//! fixed so transcripts are reproducible).

use serde_json::{Value, json};

use super::script::{Ending, StatusReply, StreamReply};
use crate::config::ProviderKind;

/// One step of writing a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write these bytes as one HTTP chunk.
    Write(Vec<u8>),
    /// Pause.
    Sleep(std::time::Duration),
}

/// What the request asked for, as far as rendering cares.
pub(crate) struct Context<'a> {
    pub(crate) model: &'a str,
    pub(crate) include_usage: bool,
    pub(crate) conversation_id: &'a str,
}

fn sse(name: Option<&str>, data: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
    out
}

/// The body steps of a streamed reply, and whether the connection is then reset or stalled
/// (told apart by the caller from `reply.ending`).
pub(crate) fn stream(kind: ProviderKind, reply: &StreamReply, ctx: &Context<'_>) -> Vec<Step> {
    let mut steps = Vec::with_capacity(reply.chunks.len() * 2 + 6);
    if !reply.first_delay.is_zero() {
        steps.push(Step::Sleep(reply.first_delay));
    }
    match kind {
        ProviderKind::Openai => openai(reply, ctx, &mut steps),
        ProviderKind::Anthropic => anthropic(reply, ctx, &mut steps),
        ProviderKind::Dify => dify(reply, ctx, &mut steps),
    }
    steps
}

fn deltas(reply: &StreamReply, steps: &mut Vec<Step>, frame: impl Fn(usize, &str) -> Vec<u8>) {
    for (i, chunk) in reply.chunks.iter().enumerate() {
        if i > 0 && !reply.chunk_delay.is_zero() {
            steps.push(Step::Sleep(reply.chunk_delay));
        }
        steps.push(Step::Write(frame(i, chunk)));
    }
}

fn openai(reply: &StreamReply, ctx: &Context<'_>, steps: &mut Vec<Step>) {
    let chunk = |choices: Value| {
        json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1_700_000_000,
               "model":ctx.model,"choices":choices})
    };
    deltas(reply, steps, |i, text| {
        let delta = if i == 0 {
            json!({"role":"assistant","content":text})
        } else {
            json!({"content":text})
        };
        sse(
            None,
            &chunk(json!([{"index":0,"delta":delta,"finish_reason":null}])),
        )
    });
    match reply.ending {
        Ending::Complete => {
            steps.push(Step::Write(sse(
                None,
                &chunk(json!([{"index":0,"delta":{},"finish_reason":"stop"}])),
            )));
            if let (Some(usage), true) = (reply.usage, ctx.include_usage) {
                let mut last = chunk(json!([]));
                last["usage"] = json!({"prompt_tokens":usage.input,"completion_tokens":usage.output,
                                       "total_tokens":usage.input + usage.output});
                steps.push(Step::Write(sse(None, &last)));
            }
            steps.push(Step::Write(b"data: [DONE]\n\n".to_vec()));
        }
        Ending::ErrorEvent => steps.push(Step::Write(sse(
            None,
            &json!({"error":{"message":"The server had an error while processing your request.",
                             "type":"server_error","param":null,"code":null}}),
        ))),
        Ending::Truncated | Ending::Reset | Ending::Stall => {}
    }
}

fn anthropic(reply: &StreamReply, ctx: &Context<'_>, steps: &mut Vec<Step>) {
    let input = reply.usage.map(|u| u.input);
    let mut usage = json!({"input_tokens": input, "output_tokens": 1});
    if input.is_none() {
        usage = Value::Null;
    }
    steps.push(Step::Write(sse(
        Some("message_start"),
        &json!({"type":"message_start","message":{"id":"msg_fake","type":"message","role":"assistant",
                "content":[],"model":ctx.model,"stop_reason":null,"stop_sequence":null,"usage":usage}}),
    )));
    steps.push(Step::Write(sse(
        Some("content_block_start"),
        &json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
    )));
    steps.push(Step::Write(sse(Some("ping"), &json!({"type":"ping"}))));
    deltas(reply, steps, |_, text| {
        sse(
            Some("content_block_delta"),
            &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}}),
        )
    });
    match reply.ending {
        Ending::Complete => {
            steps.push(Step::Write(sse(
                Some("content_block_stop"),
                &json!({"type":"content_block_stop","index":0}),
            )));
            let mut delta = json!({"type":"message_delta",
                                   "delta":{"stop_reason":"end_turn","stop_sequence":null}});
            if let Some(usage) = reply.usage {
                delta["usage"] = json!({"output_tokens": usage.output});
            }
            steps.push(Step::Write(sse(Some("message_delta"), &delta)));
            steps.push(Step::Write(sse(
                Some("message_stop"),
                &json!({"type":"message_stop"}),
            )));
        }
        Ending::ErrorEvent => steps.push(Step::Write(sse(
            Some("error"),
            &json!({"type":"error","error":{"type":"api_error","message":"Internal server error"}}),
        ))),
        Ending::Truncated | Ending::Reset | Ending::Stall => {}
    }
}

fn dify(reply: &StreamReply, ctx: &Context<'_>, steps: &mut Vec<Step>) {
    // Dify sends keep-alive pings as bare `event: ping` blocks.
    steps.push(Step::Write(b"event: ping\n\n".to_vec()));
    let base = |event: &str| {
        json!({"event":event,"task_id":"task-fake","message_id":"msg-fake","id":"msg-fake",
               "conversation_id":ctx.conversation_id,"created_at":1_700_000_000})
    };
    deltas(reply, steps, |_, text| {
        let mut message = base("message");
        message["answer"] = json!(text);
        sse(None, &message)
    });
    match reply.ending {
        Ending::Complete => {
            let mut end = base("message_end");
            end["metadata"] = match reply.usage {
                Some(usage) => json!({"usage":{"prompt_tokens":usage.input,
                    "completion_tokens":usage.output,"total_tokens":usage.input + usage.output,
                    "currency":"USD","latency":0.1}}),
                None => json!({}),
            };
            steps.push(Step::Write(sse(None, &end)));
        }
        Ending::ErrorEvent => {
            let mut error = base("error");
            error["status"] = json!(500);
            error["code"] = json!("internal_server_error");
            error["message"] = json!("Internal Server Error");
            steps.push(Step::Write(sse(None, &error)));
        }
        Ending::Truncated | Ending::Reset | Ending::Stall => {}
    }
}

/// The status and JSON error body a vendor sends for a refusal.
pub(crate) fn error(kind: ProviderKind, reply: &StatusReply) -> (u16, Value) {
    let status = match (kind, reply.overloaded) {
        (ProviderKind::Anthropic, true) => 529,
        _ => reply.status,
    };
    let body = match kind {
        ProviderKind::Openai => {
            let (kind, code) = match status {
                401 => ("invalid_request_error", Some("invalid_api_key")),
                429 => ("requests", Some("rate_limit_exceeded")),
                400..=499 => ("invalid_request_error", None),
                _ => ("server_error", None),
            };
            json!({"error":{"message":format!("fake refusal with status {status}"),
                            "type":kind,"param":null,"code":code}})
        }
        ProviderKind::Anthropic => {
            let kind = match status {
                _ if reply.overloaded => "overloaded_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            };
            json!({"type":"error","error":{"type":kind,"message":format!("fake {kind}")}})
        }
        ProviderKind::Dify => {
            let code = match status {
                401 => "unauthorized",
                404 => "not_found",
                429 => "too_many_requests",
                400..=499 => "invalid_param",
                _ => "internal_server_error",
            };
            json!({"code":code,"message":format!("fake {code}"),"status":status})
        }
    };
    (status, body)
}
