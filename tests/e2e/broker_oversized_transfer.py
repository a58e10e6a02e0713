"""An oversized transfer streamed by a raw Proton engine over a socket (no client library, no
handler: nothing settles or closes unless the test does): the broker rejects the transfer with
NIEM-602 while it is still arriving, keeps its link open and the session's window open (a record
on a second link of the same session is accepted), and serves other connections meanwhile.
(Proton stops sending a delivery its peer settled, so what the broker does about frames that keep
arriving for it, raising the session's capacity by their bytes and closing a connection that sends
more than 16 limits of them, is not reachable from here: it needs a peer that writes raw frames.)

usage: broker_oversized_transfer.py NIEM-BROKER PROJECT-ROOT"""
import os
import sys
import tempfile
import time

from proton import Delivery, Endpoint, Message
from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, fail, new_store, pump_once, raw_engine, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-oversized-")
broker = Broker(binary, os.path.join(root, "config/demo.xml"), new_store(tmp),
                os.path.join(tmp, "broker.log")).start()
placement = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                 encoding="utf-8").readline().strip()


def publish_one(name):
    conn = BlockingConnection(broker.url, timeout=20)
    try:
        conn.create_sender("ingest/cws/placement", name=name).send(
            record_message(placement, "application/json"), timeout=20)
    finally:
        conn.close()


try:
    c, t, sock = raw_engine(broker.url)
    ssn = c.session()
    ssn.open()
    snd = ssn.sender("stubborn")
    snd.target.address = "ingest/cws/placement"
    snd.open()
    dlv = None
    sent = 0
    rejected_at = closed_at = None
    chunk = b"x" * 65536
    second = None  # a record on another link of the same session, once the big one is rejected
    deadline = time.time() + 60
    while time.time() < deadline:
        if snd.credit > 0 and dlv is None:
            dlv = snd.delivery("big")
        # Keep the transfer going whatever the broker says about it; never settle it.
        # (Paused once rejected: the engine would send the big delivery's frames first.)
        if dlv is not None and dlv.pending < 65536 and t.pending() < 256 * 1024 and not second and \
                not (c.state & Endpoint.REMOTE_CLOSED):
            snd.send(chunk)
            sent += len(chunk)
        if rejected_at is None and dlv is not None and dlv.remote_state == Delivery.REJECTED:
            rejected_at = time.time()
            cond = dlv.remote.condition
            check(cond is not None and cond.description.startswith("NIEM-602"),
                  f"the transfer is rejected with NIEM-602 while still arriving ({cond})")
            check(not (snd.state & Endpoint.REMOTE_CLOSED), "its link stays open")
            other = ssn.sender("second")
            other.target.address = "ingest/cws/placement"
            other.open()
            second = [other, None]
            publish_one("meanwhile")  # and other connections are served meanwhile
            check(True, "another connection's record is accepted meanwhile")
        if second and second[1] is None and second[0].credit > 0:
            second[1] = second[0].delivery("small")
            second[0].send(Message(body=placement.encode(), content_type="application/json",
                                   inferred=True).encode())
            second[0].advance()
        if second and second[1] is not None and second[1].remote_state == Delivery.ACCEPTED:
            check(True, "a record on a second link of the same session is accepted meanwhile")
            second = []
            break
        if c.state & Endpoint.REMOTE_CLOSED:
            closed_at = time.time()
            break
        if not pump_once(t, sock):
            break
    if rejected_at is None:
        fail("the broker never rejected the oversized transfer")
    if second != []:
        fail("the second link's record on the same session got no outcome")
    check(closed_at is None and not (snd.state & Endpoint.REMOTE_CLOSED),
          "the connection and the oversized transfer's link are still open")
    sock.close()
    publish_one("after")
    check(True, "a new connection's record is accepted after")
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")
log = open(os.path.join(tmp, "broker.log"), encoding="utf-8").read()
check('"msg":"oversized transfer refused","code":"NIEM-602"' in log,
      "the refused transfer is logged with NIEM-602")
print("PASS")
