"""End to end through niem-broker with an independent AMQP client (python3-qpid-proton):
every agency's sample records are published to ingest/<agency>/<type> and arrive as NIEM
documents at deliver/<recipient> as the data-sharing agreements allow (config/agreements); bad
records are rejected with their NIEM code and dead-lettered; a record sent twice is delivered
once; an unknown address is refused.

usage: broker_e2e.py NIEM-BROKER PROJECT-ROOT"""
import os
import sys
import tempfile

from proton import Delivery, Message
from proton.utils import BlockingConnection, SendException, LinkDetached

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, fail, record_message  # noqa: E402
from broker_harness import copy_store, new_store, store_exec, store_query  # noqa: E402
from broker_harness import drain as harness_drain  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-e2e-")
store = new_store(tmp)
broker = Broker(binary, os.path.join(root, "config/demo.xml"), store,
                os.path.join(tmp, "broker.log")).start()


def lines(path, skip_header=False):
    with open(path, encoding="utf-8") as f:
        out = [l.rstrip("\r\n") for l in f if l.strip()]
    return out


ex = lambda *p: os.path.join(root, "mappings", *p)
placements = lines(ex("cws-placement/examples/placements.ndjson"))
pmaps = lines(ex("pmap-application/examples/pmap_applications.ndjson"))
consents = lines(ex("cws-consent/examples/consents.ndjson"))
claims = lines(ex("mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"))
header, claim_rows = claims[0], claims[1:]

