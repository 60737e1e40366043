//! Redaction: secrets and card numbers replaced before a record reaches any sink.
//!
//! Built-in rules, applied in this order to the text of a record (and to every string of a
//! parsed JSON line, whose values under sensitive keys are replaced whole):
//!
//! 1. **Values of sensitive keys**: `key=value`, `key: value`, `"key":"value"`,
//!    `'key' => 'value'`, `Authorization: Bearer xyz`. A key is sensitive when, lower-cased and
//!    without `_`, `-`, `.`, it ends with one of [`SENSITIVE_KEYS`] (so `DB_PASSWORD`,
//!    `x-api-key`, `accessToken` and `_token` are, `password_reset_at` and `tokens_used` are not)
//!    or with a word the user listed in `log_redaction_patterns`. Only the value is replaced;
//!    a `pwd` value that is a path (`PWD=/var/www`) is the shell's directory and is kept.
//! 2. **Credentials in URLs**: `scheme://user:secret@host` keeps the user and the host.
//! 3. **Card numbers**: 13–19 digits, optionally grouped by single spaces or dashes, with a
//!    known issuer prefix and length, passing the Luhn check: all digits but the last four
//!    become `*`. Order ids, timestamps and phone numbers almost never pass all three.
//! 4. **E-mail addresses**, when enabled.
//! 5. **User regexes** from `log_redaction_patterns` (entries that are not plain words).
//!
//! Everything is a byte scan except the user's regexes: a line with nothing to redact is
//! returned borrowed, without allocation.

use std::borrow::Cow;

use regex_lite::Regex;
use serde_json::Value;

/// Key endings (normalised: lower case, no `_ - .`) whose values are secrets.
pub const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "passwordconfirmation",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "appkey",
    "authorization",
    "auth",
    "credential",
    "credentials",
    "cookie",
    "sessid",
];

/// Longest key we look back for (keys longer than this are not sensitive by our rules).
const MAX_KEY: usize = 64;
/// HTTP authorization schemes: the credential is the word after them.
const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "token", "digest", "bot"];

/// A user's regex and what replaces its matches (`$1` refers to a group).
pub struct UserPattern {
    pub regex: Regex,
    pub replacement: String,
}

pub struct Redactor {
    pub placeholder: String,
    /// Extra sensitive key endings, normalised.
    pub keys: Vec<String>,
    pub patterns: Vec<UserPattern>,
    pub emails: bool,
}

