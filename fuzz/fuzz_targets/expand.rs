//! `${VAR}` / `${VAR:-default}` / `$${` expansion. Input: text, then optionally NUL +
//! `NAME=value` lines. Checks: text without `${` comes out unchanged; the output never holds
//! more than the text plus every substituted value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::{config::expand::expand, env_lines, fields};

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data) else { return };
    let text = f[0];
    let env = env_lines(f.get(1).copied().unwrap_or(""), "");
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let out = expand(text, lookup);
    if !text.contains("${") {
        assert_eq!(out, text, "text without ${{ must come out unchanged");
    }
    let longest = env.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let refs = text.matches("${").count();
    assert!(
        out.len() <= text.len() + refs * longest,
        "expansion grew beyond its substitutions"
    );
});
