//! The container's memory and CPU limits, read from the cgroup files of the cgroup this
//! process is in — not just the hierarchy root, so nested cgroups (systemd slices, Docker
//! without a cgroup namespace, a test's child cgroup) count — and from each ancestor up to
//! the mount point, keeping the most restrictive value.
//!
//! Where: `/proc/self/cgroup` names our cgroup per hierarchy (`4:memory:/docker/ab12`,
//! `0::/app`), `/proc/self/mountinfo` says where each hierarchy is mounted and which of its
//! directories the mount shows (`/docker/ab12 /sys/fs/cgroup/memory ... - cgroup cgroup
//! rw,memory`). A controller mounted as cgroup v1 wins over the v2 unified tree (hybrid
//! hosts mount both; v2 there often has no controllers). Without `/proc`, the standard layout
//! under `/sys/fs/cgroup` is tried.
//!
//! Files: v2 `memory.max` (`max` = none), `cpu.max` (`max 100000` = none, else `quota period`);
//! v1 `memory.limit_in_bytes` (the kernel's "unlimited" is about 2^63), `cpu.cfs_quota_us`
//! (`-1` = none) with `cpu.cfs_period_us`.
//!
//! Every path is read below an injectable root, so tests run on fixture trees.

use std::path::{Path, PathBuf};

/// A v1 memory limit at or above this is the kernel's "no limit" (`PAGE_COUNTER_MAX` pages,
/// printed as 9223372036854771712 on 4 KiB pages); no machine has 4 EiB of memory.
pub const V1_UNLIMITED: u64 = 1 << 62;
/// Most levels walked up from our cgroup: bounds the walk on a malformed path.
const MAX_DEPTH: usize = 64;

/// A limit and the file it came from (a path as the container sees it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub value: u64,
    pub source: String,
}

/// What the search for one resource found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// The most restrictive limit up the hierarchy; `None` = unlimited everywhere.
    pub limit: Option<Limit>,
    /// The cgroup directory searched (`cgroup v1 /sys/fs/cgroup/memory/docker/ab12`);
    /// `None` when no cgroup hierarchy carries this controller.
    pub cgroup: Option<String>,
}

/// Both resources, plus the host's memory for when there is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory in bytes.
    pub memory: Probe,
    /// CPU quota in thousandths of a CPU.
    pub cpu: Probe,
    /// `MemTotal` of `/proc/meminfo`, in bytes.
    pub host_memory: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// One mounted hierarchy and our directory in it (paths as the container sees them).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Place {
    version: Version,
    mount_point: PathBuf,
    dir: PathBuf,
}

struct Mount {
    root: String,
    point: String,
    fstype: String,
    super_opts: String,
}

/// Reads both limits below `root` (`/` in production).
pub fn read(root: &Path) -> Limits {
    let text = |p: &str| std::fs::read_to_string(under(root, Path::new(p))).ok();
    let membership = text("/proc/self/cgroup").unwrap_or_default();
    let mounts = parse_mountinfo(&text("/proc/self/mountinfo").unwrap_or_default());
    let memory = locate(root, "memory", &membership, &mounts)
        .map(|place| probe(root, &place, memory_at))
        .unwrap_or_default();
    let cpu = locate(root, "cpu", &membership, &mounts)
        .map(|place| probe(root, &place, cpu_at))
        .unwrap_or_default();
    let host_memory = text("/proc/meminfo").as_deref().and_then(mem_total);
    Limits {
        memory,
        cpu,
        host_memory,
    }
}

/// `root` + an absolute path.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let mut lf = left.split(' ');
            let root = unescape(lf.nth(3)?);
            let point = unescape(lf.next()?);
            let mut rf = right.split(' ');
            let fstype = rf.next()?.to_owned();
            let super_opts = rf.nth(1).unwrap_or("").to_owned();
            Some(Mount {
                root,
                point,
                fstype,
                super_opts,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|d| (b'0'..=b'7').contains(d)));
        if let (b'\\', Some(o)) = (b[i], oct) {
            let v = o.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Our cgroup path in the hierarchy of `controller` (v1), or in the unified tree (v2).
fn membership_path(membership: &str, version: Version, controller: &str) -> Option<String> {
    membership.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let id = f.next()?;
        let controllers = f.next()?;
        let path = f.next()?;
        let hit = match version {
            Version::V2 => id == "0" && controllers.is_empty(),
            Version::V1 => controllers.split(',').any(|c| c == controller),
        };
        hit.then(|| path.to_owned())
    })
}

