"""The DSA-009 aggregate report end to end: the oversight committee never receives a record;
placements and paid psychotropic claims of the last due quarter are counted; the broker queues the
quarterly report (an aggregate-report NIEM document) once, with small counts suppressed (primary
and complementary); `niem-dsa report` gives the same counts on demand; the delivery is audited.

usage: broker_report.py NIEM-BROKER PROJECT-ROOT"""
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, drain, new_store, record_message, store_query  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
dsa = os.environ["NIEM_DSA_BIN"]
tmp = tempfile.mkdtemp(prefix="niem-report-")
store = new_store(tmp)
# The demo configuration, looking for due reports at start-up (not 5 minutes later).
conf = open(os.path.join(root, "config/demo.xml"), encoding="utf-8").read()
conf = conf.replace('"../', f'"{root}/').replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
conf = re.sub(r'(file|key-file|pseudonym-key-file)="(agreements/|demo-)',
              lambda m: f'{m.group(1)}="{root}/config/{m.group(2)}', conf)
open(os.path.join(tmp, "later.xml"), "w", encoding="utf-8").write(conf)
conf = conf.replace("<admin ", '<reports start-delay-seconds="0"/>\n  <admin ', 1)
open(os.path.join(tmp, "now.xml"), "w", encoding="utf-8").write(conf)
# First the default: the first look for due reports waits 5 minutes after start-up, so that a
# backlog is counted before the report is made.
broker = Broker(binary, os.path.join(tmp, "later.xml"), store,
                os.path.join(tmp, "broker.log")).start()
ex = lambda *p: os.path.join(root, "mappings", *p)  # noqa: E731

# The quarter whose report is due today (DSA-009: 15 days after the quarter ends).
day = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=15)
q = (day.month - 1) // 3
year, q = (day.year, q) if q > 0 else (day.year - 1, 4)
start = datetime.date(year, 3 * (q - 1) + 1, 1)
end = (datetime.date(year + (q == 4), (3 * q) % 12 + 1, 1) - datetime.timedelta(days=1))
label = f"{year}-Q{q}"
fill = (start + datetime.timedelta(days=20)).strftime("%Y%m%d")

template = json.loads(open(ex("cws-placement/examples/placements.ndjson"), encoding="utf-8").readline())
claims = [l.rstrip("\r\n") for l in open(ex("mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"),
                                          encoding="utf-8") if l.strip()]
header, cols = claims[0], claims[0].split("|")
row = dict(zip(cols, claims[1].split("|")))


def placement(n, fips, medicaid):
    rec = json.loads(json.dumps(template))
    rec["event_id"] = f"CWS-EVT-RPT-{fips}-{n}"
    rec["event_type"] = "PLACEMENT_START"
    rec["county_fips"] = fips
    rec["child"]["client_id"] = f"CWS-{fips[1:]}-{n:04d}"
    rec["child"]["medicaid_id"] = medicaid
    rec["placement"]["placement_id"] = f"PL-RPT-{fips}-{n}"
    rec["placement"]["begin_date"] = start.isoformat()
    rec["placement"].pop("end_date", None)
    rec["removal"] = {"date": start.isoformat(), "reason_codes": ["NEGLECT"]}
    return json.dumps(rec)


def claim(claim_id, medicaid, klass, psychotropic="Y", status="PAID"):
    r = dict(row, CLAIM_ID=claim_id, MEDICAID_ID=medicaid, FILL_DATE=fill, THERAPEUTIC_CLASS=klass,
             PSYCHOTROPIC=psychotropic, SUD_TREATMENT="N", CLAIM_STATUS=status)
    return header + "\n" + "|".join(r[c] for c in cols)


try:
    conn = BlockingConnection(broker.url, timeout=30)
    pl = conn.create_sender("ingest/cws/placement")
    rx = conn.create_sender("ingest/medicaid/pharmacy_claim")
    for i in range(26):
        m = f"9300{i:04d}A"
        pl.send(record_message(placement(i, "06037", m), "application/json"))
        if i < 14:
            rx.send(record_message(claim(f"RX-RPT-A{i}", m, "ANTIPSYCHOTIC"), "text/csv"))
        if i < 12:
            rx.send(record_message(claim(f"RX-RPT-B{i}", m, "ADHD AGENT"), "text/csv"))
    for i in range(12):
        m = f"9400{i:04d}B"
        pl.send(record_message(placement(i, "06001", m), "application/json"))
        if i < 3:
            rx.send(record_message(claim(f"RX-RPT-C{i}", m, "ADHD AGENT"), "text/csv"))
    # Not counted: a denied claim and a drug that is not psychotropic.
    rx.send(record_message(claim("RX-RPT-X1", "93000000A", "ANTIPSYCHOTIC", status="DENIED"), "text/csv"))
    rx.send(record_message(claim("RX-RPT-X2", "93000001A", "ANTIBIOTIC", psychotropic="N"), "text/csv"))
    got = drain(conn, "deliver/oversight")
    check(got == [], "oversight receives no record (each is withheld, NIEM-510, and counted)")
    conn.close()
finally:
    broker.stop()

