//! `PHPEEK_PM_GLOBAL_*` / `PHPEEK_PM_PROCESS_*` overrides over a fixed config file, and over
//! no file at all. Input: `NAME=value` lines; `PHPEEK_PM_` is prepended to each NAME so the
//! fuzzer starts inside the override namespace.
#![no_main]

use libfuzzer_sys::fuzz_target;
use phpeek_pm_fuzz::{config, env_lines, fields};

const BASE: &str = "global:\n  shutdown_timeout: 10\nprocesses:\n  queue-default:\n    command: [\"php\", \"artisan\", \"queue:work\"]\n    scale: 2\n  nginx:\n    command: nginx -g 'daemon off;'\n    depends_on: [queue-default]\n";

fuzz_target!(|data: &[u8]| {
    let Some(f) = fields(data) else { return };
    let env = env_lines(f[0], "PHPEEK_PM_");
    let users = || (String::new(), String::new());
    for file in [Some(("base.yaml", BASE)), None] {
        let inputs = config::Inputs {
            file,
            env: &env,
            passwd: &users,
        };
        let checked = config::check(&inputs);
        for e in checked.errors.iter().chain(&checked.warnings) {
            let _ = e.to_string();
        }
    }
});
