//! Whom php-fpm's workers run as, read the way php-fpm itself decides it.
//!
//! A master started as root switches every worker to its pool's `user =` (and `group =`);
//! a master started as another user cannot switch and its workers stay that user. So the
//! owner of the directories Laravel writes to is, in order: the php-fpm process's own `user:`
//! when that is not root; else the `user =` of the first pool in the configuration php-fpm
//! will load (`-y`/`--fpm-config`, or the packaged default for its binary: Debian's
//! `/etc/php/X.Y/fpm/php-fpm.conf` for `php-fpmX.Y`, the official image's
//! `/usr/local/etc/php-fpm.conf`), following its `include =` globs; else `www-data`, the user
//! every packaged pool uses. When the manager is not root and the process has no `user:`, the
//! workers run as the manager's own user and there is nothing to give away.

use std::path::{Path, PathBuf};

/// The packaged main files, tried in order when the command names none.
const DEFAULT_CONFS: [&str; 2] = ["/usr/local/etc/php-fpm.conf", "/etc/php-fpm.conf"];
/// Include files followed, at most (a glob of pool files, not a crawl).
const MAX_INCLUDES: usize = 64;

/// The pool user a root php-fpm master switches its workers to, and where that was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolUser {
    pub user: String,
    pub group: Option<String>,
    pub source: String,
}

/// The main configuration file php-fpm's command line makes it load, if one exists.
pub fn main_conf(args: &[String], exists: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "-y" || a == "--fpm-config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--fpm-config=") {
            return Some(PathBuf::from(v));
        }
        if let Some(v) = a.strip_prefix("-y").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(v));
        }
    }
    let prog = args.first()?;
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    let versioned = prog
        .strip_prefix("php-fpm")
        .filter(|v| !v.is_empty())
        .map(|v| PathBuf::from(format!("/etc/php/{v}/fpm/php-fpm.conf")));
    versioned
        .into_iter()
        .chain(DEFAULT_CONFS.iter().map(PathBuf::from))
        .find(|c| exists(c))
}

/// The first pool's `user =` (and `group =`) in `main` and the files it includes. `read`
/// reads a file, `list` a directory's entries; `env` expands `${VAR}` as php-fpm does.
pub fn pool_user(
    main: &Path,
    read: &dyn Fn(&Path) -> Option<String>,
    list: &dyn Fn(&Path) -> Vec<String>,
    env: &[(String, String)],
) -> Option<PoolUser> {
    let mut files = vec![main.to_path_buf()];
    let mut i = 0;
    while i < files.len() && files.len() <= MAX_INCLUDES {
        let file = files[i].clone();
        i += 1;
        let Some(text) = read(&file) else {
            continue;
        };
        let (mut section, mut user, mut group) = (String::new(), None, None);
        let found = |section: &str, user: &mut Option<String>, group: &mut Option<String>| {
            user.take().map(|u| PoolUser {
                user: u,
                group: group.take(),
                source: format!("pool {section} in {}", file.display()),
            })
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with(';') || line.starts_with('#') || line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                if let Some(u) = found(&section, &mut user, &mut group) {
                    return Some(u);
                }
                section = name.trim().to_owned();
                group = None;
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = expand(unquote(v.trim()), env);
            match (section.as_str(), k.trim()) {
                ("global" | "", "include") => {
                    for f in glob(&file, &v, list) {
                        if !files.contains(&f) {
                            files.push(f);
                        }
                    }
                }
                ("global" | "", _) => {}
                (_, "user") if !v.is_empty() => user = Some(v),
                (_, "group") if !v.is_empty() => group = Some(v),
                _ => {}
            }
        }
        if let Some(u) = found(&section, &mut user, &mut group) {
            return Some(u);
        }
    }
    None
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
}

/// `${VAR}` → its value (php-fpm expands these in its configuration); anything else as is.
fn expand(v: &str, env: &[(String, String)]) -> String {
    match v.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(name) => env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        None => v.to_owned(),
    }
}

