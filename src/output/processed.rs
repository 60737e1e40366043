//! Records of processed child output (feature `log-processing`): the stage's level, the
//! redacted message, the line count of a multiline record and the fields of a JSON line.
//!
//! JSON: `{"time","level","process","instance","stream","msg"[,"lines":N][,"fields":{…}]
//! [,"partial":true]}` — the keys of plain records, plus `lines` (only above 1) and `fields`
//! (only for a parsed JSON line; nested, so a child's keys never clash with ours).
//! Text: `TIME LEVEL [instance] msg`, where a JSON line's msg reads
//! `[event] message (key: value, …)`.

use std::sync::Arc;

use super::lines::Lines;
use super::{Output, Shaper, ShaperFor, Stream, Who};
use crate::config::model::LogFormat;
use crate::logproc::{Record, Shared, Stage, json};

impl ShaperFor for Shared {
    fn shaper(&self, stream: Stream) -> Shaper {
        Shaper::Processed(Box::new(Stage::new(
            Arc::clone(&self.0),
            stream == Stream::Stderr,
        )))
    }

    fn wanted(&self, stream: Stream) -> bool {
        match stream {
            Stream::Stdout => self.0.stdout,
            Stream::Stderr => self.0.stderr,
        }
    }
}

impl Shaper {
    /// Cuts `data` (with `None`: the end of the stream — its unfinished last line and every
    /// record the stage holds) into lines for the stage, and queues the records it gives for
    /// the stream `(instance, process, stream)`; `kept` sees each record's (redacted) message
    /// (an aux child's tail).
    pub fn shape(
        &mut self,
        lines: &mut Lines,
        data: Option<&[u8]>,
        out: &mut Output<'_>,
        who: Who<'_>,
        kept: &mut impl FnMut(&[u8]),
    ) {
        let Shaper::Processed(stage) = self;
        let (now, before) = (crate::sys::monotonic_ms(), stage.held());
        let emit = &mut |r: &Record<'_>| emit(out, who, kept, r);
        let line = &mut |line: &[u8], partial| stage.push(line, partial, now, emit);
        match data {
            Some(d) => lines.feed(d, line),
            None => lines.finish(line),
        }
        let after = match data {
            Some(_) => stage.held(),
            None => {
                stage.finish(emit);
                0
            }
        };
        out.held_changed(before, after);
    }

    /// Queues the records the stage holds whose multiline deadline is `due` or earlier, or
    /// with `None` every one of them (the manager is about to exit); an unfinished line stays
    /// with its pipe. `who` and `kept` as for [`Shaper::shape`].
    pub fn flush_held(
        &mut self,
        due: Option<u64>,
        out: &mut Output<'_>,
        who: Who<'_>,
        kept: &mut impl FnMut(&[u8]),
    ) {
        let Shaper::Processed(stage) = self;
        let before = stage.held();
        let emit = &mut |r: &Record<'_>| emit(out, who, kept, r);
        let after = match due {
            Some(now) => {
                stage.flush_due(now, emit);
                stage.held()
            }
            None => {
                stage.finish(emit);
                0
            }
        };
        out.held_changed(before, after);
    }
}

/// Queues one processed record of the stream `(instance, process, stream)`; `kept` sees its
/// (redacted) message.
fn emit(
    out: &mut Output<'_>,
    (instance, process, stream): Who<'_>,
    kept: &mut impl FnMut(&[u8]),
    r: &Record<'_>,
) {
    out.record(instance, process, stream, r);
    kept(r.msg.as_bytes());
}

/// Bytes held by the stages of all pipes (open multiline records).
pub struct Held(usize);

impl Held {
    pub const fn new() -> Held {
        Held(0)
    }

    pub const fn bytes(&self) -> usize {
        self.0
    }
}

