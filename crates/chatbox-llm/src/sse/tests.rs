//! Tests of the SSE parser: field rules, line endings, comments, large events, and the guarantee
//! that any chunking of the same bytes yields the same events.

use super::*;
use proptest::prelude::*;

fn parse_chunks(chunks: &[&[u8]]) -> Result<Vec<(String, String)>, SseError> {
    let mut parser = Parser::new();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, |e| {
            out.push((e.name.to_owned(), e.data.into_owned()))
        })?;
    }
    Ok(out)
}

fn parse(input: &str) -> Vec<(String, String)> {
    parse_chunks(&[input.as_bytes()]).unwrap()
}

fn ev(name: &str, data: &str) -> (String, String) {
    (name.to_owned(), data.to_owned())
}

#[test]
fn data_lines_join_with_newline_and_blank_line_dispatches() {
    assert_eq!(
        parse("data: a\ndata: b\n\ndata:c\n\n"),
        vec![ev("", "a\nb"), ev("", "c")]
    );
}

#[test]
fn event_names_comments_and_unknown_fields() {
    let got = parse(": keep-alive\nevent: ping\nid: 7\nretry: 10\ndata: {}\n\nevent: x\n\n");
    // The second event has no data, so per the SSE rules it is not dispatched.
    assert_eq!(got, vec![ev("ping", "{}")]);
}

#[test]
fn crlf_and_lone_cr_end_lines() {
    assert_eq!(
        parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n"),
        vec![ev("", "a"), ev("", "b"), ev("", "c")]
    );
}

#[test]
fn crlf_split_across_reads_is_one_line_end() {
    let got = parse_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).unwrap();
    assert_eq!(got, vec![ev("", "a\nb")]);
}

#[test]
fn only_one_leading_space_is_stripped_and_missing_colon_means_empty_value() {
    assert_eq!(parse("data:  two\ndata\n\n"), vec![ev("", " two\n")]);
}

#[test]
fn leading_bom_is_dropped_even_when_split() {
    let got = parse_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]).unwrap();
    assert_eq!(got, vec![ev("", "x")]);
}

#[test]
fn incomplete_event_is_reported_as_partial() {
    let mut parser = Parser::new();
    let mut n = 0;
    parser.feed(b"data: done\n\ndata: cut", |_| n += 1).unwrap();
    assert_eq!(n, 1);
    assert!(parser.has_partial_event());
    let mut clean = Parser::new();
    clean.feed(b"data: done\n\n", |_| {}).unwrap();
    assert!(!clean.has_partial_event());
}

#[test]
fn a_200_kb_line_arrives_whole_when_fed_in_small_pieces() {
    let big = "x".repeat(200 * 1024);
    let input = format!("data: {big}\n\n");
    let chunks: Vec<&[u8]> = input.as_bytes().chunks(1000).collect();
    let got = parse_chunks(&chunks).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), 200 * 1024);
}

#[test]
fn an_event_over_the_bound_is_an_error_not_a_truncation() {
    let mut parser = Parser::with_max_event(16);
    let err = parser
        .feed(b"data: 0123456789abcdefXYZ\n\n", |_| {})
        .unwrap_err();
    assert_eq!(err, SseError::EventTooLarge);
}

#[test]
fn invalid_utf8_is_replaced_not_dropped() {
    let got = parse_chunks(&[b"data: a\xFFb\n\n"]).unwrap();
    assert_eq!(got, vec![ev("", "a\u{FFFD}b")]);
}

#[test]
fn multibyte_characters_split_across_reads_survive() {
    let input = "data: héllo wörld ✓\n\n".as_bytes();
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        parse_chunks(&chunks).unwrap(),
        vec![ev("", "héllo wörld ✓")]
    );
}

fn sse_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z✓ ]{0,12}".prop_map(|v| format!("data: {v}")),
        "[a-z]{0,6}".prop_map(|v| format!("event: {v}")),
        "[a-z ]{0,6}".prop_map(|v| format!(": {v}")),
        Just(String::new()),
    ]
}

fn line_end() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_events(
        lines in proptest::collection::vec((sse_line(), line_end()), 0..40),
        cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..12),
    ) {
        let input: String = lines.iter().map(|(l, e)| format!("{l}{e}")).collect();
        let bytes = input.as_bytes();
        let whole = parse_chunks(&[bytes]).unwrap();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&bytes[start..p]);
            start = p;
        }
        chunks.push(&bytes[start..]);
        prop_assert_eq!(parse_chunks(&chunks).unwrap(), whole);
    }
}
