//! Table-driven tests with lines as real PHP stacks print them: PHP-FPM, nginx, PHP CLI,
//! Laravel (laravel.log, console, queue:work/Horizon), Monolog JSON, Symfony — and lines that
//! must come through untouched.

use std::sync::Arc;

use super::redact::{Redactor, UserPattern, is_card, mask_cards};
use super::*;
use Severity::*;

// ---------------------------------------------------------------------------------------------
// Level detection

#[test]
fn detects_levels_of_real_world_lines() {
    let cases: &[(&str, Option<Severity>)] = &[
        // The product README's examples.
        ("[ERROR] Database connection failed", Some(Error)),
        ("2024-11-20 ERROR: Query timeout", Some(Error)),
        (r#"{"level":"warn","msg":"Slow query"}"#, Some(Warn)),
        ("php artisan: INFO - Cache cleared", Some(Info)),
        // Laravel / Monolog line formatter.
        (
            "[2024-11-20 10:00:00] local.ERROR: Division by zero {\"exception\":\"[object] (DivisionByZeroError(code: 0): Division by zero at /var/www/app/Http/Controllers/HomeController.php:12)",
            Some(Error),
        ),
        (
            "[2024-11-20 10:00:00] production.WARNING: Cache miss for key users.42",
            Some(Warn),
        ),
        (
            "[2024-11-20 10:00:00] local.NOTICE: User 42 logged in",
            Some(Notice),
        ),
        (
            "[2024-11-20 10:00:00] local.ALERT: Disk almost full",
            Some(Alert),
        ),
        (
            "[2024-11-20 10:00:00] local.EMERGENCY: Database unreachable",
            Some(Emergency),
        ),
        (
            "[2024-11-20 10:00:00] local.CRITICAL: Payment provider down",
            Some(Critical),
        ),
        (
            "[2024-11-20 10:00:00] local.DEBUG: select * from users where id = ?",
            Some(Debug),
        ),
        // Symfony (Monolog with ISO dates), console style.
        (
            "[2024-11-20T10:00:00.123456+00:00] request.CRITICAL: Uncaught PHP Exception RuntimeException: \"boom\" at /app/src/Controller/HomeController.php line 21",
            Some(Critical),
        ),
        (
            "[2024-11-20T10:00:00.123456+00:00] app.INFO: Matched route \"app_home\".",
            Some(Info),
        ),
        (" [ERROR] Command \"foo\" is not defined.", Some(Error)),
        // Laravel 10+ console components, queue:work and Horizon.
        (
            "   INFO  Processing jobs from the [default] queue.",
            Some(Info),
        ),
        (
            "   WARN  The [public/storage] link already exists.",
            Some(Warn),
        ),
        (
            "  2024-11-20 10:00:01 App\\Jobs\\SendWelcomeEmail ........................ 3.21ms FAIL",
            Some(Error),
        ),
        (
            "  2024-11-20 10:00:01 App\\Jobs\\SendWelcomeEmail ........................ RUNNING",
            None,
        ),
        (
            "  2024-11-20 10:00:01 App\\Jobs\\SendWelcomeEmail ........................ 12.40ms DONE",
            None,
        ),
        // PHP-FPM master.
        (
            "[20-Nov-2024 10:00:00] NOTICE: fpm is running, pid 1",
            Some(Notice),
        ),
        (
            "[20-Nov-2024 10:00:00] WARNING: [pool www] server reached pm.max_children setting (5), consider raising it",
            Some(Warn),
        ),
        (
            "[20-Nov-2024 10:00:00] ERROR: unable to bind listening socket for address '127.0.0.1:9000': Address in use (98)",
            Some(Error),
        ),
        // PHP itself.
        (
            "PHP Fatal error:  Uncaught Exception: boom in /app/index.php:3",
            Some(Fatal),
        ),
        (
            "PHP Warning:  Undefined variable $user in /app/index.php on line 7",
            Some(Warn),
        ),
        (
            "PHP Notice:  Undefined index: id in /app/index.php on line 9",
            Some(Notice),
        ),
        (
            "PHP Deprecated:  Creation of dynamic property Foo::$bar is deprecated in /app/Foo.php on line 3",
            Some(Notice),
        ),
        (
            "PHP Parse error:  syntax error, unexpected token \"}\" in /app/index.php on line 4",
            Some(Fatal),
        ),
        (
            "Fatal error: Allowed memory size of 134217728 bytes exhausted",
            Some(Fatal),
        ),
        // nginx error log.
        (
            "2024/11/20 10:00:00 [error] 29#29: *1 open() \"/var/www/html/favicon.ico\" failed (2: No such file or directory)",
            Some(Error),
        ),
        (
            "2024/11/20 10:00:00 [notice] 1#1: start worker processes",
            Some(Notice),
        ),
        (
            "2024/11/20 10:00:00 [crit] 29#29: *3 SSL_do_handshake() failed",
            Some(Critical),
        ),
        (
            "2024/11/20 10:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed (98: Address in use)",
            Some(Emergency),
        ),
        (
            "2024/11/20 10:00:00 [warn] 1#1: the \"user\" directive makes sense only if the master process runs with super-user privileges",
            Some(Warn),
        ),
        // Apache-style module:level, logfmt.
        (
            "[Wed Nov 20 10:00:00.123 2024] [php:error] [pid 12] PHP Fatal error: boom",
            Some(Error),
        ),
        (
            "time=2024-11-20T10:00:00Z level=warn msg=\"slow request\" duration=2.1s",
            Some(Warn),
        ),
        ("ts=2024-11-20 lvl=ERROR msg=boom", Some(Error)),
        // Not levels: plain output, and words that only look like levels.
        (
            "Laravel development server started: http://0.0.0.0:8000",
            None,
        ),
        (
            "172.18.0.1 - - [20/Nov/2024:10:00:00 +0000] \"GET /index.php HTTP/1.1\" 200 1234",
            None,
        ),
        ("Cleared 0 error logs older than 7 days", None),
        ("Processed 12 jobs, 0 FAILED", None),
        ("error_reporting = E_ALL", None),
        ("display_errors: Off", None),
        ("debug: false", None),
        ("info@example.com subscribed", None),
        ("GET /api/info 200", None),
        ("Terror: a film review", None),
        ("WARNINGS: none", None),
        ("User 42 changed their password", None),
    ];
    for (line, want) in cases {
        assert_eq!(level::detect(line), *want, "{line}");
    }
}

#[test]
fn level_names_and_numbers() {
    assert_eq!(Severity::parse("WARNING"), Some(Warn));
    assert_eq!(Severity::parse("emerg"), Some(Emergency));
    assert_eq!(Severity::parse("loud"), None);
    assert_eq!(Severity::from_number(400), Some(Error)); // Monolog
    assert_eq!(Severity::from_number(250), Some(Notice));
    assert_eq!(Severity::from_number(40), Some(Warn)); // pino
    assert_eq!(Severity::from_number(7), None);
    assert!(Trace < Debug && Info < Notice && Warn < Error && Error < Critical);
    assert!(Critical < Fatal && Fatal < Alert && Alert < Emergency);
}

// ---------------------------------------------------------------------------------------------
// A stage under test: records collected as (level, msg, lines, fields as JSON text, partial).

type Out = (Severity, String, u32, Option<String>, bool);

fn run(rules: Rules, stderr: bool, input: &[(&str, u64)]) -> Vec<Out> {
    let mut st = Stage::new(Arc::new(rules), stderr);
    let mut out = Vec::new();
    let mut emit = |r: &Record<'_>| {
        out.push((
            r.level,
            r.msg.to_owned(),
            r.lines,
            r.json.map(|p| serde_json::to_string(&p.fields).unwrap()),
            r.partial,
        ))
    };
    for (line, at) in input {
        st.flush_due(*at, &mut emit);
        st.push(line.as_bytes(), false, *at, &mut emit);
    }
    st.finish(&mut emit);
    out
}

