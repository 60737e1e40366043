//! The line assembler (pipe bytes → records): no byte lost, added or reordered; no record
//! longer than MAX_LINE; only pieces of an over-long line are partial.
//!
//! Input: byte 0 picks the read size (1..=256 × 64 bytes), the rest is the stream, where
//! `0xFF n b` stands for `n × 256` copies of byte `b` so that short inputs reach lines longer
//! than MAX_LINE (16 KiB); the expanded stream is capped at a few times MAX_LINE.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::config::model::MAX_LINE;
use phpeek_pm_fuzz::output::lines::Lines;

/// Longest expanded stream: a few over-long lines' worth, so an input stays fast to run.
const STREAM_LIMIT: usize = 4 * MAX_LINE + 4096;

fn stream(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() && out.len() < STREAM_LIMIT {
        if data[i] == 0xFF && i + 2 < data.len() {
            out.extend(std::iter::repeat_n(data[i + 2], usize::from(data[i + 1]) * 256));
            i += 3;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let chunk = (usize::from(k) + 1) * 64;
    let input = stream(rest);
    let mut lines = Lines::default();
    let mut got: Vec<u8> = Vec::with_capacity(input.len() + 1);
    let mut check = |piece: &[u8], partial: bool| {
        assert!(piece.len() <= MAX_LINE, "record of {} bytes", piece.len());
        assert!(!piece.contains(&b'\n'), "newline inside a record");
        if partial {
            assert!(!piece.is_empty(), "empty partial record");
        }
        got.extend_from_slice(piece);
        if !partial {
            got.push(b'\n');
        }
    };
    for c in input.chunks(chunk) {
        lines.feed(c, &mut check);
    }
    lines.finish(&mut check);
    let mut want = input.clone();
    if !want.is_empty() && want.last() != Some(&b'\n') {
        want.push(b'\n');
    }
    assert!(got == want, "reassembled stream differs from the input");
});
