//! Noticing that the wall clock was set (feature `scheduler`): a `timerfd` on
//! `CLOCK_REALTIME`, armed far in the future with `TFD_TIMER_CANCEL_ON_SET`, becomes readable
//! (its read fails with `ECANCELED`) whenever the clock is changed discontinuously —
//! `settimeofday`, `clock_settime`, an NTP step. Scheduled tasks then re-read their fire times at
//! once instead of sleeping through a jump. See timerfd_create(2).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

/// Far enough ahead never to expire (year 2200), close enough to be valid everywhere.
const FAR_FUTURE_SECS: i64 = 7_258_118_400;

/// A descriptor that becomes readable when the wall clock is set.
pub fn watch() -> io::Result<OwnedFd> {
    let fd = timerfd_create(
        TimerfdClockId::Realtime,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    arm(&fd)?;
    Ok(fd)
}

fn arm(fd: &OwnedFd) -> io::Result<()> {
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let spec = Itimerspec {
        it_interval: zero,
        it_value: Timespec {
            tv_sec: FAR_FUTURE_SECS,
            tv_nsec: 0,
        },
    };
    timerfd_settime(
        fd,
        TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET,
        &spec,
    )?;
    Ok(())
}

/// Whether the clock was set since the last call (`read(2)` fails with `ECANCELED`); re-arms
/// the watch when it was.
pub fn changed(fd: &OwnedFd) -> bool {
    let mut buf = [0u8; 8];
    match rustix::io::read(fd.as_fd(), &mut buf) {
        Err(rustix::io::Errno::CANCELED) => {
            let _ = arm(fd);
            true
        }
        _ => false,
    }
}
