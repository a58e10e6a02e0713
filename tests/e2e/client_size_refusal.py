"""The client library against a peer that names no max-message-size and closes a link with
amqp:link:message-size-exceeded when a large message arrives (as a broker other than niem-broker
may): only the large record is refused; the records in flight beside it on that link are released
and sent again on a new link, so niem-batch-adapter reports one rejected line and delivers the rest.

usage: client_size_refusal.py NIEM-BATCH-ADAPTER"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

from proton import Condition
from proton.handlers import MessagingHandler
from proton.reactor import Container

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import check, fail  # noqa: E402

adapter = sys.argv[1]
LIMIT = 4096


class FakePeer(MessagingHandler):
    """Holds the first link's deliveries unsettled until the large one arrives, then closes that
    link; accepts everything on later links."""

    def __init__(self, url):
        super().__init__(auto_accept=False)
        self.url, self.accepted, self.links, self.held = url, [], 0, []
        self.acceptor = None
        self.ready = threading.Event()

    def on_start(self, event):
        self.acceptor = event.container.listen(self.url)
        self.ready.set()

    def on_link_opening(self, event):
        if event.receiver:
            self.links += 1
            event.receiver.target.address = event.receiver.remote_target.address
            event.receiver.open()

    def on_message(self, event):
        body = bytes(event.message.body)
        if len(body) > LIMIT:
            event.receiver.condition = Condition("amqp:link:message-size-exceeded",
                                                 f"a message exceeds {LIMIT} bytes")
            event.receiver.close()
            return
        if self.links == 1:
            self.held.append(event.delivery)
            return
        self.accepted.append(json.loads(body)["event_id"])
        self.accept(event.delivery)


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
peer = FakePeer(f"127.0.0.1:{port}")
container = Container(peer)
thread = threading.Thread(target=container.run, daemon=True)
thread.start()
if not peer.ready.wait(10):
    fail("the fake peer did not start")

tmp = tempfile.mkdtemp(prefix="niem-size-")
lines = [json.dumps({"event_id": f"S-{i}"}) for i in range(1, 9)]
lines.insert(2, json.dumps({"event_id": "BIG", "padding": "x" * (2 * LIMIT)}))
path = os.path.join(tmp, "in.ndjson")
with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
out = subprocess.run([adapter, "--agency", "cws", "--record-type", "placement", "--window", "9",
                      "--url", f"amqp://127.0.0.1:{port}", "--timeout", "20",
                      "--rejects", os.path.join(tmp, "rejects"), path],
                     capture_output=True, text=True, timeout=120)
print(out.stdout, out.stderr)
check(out.returncode == 1, f"the adapter exits 1 (records rejected), not 3 (got {out.returncode})")
check("line 3: rejected amqp:link:message-size-exceeded" in out.stdout, "the large line is reported")
check("sent 9, accepted 8, rejected 1; complete" in out.stdout, "only the large line is rejected")
check(peer.links >= 2, "the records released with the closed link were sent again on a new link")
check(sorted(set(peer.accepted)) == sorted(f"S-{i}" for i in range(1, 9)),
      "every small record reached the peer on the new link")
with open(os.path.join(tmp, "rejects"), encoding="utf-8") as f:
    rej = [json.loads(l) for l in f]
check([r["line"] for r in rej] == [3], "the rejects file names line 3 only")
container.stop()
print("PASS")