try:
    conn = BlockingConnection(broker.url, timeout=20)

    def publish(address, bodies, ct):
        s = conn.create_sender(address)
        outcomes = []
        for b in bodies:
            try:
                s.send(record_message(b, ct))
                outcomes.append("accepted")
            except SendException as e:
                outcomes.append(f"rejected:{e.state}")
        s.close()
        return outcomes

    check(all(o == "accepted" for o in publish("ingest/cws/placement", placements, "application/json")),
          f"{len(placements)} placement events accepted")
    check(all(o == "accepted" for o in publish("ingest/pmap-portal/pmap_application", pmaps, "application/json")),
          f"{len(pmaps)} PMAP applications accepted")
    check(all(o == "accepted" for o in publish("ingest/cws/consent", consents, "application/json")),
          f"{len(consents)} consent directives accepted")
    check(all(o == "accepted" for o in publish("ingest/medicaid/pharmacy_claim",
                                              [header + "\n" + r for r in claim_rows], "text/csv")),
          f"{len(claim_rows)} pharmacy claims accepted (header line + record line each)")

    # The same record again: acknowledged, not processed again.
    check(publish("ingest/cws/placement", placements[:1], "application/json") == ["accepted"],
          "a duplicate placement is acknowledged")

    # Bad input is rejected with its reason and never reaches a subscriber.
    s = conn.create_sender("ingest/cws/placement")
    try:
        s.send(record_message('{"event_id": "X", "child": ', "application/json"))
        fail("a malformed record was accepted")
    except SendException as e:
        check(e.state == Delivery.REJECTED, "a malformed record is rejected (disposition REJECTED)")
    s.close()

    def drain(address):
        return harness_drain(conn, address)

    court = drain("deliver/court")
    medicaid = drain("deliver/medicaid")
    cws = drain("deliver/cws")
    phn = drain("deliver/phn")
    school = drain("deliver/school")
    research = drain("deliver/research")
    kinds = lambda ms: sorted(m.properties["niem-exchange"] for m in ms)
    check(kinds(court) == sorted(["placement-notification"] * len(placements) +
                                 ["pmap-application"] * len(pmaps)),
          f"court received {len(placements)} placements and {len(pmaps)} PMAP applications, once each")
    check(kinds(medicaid) == ["placement-notification"] * len(placements),
          "medicaid received every placement once (the duplicate was not redelivered)")
    # DSA-003: PAID claims only; the SUD claim needs the child's consent for cws (none matches it).
    col = header.split("|")
    rows = [dict(zip(col, r.split("|"))) for r in claim_rows]
    # The medication check's alerts (no court order in this test; broker_medication.py covers the
    # check): to cws and phn, each about a paid psychotropic claim, apart from the claims.
    exc = "medication-authorization-exception"
    psychotropic = {r["CLAIM_ID"] for r in rows if r["CLAIM_STATUS"] == "PAID" and r["PSYCHOTROPIC"] == "Y"}
    for name, got in (("cws", cws), ("phn", phn)):
        keys = [m.properties["niem-record-key"] for m in got if m.properties["niem-exchange"] == exc]
        check(all(k.startswith("MAE-") and k[4:k.rindex("-")] in psychotropic for k in keys) and
              (name == "phn" or keys),
              f"{name}'s medication alerts ({len(keys)}) are about paid psychotropic claims")
    alert_msgs = [m for m in cws + phn if m.properties["niem-exchange"] == exc]
    cws = [m for m in cws if m.properties["niem-exchange"] != exc]
    phn = [m for m in phn if m.properties["niem-exchange"] != exc]
    paid_plain = sorted(r["CLAIM_ID"] for r in rows
                        if r["CLAIM_STATUS"] == "PAID" and r["SUD_TREATMENT"] == "N")
    check(kinds(cws) == sorted(["pharmacy-claim"] * len(paid_plain) + ["pmap-application"] * len(pmaps))
          and sorted(m.properties["niem-record-key"] for m in cws
                     if m.properties["niem-exchange"] == "pharmacy-claim") == paid_plain,
          f"cws received the {len(paid_plain)} paid claims without SUD treatment, and every PMAP application")
    # DSA-004: only under an acknowledged consent covering phn (CNS-2026-100001, Medicaid id 95550001C).
    consented = sorted(r["CLAIM_ID"] for r in rows
                       if r["CLAIM_STATUS"] == "PAID" and r["MEDICAID_ID"] == "95550001C")
    check(sorted(m.properties["niem-record-key"] for m in phn) == consented,
          f"phn received only the {len(consented)} paid claims its consent covers")
    body_of = lambda m: bytes(m.body) if not isinstance(m.body, str) else m.body.encode()  # noqa: E731
    check(not school, "school (agreement expired) received nothing")
    non_sud = sorted(r["CLAIM_ID"] for r in rows if r["SUD_TREATMENT"] == "N")
    check(kinds(research) == sorted(["placement-notification"] * len(placements) +
                                    ["pharmacy-claim"] * len(non_sud)),
          f"research received {len(placements)} placements and the {len(non_sud)} claims without SUD treatment, de-identified")
    import re  # noqa: E402
    body_text = lambda m: body_of(m).decode("utf-8")  # noqa: E731
    check(all(not re.search(r"\d{4}-\d{2}-\d{2}", body_text(m)) and "PersonName" not in body_text(m)
              and "95550001C" not in body_text(m) and "PSN-" in body_text(m) for m in research),
          "no research document holds a name, a full date or a Medicaid id; each carries pseudonyms")
    check(all(b"PersonSSNIdentification" not in body_of(m) for m in medicaid + court),
          "no placement delivered to medicaid or the court carries the SSN")
    check(all(b"NPIIdentification" not in body_of(m) and b"Dispenser" not in body_of(m) for m in phn),
          "phn never sees an NPI")
    delivered = court + medicaid + cws + phn + research + alert_msgs
    for m in court + medicaid + cws + phn:
        if m.content_type != "application/xml":
            fail("delivered content type is not application/xml")
        for p in ("niem-exchange", "niem-source-agency", "niem-record-key", "niem-message-id"):
            if p not in m.properties:
                fail(f"delivered message lacks {p}")
        body = bytes(m.body) if not isinstance(m.body, str) else m.body.encode()
        if not body.startswith(b"<?xml"):
            fail("delivered body is not an XML document")
    check(True, "every delivery is an XML document with exchange, source agency, record key, message id")
    keys = {m.properties["niem-record-key"] for m in medicaid}
    check(keys == {__import__("json").loads(p)["event_id"] for p in placements},
          "record keys name the source records")

    # An oversized message is refused without being buffered whole: the session window stops it
    # at the limit, and it is rejected with NIEM-602 while still arriving (its link stays open).
    big = conn.create_sender("ingest/cws/placement")
    try:
        big.send(record_message("x" * (8 << 20), "application/json"), timeout=20)
        fail("an 8 MiB message was accepted")
    except (SendException, LinkDetached) as e:
        check("message-size-exceeded" in str(e) or isinstance(e, SendException),
              "an 8 MiB message is refused (limit 1 MiB)")
    except Exception as e:
        check("size" in str(e), f"an 8 MiB message is refused ({type(e).__name__})")
    # The rest of the refused transfer is dropped as it arrives and the session's window stays
    # open: a new link on the same connection (and session) gets its records accepted.
    after = conn.create_sender("ingest/cws/placement", name="after-oversized")
    try:
        after.send(record_message(placements[0], "application/json"), timeout=10)
        check(True, "after an oversized transfer, a new link on the same connection gets its outcome")
    except Exception as e:
        fail(f"after an oversized transfer, a record on a new link of the same connection got no outcome ({type(e).__name__}: {e})")
    after.close()
    rss_kb = int([l for l in open(f"/proc/{broker.proc.pid}/status") if l.startswith("VmHWM")][0].split()[1])
    print(f"info: broker peak RSS {rss_kb // 1024} MiB")

    # Addresses outside the scheme are refused.
    try:
        conn.create_sender("ingest/cws/pharmacy_claim")
        fail("cws could attach to a record type it does not publish")
    except LinkDetached as e:
        check("unauthorized" in str(e) or "not" in str(e), "publishing a record type an agency does not publish is refused")
    conn.close()
