#!/usr/bin/env python3
"""Keeps files and functions small: no file under broker/ over 800 lines (its tests included), no
function in broker/, tools/ or adapters/ over 120 (tests aside). What is over today is listed below with its size at
most: the list only shrinks (a listed entry that got smaller must be lowered, one that is no
longer over must go), and nothing new may join it.

Functions are found by universal-ctags (their first and last lines).
Usage: check-sizes.py <source root>; exit 1 with one line per breach.
"""
import pathlib
import subprocess
import sys

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120

# Known to be over, at most this long; each names why it is left.
FILE_ALLOWANCE = {}
FUNCTION_ALLOWANCE = {}


def sources(root, folders, tests=False):
    for folder in folders:
        for p in sorted((root / folder).rglob("*")):
            if p.suffix in (".h", ".cc") and (tests or "/tests/" not in p.as_posix()):
                yield p


def function_spans(root, files):
    out = subprocess.run(
        ["ctags", "--languages=C++", "--kinds-C++=f", "--fields=+ne", "-f", "-"]
        + [str(f) for f in files],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        name, path = cols[0], cols[1]
        fields = dict(c.split(":", 1) for c in cols[3:] if ":" in c)
        if name.startswith("__anon") or "end" not in fields or "line" not in fields:
            continue
        rel = pathlib.Path(path).resolve().relative_to(root.resolve()).as_posix()
        yield rel, name, int(fields["line"]), int(fields["end"]) - int(fields["line"]) + 1


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    root = pathlib.Path(sys.argv[1])
    errors = []
    broker_files = list(sources(root, ["broker"]))
    for f in sources(root, ["broker"], tests=True):
        rel = f.relative_to(root).as_posix()
        n = len(f.read_text(errors="replace").splitlines())
        limit = FILE_ALLOWANCE.get(rel, MAX_FILE_LINES)
        if n > limit:
            errors.append(f"{rel}: {n} lines (at most {limit})")
        elif rel in FILE_ALLOWANCE and n <= MAX_FILE_LINES:
            errors.append(f"{rel}: {n} lines, no longer over: remove it from FILE_ALLOWANCE")
    seen = {}
    files = broker_files + list(sources(root, ["tools", "adapters"]))
    for rel, name, line, n in function_spans(root, files):
        key = f"{rel}:{name}"
        seen[key] = max(seen.get(key, 0), n)
        limit = FUNCTION_ALLOWANCE.get(key, MAX_FUNCTION_LINES)
        if n > limit:
            errors.append(f"{rel}:{line}: {name} is {n} lines (at most {limit})")
    for key, limit in FUNCTION_ALLOWANCE.items():
        if seen.get(key, 0) <= MAX_FUNCTION_LINES:
            errors.append(f"{key}: {seen.get(key, 0)} lines, no longer over: remove it from "
                          "FUNCTION_ALLOWANCE")
    for e in errors:
        print(e)
    print(f"{len(broker_files)} broker files, {len(seen)} functions, {len(errors)} breaches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