# A look for due reports (here: at the restart) finds the quarter due and counted, and queues
# its report.
broker = Broker(binary, os.path.join(tmp, "now.xml"), store, os.path.join(tmp, "broker.log"))
broker.start()
try:
    conn = BlockingConnection(broker.url, timeout=30)
    got = drain(conn, "deliver/oversight")
    conn.close()
finally:
    broker.stop()
check(len(got) == 1, f"the {label} report reached oversight ({len(got)} message)")
m = got[0]
check(m.properties["niem-exchange"] == "aggregate-report" and
      m.properties["niem-record-key"] == f"DSA-009@1/{label}", "as an aggregate-report document")
body = m.body if isinstance(m.body, str) else bytes(m.body).decode()
ns = {"ext": "http://example.gov/niem-broker/extension/1.0/",
      "nc": "http://release.niem.gov/niem/niem-core/5.0/"}
doc = ET.fromstring(body)


def count(el):
    v = el.find("ext:ReportCountValue", ns)
    return int(v.text) if v is not None else el.find("ext:ReportCountSuppressionCode", ns).text


def area(el):
    out = {"foster": count(el.find("ext:FosterCareChildCount", ns))
           if el.find("ext:FosterCareChildCount", ns) is not None else None}
    for k in el.findall("ext:TherapeuticClassStatistics", ns):
        out[k.find("ext:DrugTherapeuticClassText", ns).text] = count(k.find("ext:PsychotropicFillChildCount", ns))
    return out


state = area(doc.find("ext:StatewideStatistics", ns))
counties = {c.find("ext:CountyFIPSCode", ns).text: area(c) for c in doc.findall("ext:CountyStatistics", ns)}
check(doc.find("ext:ReportPeriod/nc:StartDate/nc:Date", ns).text == start.isoformat() and
      doc.find("ext:ReportPeriod/nc:EndDate/nc:Date", ns).text == end.isoformat(), f"it covers {start}..{end}")
check(state == {"foster": 38, "ADHD AGENT": 15, "ANTIPSYCHOTIC": 14},
      f"statewide: 38 children in care, 15 ADHD, 14 antipsychotic ({state})")
check(counties["06001"] == {"foster": 12, "ADHD AGENT": "PRIMARY", "ANTIPSYCHOTIC": "PRIMARY"},
      "06001's 3 and 0 are suppressed (below 11)")
check(counties["06037"] == {"foster": 26, "ADHD AGENT": "COMPLEMENTARY", "ANTIPSYCHOTIC": "COMPLEMENTARY"},
      "06037's 12 and 14 are suppressed too: the state totals would give the small ones away")
for needle in ("9300", "9400", "CWS-", "RX-RPT"):
    check(needle not in body, f"nothing child-level in the report ('{needle}')")

# On demand: the same counts for the same quarter.
out = subprocess.run([dsa, "report", "--store", store, "--agreement",
                      os.path.join(root, "config/agreements/DSA-009.xml"), "--period", label,
                      "--format", "json"], capture_output=True, text=True)
check(out.returncode == 0, f"niem-dsa report runs ({out.stderr.strip()})")
j = json.loads(out.stdout)
check(j["state"]["foster_care"] == {"count": 38} and
      {c["class"]: c["children"] for c in j["state"]["classes"]} ==
      {"ADHD AGENT": {"count": 15}, "ANTIPSYCHOTIC": {"count": 14}},
      "niem-dsa report gives the same statewide counts")
out = subprocess.run([dsa, "report", "--store", store, "--agreement",
                      os.path.join(root, "config/agreements/DSA-001.xml"), "--period", label],
                     capture_output=True, text=True)
check(out.returncode == 1 and "only aggregate agreements" in out.stderr,
      "an identifiable agreement has no report (exit 1)")

# Audited: one delivery to oversight, under DSA-009, with the report's digest; the chain holds.
rows = store_query(store, "SELECT decision, agreement, purpose, digest, subjects FROM audit "
                         "WHERE recipient = 'oversight' AND exchange = 'aggregate-report'")
check(len(rows) == 1 and rows[0][:3] == ("deliver", "DSA-009@1", "PUBLIC_REPORTING") and
      len(rows[0][3]) == 64 and rows[0][4] == "", "the report's delivery is audited (no child named)")
withheld = store_query(store, "SELECT count(*) FROM audit WHERE recipient = 'oversight' AND "
                             "reason = 'NIEM-510'")[0][0]
# 38 placements, 29 counted claims, and the 29 medication alerts those claims raised (no court
# order in this test), each counted for the report's unresolved alerts.
check(withheld == 38 + 29 + 29, f"every counted record's withholding is audited ({withheld})")
out = subprocess.run([dsa, "audit-verify", "--store", store, "--key-file",
                      os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
check(out.returncode == 0, "the audit trail verifies")

# Once per quarter: a third start queues nothing more.
broker.start()
try:
    conn = BlockingConnection(broker.url, timeout=30)
    again = drain(conn, "deliver/oversight")
    conn.close()
finally:
    broker.stop()
check(again == [], "a restart does not queue the report again")
