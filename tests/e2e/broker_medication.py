"""The medication authorization check end to end (medication-oversight.md, DSA-012, DSA-013), on the
demo configuration: a foster child's psychotropic claim with no court authorization raises one
alert to cws (whole) and phn (without the prescriber's NPI and the client number), naming the
county of the child's placement on the fill date; an application then an order covering it resolve
the alert, and the resolution follows to both; after a restart the same claim sent again raises
nothing; an overdose raises OVER_MAXIMUM_DOSE with the computed dose and the maximum; an alert about
a substance use disorder claim is withheld without the child's consent and carries the 42 CFR 2.32
notice under it; every decision is audited as a disclosure by the exchange; the trail verifies.

usage: broker_medication.py NIEM-BROKER PROJECT-ROOT"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, drain, new_store, record_message, store_query  # noqa: E402
from medication_records import Child  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-medication-")
store = new_store(tmp)
broker = Broker(binary, os.path.join(root, "config/demo.xml"), store,
                os.path.join(tmp, "broker.log")).start()
EXCEPTION = "medication-authorization-exception"
CLIENT, MEDICAID = "CWS-8008-0008", "95558008Z"
child = Child(root, CLIENT, MEDICAID, "06037", "MED")
claim = child.claim


def publish(conn, address, body, ct):
    s = conn.create_sender(address)
    s.send(record_message(body, ct))
    s.close()


def notices(conn, recipient):
    """The exception documents waiting for `recipient`, by record key (others are accepted)."""
    out = {}
    for m in drain(conn, "deliver/" + recipient):
        if m.properties.get("niem-exchange") == EXCEPTION:
            body = m.body if isinstance(m.body, str) else bytes(m.body).decode("utf-8")
            check(m.properties.get("niem-source-agency") == "exchange",
                  f"{recipient}'s notice {m.properties['niem-record-key']} comes from the exchange")
            out[m.properties["niem-record-key"]] = body
    return out


try:
    conn = BlockingConnection(broker.url, timeout=20)
    publish(conn, "ingest/cws/placement", child.placement(), "application/json")
    publish(conn, "ingest/medicaid/pharmacy_claim", claim("RX-MED-1"), "text/csv")
    cws, phn = notices(conn, "cws"), notices(conn, "phn")
    check(sorted(cws) == ["MAE-RX-MED-1-NO_AUTHORIZATION"] and sorted(phn) == sorted(cws),
          "a claim no order or application covers raises one NO_AUTHORIZATION alert to cws and phn")
    a_cws, a_phn = cws["MAE-RX-MED-1-NO_AUTHORIZATION"], phn["MAE-RX-MED-1-NO_AUTHORIZATION"]
    check("<ext:CountyFIPSCode>06037</ext:CountyFIPSCode>" in a_cws,
          "the alert names the county of the child's placement on the fill date")
    check(CLIENT in a_cws and "1234567893" in a_cws and MEDICAID in a_cws,
          "cws receives the whole alert (client number, prescriber NPI, Medicaid id) under DSA-012")
    check(CLIENT not in a_phn and "1234567893" not in a_phn and MEDICAID in a_phn and
          "GUANFACINE ER" in a_phn,
          "phn receives it without the prescriber's NPI and the client number under DSA-013")

    # The application (filed before the fill) makes the claim pending: nothing new is sent.
    publish(conn, "ingest/pmap-portal/pmap_application", child.application(), "application/json")
    check(notices(conn, "cws") == {}, "an application for the medication raises nothing new")
    # The order authorizes it: the alert is resolved, naming the order, to both recipients.
    publish(conn, "ingest/court/pmap_order", child.order(), "application/json")
    cws, phn = notices(conn, "cws"), notices(conn, "phn")
    key = "MAE-RX-MED-1-NO_AUTHORIZATION-RESOLVED"
    check(sorted(cws) == [key] and sorted(phn) == [key],
          "the order covering the pending claim resolves the alert, to cws and phn")
    check("<nc:IdentificationID>JV223-MED-1</nc:IdentificationID>" in cws[key] and
          "<nc:IdentificationID>MAE-RX-MED-1-NO_AUTHORIZATION</nc:IdentificationID>" in cws[key],
          "the resolution names the alert it resolves and the covering order")
    conn.close()
finally:
    broker.stop()

broker.start()
try:
    conn = BlockingConnection(broker.url, timeout=20)
    # The first claim sent again after the restart: a duplicate, and no notice twice.
    publish(conn, "ingest/medicaid/pharmacy_claim", claim("RX-MED-1"), "text/csv")
    # 1 MG x 150 / 30 = 5 mg a day against the order's 4 mg.
    publish(conn, "ingest/medicaid/pharmacy_claim",
            claim("RX-MED-2", FILL_DATE="20260701", QUANTITY="150"), "text/csv")
    # A substance use disorder claim (another drug, never authorized), no consent for it.
    publish(conn, "ingest/medicaid/pharmacy_claim",
            claim("RX-MED-3", FILL_DATE="20260701", NDC="12496-1208-03",
                  DRUG_NAME="BUPRENORPHINE", STRENGTH="8 MG", DOSE_FORM="FILM",
                  SUD_TREATMENT="Y"), "text/csv")
    cws, phn = notices(conn, "cws"), notices(conn, "phn")
    check(sorted(cws) == ["MAE-RX-MED-2-OVER_MAXIMUM_DOSE"] and sorted(phn) == sorted(cws),
          "after the restart: one OVER_MAXIMUM_DOSE alert; the resent claim raises nothing; "
          "the SUD claim's alert reaches nobody without consent")
    doc = cws["MAE-RX-MED-2-OVER_MAXIMUM_DOSE"]
    check("<ext:ComputedDailyDoseText>5 mg</ext:ComputedDailyDoseText>" in doc and
          "<ext:AuthorizedMaximumDailyDoseText>4 mg</ext:AuthorizedMaximumDailyDoseText>" in doc,
          "the overdose alert carries the computed daily dose and the authorized maximum")

    # The child's consent for cws (SUD, OVERSIGHT); the SUD alert, replayed for cws, now flows with
    # the 42 CFR 2.32 notice.
    consent = {"record_type": "consent", "consent_id": "CNS-MED-1", "record_id": "CNS-MED-1-1",
               "status": "ACTIVE", "subject": {"client_id": CLIENT},
               "grantor": {"role": "YOUTH", "name": "Test Youth"}, "recipient": "cws",
               "purposes": ["OVERSIGHT"], "data_categories": ["SUD"],
               "effective_date": "2026-01-01", "expiration_date": "2099-12-31",
               "disclosure_acknowledged": True}
    publish(conn, "ingest/cws/consent", json.dumps(consent), "application/json")
    publish(conn, "ingest/medicaid/pharmacy_claim",
            claim("RX-MED-4", FILL_DATE="20260702", NDC="12496-1208-03",
                  DRUG_NAME="BUPRENORPHINE", STRENGTH="8 MG", DOSE_FORM="FILM",
                  SUD_TREATMENT="Y"), "text/csv")
    cws, phn = notices(conn, "cws"), notices(conn, "phn")
    check(sorted(cws) == ["MAE-RX-MED-4-NO_AUTHORIZATION"] and phn == {},
          "under the child's consent for cws the SUD alert reaches cws only")
    check("42CFRPart2" in cws["MAE-RX-MED-4-NO_AUTHORIZATION"] and
          "42 CFR part 2" in cws["MAE-RX-MED-4-NO_AUTHORIZATION"],
          "the SUD alert carries the 42 CFR 2.32 notice and security label")

    # The alert withheld from cws before the consent, replayed for cws by an operator: decided
    # again under today's consent, it is delivered.
    operator = open(os.path.join(root, "config/demo-operator.token")).read().strip()
    withheld_msg = store_query(store, "SELECT message_id FROM audit WHERE record_key = "
                                      "'MAE-RX-MED-3-NO_AUTHORIZATION' AND recipient = 'cws'")[0][0]
    req = urllib.request.Request(
        f"{broker.admin_url}/api/messages/{withheld_msg}/replay?recipient=cws", method="POST",
        headers={"Authorization": "Bearer " + operator})
    with urllib.request.urlopen(req, timeout=30) as r:
        replayed = json.loads(r.read())
    check(replayed.get("outcome") == "accepted", f"the withheld alert is replayed for cws ({replayed})")
    got = notices(conn, "cws")
    check(sorted(got) == ["MAE-RX-MED-3-NO_AUTHORIZATION"] and "42CFRPart2" in got[
          "MAE-RX-MED-3-NO_AUTHORIZATION"],
          "replayed under the consent, the SUD alert reaches cws with the Part 2 notice")
    conn.close()

    # Operations: the open alerts (API, niemctl), a claim's trace, /metrics.
    viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()

    def api(path):
        req = urllib.request.Request(broker.admin_url + path,
                                     headers={"Authorization": "Bearer " + viewer})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode("utf-8")

    open_alerts = json.loads(api("/api/alerts"))["alerts"]
    check([a["alert"] for a in open_alerts] == ["MAE-RX-MED-2-OVER_MAXIMUM_DOSE",
                                                "MAE-RX-MED-3-NO_AUTHORIZATION",
                                                "MAE-RX-MED-4-NO_AUTHORIZATION"] and
          all(a["county"] == "06037" for a in open_alerts),
          "/api/alerts lists the open alerts with their county, the resolved one not")
    check(MEDICAID not in json.dumps(open_alerts) and "GUANFACINE" not in json.dumps(open_alerts),
          "the open alerts name no child and no drug")
    only = json.loads(api("/api/alerts?county=06037&outcome=OVER_MAXIMUM_DOSE"))["alerts"]
    check([a["alert"] for a in only] == ["MAE-RX-MED-2-OVER_MAXIMUM_DOSE"],
          "filtered by county and outcome")
    env = dict(os.environ, NIEMCTL_URL=broker.admin_url, NIEMCTL_TOKEN=viewer)
    out = subprocess.run([os.environ["NIEMCTL_BIN"], "alerts", "--outcome", "NO_AUTHORIZATION"],
                         capture_output=True, text=True, env=env)
    check(out.returncode == 0 and "MAE-RX-MED-3-NO_AUTHORIZATION" in out.stdout and
          "MAE-RX-MED-2" not in out.stdout, "niemctl alerts lists them, filtered by outcome")
    claim_msg = store_query(store, "SELECT message_id FROM audit WHERE record_key = 'RX-MED-1' "
                                   "AND provider = 'medicaid' LIMIT 1")[0][0]
    trace = json.loads(api(f"/api/messages/{claim_msg}/trace"))
    mc = trace["medication_check"]
    check(mc["outcome"] == "AUTHORIZED" and
          [(a["alert"], a["resolved"]) for a in mc["alerts"]] ==
          [("MAE-RX-MED-1-NO_AUTHORIZATION-RESOLVED", True)],
          "a claim's trace shows the check's outcome and the alert it raised, resolved")
    out = subprocess.run([os.environ["NIEMCTL_BIN"], "trace", claim_msg],
                         capture_output=True, text=True, env=env)
    check("medication check: AUTHORIZED" in out.stdout, "niemctl trace shows it too")
    metrics = api("/metrics")
    check('niem_medication_notices_total{kind="alert",outcome="OVER_MAXIMUM_DOSE"} 1' in metrics and
          'niem_medication_checks_total{outcome="NO_AUTHORIZATION"}' in metrics,
          "/metrics counts the check's outcomes and notices")
finally:
    rc = broker.stop()
check(rc == 0, "broker stops cleanly")

counted = store_query(store, "SELECT count(*), count(DISTINCT record_key) FROM audit WHERE "
                             "provider = 'exchange' AND recipient = 'oversight' AND "
                             "reason = 'NIEM-510' AND agreement = 'DSA-009@1'")
check(counted in ([(5, 5)], [("5", "5")]),
      "every notice (4 alerts, two about SUD claims, and 1 resolution) is counted once for "
      "DSA-009, never delivered to oversight")
audit = store_query(store, "SELECT record_key, recipient, decision, reason, agreement FROM audit "
                           "WHERE provider = 'exchange' AND recipient <> 'oversight' ORDER BY seq")
by = {}
for key, recipient, decision, reason, agreement in audit:
    by.setdefault(key, []).append((recipient, decision, reason, agreement))
check(sorted(by.get("MAE-RX-MED-1-NO_AUTHORIZATION", [])) ==
      [("cws", "deliver", "", "DSA-012@1"), ("phn", "deliver", "", "DSA-013@1")],
      "each alert's disclosure is audited under its agreement, provider 'exchange'")
withheld = sorted(r for r, d, _, _ in by.get("MAE-RX-MED-3-NO_AUTHORIZATION", []) if d == "withhold")
check(withheld == ["cws", "phn"], "the SUD alert without consent is audited as withheld for both")
delivered_twice = [(k, r) for k, v in by.items() for r in ("cws", "phn")
                   if sum(1 for x in v if x[0] == r and x[1] == "deliver") > 1]
check(len([k for k in by if k.startswith("MAE-RX-MED-1-")]) == 2 and not delivered_twice and
      all({x[0] for x in v} == {"cws", "phn"} for v in by.values()),
      "every notice was decided for cws and phn and delivered at most once to each, across the "
      "restart, the resent claim and the replay")
owed = store_query(store, "SELECT count(*) FROM facts WHERE kind = 'medication.notice' AND key NOT IN "
                          "(SELECT key FROM facts WHERE kind = 'medication.sent')")
check(owed == [(0,)] or owed == [("0",)], "no notice is left owed")
# DSA-009 on demand for this quarter (the alerts were raised today): the unresolved alerts by
# county and outcome, each of one child and so suppressed; RX-MED-1's alert was resolved.
today = datetime.datetime.now(datetime.timezone.utc).date()
quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
out = subprocess.run([os.environ["NIEM_DSA_BIN"], "report", "--store", store, "--agreement",
                      os.path.join(root, "config/agreements/DSA-009.xml"), "--period", quarter,
                      "--format", "json"], capture_output=True, text=True)
check(out.returncode == 0, f"niem-dsa report answers for {quarter} ({out.stderr.strip()})")
report = json.loads(out.stdout)
la = next(c for c in report["counties"] if c.get("county") == "06037")
check(sorted(e["outcome"] for e in la["unresolved_exceptions"]) ==
      ["NO_AUTHORIZATION", "OVER_MAXIMUM_DOSE"] and
      all(e["children"] == {"suppressed": "primary"} for e in la["unresolved_exceptions"]),
      "the DSA-009 report counts the county's unresolved alerts by outcome, small counts suppressed")
# niem-dsa explain on a claim, from the store: the order covered it, with the dose over its maximum.
out = subprocess.run([os.environ["NIEM_DSA_BIN"], "explain", "--store", store, "--claim", "RX-MED-2"],
                     capture_output=True, text=True)
check(out.returncode == 0 and "outcome OVER_MAXIMUM_DOSE" in out.stdout and
      "JV223-MED-1" in out.stdout and "daily dose 5 mg exceeds the maximum 4 mg" in out.stdout and
      "PMAP-MED-1" in out.stdout and "ruled on by order JV223-MED-1" in out.stdout,
      "niem-dsa explain --claim says which order and application were considered, and why"
      + ("" if out.returncode == 0 else f" ({out.stderr.strip()})"))
out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", store, "--key-file",
                      os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
check(out.returncode == 0, f"the audit trail verifies ({out.stdout.strip()})")
print("PASS")
