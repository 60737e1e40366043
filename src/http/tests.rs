use super::*;

fn conn() -> Conn {
    Conn::new(1_000)
}

fn text(c: &Conn) -> String {
    String::from_utf8_lossy(c.output()).into_owned()
}

#[test]
fn parses_across_partial_reads_and_answers() {
    let mut c = conn();
    let req =
        b"GET /api/v1/processes?limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n\r\n";
    for (i, b) in req.iter().enumerate() {
        assert_eq!(c.poll_request(1_000 + i as u64), None);
        c.received(&[*b], 1_000 + i as u64);
    }
    let r = c.poll_request(2_000).expect("complete request");
    assert_eq!(r.method, Method::Get);
    assert_eq!(r.path, "/api/v1/processes");
    assert_eq!(r.query, "limit=5");
    assert_eq!(r.authorization.as_deref(), Some(&b"Bearer t"[..]));
    assert!(r.keep_alive);
    // One request at a time.
    assert_eq!(c.poll_request(2_000), None);
    c.respond(&Response::json(200, b"{}".to_vec()), 2_000);
    let t = text(&c);
    assert!(t.starts_with("HTTP/1.1 200 OK\r\n"), "{t}");
    assert!(t.contains("Content-Length: 2\r\n"), "{t}");
    assert!(!t.contains("Connection: close"), "{t}");
    assert!(t.ends_with("\r\n\r\n{}"), "{t}");
    let n = c.output().len();
    c.wrote(n, 2_001);
    assert!(c.output().is_empty());
    assert_eq!(c.idle_since(), Some(2_001));
    assert!(!c.is_closed());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut c = conn();
    c.received(
        b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n",
        1_000,
    );
    let a = c.poll_request(1_000).unwrap();
    assert_eq!((a.path.as_str(), a.body.as_slice()), ("/a", &b"abc"[..]));
    c.respond(&Response::new(200, JSON, b"A".to_vec()), 1_000);
    let b = c.poll_request(1_000).unwrap();
    assert_eq!(b.path, "/b");
    c.respond(&Response::new(200, JSON, b"B".to_vec()), 1_000);
    let t = text(&c);
    assert!(t.find("\r\n\r\nA").unwrap() < t.find("\r\n\r\nB").unwrap());
}

#[test]
fn body_waits_for_content_length_and_continue_is_sent() {
    let mut c = conn();
    c.received(
        b"POST /s HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        1_000,
    );
    assert_eq!(c.poll_request(1_000), None);
    assert_eq!(text(&c), "HTTP/1.1 100 Continue\r\n\r\n");
    c.received(b"{}", 1_001);
    assert_eq!(c.poll_request(1_001), None);
    c.received(b"{}", 1_002);
    assert_eq!(c.poll_request(1_002).unwrap().body, b"{}{}");
}

fn error_of(input: &[u8]) -> (String, Conn) {
    let mut c = conn();
    c.received(input, 1_000);
    assert_eq!(c.poll_request(1_000), None);
    (text(&c), c)
}

#[test]
fn errors_close_the_connection() {
    for (input, status) in [
        (&b"\x00\x01garbage\r\n\r\n"[..], "400"),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"),
        (
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "411",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
            "413",
        ),
    ] {
        let (t, mut c) = error_of(input);
        assert!(t.starts_with(&format!("HTTP/1.1 {status} ")), "{t}");
        assert!(t.contains("Connection: close\r\n"), "{t}");
        assert!(t.contains("{\"error\":"), "{t}");
        assert!(!c.wants_read());
        let n = c.output().len();
        c.wrote(n, 1_001);
        // Our side is shut down; what the client still sends is dropped until it closes.
        assert!(c.take_shutdown() && !c.take_shutdown());
        assert!(!c.is_closed() && c.wants_read());
        c.received(&[0u8; 1000], 1_002);
        assert_eq!(c.poll_request(1_002), None);
        assert!(c.output().is_empty());
        c.peer_closed();
        assert!(c.is_closed());
    }
}

