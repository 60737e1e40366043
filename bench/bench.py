#!/usr/bin/env python3
"""Measurement and aggregation for `make bench` (driven by bench/run.sh; stdlib only).

Every manager under test runs as PID 1 of a fresh PID namespace
(`unshare --pid --fork --mount-proc`), with the same workload for every tool. Each scenario
runs a discarded warm-up and then several measured runs, tools interleaved run by run; the
table shows medians, and every run's raw numbers are written to bench/results/.

Clean-up: each namespace is started as `setpriv --pdeathsig KILL unshare --kill-child ...`,
so if this script dies, unshare dies, and the kernel kills the namespace's init and with it
every process of the namespace. On normal paths the init is SIGKILLed through its pidfd.
Every wait has a deadline.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import random
import re
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Quick mode (BENCH_QUICK=1) only checks that the harness works: fewer runs, shorter windows.
QUICK = os.environ.get("BENCH_QUICK") == "1"
# BENCH_STREAMS_OFF=1: every phpeek-pm process has `stdout: false` and `stderr: false`, so its
# children write to /dev/null and no output pipe exists, as with the peers, which capture
# nothing. It shows what capturing the output costs (not for the logs scenario).
STREAMS_OFF = os.environ.get("BENCH_STREAMS_OFF") == "1"
RUNS = int(os.environ.get("BENCH_RUNS", "2" if QUICK else "5"))
# The log flood's target is a ratio to supervisord, and its single runs spread widely on a
# two-core VM: the child (seq) alone is the ceiling, and its own CPU time moved from 0.20 to
# 0.41 s between runs of one invocation (the host), so one tool's lines/s spread from 1.9 M to
# 4.2 M. A median of 9 moved the ratio from 0.96 to 1.19 between four invocations: 21 runs
# (a second each).
TIGHT_RUNS = RUNS if QUICK else max(RUNS, 21)
# Start-up and shutdown of 50 take well under a second per run, and their targets sit within
# 5 % of tini and dumb-init. Single runs spread by +-40 % on a two-core VM (the shutdown of 50
# read 4.4 to 10.3 ms for one tool in one invocation: whether the idle CPU takes over part of
# the other's queue of exiting children before the next tick is luck), so a median of 31
# still moved a ratio by 0.1 between invocations: 51 runs each (about 4 minutes more for the
# whole bench than 31).
TIGHTER_RUNS = RUNS if QUICK else max(RUNS, 51)
RUNS_LONG = int(os.environ.get("BENCH_RUNS_LONG", "1" if QUICK else "3"))
IDLE_WINDOW = 2.0 if QUICK else 10.0
CRASH_WINDOW = 5.0 if QUICK else 30.0
ORPHANS = 500 if QUICK else 5000
LOG_LINES = 100_000 if QUICK else 1_000_000
# Every manager restarts the crashing child after this delay (see docs/benchmarks.md):
# s6-supervise and runsv have a fixed minimum of 1 s between two starts; phpeek-pm is set to
# the same; supervisord has no such setting.
RESTART_DELAY = "1s"
# A tool whose warm-up run of a scenario takes longer than this is measured once.
SLOW_RUN = 15.0
SLEEP = ["sleep", "1000000"]
PROBE_WINDOW = 5.0 if QUICK else 20.0


class BenchError(Exception):
    pass


def now():
    return time.monotonic()


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# /proc helpers

def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return default


def stat_of(pid):
    """(comm, state, ppid) from /proc/PID/stat, or None if gone."""
    s = read(f"/proc/{pid}/stat")
    if not s:
        return None
    lp, rp = s.find("("), s.rfind(")")
    rest = s[rp + 2:].split()
    return s[lp + 1:rp], rest[0], int(rest[1])


def children(pid):
    """Children of every thread of PID (including zombies not yet reaped)."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        s = read(f"/proc/{pid}/task/{t}/children", "")
        out.extend(int(x) for x in s.split())
    return out


def pidns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def status_fields(pid, names):
    s = read(f"/proc/{pid}/status", "")
    out = {}
    for line in s.splitlines():
        k, _, v = line.partition(":")
        if k in names:
            out[k] = int(v.split()[0])
    return out


def rollup(pid):
    s = read(f"/proc/{pid}/smaps_rollup", "")
    out = {}
    for line in s.splitlines():
        k, _, v = line.partition(":")
        if k in ("Rss", "Pss", "Anonymous", "Pss_Anon", "Pss_File"):
            out[k] = int(v.split()[0])
    return out


def cpu_ns(pid):
    """Time spent on the CPU (ns), from /proc/PID/schedstat: finer than utime+stime ticks."""
    s = read(f"/proc/{pid}/schedstat")
    return int(s.split()[0]) if s else None


# ---------------------------------------------------------------------------------------------
# A manager as PID 1 of its own PID namespace

class NS:
    live = set()

    def __init__(self, argv, stdout=None, logfile=None, cwd=None):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--",
               "unshare", "--kill-child", "--pid", "--fork", "--mount-proc", "--", *argv]
        self.argv = argv
        self.t_launch = now()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else (logfile or subprocess.DEVNULL),
            stderr=logfile or subprocess.DEVNULL, cwd=cwd, start_new_session=True)
        NS.live.add(self)
        self.pid = None
        self.pidfd = None
        deadline = now() + 10
        while self.pid is None:
            kids = children(self.proc.pid)
            if kids:
                self.pid = kids[0]
                break
            if self.proc.poll() is not None:
                self.close()
                raise BenchError(f"unshare exited early ({self.proc.returncode}): {argv}")
            if now() > deadline:
                self.close()
                raise BenchError(f"namespace init did not appear: {argv}")
            time.sleep(0.0005)
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            self.close()
            raise BenchError(f"namespace init exited at once: {argv}")
        self.ns = pidns(self.pid)

    def alive(self):
        if self.pidfd is None:
            return False
        r, _, _ = select.select([self.pidfd], [], [], 0)
        return not r

    def procs(self):
        """{host pid: (comm, state, ppid)} of every process in the namespace."""
        out = {}
        for d in os.listdir("/proc"):
            if d.isdigit() and pidns(d) == self.ns:
                st = stat_of(d)
                if st:
                    out[int(d)] = st
        return out

    def signal(self, sig):
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, sig)
            except ProcessLookupError:
                pass

    def wait_exit(self, timeout):
        """Seconds until the init exited (pidfd readable), or None on timeout."""
        r, _, _ = select.select([self.pidfd], [], [], timeout)
        return bool(r)

    def tree_cpu_ns(self):
        """CPU time so far of unshare and of every process of the namespace (`schedstat`)."""
        total = 0
        for pid in [self.proc.pid, *self.procs()]:
            s = read(f"/proc/{pid}/schedstat")
            if s:
                total += int(s.split()[0])
        return total

    def reap_cpu_ns(self, timeout):
        """Once the init has exited: reaps unshare and returns the CPU time of the whole tree
        (`wait4`'s rusage: unshare's own and everything it and its descendants reaped), or None
        when unshare is not gone within `timeout`."""
        deadline = now() + timeout
        while True:
            try:
                pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return int((ru.ru_utime + ru.ru_stime) * 1e9)
            if now() > deadline:
                return None
            time.sleep(0.001)

    def close(self):
        """Kills the whole namespace (SIGKILL to its init) and reaps unshare."""
        if self.pidfd is not None:
            self.signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"warning: unshare {self.proc.pid} did not exit")
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        NS.live.discard(self)

    @classmethod
    def close_all(cls):
        for ns in list(cls.live):
            ns.close()


