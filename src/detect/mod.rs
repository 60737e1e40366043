//! Framework detection and set-up (feature `detect`).
//!
//! At start-up, in the manager's working directory (the image's `WORKDIR`):
//! `artisan` → Laravel; `bin/console` and `var/` → Symfony; `wp-config.php` → WordPress;
//! otherwise generic PHP. The result is logged, shown by `--dry-run` and kept for the status
//! snapshot.
//!
//! For Laravel, the directories the framework writes to (`storage/…`, `bootstrap/cache`) are
//! created when missing — a fresh checkout or a slim image often lacks them — mode 0775 and
//! owned by the user php-fpm's workers run as (`pool.rs`: the php-fpm process's `user:` when
//! not root, else its pool's `user =`, else `www-data` for a root master). Those directories
//! that exist but belong to root (a `COPY` as root) while the workers run as another user are
//! fixed the same way (not recursively); any other existing directory is left alone. On a
//! read-only root filesystem nothing is touched: a warning says what is missing.
//! `global.framework_setup: false` turns the set-up off; detection still runs.

mod pool;

use std::path::{Path, PathBuf};

use crate::config::model::{Config, Level};
use crate::startup::step::{Failure, Prepared, Request};
use crate::supervisor::{Field, Note};

/// What the working directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framework {
    Laravel,
    Symfony,
    WordPress,
    Generic,
}

impl Framework {
    pub const fn as_str(self) -> &'static str {
        match self {
            Framework::Laravel => "laravel",
            Framework::Symfony => "symfony",
            Framework::WordPress => "wordpress",
            Framework::Generic => "generic",
        }
    }
}

/// The directories a Laravel application writes to at run time (relative to its root).
pub const LARAVEL_DIRS: [&str; 6] = [
    "storage/app/public",
    "storage/framework/cache/data",
    "storage/framework/sessions",
    "storage/framework/views",
    "storage/logs",
    "bootstrap/cache",
];

/// Mode of the directories created: the owner and its group may write (php-fpm's workers
/// often run as the owner's group), others may read.
const DIR_MODE: u32 = 0o775;
/// `PHPEEK_PM_READ_ONLY_ROOT=true` says the root filesystem is read-only even when it is not
/// mounted so (the Go tool's variable).
const READ_ONLY_ENV: &str = "PHPEEK_PM_READ_ONLY_ROOT";

/// Recognises the application in `dir`.
pub fn detect(dir: &Path) -> Framework {
    if dir.join("artisan").is_file() {
        Framework::Laravel
    } else if dir.join("bin/console").is_file() && dir.join("var").is_dir() {
        Framework::Symfony
    } else if dir.join("wp-config.php").is_file() {
        Framework::WordPress
    } else {
        Framework::Generic
    }
}

/// Who should own what the set-up creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    /// How the configuration names it (`www-data`, or the uid).
    pub name: String,
    /// Where it was found (`the user: of process php-fpm`, `pool www in /etc/…/www.conf`).
    pub source: String,
}

/// Whether a process runs php-fpm: named so, or its program is `php-fpm…` (`php-fpm8.2`).
fn runs_php_fpm(name: &str, command: &[String]) -> bool {
    let prog = command
        .first()
        .map(|c| c.rsplit('/').next().unwrap_or(c))
        .unwrap_or("");
    name == "php-fpm" || prog.starts_with("php-fpm")
}

/// The user (and group) php-fpm's workers run as (see `pool.rs`); `root`: the manager runs
/// as root (so does a php-fpm master without `user:`). `Ok(None)`: no php-fpm process, or its
/// workers run as the manager's own user; `Err`: the user could not be resolved.
pub fn php_fpm_owner(
    config: &Config,
    env: &[(String, String)],
    root: bool,
) -> Result<Option<Owner>, String> {
    let Some(p) = config
        .processes
        .iter()
        .find(|p| runs_php_fpm(&p.name, &p.command))
    else {
        return Ok(None);
    };
    match &p.credentials {
        Some(c) if c.uid != 0 => {
            return Ok(Some(Owner {
                uid: c.uid,
                gid: c.gid,
                name: c.name.clone().unwrap_or_else(|| c.uid.to_string()),
                source: format!("the user of process {}", p.name),
            }));
        }
        None if !root => return Ok(None),
        _ => {}
    }
    // A root master: the workers become the pool's user.
    let read = |f: &Path| std::fs::read_to_string(f).ok();
    let list = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    };
    let found = pool::main_conf(&p.command, &|f| f.is_file())
        .and_then(|main| pool::pool_user(&main, &read, &list, env));
    let (user, group, source) = match found {
        Some(u) => (u.user, u.group, u.source),
        None => (
            "www-data".to_owned(),
            None,
            format!(
                "no user = in the pool configuration of {}: php-fpm's usual www-data",
                p.name
            ),
        ),
    };
    if user == "root" || user == "0" {
        return Ok(None);
    }
    let passwd = read(Path::new(crate::config::users::PASSWD)).unwrap_or_default();
    let groups = read(Path::new(crate::config::users::GROUP)).unwrap_or_default();
    let c = crate::config::users::resolve(Some(&user), group.as_deref(), &passwd, &groups)
        .map_err(|e| format!("php-fpm's pool user ({source}): {e}"))?;
    Ok(Some(Owner {
        uid: c.uid,
        gid: c.gid,
        name: user,
        source,
    }))
}

