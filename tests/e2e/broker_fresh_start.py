"""Fresh starts under load: the broker is started on an empty store many times, and each time, as
soon as it listens, five independent AMQP clients (python3-qpid-proton, one connection each)
publish at once every example placement, pharmacy claim, consent directive, PMAP application and
court order. Their first documents reach the pipeline's workers together, which once aborted the
broker while two workers validated their first pattern facets (Xerces' lazily built
character-class maps). Checks, at every start: every record is settled by the broker (accepted,
as each example is valid), the broker is still running afterwards, stops cleanly, and its log
holds no assertion.

usage: broker_fresh_start.py NIEM-BROKER PROJECT-ROOT [STARTS]"""
import os
import sys
import tempfile
import threading

from proton.utils import BlockingConnection, SendException

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, fail, new_store, record_message, stamp  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
starts = int(sys.argv[3]) if len(sys.argv) > 3 else 15
tmp = tempfile.mkdtemp(prefix="niem-fresh-")


def lines(*path):
    with open(os.path.join(root, "mappings", *path), encoding="utf-8") as f:
        return [l.rstrip("\r\n") for l in f if l.strip()]


claims = lines("mmis-pharmacy-claim", "examples", "mmis_rx_20260601.txt")
publishers = [
    ("ingest/cws/placement", lines("cws-placement", "examples", "placements.ndjson"),
     "application/json"),
    ("ingest/medicaid/pharmacy_claim", [claims[0] + "\n" + r for r in claims[1:]], "text/csv"),
    ("ingest/cws/consent", lines("cws-consent", "examples", "consents.ndjson"), "application/json"),
    ("ingest/pmap-portal/pmap_application",
     lines("pmap-application", "examples", "pmap_applications.ndjson"), "application/json"),
    ("ingest/court/pmap_order", lines("pmap-order", "examples", "pmap_orders.ndjson"),
     "application/json"),
]
total = sum(len(bodies) for _, bodies, _ in publishers)


def run_start(i):
    log = os.path.join(tmp, f"broker-{i}.log")
    broker = Broker(binary, os.path.join(root, "config/demo.xml"), new_store(tmp, f"store{i}"),
                    log).start()
    outcomes, errors = [], []
    lock = threading.Lock()
    go = threading.Barrier(len(publishers))

    def publish(address, bodies, content_type):
        try:
            conn = BlockingConnection(broker.url, timeout=60)
            sender = conn.create_sender(address)
            go.wait(timeout=60)
            for b in bodies:
                try:
                    sender.send(record_message(b, content_type))
                    result = "accepted"
                except SendException as e:
                    result = f"{address}: settled {e.state}"
                with lock:
                    outcomes.append(result)
            conn.close()
        except Exception as e:  # a lost connection or a timeout: the record was not settled
            with lock:
                errors.append(f"{address}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=publish, args=p) for p in publishers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alive = broker.proc.poll() is None
    rc = broker.stop()
    with open(log, errors="replace") as f:
        aborted = [l for l in f if "Assertion" in l or "AddressSanitizer" in l]
    if errors or not alive or rc != 0 or aborted or len(outcomes) != total:
        fail(f"start {i}: broker alive={alive} exit={rc}, {len(outcomes)} of {total} settled, "
             f"errors {errors[:3]}, log {aborted[:2]} (see {log})")
    refused = [o for o in outcomes if o != "accepted"]
    if refused:
        fail(f"start {i}: valid examples refused: {refused[:3]}")


for i in range(starts):
    run_start(i)
    stamp(f"start {i + 1}/{starts}: {total} records from {len(publishers)} clients settled")
print(f"ok: {starts} fresh starts, each settling all {total} records published at once by "
      f"{len(publishers)} clients, the broker up throughout and stopping cleanly")