impl Redactor {
    /// The text with every built-in and user rule applied.
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        // One pass to see which rules can apply at all: most lines need none of them.
        let Scan {
            sep,
            colon,
            at,
            card,
        } = scan(s.as_bytes());
        // `scheme://`: looked for only when a line has both a `:` and an `@`.
        let url = colon && at && s.contains("://");
        let mut out = Cow::Borrowed(s);
        if sep {
            if let Some(r) = self.key_values(&out) {
                out = Cow::Owned(r);
            }
        }
        if url && at {
            if let Some(r) = self.url_credentials(&out) {
                out = Cow::Owned(r);
            }
        }
        if card {
            if let Some(r) = mask_cards(&out) {
                out = Cow::Owned(r);
            }
        }
        if self.emails && at {
            if let Some(r) = self.email_addresses(&out) {
                out = Cow::Owned(r);
            }
        }
        for p in &self.patterns {
            if let Cow::Owned(r) = p.regex.replace_all(&out, p.replacement.as_str()) {
                out = Cow::Owned(r);
            }
        }
        out
    }

    /// Redacts a parsed JSON value in place: values of sensitive keys whole, strings by text.
    pub fn json(&self, v: &mut Value, depth: usize) {
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.text(s) {
                    *s = r;
                }
            }
            Value::Array(a) if depth > 0 => {
                for x in a {
                    self.json(x, depth - 1);
                }
            }
            Value::Object(m) if depth > 0 => {
                for (k, x) in m.iter_mut() {
                    if !x.is_null() && self.sensitive(k) {
                        *x = Value::String(self.placeholder.clone());
                    } else {
                        self.json(x, depth - 1);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether values under `key` are secrets.
    pub fn sensitive(&self, key: &str) -> bool {
        // Fast refusal: every sensitive key ends with a letter (timestamps' `10:00` do not).
        if key.len() > MAX_KEY || !key.as_bytes().last().is_some_and(u8::is_ascii_alphabetic) {
            return false;
        }
        let mut norm = [0u8; MAX_KEY];
        let mut n = 0;
        for c in key.bytes() {
            if !matches!(c, b'_' | b'-' | b'.' | b' ') {
                norm[n] = c.to_ascii_lowercase();
                n += 1;
            }
        }
        let norm = &norm[..n];
        n > 0
            && (SENSITIVE_KEYS.iter().any(|k| norm.ends_with(k.as_bytes()))
                || self.keys.iter().any(|k| norm.ends_with(k.as_bytes())))
    }

    /// Rule 1: values of sensitive keys.
    fn key_values(&self, s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0; // bytes of `s` already in `out`
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c != b'=' && c != b':' {
                i += 1;
                continue;
            }
            let sep = i;
            i += 1;
            // `scheme://` and `Class::method` are not key/value separators.
            if c == b':' && (b.get(sep + 1) == Some(&b':') || b.get(sep + 1) == Some(&b'/')) {
                i = sep + 2;
                continue;
            }
            let Some((key_start, key_end)) = key_before(b, sep) else {
                continue;
            };
            if key_start < copied || !self.sensitive(&s[key_start..key_end]) {
                continue;
            }
            let Some((vs, ve)) = value_after(b, sep) else {
                continue;
            };
            let value = &s[vs..ve];
            if value.is_empty() || value == self.placeholder {
                continue;
            }
            // `PWD=/var/www` is the shell's working directory, not a password.
            if value.starts_with(['/', '~']) && key_ends_with(&s[key_start..key_end], "pwd") {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 16));
            o.push_str(&s[copied..vs]);
            o.push_str(&self.placeholder);
            copied = ve;
            i = ve.max(sep + 1);
        }
        out.map(|mut o| {
            o.push_str(&s[copied..]);
            o
        })
    }

    /// Rule 2: `scheme://user:password@host` → `scheme://user:<placeholder>@host`.
    fn url_credentials(&self, s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut from = 0;
        while let Some(p) = find_scheme_sep(&b[from..]) {
            let start = from + p + 3;
            from = start;
            // The authority ends at the first '/', whitespace or quote; userinfo at its last '@'.
            let end = b[start..]
                .iter()
                .position(|&c| {
                    c.is_ascii_whitespace()
                        || matches!(c, b'/' | b'"' | b'\'' | b'?' | b'#' | b'\\')
                })
                .map_or(b.len(), |e| start + e);
            let Some(at) = b[start..end].iter().rposition(|&c| c == b'@') else {
                continue;
            };
            let at = start + at;
            let Some(colon) = b[start..at].iter().position(|&c| c == b':') else {
                continue;
            };
            let pw = start + colon + 1;
            if pw == at || s[pw..at] == self.placeholder {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(s.len() + 16));
            o.push_str(&s[copied..pw]);
            o.push_str(&self.placeholder);
            copied = at;
            // Go on from the host, not from the end of the authority: a `:` right before that
            // end can open the next `://` (`db:3://user:pw@host`), whose credentials must not
            // be skipped (found by the `logproc` fuzz target).
            from = at;
        }
        out.map(|mut o| {
            o.push_str(&s[copied..]);
            o
        })
    }

    /// Rule 4: `local@domain.tld` → placeholder.
    fn email_addresses(&self, s: &str) -> Option<String> {
        let b = s.as_bytes();
        let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
        let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut i = 0;
        while let Some(p) = b[i..].iter().position(|&c| c == b'@') {
            let at = i + p;
            i = at + 1;
            let ls = at - b[..at].iter().rev().take_while(|&&c| local(c)).count();
            let de = at + 1 + b[at + 1..].iter().take_while(|&&c| domain(c)).count();
            let dom = s[at + 1..de].trim_end_matches(['.', '-']);
            let de = at + 1 + dom.len();
            let tld = dom.rsplit('.').next().unwrap_or("");
            if ls == at
                || ls < copied
                || !dom.contains('.')
                || tld.len() < 2
                || !tld.bytes().all(|c| c.is_ascii_alphabetic())
            {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
            o.push_str(&s[copied..ls]);
            o.push_str(&self.placeholder);
            copied = de;
            i = de;
        }
        out.map(|mut o| {
            o.push_str(&s[copied..]);
            o
        })
    }
}

/// What the first pass of [`Redactor::text`] found in a line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// A `=` or `:` (key-value candidates).
    sep: bool,
    /// A `:` (URL candidates).
    colon: bool,
    /// An `@` (URL credentials, e-mail addresses).
    at: bool,
    /// A run of 13 or more bytes of digits and single spaces or dashes after digits.
    card: bool,
}