/// What the Laravel set-up did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupResult {
    /// Directories created (relative), parents first.
    pub created: Vec<String>,
    /// Existing root-owned directories given to the owner.
    pub fixed: Vec<String>,
    pub warnings: Vec<String>,
    /// Some created directory could not be given to the owner (a warning says which).
    pub owner_failed: bool,
}

/// Creates the missing Laravel directories under `app`, owned by `owner`.
pub fn setup_laravel(
    app: &Path,
    owner: Option<&Owner>,
    read_only: bool,
    dry_run: bool,
) -> SetupResult {
    let mut r = SetupResult::default();
    let mut missing: Vec<PathBuf> = Vec::new();
    for d in LARAVEL_DIRS {
        // Each missing component, parents first, once.
        let mut cur = PathBuf::new();
        for c in Path::new(d).components() {
            cur.push(c);
            if !app.join(&cur).exists() && !missing.contains(&cur) {
                missing.push(cur.clone());
            }
        }
    }
    if !read_only && !dry_run {
        if let Some(o) = owner.filter(|o| o.uid != 0) {
            fix(app, o, &missing, &mut r);
        }
    }
    if missing.is_empty() {
        return r;
    }
    let list = || {
        missing
            .iter()
            .map(|m| m.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if read_only {
        r.warnings.push(format!(
            "read-only root filesystem: not creating the Laravel directories {} missing in {} \
             (mount a writable volume there, e.g. docker run --tmpfs {}/storage)",
            list(),
            app.display(),
            app.display()
        ));
        return r;
    }
    if dry_run {
        r.created = missing.iter().map(|m| m.display().to_string()).collect();
        return r;
    }
    let mut not_given: Vec<String> = Vec::new();
    let mut chown_error = None;
    for rel in &missing {
        let path = app.join(rel);
        match create(&path, owner) {
            Err(e) => {
                r.warnings
                    .push(format!("cannot create {}: {e}", path.display()));
                // Its children cannot be created either; go on with the other branches.
                continue;
            }
            Ok(Err(e)) => {
                not_given.push(rel.display().to_string());
                chown_error = Some(e);
            }
            Ok(Ok(())) => {}
        }
        r.created.push(rel.display().to_string());
    }
    r.owner_failed = chown_error.is_some();
    if let (Some(o), Some(e)) = (owner, chown_error) {
        // One warning for all of them: typically the manager does not run as root.
        r.warnings.push(format!(
            "created {} but cannot give them to {} ({}:{}): {e}",
            not_given.join(", "),
            o.name,
            o.uid,
            o.gid
        ));
    }
    r
}

/// Gives the existing Laravel directories that belong to root to `owner` (not recursively:
/// the directories, so that new files can be made; files a root build left inside are
/// the image's business).
fn fix(app: &Path, owner: &Owner, missing: &[PathBuf], r: &mut SetupResult) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for d in LARAVEL_DIRS {
        let path = app.join(d);
        if missing.iter().any(|m| m.as_path() == Path::new(d)) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !m.is_dir() || m.uid() != 0 {
            continue;
        }
        let done =
            std::os::unix::fs::chown(&path, Some(owner.uid), Some(owner.gid)).and_then(|()| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(DIR_MODE))
            });
        match done {
            Ok(()) => r.fixed.push(d.to_owned()),
            Err(e) => r.warnings.push(format!(
                "cannot give {} to {}: {e}",
                path.display(),
                owner.name
            )),
        }
    }
}