#[test]
fn lingering_is_bounded() {
    let (_, mut c) = error_of(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    let n = c.output().len();
    c.wrote(n, 1_000);
    assert_eq!(c.next_deadline(), Some(1_000 + LINGER_MS));
    assert_eq!(c.handle_timeout(1_000 + LINGER_MS), Outcome::Close);
    let (_, mut c) = error_of(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
    let n = c.output().len();
    c.wrote(n, 1_000);
    c.received(&vec![0u8; LINGER_BYTES + 1], 1_001);
    assert!(c.is_closed());
}

#[test]
fn oversized_head_is_431() {
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES));
    let (t, _) = error_of(&big);
    assert!(t.starts_with("HTTP/1.1 431 "), "{t}");
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..MAX_HEADERS + 1 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let (t, _) = error_of(&many);
    assert!(t.starts_with("HTTP/1.1 431 "), "{t}");
}

#[test]
fn slow_request_gets_408_and_idle_connection_closes() {
    let mut c = conn();
    assert_eq!(c.next_deadline(), Some(1_000 + IDLE_TIMEOUT_MS));
    c.received(b"GET / HT", 2_000);
    assert_eq!(c.next_deadline(), Some(2_000 + REQUEST_TIMEOUT_MS));
    assert_eq!(
        c.handle_timeout(2_000 + REQUEST_TIMEOUT_MS - 1),
        Outcome::Open
    );
    assert_eq!(c.handle_timeout(2_000 + REQUEST_TIMEOUT_MS), Outcome::Open);
    assert!(text(&c).starts_with("HTTP/1.1 408 "));

    let mut idle = conn();
    assert_eq!(idle.handle_timeout(1_000 + IDLE_TIMEOUT_MS), Outcome::Close);
    assert!(idle.is_closed());
}

#[test]
fn a_client_that_does_not_read_is_dropped() {
    let mut c = conn();
    c.received(b"GET / HTTP/1.1\r\n\r\n", 1_000);
    c.poll_request(1_000).unwrap();
    c.respond(&Response::new(200, JSON, vec![b'x'; 100]), 1_000);
    c.wrote(10, 1_500);
    assert_eq!(c.next_deadline(), Some(1_500 + WRITE_TIMEOUT_MS));
    assert_eq!(c.handle_timeout(1_500 + WRITE_TIMEOUT_MS), Outcome::Close);
}

#[test]
fn busy_connection_has_no_timer_and_close_requests_close() {
    let mut c = conn();
    c.received(b"GET / HTTP/1.0\r\n\r\n", 1_000);
    let r = c.poll_request(1_000).unwrap();
    assert!(!r.keep_alive);
    assert_eq!(c.next_deadline(), None);
    c.respond(&Response::new(200, JSON, Vec::new()), 9_000_000);
    assert!(text(&c).contains("Connection: close"));
    let n = c.output().len();
    c.wrote(n, 9_000_001);
    c.peer_closed();
    assert!(c.is_closed());
}

#[test]
fn peer_shutdown_after_request_still_gets_the_answer() {
    let mut c = conn();
    c.received(b"GET /x HTTP/1.1\r\n\r\n", 1_000);
    c.peer_closed();
    let r = c.poll_request(1_000).unwrap();
    assert_eq!(r.path, "/x");
    c.respond(&Response::new(200, JSON, b"ok".to_vec()), 1_000);
    let n = c.output().len();
    c.wrote(n, 1_000);
    assert!(c.is_closed());

    let mut half = conn();
    half.received(b"GET /x HT", 1_000);
    half.peer_closed();
    assert_eq!(half.poll_request(1_000), None);
    assert!(half.is_closed());
}

#[test]
fn head_has_no_body() {
    let mut c = conn();
    c.received(b"HEAD /m HTTP/1.1\r\n\r\n", 1_000);
    c.poll_request(1_000).unwrap();
    c.respond(&Response::new(200, JSON, b"body".to_vec()), 1_000);
    let t = text(&c);
    assert!(
        t.contains("Content-Length: 4\r\n") && t.ends_with("\r\n\r\n"),
        "{t}"
    );
}

#[test]
fn numbers_and_errors_render() {
    let mut v = Vec::new();
    push_num(&mut v, 0);
    push_num(&mut v, 18_446_744_073_709_551_615);
    assert_eq!(v, b"018446744073709551615");
    assert_eq!(
        Response::error(404, "unknown \"x\"").body,
        br#"{"error":"unknown \"x\""}"#
    );
    assert!(
        String::from_utf8(overloaded())
            .unwrap()
            .starts_with("HTTP/1.1 503 ")
    );
}
