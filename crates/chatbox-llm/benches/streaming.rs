//! Benchmarks of the streaming path: the SSE parser alone (small events, as vendors send one
//! per token) and a provider streaming 10 000 chunks from its fake vendor over loopback HTTP.
//! Criterion's element throughput gives events/s and chunks/s; time per iteration divided by
//! the element count is the per-chunk overhead.

use std::hint::black_box;
use std::time::Duration;

use chatbox_core::ports::llm::{ChatMessage, ChatRequest, Chunk};
use chatbox_llm::fake::{FakeVendor, Reply};
use chatbox_llm::sse::Parser;
use chatbox_llm::{ClientConfig, ProviderKind, build_client, build_provider};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;

const EVENTS: usize = 10_000;
/// Reads of this size, like a socket delivering a busy stream.
const READ_SIZE: usize = 4096;

fn openai_like_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..EVENTS {
        out.extend_from_slice(
            format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}}}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    out
}

fn tiny_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..EVENTS {
        out.extend_from_slice(format!("event: d\ndata: t{}\n\n", i % 10).as_bytes());
    }
    out
}

fn parse_all(input: &[u8]) -> usize {
    let mut parser = Parser::new();
    let mut events = 0usize;
    for read in input.chunks(READ_SIZE) {
        parser
            .feed(read, |event| {
                black_box(&event);
                events += 1;
            })
            .unwrap_or_default();
    }
    events
}

fn sse_parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_parser");
    group.throughput(Throughput::Elements(EVENTS as u64));
    let tiny = tiny_stream();
    group.bench_function("tiny_events", |b| b.iter(|| parse_all(black_box(&tiny))));
    let openai = openai_like_stream();
    group.bench_function("openai_chunk_events", |b| {
        b.iter(|| parse_all(black_box(&openai)))
    });
    group.finish();
}

fn provider_stream(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let mut group = c.benchmark_group("provider_stream_10k_chunks");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    let chunks: Vec<String> = (0..EVENTS).map(|i| format!("tok{i} ")).collect();
    for kind in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Dify,
    ] {
        let Ok(fake) = runtime.block_on(FakeVendor::start(kind)) else {
            return;
        };
        let Ok(client) = build_client(&ClientConfig::default()) else {
            return;
        };
        let Ok(provider) = build_provider(&fake.provider_config(), client) else {
            return;
        };
        let request = ChatRequest {
            system_prompt: None,
            messages: vec![ChatMessage::user("go")],
            conversation_key: "bench".into(),
            user_key: "bench".into(),
        };
        group.bench_function(format!("{kind:?}").to_lowercase(), |b| {
            b.iter(|| {
                fake.push(Reply::text(chunks.clone()));
                runtime.block_on(async {
                    let mut stream = provider.stream_chat(request.clone());
                    let mut texts = 0usize;
                    while let Some(Ok(chunk)) = stream.next().await {
                        match chunk {
                            Chunk::Text(_) => texts += 1,
                            Chunk::Finished(_) => break,
                        }
                    }
                    texts
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sse_parser, provider_stream);
criterion_main!(benches);
