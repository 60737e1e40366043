//! The one way a section of the configuration is read: key by key from the document (after
//! `PHPEEK_PM_*` overrides), typed on the way, so that every type or range error points at the
//! key's own line (or the variable that set it) and one bad key does not hide the next. The key
//! walk of `schema.rs` has already reported unknown keys, so only known ones are read here.

use serde::de::DeserializeOwned;
use yaml_serde::{Mapping, Value};

use super::schema::{Key, Kind};
use super::{ConfigError, Ctx, env, schema};

/// One mapping of the document and where it is.
pub(super) struct Section<'a> {
    pub ctx: &'a Ctx<'a>,
    pub ov: &'a [env::Applied],
    /// Key path of the section (`processes.web.health_check`).
    pub path: Vec<String>,
    /// For an item of a list: its index, so errors find the item's own line.
    pub item: Option<usize>,
    pub map: Option<&'a Mapping>,
    /// The section's key table: the kinds name what a mistyped value should have been.
    pub keys: &'static [Key],
}

impl<'a> Section<'a> {
    pub fn new(
        ctx: &'a Ctx<'a>,
        ov: &'a [env::Applied],
        path: Vec<String>,
        item: Option<usize>,
        v: &'a Value,
    ) -> Result<Self, ConfigError> {
        let s = Section {
            ctx,
            ov,
            path,
            item,
            map: v.as_mapping(),
            keys: &[],
        };
        if s.map.is_none() && !v.is_null() {
            return Err(s.err(None, format!("{} must be a mapping of keys", s.dotted())));
        }
        Ok(s)
    }

    /// The section with its key table (for typed error messages and the debug check that a
    /// parser reads only keys of its table).
    pub fn with_keys(mut self, keys: &'static [Key]) -> Self {
        self.keys = keys;
        self
    }

    /// The nested section at `key`, when present (an error when it is not a mapping), with the
    /// key table that this section's table gives that key (`Kind::Section`).
    pub fn child(&self, key: &str) -> Result<Option<Section<'a>>, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let keys = match self.keys.iter().find(|k| k.name == key).map(|k| k.kind) {
            Some(Kind::Section(sub)) => sub,
            other => {
                debug_assert!(
                    other.is_none(),
                    "{key} is not a section of {}",
                    self.dotted()
                );
                &[]
            }
        };
        let mut p = self.path.clone();
        p.push(key.to_owned());
        Ok(Some(
            Section::new(self.ctx, self.ov, p, None, v)?.with_keys(keys),
        ))
    }

    /// The value at `key` as written (null counts as absent).
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.raw(key)
    }

    /// The key path of `key` in this section.
    pub fn key_path(&self, key: &str) -> Vec<String> {
        let mut p = self.path.clone();
        p.push(key.to_owned());
        p
    }

    pub fn dotted(&self) -> String {
        match self.item {
            Some(i) => format!("{}[{i}]", self.path.join(".")),
            None => self.path.join("."),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    fn raw(&self, key: &str) -> Option<&'a Value> {
        debug_assert!(
            self.keys.is_empty() || self.keys.iter().any(|k| k.name == key),
            "{key} is not in the key table of {}",
            self.dotted()
        );
        self.map?
            .get(Value::String(key.to_owned()))
            .filter(|v| !v.is_null())
    }

    /// The value of `key`, typed; `None` when absent or null.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ConfigError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        yaml_serde::from_value::<T>(v.clone())
            .map(Some)
            .map_err(|e| {
                let e = e.to_string();
                let kind = self.keys.iter().find(|k| k.name == key).map(|k| k.kind);
                let msg = match (e.starts_with("invalid type"), kind.and_then(expected)) {
                    (true, Some(want)) => {
                        format!("{}.{key} must be {want}, not {}", self.dotted(), shown(v))
                    }
                    _ => format!("{}.{key}: {e}", self.dotted()),
                };
                self.err(Some(key), msg)
            })
    }

    /// The first of several spellings of one key that is present (`period` / `interval`).
    pub fn get_any<T: DeserializeOwned>(
        &self,
        keys: &[&'static str],
    ) -> Result<Option<(T, &'static str)>, ConfigError> {
        for k in keys {
            if let Some(v) = self.get::<T>(k)? {
                return Ok(Some((v, k)));
            }
        }
        Ok(None)
    }

    /// An error at `key` of this section (or at the section itself).
    pub fn err(&self, key: Option<&str>, msg: String) -> ConfigError {
        let mut p = self.path.clone();
        if let Some(k) = key {
            p.push(k.to_owned());
        }
        let Some(i) = self.item else {
            return self.ctx.at(&p, self.ov, msg);
        };
        if self.ov.iter().any(|o| o.path.starts_with(&self.path)) {
            // A list set from the environment: blame the variable.
            return self.ctx.at(&self.path, self.ov, msg);
        }
        let line = locate_item(&self.ctx.text, &self.path, i, key)
            .or_else(|| schema::locate(&self.ctx.text, &self.path));
        ConfigError {
            origin: self.ctx.file_origin(line),
            msg,
        }
    }
}

