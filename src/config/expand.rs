//! `${VAR}` and `${VAR:-default}` expansion, applied to the file text before YAML parsing (as
//! the original tool does), so numbers and booleans can come from the environment too. An unset
//! `${VAR}` becomes empty; `${VAR:-default}` uses the default when VAR is unset or empty.
//! `$${` is a literal `${`.

/// Expands every `${...}` in `text` using `lookup`.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[pos..]);
            return out;
        };
        let inner = &after[..end];
        let (name, default) = match inner.find(":-") {
            Some(i) => (&inner[..i], Some(&inner[i + 2..])),
            None => (inner, None),
        };
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            out.push_str(&rest[pos..pos + 3 + end]);
        } else {
            let value = lookup(name).filter(|v| !(v.is_empty() && default.is_some()));
            match (value, default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {}
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_unset_and_defaults() {
        assert_eq!(expand("a ${SET} b", env), "a value b");
        assert_eq!(expand("${UNSET}", env), "");
        assert_eq!(expand("${UNSET:-3}", env), "3");
        assert_eq!(expand("${EMPTY:-d}", env), "d");
        assert_eq!(expand("${SET:-d}", env), "value");
        assert_eq!(expand("x: ${SET}${SET}", env), "x: valuevalue");
    }

    #[test]
    fn leaves_odd_text_alone() {
        assert_eq!(expand("$${SET}", env), "${SET}");
        assert_eq!(expand("${not closed", env), "${not closed");
        assert_eq!(expand("${a b}", env), "${a b}");
        assert_eq!(expand("$HOME", env), "$HOME");
    }
}
