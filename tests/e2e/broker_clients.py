"""Event-driven AMQP peers for the crash test, each run as its own process with python3-qpid-proton.

  publisher URL RECORDS OUT   sends every line of RECORDS to ingest/cws/placement with up to 200
                              unsettled; writes 'A <index>' per acceptance; after a lost connection
                              it reconnects and resends everything not yet accepted.
  subscriber URL ADDRESS OUT  receives with receiver-settle-mode second: accepts each message without
                              settling ('R <message-id> <record-key>'), and counts it delivered only
                              when the broker settles ('C <message-id>'), i.e. after the broker has
                              committed the acceptance. Reconnects after a lost connection.
URL may list several brokers, comma-separated: each reconnection tries the next (failover)."""
import sys
import time

from proton import Delivery, Link, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container, LinkOption


class RcvSecond(LinkOption):
    def apply(self, link):
        link.rcv_settle_mode = Link.RCV_SECOND


class Publisher(MessagingHandler):
    def __init__(self, url, records, accepted, out):
        super().__init__(auto_settle=True)
        self.url, self.records, self.accepted, self.out = url, records, accepted, out
        self.next, self.unsettled, self.window = 0, {}, 200
        self.pending = [i for i in range(len(records)) if i not in accepted]

    def on_start(self, event):
        event.container.connect(self.url, reconnect=False)

    def on_connection_opened(self, event):
        self.sender = event.container.create_sender(event.connection, "ingest/cws/placement")

    def on_sendable(self, event):
        self.send(event.sender)

    def send(self, sender):
        while sender.credit > 0 and self.pending and len(self.unsettled) < self.window:
            i = self.pending.pop(0)
            d = sender.send(Message(body=self.records[i].encode(),
                                    content_type="application/json", inferred=True))
            self.unsettled[d] = i

    def on_accepted(self, event):
        i = self.unsettled.pop(event.delivery, None)
        if i is not None:
            self.accepted.add(i)
            self.out.write(f"A {i}\n")
            self.out.flush()
        if not self.pending and not self.unsettled:
            event.connection.close()
        # The window may have been full when the broker's last credit arrived: no flow frame
        # need follow an outcome, so send what the window now allows.
        self.send(event.delivery.link)

    def on_rejected(self, event):
        i = self.unsettled.pop(event.delivery, None)
        self.out.write(f"X {i}\n")
        self.out.flush()
        self.send(event.delivery.link)

    def on_released(self, event):
        i = self.unsettled.pop(event.delivery, None)
        if i is not None:
            self.pending.insert(0, i)
            self.out.write(f"R {i}\n")
            self.out.flush()
        # Sent again at once if the link still has credit: no flow frame may follow a release.
        self.send(event.delivery.link)

    def on_transport_error(self, event):
        event.container.stop()

    def on_disconnected(self, event):
        event.container.stop()


class Subscriber(MessagingHandler):
    def __init__(self, url, address, out):
        super().__init__(prefetch=100, auto_accept=False, auto_settle=False)
        self.url, self.address, self.out = url, address, out
        self.ids = {}

    def on_start(self, event):
        conn = event.container.connect(self.url, reconnect=False)
        event.container.create_receiver(conn, self.address, options=RcvSecond())

    def on_message(self, event):
        p = event.message.properties
        self.ids[event.delivery] = p["niem-message-id"]
        self.out.write(f"R {p['niem-message-id']} {p['niem-record-key']}\n")
        self.out.flush()
        event.delivery.update(Delivery.ACCEPTED)  # settled only after the broker settles

    def on_settled(self, event):  # the broker settled: its removal of the document is durable
        d = event.delivery
        mid = self.ids.pop(d, None)
        if mid is not None:
            self.out.write(f"C {mid}\n")
            self.out.flush()
        d.settle()

    def on_transport_error(self, event):
        event.container.stop()

    def on_disconnected(self, event):
        event.container.stop()


def main():
    role, urls = sys.argv[1], sys.argv[2].split(",")
    attempt = 0

    def url():
        return urls[attempt % len(urls)]
    if role == "publisher":
        records = [l.rstrip("\n") for l in open(sys.argv[3], encoding="utf-8")]
        out = open(sys.argv[4], "a")
        accepted = set()
        while len(accepted) < len(records):
            try:
                Container(Publisher(url(), records, accepted, out)).run()
            except Exception as e:  # a refused connection while the broker restarts
                out.write(f"# {type(e).__name__}\n")
            if len(accepted) < len(records):
                attempt += 1
                time.sleep(0.2)
        out.write("DONE\n")
        out.flush()
    else:
        out = open(sys.argv[4], "a")
        while True:
            try:
                Container(Subscriber(url(), sys.argv[3], out)).run()
            except Exception as e:
                out.write(f"# {type(e).__name__}\n")
            attempt += 1
            time.sleep(0.2)


if __name__ == "__main__":
    main()
