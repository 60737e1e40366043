#!/usr/bin/env python3
"""The shape rules of docs/architecture.md that the compiler cannot check (issue 17).

- No non-test function longer than MAX_FN_LINES lines, except the supervisor's transition table
  (`step` in src/supervisor/mod.rs).
- At most MAX_DEAD_CODE `allow(dead_code)` (plain or inside `cfg_attr`) in non-test `src/`,
  each with a reason: a `//` comment on the lines just above it (attributes may sit between).
- At most MAX_STUBS stub files in `src/` (a module file swapped in by `#[cfg(not(...))]
  #[path = ...]` for a feature that is off, or named `*_off.rs` / `no_*.rs`), none in
  `src/reactor/`.
- `src/reactor/mod.rs` names no feature outside `mod` / `use` / `cfg` lines: neither a feature
  name nor a module of a feature (`crate::health::…`, its part `health::…`).
- `src/config/` does not import the supervisor.
- No two source files import each other, directly or around a loop (`use` lines and paths
  `crate::…`, `super::…`, `self::…`): a file may use its own ancestors' modules (`super::Reactor`
  from a part), but between siblings and across folders the imports run one way.

Test code (files named `tests.rs` or under a `tests/` folder, and `#[cfg(test)]` items) is not
looked at. Run from anywhere: `python3 scripts/arch-check.py`; exit 1 lists every breach.
"""

import re
import sys
from pathlib import Path