fn multiline(pattern: Option<&str>) -> Rules {
    Rules {
        multiline: Some(Multiline {
            start: pattern.map(|p| Regex::new(p).unwrap()),
            timeout_ms: 500,
            max_lines: 100,
        }),
        ..Rules::default()
    }
}

fn redactor() -> Redactor {
    Redactor {
        placeholder: DEFAULT_PLACEHOLDER.to_owned(),
        keys: Vec::new(),
        patterns: Vec::new(),
        emails: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Multiline

const PHP_TRACE: &[&str] = &[
    "PHP Fatal error:  Uncaught RuntimeException: Connection refused in /var/www/app/Services/Billing.php:42",
    "Stack trace:",
    "#0 /var/www/app/Http/Controllers/CheckoutController.php(31): App\\Services\\Billing->charge()",
    "#1 /var/www/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): App\\Http\\Controllers\\CheckoutController->store()",
    "#2 {main}",
    "  thrown in /var/www/app/Services/Billing.php on line 42",
];

const LARAVEL_TRACE: &[&str] = &[
    "[2024-11-20 10:00:00] production.ERROR: SQLSTATE[HY000] [2002] Connection refused {\"exception\":\"[object] (PDOException(code: 2002): SQLSTATE[HY000] [2002] Connection refused at /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:65)",
    "[stacktrace]",
    "#0 /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php(65): PDO->__construct()",
    "#1 /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/MySqlConnector.php(24): Illuminate\\Database\\Connectors\\Connector->createConnection()",
    "#2 {main}",
    "[previous exception] [object] (PDOException(code: 2002): Connection refused at /var/www/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:65)",
    "[stacktrace]",
    "#0 {main}",
    "\"} ",
];

#[test]
fn multiline_reassembles_php_and_laravel_traces() {
    let readme = Some(r#"^\[|^\d{4}-|^\{""#);
    for (name, rules_pattern) in [("built-in", None), ("README pattern", readme)] {
        for (trace, first_level) in [(PHP_TRACE, Fatal), (LARAVEL_TRACE, Error)] {
            let mut input: Vec<(&str, u64)> = trace.iter().map(|l| (*l, 0)).collect();
            input.push(("[2024-11-20 10:00:01] production.INFO: next request", 10));
            let out = run(multiline(rules_pattern), true, &input);
            assert_eq!(out.len(), 2, "{name}: {out:#?}");
            assert_eq!(out[0].0, first_level, "{name}");
            assert_eq!(out[0].1, trace.join("\n"), "{name}");
            assert_eq!(out[0].2, trace.len() as u32);
            assert_eq!((out[1].0, out[1].2), (Info, 1));
        }
    }
}

#[test]
fn multiline_readme_example_and_start_pattern() {
    let input = [
        ("[ERROR] Exception in Controller", 0),
        ("    at App\\Http\\Controllers\\UserController->store()", 1),
        ("    at Illuminate\\Routing\\Controller->callAction()", 2),
        (
            "    at Illuminate\\Routing\\ControllerDispatcher->dispatch()",
            3,
        ),
        ("2024-11-20 INFO: done", 4),
        // With the README pattern a line that starts no record joins the one before.
        ("continued without indentation", 5),
    ];
    let out = run(multiline(Some(r#"^\[|^\d{4}-|^\{""#)), false, &input);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!((out[0].0, out[0].2), (Error, 4));
    assert_eq!(
        out[1].1,
        "2024-11-20 INFO: done\ncontinued without indentation"
    );
    // Without a pattern every line that is not a continuation is its own record.
    let out = run(multiline(None), false, &input);
    assert_eq!(out.iter().map(|o| o.2).collect::<Vec<_>>(), [4, 1, 1]);
}

#[test]
fn multiline_deadline_max_lines_and_bounds() {
    let rules = || {
        let mut r = multiline(None);
        if let Some(m) = r.multiline.as_mut() {
            m.max_lines = 3;
        }
        Arc::new(r)
    };
    let mut st = Stage::new(rules(), false);
    let out: std::cell::RefCell<Vec<(String, u32)>> = Default::default();
    let mut emit = |r: &Record<'_>| out.borrow_mut().push((r.msg.to_owned(), r.lines));
    assert_eq!(st.next_deadline(), None);
    st.push(b"Exception: boom", false, 1_000, &mut emit);
    assert_eq!(st.next_deadline(), Some(1_500));
    st.push(b"  at a()", false, 1_200, &mut emit);
    assert_eq!(
        st.next_deadline(),
        Some(1_700),
        "the deadline follows the last line"
    );
    assert_eq!(st.held(), "Exception: boom\n  at a()".len());
    st.flush_due(1_699, &mut emit);
    assert!(out.borrow().is_empty());
    st.flush_due(1_700, &mut emit);
    assert_eq!(*out.borrow(), [("Exception: boom\n  at a()".to_owned(), 2)]);
    assert_eq!((st.next_deadline(), st.held()), (None, 0));
    // max_lines: the fourth line starts the next record.
    out.borrow_mut().clear();
    for l in ["E: x", "  1", "  2", "  3", "  4"] {
        st.push(l.as_bytes(), false, 2_000, &mut emit);
    }
    st.finish(&mut emit);
    assert_eq!(out.borrow().iter().map(|o| o.1).collect::<Vec<_>>(), [3, 2]);
    // MAX_RECORD_BYTES: a huge trace is cut into records of at most that size.
    out.borrow_mut().clear();
    let mut st = Stage::new(Arc::new(multiline(None)), false);
    let frame = format!("  at {}", "x".repeat(1000));
    st.push(b"Exception: huge", false, 0, &mut emit);
    for _ in 0..99 {
        st.push(frame.as_bytes(), false, 0, &mut emit);
        assert!(st.held() <= MAX_RECORD_BYTES);
    }
    st.finish(&mut emit);
    assert!(out.borrow().len() >= 2 && out.borrow().iter().all(|o| o.0.len() <= MAX_RECORD_BYTES));
    assert_eq!(
        out.borrow().iter().map(|o| o.1).sum::<u32>(),
        100,
        "no line lost"
    );
}

#[test]
fn multiline_long_line_pieces_pass_through_in_order() {
    let mut st = Stage::new(Arc::new(multiline(None)), false);
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut emit = |r: &Record<'_>| out.push((r.msg.to_owned(), r.partial));
    st.push(b"Exception: a", false, 0, &mut emit);
    st.push(b"piece1", true, 0, &mut emit);
    st.push(b"  tail of the long line", false, 0, &mut emit);
    st.push(b"  at next()", false, 0, &mut emit);
    st.finish(&mut emit);
    assert_eq!(
        out,
        [
            ("Exception: a".to_owned(), false),
            ("piece1".to_owned(), true),
            ("  tail of the long line".to_owned(), false),
            ("  at next()".to_owned(), false),
        ]
    );
}

#[test]
fn continuation_lines() {
    for l in [
        "  at x",
        "\tat y",
        "#0 {main}",
        "#12 /app/x.php(3): f()",
        "Stack trace:",
        "[stacktrace]",
        "[previous exception] [object] (E(code: 0): x at /a.php:1)",
        "\"} ",
        "Caused by: java.io.IOException",
        "Next RuntimeException: wrapped in /app/a.php:3",
    ] {
        assert!(is_continuation(l), "{l}");
    }
    for l in [
        "",
        "#hashtag",
        "[2024-11-20 10:00:00] local.ERROR: x",
        "Next up: deploy",
        "{\"a\":1}",
    ] {
        assert!(!is_continuation(l), "{l}");
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

#[test]
fn json_lines_become_level_msg_and_fields() {
    let p =
        json::parse(r#"{"level":"error","msg":"Query failed","query":"SELECT *","duration":5000}"#)
            .unwrap();
    assert_eq!((p.level, p.msg.as_str()), (Some(Error), "Query failed"));
    let mut text = Vec::new();
    json::render_text(&p, &mut text);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "[query_failed] Query failed (duration: 5000ms, query: SELECT *)"
    );

    // Monolog's JsonFormatter (Laravel's `json` channel).
    let monolog = r#"{"message":"Payment failed","context":{"order_id":"ORD-2024-000123","amount":4999},"level":400,"level_name":"ERROR","channel":"production","datetime":"2024-11-20T10:00:00.000000+00:00","extra":[]}"#;
    let p = json::parse(monolog).unwrap();
    assert_eq!((p.level, p.msg.as_str()), (Some(Error), "Payment failed"));
    assert!(!p.fields.contains_key("level") && !p.fields.contains_key("level_name"));
    let mut text = Vec::new();
    json::render_text(&p, &mut text);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        r#"[payment_failed] Payment failed (channel: production, context: {"amount":4999,"order_id":"ORD-2024-000123"}, datetime: 2024-11-20T10:00:00.000000+00:00)"#
    );
    // An `event` key names the record; pino's numeric levels; severity keys.
    let p =
        json::parse(r#"{"level":30,"event":"cache_cleared","msg":"Cache cleared","took_ms":12}"#)
            .unwrap();
    assert_eq!(p.level, Some(Info));
    let mut text = Vec::new();
    json::render_text(&p, &mut text);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "[cache_cleared] Cache cleared (took_ms: 12ms)"
    );
    assert_eq!(
        json::parse(r#"{"severity":"WARNING","message":"x"}"#)
            .unwrap()
            .level,
        Some(Warn)
    );
    // Not objects, broken, or too deep: plain text.
    for line in [
        "[1,2,3]",
        "{not json}",
        "{\"a\":1",
        "\"{}\"",
        &format!(
            "{}{}",
            "{\"a\":".repeat(20),
            "1".to_owned() + &"}".repeat(20)
        ),
    ] {
        assert!(json::parse(line).is_none(), "{line}");
    }
    let ok = format!(
        "{}1{}",
        "{\"a\":".repeat(json::MAX_JSON_DEPTH),
        "}".repeat(json::MAX_JSON_DEPTH)
    );
    assert!(json::parse(&ok).is_some());
}

#[test]
fn json_through_the_stage_with_redaction() {
    let rules = Rules {
        redaction: Some(redactor()),
        ..Rules::default()
    };
    let out = run(
        rules,
        false,
        &[(
            r#"{"level":"info","msg":"Login for admin@example.com","password":"secret123","api_key":"sk_live_abc","headers":{"Authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"},"dsn":"postgres://app:pgpass@db:5432/app","card":"4111111111111111","order_id":4000123456789017}"#,
            0,
        )],
    );
    assert_eq!(out.len(), 1);
    let (level, msg, _, fields, _) = &out[0];
    assert_eq!(
        (*level, msg.as_str()),
        (Info, "Login for admin@example.com")
    );
    let fields = fields.as_deref().unwrap();
    for secret in [
        "secret123",
        "sk_live_abc",
        "eyJhbGci",
        "pgpass",
        "4111111111111111",
    ] {
        assert!(!fields.contains(secret), "{secret} leaked: {fields}");
    }
    assert!(
        fields.contains(r#""password":"***REDACTED***""#),
        "{fields}"
    );
    assert!(
        fields.contains(r#""dsn":"postgres://app:***REDACTED***@db:5432/app""#),
        "{fields}"
    );
    assert!(fields.contains(r#""card":"************1111""#), "{fields}");
    // A number that is not a string is left alone, even if it passes Luhn.
    assert!(fields.contains("4000123456789017"), "{fields}");
}

// ---------------------------------------------------------------------------------------------
// Redaction

#[test]
fn redacts_secrets_in_plain_text() {
    let r = redactor();
    let cases: &[(&str, &str)] = &[
        // The README's example, as plain text (JSON parsing off, or JSON inside a message).
        (
            r#"{"password":"secret123","api_key":"sk_live_abc"}"#,
            r#"{"password":"***REDACTED***","api_key":"***REDACTED***"}"#,
        ),
        (
            "password=hunter2 user=bob",
            "password=***REDACTED*** user=bob",
        ),
        ("DB_PASSWORD=s3cr3t", "DB_PASSWORD=***REDACTED***"),
        (
            "mysql -u root --pwd=s3cr3t",
            "mysql -u root --pwd=***REDACTED***",
        ),
        (
            "login ok: password: hunter2, remember: true",
            "login ok: password: ***REDACTED***, remember: true",
        ),
        (
            "array ( 'password' => 'secret', 'email' => 'a@b.c' )",
            "array ( 'password' => '***REDACTED***', 'email' => 'a@b.c' )",
        ),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "Authorization: Bearer ***REDACTED***",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNz",
            "Authorization: Basic ***REDACTED***",
        ),
        ("X-Api-Key: abc123", "X-Api-Key: ***REDACTED***"),
        (
            "GET /callback?code=1&access_token=ya29.a0Af&state=x",
            "GET /callback?code=1&access_token=***REDACTED***&state=x",
        ),
        (
            "client_secret=\"ZmFrZQ==\"",
            "client_secret=\"***REDACTED***\"",
        ),
        ("accessToken: 'tok_123'", "accessToken: '***REDACTED***'"),
        ("_token=Qm9vb and done", "_token=***REDACTED*** and done"),
        ("APP_KEY=base64:AbCdEf0123456789=", "APP_KEY=***REDACTED***"),
        (
            "Cookie: laravel_session=eyJpdiI6; XSRF-TOKEN=abc",
            "Cookie: ***REDACTED***; XSRF-TOKEN=***REDACTED***",
        ),
        (
            r#"context: {\"password\":\"p4ss\"}"#,
            r#"context: {\"password\":\"***REDACTED***\"}"#,
        ),
        // Connection strings.
        (
            "DATABASE_URL=mysql://forge:Sup3r@Secret@mysql:3306/forge",
            "DATABASE_URL=mysql://forge:***REDACTED***@mysql:3306/forge",
        ),
        (
            "connecting to postgres://app:pgpass@db.internal:5432/app?sslmode=require",
            "connecting to postgres://app:***REDACTED***@db.internal:5432/app?sslmode=require",
        ),
        (
            "REDIS_URL=redis://:r3d1s@cache:6379/0",
            "REDIS_URL=redis://:***REDACTED***@cache:6379/0",
        ),
        (
            "mysql:host=db;dbname=app;user=root;password=secret",
            "mysql:host=db;dbname=app;user=root;password=***REDACTED***",
        ),
        // Card numbers (test PANs of Visa, Mastercard, Amex, Discover).
        (
            "charged 4111 1111 1111 1111 for order ORD-2024-000123",
            "charged **** **** **** 1111 for order ORD-2024-000123",
        ),
        ("card=5555555555554444", "card=************4444"),
        ("amex 3782-822463-10005 ok", "amex ****-******-*0005 ok"),
        ("Discover 6011111111111117.", "Discover ************1117."),
        (
            "paid 2024 4242424242424242 12/27",
            "paid 2024 ************4242 12/27",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(r.text(input), *want, "{input}");
    }
}

#[test]
fn leaves_lines_without_secrets_alone() {
    let r = redactor();
    let keep: &[&str] = &[
        "User 42 changed their password",
        "Password reset link sent to user 42",
        "password_reset_at=2024-11-20T10:00:00Z",
        "tokens_used=1532 author=jane",
        "password: ",
        "order 1000234567890123 shipped", // starts with 1: no card issuer
        "order_id=4000123456789010 (fails Luhn)",
        "timestamp 1732096800123 and 20241120100000123",
        "request 9b2f4c1e-6a1d-4c8e-9f3b-2d7e5a1c0b4f took 12ms",
        "trace id 4111111111111111111111 is too long for a card",
        "phone +44 20 7946 0958",
        "GET https://example.com/api/v1/users?page=2 200",
        "App\\Http\\Controllers\\UserController::store",
        "[2024-11-20 10:00:00] local.INFO: ok",
        "id: 550e8400-e29b-41d4-a716-446655440000",
        "support@example.com wrote", // e-mails are opt-in
        "ipv6 fe80::1 up",
        "PWD=/var/www/html pwd=~/app",
    ];
    for line in keep {
        assert_eq!(r.text(line), *line, "changed: {line}");
        assert!(
            matches!(r.text(line), Cow::Borrowed(_)),
            "allocated: {line}"
        );
    }
}

#[test]
fn redaction_stays_within_each_line_of_a_multiline_record() {
    let r = redactor();
    let cases: &[(&str, &str)] = &[
        (
            "Exception: password=hunter2\n  #0 frame",
            "Exception: password=***REDACTED***\n  #0 frame",
        ),
        (
            "token: \"abc\n  #0 \"x\"",
            "token: \"***REDACTED***\n  #0 \"x\"",
        ),
        (
            "dsn mysql://u:p@h\nnext: mysql://v:q@i",
            "dsn mysql://u:***REDACTED***@h\nnext: mysql://v:***REDACTED***@i",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(r.text(input), *want, "{input}");
    }
}

#[test]
fn emails_user_keys_and_user_regexes() {
    let r = Redactor {
        emails: true,
        keys: vec!["ssn".to_owned()],
        patterns: vec![UserPattern {
            regex: Regex::new(r"sk_live_[0-9a-zA-Z]+").unwrap(),
            replacement: "[stripe key]".to_owned(),
        }],
        ..redactor()
    };
    assert_eq!(
        r.text("mail to jane.doe+x@example.co.uk now"),
        "mail to ***REDACTED*** now"
    );
    assert_eq!(
        r.text("customer_ssn=123-45-6789"),
        "customer_ssn=***REDACTED***"
    );
    assert_eq!(
        r.text("using sk_live_4eC39HqLyjWDarjtT1 now"),
        "using [stripe key] now"
    );
    assert_eq!(
        r.text("redis://user:pw@cache.local:6379"),
        "redis://user:***REDACTED***@cache.local:6379"
    );
}

#[test]
fn card_checks() {
    for pan in [
        "4111111111111111",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
        "6200000000000005",
    ] {
        assert!(is_card(pan.as_bytes()), "{pan}");
    }
    for n in [
        "4111111111111112",
        "1234567812345670",
        "0000000000000000",
        "9111111111111111",
    ] {
        assert!(!is_card(n.as_bytes()), "{n}");
    }
    assert_eq!(mask_cards("x4111111111111111"), None, "glued to a word");
    assert_eq!(mask_cards("4111111111111111x"), None);
    // Fuzz finding: a masked card's kept last four digits, with more groups after them,
    // looked like a new card to a second pass.
    let once =
        mask_cards("card 4111 1111 11 115500-0000-0000-0004 1111").expect("a card is masked");
    assert_eq!(mask_cards(&once), None, "a second pass changed {once:?}");
}

// ---------------------------------------------------------------------------------------------
// Filtering and the stage's other switches

#[test]
fn filters_by_level_and_pattern() {
    let rules = Rules {
        filter: Some(Filter {
            min: Some(Info),
            exclude: vec![
                Matcher::new("health_check").unwrap(),
                Matcher::new(r"GET /ping\b").unwrap(),
            ],
            include: Vec::new(),
        }),
        ..Rules::default()
    };
    let out = run(
        rules,
        false,
        &[
            ("[2024-11-20 10:00:00] local.DEBUG: select * from users", 0),
            ("GET /health_check 200", 0),
            ("GET /ping 200", 0),
            ("GET /pingdom 200", 0),
            ("plain line", 0),
            ("[ERROR] kept", 0),
            (r#"{"level":"debug","msg":"dropped"}"#, 0),
        ],
    );
    let msgs: Vec<&str> = out.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(msgs, ["GET /pingdom 200", "plain line", "[ERROR] kept"]);
    // Include list: only matching records stay.
    let rules = Rules {
        filter: Some(Filter {
            min: None,
            exclude: Vec::new(),
            include: vec![Matcher::new("keep").unwrap()],
        }),
        ..Rules::default()
    };
    let out = run(rules, false, &[("keep me", 0), ("drop me", 0)]);
    assert_eq!(out.len(), 1);
}

#[test]
fn defaults_custom_levels_and_stream_switches() {
    // Nothing detected: the default level, on stderr too; nothing is dropped by default.
    let out = run(
        Rules::default(),
        true,
        &[("something happened", 0), ("", 0)],
    );
    assert_eq!(out.iter().map(|o| o.0).collect::<Vec<_>>(), [Info, Info]);
    // User patterns win over the built-in scan, most severe first.
    let rules = Rules {
        custom_levels: vec![
            (Critical, Regex::new("^OOPS").unwrap()),
            (Warn, Regex::new("slow").unwrap()),
        ],
        ..Rules::default()
    };
    let out = run(
        rules,
        false,
        &[
            ("OOPS slow", 0),
            ("[ERROR] slow query", 0),
            ("[ERROR] x", 0),
        ],
    );
    assert_eq!(
        out.iter().map(|o| o.0).collect::<Vec<_>>(),
        [Critical, Warn, Error]
    );
    // Detection and JSON off: the line is kept as written, at the default level.
    let rules = Rules {
        detect: false,
        json: false,
        default_level: Notice,
        ..Rules::default()
    };
    let line = r#"{"level":"error","msg":"x"}"#;
    let out = run(rules, false, &[(line, 0), ("[ERROR] y", 0)]);
    assert_eq!(
        (out[0].0, out[0].1.as_str(), &out[0].3),
        (Notice, line, &None)
    );
    assert_eq!(out[1].0, Notice);
    // A stream switched off drops its lines.
    let rules = Rules {
        stderr: false,
        ..Rules::default()
    };
    assert!(run(rules, true, &[("x", 0)]).is_empty());
}

#[test]
fn invalid_utf8_is_replaced_not_dropped() {
    let mut st = Stage::new(Arc::new(Rules::default()), false);
    let mut out = Vec::new();
    st.push(b"caf\xe9 [ERROR]", false, 0, &mut |r: &Record<'_>| {
        out.push((r.level, r.msg.to_owned()))
    });
    assert_eq!(out, [(Error, "caf\u{fffd} [ERROR]".to_owned())]);
}

#[test]
fn user_regexes_accept_literal_braces_like_re2() {
    let readme = super::regex(r#"^\[|^\d{4}-|^{""#).unwrap();
    for l in ["[x", "2024-11-20", "{\"level\":\"info\"}"] {
        assert!(readme.is_match(l), "{l}");
    }
    assert!(!readme.is_match("  at x"));
    assert!(super::regex("a{2}").unwrap().is_match("xaa"));
    assert!(!super::regex("^a{2}$").unwrap().is_match("a{2}"));
    assert!(super::regex("[{]x").unwrap().is_match("{x"));
    assert!(super::regex(r"\{x").unwrap().is_match("{x"));
    assert!(super::regex("(").is_err());
}

/// Fuzz finding (target `logproc`): a URL whose authority ends in `:` right before the next
/// `://` hid that URL's credentials from the first pass (a second pass then found them).
#[test]
fn url_credentials_right_after_an_authority_are_redacted() {
    let r = redactor();
    let line = "url=mysql://root:pw@db:3://user:pw@host306/app";
    let once = r.text(line);
    assert_eq!(
        once,
        "url=mysql://root:***REDACTED***@db:3://user:***REDACTED***@host306/app"
    );
    assert_eq!(r.text(&once), once, "a second pass must find nothing left");
    assert_eq!(
        r.text("a http://u:p@h://v:q@i b"),
        "a http://u:***REDACTED***@h://v:***REDACTED***@i b"
    );
}