/// What a value of `kind` looks like, for "must be ..." messages.
fn expected(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Str => "a string",
        Kind::Int => "a whole number",
        Kind::Float => "a number",
        Kind::Bool => "true or false",
        Kind::Time => {
            "a duration: seconds (30) or a string with a unit (\"500ms\", \"30s\", \"5m\")"
        }
        Kind::Command => "a command: a list such as [\"php-fpm\", \"-F\"] or a string",
        Kind::List => "a list of strings",
        Kind::StrMap => "a mapping of NAME: value",
        Kind::Section(_) | Kind::Processes(_) => "a mapping of keys",
        Kind::SectionList(_) => "a list of mappings",
        Kind::Any | Kind::Moved(_) => return None,
    })
}

/// A value as a message quotes it.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        other => schema::yaml_scalar_text(other),
    }
}

/// The line of `key` in item `index` of the block list at `list` (or of the item itself).
fn locate_item(text: &str, list: &[String], index: usize, key: Option<&str>) -> Option<usize> {
    let start = schema::locate(text, list)?;
    let lines: Vec<&str> = text.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let list_indent = indent_of(lines.get(start - 1)?);
    let mut items: Vec<(usize, usize)> = Vec::new(); // (line index, indent of "- ")
    let mut end = lines.len();
    for (i, l) in lines.iter().enumerate().skip(start) {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let ind = indent_of(l);
        if ind <= list_indent && !t.starts_with("- ") || ind < list_indent {
            end = i;
            break;
        }
        if t.starts_with("- ") && items.first().is_none_or(|(_, first)| *first == ind) {
            items.push((i, ind));
        }
    }
    let (first, ind) = *items.get(index)?;
    let last = items.get(index + 1).map_or(end, |(l, _)| *l);
    let Some(key) = key else {
        return Some(first + 1);
    };
    let needle = format!("{key}:");
    (first..last)
        .find(|&i| {
            let t = lines[i].trim_start();
            let t = if i == first && indent_of(lines[i]) == ind {
                t.strip_prefix("- ").unwrap_or(t).trim_start()
            } else {
                t
            };
            t.starts_with(&needle)
        })
        .map(|i| i + 1)
        .or(Some(first + 1))
}

/// A count written as an integer, within `min..=max`.
pub(super) fn count(
    s: &Section<'_>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<u32>, ConfigError> {
    let Some(n) = s.get::<i64>(key)? else {
        return Ok(None);
    };
    if n < min || n > max {
        return Err(s.err(
            Some(key),
            format!(
                "{}.{key} must be between {min} and {max}, not {n}",
                s.dotted()
            ),
        ));
    }
    Ok(Some(n as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_items_and_their_keys() {
        let t = "hooks:\n  pre-start:\n    - name: a\n      command: [x]\n    - name: b\n      retry: -1\n  post-stop:\n    - name: c\n";
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let l = p(&["hooks", "pre-start"]);
        assert_eq!(locate_item(t, &l, 0, None), Some(3));
        assert_eq!(locate_item(t, &l, 0, Some("command")), Some(4));
        assert_eq!(locate_item(t, &l, 1, Some("retry")), Some(6));
        assert_eq!(locate_item(t, &l, 1, Some("name")), Some(5));
        assert_eq!(locate_item(t, &l, 2, None), None);
        assert_eq!(
            locate_item(t, &p(&["hooks", "post-stop"]), 0, Some("name")),
            Some(8)
        );
    }
}