/// The first pass over a line, 16 bytes at a time (`sys::simd::classes`; a shorter tail is
/// padded with zero bytes, which are nothing to any rule). Card candidates are runs of 13 or
/// more bytes that are digits, or a space or dash right after a digit: every card number with
/// its separators is one (and `mask_cards` checks the digits, issuer and Luhn). They are
/// found with masks: inside one chunk a run shorter than 13 cannot matter, so only the bytes
/// before a chunk's first break (which continue the run of the chunks before) and after its
/// last one (which start the run the next chunks continue) are counted.
fn scan(b: &[u8]) -> Scan {
    let mut f = Scan::default();
    // Digits in the current run; whether the last byte of the previous chunk was a digit.
    let (mut run, mut last_digit) = (0u32, false);
    // Masks of `:`, `=` and `@` bytes seen, or-ed chunk after chunk.
    let (mut colons, mut equals, mut ats) = (0u32, 0u32, 0u32);
    let mut i = 0;
    while i < b.len() {
        let k = match b.get(i..).and_then(<[u8]>::first_chunk::<16>) {
            Some(c) => crate::sys::scan::classes(c),
            // The tail as the line's last 16 bytes: the bytes scanned already shift out and
            // bytes of no class shift in, as the zeros of a copied tail would.
            None => match crate::sys::simd::last16(b) {
                Some(c) => crate::sys::scan::classes(c).down(16 - (b.len() - i) as u32),
                None => {
                    let mut c = [0u8; 16];
                    for (d, s) in c.iter_mut().zip(&b[i..]) {
                        *d = *s;
                    }
                    crate::sys::scan::classes(&c)
                }
            },
        };
        i += 16;
        colons |= k.colon;
        equals |= k.equal;
        ats |= k.at;
        let d = k.digit;
        if d == 0 && run == 0 {
            continue;
        }
        let keep = d | (k.sep & ((d << 1) | u32::from(last_digit)));
        let breaks = !keep & 0xffff;
        last_digit = d >> 15 != 0;
        if breaks == 0 {
            run += 16;
        } else {
            // Kept bytes before the first break end the run; those after the last start one.
            let (first, last) = (breaks.trailing_zeros(), 31 - breaks.leading_zeros());
            run += first;
            f.card |= run >= 13;
            run = 15 - last;
            // A run between two breaks of this chunk can be 13 or 14 bytes long too.
            let r2 = keep & (keep >> 1);
            let r4 = r2 & (r2 >> 2);
            let r8 = r4 & (r4 >> 4);
            f.card |= r8 & (r8 >> 4) & (keep >> 12) != 0;
        }
        f.card |= run >= 13;
    }
    f.colon = colons != 0;
    f.sep = colons | equals != 0;
    f.at = ats != 0;
    f
}