def wait_until(cond, timeout, what, step=0.002):
    deadline = now() + timeout
    while True:
        v = cond()
        if v:
            return v
        if now() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def running(ns, comm, n):
    """True once at least n live processes named comm are in the namespace."""
    return sum(1 for c, st, _ in ns.procs().values() if c == comm and st not in "ZX") >= n


def managers(ns, workload):
    """The supervision tree: every live process of the namespace that is not workload. A
    process named like its parent is a fork that has not exec'd yet (transient): left out."""
    procs = ns.procs()
    out = []
    for p, (c, st, pp) in procs.items():
        if c in workload or st in "ZX":
            continue
        if p != ns.pid and pp in procs and procs[pp][0] == c:
            continue
        out.append(p)
    return out


def delta(before, after):
    """Sum of per-process increases, over processes present in both snapshots."""
    return sum(after[p] - before[p] for p in before
               if before[p] is not None and after.get(p) is not None)


# ---------------------------------------------------------------------------------------------
# Tools: how each runs a list of services (argv lists) as PID 1

def q(argv):
    return " ".join(shlex.quote(a) for a in argv)


def body(argv):
    """Shell text that runs argv in the current process."""
    if len(argv) == 3 and argv[0] == "/bin/sh" and argv[1] == "-c":
        return argv[2]
    return "exec " + q(argv)


def yaml_str(s):
    return json.dumps(s)


class Tool:
    graceful_stop = None  # None, or why SIGTERM does not stop the children gracefully
    restarts = True      # restarts a crashed child
    native_multi = True  # supervises N processes itself
    passthrough = True   # child output flows through the manager
    exe = None

    def __init__(self, key, label):
        self.key, self.label = key, label
        self.missing = None

    def available(self):
        return self.missing is None


# The log-processing variant: every rule of the product README's "Advanced Logging" section
# on (multiline, redaction with e-mails, filters), plus the always-on level detection and
# JSON parsing. The multiline timeout is short so that the last line of the flood is not held
# for long after the others (its flush ends the measurement).
LOG_RULES = ["  log_multiline_enabled: true", "  log_multiline_timeout: 50",
             "  log_multiline_max_lines: 100", "  log_redaction_enabled: true",
             "  log_redaction_patterns: [password, api_key, secret, token, email]",
             "  log_redaction_placeholder: \"***REDACTED***\"", "  log_filter_enabled: true",
             "  log_filter_level: info", "  log_filter_patterns: [health_check, metrics_export]"]


class Phpeek(Tool):
    def __init__(self, key, label, binary, extra=(), logs_only=False):
        super().__init__(key, label)
        self.binary = binary
        self.exe = binary
        self.extra = list(extra)
        # A configuration variant of a build measured elsewhere: only the logs scenario.
        self.logs_only = logs_only
        if not os.path.exists(binary):
            self.missing = f"not built ({binary})"

    def argv(self, work, services):
        groups = []
        for s in services:
            if groups and groups[-1][0] == s:
                groups[-1][1] += 1
            else:
                groups.append([s, 1])
        y = ["version: \"1.0\"", "global:", "  shutdown_timeout: 10", "  log_format: json",
             "  log_level: info", f"  restart_backoff_initial: {RESTART_DELAY}",
             f"  restart_backoff_max: {RESTART_DELAY}", *self.extra, "processes:"]
        for i, (argv, n) in enumerate(groups):
            y += [f"  w{i}:", "    command: [" + ", ".join(yaml_str(a) for a in argv) + "]",
                  f"    scale: {n}", "    restart: always"]
            if STREAMS_OFF:
                y += ["    stdout: false", "    stderr: false"]
        path = os.path.join(work, "phpeek-pm.yaml")
        with open(path, "w") as f:
            f.write("\n".join(y) + "\n")
        return [self.binary, "-c", path]


class Launcher(Tool):
    """tini and dumb-init supervise one child: N services are started by one sh script."""
    restarts = False
    native_multi = False
    passthrough = False

    def __init__(self, key, label, exe, prefix):
        super().__init__(key, label)
        self.exe = shutil.which(exe)
        self.prefix = prefix
        if not self.exe:
            self.missing = f"{exe} not installed"

    def argv(self, work, services):
        if len(services) == 1:
            return [self.exe, *self.prefix, *services[0]]
        lines = ["#!/bin/sh",
                 "# N children for a one-child init: start them, pass on SIGTERM/SIGINT, wait.",
                 "trap 'kill $pids 2>/dev/null; wait; exit 0' TERM INT", "pids="]
        for s in services:
            lines += [f"{q(s)} &", 'pids="$pids $!"']
        lines.append("wait")
        path = os.path.join(work, "launch.sh")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o755)
        return [self.exe, *self.prefix, "/bin/sh", path]


class ServiceDirs(Tool):
    """s6-svscan and runsvdir: one service directory with a ./run script per child."""
    passthrough = False

    def __init__(self, key, label, exe, args):
        super().__init__(key, label)
        self.exe = shutil.which(exe)
        self.args = args
        if not self.exe:
            self.missing = f"{exe} not installed"

    def argv(self, work, services):
        scan = os.path.join(work, "services")
        os.makedirs(scan)
        for i, s in enumerate(services):
            d = os.path.join(scan, f"s{i}")
            os.makedirs(d)
            with open(os.path.join(d, "run"), "w") as f:
                f.write("#!/bin/sh\n" + body(s) + "\n")
            os.chmod(os.path.join(d, "run"), 0o755)
        return [self.exe, *self.args, scan]


class Supervisord(Tool):
    def __init__(self, key, label):
        super().__init__(key, label)
        self.exe = shutil.which("supervisord")
        if not self.exe:
            self.missing = "supervisord not installed"

    def argv(self, work, services):
        c = ["[supervisord]", "nodaemon=true", "user=root", "logfile=/dev/null",
             "logfile_maxbytes=0", "loglevel=info", f"pidfile={work}/supervisord.pid",
             f"childlogdir={work}"]
        groups = []
        for s in services:
            if groups and groups[-1][0] == s:
                groups[-1][1] += 1
            else:
                groups.append([s, 1])
        for i, (argv, n) in enumerate(groups):
            c += [f"[program:w{i}]", "command=" + q(argv).replace("%", "%%"),
                  f"numprocs={n}", "process_name=%(program_name)s_%(process_num)d",
                  "autostart=true", "autorestart=true", "startsecs=0",
                  "startretries=1000000", "stopsignal=TERM", "stopwaitsecs=10",
                  "redirect_stderr=true", "stdout_logfile=/dev/stdout",
                  "stdout_logfile_maxbytes=0"]
        path = os.path.join(work, "supervisord.conf")
        with open(path, "w") as f:
            f.write("\n".join(c) + "\n")
        return [self.exe, "-c", path]