finally:
    rc = broker.stop()

check(rc == 0, "broker stops cleanly on SIGTERM")
log = open(os.path.join(tmp, "broker.log"), encoding="utf-8").read()
for needle in ("Ana", "de la Cruz", "900-11-2222", "95550001C", "Terry Nguyen"):
    if needle in log:
        fail(f"personal data '{needle}' appears in the broker log")
check(True, "no personal data in the broker log")

# The audit trail: one entry per decision, chained, and the accounting of disclosures.
import json  # noqa: E402
import subprocess  # noqa: E402
dsa = os.environ["NIEM_DSA_BIN"]
key = os.path.join(root, "config/demo-audit.key")
out = subprocess.run([dsa, "audit-verify", "--store", store, "--key-file", key],
                     capture_output=True, text=True)
check(out.returncode == 0 and "intact" in out.stdout, f"the audit trail verifies ({out.stdout.strip()})")
rows = store_query(store, "SELECT decision, recipient, reason, agreement, digest, message_id FROM audit")
deliver = [r for r in rows if r[0] == "deliver"]
check(len(deliver) == len(delivered), f"every delivery has its audit entry ({len(deliver)})")
digests = {(r[5], r[1]): r[4] for r in deliver}
import hashlib  # noqa: E402
check(all(digests.get((m.properties["niem-message-id"], m.properties["niem-recipient"])) ==
          hashlib.sha256(body_of(m)).hexdigest() for m in delivered),
      "each audit entry holds the SHA-256 of the bytes its recipient received")
withheld = {(r[1], r[2]) for r in rows if r[0] == "withhold"}
check(("school", "NIEM-503") in withheld and ("research", "NIEM-505") in withheld and ("oversight", "NIEM-510") in withheld and
      ("phn", "NIEM-506") in withheld and ("cws", "NIEM-505") in withheld,
      "withholdings are audited with their reasons (expired, level, no consent, condition)")
out = subprocess.run([dsa, "disclosures", "--store", store, "--person", "95550001C", "--format", "json"],
                     capture_output=True, text=True)
acc = json.loads(out.stdout)
check(out.returncode == 0 and {a["recipient"] for a in acc} == {"medicaid", "court", "cws", "phn", "research"},
      f"the accounting for Medicaid id 95550001C lists {len(acc)} disclosures to medicaid, court, cws, phn and research")
check(all(a["disclosed"] and a["purpose"] and a["agreement"] for a in acc),
      "each disclosure names its purpose, agreement and what was disclosed")
tampered = copy_store(store, tmp, "tampered")
store_exec(tampered, "UPDATE audit SET recipient = 'school' WHERE seq = 5")
out = subprocess.run([dsa, "audit-verify", "--store", tampered, "--key-file", key],
                     capture_output=True, text=True)
check(out.returncode == 1 and "entry 5" in out.stdout, "an edited audit entry is found by audit-verify")
check("NIEM-101" in log, "the dead-lettered record is logged with its code")
check('"msg":"oversized transfer refused","code":"NIEM-602"' in log,
      "the oversized message was stopped while still arriving, not buffered whole")
print("PASS")