fn key_ends_with(key: &str, suffix: &str) -> bool {
    key.len() >= suffix.len() && key[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The key token that ends right before separator `sep` (quotes and spaces allowed between):
/// `(start, end)` byte offsets.
fn key_before(b: &[u8], sep: usize) -> Option<(usize, usize)> {
    let mut e = sep;
    while e > 0 && b[e - 1] == b' ' {
        e -= 1;
    }
    let quote = match e.checked_sub(1).map(|k| b[k]) {
        Some(q @ (b'"' | b'\'')) => {
            e -= 1;
            if e > 0 && b[e - 1] == b'\\' {
                e -= 1; // \"key\" inside a JSON string
            }
            Some(q)
        }
        _ => None,
    };
    let mut s = e;
    while s > 0 && e - s <= MAX_KEY {
        let c = b[s - 1];
        if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.') {
            s -= 1;
        } else {
            break;
        }
    }
    if s == e || e - s > MAX_KEY {
        return None;
    }
    if let Some(q) = quote {
        // The opening quote must be there too (possibly escaped: \"key\").
        if s == 0 || b[s - 1] != q {
            return None;
        }
    }
    Some((s, e))
}

/// The value after separator `sep`: inside its quotes if quoted, else the bare token (for an
/// `Authorization` value, the credential after its scheme).
fn value_after(b: &[u8], sep: usize) -> Option<(usize, usize)> {
    let mut v = sep + 1;
    if b[sep] == b'=' && b.get(v) == Some(&b'>') {
        v += 1; // PHP's 'key' => 'value'
    }
    // A quoted key's closing quote may sit before the separator or (JSON) we are past it.
    while v < b.len() && b[v] == b' ' {
        v += 1;
    }
    // Escaped quotes (JSON inside a JSON string): \"value\"
    if b.get(v) == Some(&b'\\') && matches!(b.get(v + 1), Some(b'"' | b'\'')) {
        let q = b[v + 1];
        let vs = v + 2;
        let mut k = vs;
        while k + 1 < b.len() && !(b[k] == b'\\' && b[k + 1] == q) && b[k] != b'\n' {
            k += 1;
        }
        return Some((vs, if k + 1 < b.len() { k } else { b.len() }));
    }
    if let Some(&q @ (b'"' | b'\'')) = b.get(v) {
        let vs = v + 1;
        // A value never runs past the end of its line (multiline records hold several).
        let mut k = vs;
        while k < b.len() && b[k] != q && b[k] != b'\n' {
            if b[k] == b'\\' {
                k += 1;
            }
            k += 1;
        }
        return Some((vs, k.min(b.len())));
    }
    let bare_end = |from: usize| {
        from + b[from..]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace()
                    || matches!(c, b',' | b';' | b'&' | b')' | b'}' | b']' | b'"' | b'\'')
            })
            .unwrap_or(b.len() - from)
    };
    let ve = bare_end(v);
    // "Authorization: Bearer abc" — the credential is the next word.
    let word = std::str::from_utf8(&b[v..ve]).ok()?;
    if AUTH_SCHEMES.iter().any(|s| word.eq_ignore_ascii_case(s)) && b.get(ve) == Some(&b' ') {
        let cs = ve + 1;
        let ce = bare_end(cs);
        if ce > cs {
            return Some((cs, ce));
        }
    }
    Some((v, ve))
}