def make_tools(bindir):
    tools = [
        Phpeek("phpeek-min", "phpeek-pm minimal", os.path.join(bindir, "phpeek-pm-minimal")),
        Phpeek("phpeek-full", "phpeek-pm full", os.path.join(bindir, "phpeek-pm-full")),
        Phpeek("phpeek-full-logs", "phpeek-pm full, all log rules",
               os.path.join(bindir, "phpeek-pm-full"), extra=LOG_RULES, logs_only=True),
        Launcher("tini", "tini", "tini", ["--"]),
        Launcher("dumb-init", "dumb-init", "dumb-init", ["--"]),
        ServiceDirs("s6", "s6 (s6-svscan)", "s6-svscan", []),
        ServiceDirs("runit", "runit (runsvdir)", "runsvdir", ["-P"]),
        Supervisord("supervisord", "supervisord"),
    ]
    tools[6].graceful_stop = ("runsvdir exits at once on SIGTERM without stopping its services "
                              "(the kernel then SIGKILLs them): no graceful shutdown to time")
    return tools


# ---------------------------------------------------------------------------------------------
# Scenario plumbing

class Run:
    """One scenario run of one tool: a work dir, a log file, a namespace; always cleaned up."""

    def __init__(self, tool, scenario, keep):
        self.tool, self.scenario = tool, scenario
        self.work = tempfile.mkdtemp(prefix=f"phpeek-bench-{scenario}-{tool.key}-")
        self.logf = open(os.path.join(self.work, "output.log"), "wb")
        self.ns = None
        self.keep = keep

    def start(self, services, stdout=None):
        argv = self.tool.argv(self.work, services)
        self.ns = NS(argv, stdout=stdout, logfile=self.logf, cwd=self.work)
        return self.ns

    def path(self, name):
        return os.path.join(self.work, name)

    def fifo(self, name):
        p = self.path(name)
        os.mkfifo(p)
        return p, os.open(p, os.O_RDWR | os.O_NONBLOCK)

    def close(self):
        if self.ns:
            self.ns.close()
        self.logf.close()
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def na(reason):
    return {"na": reason}


# ---------------------------------------------------------------------------------------------
# Scenarios. Each returns a dict of metric -> value for one run (or {"na": reason}).

def sc_memory_shutdown(run, n):
    """Idle RSS/PSS of the supervision tree with n sleeps; then SIGTERM -> init exit."""
    ns = run.start([SLEEP] * n)
    wait_until(lambda: running(ns, "sleep", n), 20, f"{n} sleeps")
    time.sleep(1.0)
    mgr = managers(ns, {"sleep"})
    rss = pss = anon = pss_file = 0
    for p in mgr:
        r = rollup(p)
        rss += r.get("Rss", 0)
        pss += r.get("Pss", 0)
        anon += r.get("Anonymous", 0)
        pss_file += r.get("Pss_File", 0)
    r1 = rollup(ns.pid)
    out = {"rss_kib": rss, "pss_kib": pss, "anon_kib": anon, "pss_file_kib": pss_file,
           "pid1_rss_kib": r1.get("Rss"), "pid1_pss_kib": r1.get("Pss"),
           "manager_procs": len(mgr)}
    cpu0 = ns.tree_cpu_ns()
    t0 = now()
    ns.signal(signal.SIGTERM)
    key = "shutdown_ms"
    if run.tool.graceful_stop:
        out["na_shutdown_ms"] = out["na_shutdown_cpu_ms"] = run.tool.graceful_stop
        key = "shutdown_ungraceful_ms"
    if ns.wait_exit(30):
        out[key] = (now() - t0) * 1000
        # The CPU the whole tree spent on it (manager, children's exits, reaping): the phase
        # keeps both CPUs busy, so what one tool does more shows here before it shows in time.
        cpu = ns.reap_cpu_ns(10)
        if cpu is not None and key == "shutdown_ms":
            out["shutdown_cpu_ms"] = (cpu - cpu0) / 1e6
    else:
        out[key] = None
        out["note"] = "did not exit within 30 s of SIGTERM"
    return out


def sc_startup(run, n=50):
    """Launch -> the n-th child has written to a fifo (each child: echo, then exec sleep)."""
    fifo, fd = run.fifo("started")
    child = ["/bin/sh", "-c", f"echo x > {fifo}; exec sleep 1000000"]
    try:
        t0 = now()
        ns = run.start([child] * n)
        got = 0
        deadline = t0 + 30
        while got < n:
            left = deadline - now()
            if left <= 0:
                return {"startup_ms": None, "note": f"only {got}/{n} started within 30 s"}
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    got += os.read(fd, 65536).count(b"\n")
                except BlockingIOError:
                    pass
        return {"startup_ms": (now() - t0) * 1000}
    finally:
        os.close(fd)


def sc_orphans(run, n=ORPHANS, gen=None):
    ready, rfd = run.fifo("ready")
    go, gfd = run.fifo("go")
    try:
        ns = run.start([[gen, str(n), ready, go]])
        deadline = now() + 120
        buf = b""
        while b"ready" not in buf:
            left = deadline - now()
            if left <= 0:
                raise BenchError("orphan generator not ready within 120 s")
            r, _, _ = select.select([rfd], [], [], left)
            if r:
                try:
                    buf += os.read(rfd, 64)
                except BlockingIOError:
                    pass
        procs = ns.procs()
        orphans = {p for p, (c, st, _) in procs.items() if c == "orphan"}
        reapers = {pp for p, (c, st, pp) in procs.items() if c == "orphan"}
        if len(orphans) != n:
            raise BenchError(f"expected {n} orphans, found {len(orphans)}")
        reaper_names = sorted({procs[r][0] for r in reapers if r in procs})
        time.sleep(0.2)
        t0 = now()
        os.write(gfd, b"go\n")
        deadline = t0 + 60
        while True:
            left = set()
            for r in reapers:
                left.update(children(r))
            left &= orphans
            if not left:
                return {"orphans_ms": (now() - t0) * 1000, "reaper": ",".join(reaper_names)}
            if now() > deadline:
                return {"orphans_ms": None, "reaper": ",".join(reaper_names),
                        "note": f"{len(left)} of {n} orphans still unreaped after 60 s"}
            time.sleep(0.001)
    finally:
        os.close(rfd)
        os.close(gfd)


def sc_logs(run, lines=LOG_LINES, drain=None):
    """Log throughput: a child writes `lines` lines as fast as it can; the manager's stdout is
    read by bench/drain.c (memchr/memmem, next to no CPU: see its header for why not Python),
    which reports when the last line arrived and, at end of file, what it counted."""
    ready, rfd = run.fifo("ready")
    go, gfd = run.fifo("go")
    marker = "@b@"
    child = ["/bin/sh", "-c",
             f"echo ready > {ready}; read x < {go}; "
             f"seq -f 'L%.0f {marker} abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz' "
             f"1 {lines}; exec sleep 1000000"]
    state = {"t_done": None, "end": None}
    done = threading.Event()
    ended = threading.Event()
    r_pipe, w_pipe = os.pipe()
    reader = subprocess.Popen([drain, marker, str(lines)], stdin=r_pipe, stdout=subprocess.PIPE)
    os.close(r_pipe)

    def watch():
        for raw in reader.stdout:
            word, *rest = raw.decode().split()
            if word == "done":
                state["t_done"] = float(rest[0])
                done.set()
            elif word == "end":
                state["end"] = [int(x) for x in rest]
        ended.set()
        done.set()

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    out = None
    try:
        ns = run.start([child], stdout=w_pipe)
        os.close(w_pipe)
        w_pipe = None
        deadline = now() + 30
        while True:
            r, _, _ = select.select([rfd], [], [], max(0, deadline - now()))
            if r:
                break
            if now() > deadline:
                raise BenchError("log child not ready within 30 s")
        time.sleep(0.3)
        mgr = managers(ns, {"sh", "seq", "sleep"})
        cpu0 = {p: cpu_ns(p) for p in mgr}
        t0 = now()
        os.write(gfd, b"go\n")
        done.wait(180)
        finished = state["t_done"] is not None
        t1 = state["t_done"] or now()
        cpu1 = {p: cpu_ns(p) for p in mgr}
        hwm = sum(status_fields(p, ("VmHWM",)).get("VmHWM", 0) for p in mgr)
        time.sleep(0.2)  # anything beyond the expected lines would be a duplicate
        cpu_ms = delta(cpu0, cpu1) / 1e6
        out = {"lines_per_s": lines / (t1 - t0) if finished else None,
               "seconds": t1 - t0, "manager_cpu_ms": cpu_ms,
               "manager_cpu_ms_per_mline": cpu_ms * 1e6 / lines,
               "manager_peak_rss_kib": hwm, "lines_expected": lines}
    finally:
        if w_pipe is not None:
            os.close(w_pipe)
        run.close()
        # The namespace is gone, so the pipe's last writer is: the reader sees end of file.
        ended.wait(10)
        reader.kill()
        reader.wait()
        th.join(10)
    if state["end"] is None:
        raise BenchError("bench-drain did not report its counts")
    count, nbytes, newlines = state["end"]
    out.update({"lines_received": count, "lost": lines - count, "bytes_out": nbytes,
                "output_lines": newlines})
    if out["lines_per_s"] is None:
        out["note"] = f"only {count}/{lines} lines within 180 s"
    return out


