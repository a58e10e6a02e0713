#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the project's
examples, golden inputs and outputs, negative fixtures, shipped agreements and configurations.
Run it again after adding fixtures; the seeds are committed. Names are stable (the source file
and line), so a re-run changes only what changed. Inputs that found a defect are kept as
corpus/<target>/regression-<defect> and never removed by a re-run; nor are the minimized finds of
fuzz campaigns, kept as corpus/<target>/campaign-<sha1>.

usage: make_corpus.py [PROJECT-ROOT]"""
import glob
import hashlib
import os
import sys

from proton import Message  # python3-qpid-proton, for encoded AMQP transfers

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../.."))
out_root = os.path.join(root, "tests/fuzz/corpus")
corpora = {}


def seed(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    corpora.setdefault(target, {})[name.replace("/", "_")] = data


def rel(p):
    return os.path.relpath(p, root)


def read(p):
    with open(p, "rb") as f:
        return f.read()


mappings = []  # (agency, record_type, format, dir) in the order the fuzz targets load them
for m in sorted(glob.glob(os.path.join(root, "mappings/*/mapping.xml"))):
    head = read(m).decode()
    attr = lambda a: head.split(f' {a}="', 1)[1].split('"', 1)[0]
    mappings.append((attr("agency"), attr("record-type"), attr("format"), os.path.dirname(m)))

# Records: every example, golden input and negative fixture, behind its address line.
for i, (agency, rtype, fmt, d) in enumerate(mappings):
    files = sorted(glob.glob(os.path.join(d, "examples/*")) + glob.glob(os.path.join(d, "tests/*.input.*")) +
                   [f for f in glob.glob(os.path.join(d, "tests/bad/*")) if not f.endswith(".expect")])
    for f in files:
        lines = read(f).split(b"\n")
        if fmt == "delimited":
            lines = lines[1:]  # the extract's header line
        for n, line in enumerate(lines, 2 if fmt == "delimited" else 1):
            line = line.rstrip(b"\r")
            if not line.strip():
                continue
            body = f"{agency}/{rtype}\n".encode() + line
            seed("fuzz_record", f"{rel(f)}:{n}", body)
            seed("fuzz_compiled_validation", f"{rel(f)}:{n}", body)
            # The same record as an ingest transfer: a data section with its content type.
            ct = "application/json" if fmt == "json" else "text/plain"
            for kind, msg in (("data", Message(body=line, content_type=ct, inferred=True)),
                              ("string", Message(body=line.decode("utf-8", "replace"), content_type=ct))):
                seed("fuzz_ingest_transfer", f"{rel(f)}:{n}:{kind}", bytes([i]) + msg.encode())
    for f in sorted(glob.glob(os.path.join(d, "examples/*"))):
        seed("fuzz_batch_reader", rel(f), read(f))
    seed("fuzz_mapping_loader", rel(os.path.join(d, "mapping.xml")), read(os.path.join(d, "mapping.xml")))
seed("fuzz_ingest_transfer", "amqp-value-list", bytes([0]) + Message(body=[1, 2, 3]).encode())
seed("fuzz_ingest_transfer", "no-body", bytes([0]) + Message().encode())

# Documents: the golden outputs of every mapping, and a few the hardening refuses.
for f in sorted(glob.glob(os.path.join(root, "mappings/*/tests/*.expected.xml"))):
    for t in ("fuzz_validate", "fuzz_xml_differential", "fuzz_filter"):
        seed(t, rel(f), read(f))
hostile = {
    "doctype-entity": '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
    "external-entity": '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>',
    "deep": "<a>" * 100 + "</a>" * 100,
    "unknown-namespace": '<x:a xmlns:x="urn:nothing"/>',
    "utf16-declared": '<?xml version="1.0" encoding="UTF-16"?><a/>',
}
for name, doc in hostile.items():
    seed("fuzz_validate", f"hostile-{name}", doc)
    seed("fuzz_xml_differential", f"hostile-{name}", doc)

for f in sorted(glob.glob(os.path.join(root, "config/agreements/*.xml"))):
    seed("fuzz_agreement_loader", rel(f), read(f))
for f in sorted(glob.glob(os.path.join(root, "config/*.xml"))):
    seed("fuzz_config_loader", rel(f), read(f))

# The admin API: every route, with the fuzz rig's viewer and operator tokens and without.
viewer, operator = "v" * 32, "o" * 32
routes = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/healthz"), ("GET", "/readyz"),
          ("GET", "/metrics"), ("GET", "/api/whoami"), ("GET", "/api/queues"),
          ("POST", "/api/queues/phn/pause"), ("POST", "/api/queues/phn/resume"),
          ("GET", "/api/dlq"), ("GET", "/api/dlq?code=NIEM-101&limit=5"), ("DELETE", "/api/dlq?code=NIEM-101"),
          ("POST", "/api/dlq/replay?agency=medicaid"), ("GET", "/api/messages?limit=10"),
          ("GET", "/api/agreements"), ("GET", "/api/audit?limit=5"), ("GET", "/api/audit/verify"),
          ("GET", "/api/consents"), ("GET", "/api/disclosures?person=95550001C"),
          ("GET", "/api/withholdings?recipient=phn&hours=24"), ("GET", "/api/conditions"),
          ("GET", "/api/history"), ("GET", "/api/alerts?county=06037"), ("PUT", "/api/queues")]
for method, target in routes:
    for who, tok in (("viewer", viewer), ("operator", operator), ("none", None)):
        auth = f"Authorization: Bearer {tok}\r\n" if tok else ""
        body = "{}" if method == "POST" else ""
        req = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {len(body)}\r\n\r\n{body}"
        seed("fuzz_admin_http", f"{method}-{target}-{who}", req)
seed("fuzz_admin_http", "chunked", "POST /api/dlq/replay HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
     + operator + "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")

seed("fuzz_batch_reader", "checkpoint", '{"file":"x.ndjson","fingerprint":"ab","offset":10,"line":2,'
     '"accepted":1,"rejected":0,"complete":false}')
seed("fuzz_batch_reader", "bom-crlf-blank", b"\xef\xbb\xbf{\"a\":1}\r\n\r\n{\"b\":2}\r\n")

for target, seeds in sorted(corpora.items()):
    d = os.path.join(out_root, target)
    os.makedirs(d, exist_ok=True)
    # Inputs that once found a defect (regression-*) and what campaigns found, minimized
    # (campaign-*: tools/run-fuzz.sh --seconds, then -merge=1), stay.
    for old in os.listdir(d):
        if not old.startswith(("regression-", "campaign-")):
            os.remove(os.path.join(d, old))
    for name, data in sorted(seeds.items()):
        short = hashlib.sha1(name.encode()).hexdigest()[:8]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-80:]
        with open(os.path.join(d, f"{safe}-{short}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seeds)} seeds")
