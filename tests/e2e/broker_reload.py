"""Hot reload end to end: the demo configuration with its own copy of the agreements.
- DSA-001 (cws to medicaid) amended to drop the caseworker's telephone: after SIGHUP the next placement reaches
  medicaid without it, while the AMQP connection stays open; the audit trail names the
  agreement version of each decision.
- Records stream while the agreement is changed back and forth by several reloads: every
  document medicaid receives matches the agreement version its audit entry names (no record is
  decided under half of one set and half of another).
- A broken agreement: `niemctl reload` exits 1 naming the file and line, POST /api/reload answers
  422, nothing changes and the running set still delivers; a viewer may not reload (403).
- DSA-001 given a past end date, then removed from the configuration: the next record for
  medicaid is withheld (NIEM-503, then NIEM-501).
- Every reload and refusal is in the audit trail, and the chain verifies.

usage: broker_reload.py NIEM-BROKER PROJECT-ROOT   (NIEMCTL_BIN, NIEM_DSA_BIN in the environment)
The running versions: `niemctl config`, and each disclosure's in `niem-dsa disclosures`."""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, drain, fail, new_store, placement  # noqa: E402
from broker_harness import content_version, demo_config_with_own_agreements  # noqa: E402
from broker_harness import dsa001_without_phone, record_message, store_query  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
niemctl = os.environ["NIEMCTL_BIN"]
tmp = tempfile.mkdtemp(prefix="niem-reload-")
viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()
operator = open(os.path.join(root, "config/demo-operator.token")).read().strip()

config, agreements = demo_config_with_own_agreements(root, tmp)
dsa001 = os.path.join(agreements, "DSA-001.xml")
original = open(dsa001, encoding="utf-8").read()
without_phone = dsa001_without_phone(original)
PHONE = "ContactTelephoneNumber"


def write_dsa001(text):
    open(dsa001, "w", encoding="utf-8").write(text)


store = new_store(tmp)
log_path = os.path.join(tmp, "broker.log")
broker = Broker(binary, config, store, log_path).start()


def http(method, path, token=None):
    req = urllib.request.Request(broker.admin_url + path, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def ctl(*args, token=operator):
    env = dict(os.environ, NIEMCTL_URL=broker.admin_url, NIEMCTL_TOKEN=token)
    return subprocess.run([niemctl, *args], capture_output=True, text=True, env=env)


RELOAD_OUTCOMES = ("rules reloaded", "nothing to reload: the rules are unchanged",
                   "reload refused; nothing changed")


def reload_outcomes():
    return [l["msg"] for l in broker.log_lines()
            if l.get("component") == "reload" and l.get("msg") in RELOAD_OUTCOMES]


def sighup_and_wait():
    """Sends SIGHUP and waits for the reload's outcome in the log; fails unless it took effect."""
    before = len(reload_outcomes())
    broker.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 60
    while len(reload_outcomes()) == before:
        if time.time() > deadline:
            fail("no reload outcome logged within 60 s of SIGHUP")
        if broker.proc.poll() is not None:
            fail(f"the broker exited on SIGHUP with {broker.proc.returncode}")
        time.sleep(0.05)
    outcome = reload_outcomes()[before]
    if outcome != "rules reloaded":
        errors = [l["msg"] for l in broker.log_lines()
                  if l.get("component") == "reload" and l.get("level") == "error"]
        fail(f"SIGHUP: {outcome}: {errors[-2:]}")


template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                encoding="utf-8").readline()


def medicaid_docs(conn):
    """medicaid's documents by broker message id."""
    return {m.properties["niem-message-id"]: m.body.decode() if isinstance(m.body, bytes) else m.body
            for m in drain(conn, "deliver/medicaid")}


def medicaid_versions():
    return dict(store_query(store, "SELECT message_id, agreement_version FROM audit "
                                   "WHERE recipient='medicaid' AND decision='deliver'"))