def concurrent(tools, scenario, services_for, settle, window, keep, measure):
    runs = {}
    try:
        for t in tools:
            r = Run(t, scenario, keep)
            runs[t.key] = r
            r.start(services_for(r))
        return measure(runs, settle, window)
    finally:
        for r in runs.values():
            r.close()


def sc_wakeups(tools, keep, n=10):
    def measure(runs, settle, window):
        for r in runs.values():
            wait_until(lambda: running(r.ns, "sleep", n), 30, f"{n} sleeps ({r.tool.key})")
        time.sleep(settle)
        mgr = {k: managers(r.ns, {"sleep"}) for k, r in runs.items()}

        def snap():
            return {k: {p: status_fields(p, ("voluntary_ctxt_switches",
                                             "nonvoluntary_ctxt_switches")) for p in ps}
                    for k, ps in mgr.items()}
        a = snap()
        t0 = now()
        time.sleep(window)
        b = snap()
        el = now() - t0
        out = {}
        for k in runs:
            vol = nvol = 0
            for p in mgr[k]:
                if p in b[k] and b[k][p]:
                    vol += b[k][p]["voluntary_ctxt_switches"] - a[k][p]["voluntary_ctxt_switches"]
                    nvol += (b[k][p]["nonvoluntary_ctxt_switches"]
                             - a[k][p]["nonvoluntary_ctxt_switches"])
            out[k] = {"wakeups": vol * 10.0 / el, "nonvoluntary": nvol * 10.0 / el,
                      "manager_procs": len(mgr[k])}
        return out
    return concurrent(tools, "wakeups", lambda r: [SLEEP] * n, 2.0, IDLE_WINDOW, keep, measure)


def sc_crash(tools, keep):
    def services(r):
        return [["/bin/sh", "-c", f"echo x >> {r.path('starts')}; exit 1"]]

    def count(r):
        s = read(r.path("starts"), "")
        return s.count("\n")

    def measure(runs, settle, window):
        for r in runs.values():
            wait_until(lambda: count(r) >= 1, 30, f"first start ({r.tool.key})")
        time.sleep(settle)
        mgr = {k: managers(r.ns, {"sh", "false"}) for k, r in runs.items()}
        c0 = {k: {p: cpu_ns(p) for p in ps} for k, ps in mgr.items()}
        s0 = {k: count(r) for k, r in runs.items()}
        t0 = now()
        time.sleep(window)
        c1 = {k: {p: cpu_ns(p) for p in ps} for k, ps in mgr.items()}
        s1 = {k: count(r) for k, r in runs.items()}
        el = now() - t0
        out = {}
        for k in runs:
            cpu_ms = delta(c0[k], c1[k]) / 1e6 * (30.0 / el)
            starts = (s1[k] - s0[k]) * (30.0 / el)
            out[k] = {"cpu_ms_30s": cpu_ms, "restarts_30s": starts,
                      "cpu_us_per_restart": cpu_ms * 1000 / starts if starts else None,
                      "manager_procs": len(mgr[k])}
        return out
    return concurrent(tools, "crash", services, 2.5, CRASH_WINDOW, keep, measure)


def sc_probes(tool, keep, n=10, window=PROBE_WINDOW):
    """Manager CPU and wake-ups with n processes, without health checks, then with one check
    per process every second (a mix of tcp, http and exec), each over `window` seconds."""
    def config(work, probes):
        port = 20000 + os.getpid() % 20000
        server = ["python3", "-c", "import http.server as h\n"
                  "class H(h.BaseHTTPRequestHandler):\n"
                  "  def do_GET(s):\n"
                  "    s.send_response(200); s.send_header('Content-Length','2');"
                  " s.end_headers(); s.wfile.write(b'ok')\n"
                  "  def log_message(s,*a): pass\n"
                  f"h.ThreadingHTTPServer(('127.0.0.1',{port}),H).serve_forever()"]
        y = ["global:", "  shutdown_timeout: 10", "processes:"]
        for i in range(n):
            argv = server if i == 0 else SLEEP
            y += [f"  p{i}:", "    command: [" + ", ".join(yaml_str(x) for x in argv) + "]"]
            if not probes:
                continue
            kind = ("tcp", "http", "exec")[i % 3]
            y += ["    health_check:", f"      type: {kind}", "      initial_delay: 1s",
                  "      period: 1s", "      timeout: 500ms", "      failure_threshold: 1000"]
            if kind == "tcp":
                y.append(f"      address: 127.0.0.1:{port}")
            elif kind == "http":
                y.append(f"      url: http://127.0.0.1:{port}/health")
            else:
                y.append("      command: [\"true\"]")
        path = os.path.join(work, "phpeek-pm.yaml")
        with open(path, "w") as f:
            f.write("\n".join(y) + "\n")
        return [tool.binary, "-c", path]

    out = {}
    for probes, suffix in ((False, "_idle"), (True, "")):
        r = Run(tool, "probes", keep)
        try:
            r.ns = NS(config(r.work, probes), logfile=r.logf, cwd=r.work)
            wait_until(lambda: running(r.ns, "sleep", n - 1), 30, f"{n - 1} sleeps")
            time.sleep(3.0)
            pid = r.ns.pid
            f = ("voluntary_ctxt_switches",)
            c0, s0, t0 = cpu_ns(pid), status_fields(pid, f), now()
            time.sleep(window)
            c1, s1, el = cpu_ns(pid), status_fields(pid, f), now() - t0
            out["cpu_pct" + suffix] = (c1 - c0) / 1e9 / el * 100.0
            out["wakeups" + suffix] = (s1[f[0]] - s0[f[0]]) / el
        finally:
            r.close()
    return out


# ---------------------------------------------------------------------------------------------
# HTTP endpoints of the full build (features api and metrics): wrk against a manager running
# 10 processes, on loopback.