/// Creates one directory (mode 0775) and gives it to `owner`. The outer error: it could not
/// be created; the inner one: created, but the ownership could not be changed.
fn create(path: &Path, owner: Option<&Owner>) -> std::io::Result<std::io::Result<()>> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(path)?;
    // The umask would take the group's write bit away.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(DIR_MODE))?;
    Ok(match owner {
        Some(o) => std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid)),
        None => Ok(()),
    })
}

/// Whether `dir` is on a read-only filesystem (or the user says the root is read-only).
fn read_only(dir: &Path, env: &[(String, String)]) -> bool {
    let said = env
        .iter()
        .any(|(k, v)| k == READ_ONLY_ENV && matches!(v.trim(), "true" | "1" | "yes"));
    said || rustix::fs::statvfs(dir)
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// The start-up step (see `startup`): detect in the working directory, set Laravel up.
pub fn step(req: &Request<'_>, out: &mut Prepared) -> Result<(), Failure> {
    let Ok(cwd) = std::env::current_dir() else {
        out.notes.push(Note::global(
            Level::Warn,
            "framework_detected",
            "cannot read the working directory: framework detection skipped".to_owned(),
            vec![],
        ));
        return Ok(());
    };
    run(req, &cwd, read_only(&cwd, req.env), out);
    Ok(())
}

/// Detection and set-up in `app` (the working directory; a parameter for tests).
pub fn run(req: &Request<'_>, app: &Path, read_only: bool, out: &mut Prepared) {
    let fw = detect(app);
    out.report.framework = Some(fw.as_str());
    let dir = app.display().to_string();
    out.text
        .push_str(&format!("framework: {} (in {dir})\n", fw.as_str()));
    out.notes.push(Note::global(
        Level::Info,
        "framework_detected",
        format!("framework: {} (in {dir})", fw.as_str()),
        vec![
            ("framework", Field::Str(fw.as_str().to_owned())),
            ("dir", Field::Str(dir.clone())),
        ],
    ));
    if fw != Framework::Laravel {
        return;
    }
    if !req.config.global.framework_setup {
        out.text
            .push_str("  set-up: off (global.framework_setup: false)\n");
        return;
    }
    let owner = match php_fpm_owner(req.config, req.env, crate::sys::uid() == 0) {
        Ok(o) => o,
        Err(e) => {
            out.notes.push(Note::global(
                Level::Warn,
                "framework_setup",
                format!(
                    "cannot tell whom php-fpm's workers run as: {e}; new Laravel directories \
                     stay owned by uid {} (set user: on the php-fpm process, or make storage/ \
                     writable for its pool's user)",
                    crate::sys::uid()
                ),
                vec![],
            ));
            None
        }
    };
    let r = setup_laravel(app, owner.as_ref(), read_only, req.dry_run);
    let who = owner.as_ref().filter(|_| !r.owner_failed).map_or_else(
        || format!("uid {}", crate::sys::uid()),
        |o| format!("{} ({}:{}, {})", o.name, o.uid, o.gid, o.source),
    );
    for w in &r.warnings {
        out.text.push_str(&format!("  warning: {w}\n"));
        out.notes.push(Note::global(
            Level::Warn,
            "framework_setup",
            w.clone(),
            vec![],
        ));
    }
    if !r.fixed.is_empty() {
        let list = r.fixed.join(", ");
        out.text
            .push_str(&format!("  set-up: gave {list} to {who}\n"));
        out.notes.push(Note::global(
            Level::Info,
            "framework_setup",
            format!("gave the root-owned Laravel directories {list} to {who}"),
            vec![("fixed", Field::Int(r.fixed.len() as i64))],
        ));
    }
    if r.created.is_empty() {
        if r.warnings.is_empty() && r.fixed.is_empty() {
            out.text
                .push_str("  set-up: the Laravel directories exist; nothing to create\n");
        }
        return;
    }
    let list = r.created.join(", ");
    if req.dry_run {
        out.text
            .push_str(&format!("  set-up: would create {list} owned by {who}\n"));
        return;
    }
    out.text
        .push_str(&format!("  set-up: created {list} owned by {who}\n"));
    out.notes.push(Note::global(
        Level::Info,
        "framework_setup",
        format!("created the Laravel directories {list}, owned by {who}"),
        vec![("created", Field::Int(r.created.len() as i64))],
    ));
}

#[cfg(test)]
mod tests;
