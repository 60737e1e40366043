use super::*;
use std::collections::HashMap;

const STATUS: &str = r#"{"pool":"www","process manager":"static","start time":1732000000,"start since":12,"accepted conn":7,"listen queue":1,"max listen queue":2,"listen queue len":4096,"idle processes":0,"active processes":2,"total processes":2,"max active processes":2,"max children reached":3,"slow requests":4}"#;

#[test]
fn parses_the_json_status_page() {
    let s = parse_status(STATUS.as_bytes()).unwrap();
    assert_eq!(
        s,
        PoolStatus {
            pool: "www".into(),
            up: true,
            accepted_conn: 7,
            listen_queue: 1,
            max_listen_queue: 2,
            listen_queue_len: 4096,
            idle_processes: 0,
            active_processes: 2,
            total_processes: 2,
            max_active_processes: 2,
            max_children_reached: 3,
            slow_requests: 4,
        }
    );
    assert_eq!(parse_status(b"<html>"), None);
    assert_eq!(parse_status(&[0xff, 0xfe]), None);
}

fn files(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = list
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |p: &str| m.get(p).cloned()
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn finds_status_pages_in_the_pool_config() {
    let read = files(&[(
        "/c/fpm.conf",
        "[global]\nerror_log = /dev/stderr\n; comment\n[www]\nlisten = 127.0.0.1:9000\npm.status_path = /status\n\
         [status-on-own-port]\nlisten = /run/$pool.sock\npm.status_path=/st\npm.status_listen = 9001\n\
         [no-status]\nlisten = 9002\n",
    )]);
    let t = targets(
        &argv(&["/usr/sbin/php-fpm8.2", "-F", "-y", "/c/fpm.conf"]),
        &read,
    );
    assert_eq!(
        t,
        [
            Target {
                pool: "www".into(),
                addr: Addr::Tcp("127.0.0.1:9000".parse().unwrap()),
                path: "/status".into()
            },
            Target {
                pool: "status-on-own-port".into(),
                addr: Addr::Tcp("127.0.0.1:9001".parse().unwrap()),
                path: "/st".into()
            },
        ]
    );
    assert!(targets(&argv(&["nginx", "-y", "/c/fpm.conf"]), &read).is_empty());
    assert!(targets(&argv(&["php-fpm", "--fpm-config=/nope"]), &read).is_empty());
}

#[test]
fn follows_include_globs() {
    let dir = std::env::temp_dir().join(format!("phpeek-fpm-inc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("pool.d")).unwrap();
    std::fs::write(dir.join("main.conf"), "[global]\ninclude=pool.d/*.conf\n").unwrap();
    std::fs::write(
        dir.join("pool.d/www.conf"),
        "[www]\nlisten = /run/php/fpm.sock\npm.status_path = /status\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pool.d/skip.txt"),
        "[x]\nlisten=1\npm.status_path=/s\n",
    )
    .unwrap();
    let main = dir.join("main.conf").to_string_lossy().into_owned();
    let t = targets(&argv(&["php-fpm", "-y", &main]), &|p| {
        std::fs::read_to_string(p).ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        t,
        [Target {
            pool: "www".into(),
            addr: Addr::Unix("/run/php/fpm.sock".into()),
            path: "/status".into()
        }]
    );
}

#[test]
fn listen_forms() {
    assert_eq!(
        parse_listen("0.0.0.0:9000"),
        Some(Addr::Tcp("127.0.0.1:9000".parse().unwrap()))
    );
    assert_eq!(
        parse_listen("[::]:9000"),
        Some(Addr::Tcp("[::1]:9000".parse().unwrap()))
    );
    assert_eq!(
        parse_listen("localhost:9000"),
        Some(Addr::Tcp("127.0.0.1:9000".parse().unwrap()))
    );
    assert_eq!(parse_listen("example.com:9000"), None);
}
