#!/usr/bin/env python3
"""Checks the broker's module rules against the module graph CMake wrote (module-graph.txt).

- An include of another module's header ("x/...") is allowed only along an arrow the graph has:
  a module sees itself, the modules it uses, and what those use publicly (as the build does).
- Third-party headers stay in their rooms: Xerces in validation, Proton in transport, SQLite and
  libpq in the store's implementations.
- docs/ARCHITECTURE.md's module table names, for each module, the modules it uses: no more, no less.
- The NIEM namespaces of the broker's own exchanges are written once, in validation/vocabulary.h.
- Only the store and app hold the whole store (store::store&); every other module asks for the
  roles it uses (record_path, delivery_path, operations, queries, audit_archive, maintenance).

Usage: check-architecture.py <module-graph.txt> <source root>; exit 1 with one line per breach.
"""
import pathlib
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = {".h", ".cc"}
# Third-party headers and the only folders (under broker/) that may include them.
ROOMS = [
    ("xercesc/", ("validation/",)),
    ("proton/", ("transport/",)),
    ("sqlite3.h", ("store/sqlite/", "store/tests/")),
    ("libpq-fe.h", ("store/postgres/",)),
]


def read_graph(path):
    public, private, order = {}, {}, []
    for line in pathlib.Path(path).read_text().splitlines():
        if not line.strip():
            continue
        name, edges = line.split(":", 1)
        pub, priv = edges.split("|", 1)
        public[name] = pub.split()
        private[name] = priv.split()
        order.append(name)
    return public, private, order


def visible(module, public, private):
    """The modules whose headers `module`'s own sources can see."""
    def closure(m, seen):
        if m not in seen:
            seen.add(m)
            for d in public[m]:
                closure(d, seen)
        return seen
    seen = {module}
    for d in public[module] + private[module]:
        closure(d, seen)
    return seen


def check_includes(root, public, private, errors):
    broker = root / "broker"
    for module in public:
        allowed = visible(module, public, private)
        for path in sorted((broker / module).rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES:
                continue
            rel = path.relative_to(broker).as_posix()
            in_tests = "/tests/" in rel
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, target = m.groups()
                where = f"broker/{rel}:{number}"
                if kind == '"' and "/" in target:
                    other = target.split("/", 1)[0]
                    if other in public and other not in allowed and not in_tests:
                        errors.append(f"{where}: includes {target}, but '{module}' does not use "
                                      f"'{other}' (no arrow {module} -> {other} in the graph)")
                for prefix, rooms in ROOMS:
                    if target.startswith(prefix) and not rel.startswith(rooms):
                        errors.append(f"{where}: includes <{target}>, which only "
                                      f"{' and '.join('broker/' + r for r in rooms)} may include")


VOCABULARY = "validation/vocabulary.h"
NAMESPACE_MARKS = ("release.niem.gov/niem/", "example.gov/niem-broker/")


def check_vocabulary(root, errors):
    broker = root / "broker"
    for path in sorted(broker.rglob("*")):
        rel = path.relative_to(broker).as_posix()
        if path.suffix not in SOURCE_SUFFIXES or "/tests/" in rel or rel == VOCABULARY:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if any(mark in line for mark in NAMESPACE_MARKS):
                errors.append(f"broker/{rel}:{number}: a NIEM namespace written out; name it "
                              f"from broker/{VOCABULARY}")


# Who may hold the whole store: the store itself and app, which opens it and hands each module
# the roles it uses (store.h: record_path, delivery_path, operations, queries, ...).
WHOLE_STORE = re.compile(r"store::store\s*&")
WHOLE_STORE_ROOMS = ("store/", "app/")


def check_store_roles(root, errors):
    broker = root / "broker"
    for path in sorted(broker.rglob("*")):
        rel = path.relative_to(broker).as_posix()
        if path.suffix not in SOURCE_SUFFIXES or "/tests/" in rel or rel.startswith(WHOLE_STORE_ROOMS):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if WHOLE_STORE.search(line):
                errors.append(f"broker/{rel}:{number}: takes the whole store; ask for the role "
                              f"it uses (broker/store/store.h)")


def check_doc(root, public, private, errors):
    doc = root / "docs" / "ARCHITECTURE.md"
    row = re.compile(r"^\| `([a-z_]+)` \| [^|]* \| ([^|]*) \|")
    listed = {}
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        m = row.match(line)
        if m and m.group(1) in public:
            if m.group(1) in listed:
                errors.append(f"docs/ARCHITECTURE.md:{number}: module '{m.group(1)}' listed twice")
            words = set(re.findall(r"[a-z_]+", m.group(2)))
            listed[m.group(1)] = (number, {w for w in words if w in public})
    for module in public:
        if module not in listed:
            errors.append(f"docs/ARCHITECTURE.md: module '{module}' is not in the module table")
            continue
        number, named = listed[module]
        uses = set(public[module] + private[module])
        for extra in sorted(named - uses):
            errors.append(f"docs/ARCHITECTURE.md:{number}: '{module}' is said to depend on "
                          f"'{extra}', which its niem_module() does not use")
        for missing in sorted(uses - named):
            errors.append(f"docs/ARCHITECTURE.md:{number}: '{module}' uses '{missing}', "
                          f"which the table's 'depends on' column does not name")


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    public, private, _ = read_graph(sys.argv[1])
    root = pathlib.Path(sys.argv[2])
    errors = []
    check_includes(root, public, private, errors)
    check_doc(root, public, private, errors)
    check_vocabulary(root, errors)
    check_store_roles(root, errors)
    for e in errors:
        print(e)
    print(f"{len(public)} modules, {len(errors)} breaches")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
