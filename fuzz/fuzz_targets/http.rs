//! The HTTP/1.1 connection state machine (`http::Conn`: httparse across partial reads, bodies,
//! pipelining, limits, timeouts) and the API router with and without a token, on whatever a
//! client sends.
//!
//! Input: byte 0 picks the read size (1..=256 bytes), byte 1 how the client behaves (bit 0:
//! closes its side after sending; bit 1: a token is configured), the rest is what it sends.
//! Checks: no panic; a request's body stays within MAX_BODY_BYTES; its path holds no `?`; the
//! answer to every request is a complete HTTP/1.1 status line; a route that needs the token
//! is never granted without it; unanswered output stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::api::{Route, route};
use phpeek_pm_fuzz::http::{Conn, Response, limits};

const TOKEN: &str = "s3cret-token";

fuzz_target!(|data: &[u8]| {
    let [k, mode, rest @ ..] = data else { return };
    let chunk = usize::from(*k) + 1;
    let token = (mode & 2 != 0).then_some(TOKEN);
    let mut now = 1_000;
    let mut c = Conn::new(now);
    let mut answered = 0usize;
    let mut feed = |c: &mut Conn, bytes: &[u8], now: u64| {
        c.received(bytes, now);
        while let Some(req) = c.poll_request(now) {
            assert!(req.body.len() <= limits::MAX_BODY_BYTES, "body over the limit");
            assert!(!req.path.contains('?'), "query left in the path");
            let resp = match route(&req, token) {
                Ok(r) => {
                    if token.is_some() && !matches!(r, Route::Health | Route::Ready) {
                        let want = format!("Bearer {TOKEN}");
                        assert_eq!(
                            req.authorization.as_deref(),
                            Some(want.as_bytes()),
                            "{r:?} granted without the token"
                        );
                    }
                    Response::json(200, b"{}".to_vec())
                }
                Err(e) => e,
            };
            c.respond(&resp, now);
            answered += 1;
        }
        assert!(
            c.output().len() <= limits::MAX_OUTPUT_BYTES + 2 * limits::MAX_HEAD_BYTES + 65_536,
            "output grew to {}",
            c.output().len()
        );
        // Everything before was taken by the client, so what is there starts an answer.
        if answered > 0 || !c.output().is_empty() {
            assert!(
                c.output().is_empty() || c.output().starts_with(b"HTTP/1.1 "),
                "output does not start with a status line"
            );
        }
        let n = c.output().len();
        c.wrote(n, now);
    };
    for piece in rest.chunks(chunk) {
        now += 1;
        feed(&mut c, piece, now);
        let _ = c.take_shutdown();
        if c.is_closed() {
            return;
        }
    }
    if mode & 1 != 0 {
        c.peer_closed();
        feed(&mut c, &[], now);
    }
    // Let every timer run out: the connection ends up closed or idle, never stuck.
    for _ in 0..8 {
        match c.next_deadline() {
            Some(d) => {
                now = now.max(d);
                let _ = c.handle_timeout(now);
                let n = c.output().len();
                c.wrote(n, now);
            }
            None => break,
        }
        if c.is_closed() {
            break;
        }
    }
});