try:
    conn = BlockingConnection(broker.url, timeout=30)
    sender = conn.create_sender("ingest/cws/placement")
    sender.send(record_message(placement(template, "RELOAD-1"), "application/json"))
    docs = medicaid_docs(conn)
    check(len(docs) == 1 and PHONE in next(iter(docs.values())),
          "before the reload, medicaid receives the caseworker's telephone (DSA-001 version 1)")
    v1 = content_version(original)
    check(set(medicaid_versions().values()) == {v1},
          "the audit entry names DSA-001's version (its file's content hash)")

    # Amended: the telephone no longer flows.
    write_dsa001(without_phone)
    sighup_and_wait()
    check(broker.proc.poll() is None, "the broker is still running after SIGHUP")
    sender.send(record_message(placement(template, "RELOAD-2"), "application/json"))
    docs = medicaid_docs(conn)
    check(len(docs) == 1 and PHONE not in next(iter(docs.values())),
          "after the reload, on the same AMQP connection, medicaid's next placement has no telephone")
    v2 = content_version(without_phone)
    check(sorted(medicaid_versions().values()) == sorted([v1, v2]),
          "the audit trail names version 1 for the first record and the amended one for the second")

    # The running versions, as the API reports them.
    status, body = http("POST", "/api/reload", operator)
    answer = json.loads(body)
    check(status == 200 and answer["changed"] == [], "a reload with nothing changed changes nothing")
    check(any(f["file"] == dsa001 and f["version"] == v2 for f in answer["files"]),
          "the reload's answer lists DSA-001 at its amended version")
    status, _ = http("POST", "/api/reload", viewer)
    check(status == 403, "a viewer may not reload (403)")
    r = ctl("config", token=viewer)
    check(r.returncode == 0 and re.search(r"DSA-001@2\s+" + v2 + r"\s+" + re.escape(dsa001), r.stdout)
          and "generation 2" in r.stdout,
          "niemctl config shows DSA-001 at its amended version, rules generation 2")
    # The accounting of disclosures says which text of the agreement allowed each one.
    out = subprocess.run([os.environ["NIEM_DSA_BIN"], "disclosures", "--store", store, "--person",
                          "CWS-1001-0001", "--format", "json"], capture_output=True, text=True)
    shown = [d["agreement_version"] for d in json.loads(out.stdout or "[]")
             if d["recipient"] == "medicaid"]
    check(out.returncode == 0 and sorted(shown) == sorted([v1, v2]),
          "niem-dsa disclosures shows each disclosure's agreement version")

    # A broken agreement: refused whole, with file and line; the running set goes on.
    broken = without_phone.replace('<include path="ext:RecordedDate"/>',
                                    '<include path="ext:NoSuchElement"/>')
    assert broken != without_phone
    write_dsa001(broken)
    r = ctl("reload")
    check(r.returncode == 1 and "DSA-001.xml" in r.stderr and re.search(r"DSA-001\.xml:\d+", r.stderr),
          f"niemctl reload exits 1 and names the agreement's file and line ({r.stderr.strip()[:160]})")
    status, body = http("POST", "/api/reload", operator)
    answer = json.loads(body)
    check(status == 422 and answer["status"] == "refused" and answer["errors"]
          and all(e["line"] > 0 for e in answer["errors"]),
          "POST /api/reload answers 422 with every error's line")
    sender.send(record_message(placement(template, "RELOAD-3"), "application/json"))
    docs = medicaid_docs(conn)
    check(len(docs) == 1 and PHONE not in next(iter(docs.values()))
          and "RecordedDate" in next(iter(docs.values())),
          "after the refused reload the amended set still decides (no telephone, the date flows)")

    # Records streaming while the agreement flips between versions.
    stop = threading.Event()
    sent = []

    def stream():
        c = BlockingConnection(broker.url, timeout=60)
        s = c.create_sender("ingest/cws/placement")
        i = 0
        while not stop.is_set() or i < 50:
            s.send(record_message(placement(template, f"STREAM-{i:05d}"), "application/json"))
            sent.append(i)
            i += 1
        c.close()

    t = threading.Thread(target=stream)
    t.start()
    flips = 0
    for text in [original, without_phone] * 3:
        time.sleep(0.3)
        write_dsa001(text)
        sighup_and_wait()
        flips += 1
    stop.set()
    t.join()
    docs = medicaid_docs(conn)
    versions = medicaid_versions()
    mismatched = [mid for mid, body in docs.items()
                  if versions.get(mid) not in (v1, v2)
                  or (PHONE in body) != (versions[mid] == v1)]
    check(len(docs) == len(sent) and not mismatched,
          f"{len(sent)} records streamed through {flips} reloads: each of medicaid's documents "
          f"matches the agreement version its audit entry names ({len(mismatched)} do not)")
    check(len({versions[m] for m in docs}) == 2, "records were decided under both versions")

    # An agreement that has ended, then one removed: the next record is withheld.
    def medicaid_decision(event_id):
        sender.send(record_message(placement(template, event_id), "application/json"))
        return store_query(store, "SELECT a.decision, a.reason FROM audit a JOIN messages m "
                                  "ON m.message_id = a.message_id WHERE a.recipient = 'medicaid' "
                                  f"AND m.record_key LIKE '%{event_id}%'")

    ended = without_phone.replace('<effective from="2024-01-01"/>',
                                  '<effective from="2024-01-01" to="2025-12-31"/>')
    assert ended != without_phone
    write_dsa001(ended)
    sighup_and_wait()
    check(medicaid_decision("RELOAD-ENDED") == [("withhold", "NIEM-503")],
          "DSA-001 given an end date in the past: medicaid's next placement is withheld (NIEM-503)")
    conf = open(config, encoding="utf-8").read()
    without_dsa001 = re.sub(r'\s*<agreement file="[^"]*DSA-001.xml"/>', "", conf)
    assert without_dsa001 != conf
    open(config, "w", encoding="utf-8").write(without_dsa001)
    sighup_and_wait()
    check(medicaid_decision("RELOAD-REMOVED") == [("withhold", "NIEM-501")],
          "DSA-001 removed from the configuration: medicaid's next placement is withheld (NIEM-501)")
    drain(conn, "deliver/medicaid")

    # A new admin token works after a reload, without a restart.
    new_token = "reload-test-viewer-0123456789abcdef"
    token_file = os.path.join(tmp, "new-viewer.token")
    open(token_file, "w").write(new_token + "\n")
    status, _ = http("GET", "/api/whoami", new_token)
    check(status == 401, "an unknown token is refused (401)")
    conf = open(config, encoding="utf-8").read()
    with_token = conf.replace('<token name="demo-viewer"',
                              f'<token name="ops-new" role="viewer" file="{token_file}"/>\n'
                              '    <token name="demo-viewer"', 1)
    assert with_token != conf
    open(config, "w", encoding="utf-8").write(with_token)
    sighup_and_wait()
    status, body = http("GET", "/api/whoami", new_token)
    check(status == 200 and json.loads(body)["name"] == "ops-new",
          "a token added to the configuration is accepted after the reload")

    # Every reload and refusal audited; the chain verifies.
    rows = store_query(store, "SELECT provider, reason FROM audit WHERE decision='reload'")
    check(len([r for r in rows if r[0] == "signal:SIGHUP"]) == 4 + flips
          and len([r for r in rows if r[0].startswith("admin:") and r[1]]) == 2,
          f"each reload is audited with who did it, each refusal with its code ({len(rows)} entries)")
    r = ctl("audit", "verify")
    check(r.returncode == 0, "the audit chain verifies after the reloads")

    # A reload that changes only <validation>: applied and reported. Under "compiled" (the
    # default) every document of the rules' first minute goes to the sampling oracle; under
    # "full" Xerces decides each one itself and the oracle is offered none.
    def sampled():
        _, body = http("GET", "/metrics", viewer)
        m = re.search(r'^niem_validation_sampled_total\{exchange="placement-notification"\} (\d+)$',
                      body, re.M)
        return int(m.group(1)) if m else 0
    check(sampled() > 0, "the sampling oracle checked placements under the default validation")
    conf = open(config, encoding="utf-8").read()
    open(config, "w", encoding="utf-8").write(
        conf.replace("<mapping ", '<validation mode="full"/>\n  <mapping ', 1))
    status, body = http("POST", "/api/reload", operator)
    check(status == 200 and json.loads(body)["changed"] == ["validation"],
          f"a reload changing <validation> alone reports it ({body[:160]})")
    drain(conn, "deliver/court")  # the court's agreement (DSA-002) is still in effect
    before = sampled()
    sender.send(record_message(placement(template, "RELOAD-FULL"), "application/json"))
    check(len(drain(conn, "deliver/court")) == 1,
          "under validation 'full' the next placement is delivered")
    time.sleep(0.5)  # what the oracle would have been offered, it would have counted by now
    check(sampled() == before, "under validation 'full' no document goes to the sampling oracle")
    conn.close()
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")