/// Where `://` is.
fn find_scheme_sep(hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&c| c == b':') {
        let i = from + p;
        if hay.get(i + 1..i + 3) == Some(b"//") {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// Card lengths by issuer prefix (IIN ranges as published by the networks).
fn issuer_accepts(d: &[u8]) -> bool {
    let n = d.len();
    let num = |k: usize| {
        d[..k]
            .iter()
            .fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
    };
    match d[0] {
        b'4' => matches!(n, 13 | 16 | 19),                  // Visa
        b'5' => (51..=55).contains(&num(2)) && n == 16,     // Mastercard
        b'2' => (2221..=2720).contains(&num(4)) && n == 16, // Mastercard
        b'3' => {
            (matches!(num(2), 34 | 37) && n == 15)                                   // Amex
                || ((3528..=3589).contains(&num(4)) && (16..=19).contains(&n))        // JCB
                || (((300..=305).contains(&num(3)) || matches!(num(2), 36 | 38 | 39))
                    && (14..=19).contains(&n)) // Diners
        }
        b'6' => {
            (num(4) == 6011 || num(2) == 65 || (644..=649).contains(&num(3)) || num(2) == 62)
                && (16..=19).contains(&n) // Discover, UnionPay
        }
        _ => false,
    }
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, c) in d.iter().rev().enumerate() {
        let mut x = u32::from(c - b'0');
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum % 10 == 0
}

/// Whether the digits (separators removed) look like a real card number.
pub fn is_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && issuer_accepts(digits) && luhn(digits)
}

/// Most digit groups of one candidate (`4111 1111 1111 1111` has 4; a few more allow a card
/// between other numbers).
const MAX_GROUPS: usize = 8;

/// Rule 3: every card number masked but its last four digits.
pub fn mask_cards(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            // After `*` it is the kept tail of a card masked already: a second pass must
            // not take it for the start of another one (redaction is idempotent).
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'_' | b'*')))
        {
            i += 1;
            continue;
        }
        // Digit groups separated by one space or dash.
        let mut groups = [(0usize, 0usize); MAX_GROUPS];
        let mut n = 0;
        let mut k = i;
        loop {
            let gs = k;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            groups[n] = (gs, k);
            n += 1;
            if n == MAX_GROUPS
                || k + 1 >= b.len()
                || !matches!(b[k], b' ' | b'-')
                || !b[k + 1].is_ascii_digit()
            {
                break;
            }
            k += 1;
        }
        let groups = &groups[..n];
        let end = groups[n - 1].1;
        let total: usize = groups.iter().map(|g| g.1 - g.0).sum();
        // A run glued to letters is an identifier, not a number.
        let glued = b
            .get(end)
            .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
        let mut hit = None;
        if !glued && total >= 13 {
            // The longest span of whole groups, from the first group or later, that is a card.
            'search: for s0 in 0..n {
                for e0 in (s0..n).rev() {
                    let len: usize = groups[s0..=e0].iter().map(|g| g.1 - g.0).sum();
                    if len < 13 {
                        break;
                    }
                    if len > 19 {
                        continue;
                    }
                    let mut digits = [0u8; 19];
                    let mut d = 0;
                    for &(a, z) in &groups[s0..=e0] {
                        digits[d..d + z - a].copy_from_slice(&b[a..z]);
                        d += z - a;
                    }
                    if is_card(&digits[..d]) {
                        hit = Some((groups[s0].0, groups[e0].1, d));
                        break 'search;
                    }
                }
                if n == 1 {
                    break;
                }
            }
        }
        match hit {
            Some((hs, he, total)) => {
                let o = out.get_or_insert_with(|| b.to_vec());
                let mut seen = 0;
                for c in &mut o[hs..he] {
                    if c.is_ascii_digit() {
                        seen += 1;
                        if seen <= total - 4 {
                            *c = b'*';
                        }
                    }
                }
                i = he;
            }
            None => i = end.max(i + 1),
        }
    }
    // Only ASCII digits were replaced by ASCII '*': still UTF-8.
    out.map(|o| String::from_utf8(o).unwrap_or_default())
}

#[cfg(test)]
mod word_tests {
    use super::*;

    #[test]
    fn scan_matches_a_byte_by_byte_reference() {
        fn reference(b: &[u8]) -> Scan {
            let mut f = Scan::default();
            let mut run = 0;
            for (i, &c) in b.iter().enumerate() {
                match c {
                    b'0'..=b'9' => {
                        run += 1;
                        f.card |= run >= 13;
                    }
                    b' ' | b'-' if i > 0 && b[i - 1].is_ascii_digit() => {
                        run += 1;
                        f.card |= run >= 13;
                    }
                    b'=' => {
                        f.sep = true;
                        run = 0;
                    }
                    b':' => {
                        f.sep = true;
                        f.colon = true;
                        run = 0;
                    }
                    b'@' => {
                        f.at = true;
                        run = 0;
                    }
                    _ => run = 0,
                }
            }
            f
        }
        // Every byte at every offset of the first two words and the tail.
        for c in 0..=255u8 {
            for at in 0..19 {
                let mut v = *b"abcd XY.efgh ZW,ijk";
                v[at] = c;
                assert_eq!(scan(&v), reference(&v), "{c:#x} at {at}");
            }
        }
        // Digit runs across word edges, with separators.
        let cases = [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111 x",
            "id 12345678901234",
            "x 123456789012 y",
            "1234567  890123456",
            "12345678 -12345",
            "a 0123456789abcdefg 0123456789",
            "L1 @b@ abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz",
            "99999999999999999999999",
            "1 2 3 4 5 6 7 8 9 0 1 2 3 4",
            "12--34567890123456",
        ];
        // Pseudo-random lines over the bytes that matter.
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let len = (x % 40) as usize;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"0123456789012345 -=:@a\xe9"[(x % 23) as usize]
                })
                .collect();
            assert_eq!(scan(&v), reference(&v), "{v:?}");
        }
        for s in cases {
            for pad in 0..9 {
                let t = format!("{}{s}", "z".repeat(pad));
                assert_eq!(scan(t.as_bytes()), reference(t.as_bytes()), "{t:?}");
            }
        }
    }
}