MAX_FN_LINES = 150
FN_EXEMPT = {("src/supervisor/mod.rs", "step")}
MAX_DEAD_CODE = 5
MAX_STUBS = 3

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def blank_code(text):
    """The text with comments, strings and char literals blanked to spaces (newlines kept),
    so that braces and words are only code's."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (
            i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            blank(i, j)
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'":
            # A char literal ('{', '\n', '\u{7b}'), not a lifetime ('a).
            m = re.compile(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'").match(text, i)
            if m:
                blank(i, m.end())
                i = m.end()
            else:
                i += 1
        else:
            i += 1
    return "".join(out)


def match_brace(code, open_at):
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def test_spans(code):
    """Character spans of `#[cfg(test)]` items (a module or a function)."""
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        semi = code.find(";", m.end())
        brace = code.find("{", m.end())
        if brace < 0 or (0 <= semi < brace):
            continue  # `#[cfg(test)] mod tests;` or a `use`: nothing inline
        spans.append((m.start(), match_brace(code, brace)))
    return spans


def is_test_file(path):
    rel = path.relative_to(SRC)
    return path.name == "tests.rs" or path.name.endswith("_tests.rs") or "tests" in rel.parts[:-1]


def line_of(code, pos):
    return code.count("\n", 0, pos) + 1


def sources():
    for path in sorted(SRC.rglob("*.rs")):
        if is_test_file(path):
            continue
        text = path.read_text()
        code = blank_code(text)
        yield path, text, code, test_spans(code)


def in_spans(pos, spans):
    return any(a <= pos <= b for a, b in spans)


def check_fn_lengths(files, errors):
    fn_re = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
    for path, _text, code, spans in files:
        rel = str(path.relative_to(ROOT))
        for m in fn_re.finditer(code):
            if in_spans(m.start(), spans):
                continue
            # The body: the first `{` after the signature, unless a `;` ends it first.
            k, depth = m.end(), 0
            while k < len(code):
                ch = code[k]
                if ch in "(<[":
                    depth += 1
                elif ch in ")>]":
                    depth -= 1
                elif ch == ";" and depth <= 0:
                    k = -1
                    break
                elif ch == "{" and depth <= 0:
                    break
                k += 1
            if k < 0 or k >= len(code):
                continue
            first, last = line_of(code, m.start()), line_of(code, match_brace(code, k))
            length = last - first + 1
            if length > MAX_FN_LINES and (rel, m.group(1)) not in FN_EXEMPT:
                errors.append(
                    f"{rel}:{first}: fn {m.group(1)} is {length} lines (limit {MAX_FN_LINES})"
                )


def check_dead_code(files, errors):
    found = []
    for path, text, code, spans in files:
        rel = str(path.relative_to(ROOT))
        lines = text.split("\n")
        for m in re.finditer(r"allow\(\s*dead_code\s*\)", code):
            if in_spans(m.start(), spans):
                continue
            n = line_of(code, m.start())
            found.append(f"{rel}:{n}")
            # The reason: a `//` comment above, past any other attribute lines.
            k = n - 2
            while k >= 0 and lines[k].strip().startswith("#["):
                k -= 1
            if k < 0 or not lines[k].strip().startswith("//"):
                errors.append(f"{rel}:{n}: allow(dead_code) without a reason (a // comment above it)")
    if len(found) > MAX_DEAD_CODE:
        errors.append(
            f"{len(found)} allow(dead_code) in non-test src/ (limit {MAX_DEAD_CODE}): "
            + ", ".join(found)
        )
    return found


def check_stubs(files, errors):
    stubs = set()
    for path, _text, code, _spans in files:
        if re.fullmatch(r"no_.*\.rs|.*_off\.rs", path.name):
            stubs.add(path)
        # A file swapped in for a feature that is off: `#[cfg(not(...))]` next to `#[path]`
        # (a `#[path]` alone only places a real module elsewhere).
        for m in re.finditer(r'((?:#\[[^\n]*\]\s*)*)#\[path\s*=\s*"([^"]+)"\]', _text):
            if "cfg(not(" in m.group(1):
                stubs.add((path.parent / m.group(2)).resolve())
    stubs = sorted(str(p.relative_to(ROOT)) for p in stubs)
    if len(stubs) > MAX_STUBS:
        errors.append(f"{len(stubs)} stub files in src/ (limit {MAX_STUBS}): " + ", ".join(stubs))
    for s in stubs:
        if s.startswith("src/reactor/"):
            errors.append(f"{s}: a stub file in src/reactor/")
    return stubs


def features():
    names, on = [], False
    for line in (ROOT / "Cargo.toml").read_text().split("\n"):
        if line.startswith("["):
            on = line.strip() == "[features]"
        elif on and (m := re.match(r"([A-Za-z0-9_-]+)\s*=", line)):
            if m.group(1) not in ("default", "full"):
                names.append(m.group(1))
    return names


def check_reactor(errors):
    path = SRC / "reactor" / "mod.rs"
    text = path.read_text()
    code = blank_code(text)
    spans = test_spans(code)
    # A feature's modules: the reactor's modules under a cfg (its parts), and the crate's
    # module of each feature (`src/health/`, `src/logproc/` for log-processing, ...).
    parts = set(re.findall(r"#\[cfg[^\n]*\n\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)", text))
    names = features()
    crate = {f.replace("-", "") for f in names} | {"logproc"}
    crate = {f for f in crate if (SRC / f).is_dir() or (SRC / f"{f}.rs").exists()}
    name_re = re.compile(r'"(' + "|".join(map(re.escape, names)) + r')"')
    word_re = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(sorted(parts | crate)) + r")::")
    pos = 0
    for n, (raw, line) in enumerate(zip(text.split("\n"), code.split("\n")), 1):
        at, pos = pos, pos + len(line) + 1
        s = line.strip()
        if in_spans(at, spans) or s.startswith(("#[cfg", "#![cfg")):
            continue
        if re.match(r"(pub(\([a-z]+\))?\s+)?(mod|use)\b", s):
            continue
        if name_re.search(raw) and not raw.strip().startswith("//"):
            errors.append(f"src/reactor/mod.rs:{n}: names a feature outside mod/use/cfg lines")
        elif word_re.search(line):
            errors.append(f"src/reactor/mod.rs:{n}: names a feature's module: {s}")


def check_config_imports(errors):
    for path in sorted((SRC / "config").rglob("*.rs")):
        code = blank_code(path.read_text())
        for n, line in enumerate(code.split("\n"), 1):
            if re.search(r"\bsupervisor\b", line):
                errors.append(f"{path.relative_to(ROOT)}:{n}: config/ names the supervisor: {line.strip()}")


def module_files():
    """{module path (tuple): set of files} from `mod` declarations, starting at main.rs; a module
    swapped by `#[cfg(...)] #[path = "..."]` maps to each of its files."""
    mods = {(): {SRC / "main.rs"}}
    todo = [((), SRC / "main.rs")]
    decl = re.compile(r'((?:#\[[^\n]*\]\s*)*)(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;')
    while todo:
        mod, path = todo.pop()
        text = path.read_text()
        code = blank_code(text)
        spans = test_spans(code)
        here = path.parent if path.name in ("main.rs", "mod.rs") else path.parent / path.stem
        for m in decl.finditer(text):
            if in_spans(m.start(2), spans) or code[m.start(2):m.end(2)] != m.group(2):
                continue
            name = m.group(2)
            at = re.search(r'#\[path\s*=\s*"([^"]+)"\]', m.group(1))
            if at:
                # Relative to the declaring file's folder.
                child = (path.parent / at.group(1)).resolve()
            elif (here / f"{name}.rs").exists():
                child = here / f"{name}.rs"
            else:
                child = here / name / "mod.rs"
            if child.exists() and not is_test_file(child):
                key = mod + (name,)
                if child not in mods.setdefault(key, set()):
                    mods[key].add(child)
                    todo.append((key, child))
    return mods


def use_paths(stmt):
    """The paths of one `use` tree (without `use` and `;`): `a::{b, c::{d}}` -> a::b, a::c::d."""
    stmt = re.sub(r"\s+", "", stmt)
    out = []

    def walk(prefix, tree):
        depth, start, parts = 0, 0, []
        for i, ch in enumerate(tree):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(tree[start:i])
                start = i + 1
        parts.append(tree[start:])
        for part in filter(None, parts):
            head, brace, rest = part.partition("{")
            if brace:
                walk(prefix + head, rest[: rest.rfind("}")])
            else:
                out.append(prefix + part.split("as")[0] if "::" in prefix + part else prefix + part)

    walk("", stmt)
    return [re.sub(r"(::)?self$", "", p) for p in out]


def check_import_cycles(errors):
    mods = module_files()
    mod_of = {f: m for m, fs in mods.items() for f in fs}
    word = r"[A-Za-z_][A-Za-z0-9_]*"
    path_re = re.compile(rf"(?<![A-Za-z0-9_:])(?:crate|super|self)(?:::{word})+")
    edges = {}
    for path, mod in mod_of.items():
        code = blank_code(path.read_text())
        spans = test_spans(code)
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            if not in_spans(m.start(), spans):
                paths += use_paths(m.group(1))
        paths += [m.group(0) for m in path_re.finditer(code) if not in_spans(m.start(), spans)]
        for p in paths:
            segs = [s for s in p.split("::") if s]
            if not segs:
                continue
            if segs[0] == "crate":
                base, segs = (), segs[1:]
            elif segs[0] in ("super", "self"):
                base = mod
                while segs and segs[0] in ("super", "self"):
                    base = base[:-1] if segs.pop(0) == "super" else base
            elif mod + (segs[0],) in mods:
                base = mod  # a child module named directly (2018 paths)
            else:
                continue  # another crate, or an item in scope
            target = base
            for s in segs:
                if target + (s,) in mods:
                    target = target + (s,)
                else:
                    break
            # A file may use its own ancestors (and itself): only other branches count.
            if mod[: len(target)] == target:
                continue
            for f in mods[target]:
                edges.setdefault(path, {}).setdefault(f, p)
    for scc in strongly_connected(edges):
        files = sorted(str(f.relative_to(ROOT)) for f in scc)
        ties = [
            f"{a.relative_to(ROOT)} -> {b.relative_to(ROOT)} ({p})"
            for a in sorted(scc)
            for b, p in sorted(edges.get(a, {}).items())
            if b in scc
        ]
        errors.append(f"files import each other in a loop: {', '.join(files)}: " + "; ".join(ties))


def strongly_connected(edges):
    """Tarjan's strongly connected components of more than one file."""
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    files = list(sources())
    errors = []
    check_fn_lengths(files, errors)
    dead = check_dead_code(files, errors)
    stubs = check_stubs(files, errors)
    check_reactor(errors)
    check_config_imports(errors)
    check_import_cycles(errors)
    for e in errors:
        print(e)
    print(
        f"arch-check: {len(dead)} allow(dead_code) (limit {MAX_DEAD_CODE}), {len(stubs)} stub "
        f"files (limit {MAX_STUBS}), functions <= {MAX_FN_LINES} lines: "
        + ("ok" if not errors else f"{len(errors)} problem(s)")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
