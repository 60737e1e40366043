//! Duration parsing (`30`, `500ms`, `1m30s`): no panic, no overflow; a bare integer means
//! seconds; whatever parses also parses with surrounding whitespace, to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::config::duration::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let r = parse(s);
    if let Ok(n) = s.trim().parse::<u64>() {
        match n.checked_mul(1000) {
            Some(ms) => assert_eq!(r.as_ref().map(|d| d.ms()), Ok(ms), "{s:?}"),
            None => assert!(r.is_err(), "{s:?} overflows"),
        }
    }
    if let Ok(d) = &r {
        assert_eq!(parse(&format!(" {s} ")).as_ref().map(|d| d.ms()), Ok(d.ms()));
    }
    if let Err(e) = &r {
        assert!(e.contains("invalid duration"), "{e}");
    }
});
