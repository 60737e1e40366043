//! Detection on fixture directories; the Laravel set-up's owner, dry run and read-only root.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::model::Config;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("phpeek-detect-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn touch(&self, rel: &str) -> &Dir {
        let f = self.0.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "").unwrap();
        self
    }
    fn mkdir(&self, rel: &str) -> &Dir {
        std::fs::create_dir_all(self.0.join(rel)).unwrap();
        self
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(yaml: &str) -> Config {
    let passwd = || {
        (
            "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n"
                .to_owned(),
            "root:x:0:\nwww-data:x:33:\napp:x:1001:\n".to_owned(),
        )
    };
    crate::config::load(&crate::config::Inputs {
        file: Some(("t.yaml", yaml)),
        env: &[],
        passwd: &passwd,
    })
    .unwrap()
}

#[test]
fn detects_each_framework() {
    let d = Dir::new("laravel");
    d.touch("artisan");
    assert_eq!(detect(d.path()), Framework::Laravel);
    let d = Dir::new("symfony");
    d.touch("bin/console");
    // bin/console alone is not enough: Symfony also has var/.
    assert_eq!(detect(d.path()), Framework::Generic);
    d.mkdir("var");
    assert_eq!(detect(d.path()), Framework::Symfony);
    let d = Dir::new("wp");
    d.touch("wp-config.php");
    assert_eq!(detect(d.path()), Framework::WordPress);
    let d = Dir::new("generic");
    d.touch("index.php");
    assert_eq!(detect(d.path()), Framework::Generic);
    // A directory called artisan is not the artisan script.
    let d = Dir::new("dirartisan");
    d.mkdir("artisan");
    assert_eq!(detect(d.path()), Framework::Generic);
}

#[test]
fn php_fpm_owner_comes_from_the_config() {
    let c = config(
        "processes:\n  fpm:\n    command: [/usr/sbin/php-fpm8.2, -F]\n    user: www-data\n  web:\n    command: [nginx]\n    user: app\n",
    );
    let o = php_fpm_owner(&c, &[], true).unwrap().unwrap();
    assert_eq!(
        (o.uid, o.gid, o.name.as_str(), o.source.as_str()),
        (33, 33, "www-data", "the user of process fpm")
    );
    let c = config("processes:\n  php-fpm:\n    command: [sh]\n    user: app\n");
    assert_eq!(php_fpm_owner(&c, &[], true).unwrap().unwrap().gid, 1001);
    let c = config("processes:\n  web:\n    command: [nginx]\n");
    assert_eq!(php_fpm_owner(&c, &[], true), Ok(None));
}

#[test]
fn a_root_master_gives_the_directories_to_its_pool_user() {
    // The machine's own /etc/passwd resolves the names (Debian: www-data 33, nobody 65534).
    let d = Dir::new("pool");
    d.touch("fpm.conf");
    let conf = d.path().join("fpm.conf");
    std::fs::write(&conf, "[global]\ninclude = pool.d/*.conf\n").unwrap();
    d.mkdir("pool.d");
    std::fs::write(
        d.path().join("pool.d/www.conf"),
        "[www]\nuser = nobody\ngroup = nogroup\n",
    )
    .unwrap();
    let yaml = format!(
        "processes:\n  php-fpm:\n    command: [php-fpm, -F, -y, {}]\n",
        conf.display()
    );
    let o = php_fpm_owner(&config(&yaml), &[], true).unwrap().unwrap();
    assert_eq!((o.name.as_str(), o.uid), ("nobody", 65534));
    assert!(o.source.contains("pool www in"), "{}", o.source);
    // No user = anywhere: www-data, php-fpm's usual pool user.
    std::fs::write(d.path().join("pool.d/www.conf"), "[www]\nlisten = 9000\n").unwrap();
    let o = php_fpm_owner(&config(&yaml), &[], true).unwrap().unwrap();
    assert_eq!((o.name.as_str(), o.uid), ("www-data", 33));
    // `user: root` on the process is a root master too.
    let c = config(&format!("{yaml}    user: root\n"));
    assert_eq!(php_fpm_owner(&c, &[], true).unwrap().unwrap().uid, 33);
    // A manager that is not root runs php-fpm as itself: nothing to give away.
    assert_eq!(php_fpm_owner(&config(&yaml), &[], false), Ok(None));
}

#[test]
fn laravel_directories_are_created_with_the_owner() {
    let d = Dir::new("setup");
    d.touch("artisan").mkdir("storage/logs");
    let owner = Owner {
        uid: 33,
        gid: 34,
        name: "www-data".into(),
        source: "test".into(),
    };
    let r = setup_laravel(d.path(), Some(&owner), false, false);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // storage and storage/logs existed: neither is created; storage/logs, a directory
    // Laravel writes to, belonged to root and is given to the owner.
    assert!(
        !r.created
            .iter()
            .any(|c| c == "storage" || c == "storage/logs")
    );
    assert_eq!(r.fixed, ["storage/logs"]);
    assert!(r.created.contains(&"bootstrap".to_owned()));
    for rel in LARAVEL_DIRS {
        let m = std::fs::metadata(d.path().join(rel)).unwrap();
        assert!(m.is_dir());
        assert_eq!((m.uid(), m.gid()), (33, 34), "{rel}");
        assert_eq!(m.mode() & 0o777, 0o775, "{rel}");
    }
    let m = std::fs::metadata(d.path().join("storage")).unwrap();
    assert_eq!(
        m.uid(),
        crate::sys::uid(),
        "an existing directory keeps its owner"
    );
    // Second run: nothing left to do.
    assert_eq!(
        setup_laravel(d.path(), Some(&owner), false, false),
        SetupResult::default()
    );
}

#[test]
fn dry_run_and_read_only_change_nothing() {
    let d = Dir::new("dry");
    d.touch("artisan");
    let r = setup_laravel(d.path(), None, false, true);
    assert!(r.created.contains(&"storage/framework/views".to_owned()));
    assert!(!d.path().join("storage").exists());
    let r = setup_laravel(d.path(), None, true, false);
    assert!(r.created.is_empty());
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("read-only"), "{}", r.warnings[0]);
    assert!(!d.path().join("storage").exists());
}

#[test]
fn step_reports_logs_and_respects_the_opt_out() {
    let d = Dir::new("step");
    d.touch("artisan");
    let c = config(
        "global:\n  framework_setup: false\nprocesses:\n  php-fpm:\n    command: [php-fpm]\n    user: www-data\n",
    );
    let req = Request {
        config: &c,
        php_fpm_profile: None,
        memory_threshold: None,
        env: &[],
        dry_run: false,
    };
    let mut out = Prepared::default();
    run(&req, d.path(), false, &mut out);
    assert_eq!(out.report.framework, Some("laravel"));
    assert!(out.notes.iter().any(|n| n.event == "framework_detected"));
    assert!(out.text.contains("set-up: off"), "{}", out.text);
    assert!(!d.path().join("storage").exists());

    let c = config("processes:\n  php-fpm:\n    command: [php-fpm]\n    user: www-data\n");
    let req = Request { config: &c, ..req };
    let mut out = Prepared::default();
    run(&req, d.path(), false, &mut out);
    assert!(
        out.text.contains("owned by www-data (33:33"),
        "{}",
        out.text
    );
    assert_eq!(
        std::fs::metadata(d.path().join("bootstrap/cache"))
            .unwrap()
            .uid(),
        33
    );
}