HTTP_PROCS = 10
HTTP_SECONDS = 3 if QUICK else 10
HTTP_CONNS = 8


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sc_http(run, path_kind):
    """Requests/s and p99 latency of GET /api/v1/processes or GET /metrics (wrk, 8 connections,
    10 processes), and the manager's peak RSS under that load."""
    wrk = shutil.which("wrk")
    if not wrk:
        return na("wrk not installed (scripts/ensure-deps.sh observability)")
    api_port, metrics_port = free_port(), free_port()
    y = ["global:", "  log_level: warn", "  api_enabled: true", "  api_host: 127.0.0.1",
         f"  api_port: {api_port}", "  metrics_enabled: true", "  metrics_host: 127.0.0.1",
         f"  metrics_port: {metrics_port}", "processes:"]
    for i in range(HTTP_PROCS):
        y += [f"  p{i}:", "    command: [" + ", ".join(yaml_str(a) for a in SLEEP) + "]"]
    cfg = run.path("phpeek-pm.yaml")
    with open(cfg, "w") as f:
        f.write("\n".join(y) + "\n")
    run.ns = NS([run.tool.binary, "-c", cfg], logfile=run.logf, cwd=run.work)
    url = (f"http://127.0.0.1:{api_port}/api/v1/processes" if path_kind == "api"
           else f"http://127.0.0.1:{metrics_port}/metrics")

    def answers():
        try:
            return subprocess.run(["curl", "-sf", "-o", "/dev/null", url], timeout=5).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
    wait_until(answers, 10, f"{url} to answer")
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            f = status_fields(run.ns.pid, ["VmRSS"])
            peak[0] = max(peak[0], f.get("VmRSS", 0))
            time.sleep(0.05)
    th = threading.Thread(target=sample)
    th.start()
    try:
        out = subprocess.run([wrk, "-t2", f"-c{HTTP_CONNS}", f"-d{HTTP_SECONDS}s", "--latency",
                              url], capture_output=True, text=True,
                             timeout=HTTP_SECONDS + 30).stdout
    finally:
        stop.set()
        th.join()
    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if not rps or not p99:
        raise BenchError(f"could not read wrk's output: {out!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    res = {"rps": float(rps.group(1)), "p99_ms": float(p99.group(1)) * scale,
           "peak_rss_kib": peak[0]}
    if errors:
        res["note"] = f"{errors.group(1)} non-2xx answers"
    return res


# ---------------------------------------------------------------------------------------------
# Binary sizes

def libs_of(path):
    try:
        out = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    libs = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m and os.path.exists(m.group(1)):
            libs.append(os.path.realpath(m.group(1)))
    return libs


