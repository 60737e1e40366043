//! Child lines that are JSON objects: level and message taken out, the other keys kept as
//! structured fields, and the text rendering the product README shows:
//! `{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000}` →
//! `[query_failed] Query failed (duration: 5000ms, query: SELECT *)`.

use serde_json::{Map, Value};

use super::level::Severity;

/// Deepest nesting of objects and arrays we parse; a deeper line stays plain text (and its
/// parse cannot recurse without bound).
pub const MAX_JSON_DEPTH: usize = 16;
/// Longest `[slug]` made from a message in the text rendering.
pub const MAX_SLUG: usize = 40;

/// Keys that carry the level, the first one that names a level wins.
const LEVEL_KEYS: &[&str] = &[
    "level",
    "level_name",
    "severity",
    "log.level",
    "lvl",
    "loglevel",
];
/// Keys that carry the message.
const MSG_KEYS: &[&str] = &["msg", "message", "@message"];

/// A parsed JSON line.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    pub level: Option<Severity>,
    pub msg: String,
    /// Every other key, sorted by name.
    pub fields: Map<String, Value>,
    /// The text rendering opens with `[slug]` of the message (a line that was JSON; not a
    /// plain line that only gained fields, such as php-fpm's pool and child).
    pub slug: bool,
}

/// Parses `line` if it is one JSON object no deeper than [`MAX_JSON_DEPTH`].
pub fn parse(line: &str) -> Option<Parsed> {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) || depth(t) > MAX_JSON_DEPTH {
        return None;
    }
    let mut fields: Map<String, Value> = serde_json::from_str(t).ok()?;
    let mut level = None;
    for k in LEVEL_KEYS {
        let l = match fields.get(*k) {
            Some(Value::String(s)) => Severity::parse(s),
            Some(Value::Number(n)) => n.as_i64().and_then(Severity::from_number),
            _ => None,
        };
        if l.is_some() {
            fields.remove(*k);
            level = level.or(l);
        }
    }
    let mut msg = String::new();
    for k in MSG_KEYS {
        if let Some(Value::String(_)) = fields.get(*k) {
            if let Some(Value::String(s)) = fields.remove(*k) {
                msg = s;
            }
            break;
        }
    }
    Some(Parsed {
        level,
        msg,
        fields,
        slug: true,
    })
}

/// Nesting depth of objects and arrays (strings skipped).
fn depth(s: &str) -> usize {
    let (mut d, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in s.as_bytes() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                d += 1;
                max = max.max(d);
            }
            b'}' | b']' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The text-format message: `[event] msg (key: value, ...)`. The bracket holds the `event`
/// field if there is one, else the message as a slug; numbers under `duration` or a key ending
/// in `_ms` get `ms`; empty objects and arrays (Monolog's `"extra":[]`) are left out.
pub fn render_text(p: &Parsed, out: &mut Vec<u8>) {
    let event = match p.fields.get("event") {
        Some(Value::String(e)) => e.clone(),
        _ if p.slug => slug(&p.msg),
        _ => String::new(),
    };
    if !event.is_empty() {
        out.push(b'[');
        out.extend_from_slice(event.as_bytes());
        out.extend_from_slice(b"] ");
    }
    out.extend_from_slice(p.msg.as_bytes());
    let mut first = true;
    for (k, v) in &p.fields {
        if k == "event"
            || matches!(v, Value::Object(m) if m.is_empty())
            || matches!(v, Value::Array(a) if a.is_empty())
        {
            continue;
        }
        out.extend_from_slice(if first { b" (" } else { b", " });
        first = false;
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        match v {
            Value::String(s) => out.extend_from_slice(s.as_bytes()),
            Value::Number(n) => {
                out.extend_from_slice(n.to_string().as_bytes());
                if k == "duration" || k.ends_with("_ms") {
                    out.extend_from_slice(b"ms");
                }
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    if !first {
        out.push(b')');
    }
}

/// `Query failed` → `query_failed`: lower-case ASCII words joined by `_`, at most
/// [`MAX_SLUG`] bytes, cut between words.
pub fn slug(msg: &str) -> String {
    let mut s = String::new();
    for w in msg
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if s.len() + w.len() + 1 > MAX_SLUG {
            break;
        }
        if !s.is_empty() {
            s.push('_');
        }
        s.push_str(&w.to_ascii_lowercase());
    }
    s
}
