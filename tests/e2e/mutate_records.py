"""Writes seeded mutations of every mapping's example records for the xmllint cross-validation:
each mutant replaces one field of an example with an edge value (RFC 3339 spellings XSD lacks,
impossible and extreme dates, offsets, numbers, markup characters, long and blank text) or drops
it. Deterministic: the same seed writes the same files.

Every mapping under mappings/ (its agency, format and key from mapping.xml); OUT-DIR/manifest.txt
lists "AGENCY FILE" per mapping.

usage: /usr/bin/python3 mutate_records.py PROJECT-ROOT OUT-DIR [COUNT-PER-MAPPING]"""
import glob
import json
import os
import random
import sys
import xml.etree.ElementTree as ET

root, out = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
rng = random.Random(20261201)

POOL = [
    "2026-03-04T10:15:60Z", "2026-03-04t10:15:00z", "2026-03-04T10:15:00+14:00",
    "2026-03-04T10:15:00-14:00", "2026-03-04T10:15:00+15:00", "2026-03-04T10:15:00.000001-00:00",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-03-04T24:00:00Z", "2026-03-04",
    "2024-02-29", "2023-02-29", "0000-01-01", "10000-01-01", "20260304", "19000229",
    "-1", "0", "-0", "0.0", "1e3", "30.5", "12345678901234567890", "007", "+5", " 30 ",
    "", " ", "x" * 300, "<&>\"'", "Ünïcödé ñ", "a\u00a0b", "\u200b", "line\nbreak", "tab\tin",
    "Y", "N", "y", "true", "false", "PAID", "F", "U", "06075", "6075", "CWS-1001-0001",
]
JSON_ONLY = [True, False, None, -1, 0, 1.5, 1e300, 2**63, [], {}, ["A"], {"a": 1}]


def leaves(v, path=()):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, path + (i,))
    yield path


def put(v, path, new, drop=False):
    for p in path[:-1]:
        v = v[p]
    if drop and isinstance(v, dict):
        del v[path[-1]]
    else:
        v[path[-1]] = new


os.makedirs(out, exist_ok=True)
MAP = "{urn:niem-broker:mapping:1}"
manifest = open(os.path.join(out, "manifest.txt"), "w", encoding="utf-8")
for mf in sorted(glob.glob(os.path.join(root, "mappings", "*", "mapping.xml"))):
    mapping = os.path.basename(os.path.dirname(mf))
    m = ET.parse(mf).getroot()
    agency, key = m.get("agency"), m.get("key")
    examples = os.path.join(root, "mappings", mapping, "examples")
    if m.get("format") == "json":
        records = []
        for f in sorted(glob.glob(os.path.join(examples, "*.ndjson"))):
            records += [json.loads(l) for l in open(f, encoding="utf-8") if l.strip()]
        target = os.path.join(out, f"{mapping}.ndjson")
        with open(target, "w", encoding="utf-8") as w:
            for i in range(count):
                r = json.loads(json.dumps(rng.choice(records)))
                r[key] = f"MUT-{i}"  # a key of its own, so that every mutant is written
                paths = [p for p in leaves(r) if p and p[0] != "record_type"]
                p = rng.choice(paths)
                put(r, p, rng.choice(POOL + JSON_ONLY), drop=rng.random() < 0.1)
                w.write(json.dumps(r, ensure_ascii=rng.random() < 0.5) + "\n")
    else:
        columns = m.find(MAP + "columns")
        delim = columns.get("delimiter", "|")
        k = [c.strip() for c in columns.text.split(delim)].index(key)
        f = sorted(glob.glob(os.path.join(examples, "*.txt")))[0]
        lines = [l.rstrip("\r\n") for l in open(f, encoding="utf-8") if l.strip()]
        target = os.path.join(out, f"{mapping}.txt")
        with open(target, "w", encoding="utf-8") as w:
            w.write(lines[0] + "\n")
            for i in range(count):
                row = rng.choice(lines[1:]).split(delim)
                row[k] = f"RX-MUT-{i}"  # a key of its own, so that every mutant is written
                c = rng.choice([j for j in range(len(row)) if j != k])
                row[c] = rng.choice([v for v in POOL if delim not in v and "\n" not in v])
                w.write(delim.join(row) + "\n")
    manifest.write(f"{agency} {target}\n")