impl Output<'_> {
    /// A stage's held bytes went from `before` to `after`.
    pub fn held_changed(&mut self, before: usize, after: usize) {
        self.held.0 = (self.held.0 + after).saturating_sub(before);
    }

    /// Queues one processed record of child output.
    pub fn record(&mut self, instance: &str, process: &str, stream: Stream, r: &Record<'_>) {
        // The API's recent output gets the same redacted text (a JSON line as the text
        // format renders it, so that its fields are not lost).
        match r.json {
            Some(p) if self.recent.enabled() => {
                let mut text = Vec::with_capacity(r.msg.len() + 64);
                json::render_text(p, &mut text);
                let text = String::from_utf8_lossy(&text);
                self.recent
                    .push(&self.stamp, process, instance, stream, &text, r.partial);
            }
            _ => self
                .recent
                .push(&self.stamp, process, instance, stream, r.msg, r.partial),
        }
        match self.format {
            LogFormat::Json => {
                self.put_head(instance, process, stream, r.level.as_str());
                let b = &mut self.q;
                b.put_json(r.msg);
                b.push(b'"');
                if r.lines > 1 {
                    b.put(b",\"lines\":");
                    super::put_int(b, i64::from(r.lines));
                }
                if let Some(p) = r.json {
                    if !p.fields.is_empty() {
                        b.put(b",\"fields\":");
                        // Serialising a map of JSON values cannot fail.
                        b.put(&serde_json::to_vec(&p.fields).unwrap_or_default());
                    }
                }
                if r.partial {
                    b.put(b",\"partial\":true");
                }
                b.put(b"}\n");
            }
            LogFormat::Text => {
                self.put_head(instance, process, stream, r.level.upper());
                let b = &mut self.q;
                b.put(if r.partial { b" (partial) " } else { b" " });
                match r.json {
                    Some(p) => {
                        let mut text = Vec::with_capacity(r.msg.len() + 64);
                        json::render_text(p, &mut text);
                        b.put(&text);
                    }
                    None => b.put(r.msg.as_bytes()),
                }
                b.push(b'\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::config::model::Level;
    use crate::logproc::Severity;
    use crate::output::QUEUE_LIMIT;

    fn format(format: LogFormat, r: &Record<'_>) -> String {
        let stdout = std::io::stdout();
        let mut out = Output::new(stdout.as_fd(), format, Level::Info);
        out.record("app-0", "app", Stream::Stderr, r);
        let text = String::from_utf8(out.q.bytes().to_vec()).unwrap();
        out.q.clear(0, 0); // never written
        text
    }

    #[test]
    fn json_records_keep_our_keys_and_nest_fields() {
        let p = json::parse(r#"{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000,"time":"x","msg2":"y"}"#).unwrap();
        let rec = Record {
            level: Severity::Error,
            msg: &p.msg,
            lines: 1,
            json: Some(&p),
            partial: false,
        };
        let line = format(LogFormat::Json, &rec);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "Query failed");
        assert_eq!(
            (
                v["process"].as_str(),
                v["instance"].as_str(),
                v["stream"].as_str()
            ),
            (Some("app"), Some("app-0"), Some("stderr"))
        );
        assert_eq!(v["fields"]["duration"], 5000);
        assert_eq!(v["fields"]["time"], "x", "the child's time stays in fields");
        assert_ne!(v["time"], "x");
        assert!(v.get("lines").is_none() && v.get("partial").is_none());
        let text = format(LogFormat::Text, &rec);
        assert!(
            text.ends_with(" ERROR [app-0] [query_failed] Query failed (duration: 5000ms, msg2: y, query: SELECT *, time: x)\n"),
            "{text}"
        );
        let trace = Record {
            level: Severity::Fatal,
            msg: "PHP Fatal error: x\nStack trace:\n#0 {main}",
            lines: 3,
            json: None,
            partial: false,
        };
        let v: serde_json::Value = serde_json::from_str(&format(LogFormat::Json, &trace)).unwrap();
        assert_eq!(
            (v["level"].as_str(), v["lines"].as_i64()),
            (Some("fatal"), Some(3))
        );
        assert_eq!(v["msg"], "PHP Fatal error: x\nStack trace:\n#0 {main}");
    }

    #[test]
    fn held_bytes_count_against_the_queue() {
        let stdout = std::io::stdout();
        let mut out = Output::new(stdout.as_fd(), LogFormat::Json, Level::Info);
        assert!(out.has_room());
        out.held_changed(0, QUEUE_LIMIT);
        assert!(!out.has_room());
        out.held_changed(QUEUE_LIMIT, 10);
        assert!(out.has_room());
        out.held_changed(10, 0);
        assert_eq!(out.held.bytes(), 0);
    }
}