/// Finds the hierarchy that carries `controller` and our directory in it.
fn locate(root: &Path, controller: &str, membership: &str, mounts: &[Mount]) -> Option<Place> {
    let v1 = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_opts.split(',').any(|o| o == controller));
    let v2 = mounts.iter().find(|m| {
        m.fstype == "cgroup2" && {
            // A hybrid host's unified tree may not have the controller at all.
            let f = under(root, &Path::new(&m.point).join("cgroup.controllers"));
            std::fs::read_to_string(f)
                .map(|c| c.split_whitespace().any(|x| x == controller))
                .unwrap_or(true)
        }
    });
    let found = match (v1, v2) {
        (Some(m), _) => Some((Version::V1, m)),
        (None, Some(m)) => Some((Version::V2, m)),
        (None, None) => None,
    };
    if let Some((version, m)) = found {
        let point = PathBuf::from(&m.point);
        let dir = membership_path(membership, version, controller)
            .and_then(|p| {
                // The mount shows the hierarchy from `m.root` down; our path is below it
                // (or equal) unless we live outside what is mounted.
                let rel = Path::new(&p).strip_prefix(&m.root).ok()?;
                Some(if rel.as_os_str().is_empty() {
                    point.clone()
                } else {
                    point.join(rel)
                })
            })
            .filter(|d| under(root, d).is_dir())
            .unwrap_or_else(|| point.clone());
        return Some(Place {
            version,
            mount_point: point,
            dir,
        });
    }
    // No /proc (or no cgroup mounts in it): the conventional layout.
    let base = PathBuf::from("/sys/fs/cgroup");
    if under(root, &base.join("cgroup.controllers")).is_file() {
        return Some(Place {
            version: Version::V2,
            mount_point: base.clone(),
            dir: base,
        });
    }
    let v1dir = base.join(controller);
    under(root, &v1dir).is_dir().then(|| Place {
        version: Version::V1,
        mount_point: v1dir.clone(),
        dir: v1dir,
    })
}

/// Walks from our directory up to the mount point, keeping the smallest limit.
fn probe(root: &Path, place: &Place, at: fn(&Path, &Path, Version) -> Option<Limit>) -> Probe {
    let mut best: Option<Limit> = None;
    let mut dir = place.dir.as_path();
    for _ in 0..MAX_DEPTH {
        if let Some(l) = at(root, dir, place.version) {
            if best.as_ref().is_none_or(|b| l.value < b.value) {
                best = Some(l);
            }
        }
        if dir == place.mount_point {
            break;
        }
        match dir.parent() {
            Some(p) if p.starts_with(&place.mount_point) => dir = p,
            _ => break,
        }
    }
    let v = match place.version {
        Version::V1 => "v1",
        Version::V2 => "v2",
    };
    Probe {
        limit: best,
        cgroup: Some(format!("cgroup {v} {}", place.dir.display())),
    }
}

