"""A peer that closes a link, a session or its connection with an error condition, or sends
frames the broker's engine refuses, ends only that endpoint: the broker keeps serving everyone
else. (Proton's default handler throws on a peer's error, and a throw stops the event loop: every
agency's connection went with it.)

usage: broker_peer_errors.py NIEM-BROKER PROJECT-ROOT"""
import os
import sys
import tempfile
import time

from proton import Condition, Endpoint
from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, new_store, pump_once, raw_engine, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-peer-errors-")
broker = Broker(binary, os.path.join(root, "config/demo.xml"), new_store(tmp),
                os.path.join(tmp, "broker.log")).start()
placement = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                 encoding="utf-8").readline().strip()


def pump(t, sock, until, seconds=5):
    end = time.time() + seconds
    while time.time() < end and not until():
        if not pump_once(t, sock):
            return


def misbehave(what):
    c, t, sock = raw_engine(broker.url)
    ssn = c.session()
    ssn.open()
    snd = ssn.sender(f"errors-{what}")
    snd.target.address = "ingest/cws/placement"
    snd.open()
    pump(t, sock, lambda: snd.state & Endpoint.REMOTE_ACTIVE)
    if what == "garbage":
        # Bytes that are not an AMQP frame, after a valid connection.
        pump(t, sock, lambda: False, 0.2)
        sock.setblocking(True)
        sock.sendall(b"\x00\x00\x00\x10\x02\x00\x00\x00" + b"\xff" * 8)
        time.sleep(0.5)
    else:
        target = {"link": snd, "session": ssn, "connection": c}[what]
        target.condition = Condition(f"test:{what}-error", "closed on purpose")
        target.close()
        pump(t, sock, lambda: target.state & Endpoint.REMOTE_CLOSED)
    sock.close()


def served(name):
    conn = BlockingConnection(broker.url, timeout=10)
    try:
        conn.create_sender("ingest/cws/placement", name=name).send(
            record_message(placement, "application/json"), timeout=10)
        return True
    except Exception as e:
        print("info:", type(e).__name__, e)
        return False
    finally:
        conn.close()


try:
    bystander = BlockingConnection(broker.url, timeout=10)
    bs = bystander.create_sender("ingest/cws/placement", name="bystander")
    for what in ("link", "session", "connection", "garbage"):
        misbehave(what)
        check(served(f"after-{what}"),
              f"after a peer's {what} error, a new connection's record is accepted")
        bs.send(record_message(placement, "application/json"), timeout=10)
        check(True, f"after a peer's {what} error, a connection opened before it still works")
    bystander.close()
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")
log = open(os.path.join(tmp, "broker.log"), encoding="utf-8").read()
check("event loop stopped" not in log, "the event loop never stopped")
check(log.count('"msg":"peer error"') >= 3, "each peer error is logged")
print("PASS")