def is_static(path):
    try:
        out = subprocess.run(["file", "-L", path], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "statically linked" in out or "static-pie" in out


def du(path):
    total = 0
    for dp, _, fs in os.walk(path):
        for f in fs:
            p = os.path.join(dp, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def sizes(tools):
    """Bytes a FROM-scratch image needs for the manager: executables + shared libraries."""
    res = {}
    for t in tools:
        if not t.available():
            res[t.key] = na(t.missing)
            continue
        if getattr(t, "logs_only", False):
            res[t.key] = na("same binary as phpeek-pm full")
            continue
        if isinstance(t, Phpeek):
            sz = os.path.getsize(t.binary)
            res[t.key] = {"size_kib": sz / 1024, "exe_kib": sz / 1024,
                          "static": is_static(t.binary), "note": "static musl, stripped"}
            continue
        exes = {"tini": ["tini-static"], "dumb-init": ["dumb-init"],
                "s6": ["s6-svscan", "s6-supervise"], "runit": ["runsvdir", "runsv"],
                "supervisord": ["supervisord"]}[t.key]
        paths = [shutil.which(e) for e in exes]
        if t.key == "tini" and not paths[0]:
            paths = [t.exe]
        if None in paths:
            res[t.key] = na("executable missing")
            continue
        exe = sum(os.path.getsize(p) for p in paths)
        static = all(is_static(p) for p in paths)
        libs = set()
        for p in paths:
            libs.update(libs_of(p))
        names = ", ".join(os.path.basename(p) for p in paths)
        if t.key == "supervisord":
            pkg = "/usr/lib/python3/dist-packages/supervisor"
            with open(paths[0]) as f:
                shebang = f.readline()[2:].split()
            py = os.path.realpath(shebang[0] if shebang else "/usr/bin/python3")
            pysz = os.path.getsize(py)
            for l in libs_of(py):
                libs.add(l)
            libsz = sum(os.path.getsize(l) for l in libs)
            pk = du(pkg) if os.path.isdir(pkg) else 0
            total = exe + pk + pysz + libsz
            res[t.key] = {"size_kib": total / 1024, "exe_kib": exe / 1024, "static": False,
                          "note": f"Python: supervisor package {pk / 1048576:.1f} MiB + "
                                  f"{os.path.basename(py)} {pysz / 1048576:.1f} MiB + shared "
                                  f"libs {libsz / 1048576:.1f} MiB; the Python standard library "
                                  f"it imports (~50 MiB installed) is not counted"}
            continue
        libsz = sum(os.path.getsize(l) for l in libs)
        kind = "static" if static else "dynamic"
        note = f"{names}: {exe / 1024:.0f} KiB, {kind}"
        if libs:
            note += (f"; + shared libs {libsz / 1024:.0f} KiB ("
                     + ", ".join(sorted(os.path.basename(l) for l in libs)) + ")")
        if t.key == "tini":
            note += "; Debian's tini-static (glibc), the form `docker run --init` ships"
        res[t.key] = {"size_kib": (exe + libsz) / 1024, "exe_kib": exe / 1024,
                      "static": static, "note": note}
    return res


# ---------------------------------------------------------------------------------------------
# Table

ROWS = [
    # (scenario, metric, label, unit, better, format)
    ("size", "size_kib", "binary size (self-contained)", "KiB", "low", "{:.0f}"),
    ("idle1", "rss_kib", "idle RSS, 1 sleep", "KiB", "low", "{:.0f}"),
    ("idle1", "pss_kib", "idle PSS, 1 sleep", "KiB", "low", "{:.0f}"),
    ("idle1", "anon_kib", "idle anonymous memory, 1 sleep", "KiB", "low", "{:.0f}"),
    ("idle10", "rss_kib", "idle RSS, 10 sleeps", "KiB", "low", "{:.0f}"),
    ("idle10", "pss_kib", "idle PSS, 10 sleeps", "KiB", "low", "{:.0f}"),
    ("idle10", "anon_kib", "idle anonymous memory, 10 sleeps", "KiB", "low", "{:.0f}"),
    ("wakeups", "wakeups", "idle wake-ups / 10 s, 10 sleeps", "ctx sw", "low", "{:.1f}"),
    ("idle1", "shutdown_ms", "shutdown, 1 child", "ms", "low", "{:.1f}"),
    ("idle10", "shutdown_ms", "shutdown, 10 children", "ms", "low", "{:.1f}"),
    ("idle50", "shutdown_ms", "shutdown, 50 children", "ms", "low", "{:.1f}"),
    ("idle50", "shutdown_cpu_ms", "shutdown, 50 children: CPU of the whole tree", "ms", "low",
     "{:.2f}"),
    ("startup", "startup_ms", "start-up, 50 processes", "ms", "low", "{:.1f}"),
    ("orphans", "orphans_ms", f"orphan storm, {ORPHANS} zombies reaped", "ms", "low", "{:.1f}"),
    ("crash", "cpu_ms_30s", f"crash loop: CPU per {CRASH_WINDOW:.0f} s", "ms", "low", "{:.2f}"),
    ("crash", "restarts_30s", f"crash loop: restarts per {CRASH_WINDOW:.0f} s", "", "info",
     "{:.1f}"),
    ("crash", "cpu_us_per_restart", "crash loop: CPU per restart", "µs", "low", "{:.0f}"),
    ("logs", "lines_per_s", f"log throughput ({LOG_LINES} lines)", "lines/s", "high", "{:,.0f}"),
    ("logs", "manager_cpu_ms", "log throughput: manager CPU", "ms", "low", "{:.0f}"),
    ("logs", "manager_cpu_ms_per_mline", "log throughput: manager CPU per million lines", "ms",
     "low", "{:.0f}"),
    ("logs", "manager_peak_rss_kib", "log throughput: manager peak RSS", "KiB", "low",
     "{:.0f}"),
    ("logs", "lost", "log throughput: lines lost", "", "low", "{:.0f}"),
    ("api", "rps", "API GET /processes, 10 procs, wrk -c8 (full)", "req/s", "high",
     "{:,.0f}"),
    ("api", "p99_ms", "API GET /processes: p99 latency (full)", "ms", "low", "{:.2f}"),
    ("api", "peak_rss_kib", "API under load: manager peak RSS (full)", "KiB", "low", "{:.0f}"),
    ("metrics", "rps", "GET /metrics, 10 procs, wrk -c8 (full)", "req/s", "high", "{:,.0f}"),
    ("metrics", "p99_ms", "GET /metrics: p99 latency (full)", "ms", "low", "{:.2f}"),
    ("metrics", "peak_rss_kib", "metrics under load: manager peak RSS (full)", "KiB", "low",
     "{:.0f}"),
    ("probes", "cpu_pct_idle", "10 processes, no probes: manager CPU (full)", "%", "low",
     "{:.3f}"),
    ("probes", "wakeups_idle", "10 processes, no probes: manager wake-ups (full)", "/s", "low",
     "{:.2f}"),
    ("probes", "cpu_pct", f"10 processes probed every 1 s: manager CPU (full)", "%", "low",
     "{:.3f}"),
    ("probes", "wakeups", "10 processes probed every 1 s: manager wake-ups (full)", "/s", "low",
     "{:.2f}"),
]


def aggregate(runs_out):
    """{(scenario, tool): {metric: median}} plus n/a reasons."""
    agg, reasons = {}, {}
    by = {}
    for r in runs_out:
        if r.get("warmup"):
            continue
        by.setdefault((r["scenario"], r["tool"]), []).append(r)
    for key, rs in by.items():
        nas = [r["values"]["na"] for r in rs if "na" in r["values"]]
        if nas:
            reasons[key] = nas[0]
            continue
        m = {}
        for metric in {k for r in rs for k in r["values"]}:
            vals = [r["values"].get(metric) for r in rs]
            nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if nums and len(nums) == len(vals):
                m[metric] = statistics.median(nums)
            elif vals and all(isinstance(v, str) for v in vals):
                m[metric] = vals[0]
            elif any(v is None for v in vals):
                m[metric] = None
        notes = [r["values"].get("note") for r in rs if r["values"].get("note")]
        if notes:
            m["note"] = notes[0]
        agg[key] = m
    return agg, reasons


# The rows with a target ratio (issue 21): a phpeek-pm build against the better of its peers.
# (scenario, metric, label, phpeek-pm build, peers, better)
TARGETS = [
    ("idle50", "shutdown_ms", "shutdown, 50 children", "phpeek-min", ("tini", "dumb-init"),
     "low"),
    ("startup", "startup_ms", "start-up, 50 processes", "phpeek-min", ("tini", "dumb-init"),
     "low"),
    ("logs", "lines_per_s", "log throughput, minimal", "phpeek-min", ("supervisord",), "high"),
    ("logs", "lines_per_s", "log throughput, full", "phpeek-full", ("supervisord",), "high"),
]
RESAMPLES = 2000


def intervals(runs_out):
    """Each target row's ratio with a 95 % bootstrap interval: the runs of every tool are
    resampled with replacement (seeded: a rerun on the same results prints the same interval),
    and the ratio of the medians is taken against the better peer of that resample. A ratio
    of medians of 51 runs whose single runs spread by +-40 % moves by several per cent between
    invocations: the interval says how far this run's reading can be trusted."""
    vals = {}
    for r in runs_out:
        if r.get("warmup"):
            continue
        for metric in {t[1] for t in TARGETS}:
            v = r["values"].get(metric)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                vals.setdefault((r["scenario"], r["tool"], metric), []).append(v)
    out = []
    for sc, metric, label, build, peers, better in TARGETS:
        ours = vals.get((sc, build, metric))
        theirs = [(p, vals[(sc, p, metric)]) for p in peers if (sc, p, metric) in vals]
        if not ours or not theirs:
            continue
        pick = min if better == "low" else max
        rng = random.Random(f"{sc}/{metric}/{label}")
        med = statistics.median

        def ratio(o, ps):
            best = pick(ps, key=lambda x: x[1])
            return o / best[1], best[0]

        point, peer = ratio(med(ours), [(p, med(v)) for p, v in theirs])
        rs = sorted(ratio(med(rng.choices(ours, k=len(ours))),
                          [(p, med(rng.choices(v, k=len(v)))) for p, v in theirs])[0]
                    for _ in range(RESAMPLES))
        lo, hi = rs[int(0.025 * RESAMPLES)], rs[int(0.975 * RESAMPLES) - 1]
        out.append({"row": label, "peer": peer, "ratio": point, "low": lo, "high": hi,
                    "runs": len(ours), "better": better})
    return out


def intervals_text(ivs):
    if not ivs:
        return ""
    lines = [f"Target rows: phpeek-pm ÷ the better peer, with a 95 % interval from {RESAMPLES} "
             f"bootstrap resamples of each tool's runs (lower is better for times, higher for "
             f"lines/s):", ""]
    for i in ivs:
        lines.append(f"- {i['row']}: {i['ratio']:.3f}× {i['peer']} (95 % interval "
                     f"{i['low']:.3f}–{i['high']:.3f}, {i['runs']} runs)")
    return "\n".join(lines) + "\n"


def table(tools, agg, reasons, notes, markdown=False):
    base = "phpeek-min"
    heads = ["scenario", "unit"] + [t.label for t in tools]
    rows, footnotes, behind = [], [], []

    def foot(text):
        if text not in footnotes:
            footnotes.append(text)
        return f"[{footnotes.index(text) + 1}]"

    for sc, metric, label, unit, better, fmt in ROWS:
        row = [label, unit]
        bv = agg.get((sc, base), {}).get(metric)
        for t in tools:
            key = (sc, t.key)
            if key in reasons:
                row.append("n/a " + foot(reasons[key]))
                continue
            v = agg.get(key, {}).get(metric)
            if v is None and agg.get(key, {}).get("na_" + metric):
                row.append("n/a " + foot(agg[key]["na_" + metric]))
                continue
            if v is None:
                why = agg.get(key, {}).get("note")
                row.append(("failed " + foot(why)) if why else "—")
                continue
            cell = fmt.format(v)
            if t.key != base and isinstance(bv, (int, float)) and better != "info":
                if v:
                    ratio = bv / v
                    cell += (" (>999×)" if ratio >= 999.5 else " (<0.01×)" if ratio < 0.005
                             else f" ({ratio:.2f}×)")
                    worse = ratio > 1.05 if better == "low" else ratio < 0.95
                    if worse and not t.key.startswith("phpeek-full") and not (
                            better == "low" and bv - v < 1e-9):
                        behind.append((label, t.label, bv, v, ratio))
                elif bv:
                    cell += " (—)"
                    if better == "low" and not t.key.startswith("phpeek-full"):
                        behind.append((label, t.label, bv, v, None))
            n = notes.get(key)
            if n:
                cell += " " + foot(n)
            row.append(cell)
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        w = [max(len(r[i]) for r in rows + [heads]) for i in range(len(heads))]
        fmt_row = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r))
        lines = [fmt_row(heads), "  ".join("-" * x for x in w)] + [fmt_row(r) for r in rows]
    lines.append("")
    lines.append("Ratios in parentheses: phpeek-pm minimal ÷ that column (lower is better, "
                 "except lines/s and requests/s, where higher is better).")
    for i, f in enumerate(footnotes):
        lines.append(f"[{i + 1}] {f}")
    return "\n".join(lines), behind