fn read_trimmed(root: &Path, p: &Path) -> Option<String> {
    std::fs::read_to_string(under(root, p))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The memory limit set at one level, in bytes; `None` = none there.
fn memory_at(root: &Path, dir: &Path, v: Version) -> Option<Limit> {
    let file = dir.join(match v {
        Version::V2 => "memory.max",
        Version::V1 => "memory.limit_in_bytes",
    });
    let text = read_trimmed(root, &file)?;
    // v1 prints -1 as written by some tools; both versions: "max" or huge = no limit.
    let value: u64 = text.parse().ok()?;
    (value > 0 && value < V1_UNLIMITED).then(|| Limit {
        value,
        source: file.display().to_string(),
    })
}

/// The CPU quota set at one level, in thousandths of a CPU; `None` = none there.
fn cpu_at(root: &Path, dir: &Path, v: Version) -> Option<Limit> {
    let (quota, period, file) = match v {
        Version::V2 => {
            let file = dir.join("cpu.max");
            let text = read_trimmed(root, &file)?;
            let mut f = text.split_whitespace();
            let quota: i64 = f.next()?.parse().ok()?; // "max" fails here: no limit
            let period: i64 = f.next().map_or(Some(100_000), |p| p.parse().ok())?;
            (quota, period, file)
        }
        Version::V1 => {
            let file = dir.join("cpu.cfs_quota_us");
            let quota: i64 = read_trimmed(root, &file)?.parse().ok()?;
            let period: i64 = read_trimmed(root, &dir.join("cpu.cfs_period_us"))?
                .parse()
                .ok()?;
            (quota, period, file)
        }
    };
    if quota <= 0 || period <= 0 {
        return None;
    }
    // Rounded up to a thousandth so that a tiny quota is never "zero CPUs".
    let millis = (quota as u64 * 1000).div_ceil(period as u64);
    Some(Limit {
        value: millis,
        source: file.display().to_string(),
    })
}

/// `MemTotal:  24684096 kB` → bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
pub mod fixture {
    //! Fixture trees: a fake `/proc/self` and `/sys/fs/cgroup` under a temporary root.
    use std::path::{Path, PathBuf};

    pub struct Tree(pub PathBuf);

    impl Tree {
        pub fn new(tag: &str) -> Tree {
            let p = std::env::temp_dir().join(format!(
                "phpeek-cg-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tree(p)
        }
        pub fn file(&self, path: &str, text: &str) -> &Tree {
            let f = self.0.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
            self
        }
        pub fn root(&self) -> &Path {
            &self.0
        }
        pub fn meminfo(&self, kb: u64) -> &Tree {
            self.file(
                "/proc/meminfo",
                &format!("MemTotal:       {kb} kB\nMemFree: 1 kB\n"),
            )
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A pure cgroup v2 host/container: unified tree at /sys/fs/cgroup.
    pub fn v2(tag: &str, cgroup: &str, mount_root: &str) -> Tree {
        let t = Tree::new(tag);
        t.file("/proc/self/cgroup", &format!("0::{cgroup}\n"))
            .file(
                "/proc/self/mountinfo",
                &format!(
                    "22 1 0:21 / / rw - ext4 /dev/root rw\n\
                     30 22 0:26 {mount_root} /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
                ),
            )
            .file(
                "/sys/fs/cgroup/cgroup.controllers",
                "cpuset cpu io memory hugetlb pids\n",
            )
            .meminfo(16 * 1024 * 1024);
        t
    }

    /// A cgroup v1 host (like this project's CI host), with the process in `path` for memory
    /// and cpu, and an empty unified tree mounted as well (hybrid).
    pub fn v1(tag: &str, path: &str, mount_root: &str) -> Tree {
        let t = Tree::new(tag);
        t.file(
            "/proc/self/cgroup",
            &format!(
                "9:name=systemd:/\n4:memory:{path}\n3:cpu,cpuacct:{path}\n1:cpuset:/\n0::/\n"
            ),
        )
        .file(
            "/proc/self/mountinfo",
            &format!(
                "22 1 0:21 / / rw - ext4 /dev/root rw\n\
                 31 22 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n\
                 32 31 0:29 {mount_root} /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                 35 31 0:32 {mount_root} /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
            ),
        )
        .file("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
        .file(
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        )
        .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
        .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
        .meminfo(16 * 1024 * 1024);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    const GIB: u64 = 1 << 30;

    fn lim(value: u64, source: &str) -> Option<Limit> {
        Some(Limit {
            value,
            source: source.to_owned(),
        })
    }

    #[test]
    fn v2_container_root() {
        // Docker on a v2 host: a cgroup namespace, the container's cgroup is "/".
        let t = v2("v2root", "/", "/");
        t.file("/sys/fs/cgroup/memory.max", "2147483648\n")
            .file("/sys/fs/cgroup/cpu.max", "400000 100000\n");
        let l = read(t.root());
        assert_eq!(l.memory.limit, lim(2 * GIB, "/sys/fs/cgroup/memory.max"));
        assert_eq!(l.cpu.limit, lim(4000, "/sys/fs/cgroup/cpu.max"));
        assert_eq!(l.memory.cgroup.as_deref(), Some("cgroup v2 /sys/fs/cgroup"));
        assert_eq!(l.host_memory, Some(16 * GIB));
    }

    #[test]
    fn v2_unlimited() {
        let t = v2("v2max", "/", "/");
        t.file("/sys/fs/cgroup/memory.max", "max\n")
            .file("/sys/fs/cgroup/cpu.max", "max 100000\n");
        let l = read(t.root());
        assert_eq!(l.memory.limit, None);
        assert_eq!(l.cpu.limit, None);
        assert!(l.memory.cgroup.is_some());
    }

    #[test]
    fn v2_nested_takes_the_most_restrictive_level() {
        // No namespace: we sit in /system.slice/app.service/worker; the slice limits memory
        // to 1 GiB, the service sets 3 GiB (looser), the leaf limits the CPU to 1.5.
        let t = v2("v2nest", "/system.slice/app.service/worker", "/");
        t.file("/sys/fs/cgroup/memory.max", "max\n")
            .file("/sys/fs/cgroup/system.slice/memory.max", "1073741824\n")
            .file(
                "/sys/fs/cgroup/system.slice/app.service/memory.max",
                "3221225472\n",
            )
            .file(
                "/sys/fs/cgroup/system.slice/app.service/worker/memory.max",
                "max\n",
            )
            .file(
                "/sys/fs/cgroup/system.slice/app.service/worker/cpu.max",
                "150000 100000\n",
            )
            .file("/sys/fs/cgroup/system.slice/cpu.max", "max 100000\n");
        let l = read(t.root());
        assert_eq!(
            l.memory.limit,
            lim(GIB, "/sys/fs/cgroup/system.slice/memory.max")
        );
        assert_eq!(
            l.cpu.limit,
            lim(
                1500,
                "/sys/fs/cgroup/system.slice/app.service/worker/cpu.max"
            )
        );
        assert_eq!(
            l.memory.cgroup.as_deref(),
            Some("cgroup v2 /sys/fs/cgroup/system.slice/app.service/worker")
        );
    }

    #[test]
    fn v2_mount_of_a_subtree() {
        // The mount shows /kubepods/pod1 of the hierarchy; our cgroup is below it.
        let t = v2("v2sub", "/kubepods/pod1/ctr", "/kubepods/pod1");
        t.file("/sys/fs/cgroup/memory.max", "4294967296\n")
            .file("/sys/fs/cgroup/ctr/memory.max", "536870912\n");
        let l = read(t.root());
        assert_eq!(
            l.memory.limit,
            lim(GIB / 2, "/sys/fs/cgroup/ctr/memory.max")
        );
    }

    #[test]
    fn v1_docker_without_namespace() {
        // cgroup v1 Docker: /proc/self/cgroup names /docker/<id>, and that directory is what
        // is mounted at /sys/fs/cgroup/memory.
        let t = v1("v1docker", "/docker/ab12", "/docker/ab12");
        t.file(
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "2147483648\n",
        )
        .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "400000\n")
        .file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
        let l = read(t.root());
        assert_eq!(
            l.memory.limit,
            lim(2 * GIB, "/sys/fs/cgroup/memory/memory.limit_in_bytes")
        );
        assert_eq!(
            l.cpu.limit,
            lim(4000, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")
        );
        assert_eq!(
            l.memory.cgroup.as_deref(),
            Some("cgroup v1 /sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn v1_nested_child_cgroup_on_the_host() {
        // The host view: root mounted, we are in /phpeek/test, limits on the child and parent.
        let t = v1("v1nest", "/phpeek/test", "/");
        t.file(
            "/sys/fs/cgroup/memory/phpeek/memory.limit_in_bytes",
            "1073741824\n",
        )
        .file(
            "/sys/fs/cgroup/memory/phpeek/test/memory.limit_in_bytes",
            "9223372036854771712\n",
        )
        .file("/sys/fs/cgroup/cpu,cpuacct/phpeek/cpu.cfs_quota_us", "-1\n")
        .file(
            "/sys/fs/cgroup/cpu,cpuacct/phpeek/cpu.cfs_period_us",
            "100000\n",
        )
        .file(
            "/sys/fs/cgroup/cpu,cpuacct/phpeek/test/cpu.cfs_quota_us",
            "50000\n",
        )
        .file(
            "/sys/fs/cgroup/cpu,cpuacct/phpeek/test/cpu.cfs_period_us",
            "100000\n",
        );
        let l = read(t.root());
        assert_eq!(
            l.memory.limit,
            lim(GIB, "/sys/fs/cgroup/memory/phpeek/memory.limit_in_bytes")
        );
        // Quota smaller than one CPU.
        assert_eq!(
            l.cpu.limit,
            lim(
                500,
                "/sys/fs/cgroup/cpu,cpuacct/phpeek/test/cpu.cfs_quota_us"
            )
        );
        assert_eq!(
            l.cpu.cgroup.as_deref(),
            Some("cgroup v1 /sys/fs/cgroup/cpu,cpuacct/phpeek/test")
        );
    }

    #[test]
    fn v1_unlimited() {
        let t = v1("v1unl", "/", "/");
        let l = read(t.root());
        assert_eq!(l.memory.limit, None);
        assert_eq!(l.cpu.limit, None);
        assert!(l.cpu.cgroup.is_some());
    }

    #[test]
    fn no_proc_uses_the_standard_layout() {
        let t = Tree::new("noproc");
        t.file("/sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n")
            .file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "200000\n")
            .file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
        let l = read(t.root());
        assert_eq!(l.memory.limit.map(|l| l.value), Some(GIB / 2));
        assert_eq!(l.cpu.limit.map(|l| l.value), Some(2000));
        assert_eq!(l.host_memory, None);
    }

    #[test]
    fn nothing_at_all() {
        let t = Tree::new("empty");
        assert_eq!(read(t.root()), Limits::default());
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }
}
