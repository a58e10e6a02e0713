"""A pause is shared by replicas: two niem-broker replicas on one PostgreSQL store; an operator
pauses the court's delivery at replica A, and replica B, which serves the court's subscriber,
stops delivering to it at once (not at its next restart); the operator resumes it at B, and A
applies that too. What waited is delivered once after the resume.

usage: broker_replica_settings.py NIEM-BROKER PROJECT-ROOT"""
import json
import os
import sys
import tempfile
import time
import urllib.request

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import (backend, Broker, check, drain, fail, new_store, placement,  # noqa: E402
                            record_message)

binary, root = sys.argv[1], sys.argv[2]
if backend() != "postgres":
    fail("replicas share a PostgreSQL store: run with NIEM_TEST_STORE=postgres")
viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()
operator = open(os.path.join(root, "config/demo-operator.token")).read().strip()
tmp = tempfile.mkdtemp(prefix="niem-replica-settings-")
store = new_store(tmp, "replica_settings")
conf = os.path.join(root, "config/demo.xml")
a = Broker(binary, conf, store, os.path.join(tmp, "a.log")).start()
b = Broker(binary, conf, store, os.path.join(tmp, "b.log")).start()
template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                encoding="utf-8").readline()


def http(broker, method, path, token):
    req = urllib.request.Request(broker.admin_url + path, method=method)
    req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def paused_at(broker):
    return [q["recipient"] for q in http(broker, "GET", "/api/queues", viewer)["queues"] if q["paused"]]


def wait_paused(broker, want, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if paused_at(broker) == want:
            return True
        time.sleep(0.05)
    return False


def publish(conn, event_id):
    s = conn.create_sender("ingest/cws/placement")
    s.send(record_message(placement(template, event_id), "application/json"))
    s.close()


try:
    ca, cb = BlockingConnection(a.url, timeout=30), BlockingConnection(b.url, timeout=30)
    publish(ca, "CWS-EVT-SETTINGS-1")
    check([m.properties["niem-record-key"] for m in drain(cb, "deliver/court")] ==
          ["CWS-EVT-SETTINGS-1"], "replica B delivers to the court before the pause")
    http(a, "POST", "/api/queues/court/pause", operator)
    t0 = time.time()
    check(wait_paused(b, ["court"]), "replica B applies the pause made at A "
                                     f"({(time.time() - t0) * 1000:.0f} ms)")
    publish(ca, "CWS-EVT-SETTINGS-2")
    publish(cb, "CWS-EVT-SETTINGS-3")
    check(drain(cb, "deliver/court") == [], "nothing reaches the court's subscriber at B while paused")
    http(b, "POST", "/api/queues/court/resume", operator)
    check(wait_paused(a, []), "replica A applies the resume made at B")
    got = sorted(m.properties["niem-record-key"] for m in drain(cb, "deliver/court"))
    check(got == ["CWS-EVT-SETTINGS-2", "CWS-EVT-SETTINGS-3"],
          f"after the resume the court receives what waited, once ({got})")
    ca.close()
    cb.close()
finally:
    rcs = [a.stop(), b.stop()]
check(rcs == [0, 0], "both replicas stop cleanly")
print("PASS")
