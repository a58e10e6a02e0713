"""The medication check across replicas: two niem-broker replicas on one PostgreSQL store, whose
notifications of each other's facts arrive NIEM_FAULT_LISTEN_DELAY_MS (1500) late. The placement
and a psychotropic claim go to replica A (an alert: nothing covers the claim); the application
and the order that covers it go to replica B straight after. B must decide on A's claim as one
broker would: it learns A's facts before checking, so it finds the claim pending and then
covered, and sends the resolution; A, learning B's facts later, sends nothing twice. Each notice
is decided once per recipient, and none is left owed.

usage: broker_medication_replicas.py NIEM-BROKER PROJECT-ROOT"""
import os
import sys
import tempfile
import time

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import (backend, Broker, check, fail, new_store, record_message,  # noqa: E402
                            store_query)
from medication_records import Child  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
if backend() != "postgres":
    fail("replicas share a PostgreSQL store: run with NIEM_TEST_STORE=postgres")
os.environ.setdefault("NIEM_FAULT_LISTEN_DELAY_MS", "1500")
tmp = tempfile.mkdtemp(prefix="niem-medication-replicas-")
store = new_store(tmp, "medication_replicas")
conf = os.path.join(root, "config/demo.xml")
a = Broker(binary, conf, store, os.path.join(tmp, "a.log")).start()
b = Broker(binary, conf, store, os.path.join(tmp, "b.log")).start()
child = Child(root, "CWS-9009-0009", "95559009R", "06001", "REP")


def publish(broker, address, body, ct):
    conn = BlockingConnection(broker.url, timeout=20)
    s = conn.create_sender(address)
    s.send(record_message(body, ct))  # returns once the broker accepted (committed) it
    conn.close()


def decided(key):
    return sorted(r[0] for r in store_query(
        store, f"SELECT recipient FROM audit WHERE provider = 'exchange' AND record_key = '{key}'"))


try:
    publish(a, "ingest/cws/placement", child.placement(), "application/json")
    publish(a, "ingest/medicaid/pharmacy_claim", child.claim("RX-REP-1"), "text/csv")
    publish(b, "ingest/pmap-portal/pmap_application", child.application(), "application/json")
    publish(b, "ingest/court/pmap_order", child.order(), "application/json")
    alert, resolution = "MAE-RX-REP-1-NO_AUTHORIZATION", "MAE-RX-REP-1-NO_AUTHORIZATION-RESOLVED"
    deadline = time.time() + 20
    while time.time() < deadline and not (decided(alert) and decided(resolution)):
        time.sleep(0.2)
    time.sleep(3)  # both replicas have learned everything (twice the listener's delay)
    check(decided(alert) == ["cws", "oversight", "phn"],
          "replica A alerted once per recipient (cws, phn; counted for oversight)")
    check(decided(resolution) == ["cws", "oversight", "phn"],
          "replica B, deciding on A's claim it learned by catching up, resolved it once per "
          "recipient, though the notifications were late")
    by = store_query(store, "SELECT DISTINCT message_id FROM audit WHERE record_key = "
                            f"'{resolution}'")
    check(len(by) == 1, "the resolution is one record")
    owed = store_query(store, "SELECT count(*) FROM facts WHERE kind = 'medication.notice' AND key "
                              "NOT IN (SELECT key FROM facts WHERE kind = 'medication.sent')")
    check(owed in ([(0,)], [("0",)]), "no notice is left owed")
finally:
    rc_a, rc_b = a.stop(), b.stop()
check(rc_a == 0 and rc_b == 0, "both replicas stop cleanly")
print("PASS")
