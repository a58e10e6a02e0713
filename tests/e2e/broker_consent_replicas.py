"""Consent across replicas, as a property over random interleavings (DSA-003, 42 CFR Part 2).

Two niem-broker replicas share one PostgreSQL store, and each hears of the other's commits
NIEM_FAULT_LISTEN_DELAY_MS (400) late, as from a slow listener: a broker that relied on those
notifications alone would decide on a stale consent registry. A seeded random sequence of steps
runs against them, each on a replica drawn at random and each waiting for its outcome: grant a
new consent to cws for the child's SUD claims, revoke the consent in force, publish an SUD
claim, or receive what waits for cws (the subscriber attaches to either replica, so the
delivering replica changes too). Then, for every claim:
- never a delivery after a committed revocation: a claim received in a step that began after the
  revocation of the consent it relied on was settled is a violation;
- never a withholding once a consent is committed before the claim: the first decision for cws
  of a claim published under a consent in force is a delivery under that consent, and a claim
  published with none in force is withheld (NIEM-506/507) and never received;
- nothing lost: a claim whose consent was never revoked is received exactly once;
- the audit chain verifies.

usage: broker_consent_replicas.py NIEM-BROKER PROJECT-ROOT [STEPS] [SEEDS...]
       (60 steps; seeds 1 2 3; a seed of 0 draws one and prints it)"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import (backend, Broker, check, fail, new_store, record_message,  # noqa: E402
                            stamp, store_query)

binary, root = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 60
seeds = [int(s) for s in sys.argv[4:]] or [1, 2, 3]
if backend() != "postgres":
    fail("replicas share a PostgreSQL store: run with NIEM_TEST_STORE=postgres")
os.environ.setdefault("NIEM_FAULT_LISTEN_DELAY_MS", "400")
ex = lambda *p: os.path.join(root, "mappings", *p)  # noqa: E731

placement = json.loads(open(ex("cws-placement/examples/placements.ndjson"),
                            encoding="utf-8").readline())
placement["event_id"] = "CWS-EVT-PROP-1"
placement["child"]["client_id"] = "CWS-7007-0077"
placement["child"]["medicaid_id"] = "95557077Q"
claim_lines = [l.rstrip("\r\n") for l in open(ex("mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"),
                                               encoding="utf-8") if l.strip()]
header, rows = claim_lines[0], claim_lines[1:]
cols = header.split("|")
sud_row = next(dict(zip(cols, r.split("|"))) for r in rows
               if r.split("|")[cols.index("SUD_TREATMENT")] == "Y")


def sud_claim(claim_id):
    r = dict(sud_row, CLAIM_ID=claim_id, MEDICAID_ID="95557077Q", CLAIM_STATUS="PAID")
    return header + "\n" + "|".join(r[c] for c in cols)


def consent(consent_id, revoked=False):
    c = {"record_type": "consent", "consent_id": consent_id, "record_id": consent_id + "-1",
         "status": "ACTIVE", "subject": {"client_id": "CWS-7007-0077"},
         "grantor": {"role": "YOUTH", "name": "Test Youth"}, "recipient": "cws",
         "purposes": ["OVERSIGHT"], "data_categories": ["SUD"], "effective_date": "2026-01-01",
         "expiration_date": "2099-12-31", "disclosure_acknowledged": True}
    if revoked:
        c.update(record_id=consent_id + "-2", status="REVOKED",
                 revoked_at="2026-11-01T09:00:00-08:00")
    return json.dumps(c)


def publish(conn, address, body, ct):
    """Returns once the broker settled the record accepted (committed): raises otherwise."""
    s = conn.create_sender(address)
    try:
        s.send(record_message(body, ct))
    finally:
        s.close()


def receive(conn, silence):
    """Accepts what waits for cws at this replica until `silence` seconds pass with nothing."""
    r = conn.create_receiver("deliver/cws", credit=50)
    got = []
    while True:
        try:
            m = r.receive(timeout=silence)
        except Exception:
            break
        got.append(m.properties["niem-record-key"])
        r.accept()
    r.close()
    return got


def run(seed):
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix=f"niem-consent-replicas-{seed}-")
    store = new_store(tmp, f"consent_replicas_{seed}")
    conf = os.path.join(root, "config/demo.xml")
    brokers = [Broker(binary, conf, store, os.path.join(tmp, f"{n}.log")).start() for n in "ab"]
    conns = [BlockingConnection(b.url, timeout=30) for b in brokers]
    active = None            # the consent in force (its id), if any
    revoked_at = {}          # consent id -> the step whose revocation was settled
    under = {}               # claim key -> the consent in force when it was published (or None)
    received = {}            # claim key -> the steps it was received in
    consents = 0
    try:
        publish(conns[0], "ingest/cws/placement", json.dumps(placement), "application/json")
        for step in range(steps):
            at = rng.randrange(2)
            kind = rng.choices(["grant", "revoke", "claim", "receive"], [2, 2, 4, 2])[0]
            if kind == "grant" and active is None:
                consents += 1
                active = f"CNS-PROP-{seed}-{consents}"
                publish(conns[at], "ingest/cws/consent", consent(active), "application/json")
            elif kind == "revoke" and active is not None:
                publish(conns[at], "ingest/cws/consent", consent(active, revoked=True),
                        "application/json")
                revoked_at[active] = step
                active = None
            elif kind == "claim":
                key = f"RX-PROP-{seed}-{step:03d}"
                publish(conns[at], "ingest/medicaid/pharmacy_claim", sud_claim(key), "text/csv")
                under[key] = active
            elif kind == "receive":
                for key in receive(conns[at], 1.5):
                    received.setdefault(key, []).append(step)
            else:
                continue
            print(f"  step {step}: {kind} at {'ab'[at]}", flush=True)
        # What is still queued, from whichever replica.
        deadline = time.time() + 60
        last = steps
        while time.time() < deadline:
            got = receive(conns[last % 2], 3)
            for key in got:
                received.setdefault(key, []).append(steps)
            if not got:
                break
            last += 1
    finally:
        for c in conns:
            c.close()
        rcs = [b.stop() for b in brokers]
    check(rcs == [0, 0], f"seed {seed}: both replicas stop cleanly")

    stamp(f"seed {seed}: {len(under)} claims, {consents} consents, {len(revoked_at)} revocations, "
          f"{sum(len(v) for v in received.values())} deliveries")
    for key, at_steps in received.items():
        c = under.get(key)
        if c is None:
            fail(f"seed {seed}: {key} was published with no consent in force and reached cws")
        if c in revoked_at and any(s > revoked_at[c] for s in at_steps):
            fail(f"seed {seed}: {key} reached cws in step {max(at_steps)}, after {c} was revoked "
                 f"in step {revoked_at[c]}")
        if len(at_steps) != 1:
            fail(f"seed {seed}: {key} reached cws {len(at_steps)} times")
    check(True, f"seed {seed}: no claim reached cws after its consent's revocation was committed, "
                f"none without a consent, none twice")
    first = {}
    for key, decision, reason, cns in store_query(
            store, "SELECT record_key, decision, reason, consent FROM audit WHERE recipient = 'cws' "
                   "AND record_key LIKE 'RX-PROP-%' ORDER BY seq"):
        first.setdefault(key, (decision, reason, cns))
    for key, c in under.items():
        got = first.get(key)
        if c is not None and got != ("deliver", "", c):
            fail(f"seed {seed}: {key} was published under {c} in force and decided {got}")
        if c is None and (got is None or got[0] != "withhold" or got[1] not in ("NIEM-506", "NIEM-507")):
            fail(f"seed {seed}: {key} was published with no consent in force and decided {got}")
    check(True, f"seed {seed}: every claim was decided on every consent and revocation committed "
                f"before it, whichever replica committed it")
    lost = [k for k, c in under.items() if c is not None and c not in revoked_at and k not in received]
    check(not lost, f"seed {seed}: every claim whose consent still holds reached cws ({lost[:3]})")
    withdrawn = {k for (k,) in store_query(
        store, "SELECT record_key FROM audit WHERE recipient = 'cws' AND decision = 'withhold' "
               "AND reason = 'NIEM-507' AND record_key LIKE 'RX-PROP-%'")}
    unsent = [k for k, c in under.items() if c is not None and k not in received]
    check(all(k in withdrawn for k in unsent),
          f"seed {seed}: each of the {len(unsent)} claims not delivered was withdrawn and audited "
          f"NIEM-507")
    out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", store, "--key-file",
                          os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
    check(out.returncode == 0, f"seed {seed}: the audit chain verifies ({out.stdout.strip()})")


for seed in seeds:
    if seed == 0:
        seed = random.SystemRandom().randrange(1, 1 << 30)
    stamp(f"seed {seed}: {steps} steps on two replicas")
    run(seed)
print("PASS")
