#!/usr/bin/env bash
# The Kubernetes manifests of docs/kubernetes/ (issue 22). No cluster runs on this machine, so
# nothing here deploys them; what is checked:
#   - every file parses as YAML, every object has apiVersion, kind and metadata.name;
#   - kubectl reads them: `kubectl apply --dry-run=client --validate=false -f` when an API
#     server answers; without one (here) kubectl's own decoder through
#     `kubectl label --local --dry-run=client -f` and `kubectl kustomize` (both offline);
#   - the probes are exactly the commands tests/health_cmd.rs runs (`health`, `health --live`),
#     there is no preStop hook, terminationGracePeriodSeconds = the ConfigMap's
#     shutdown_timeout + 5 s, the container has CPU and memory limits (what autotune reads),
#     and the ConfigMap is mounted at the default config path;
#   - the ConfigMap's phpeek-pm.yaml passes `phpeek-pm check-config`.
#
#   tests/container/k8s.sh [BINARY]     (default build/phpeek-pm, else target/debug/phpeek-pm)
set -uo pipefail
T_NAME=k8s
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

dir=docs/kubernetes
bin=${1:-build/phpeek-pm}
[ -x "$bin" ] || bin=target/debug/phpeek-pm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Schema-lite checks in Python (python3-yaml); prints one "ok|FAIL description" per check and
# writes the ConfigMap's phpeek-pm.yaml to $work for check-config.
python3 - "$dir" "$work" tests/health_cmd.rs >"$work/py.out" 2>&1 <<'PY'
import os, re, sys, yaml
d, work, tests = sys.argv[1:4]
docs = []
def out(ok, msg):
    print(("ok " if ok else "FAIL ") + msg)
for f in sorted(os.listdir(d)):
    if not f.endswith(".yaml"):
        continue
    try:
        objs = [o for o in yaml.safe_load_all(open(os.path.join(d, f))) if o is not None]
    except yaml.YAMLError as e:
        out(False, f"{f} parses: {e}")
        continue
    good = all(isinstance(o, dict) and o.get("apiVersion") and o.get("kind")
               and (o.get("metadata") or {}).get("name") or o.get("kind") == "Kustomization"
               for o in objs)
    out(good, f"{f}: {len(objs)} object(s) with apiVersion, kind, metadata.name")
    docs += objs
by_kind = {}
for o in docs:
    by_kind.setdefault(o["kind"], []).append(o)
cm = by_kind.get("ConfigMap", [None])[0]
dep = by_kind.get("Deployment", [None])[0]
if not cm or not dep:
    out(False, "a ConfigMap and a Deployment")
    sys.exit(0)
cfg_text = cm["data"]["phpeek-pm.yaml"]
open(os.path.join(work, "phpeek-pm.yaml"), "w").write(cfg_text)
cfg = yaml.safe_load(cfg_text)
def seconds(v):
    if isinstance(v, (int, float)):
        return v
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(v))
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60, None: n}[m.group(2)]
shutdown = seconds(cfg["global"]["shutdown_timeout"])
spec = dep["spec"]["template"]["spec"]
grace = spec.get("terminationGracePeriodSeconds", 30)
out(grace == shutdown + 5,
    f"terminationGracePeriodSeconds {grace} = shutdown_timeout {shutdown} s + 5 s")
# The stop chain: nginx (depends on php-fpm) stops first, then php-fpm; each within its
# shutdown.timeout. Their sum, and every single timeout, fit in shutdown_timeout.
procs = cfg["processes"]
chain = sum(seconds(procs[p].get("shutdown", {}).get("timeout", 30)) for p in ("nginx", "php-fpm"))
out(chain <= shutdown and all(seconds(p.get("shutdown", {}).get("timeout", 30)) <= shutdown
                              for p in procs.values()),
    f"nginx then php-fpm stop in {chain} s ≤ shutdown_timeout; every shutdown.timeout fits")
tested = open(tests).read()
# What tests/health_cmd.rs runs against a real manager, found the same way as in the pod
# (the default config path, here passed with -c).
forms = {("health",): '&["-c", c]', ("health", "--live"): '&["--live", "-c", c]'}
for c in spec["containers"]:
    lim = c.get("resources", {}).get("limits", {})
    out("cpu" in lim and "memory" in lim, f"{c['name']}: CPU and memory limits (autotune reads them)")
    out("preStop" not in c.get("lifecycle", {}), f"{c['name']}: no preStop hook")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        argv = c.get(probe, {}).get("exec", {}).get("command")
        ok = bool(argv) and os.path.basename(argv[0]) == "phpeek-pm" and tuple(argv[1:]) in forms \
            and forms[tuple(argv[1:])] in tested
        out(ok, f"{c['name']}.{probe}: exec {argv} is a probe tests/health_cmd.rs runs")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    v = vols.get(mounts.get("/etc/phpeek-pm"), {})
    out(v.get("configMap", {}).get("name") == cm["metadata"]["name"],
        f"{c['name']}: the ConfigMap is mounted at /etc/phpeek-pm (the default config path)")
PY
while read -r verdict desc; do
    if [ "$verdict" = ok ]; then pass "$desc"; else fail "$verdict $desc"; fi
done <"$work/py.out"

if [ -x "$bin" ] && [ -s "$work/phpeek-pm.yaml" ]; then
    # check-config resolves users and feature keys, not the programs: php-fpm and nginx need
    # not be installed here.
    if "$bin" check-config -c "$work/phpeek-pm.yaml" >"$work/check.out" 2>&1; then
        pass "the ConfigMap's phpeek-pm.yaml passes $bin check-config"
    else
        fail "the ConfigMap's phpeek-pm.yaml passes $bin check-config"
        show_log "$work/check.out"
    fi
else
    fail "a phpeek-pm binary to check the ConfigMap's configuration with ($bin)"
fi

if ! command -v kubectl >/dev/null 2>&1; then
    fail "kubectl installed (scripts/ensure-deps.sh k8s: Debian's kubernetes-client)"
    finish
    exit
fi
for f in "$dir"/configmap.yaml "$dir"/deployment.yaml; do
    if kubectl apply --dry-run=client --validate=false -f "$f" >"$work/apply.out" 2>&1; then
        pass "kubectl apply --dry-run=client --validate=false -f $f"
    elif grep -qiE 'connection refused|unable to recognize|no configuration|couldn.t get current server' "$work/apply.out"; then
        # Expected here: even a client-side dry run asks an API server for its resource list.
        say "kubectl apply --dry-run=client needs an API server; none runs here (no cluster) — using kubectl's offline decoder"
        if kubectl label --local --dry-run=client -f "$f" phpeek-pm.check=ok -o name >"$work/label.out" 2>&1; then
            pass "kubectl decodes $f offline: $(tr '\n' ' ' <"$work/label.out")"
        else
            fail "kubectl decodes $f offline"
            show_log "$work/label.out"
        fi
    else
        fail "kubectl apply --dry-run=client --validate=false -f $f"
        show_log "$work/apply.out"
    fi
done
if kubectl kustomize "$dir" >"$work/kustomize.out" 2>&1; then
    pass "kubectl kustomize $dir (what kubectl apply -k sends): $(grep -c '^kind:' "$work/kustomize.out") objects"
else
    fail "kubectl kustomize $dir"
    show_log "$work/kustomize.out"
fi
finish
