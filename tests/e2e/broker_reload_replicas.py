"""A reload across replicas: two niem-broker replicas on one PostgreSQL store, each with its own
copy of the agreements (as two hosts would have).
- DSA-001 amended in both copies; SIGHUP at A only: B reloads from its own files by itself, a
  record published at B is decided under the amended agreement (its audit entry names the new
  version), and GET /api/config at A shows both brokers running the same content hash.
- DSA-001 amended again at A only; SIGHUP at A: B reloads, finds nothing changed in its files, and
  reports (log, /api/config) that its rules differ from those A announced.

usage: broker_reload_replicas.py NIEM-BROKER PROJECT-ROOT"""
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import backend, Broker, check, fail, new_store, placement  # noqa: E402
from broker_harness import content_version, demo_config_with_own_agreements  # noqa: E402
from broker_harness import dsa001_without_phone, record_message, store_query  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
if backend() != "postgres":
    fail("replicas share a PostgreSQL store: run with NIEM_TEST_STORE=postgres")
viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()
tmp = tempfile.mkdtemp(prefix="niem-reload-replicas-")
store = new_store(tmp, "reload_replicas")
folders = {name: os.path.join(tmp, name) for name in ("a", "b")}
for f in folders.values():
    os.makedirs(f)
configs = {name: demo_config_with_own_agreements(root, f) for name, f in folders.items()}
dsa001 = {name: os.path.join(agreements, "DSA-001.xml") for name, (_, agreements) in configs.items()}
original = open(dsa001["a"], encoding="utf-8").read()
a = Broker(binary, configs["a"][0], store, os.path.join(tmp, "a.log")).start()
b = Broker(binary, configs["b"][0], store, os.path.join(tmp, "b.log")).start()
template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                encoding="utf-8").readline()


def config_at(broker):
    req = urllib.request.Request(broker.admin_url + "/api/config")
    req.add_header("Authorization", "Bearer " + viewer)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def wait_log(broker, pred, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = [l for l in broker.log_lines() if pred(l)]
        if found:
            return found
        time.sleep(0.05)
    fail(f"{what}: not in the log within {seconds} s")


def write(name, text):
    open(dsa001[name], "w", encoding="utf-8").write(text)


def replica_reloads(broker):
    return [l for l in broker.log_lines()
            if l.get("component") == "reload" and l.get("by", "").startswith("replica:")
            and l.get("msg") in ("rules reloaded", "nothing to reload: the rules are unchanged",
                                 "reload refused; nothing changed")]


try:
    v2 = dsa001_without_phone(original, "2")
    write("a", v2)
    write("b", v2)
    a.proc.send_signal(signal.SIGHUP)
    wait_log(b, lambda l: l.get("msg") == "the same rules as the broker that announced the reload",
             "B reloads after A's announcement and runs the same rules")
    got = replica_reloads(b)
    check(len(got) == 1 and got[0]["msg"] == "rules reloaded",
          "B reloaded from its own files when A announced its reload")
    check(a.proc.poll() is None and b.proc.poll() is None, "both brokers are running")

    conn = BlockingConnection(b.url, timeout=30)
    s = conn.create_sender("ingest/cws/placement")
    s.send(record_message(placement(template, "REPLICA-RELOAD-1"), "application/json"))
    conn.close()
    versions = store_query(store, "SELECT a.agreement_version FROM audit a JOIN messages m "
                                  "ON m.message_id = a.message_id WHERE a.recipient = 'medicaid' "
                                  "AND m.record_key LIKE '%REPLICA-RELOAD-1%'")
    check([v for (v,) in versions] == [content_version(v2)],
          "a record published at B is decided under the amended DSA-001 (its audit entry names it)")

    cfg = config_at(a)
    reported = {r["replica"]: r for r in cfg["replicas"]}
    check(len(reported) == 2 and len({r["content_hash"] for r in reported.values()}) == 1
          and all(r["same_as_announced"] for r in reported.values())
          and cfg["content_hash"] in {r["content_hash"] for r in reported.values()},
          "GET /api/config at A: both brokers report the same content hash")

    # A's copy alone changes: B follows the announcement, and says it differs.
    write("a", dsa001_without_phone(original, "3"))
    before = len(replica_reloads(b))
    a.proc.send_signal(signal.SIGHUP)
    wait_log(b, lambda l: l.get("msg") == "rules differ from those of the broker that announced the reload",
             "B reports that its rules differ from A's")
    got = replica_reloads(b)[before:]
    check(len(got) == 1 and got[0]["msg"] == "nothing to reload: the rules are unchanged",
          "B reloaded its own files, which had not changed")
    deadline = time.time() + 10
    while time.time() < deadline:
        reported = {r["replica"]: r for r in config_at(a)["replicas"]}
        if len({r["content_hash"] for r in reported.values()}) == 2:
            break
        time.sleep(0.1)
    check(len({r["content_hash"] for r in reported.values()}) == 2
          and sum(1 for r in reported.values() if not r["same_as_announced"]) == 1,
          "GET /api/config at A shows that B runs other rules than A")
finally:
    rc_b, rc_a = b.stop(), a.stop()
check(rc_a == 0 and rc_b == 0, "both brokers stop cleanly")