/// The files an `include =` names: a path, or a `*` in its last component. A relative path
/// is relative to php-fpm's prefix, which for the packaged layouts is the directory above the
/// main file's (`/usr/local/etc/php-fpm.conf` includes `etc/php-fpm.d/*.conf`), else the main
/// file's own directory.
fn glob(main: &Path, pattern: &str, list: &dyn Fn(&Path) -> Vec<String>) -> Vec<PathBuf> {
    let pat = Path::new(pattern);
    let bases: Vec<PathBuf> = if pat.is_absolute() {
        vec![PathBuf::new()]
    } else {
        let dir = main.parent().unwrap_or(Path::new("/"));
        dir.parent()
            .into_iter()
            .chain(std::iter::once(dir))
            .map(Path::to_path_buf)
            .collect()
    };
    for base in bases {
        let full = base.join(pat);
        let (Some(dir), Some(name)) = (full.parent(), full.file_name().and_then(|n| n.to_str()))
        else {
            continue;
        };
        let Some((pre, post)) = name.split_once('*') else {
            return vec![full.clone()];
        };
        let mut names: Vec<String> = list(dir)
            .into_iter()
            .filter(|n| {
                n.len() >= pre.len() + post.len() && n.starts_with(pre) && n.ends_with(post)
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort();
        return names.into_iter().map(|n| dir.join(n)).collect();
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn fs(files: &[(&str, &str)]) -> HashMap<PathBuf, String> {
        files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), (*t).to_owned()))
            .collect()
    }

    fn find(
        files: &HashMap<PathBuf, String>,
        main: &str,
        env: &[(String, String)],
    ) -> Option<PoolUser> {
        let read = |p: &Path| files.get(p).cloned();
        let list = |d: &Path| {
            files
                .keys()
                .filter(|p| p.parent() == Some(d))
                .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
                .collect()
        };
        pool_user(Path::new(main), &read, &list, env)
    }

    #[test]
    fn debian_layout_includes_pool_d() {
        let f = fs(&[
            (
                "/etc/php/8.2/fpm/php-fpm.conf",
                "[global]\npid = /run/php/php8.2-fpm.pid\n; comment\ninclude=/etc/php/8.2/fpm/pool.d/*.conf\n",
            ),
            (
                "/etc/php/8.2/fpm/pool.d/www.conf",
                "[www]\n; user = nobody\nuser = www-data\ngroup = www-data\nlisten = /run/php/php8.2-fpm.sock\n",
            ),
        ]);
        let u = find(&f, "/etc/php/8.2/fpm/php-fpm.conf", &[]).unwrap();
        assert_eq!(
            (u.user.as_str(), u.group.as_deref()),
            ("www-data", Some("www-data"))
        );
        assert_eq!(u.source, "pool www in /etc/php/8.2/fpm/pool.d/www.conf");
    }

    #[test]
    fn official_image_layout_with_a_relative_include_and_env() {
        let f = fs(&[
            (
                "/usr/local/etc/php-fpm.conf",
                "[global]\ninclude=etc/php-fpm.d/*.conf\n",
            ),
            (
                "/usr/local/etc/php-fpm.d/docker.conf",
                "[global]\nerror_log = /proc/self/fd/2\n[www]\naccess.log = /proc/self/fd/2\n",
            ),
            (
                "/usr/local/etc/php-fpm.d/www.conf",
                "[www]\nuser = \"${FPM_USER}\"\n",
            ),
        ]);
        let env = [("FPM_USER".to_owned(), "app".to_owned())];
        let u = find(&f, "/usr/local/etc/php-fpm.conf", &env).unwrap();
        assert_eq!((u.user.as_str(), u.group), ("app", None));
    }

    #[test]
    fn no_user_anywhere() {
        let f = fs(&[(
            "/x/fpm.conf",
            "[global]\ndaemonize = no\n[www]\nlisten = 9000\n",
        )]);
        assert_eq!(find(&f, "/x/fpm.conf", &[]), None);
        assert_eq!(find(&f, "/missing.conf", &[]), None);
    }

    #[test]
    fn the_main_file_comes_from_the_command_or_the_binary() {
        let p = |cmd: &[&str]| -> Vec<String> { cmd.iter().map(|s| (*s).to_owned()).collect() };
        let none = |_: &Path| false;
        let all = |_: &Path| true;
        assert_eq!(
            main_conf(&p(&["php-fpm", "-F", "-y", "/a.conf"]), &none),
            Some("/a.conf".into())
        );
        assert_eq!(
            main_conf(&p(&["php-fpm", "--fpm-config=/b.conf"]), &none),
            Some("/b.conf".into())
        );
        assert_eq!(
            main_conf(&p(&["php-fpm", "-y/c.conf"]), &none),
            Some("/c.conf".into())
        );
        assert_eq!(
            main_conf(&p(&["/usr/sbin/php-fpm8.2", "-F"]), &all),
            Some("/etc/php/8.2/fpm/php-fpm.conf".into())
        );
        assert_eq!(
            main_conf(&p(&["php-fpm", "-F"]), &all),
            Some("/usr/local/etc/php-fpm.conf".into())
        );
        assert_eq!(main_conf(&p(&["php-fpm", "-F"]), &none), None);
    }
}
