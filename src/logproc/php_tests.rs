//! The PHP joiner through the whole stage, with default rules (nothing configured): traces
//! as PHP and Laravel print them, php-fpm's worker wrapper and its cut pieces as php-fpm 8.2
//! writes them (captured from the real binary).

use std::sync::Arc;

use super::*;

/// (level, msg, lines, fields as JSON) of every record, in order.
type Out = (Severity, String, u32, Option<String>);

fn run_with(rules: Rules, input: &[(&str, u64)]) -> (Vec<Out>, Vec<Option<u64>>) {
    let mut st = Stage::new(Arc::new(rules), true);
    let mut out = Vec::new();
    let mut deadlines = Vec::new();
    let mut emit = |r: &Record<'_>| {
        out.push((
            r.level,
            r.msg.to_owned(),
            r.lines,
            r.json.map(|p| serde_json::to_string(&p.fields).unwrap()),
        ))
    };
    for (line, at) in input {
        st.flush_due(*at, &mut emit);
        st.push(line.as_bytes(), false, *at, &mut emit);
        deadlines.push(st.next_deadline());
    }
    st.finish(&mut emit);
    (out, deadlines)
}

fn run(input: &[&str]) -> Vec<Out> {
    let timed: Vec<(&str, u64)> = input.iter().map(|l| (*l, 0)).collect();
    run_with(Rules::default(), &timed).0
}

fn laravel(frames: usize) -> Vec<String> {
    let mut v = vec![
        "[2026-12-06 11:00:00] production.ERROR: Division by zero {\"userId\":1,\"exception\":\"[object] (DivisionByZeroError(code: 0): Division by zero at /app/app/Http/Controllers/HomeController.php:12)".to_owned(),
        "[stacktrace]".to_owned(),
    ];
    for i in 0..frames - 1 {
        v.push(format!(
            "#{i} /app/vendor/laravel/framework/src/Illuminate/Routing/Pipeline.php({}): Illuminate\\\\Pipeline\\\\Pipeline->handle(Object(Illuminate\\\\Http\\\\Request))",
            100 + i
        ));
    }
    v.push(format!("#{} {{main}}", frames - 1));
    v.push("\"} ".to_owned());
    v
}

#[test]
fn a_laravel_trace_is_one_record_at_the_first_lines_level() {
    let lines = laravel(20);
    let mut input: Vec<&str> = lines.iter().map(String::as_str).collect();
    input.push("[2026-12-06 11:00:01] production.INFO: next request");
    let out = run(&input);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].0, Severity::Error);
    assert_eq!(out[0].2, 23);
    assert_eq!(out[0].1, lines.join("\n"));
    assert_eq!(out[1].0, Severity::Info);
}

#[test]
fn a_php_trace_with_next_is_one_record() {
    let input = [
        "PHP Fatal error:  Uncaught LogicException: inner in /tmp/t.php:2",
        "Stack trace:",
        "#0 /tmp/t.php(2): f()",
        "#1 {main}",
        "",
        "Next RuntimeException: outer in /tmp/t.php:2",
        "Stack trace:",
        "#0 {main}",
        "  thrown in /tmp/t.php on line 2",
        "after",
    ];
    let out = run(&input);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].1, input[..9].join("\n"));
    assert_eq!(out[0].2, 9);
    assert!(out[0].0 >= Severity::Error, "{:?}", out[0].0);
    assert_eq!(out[1].1, "after");
}

#[test]
fn a_blank_line_not_followed_by_next_stays_its_own_record() {
    let out = run(&[
        "Exception: x in /a.php:3",
        "Stack trace:",
        "#0 {main}",
        "",
        "done",
    ]);
    let msgs: Vec<&str> = out.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "Exception: x in /a.php:3\nStack trace:\n#0 {main}",
            "",
            "done"
        ]
    );
}

#[test]
fn ordinary_lines_are_not_held_and_lines_ending_in_a_digit_wait_briefly() {
    let (out, deadlines) = run_with(
        Rules::default(),
        &[("GET /index.php 200 \"curl\"", 10), ("processed 42", 20)],
    );
    assert_eq!(deadlines, [None, Some(20 + phptrace::HOLD_MS)]);
    assert_eq!(out.len(), 2);
    // And the wait ends on its deadline.
    let mut st = Stage::new(Arc::new(Rules::default()), false);
    let mut n = 0;
    st.push(b"processed 42", false, 0, &mut |_| n += 1);
    st.flush_due(phptrace::HOLD_MS - 1, &mut |_| n += 1);
    assert_eq!(n, 0);
    st.flush_due(phptrace::HOLD_MS, &mut |_| n += 1);
    assert_eq!(n, 1);
    assert_eq!(st.held(), 0);
}

