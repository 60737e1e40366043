//! Records of processed child output (feature `log-processing`): the stage's level, the
//! redacted message, the line count of a multiline record and the fields of a JSON line.
//!
//! JSON: `{"time","level","process","instance","stream","msg"[,"lines":N][,"fields":{…}]
//! [,"partial":true]}` — the keys of plain records, plus `lines` (only above 1) and `fields`
//! (only for a parsed JSON line; nested, so a child's keys never clash with ours).
//! Text: `TIME LEVEL [instance] msg`, where a JSON line's msg reads
//! `[event] message (key: value, …)`.

use std::sync::Arc;

use super::{Output, Shaper, ShaperFor, Stream, json_str};
use crate::config::model::LogFormat;
use crate::logproc::{Record, Shared, Stage, json};

impl ShaperFor for Shared {
    fn shaper(&self, stream: Stream) -> Shaper {
        Shaper::Processed(Box::new(Stage::new(
            Arc::clone(&self.0),
            stream == Stream::Stderr,
        )))
    }
}

impl Output<'_> {
    /// A stage's held bytes went from `before` to `after`.
    pub fn held_changed(&mut self, before: usize, after: usize) {
        self.held = (self.held + after).saturating_sub(before);
    }

    /// Queues one processed record of child output.
    pub fn record(&mut self, instance: &str, process: &str, stream: Stream, r: &Record<'_>) {
        let now = self.now();
        let b = &mut self.buf;
        b.reserve(r.msg.len() + instance.len() + process.len() + 112);
        match self.format {
            LogFormat::Json => {
                b.extend_from_slice(b"{\"time\":\"");
                b.extend_from_slice(&now);
                b.extend_from_slice(b"\",\"level\":\"");
                b.extend_from_slice(r.level.as_str().as_bytes());
                b.extend_from_slice(b"\",\"process\":");
                json_str(b, process);
                b.extend_from_slice(b",\"instance\":");
                json_str(b, instance);
                b.extend_from_slice(b",\"stream\":\"");
                b.extend_from_slice(stream.as_str().as_bytes());
                b.extend_from_slice(b"\",\"msg\":");
                json_str(b, r.msg);
                if r.lines > 1 {
                    b.extend_from_slice(b",\"lines\":");
                    b.extend_from_slice(r.lines.to_string().as_bytes());
                }
                if let Some(p) = r.json {
                    if !p.fields.is_empty() {
                        b.extend_from_slice(b",\"fields\":");
                        // Serialising a map of JSON values into a Vec cannot fail.
                        let _ = serde_json::to_writer(&mut *b, &p.fields);
                    }
                }
                if r.partial {
                    b.extend_from_slice(b",\"partial\":true");
                }
                b.extend_from_slice(b"}\n");
            }
            LogFormat::Text => {
                b.extend_from_slice(&now);
                b.push(b' ');
                b.extend_from_slice(r.level.upper().as_bytes());
                b.extend_from_slice(b" [");
                b.extend_from_slice(instance.as_bytes());
                b.extend_from_slice(if r.partial { b"] (partial) " } else { b"] " });
                match r.json {
                    Some(p) => json::render_text(p, b),
                    None => b.extend_from_slice(r.msg.as_bytes()),
                }
                b.push(b'\n');
            }
        }
    }
}
