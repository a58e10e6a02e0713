"""Operations end to end: a placement dead-lettered by a broken mapping is found with niemctl,
replayed after the mapping is fixed (and the broker restarted), and reaches its subscriber; the
admin API answers with the right status codes per role; /metrics parses with the Prometheus
client's own parser and agrees with the traffic; every operator action is in the audit trail.

usage: broker_admin.py NIEM-BROKER PROJECT-ROOT   (NIEMCTL_BIN in the environment)"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from proton.utils import BlockingConnection, SendException

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, new_store, check, drain, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
niemctl = os.environ["NIEMCTL_BIN"]
tmp = tempfile.mkdtemp(prefix="niem-admin-")
viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()
operator = open(os.path.join(root, "config/demo-operator.token")).read().strip()

# The demo configuration with its own copy of the placement mapping, broken: RELATIVE_HOME is
# missing from its code table (as if an engineer had deleted the line).
mappings = os.path.join(tmp, "mappings")
shutil.copytree(os.path.join(root, "mappings"), mappings)
placement_mapping = os.path.join(mappings, "cws-placement/mapping.xml")
good_mapping = open(placement_mapping, encoding="utf-8").read()
broken = re.sub(r'\s*<map:code from="RELATIVE_HOME" to="Family"/>', "", good_mapping)
assert broken != good_mapping
open(placement_mapping, "w", encoding="utf-8").write(broken)
conf = open(os.path.join(root, "config/demo.xml"), encoding="utf-8").read()
conf = conf.replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
conf = conf.replace('"../mappings/', f'"{mappings}/')
conf = re.sub(r'(file|key-file|pseudonym-key-file)="(agreements/|demo-)',
              lambda m: f'{m.group(1)}="{root}/config/{m.group(2)}', conf)
# The copied mappings name their schemas relative to themselves.
for d in os.listdir(mappings):
    f = os.path.join(mappings, d, "mapping.xml")
    s = open(f, encoding="utf-8").read().replace('schema="../../schemas/', f'schema="{root}/schemas/')
    open(f, "w", encoding="utf-8").write(s)
config = os.path.join(tmp, "admin.xml")
open(config, "w", encoding="utf-8").write(conf)

store = new_store(tmp)
broker = Broker(binary, config, store, os.path.join(tmp, "broker.log")).start()


def http(method, path, token=None):
    req = urllib.request.Request(broker.admin_url + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def ctl(*args, token=operator):
    env = dict(os.environ, NIEMCTL_URL=broker.admin_url, NIEMCTL_TOKEN=token or "")
    return subprocess.run([niemctl, *args], capture_output=True, text=True, env=env)


records = [l for l in open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                           encoding="utf-8") if l.strip()]
relative = next(r for r in records if '"RELATIVE_HOME"' in r)
others = [r for r in records if r is not relative]
try:
    conn = BlockingConnection(broker.url, timeout=30)
    s = conn.create_sender("ingest/cws/placement")
    rejected = 0
    for r in records:
        try:
            s.send(record_message(r, "application/json"))
        except SendException:
            rejected += 1
    conn.close()
    check(rejected == 1, "the placement the broken mapping cannot convert is rejected")

    # Status codes and roles.
    check(http("GET", "/healthz")[0] == 200 and http("GET", "/readyz")[0] == 200,
          "/healthz and /readyz answer 200 without a token")
    status, body, headers = http("GET", "/api/queues")
    check(status == 401 and json.loads(body)["error"]["code"] == "unauthorized" and
          headers["WWW-Authenticate"] == "Bearer", "the API without a token: 401 with a JSON error")
    check(http("GET", "/api/queues", "wrong-token-wrong-token-wrong")[0] == 401, "a wrong token: 401")
    queues = json.loads(http("GET", "/api/queues", viewer)[1])
    depth = {q["recipient"]: q["depth"] for q in queues["queues"]}
    check(depth["medicaid"] == len(others) and depth["court"] == len(others),
          f"queues: medicaid and court hold the {len(others)} placements that mapped ({depth})")
    check(queues["dead_letters"] == 1, "one dead letter")
    # The conditions the broker evaluates: the dead letter of the broken mapping holds
    # NiemDeadLetters once two samples (every 5 s in the demo) bracket it; firing is bad news (1).
    deadline = time.time() + 30
    holding = []
    while time.time() < deadline:
        out = ctl("conditions", "--json", token=viewer)
        holding = json.loads(out.stdout)["holding"] if out.stdout else []
        if any(h["name"] == "NiemDeadLetters" for h in holding):
            break
        time.sleep(1)
    check(any(h["name"] == "NiemDeadLetters" and h["state"] == "firing" for h in holding) and
          out.returncode == 1, f"niemctl conditions: NiemDeadLetters firing, exit 1 ({holding})")
    out = ctl("conditions", token=viewer)
    check("NiemDeadLetters code=" in out.stdout, "niemctl conditions prints it as a table")

    # niemctl finds it, and why.
    out = ctl("dlq", "list", "--json", token=viewer)
    check(out.returncode == 0, f"niemctl dlq list ({out.stderr.strip()})")
    dl = json.loads(out.stdout)["dead_letters"][0]
    check(dl["code"] == "NIEM-106" and dl["agency"] == "cws", f"it is NIEM-106 (unknown code) from cws")
    out = ctl("dlq", "show", str(dl["id"]), token=viewer)
    check(out.returncode == 0 and "RELATIVE_HOME" in out.stdout and "placement.setting" in out.stdout,
          "niemctl dlq show names the field and the value the mapping did not know")
    check(ctl("queues", token=None).returncode == 3, "niemctl without a token exits 3")
    out = ctl("dlq", "replay", str(dl["id"]), token=viewer)
    check(out.returncode == 3 and "403" in out.stderr, "a viewer's replay is refused: 403, exit 3")
    # Replayed before the fix, it fails again (and says why).
    out = ctl("dlq", "replay", str(dl["id"]))
    check(out.returncode == 1 and "dead_lettered" in out.stdout and "NIEM-106" in out.stdout,
          "replayed before the fix: dead-lettered again, exit 1")
finally:
    broker.stop()

# The engineer fixes the mapping; the broker restarts with it; the operator replays.
open(placement_mapping, "w", encoding="utf-8").write(
    good_mapping.replace('schema="../../schemas/', f'schema="{root}/schemas/'))
broker.start()
try:
    out = ctl("dlq", "list", "--code", "NIEM-106", "--json", token=viewer)
    dl = json.loads(out.stdout)["dead_letters"][0]
    out = ctl("dlq", "replay", "--code", "NIEM-106")
    check(out.returncode == 0 and "accepted" in out.stdout and "medicaid" in out.stdout,
          f"after the fix the replay is accepted and queued ({out.stdout.strip()})")
    check(json.loads(http("GET", "/api/queues", viewer)[1])["dead_letters"] == 0,
          "the dead-letter queue is empty")
    conn = BlockingConnection(broker.url, timeout=30)
    got = drain(conn, "deliver/medicaid")
    conn.close()
    keys = sorted(m.properties["niem-record-key"] for m in got)
    check(len(got) == len(records) and json.loads(relative)["event_id"] in keys,
          "medicaid received every placement, the replayed one too")

    # The trace of the replayed message, from niemctl.
    out = ctl("trace", dl["message_id"], "--json", token=viewer)
    t = json.loads(out.stdout)
    check(t["recipients"].get("medicaid") == "accepted" and t["recipients"].get("school") == "withheld",
          f"trace: accepted by medicaid, withheld from school ({t['recipients']})")
    receipt = [a for a in t["accepted"] if a["recipient"] == "medicaid"]
    check(len(receipt) == 1 and receipt[0]["accepted_at"] >= t["received_at"] and receipt[0]["attempts"] == 0,
          f"the trace has medicaid's acceptance receipt, after the record arrived ({t['accepted']})")
    check(not any(a["recipient"] == "court" for a in t["accepted"]),
          "no receipt for the court, which has not taken its copy yet")
    out = ctl("trace", dl["message_id"], token=viewer)
    check(re.search(r"medicaid\s+accepted at 20\d\d-", out.stdout) is not None,
          f"niemctl trace prints when medicaid accepted ({out.stdout[-300:]})")
    by = [(d["provider"], d["decision"]) for d in t["decisions"]]
    check(("admin:demo-operator", "replay") in by, "the operator's replays are in the message's audit trail")
    out = ctl("audit", "verify", token=viewer)
    check(out.returncode == 0 and "intact" in out.stdout, "niemctl audit verify: intact")
    out = ctl("agreements", token=viewer)
    check(out.returncode == 0 and re.search(r"DSA-008@1.*expired", out.stdout),
          "niemctl agreements shows DSA-008 expired")
    out = ctl("disclosures", "--person", "95550001C", "--json", token=viewer)
    check(out.returncode == 0 and any(d["recipient"] == "medicaid" for d in json.loads(out.stdout)["disclosures"]),
          "niemctl disclosures lists the child's disclosures to medicaid")

    # Found again by the child's Medicaid id and by its key, with what became of it.
    child = json.loads(relative)["child"]["medicaid_id"]
    out = ctl("messages", "--person", child, "--recipient", "medicaid", "--json", token=viewer)
    found = json.loads(out.stdout)["messages"] if out.returncode == 0 else []
    check(any(m["message_id"] == dl["message_id"] for m in found),
          f"niemctl messages --person finds the replayed placement ({out.stderr.strip()})")
    out = ctl("messages", "--record-key", json.loads(relative)["event_id"], token=viewer)
    check(out.returncode == 0 and dl["message_id"] in out.stdout and "medicaid: accepted" in out.stdout,
          f"niemctl messages --record-key prints it, accepted by medicaid ({out.stdout[-300:]})")
    out = ctl("messages", "--status", "lost", token=viewer)
    check(out.returncode == 1 and "status is one of" in out.stderr,
          f"niemctl messages refuses an unknown status ({out.returncode}, {out.stderr.strip()})")

    # /metrics through the Prometheus client's parser, against the traffic.
    status, text, headers = http("GET", "/metrics")
    check(status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"),
          "/metrics is the Prometheus text format")
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    check(samples[("niem_queue_depth", (("queue", "medicaid"),))] == 0,
          "niem_queue_depth{queue=medicaid} is 0 after the drain")
    check(samples[("niem_queue_accepted_total", (("queue", "medicaid"),))] == len(records),
          f"niem_queue_accepted_total{{queue=medicaid}} is {len(records)}")
    check(samples[("niem_queue_depth", (("queue", "court"),))] == len(records),
          "niem_queue_depth{queue=court} counts what waits for the court")
    check(samples[("niem_withheld_total", (("code", "NIEM-503"), ("recipient", "school")))] >= 1,
          "withheld decisions by recipient and code (school: NIEM-503)")
    check(samples[("niem_ingest_to_delivery_seconds_count", ())] == len(records),
          "the ingest-to-delivery histogram counted each acceptance")
    check(samples[("niem_agency_connections", (("agency", "cws"),))] == 0,
          "per-agency connection state")
    check(samples[("niem_store_bytes", ())] > 0, "store size")

    # Pause and resume a subscriber's delivery.
    check(ctl("pause", "court", token=viewer).returncode == 3, "a viewer cannot pause delivery")
    out = ctl("pause", "court")
    check(out.returncode == 0 and "paused" in ctl("queues", token=viewer).stdout, "court paused")
    conn = BlockingConnection(broker.url, timeout=30)
    check(drain(conn, "deliver/court") == [], "nothing reaches a paused subscriber")
    conn.close()
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")

# A pause outlives a restart: the operator paused the court for a reason the restart did not fix.
broker.start()
try:
    t = json.loads(http("GET", "/api/queues", viewer)[1])
    check([q["recipient"] for q in t["queues"] if q["paused"]] == ["court"],
          "after a restart the court is still paused")
    conn = BlockingConnection(broker.url, timeout=30)
    check(drain(conn, "deliver/court") == [], "nothing reaches the court after the restart")
    check(ctl("resume", "court").returncode == 0, "court resumed")
    got = drain(conn, "deliver/court")
    conn.close()
    check(len(got) == len(records), f"after resume the court receives what waited ({len(got)})")
    t = json.loads(http("GET", "/api/queues", viewer)[1])
    check(not any(q["paused"] for q in t["queues"]), "no queue is paused")
finally:
    broker.stop()
# ...and so does a resume.
broker.start()
try:
    t = json.loads(http("GET", "/api/queues", viewer)[1])
    check(not any(q["paused"] for q in t["queues"]), "no queue is paused after the next restart")
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")
