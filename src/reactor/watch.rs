//! `serve --watch`: the configuration file watched with inotify, a part of the loop (no
//! polling, no thread). A change re-reads the file and applies the difference, like
//! `phpeek-pm reload-config` (`reload.rs`).
//!
//! The watch is on the file's directory, not on the file: editors save by writing a new file
//! and renaming it over the old one, and a Kubernetes ConfigMap swaps a `..data` symlink —
//! a watch on the file itself would be lost at the first save (the Go tool's bug). Events
//! of other files in the directory are ignored. Saves come in bursts (truncate, write,
//! rename), so the reload waits until the directory has been quiet for [`QUIET_MS`].

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::Interest;
use mio::unix::SourceFd;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

use super::Reactor;
use super::part::{Part, Setup};
use crate::config::model::{Config, Level};
use crate::supervisor::Millis;
use crate::sys;

/// How long the directory must be quiet after a change before the file is read.
const QUIET_MS: Millis = 300;
/// Read buffer for inotify events (each is 16 bytes plus a name of at most 255).
const EVENT_BUF: usize = 4096;

pub(super) fn part(config: &Config, setup: &Setup<'_>) -> Box<dyn Part> {
    let path = config.path.as_ref().filter(|_| config.watch);
    Box::new(Watch {
        kind: setup.kind,
        path: path.cloned(),
        fd: None,
        due: None,
    })
}

struct Watch {
    kind: usize,
    /// The file to watch; `None` without `--watch` (or without a file).
    path: Option<String>,
    fd: Option<OwnedFd>,
    /// When to re-read the file (the directory changed and has been quiet since).
    due: Option<Millis>,
}

impl Watch {
    /// The directory to watch and the file's name in it.
    fn split(path: &str) -> (&str, &str) {
        match path.rsplit_once('/') {
            Some(("", name)) => ("/", name),
            Some((dir, name)) => (dir, name),
            None => (".", path),
        }
    }

    /// Whether an event about `name` in the directory can change the file: the file itself,
    /// or a Kubernetes ConfigMap's `..data` swap (the file is a symlink through it).
    fn concerns(&self, name: Option<&CStr>) -> bool {
        let (Some(path), Some(name)) = (&self.path, name.and_then(|n| n.to_str().ok())) else {
            return false;
        };
        name == Self::split(path).1 || name.starts_with("..")
    }
}

impl Part for Watch {
    fn open(&mut self, r: &mut Reactor<'_>) -> Result<(), (&'static str, String)> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let (dir, _) = Self::split(path);
        let watched = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).and_then(|fd| {
            let what = WatchFlags::CLOSE_WRITE
                | WatchFlags::MOVED_TO
                | WatchFlags::CREATE
                | WatchFlags::DELETE;
            inotify::add_watch(&fd, dir, what)?;
            Ok(fd)
        });
        let registered = watched.map_err(std::io::Error::from).and_then(|fd| {
            r.poll.registry().register(
                &mut SourceFd(&fd.as_raw_fd()),
                super::token(0, self.kind),
                Interest::READABLE,
            )?;
            Ok(fd)
        });
        match registered {
            Ok(fd) => {
                self.fd = Some(fd);
                r.log(
                    Level::Info,
                    "config_watch",
                    &format!("watching {path} for changes (--watch)"),
                );
                Ok(())
            }
            Err(e) => Err((
                "config_watch_failed",
                format!("--watch: cannot watch {dir}: {e}"),
            )),
        }
    }

    fn next_deadline(&self, _r: &Reactor<'_>) -> Option<Millis> {
        self.due
    }

    fn ready(&mut self, _r: &mut Reactor<'_>, _slot: usize, _ev: &mio::event::Event) {
        let Some(fd) = &self.fd else { return };
        let mut buf = [MaybeUninit::<u8>::uninit(); EVENT_BUF];
        let mut reader = inotify::Reader::new(fd, &mut buf);
        let mut changed = false;
        // Drained until it would block (an error ends the pass just the same).
        while let Ok(ev) = reader.next() {
            changed |= self.concerns(ev.file_name());
        }
        if changed {
            self.due = Some(sys::monotonic_ms() + QUIET_MS);
        }
    }

    fn turn(&mut self, r: &mut Reactor<'_>) {
        if self.due.is_some_and(|d| sys::monotonic_ms() >= d) {
            self.due = None;
            // An invalid file is logged with every error and changes nothing; the next
            // save tries again.
            let _ = r.reload_config("watch");
        }
    }

    fn close(&mut self, r: &mut Reactor<'_>) {
        if let Some(fd) = self.fd.take() {
            let _ = r.poll.registry().deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }
}
