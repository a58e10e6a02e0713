"""Demo traffic for a running niem-broker (config/demo.xml): publishes the project's example
records of every agency to ingest/<agency>/<record-type>, then receives what each subscriber
gets from deliver/<agency> and saves the NIEM documents under OUT/<recipient>/. For a subscriber
that received nothing it says why: the withholdings the audit trail holds for it, by code and
agreement (the admin API's /api/withholdings, which `niemctl withheld` prints too).

usage: /usr/bin/python3 demo_traffic.py URL PROJECT-ROOT OUT ADMIN-URL VIEWER-TOKEN-FILE"""
import glob
import json
import os
import sys
import urllib.request

from proton import Delivery, Message
from proton.utils import BlockingConnection, SendException

url, root, out, admin_url, token_file = sys.argv[1:6]
token = open(token_file, encoding="utf-8").read().strip()
conn = BlockingConnection(url, timeout=30)


def publish(address, messages, content_type):
    s = conn.create_sender(address)
    ok = bad = 0
    for body in messages:
        try:
            s.send(Message(body=body.encode(), content_type=content_type, inferred=True))
            ok += 1
        except SendException as e:
            bad += 1
    s.close()
    print(f"  {address:40} {ok:3} accepted  {bad:3} rejected")


def ndjson(pattern):
    out = []
    for f in sorted(glob.glob(os.path.join(root, pattern))):
        out += [l.strip() for l in open(f, encoding="utf-8") if l.strip()]
    return out


print("publishing the example records of every agency:")
publish("ingest/cws/placement", ndjson("mappings/cws-placement/examples/*.ndjson"), "application/json")
publish("ingest/cws/consent", ndjson("mappings/cws-consent/examples/*.ndjson"), "application/json")
publish("ingest/pmap-portal/pmap_application",
        ndjson("mappings/pmap-application/examples/*.ndjson"), "application/json")
publish("ingest/court/pmap_order", ndjson("mappings/pmap-order/examples/*.ndjson"), "application/json")
claims = []
for f in sorted(glob.glob(os.path.join(root, "mappings/mmis-pharmacy-claim/examples/*.txt"))):
    lines = [l.rstrip("\r\n") for l in open(f, encoding="utf-8") if l.strip()]
    claims += [lines[0] + "\n" + row for row in lines[1:]]
publish("ingest/medicaid/pharmacy_claim", claims, "text/csv")

def why_nothing(recipient):
    req = urllib.request.Request(f"{admin_url}/api/withholdings?recipient={recipient}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        rows = json.load(r)["withholdings"]
    if not rows:
        return "no record was routed to it, and none was withheld"
    return "; ".join(f"{w['count']} withheld {w['code']} {w['why']}" for w in rows)


print("\nreceiving at each subscriber (each gets what its data-sharing agreement allows):")
for recipient in ("court", "medicaid", "cws", "pmap-portal", "phn", "school", "research", "oversight"):
    r = conn.create_receiver(f"deliver/{recipient}", credit=100)
    d = os.path.join(out, recipient)
    os.makedirs(d, exist_ok=True)
    counts = {}
    while True:
        try:
            m = r.receive(timeout=2)
        except Exception:
            break
        p = m.properties
        body = m.body if isinstance(m.body, (bytes, memoryview)) else str(m.body).encode()
        name = f"{p['niem-exchange']}-{p['niem-record-key']}.xml"
        with open(os.path.join(d, name), "wb") as f:
            f.write(bytes(body))
        counts[p["niem-exchange"]] = counts.get(p["niem-exchange"], 0) + 1
        r.accept()
    r.close()
    del r  # before interpreter shutdown, where proton's finalizers cannot run cleanly
    if counts:
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        print(f"  deliver/{recipient:10} {summary}  -> {d}/")
    else:
        print(f"  deliver/{recipient:10} nothing: {why_nothing(recipient)}")
conn.close()
import gc  # noqa: E402
gc.collect()
