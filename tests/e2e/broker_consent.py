"""Consent end to end (DSA-003, 42 CFR Part 2): a substance use disorder claim reaches cws only
under the child's consent, found through the child's placement (the consent names the client
number, the claim only the Medicaid id); the registry survives a restart; after the revocation a
claim still queued for cws is withdrawn before delivery and audited as withheld, and new claims
are withheld.

usage: broker_consent.py NIEM-BROKER PROJECT-ROOT"""
import json
import os
import subprocess
import sys
import tempfile

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, drain, new_store, record_message, store_query  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-consent-")
store = new_store(tmp)
broker = Broker(binary, os.path.join(root, "config/demo.xml"), store,
                os.path.join(tmp, "broker.log")).start()
ex = lambda *p: os.path.join(root, "mappings", *p)  # noqa: E731

placement = json.loads(open(ex("cws-placement/examples/placements.ndjson"), encoding="utf-8").readline())
placement["event_id"] = "CWS-EVT-CONSENT-1"
placement["child"]["client_id"] = "CWS-7007-0007"
placement["child"]["medicaid_id"] = "95557007Q"
claims = [l.rstrip("\r\n") for l in open(ex("mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"),
                                          encoding="utf-8") if l.strip()]
header, rows = claims[0], claims[1:]
cols = header.split("|")
sud_row = next(dict(zip(cols, r.split("|"))) for r in rows if r.split("|")[cols.index("SUD_TREATMENT")] == "Y")


def sud_claim(claim_id):
    r = dict(sud_row, CLAIM_ID=claim_id, MEDICAID_ID="95557007Q", CLAIM_STATUS="PAID")
    return header + "\n" + "|".join(r[c] for c in cols)


consent = {"record_type": "consent", "consent_id": "CNS-E2E-1", "record_id": "CNS-E2E-1-1",
           "status": "ACTIVE", "subject": {"client_id": "CWS-7007-0007"},
           "grantor": {"role": "YOUTH", "name": "Test Youth"}, "recipient": "cws",
           "purposes": ["OVERSIGHT"], "data_categories": ["SUD"], "effective_date": "2026-01-01",
           "expiration_date": "2099-12-31", "disclosure_acknowledged": True}
revocation = dict(consent, record_id="CNS-E2E-1-2", status="REVOKED",
                  revoked_at="2026-11-01T09:00:00-08:00")


def publish(conn, address, body, ct):
    s = conn.create_sender(address)
    s.send(record_message(body, ct))
    s.close()


try:
    conn = BlockingConnection(broker.url, timeout=20)
    publish(conn, "ingest/cws/placement", json.dumps(placement), "application/json")
    publish(conn, "ingest/cws/consent", json.dumps(consent), "application/json")
    publish(conn, "ingest/medicaid/pharmacy_claim", sud_claim("RX-E2E-A"), "text/csv")
    got = drain(conn, "deliver/cws")
    check([m.properties["niem-record-key"] for m in got] == ["RX-E2E-A"],
          "a SUD claim reaches cws under a consent found through the child's placement")
    body = bytes(got[0].body) if not isinstance(got[0].body, str) else got[0].body.encode()
    check(b"<ext:SecurityLabelCode>42CFRPart2</ext:SecurityLabelCode>" in body and
          b"federal confidentiality rules (42 CFR part 2)" in body,
          "it carries the 42 CFR 2.32 notice and the Part 2 security label")
    publish(conn, "ingest/medicaid/pharmacy_claim", sud_claim("RX-E2E-B"), "text/csv")
    conn.close()
finally:
    broker.stop()

# The registry is rebuilt from the store: the revocation applies to the consent granted before.
broker.start()
try:
    conn = BlockingConnection(broker.url, timeout=20)
    publish(conn, "ingest/cws/consent", json.dumps(revocation), "application/json")
    publish(conn, "ingest/medicaid/pharmacy_claim", sud_claim("RX-E2E-C"), "text/csv")
    got = drain(conn, "deliver/cws")
    check(got == [], "after the revocation cws receives neither the queued claim nor a new one")
    conn.close()
finally:
    rc = broker.stop()
check(rc == 0, "broker stops cleanly")

rows = store_query(store, "SELECT record_key, recipient, decision, reason, consent FROM audit "
                         "WHERE recipient = 'cws' ORDER BY seq")
withdrawn = store_query(store, "SELECT agreement, purpose FROM audit WHERE record_key = 'RX-E2E-B' "
                               "AND recipient = 'cws' AND decision = 'withhold'")
check(withdrawn == [("DSA-003@1", "OVERSIGHT")],
      "the withdrawal is audited under the agreement and purpose it was queued under")
by = {}
for key, recipient, decision, reason, consent_id in rows:
    by.setdefault(key, []).append((decision, reason, consent_id))
check(by.get("RX-E2E-A") == [("deliver", "", "CNS-E2E-1")],
      "the delivery is audited with the consent it relied on")
check(by.get("RX-E2E-B") == [("deliver", "", "CNS-E2E-1"), ("withhold", "NIEM-507", "CNS-E2E-1")],
      "the claim queued before the revocation was withdrawn, audited as withheld (NIEM-507)")
check(by.get("RX-E2E-C") == [("withhold", "NIEM-507", "CNS-E2E-1")],
      "a claim after the revocation is withheld at routing (NIEM-507)")
out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", store, "--key-file",
                      os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
check(out.returncode == 0, f"the audit trail verifies after the restart ({out.stdout.strip()})")
print("PASS")