#[test]
fn php_fpm_wrapper_is_removed_and_pool_and_child_become_fields() {
    let out = run(&[
        "[06-Dec-2026 11:30:34] WARNING: [pool www] child 3309 said into stderr: \"NOTICE: PHP message: x\"",
        "[06-Dec-2026 11:30:34] WARNING: [pool www] child 3309 said into stdout: \"to stdout\"",
        "[06-Dec-2026 11:30:33] NOTICE: fpm is running, pid 3291",
    ]);
    assert_eq!(out[0].1, "x");
    assert_eq!(out[0].0, Severity::Info);
    assert_eq!(out[0].3.as_deref(), Some(r#"{"child":3309,"pool":"www"}"#));
    assert_eq!(out[1].1, "to stdout");
    assert_eq!(
        out[2].1,
        "[06-Dec-2026 11:30:33] NOTICE: fpm is running, pid 3291"
    );
    assert_eq!(out[2].3, None);
}

/// php-fpm 8.2 with `log_limit = 1024`: a 3,000-byte line in pieces of exactly 1023 bytes.
fn cut(content: &str, child: u32) -> Vec<String> {
    let prefix =
        format!("[06-Dec-2026 11:30:47] WARNING: [pool www] child {child} said into stderr: \"");
    let room = 1023 - prefix.len() - 1;
    let b = content.as_bytes();
    b.chunks(room)
        .map(|c| format!("{prefix}{}\"", std::str::from_utf8(c).unwrap()))
        .collect()
}

#[test]
fn pieces_php_fpm_cut_at_log_limit_are_one_line_again() {
    let long = format!("{}{}", "c".repeat(1500), "d".repeat(1500));
    let pieces = cut(&long, 12);
    assert_eq!(pieces.len(), 4);
    assert!(pieces[..3].iter().all(|p| p.len() == 1023));
    let mut input: Vec<&str> = pieces.iter().map(String::as_str).collect();
    input.push("WARNING: [pool www] child 12 said into stderr: \"short\"");
    let out = run(&input);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].1, long);
    assert_eq!(out[0].2, 1);
    assert_eq!(out[1].1, "short");
}

#[test]
fn pieces_of_another_child_are_not_glued() {
    let a = cut(&"a".repeat(2000), 1);
    let b = "WARNING: [pool www] child 2 said into stderr: \"b\"";
    let out = run(&[&a[0], b, &a[1]]);
    let msgs: Vec<&str> = out.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1], "b");
}

#[test]
fn a_laravel_trace_through_php_fpm_is_one_record() {
    let lines = laravel(5);
    let wrapped: Vec<String> = lines
        .iter()
        .map(|l| format!("WARNING: [pool www] child 7 said into stderr: \"{l}\""))
        .collect();
    let input: Vec<&str> = wrapped.iter().map(String::as_str).collect();
    let out = run(&input);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].1, lines.join("\n"));
    assert_eq!(out[0].0, Severity::Error);
    assert_eq!(out[0].3.as_deref(), Some(r#"{"child":7,"pool":"www"}"#));
}

#[test]
fn each_part_can_be_switched_off() {
    let lines = laravel(3);
    let input: Vec<&str> = lines.iter().map(String::as_str).collect();
    let timed: Vec<(&str, u64)> = input.iter().map(|l| (*l, 0)).collect();
    let rules = Rules {
        php_traces: false,
        ..Rules::default()
    };
    assert_eq!(run_with(rules, &timed).0.len(), lines.len());
    let wrapped = "WARNING: [pool www] child 7 said into stderr: \"x\"";
    let rules = Rules {
        fpm_log_limit: None,
        ..Rules::default()
    };
    assert_eq!(run_with(rules, &[(wrapped, 0)]).0[0].1, wrapped);
}

#[test]
fn undecorated_php_fpm_output_is_unchanged() {
    // decorate_workers_output = no: bare lines, cut at 1023 bytes with nothing to tell.
    let out = run(&["NOTICE: PHP message: x", &"c".repeat(1023), "ccc"]);
    let msgs: Vec<&str> = out.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(msgs, ["NOTICE: PHP message: x", &"c".repeat(1023), "ccc"]);
}
