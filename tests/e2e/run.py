#!/usr/bin/env python3
"""End-to-end test: the README's Laravel stack with real php-fpm, nginx and Prometheus.

    tests/e2e/run.py [--binary build/phpeek-pm] [--mode host|docker|both] [--require-all]

The stack is docker/laravel/phpeek-pm.yaml (php-fpm, nginx, Horizon, Reverb, two queue workers,
the scheduler, pre-start hooks, autotune, API and metrics) over the artisan stand-in of
tests/e2e/app/. It runs twice:

  host    phpeek-pm as PID 1 of `unshare --pid --fork --mount-proc --net` (a private loopback,
          so fixed ports never collide with anything else on the machine);
  docker  the image of docker/laravel-debian.Dockerfile, built on a debootstrap root filesystem
          by tests/e2e/image.sh, under `docker run` / `docker stop`.

Both runs are driven the same way from the host: curl, Prometheus and the API calls run inside
the stack's network namespace (`nsenter --net`), processes are found through /proc by pid
namespace. Every wait has a deadline; nothing synchronises on a bare sleep.

Checks that need an optional feature the binary lacks are reported as SKIP (with
--require-all they fail instead). Exit status: 0 all passed, 1 a check failed, 77 nothing could
run: all checks passed but the Docker half could not (no engine, not under CI).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_CONFIG = os.path.join(ROOT, "docker", "laravel", "phpeek-pm.yaml")
APP = os.path.join(ROOT, "tests", "e2e", "app")
LARAVEL_APP = os.path.join(ROOT, "tests", "e2e", "laravel")   # real Laravel 8 (Debian's package)
LARAVEL_FRAMEWORK = "/usr/share/php/Illuminate/autoload.php"

NGINX = "http://127.0.0.1:8080"
API = "http://127.0.0.1:9180/api/v1"
METRICS_PORT = 9090
PROM_PORT = 19090           # Prometheus' own port (9090 is phpeek-pm's metrics port here)
SCHEDULE = "*/3 * * * * *"  # every 3 s: the test need not wait for a whole minute
PROFILE = "light"           # autotune profile
OPTIONAL = ("health", "hooks", "api", "metrics", "scheduler", "heartbeat", "autotune")
# Pool values used when the binary has no autotune (so php-fpm.conf still resolves).
FALLBACK_POOL = {
    "PHP_FPM_PM": "dynamic", "PHP_FPM_MAX_CHILDREN": "4", "PHP_FPM_START_SERVERS": "2",
    "PHP_FPM_MIN_SPARE": "1", "PHP_FPM_MAX_SPARE": "3", "PHP_FPM_MAX_REQUESTS": "500",
}
STARTUP_S = 60      # docker run → first request through nginx
SHUTDOWN_S = 10     # SIGTERM / docker stop → exit (the issue's bound)


# ---------------------------------------------------------------------------------------------
# Reporting

class Report:
    def __init__(self, require_all):
        self.require_all = require_all
        self.passed = self.failed = self.skipped = 0
        self.notes = []

    def ok(self, desc):
        self.passed += 1
        print(f"  ok    {desc}", flush=True)

    def fail(self, desc, detail=None):
        self.failed += 1
        print(f"  FAIL  {desc}", flush=True)
        if detail:
            for line in str(detail).splitlines()[-25:]:
                print(f"        {line}", flush=True)

    def check(self, desc, cond, detail=None):
        if cond:
            self.ok(desc)
        else:
            self.fail(desc, detail)
        return bool(cond)

    def skip(self, desc, why):
        if self.require_all:
            self.fail(f"{desc} (needs {why})")
        else:
            self.skipped += 1
            print(f"  SKIP  {desc} (needs {why})", flush=True)

    def summary(self, name):
        line = f"{name}: {self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        print(line, flush=True)
        return self.failed == 0


def say(msg):
    print(f"e2e: {msg}", flush=True)


def wait_until(timeout, fn, interval=0.1):
    """Polls fn() until it returns something truthy or the deadline passes (→ None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def run(cmd, timeout=30, env=None, input_=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              input=input_)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(cmd, 124, e.stdout or "", e.stderr or "timed out")


# ---------------------------------------------------------------------------------------------
# What the binary can do, and the config it can run

PROBES = {
    "health": 'processes:\n  p:\n    command: ["true"]\n    health_check:\n'
              '      type: tcp\n      address: "127.0.0.1:9"\n',
    "hooks": 'hooks:\n  pre-start:\n    - name: h\n      command: ["true"]\n'
             'processes:\n  p:\n    command: ["true"]\n',
    "api": 'global:\n  api_enabled: true\nprocesses:\n  p:\n    command: ["true"]\n',
    "metrics": 'global:\n  metrics_enabled: true\nprocesses:\n  p:\n    command: ["true"]\n',
    "scheduler": 'processes:\n  p:\n    command: ["true"]\n    schedule: "* * * * *"\n',
    "heartbeat": 'processes:\n  p:\n    command: ["true"]\n    schedule: "* * * * *"\n'
                 '    heartbeat:\n      url: "http://127.0.0.1:9/ping"\n',
}


def detect_features(binary, workdir):
    """The optional features this binary implements: check-config accepts their keys."""
    have = set()
    for name, text in PROBES.items():
        path = os.path.join(workdir, f"probe-{name}.yaml")
        with open(path, "w") as f:
            f.write('version: "1.0"\n' + text)
        r = run([binary, "check-config", "-c", path])
        if r.returncode == 0:
            have.add(name)
        elif "requires" not in (r.stdout + r.stderr):
            say(f"feature probe {name}: unexpected answer: {(r.stdout + r.stderr).strip()}")
    path = os.path.join(workdir, "probe-autotune.yaml")
    with open(path, "w") as f:
        f.write('version: "1.0"\nprocesses:\n  p:\n    command: ["true"]\n')
    r = run([binary, "--php-fpm-profile", PROFILE, "--dry-run", "-c", path])
    if r.returncode == 0:
        have.add("autotune")
    return have


MARKER = re.compile(r"#.*\bfeature: ([a-z-]+)\s*$")


def filter_config(text, missing):
    """Drops each line marked `# ... feature: X` (with the lines indented under it) for the
    features X in `missing`, so the stack runs on a binary that lacks them."""
    out, skip_indent = [], None
    for line in text.splitlines(keepends=True):
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if skip_indent is not None:
            if not body.strip() or indent > skip_indent:
                continue
            skip_indent = None
        m = MARKER.search(line)
        if m and m.group(1) in missing:
            skip_indent = indent
            continue
        out.append(line)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# The stack's namespaces, seen from the host

def pidns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def ns_procs(leader):
    """Every process in the pid namespace of host pid `leader` (including it):
    dicts with host pid, ns pid, ppid (host), cmdline."""
    ns = pidns(leader)
    procs = []
    if ns is None:
        return procs
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        if pidns(pid) != ns:
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        nspid = re.search(r"^NSpid:\s*(.*)$", status, re.M)
        ppid = re.search(r"^PPid:\s*(\d+)", status, re.M)
        state = re.search(r"^State:\s*(\S)", status, re.M)
        procs.append({
            "pid": pid,
            "nspid": int(nspid.group(1).split()[-1]) if nspid else None,
            "ppid": int(ppid.group(1)) if ppid else None,
            "state": state.group(1) if state else "?",
            "cmd": cmd,
        })
    return procs


def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def pgid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def fpm_master(leader):
    """php-fpm's master: titled `php-fpm: master process` and the leader of its own process
    group (phpeek-pm starts every instance with setsid). A worker forked a moment ago still
    carries its master's title until it renames itself; after the master was SIGKILLed, such
    a worker (re-parented to PID 1, in the dead master's group) looked like a new master
    0.01 s later."""
    for p in ns_procs(leader):
        if p["cmd"].startswith("php-fpm: master process") and pgid(p["pid"]) == p["pid"]:
            return p
    return None


# ---------------------------------------------------------------------------------------------
# The manager's log

class Log:
    """phpeek-pm's JSON log, as written to a file by the runner."""

    def __init__(self, path):
        self.path = path

    def records(self):
        out = []
        try:
            with open(self.path, errors="replace") as f:
                for line in f:
                    line = line.strip()
                    if not line.startswith("{"):
                        if line:
                            out.append({"msg": line, "raw": True})
                        continue
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        out.append({"msg": line, "raw": True})
        except OSError:
            pass
        return out

    def find(self, pred, recs=None):
        """Index of the first record matching pred, or None."""
        for i, r in enumerate(recs if recs is not None else self.records()):
            if pred(r):
                return i
        return None

    def count(self, pred):
        return sum(1 for r in self.records() if pred(r))


def msg_has(text, process=None):
    return lambda r: text in r.get("msg", "") and (process is None or r.get("process") == process)


def event(name, process=None):
    return lambda r: r.get("event") == name and (process is None or r.get("process") == process)


def fmt(r):
    if r.get("raw"):
        return r["msg"]
    t = r.get("time", "")[11:23]
    who = r.get("instance") or r.get("process") or "phpeek-pm"
    extra = ""
    if r.get("event"):
        keep = {k: v for k, v in r.items()
                if k not in ("time", "level", "msg", "event", "process", "instance")}
        extra = f"  [{r['event']}" + "".join(f" {k}={v}" for k, v in keep.items()) + "]"
    return f"{t} {r.get('level', 'info').upper():5} [{who}] {r.get('msg', '')}{extra}"


# ---------------------------------------------------------------------------------------------
# Runners: the same stack, as PID 1 of a namespace on the host, or in a Docker container

class Stack:
    name = "?"
    leader = None      # host pid of phpeek-pm (PID 1 of the stack's namespace)
    log = None

    def net(self, cmd, timeout=10):
        """Runs a host command inside the stack's network namespace."""
        return run(["nsenter", "-t", str(self.leader), "-n", "--"] + cmd, timeout=timeout)

    def inside(self, cmd, timeout=20):
        """Runs a command of the stack's own filesystem in its mount, pid and net namespaces."""
        return run(["nsenter", "-t", str(self.leader), "-m", "-p", "-n", "--"] + cmd,
                   timeout=timeout)

    def curl(self, url, method="GET", body=None, timeout=5):
        """(status, body) of one request from inside the stack's network namespace."""
        cmd = ["curl", "-sS", "-m", str(timeout), "-X", method, "-o", "-", "-w", "\n%{http_code}"]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data", body]
        r = self.net(cmd + [url], timeout=timeout + 5)
        out = r.stdout.rsplit("\n", 1)
        if len(out) != 2 or not out[1].strip().isdigit():
            return 0, r.stdout + r.stderr
        return int(out[1]), out[0]

    def json(self, url, method="GET", body=None):
        status, text = self.curl(url, method, body)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, None


class HostStack(Stack):
    name = "host"

    def __init__(self, binary, config_text, env_extra, workdir):
        self.binary = os.path.realpath(binary)
        self.dir = workdir
        os.chmod(self.dir, 0o755)  # php-fpm and nginx workers (www-data) read the app
        self.app = os.path.join(self.dir, "app")
        self.etc = os.path.join(self.dir, "etc")
        shutil.copytree(APP, self.app, symlinks=True)
        os.makedirs(self.etc)
        for f in ("php-fpm.conf", "nginx.conf"):
            shutil.copy(os.path.join(ROOT, "docker", "laravel", f), self.etc)
        with open(os.path.join(self.etc, "phpeek-pm.yaml"), "w") as f:
            f.write(config_text)
        run(["chown", "-R", "www-data:www-data", os.path.join(self.app, "storage")])
        # `php-fpm` as the configs call it: Debian installs php-fpm8.2.
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        if not shutil.which("php-fpm"):
            os.symlink(shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2",
                       os.path.join(bindir, "php-fpm"))
        self.env = dict(os.environ)
        self.env.update(env_extra)
        self.env.update({"APP_DIR": self.app, "STACK_DIR": self.etc,
                         "PATH": bindir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"})
        self.log = Log(os.path.join(self.dir, "phpeek-pm.log"))
        self.proc = None

    def start(self):
        up_lo = "ip link set lo up 2>/dev/null || busybox ip link set lo up"
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--net", "--kill-child", "--",
               "sh", "-c", up_lo + ' && exec "$0" "$@"',
               self.binary, "serve", "-c", os.path.join(self.etc, "phpeek-pm.yaml")]
        self.logf = open(self.log.path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=self.app)

        def child():
            try:
                with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                    kids = f.read().split()
            except OSError:
                return None
            if kids and os.path.realpath(f"/proc/{kids[0]}/exe") == self.binary:
                return int(kids[0])
            return None
        self.leader = wait_until(10, child, 0.02)
        return self.leader is not None

    def stop(self):
        """SIGTERM to PID 1; (exit code, seconds to exit)."""
        t = time.monotonic()
        os.kill(self.leader, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc, time.monotonic() - t

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # --kill-child takes the namespace down with it
            self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()


class DockerStack(Stack):
    name = "docker"
    app = "/var/www/html"
    etc = "/etc/phpeek-pm"

    def __init__(self, image, env_extra, workdir):
        self.image = image
        self.env = env_extra
        self.cname = f"phpeek-pm-e2e-{os.getpid()}"
        self.log = Log(os.path.join(workdir, "docker.log"))
        self.follower = None

    def start(self):
        cmd = ["docker", "run", "-d", "--name", self.cname, "--memory", "1g", "--cpus", "1"]
        for k, v in self.env.items():
            cmd += ["-e", f"{k}={v}"]
        self.t0 = time.monotonic()
        r = run(cmd + [self.image], timeout=60)
        if r.returncode != 0:
            say(f"docker run failed: {r.stderr.strip()}")
            return False
        pid = run(["docker", "inspect", "-f", "{{.State.Pid}}", self.cname]).stdout.strip()
        self.leader = int(pid) if pid.isdigit() and pid != "0" else None
        self.logf = open(self.log.path, "wb")
        self.follower = subprocess.Popen(["docker", "logs", "-f", self.cname], stdout=self.logf,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self.leader is not None

    def stop(self):
        """`docker stop` (SIGTERM, SIGKILL after 10 s); (exit code, seconds it took)."""
        t = time.monotonic()
        run(["docker", "stop", self.cname], timeout=40)
        dt = time.monotonic() - t
        rc = run(["docker", "inspect", "-f", "{{.State.ExitCode}}", self.cname]).stdout.strip()
        if self.follower:
            try:
                self.follower.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.follower.kill()
        return (int(rc) if rc.lstrip("-").isdigit() else -1), dt

    def cleanup(self):
        if self.follower and self.follower.poll() is None:
            self.follower.kill()
        run(["docker", "rm", "-f", self.cname], timeout=30)
        if getattr(self, "logf", None):
            self.logf.close()


# ---------------------------------------------------------------------------------------------
# Prometheus on the stack's loopback

class Prometheus:
    def __init__(self, stack, workdir):
        self.stack = stack
        self.dir = os.path.join(workdir, f"prometheus-{stack.name}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: phpeek-pm\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{METRICS_PORT}']\n")
        self.logf = open(os.path.join(self.dir, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(self.stack.leader), "-n", "--", "prometheus",
             f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{PROM_PORT}", "--log.level=warn"],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def query(self, q):
        """The instant vector of a PromQL query: [(labels, float)], or None on error."""
        import urllib.parse
        status, body = self.stack.json(
            f"http://127.0.0.1:{PROM_PORT}/api/v1/query?query={urllib.parse.quote(q)}")
        if status != 200 or not body or body.get("status") != "success":
            return None
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    def scalar(self, q):
        v = self.query(q)
        return v[0][1] if v else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "logf", None):
            self.logf.close()


# ---------------------------------------------------------------------------------------------
# The scenario

def api_process(stack, name):
    status, body = stack.json(f"{API}/processes")
    if status != 200 or not isinstance(body, dict):
        return None
    for p in body.get("processes", []):
        if p.get("name") == name:
            return p
    return None


def find_key(obj, key):
    """The first value of `key` anywhere in a JSON document (depth first), or None."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def running_instances(p):
    return [i for i in (p or {}).get("instances", [])
            if i.get("state") in ("running", "ready") and i.get("pid")]


def restarts(p):
    """Total restarts of a process as the API reports them."""
    if not p:
        return None
    r = p.get("restarts_by_reason") or p.get("restarts")
    if isinstance(r, dict):
        return sum(int(v) for v in r.values())
    if isinstance(r, list):
        return sum(int(x[1]) if isinstance(x, list) else int(x.get("count", 0)) for x in r)
    if isinstance(r, int):
        return r
    return sum(int(i.get("restart_count", 0)) for i in p.get("instances", []))


# Runs inside the stack's network namespace: GET the page every 20 ms, one line per answer.
TRAFFIC = """
import json, sys, time, urllib.request
while True:
    try:
        with urllib.request.urlopen("%s/", timeout=5) as r:
            print(r.status, json.loads(r.read()).get("pid"), flush=True)
    except Exception as e:
        print(getattr(e, "code", 0), type(e).__name__, flush=True)
    time.sleep(0.02)
""" % NGINX


class Traffic:
    """Requests the PHP page through nginx back to back until stopped; counts the answers."""

    def __init__(self, stack):
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(stack.leader), "-n", "--", "python3", "-c", TRAFFIC],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True)
        self.codes = {}
        self.pids = set()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            code = int(parts[0]) if parts and parts[0].isdigit() else 0
            self.codes[code] = self.codes.get(code, 0) + 1
            if code == 200 and len(parts) > 1:
                self.pids.add(parts[1])

    def finish(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        return self.codes


def scenario(stack, rep, have, workdir, timings):
    """Runs every check against a started stack. Returns nothing; results go to rep."""
    log = stack.log
    need = lambda f: f in have  # noqa: E731

    # -- start-up: first request through nginx
    def first_ok():
        status, body = stack.curl(f"{NGINX}/", timeout=2)
        if status == 200:
            try:
                return json.loads(body)
            except ValueError:
                return None
        return None
    page = wait_until(STARTUP_S, first_ok, 0.05)
    t_first = time.monotonic() - stack.t0
    timings[f"{stack.name}: start → first request OK through nginx"] = t_first
    if not rep.check(f"a PHP page answers through nginx ({t_first:.2f} s after start)", page,
                     "\n".join(fmt(r) for r in log.records()[-30:])):
        return
    say(f"page: {json.dumps(page)}")
    rep.check("the page is served by a php-fpm worker running as www-data",
              page.get("sapi") == "fpm-fcgi" and page.get("user") == "www-data", page)

    recs = log.records()
    first_start = log.find(event("started"), recs)

    # -- pre-start hooks, in order, before any process
    if need("hooks"):
        i_cache = log.find(msg_has("config:cache: Configuration cached"), recs)
        i_migr = log.find(msg_has("migrate: ran"), recs)
        rep.check("pre-start hooks ran in order: config:cache, then migrate, before any process",
                  i_cache is not None and i_migr is not None and first_start is not None
                  and i_cache < i_migr < first_start,
                  f"config:cache at {i_cache}, migrate at {i_migr}, first start at {first_start}")
        rep.check("migrate found the cached configuration (no 'not cached' error)",
                  log.find(msg_has("configuration is not cached"), recs) is None)
        rep.check("the page sees the configuration cache written by the hook",
                  page.get("config_cached") is True, page)
    else:
        rep.skip("pre-start hooks ran in order", "feature hooks")

    # -- autotune: the pool uses the PHP_FPM_* values phpeek-pm computed. (php-fpm rewrites
    #    its environ area for its process title, so the environment is read from a worker,
    #    through the page.)
    master = wait_until(10, lambda: fpm_master(stack.leader))
    pool = page.get("php_fpm_env") or {}
    if need("autotune"):
        tuned = pool.get("PHP_FPM_MAX_CHILDREN")
        rep.check(f"php-fpm's workers see the autotuned PHP_FPM_MAX_CHILDREN={tuned}, "
                  f"PHP_FPM_PM={pool.get('PHP_FPM_PM')}",
                  tuned and tuned.isdigit() and page.get("php_fpm_max_children") == tuned, page)
        logged = [r for r in recs if r.get("event") == "autotune"]
        rep.check("the log's autotune record has the same values "
                  + (f"(profile {logged[0].get('profile')})" if logged else ""),
                  logged and all(str(logged[0].get(k)) == pool.get(v) for k, v in (
                      ("max_children", "PHP_FPM_MAX_CHILDREN"), ("pm", "PHP_FPM_PM"),
                      ("start_servers", "PHP_FPM_START_SERVERS"),
                      ("max_requests", "PHP_FPM_MAX_REQUESTS"))),
                  "\n".join(fmt(r) for r in logged) + f"\npage: {pool}")
        if stack.name == "docker" and logged:
            rep.check(f"autotune sized for the container's limit (docker run --memory 1g): "
                      f"memory_bytes={logged[0].get('memory_bytes')}",
                      str(logged[0].get("memory_bytes")) == str(1 << 30), fmt(logged[0]))
        # php-fpm's own view of the pool file, with the environment phpeek-pm gave it.
        envargs = [f"{k}={v}" for k, v in pool.items()] + [f"APP_DIR={stack.app}"]
        r = stack.inside(["env", "-i"] + envargs
                         + ["/usr/sbin/php-fpm8.2", "-tt", "-y", f"{stack.etc}/php-fpm.conf"])
        dump = r.stdout + r.stderr
        m = re.search(r"pm\.max_children\s*=\s*(\d+)", dump)
        rep.check(f"php-fpm -tt: the pool file resolves pm.max_children = "
                  f"{m.group(1) if m else '?'}", m and m.group(1) == tuned, dump[-1500:])
    else:
        rep.skip("php-fpm's pool uses the autotuned PHP_FPM_* values", "feature autotune")

    # -- nginx started only after php-fpm's port was healthy
    i_nginx = log.find(event("started", "nginx"), recs)
    if need("health"):
        i_healthy = log.find(lambda r: r.get("process") == "php-fpm" and (
            (r.get("event") == "health" and r.get("health") == "healthy")
            or r.get("event") == "healthy"), recs)
        rep.check("nginx started only after php-fpm's health check passed",
                  i_healthy is not None and i_nginx is not None and i_healthy < i_nginx,
                  "\n".join(fmt(r) for r in recs
                            if r.get("process") in ("php-fpm", "nginx") and r.get("event"))[:3000])
    else:
        rep.skip("nginx started only after php-fpm's health check passed", "feature health")

    # -- Prometheus scraping the exporter on loopback
    prom = None
    if need("metrics"):
        if shutil.which("prometheus"):
            prom = Prometheus(stack, workdir)
            prom.start()
            up = wait_until(30, lambda: prom.scalar('up{job="phpeek-pm"}') == 1.0, 0.25)
            rep.check("a real Prometheus scrapes phpeek-pm's /metrics (up == 1)", up,
                      open(os.path.join(prom.dir, "prometheus.log")).read()[-1500:])
        else:
            rep.fail("prometheus is installed (scripts/ensure-deps.sh e2e)")
    else:
        rep.skip("a real Prometheus scrapes the exporter", "feature metrics")

    # -- kill php-fpm's master twice: restarted after a growing backoff, nginx serves again
    if master:
        old_worker = page["pid"]
        delays = []
        for n in (1, 2):
            old_master = master["pid"]
            t_kill = time.monotonic()
            os.kill(old_master, signal.SIGKILL)
            master = wait_until(30, lambda: (lambda m: m if m and m["pid"] != old_master
                                             else None)(fpm_master(stack.leader)), 0.02)
            t_back = time.monotonic() - t_kill

            # The new master can be up before the log file holds the record that scheduled
            # it (issue 17 point 6): wait for the n-th record, with a deadline.
            def scheduled():
                rs = log.records()
                sched = [r for r in rs if r.get("process") == "php-fpm"
                         and r.get("event") == "restart_scheduled"]
                return (rs, sched) if len(sched) >= n else None
            got = wait_until(10, scheduled, 0.05)
            recs, sched = got if got else (log.records(), [])
            delay = sched[n - 1].get("delay_ms") if len(sched) >= n else None
            delays.append(delay)
            rep.check(f"php-fpm's master killed (SIGKILL #{n}): a new master after "
                      f"{t_back:.2f} s (backoff delay_ms={delay})",
                      master and isinstance(delay, int) and t_back * 1000 >= delay * 0.9,
                      "\n".join(fmt(r) for r in recs if r.get("process") == "php-fpm")[-3000:])
            if not master:
                break
        rep.check(f"the backoff grows: {delays[0]} ms, then {delays[-1]} ms",
                  len(delays) == 2 and all(isinstance(d, int) for d in delays)
                  and delays[0] >= 500 and delays[1] >= 1.5 * delays[0], delays)
        page2 = wait_until(30, lambda: (lambda p: p if p and p.get("pid") != old_worker
                                        else None)(first_ok()), 0.1)
        rep.check("nginx serves the PHP page again once php-fpm is back (a new worker pid)",
                  page2, page2)
    else:
        rep.fail("php-fpm's master process found in the stack's pid namespace",
                 "\n".join(p["cmd"] for p in ns_procs(stack.leader)))

    # -- scale queue-default to 5 and back to 2 under traffic
    if need("api"):
        traffic = Traffic(stack)
        # Traffic flows before, during and after both scale operations.
        wait_until(15, lambda: sum(traffic.codes.values()) >= 20, 0.05)
        status, body = stack.json(f"{API}/processes/queue-default/scale", "POST",
                                  '{"desired":5}')
        rep.check(f"POST /api/v1/processes/queue-default/scale {{\"desired\":5}} → {status}",
                  status == 200, body)
        five = wait_until(20, lambda: len(running_instances(
            api_process(stack, "queue-default"))) == 5, 0.2)
        rep.check("queue-default runs 5 instances (API)", five,
                  api_process(stack, "queue-default"))
        rep.check("the new workers queue-default-2..4 are working (their own log lines)",
                  wait_until(10, lambda: all(
                      log.find(msg_has(f"queue:work [queue-default-{n}]: waiting for jobs"))
                      is not None for n in (2, 3, 4))))
        status, body = stack.json(f"{API}/processes/queue-default/scale", "POST",
                                  '{"desired":2}')
        rep.check(f"POST .../scale {{\"desired\":2}} → {status}", status == 200, body)
        two = wait_until(20, lambda: len(running_instances(
            api_process(stack, "queue-default"))) == 2, 0.2)
        rep.check("queue-default is back to 2 instances (API)", two,
                  api_process(stack, "queue-default"))
        stopped = wait_until(10, lambda: all(
            log.find(msg_has(f"queue:work [queue-default-{n}]: SIGTERM: stopping")) is not None
            for n in (2, 3, 4)))
        rep.check("the 3 retired workers finished their job and stopped on SIGTERM", stopped)
        n_after = sum(traffic.codes.values()) + 20
        wait_until(15, lambda: sum(traffic.codes.values()) >= n_after, 0.05)
        codes = traffic.finish()
        total = sum(codes.values())
        rep.check(f"curl traffic during both scale operations: {total} requests, all 200 "
                  f"({len(traffic.pids)} worker pids)",
                  total >= 50 and set(codes) == {200}, codes)
    else:
        rep.skip("POST .../queue-default/scale to 5 and back to 2 under traffic", "feature api")

    # -- the scheduled task runs; API, metrics and log agree
    def task_runs():
        return [r for r in log.records() if r.get("event") == "task_finished"
                and r.get("process") == "scheduler"]
    if need("scheduler"):
        ran = wait_until(15, lambda: len(task_runs()) >= 2, 0.2)
        runs = task_runs()
        done = {r.get("msg", "").split("[")[1].split("]")[0] for r in log.records()
                if r.get("msg", "").startswith("schedule:run [")
                and r.get("msg", "").endswith(": done")}
        rep.check(f"the scheduled task ran {len(runs)} times (every 3 s), each exit 0, each "
                  f"run's own output logged as scheduler-run-N",
                  ran and all(r.get("exit_code") == 0 for r in runs)
                  and all(r.get("instance") in done for r in runs),
                  "\n".join(fmt(r) for r in runs) + f"\nartisan saw: {sorted(done)}")
    else:
        rep.skip("the scheduled task runs", "feature scheduler")

    if need("api") and need("metrics") and prom:
        agree_report = {}

        def agree():
            recs = log.records()
            fpm = api_process(stack, "php-fpm")
            a_restarts = restarts(fpm)
            m_restarts = prom.scalar('sum(phpeek_pm_process_restarts_total{name="php-fpm"})')
            l_restarts = sum(1 for r in recs if r.get("process") == "php-fpm"
                             and r.get("event") == "restart_scheduled")
            q = api_process(stack, "queue-default") or {}
            a_scale = q.get("desired_scale")
            m_scale = prom.scalar('phpeek_pm_process_desired_scale{name="queue-default"}')
            vals = {"php-fpm restarts (api, metrics, log)": (a_restarts, m_restarts, l_restarts),
                    "queue-default desired scale (api, metrics)": (a_scale, m_scale)}
            if need("health"):
                inst = (fpm or {}).get("instances") or [{}]
                a_h = 1 if (inst[0].get("health") or {}).get("status") == "healthy" else 0
                m_h = prom.scalar('max(phpeek_pm_health_check_status{name="php-fpm"})')
                vals["php-fpm healthy (api, metrics)"] = (a_h, m_h)
            if need("hooks"):
                m_hooks = prom.scalar('sum(phpeek_pm_hook_executions_total'
                                      '{type="pre_start",status="success"})')
                l_hooks = sum(1 for r in recs if r.get("event") == "hook_finished"
                              and r.get("phase") == "pre_start" and r.get("exit_code") == 0)
                vals["successful pre-start hooks (metrics, log)"] = (m_hooks, l_hooks)
            if need("scheduler"):
                status, body = stack.json(f"{API}/processes/scheduler/schedule")
                a_runs = find_key(body, "successes") if status == 200 else None
                m_runs = prom.scalar('sum(phpeek_pm_scheduled_task_total'
                                     '{name="scheduler",status="success"})')
                l_runs = sum(1 for r in recs if r.get("event") == "task_finished"
                             and r.get("process") == "scheduler" and r.get("exit_code") == 0)
                vals["scheduler successful runs (api, metrics, log)"] = (a_runs, m_runs, l_runs)
            agree_report.clear()
            agree_report.update(vals)
            return all(v[0] is not None and all(x is not None and float(x) == float(v[0])
                                                for x in v) for v in vals.values())
        ok = wait_until(20, agree, 0.3)
        rep.check("the API, Prometheus and the log agree: "
                  + "; ".join(f"{k} = {v}" for k, v in agree_report.items()), ok, agree_report)
    else:
        rep.skip("the API, the metrics and the log agree", "features api + metrics")

    # -- shutdown
    ns = pidns(stack.leader)
    before = [p["pid"] for p in ns_procs(stack.leader)]
    t_job = log.count(msg_has("horizon: job"))
    rc, dt = stack.stop()
    timings[f"{stack.name}: {'docker stop' if stack.name == 'docker' else 'SIGTERM'} → exit"] = dt
    if prom:
        prom.stop()
    recs = wait_until(5, lambda: (lambda rs: rs if log.find(event("exit"), rs) is not None
                                  else None)(log.records())) or log.records()
    rep.check(f"stopped with exit code 0 in {dt:.2f} s (< {SHUTDOWN_S} s)",
              rc == 0 and dt < SHUTDOWN_S, f"exit code {rc}")
    left = [p for p in before if pidns(p) == ns]
    rep.check(f"no process left ({len(before)} were running)", not left, left)
    i_shutdown = log.find(event("shutdown"), recs) or 0
    forced = [r for r in recs[i_shutdown:] if r.get("event") in (
        "kill", "shutdown_forced", "shutdown_abandoned", "leftover_processes")]
    rep.check("no SIGKILL needed: every process stopped on its own",
              not forced, "\n".join(fmt(r) for r in forced))
    started = set(re.findall(r"horizon: job (\d+) started",
                             "\n".join(r.get("msg", "") for r in recs)))
    finished = set(re.findall(r"horizon: job (\d+) finished",
                              "\n".join(r.get("msg", "") for r in recs)))
    exit_msg = next((r.get("msg") for r in recs if "horizon: exiting after" in r.get("msg", "")),
                    None)
    if need("hooks"):
        rep.check(f"Horizon finished its current job via horizon:terminate ({exit_msg})",
                  started and started == finished and exit_msg
                  and "(horizon:terminate)" in exit_msg
                  and log.find(msg_has("horizon:terminate: Horizon has exited")) is not None,
                  f"started {sorted(started)} finished {sorted(finished)}; {t_job} job lines")
    else:
        rep.skip("Horizon finished its current job via horizon:terminate", "feature hooks")
    i_ngx = log.find(lambda r: r.get("process") == "nginx" and r.get("event") == "stopped", recs)
    i_fpm = log.find(lambda r: r.get("process") == "php-fpm" and r.get("event") in
                     ("stopping", "stop_signal", "signal", "stop"), recs)
    if i_fpm is None:
        i_fpm = log.find(lambda r: r.get("process") == "php-fpm" and "SIGQUIT" in r.get("msg", "")
                         and r.get("event"), recs)
    rep.check("nginx stopped before php-fpm was asked to stop",
              i_ngx is not None and i_fpm is not None and i_ngx < i_fpm,
              "\n".join(fmt(r) for r in recs if r.get("process") in ("nginx", "php-fpm")
                        and r.get("event"))[-2500:])
    i_exit = log.find(event("exit"), recs)
    last = recs[i_exit] if i_exit is not None else {}
    rep.check("the manager logged its exit with code 0",
              last.get("event") == "exit" and last.get("exit_code") == 0, fmt(last) if last else "")
    if i_exit is not None and i_exit + 1 < len(recs):
        say(f"note: {len(recs) - i_exit - 1} record(s) logged after the exit record:")
        for r in recs[i_exit + 1:]:
            say("  " + fmt(r))


# ---------------------------------------------------------------------------------------------
# Real Laravel: Debian's php-laravel-framework (8.83) with the small application of
# tests/e2e/laravel/ (artisan, a job class, the database queue on SQLite, a migration, the
# console kernel's schedule), on the host as PID 1 of its own namespace.

LARAVEL_CONFIG = """\
global:
  shutdown_timeout: 30
processes:
  migrate:
    type: oneshot
    command: ["php", "artisan", "migrate", "--force"]
  queue:
    command: ["php", "artisan", "queue:work", "--sleep=1", "--tries=1", "--timeout=60"]
    depends_on: [migrate]
    shutdown:
      signal: SIGTERM            # queue:work finishes the job it runs, then exits 0
      timeout: 20
  boom:
    type: oneshot
    command: ["php", "artisan", "app:boom"]
    depends_on: [migrate]
  scheduler:                     # feature: scheduler
    command: ["php", "artisan", "schedule:run"]
    schedule: "*/2 * * * * *"
"""


class LaravelStack(HostStack):
    name = "laravel"

    def __init__(self, binary, config_text, workdir):
        self.binary = os.path.realpath(binary)
        self.dir = workdir
        os.chmod(self.dir, 0o755)
        self.app = os.path.join(self.dir, "app")
        self.etc = os.path.join(self.dir, "etc")
        shutil.copytree(LARAVEL_APP, self.app, symlinks=True)
        open(os.path.join(self.app, "database", "database.sqlite"), "w").close()
        os.makedirs(self.etc)
        with open(os.path.join(self.etc, "phpeek-pm.yaml"), "w") as f:
            f.write(config_text)
        self.env = dict(os.environ)
        self.log = Log(os.path.join(self.dir, "phpeek-pm.log"))
        self.proc = None

    def artisan(self, *args):
        return run(["php", "artisan"] + list(args), timeout=30)


def laravel_scenario(binary, rep, have, missing, work, timings):
    """Real queue:work, schedule:run and exceptions under phpeek-pm as PID 1."""
    print("==== laravel (Debian's Laravel 8 framework, database queue on SQLite)", flush=True)
    if not os.path.isfile(LARAVEL_FRAMEWORK):
        rep.fail("Debian's php-laravel-framework is installed (scripts/ensure-deps.sh e2e)")
        return
    d = os.path.join(work, "laravel")
    os.makedirs(d)
    stack = LaravelStack(binary, filter_config(LARAVEL_CONFIG, missing), d)
    cwd = os.getcwd()
    try:
        if not rep.check("laravel: phpeek-pm started as PID 1 of its namespace", stack.start()):
            return
        log = stack.log
        os.chdir(stack.app)  # artisan on the host works on the same SQLite file

        def output(text, process):
            return lambda r: (r.get("process") == process and "stream" in r
                              and text in r.get("msg", ""))

        # -- migrations gate the worker
        ok = wait_until(30, lambda: log.find(event("started", "queue")) is not None, 0.1)
        recs = log.records()
        i_mig = log.find(output("Migrated:", "migrate"), recs)
        i_q = log.find(event("started", "queue"), recs)
        rep.check("laravel: `artisan migrate` ran (real migrations on SQLite) before queue:work "
                  "started", ok and i_mig is not None and i_q is not None and i_mig < i_q,
                  "\n".join(fmt(r) for r in recs)[-2500:])

        # -- a dispatched job is processed by the real worker
        t = time.monotonic()
        r = stack.artisan("app:dispatch", "1", "quick")
        done = r.returncode == 0 and wait_until(
            30, lambda: log.find(output("job done quick", "queue")) is not None, 0.1)
        timings["laravel: dispatch → job done (1 s job)"] = time.monotonic() - t
        rep.check("laravel: a job dispatched onto the database queue is processed by queue:work",
                  done, (r.stdout + r.stderr)[-1500:] + "\n"
                  + "\n".join(fmt(x) for x in log.records()[-20:]))

        # -- the console kernel's schedule, run by the real schedule:run
        if "scheduler" in have:
            ran = wait_until(20, lambda: log.find(output("scheduled tick", "scheduler"))
                             is not None, 0.1)
            rep.check("laravel: schedule:run runs the console kernel's schedule (a closure)", ran,
                      "\n".join(fmt(x) for x in log.records()
                                if x.get("process") == "scheduler")[-1500:])
        else:
            rep.skip("laravel: schedule:run runs the console kernel's schedule", "feature scheduler")

        # -- a real exception is one record at level error
        boom = wait_until(20, lambda: (lambda rs: [x for x in rs if x.get("process") == "boom"
                                                   and "[stacktrace]" in x.get("msg", "")])
                          (log.records()), 0.1)
        recs = log.records()
        frames = [x for x in recs if x.get("process") == "boom" and "stream" in x
                  and re.match(r"#\d+ ", x.get("msg", ""))]
        b = boom[0] if boom else {}
        rep.check(f"laravel: a real exception (artisan app:boom) is one record, level "
                  f"{b.get('level')}, {b.get('lines')} lines, no frame on its own",
                  boom and b.get("level") == "error" and (b.get("lines") or 0) >= 20
                  and b.get("msg", "").startswith("[") and not frames,
                  "\n".join(fmt(x) for x in recs if x.get("process") == "boom")[-2500:])

        # -- SIGTERM while a 6 s job runs: the job finishes, exit 0
        r = stack.artisan("app:dispatch", "6", "slow")
        started = r.returncode == 0 and wait_until(
            30, lambda: log.find(output("job start slow", "queue")) is not None, 0.1)
        rep.check("laravel: the 6 s job started", started, (r.stdout + r.stderr)[-1500:])
        if started:
            rc, dt = stack.stop()
            timings["laravel: SIGTERM during a 6 s job → exit"] = dt
            recs = wait_until(5, lambda: (lambda rs: rs if log.find(event("exit"), rs) is not None
                                          else None)(log.records())) or log.records()
            i_exit = log.find(event("exit"), recs)
            rep.check(f"laravel: SIGTERM during the 6 s job: it completes, exit code {rc} "
                      f"after {dt:.2f} s",
                      rc == 0 and log.find(output("job done slow", "queue"), recs) is not None
                      and i_exit is not None and recs[i_exit].get("exit_code") == 0,
                      "\n".join(fmt(x) for x in recs if x.get("process") in ("queue", None))[-2500:])
            forced = [x for x in recs if x.get("event") in (
                "kill", "shutdown_forced", "shutdown_abandoned", "leftover_processes")]
            rep.check("laravel: no SIGKILL needed", not forced, "\n".join(fmt(x) for x in forced))
    finally:
        os.chdir(cwd)
        excerpt(stack)
        stack.cleanup()


def check_examples(binary, rep, missing, work):
    """Every example configuration passes check-config (parts of missing features dropped)."""
    import glob
    print("==== examples", flush=True)
    files = sorted(glob.glob(os.path.join(ROOT, "configs", "examples", "*.yaml")))
    files.append(STACK_CONFIG)
    for path in files:
        with open(path) as f:
            text = f.read()
        kept = filter_config(text, missing)
        dropped = sorted({m.group(1) for m in map(MARKER.search, text.splitlines()) if m}
                         & missing)
        target = path
        if kept != text:
            target = os.path.join(work, "example-" + os.path.basename(path))
            with open(target, "w") as f:
                f.write(kept)
        r = run([binary, "check-config", "-c", target])
        name = os.path.relpath(path, ROOT)
        desc = f"check-config {name}" + (f" (without {', '.join(dropped)})" if dropped else "")
        if dropped and rep.require_all:
            rep.fail(desc + ": the binary lacks features it uses")
        else:
            rep.check(desc, r.returncode == 0, (r.stdout + r.stderr).strip())


def excerpt(stack):
    """The log lines that tell the story, for the closing note."""
    keep = re.compile(r"hook|config:cache|migrate:|autotune|health|ready|restart|scale|"
                      r"retired|schedule:run|horizon|SIGTERM|stopp|exit|started")
    recs = stack.log.records()
    i_shutdown = stack.log.find(event("shutdown"), recs)
    i_shutdown = len(recs) if i_shutdown is None else i_shutdown
    # Before the shutdown: the story without Horizon's job-by-job lines; after it, everything
    # but nginx's own notices.
    lines = [fmt(r) for i, r in enumerate(recs)
             if (i < i_shutdown and keep.search((r.get("event") or "") + " " + r.get("msg", ""))
                 and "processed" not in r.get("msg", "")
                 and not re.search(r"horizon: job \d+ (started|finished)", r.get("msg", "")))
             or (i >= i_shutdown and not (r.get("process") == "nginx" and r.get("stream")))]
    print(f"---- {stack.name}: log excerpt ({len(lines)} of {len(recs)} records) ----")
    for line in lines[:140]:
        print("  | " + line)
    print("----", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "phpeek-pm"))
    ap.add_argument("--mode", choices=("host", "docker", "both", "none"), default="both",
                    help="none: only check-config the example configurations")
    ap.add_argument("--require-all", action="store_true",
                    help="a check skipped for a missing feature fails instead")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    # `timeout` (scripts/test.sh) sends SIGTERM: unwind through the finally blocks, so the
    # stack, Prometheus and the container are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    if os.geteuid() != 0:
        say("needs root (unshare, nsenter, docker, chown)")
        return 1
    if not os.access(args.binary, os.X_OK):
        say(f"binary {args.binary} not found (make build)")
        return 1
    rep = Report(args.require_all)
    work = tempfile.mkdtemp(prefix="phpeek-pm-e2e.")
    os.chmod(work, 0o755)  # the stack's www-data workers read the app below it
    timings = {}
    no_docker = False
    try:
        have = detect_features(args.binary, work)
        missing = set(OPTIONAL) - have
        say(f"binary {args.binary}: features {sorted(have) or 'none'}"
            + (f"; missing {sorted(missing)} (their checks are skipped)" if missing else ""))
        with open(STACK_CONFIG) as f:
            config = filter_config(f.read(), missing)
        env = {"SCHEDULE": SCHEDULE}
        if "autotune" in have:
            env["PHP_FPM_AUTOTUNE_PROFILE"] = PROFILE
        else:
            env.update(FALLBACK_POOL)

        check_examples(args.binary, rep, missing, work)
        modes = [] if args.mode == "none" else (
            ["host", "docker"] if args.mode == "both" else [args.mode])
        if args.mode in ("host", "both"):
            laravel_scenario(args.binary, rep, have, missing, work, timings)
        for mode in modes:
            print(f"==== {mode}", flush=True)
            if mode == "host":
                d = os.path.join(work, "host")
                os.makedirs(d)
                stack = HostStack(args.binary, config, env, d)
            else:
                if run(["docker", "info"]).returncode != 0:
                    print("#" * 78 + "\n## e2e: the Docker engine does not answer `docker info`:"
                          " the Docker half CANNOT RUN\n" + "#" * 78, flush=True)
                    if os.environ.get("CI") == "true":
                        rep.fail("Docker engine answers `docker info` (required under CI)")
                    else:
                        no_docker = True  # reported as "skipped" (77), as tests/container do
                    continue
                cfg = os.path.join(work, "phpeek-pm.yaml")
                with open(cfg, "w") as f:
                    f.write(config)
                tag = f"phpeek-pm-e2e:{os.getpid()}"
                t = time.monotonic()
                r = subprocess.run([os.path.join(ROOT, "tests", "e2e", "image.sh"),
                                    args.binary, tag, cfg], stdout=subprocess.PIPE, text=True)
                if not rep.check(f"image {tag} built from the debootstrap rootfs "
                                 f"({time.monotonic() - t:.1f} s)", r.returncode == 0):
                    continue
                stack = DockerStack(tag, env, work)
            try:
                if rep.check(f"{mode}: phpeek-pm started as PID 1 of its namespace",
                             stack.start()):
                    nsp = [p for p in ns_procs(stack.leader) if p["pid"] == stack.leader]
                    rep.check(f"{mode}: phpeek-pm is PID 1 there",
                              nsp and nsp[0]["nspid"] == 1, nsp)
                    scenario(stack, rep, have, work, timings)
                excerpt(stack)
            finally:
                stack.cleanup()
                if mode == "docker":
                    run(["docker", "rmi", "-f", tag], timeout=60)
        print("==== timings")
        for k, v in timings.items():
            print(f"  {k}: {v:.2f} s")
    finally:
        if args.keep:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not rep.summary("e2e"):
        return 1
    return 77 if no_docker else 0


if __name__ == "__main__":
    sys.exit(main())
