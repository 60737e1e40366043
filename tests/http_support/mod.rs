//! Helpers for the API and metrics tests: where the manager listens (from its `listening`
//! record, so tests can use port 0), `curl` as the client, and free loopback ports.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// The address a service listens on (`"API"` or `"metrics endpoint"`), from its record.
pub fn listen_addr(m: &mut Manager, service: &str) -> String {
    m.wait_for(secs(10.0), "a listening record", |r| {
        r.event() == Some("listening")
            && r.s("service") == Some(service)
            && !r.s("address").unwrap_or("/").starts_with('/')
    })
    .s("address")
    .unwrap()
    .to_owned()
}

/// An HTTP answer seen by curl.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Runs `curl -sS` with `args` (and a 60 s cap), returning status, headers and body.
pub fn curl(args: &[&str]) -> Reply {
    try_curl(args).unwrap_or_else(|e| panic!("curl {args:?} got no HTTP answer: {e}"))
}

/// Like [`curl`], but `Err(curl's message)` when there is no HTTP answer at all.
pub fn try_curl(args: &[&str]) -> Result<Reply, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D", "/dev/stderr", "-o", "-"])
        .args(args)
        .output()
        .expect("run curl (scripts/ensure-deps.sh test installs it)");
    let headers = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| headers.clone())?;
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&out.stdout).into_owned(),
        headers,
    })
}

/// `curl` with a bearer token.
pub fn curl_auth(token: &str, args: &[&str]) -> Reply {
    let h = format!("Authorization: Bearer {token}");
    let mut v = vec!["-H", h.as_str()];
    v.extend_from_slice(args);
    curl(&v)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `req` on a fresh connection and reads until the server closes (or 5 s pass).
pub fn raw(addr: &str, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The instances of `process` in a `GET /api/v1/processes` document.
pub fn instances(doc: &Value, process: &str) -> Vec<Value> {
    doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == process)
        .map(|p| p["instances"].as_array().unwrap().clone())
        .unwrap_or_default()
}

/// The OpenAPI document of `docs/observability/openapi.json`.
pub fn openapi() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/observability/openapi.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).expect("read openapi.json")).unwrap()
}

/// Checks `value` against the schema the document gives for `method path → status`: the
/// subset of OpenAPI 3.0 schemas the document uses ($ref, allOf, type, nullable, required,
/// properties, additionalProperties: false, items, enum, minimum, maximum).
pub fn conforms(api: &Value, method: &str, path: &str, status: u16, value: &Value) {
    let op = &api["paths"][path][method];
    assert!(op.is_object(), "no {method} {path} in the OpenAPI document");
    let mut resp = &op["responses"][status.to_string()];
    assert!(
        resp.is_object(),
        "{method} {path} answered {status}, which the OpenAPI document does not list"
    );
    if let Some(r) = resp["$ref"].as_str() {
        resp = resolve(api, r);
    }
    let schema = &resp["content"]["application/json"]["schema"];
    check(api, schema, value, &format!("{method} {path} {status}"));
}

fn resolve<'a>(api: &'a Value, r: &str) -> &'a Value {
    let mut v = api;
    for part in r.trim_start_matches("#/").split('/') {
        v = &v[part];
    }
    assert!(!v.is_null(), "dangling $ref {r}");
    v
}

fn check(api: &Value, schema: &Value, v: &Value, at: &str) {
    if let Some(r) = schema["$ref"].as_str() {
        return check(api, resolve(api, r), v, at);
    }
    if v.is_null() {
        assert!(
            schema["nullable"] == true,
            "{at}: null where the schema does not allow it"
        );
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            check(api, s, v, at);
        }
    }
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => panic!("{at}: schema type {t} unknown to the checker"),
        };
        assert!(ok, "{at}: {v} is not {t}");
    }
    if let Some(e) = schema["enum"].as_array() {
        assert!(e.contains(v), "{at}: {v} not one of {e:?}");
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64()) {
        assert!(n >= min, "{at}: {n} < minimum {min}");
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), v.as_f64()) {
        assert!(n <= max, "{at}: {n} > maximum {max}");
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let k = r.as_str().unwrap();
            assert!(obj.contains_key(k), "{at}: missing required {k} in {v}");
        }
        let props = schema["properties"].as_object();
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check(api, s, val, &format!("{at}.{k}")),
                None => assert!(
                    schema["additionalProperties"] != false,
                    "{at}: field {k} is not in the OpenAPI document"
                ),
            }
        }
    }
    if let Some(items) = v.as_array() {
        for (n, item) in items.iter().enumerate() {
            check(api, &schema["items"], item, &format!("{at}[{n}]"));
        }
    }
}
