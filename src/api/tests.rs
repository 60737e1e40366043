use super::*;

fn req(m: Method, path: &str, auth: Option<&str>, body: &str) -> Request {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    Request {
        method: m,
        path: path.into(),
        query: query.into(),
        authorization: auth.map(|a| a.as_bytes().to_vec()),
        forwarded_for: None,
        body: body.as_bytes().to_vec(),
        keep_alive: true,
    }
}

fn status(r: Result<Route<'_>, Response>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(resp) => resp.status,
    }
}

#[test]
fn routes() {
    let t = None;
    let r = req(Method::Get, "/api/v1/processes", None, "");
    assert_eq!(route(&r, t), Ok(Route::List));
    let r = req(Method::Get, "/api/v1/processes/web", None, "");
    assert_eq!(route(&r, t), Ok(Route::Show("web")));
    let r = req(Method::Get, "/api/v1/processes/web/logs?limit=5", None, "");
    assert_eq!(route(&r, t), Ok(Route::Logs("web", 5)));
    let r = req(Method::Get, "/api/v1/processes/web/logs", None, "");
    assert_eq!(route(&r, t), Ok(Route::Logs("web", DEFAULT_LOG_LIMIT)));
    let r = req(Method::Post, "/api/v1/processes/web/restart", None, "");
    assert_eq!(route(&r, t), Ok(Route::Act("web", Op::Restart)));
    let r = req(
        Method::Post,
        "/api/v1/processes/web/scale",
        None,
        r#"{"delta":-2}"#,
    );
    assert_eq!(
        route(&r, t),
        Ok(Route::Act("web", Op::Scale(Scale::By(-2))))
    );
    let r = req(
        Method::Post,
        "/api/v1/processes/web/scale",
        None,
        r#"{"scale":4}"#,
    );
    assert_eq!(route(&r, t), Ok(Route::Act("web", Op::Scale(Scale::To(4)))));
    let r = req(Method::Post, "/api/v1/processes/c/schedule/pause", None, "");
    assert_eq!(route(&r, t), Ok(Route::Schedule("c", "pause")));
}

#[test]
fn errors() {
    let t = None;
    for (m, p, body, want) in [
        (Method::Post, "/api/v1/processes", "", 405),
        (Method::Get, "/api/v1/processes/web/restart", "", 405),
        (Method::Delete, "/api/v1/health", "", 405),
        (Method::Get, "/api/v1/nope", "", 404),
        (Method::Get, "/", "", 404),
        (Method::Get, "/api/v1/processes/", "", 404),
        (Method::Get, "/api/v1/processes/web/logs?limit=x", "", 400),
        (Method::Post, "/api/v1/processes/web/scale", "{", 400),
        (Method::Post, "/api/v1/processes/web/scale", "[1]", 400),
        (
            Method::Post,
            "/api/v1/processes/web/scale",
            r#"{"desired":"3"}"#,
            400,
        ),
        (
            Method::Post,
            "/api/v1/processes/web/scale",
            r#"{"desired":3,"delta":1}"#,
            400,
        ),
        (
            Method::Post,
            "/api/v1/processes/web/scale",
            r#"{"replicas":3}"#,
            400,
        ),
        (Method::Post, "/api/v1/processes/web/scale", "{}", 400),
    ] {
        let r = req(m, p, None, body);
        assert_eq!(status(route(&r, t)), want, "{m:?} {p} {body}");
    }
    let r = req(Method::Post, "/api/v1/processes", None, "");
    let e = route(&r, t).unwrap_err();
    assert!(
        e.headers
            .iter()
            .any(|(k, v)| *k == "Allow" && v == "GET, HEAD")
    );
}

#[test]
fn auth_everywhere_but_health_and_ready() {
    let t = Some("s3cret");
    for p in [
        "/api/v1/health",
        "/api/v1/ready",
        "/api/v1/ready?process=web",
    ] {
        assert_eq!(status(route(&req(Method::Get, p, None, ""), t)), 200, "{p}");
    }
    let r = req(Method::Get, "/api/v1/ready?process=web", None, "");
    assert_eq!(route(&r, t), Ok(Route::ReadyOf("web")));
    let r = req(Method::Get, "/api/v1/ready?process=", None, "");
    assert_eq!(route(&r, t), Ok(Route::Ready));
    for p in ["/api/v1/processes", "/api/v1/nope", "/elsewhere"] {
        assert_eq!(status(route(&req(Method::Get, p, None, ""), t)), 401, "{p}");
        let wrong = req(Method::Get, p, Some("Bearer s3cre"), "");
        assert_eq!(status(route(&wrong, t)), 401, "{p}");
        let basic = req(Method::Get, p, Some("Basic s3cret"), "");
        assert_eq!(status(route(&basic, t)), 401, "{p}");
    }
    let ok = req(Method::Get, "/api/v1/processes", Some("Bearer s3cret"), "");
    assert_eq!(route(&ok, t), Ok(Route::List));
}

#[test]
fn scale_targets() {
    assert_eq!(Scale::To(3).target(1), Ok(3));
    assert_eq!(Scale::By(-2).target(3), Ok(1));
    assert!(Scale::By(-3).target(3).is_err());
    assert!(Scale::To(0).target(3).is_err());
    assert!(Scale::To(MAX_SCALE + 1).target(3).is_err());
}

#[test]
fn constant_time_compare() {
    assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
    assert!(!constant_time_eq(b"Bearer abc", b"Bearer abd"));
    assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
    assert!(!constant_time_eq(b"", b"x"));
    assert!(constant_time_eq(b"", b""));
}

#[test]
fn history_parameters() {
    let t = None;
    let r = req(
        Method::Get,
        "/api/v1/metrics/history?process=web&instance=web-1&since=1700000000.5&limit=7",
        t,
        "",
    );
    assert_eq!(
        route(&r, t),
        Ok(Route::History(HistoryQuery {
            process: "web",
            instance: Some("web-1"),
            since: Some(1_700_000_000_500),
            limit: 7,
        }))
    );
    let r = req(Method::Get, "/api/v1/metrics/history?process=web", t, "");
    assert_eq!(
        route(&r, t),
        Ok(Route::History(HistoryQuery {
            process: "web",
            instance: None,
            since: None,
            limit: HISTORY_LIMIT.0,
        }))
    );
    for bad in [
        "",
        "?process=",
        "?process=w&limit=0",
        "?process=w&limit=10001",
        "?process=w&since=yesterday",
    ] {
        let r = req(Method::Get, &format!("/api/v1/metrics/history{bad}"), t, "");
        assert_eq!(status(route(&r, t)), 400, "{bad}");
    }
    let r = req(Method::Post, "/api/v1/metrics/history?process=web", t, "");
    assert_eq!(status(route(&r, t)), 405);
}