# ---------------------------------------------------------------------------------------------

def machine():
    cpu = ""
    for line in (read("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    osr = {}
    for line in (read("/etc/os-release", "") or "").splitlines():
        k, _, v = line.partition("=")
        osr[k] = v.strip('"')

    def out(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip()
        except (OSError, subprocess.TimeoutExpired):
            return None

    def dpkg(p):
        return out(["dpkg-query", "-W", "-f=${Version}", p])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "os": osr.get("PRETTY_NAME"), "debian_version": (read("/etc/debian_version") or "").strip(),
        "mem_total": (read("/proc/meminfo", "") or "").splitlines()[0].split(":")[1].strip(),
        "git_commit": out(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]),
        "built_from": os.environ.get("BENCH_SOURCE", "unknown (bench.py run directly)"),
        "streams_off": STREAMS_OFF,
        "versions": {
            "tini": dpkg("tini"), "dumb-init": dpkg("dumb-init"), "s6": dpkg("s6"),
            "runit": dpkg("runit"), "supervisor": dpkg("supervisor"),
            "python3 (supervisord)": out(["/usr/bin/python3", "--version"]),
            "util-linux (unshare)": dpkg("util-linux"),
            "rustc": out(["rustc", "--version"]),
        },
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--orphan-gen", required=True)
    ap.add_argument("--drain", required=True, help="bench/drain.c, the log scenario's reader")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""),
                    help="comma-separated scenarios (size,idle1,idle10,idle50,wakeups,startup,"
                         "orphans,crash,logs,api,metrics,probes)")
    ap.add_argument("--tools", default=os.environ.get("BENCH_TOOLS", ""))
    ap.add_argument("--keep", action="store_true", help="keep work dirs (debugging)")
    a = ap.parse_args()
    a.bindir = os.path.abspath(a.bindir)
    a.orphan_gen = os.path.abspath(a.orphan_gen)
    a.drain = os.path.abspath(a.drain)
    a.results = os.path.abspath(a.results)

    def interrupted(*_):
        raise KeyboardInterrupt()
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)

    tools = make_tools(a.bindir)
    if a.tools:
        want = set(a.tools.split(","))
        tools = [t for t in tools if t.key in want]
    only = set(filter(None, a.only.split(",")))
    sel = lambda s: not only or s in only
    if STREAMS_OFF and sel("logs"):
        sys.exit("BENCH_STREAMS_OFF=1 switches off the output the logs scenario measures: "
                 "choose other scenarios with BENCH_ONLY")
    for t in tools:
        if not t.available():
            log(f"SKIPPING {t.label}: {t.missing}")
    live = [t for t in tools if t.available()]
    # Side-by-side scenarios run every live tool at once: configuration variants stay out.
    side = [t for t in live if not getattr(t, "logs_only", False)]
    meta = machine()
    meta["loadavg_start"] = (read("/proc/loadavg") or "").strip()
    meta["loadavg"] = {}
    load1 = float(meta["loadavg_start"].split()[0] or 0)
    if load1 > (os.cpu_count() or 1) / 2:
        log(f"WARNING: load average {load1} on {os.cpu_count()} CPUs: other work on this "
            f"machine will disturb latency and throughput numbers")
    meta.update({"runs": RUNS, "runs_long": RUNS_LONG, "quick": QUICK,
                 "idle_window_s": IDLE_WINDOW, "crash_window_s": CRASH_WINDOW,
                 "orphans": ORPHANS, "log_lines": LOG_LINES, "restart_delay": RESTART_DELAY})
    meta["versions"]["phpeek-pm"] = subprocess.run(
        [os.path.join(a.bindir, "phpeek-pm-minimal"), "version"], capture_output=True,
        text=True).stdout.strip().replace("\n", "; ")
    runs_out = []
    notes = {}
    t_start = now()

    def record(scenario, tool, i, values, warmup=False):
        runs_out.append({"scenario": scenario, "tool": tool, "run": i, "warmup": warmup,
                         "values": values})

    def per_tool(scenario, fn, runs, applies=lambda t: None):
        """Warm-up + runs, tools interleaved within each run."""
        log(f"scenario {scenario}: warm-up + {runs} runs")
        scenario_applies = applies
        applies = lambda t: (("configuration variant measured in the logs scenario only"
                              if getattr(t, "logs_only", False) and scenario != "logs"
                              else None) or scenario_applies(t))
        for t in tools:
            if not t.available():
                record(scenario, t.key, 0, na(t.missing))
            elif applies(t):
                record(scenario, t.key, 0, na(applies(t)))
        meta["loadavg"][scenario] = (read("/proc/loadavg") or "").strip()
        slow = set()
        for i in range(runs + 1):
            # A new order for every run (seeded, so a rerun repeats it): a tool never always
            # follows the same one, whose clean-up (a namespace torn down, deferred kernel
            # work) could otherwise weigh on it in every run.
            order = list(live)
            random.Random(f"{scenario}/{i}").shuffle(order)
            for t in order:
                if applies(t) or (t.key in slow and i > 1):
                    continue
                r = Run(t, scenario, a.keep)
                t0 = now()
                try:
                    v = fn(r)
                except (BenchError, OSError) as e:
                    log(f"  {scenario}/{t.key} run {i}: FAILED: {e}")
                    v = {"note": str(e)}
                finally:
                    r.close()
                if i == 0 and now() - t0 > SLOW_RUN:
                    # A tool this slow is not sensitive to noise: one measured run is enough,
                    # and repeating it would blow the time budget.
                    slow.add(t.key)
                    notes[(scenario, t.key)] = (f"one measured run: a run takes over "
                                                f"{SLOW_RUN:.0f} s")
                    log(f"  {scenario}/{t.key}: warm-up took {now() - t0:.0f} s, "
                        f"measuring once")
                record(scenario, t.key, i, v, warmup=(i == 0))

    try:
        if sel("size"):
            for k, v in sizes(tools).items():
                record("size", k, 1, v)
                if v.get("note") and not k.startswith("phpeek"):
                    notes[("size", k)] = v["note"]
        if sel("idle1"):
            per_tool("idle1", lambda r: sc_memory_shutdown(r, 1), RUNS)
        if sel("idle10"):
            per_tool("idle10", lambda r: sc_memory_shutdown(r, 10), RUNS)
        if sel("idle50"):
            per_tool("idle50", lambda r: sc_memory_shutdown(r, 50), TIGHTER_RUNS)
        if sel("startup"):
            per_tool("startup", sc_startup, TIGHTER_RUNS)
        if sel("orphans"):
            per_tool("orphans", lambda r: sc_orphans(r, gen=a.orphan_gen), RUNS)
        if sel("logs"):
            per_tool("logs", lambda r: sc_logs(r, drain=a.drain), TIGHT_RUNS)
        if sel("wakeups"):
            log(f"scenario wakeups: {RUNS_LONG} runs, all tools side by side")
            meta["loadavg"]["wakeups"] = (read("/proc/loadavg") or "").strip()
            for t in tools:
                if not t.available():
                    record("wakeups", t.key, 0, na(t.missing))
                elif getattr(t, "logs_only", False):
                    record("wakeups", t.key, 0, na("configuration variant: logs scenario only"))
            for i in range(1, RUNS_LONG + 1):
                try:
                    res = sc_wakeups(side, a.keep)
                except BenchError as e:
                    log(f"  wakeups run {i}: FAILED: {e}")
                    res = {t.key: {"note": str(e)} for t in side}
                for k, v in res.items():
                    record("wakeups", k, i, v)
        if sel("crash"):
            log(f"scenario crash: {RUNS_LONG} runs, all restarting tools side by side")
            meta["loadavg"]["crash"] = (read("/proc/loadavg") or "").strip()
            crashers = [t for t in side if t.restarts]
            for t in tools:
                if not t.available():
                    record("crash", t.key, 0, na(t.missing))
                elif getattr(t, "logs_only", False):
                    record("crash", t.key, 0, na("configuration variant: logs scenario only"))
                elif not t.restarts:
                    record("crash", t.key, 0, na(f"{t.label} cannot restart a child"))
            for i in range(1, RUNS_LONG + 1):
                try:
                    res = sc_crash(crashers, a.keep)
                except BenchError as e:
                    log(f"  crash run {i}: FAILED: {e}")
                    res = {t.key: {"note": str(e)} for t in crashers}
                for k, v in res.items():
                    record("crash", k, i, v)
        if sel("probes"):
            log(f"scenario probes: {RUNS_LONG} runs of phpeek-pm full, idle then probed")
            meta["loadavg"]["probes"] = (read("/proc/loadavg") or "").strip()
            for t in tools:
                if getattr(t, "logs_only", False):
                    record("probes", t.key, 0, na("configuration variant: logs scenario only"))
                elif t.key != "phpeek-full":
                    record("probes", t.key, 0, na("minimal build has no health checks"
                                                   if t.key == "phpeek-min"
                                                   else "peer has no health checks"))
                elif not t.available():
                    record("probes", t.key, 0, na(t.missing))
                else:
                    for i in range(1, RUNS_LONG + 1):
                        try:
                            v = sc_probes(t, a.keep)
                        except (BenchError, OSError) as e:
                            log(f"  probes run {i}: FAILED: {e}")
                            v = {"note": str(e)}
                        log(f"  probes run {i}: {v}")
                        record("probes", t.key, i, v)
        def no_http(t):
            if t.key == "phpeek-full":
                return None
            return ("minimal build has no such feature" if t.key == "phpeek-min"
                    else "peer has no such feature")
        for sc in ("api", "metrics"):
            if sel(sc):
                per_tool(sc, lambda r, sc=sc: sc_http(r, sc), RUNS_LONG, applies=no_http)
    except KeyboardInterrupt:
        log("interrupted: killing every namespace")
        NS.close_all()
        sys.exit(130)
    finally:
        NS.close_all()

    meta["elapsed_s"] = round(now() - t_start, 1)
    meta["loadavg_end"] = (read("/proc/loadavg") or "").strip()
    # Notes that explain a cell (what each tool did to run the workload).
    def add_note(key, text):
        notes[key] = f"{notes[key]}; {text}" if key in notes else text
    for t in tools:
        if isinstance(t, Launcher):
            for sc in ("idle10", "idle50", "wakeups", "startup"):
                add_note((sc, t.key), f"{t.label} supervises one child: an sh script starts "
                                      f"the N children (its sh is counted as manager)")
        if isinstance(t, ServiceDirs):
            for sc in ("idle1", "idle10", "idle50", "wakeups", "crash"):
                add_note((sc, t.key), "manager = scanner + one supervisor process per "
                                      "service, summed")
        if not t.passthrough:
            add_note(("logs", t.key), "child writes straight to the shared stdout: no "
                                      "pass-through, no line framing or timestamps")
        if t.key in ("s6", "runit"):
            add_note(("crash", t.key), "fixed 1 s minimum between two starts")
        if t.key == "supervisord":
            add_note(("crash", t.key), "no restart delay setting (startsecs=0, "
                                       "autorestart=true): restarts when its main loop (1 s "
                                       "select timeout) notices the exit")
    agg, reasons = aggregate(runs_out)
    txt, behind = table(tools, agg, reasons, notes)
    md, _ = table(tools, agg, reasons, notes, markdown=True)
    ivs = intervals(runs_out)

    os.makedirs(os.path.join(a.results, "raw"), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    doc = {"meta": meta, "runs": runs_out,
           "medians": {f"{s}/{t}": m for (s, t), m in agg.items()},
           "na": {f"{s}/{t}": r for (s, t), r in reasons.items()},
           "behind": [{"scenario": b[0], "peer": b[1], "phpeek": b[2], "peer_value": b[3],
                       "ratio": b[4]} for b in behind],
           "intervals": ivs}
    for path in (os.path.join(a.results, "raw", f"{stamp}.json"),
                 os.path.join(a.results, "latest.json")):
        with open(path, "w") as f:
            json.dump(doc, f, indent=1, default=str)
            f.write("\n")
    with open(os.path.join(a.results, "latest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "tool", "run", "warmup", "metric", "value"])
        for r in runs_out:
            for k, v in r["values"].items():
                w.writerow([r["scenario"], r["tool"], r["run"], r["warmup"], k, v])
    with open(os.path.join(a.results, "latest.md"), "w") as f:
        f.write(f"Run {meta['date']} on {meta['nproc']} × {meta['cpu']}, Linux "
                f"{meta['kernel']}, {meta['os']}; phpeek-pm built from {meta['built_from']}"
                f"{' (children output not captured: BENCH_STREAMS_OFF=1)' if STREAMS_OFF else ''}; "
                f"medians of "
                f"{RUNS} runs after a warm-up ({TIGHTER_RUNS} for start-up and shutdown of 50, "
                f"{TIGHT_RUNS} for the log flood; {RUNS_LONG} runs side by side for wake-ups and "
                f"the crash loop).\n\n")
        f.write(md + "\n")
        if ivs:
            f.write("\n" + intervals_text(ivs))

    print()
    print(txt)
    print()
    if ivs:
        print(intervals_text(ivs))
    if behind:
        print("phpeek-pm (minimal) is behind on:")
        for label, peer, bv, v, ratio in behind:
            print(f"  - {label}: {bv:.4g} vs {peer} {v:.4g}"
                  + (f" (×{ratio:.2f})" if ratio else ""))
    else:
        print("phpeek-pm (minimal) is not behind any peer in this run.")
    print(f"\nraw results: {os.path.relpath(a.results, ROOT)}/latest.json, latest.csv "
          f"(and raw/{stamp}.json); took {meta['elapsed_s']} s")


if __name__ == "__main__":
    main()
