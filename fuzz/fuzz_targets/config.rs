//! Config loading and validation: YAML text → `${VAR}` → key check → env overrides → model,
//! then the supervisor built from whatever validated (its start plan and first actions).
//! Input: YAML, then optionally NUL + environment lines, NUL + /etc/passwd, NUL + /etc/group.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::{config, env_lines, fields, supervisor};

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data) else { return };
    let yaml = f[0];
    let env = env_lines(f.get(1).copied().unwrap_or(""), "");
    let passwd = f.get(2).copied().unwrap_or("").to_owned();
    let group = f.get(3).copied().unwrap_or("").to_owned();
    let users = move || (passwd.clone(), group.clone());
    let inputs = config::Inputs {
        file: Some(("fuzz.yaml", yaml)),
        env: &env,
        passwd: &users,
    };
    let mut checked = config::check(&inputs);
    match checked.config.take().filter(|_| checked.errors.is_empty()) {
        Some(c) => {
            let _ = supervisor::describe_plan(&c);
            let mut s = supervisor::Supervisor::new(&c, 1);
            s.start(0);
            while s.poll_action().is_some() {}
            let _ = s.next_deadline();
        }
        None => {
            // Every error is printable and says where it is.
            for e in &checked.errors {
                let _ = e.to_string();
            }
        }
    }
});
