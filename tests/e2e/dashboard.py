"""The dashboard in a real browser: headless Chromium (Debian's) driven over its DevTools protocol
loads the page from a running broker with traffic, and the numbers it shows are checked against
the admin API: queue depths, the dead letters and their reasons, agreement status (DSA-008
expired), a message trace; a viewer sees no replay button, an operator does and can use it.
A screenshot is saved (DASHBOARD_SCREENSHOT, default dashboard.png in the working directory).

usage: dashboard.py NIEM-BROKER PROJECT-ROOT"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket
from proton.utils import BlockingConnection, SendException

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, fail, new_store, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
shot = os.environ.get("DASHBOARD_SCREENSHOT", os.path.abspath("dashboard.png"))
chromium = shutil.which("chromium") or "/usr/bin/chromium"
tmp = tempfile.mkdtemp(prefix="niem-dashboard-")
viewer = open(os.path.join(root, "config/demo-viewer.token")).read().strip()
operator = open(os.path.join(root, "config/demo-operator.token")).read().strip()
broker = Broker(binary, os.path.join(root, "config/demo.xml"), new_store(tmp),
                os.path.join(tmp, "broker.log")).start()
browser = None


def api(path):
    req = urllib.request.Request(broker.admin_url + path, headers={"Authorization": "Bearer " + viewer})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Page:
    """One tab, over the DevTools protocol."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next = 0

    def call(self, method, **params):
        self.next += 1
        self.ws.send(json.dumps({"id": self.next, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.next:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expression, what, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.eval(expression):
                    return
            except RuntimeError:
                pass  # the document is still loading
            time.sleep(0.2)
        fail(f"the dashboard never showed {what}")


try:
    # Traffic: placements for every subscriber, and one record that cannot be read.
    conn = BlockingConnection(broker.url, timeout=30)
    s = conn.create_sender("ingest/cws/placement")
    records = [l for l in open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                               encoding="utf-8") if l.strip()]
    for r in records:
        s.send(record_message(r, "application/json"))
    try:
        s.send(record_message('{"record_type": "placement", "event_id": "BROKEN-1"', "application/json"))
    except SendException:
        pass
    # The example claims: their psychotropic fills have no court order, so the medication check
    # raises alerts.
    claims = [l.rstrip("\r\n") for l in open(os.path.join(
        root, "mappings/mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"), encoding="utf-8") if l.strip()]
    s = conn.create_sender("ingest/medicaid/pharmacy_claim")
    for row in claims[1:]:
        s.send(record_message(claims[0] + "\n" + row, "text/csv"))
    conn.close()

    profile = os.path.join(tmp, "chromium")
    browser = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1400,1100", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "chromium.log"), "w"))
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while not os.path.exists(port_file) or not open(port_file).read().strip():
        if time.time() > deadline or browser.poll() is not None:
            fail("headless Chromium did not start (see chromium.log)")
        time.sleep(0.2)
    devtools = int(open(port_file).read().split()[0])
    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list", timeout=10).read())
    page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
    page.call("Page.enable")
    page.call("Runtime.enable")

    # As a viewer.
    page.call("Page.navigate", url=f"{broker.admin_url}/#token={viewer}")
    page.wait("document.body.dataset.ready === 'true'", "its data (viewer)")
    page.wait("document.querySelectorAll('#queues tbody tr').length > 0", "the queues")
    shown = page.eval("Object.fromEntries([...document.querySelectorAll('#queues tbody tr')]"
                      ".map(r => [r.dataset.queue, +r.querySelector('.depth').textContent]))")
    truth = {q["recipient"]: q["depth"] for q in api("/api/queues")["queues"]}
    check(shown == truth, f"queue depths on the page match the API ({shown})")
    check(page.eval("document.getElementById('dlq-total').textContent") == str(api("/api/queues")["dead_letters"]),
          "the dead-letter count matches the API")
    dl = api("/api/dlq")["dead_letters"]
    rows = page.eval("[...document.querySelectorAll('#dlq tbody tr')].map(r => [+r.dataset.deadLetter,"
                     " r.children[2].textContent, r.children[3].textContent])")
    check(rows == [[d["id"], d["code"], d["reason"]] for d in dl], f"dead letters with code and reason ({rows})")
    alerts = [a["alert"] for a in api("/api/alerts")["alerts"]]
    check(len(alerts) > 0, f"the example claims raised open medication alerts ({len(alerts)})")
    page.wait(f"document.querySelectorAll('#alerts tbody tr').length === {len(alerts)}", "the open alerts")
    shown = page.eval("[...document.querySelectorAll('#alerts tbody tr')].map(r => r.dataset.alert)")
    check(shown == alerts, "the open medication alerts on the page match the API, oldest first")
    check(page.eval("document.getElementById('alerts').textContent.includes('95550001C')") is False,
          "the alerts table shows no Medicaid id")
    check(page.eval("document.querySelector('#agreements tr[data-agreement=\"DSA-008\"]').dataset.status") == "expired",
          "DSA-008 is shown expired")
    check(page.eval("document.querySelector('[data-replay]').offsetParent === null"),
          "a viewer sees no replay button")
    # The last hour's charts (uPlot) and the conditions that hold, as the API has them: the demo
    # samples every 5 s; the broken record's dead letter makes NiemDeadLetters hold once two
    # samples bracket it.
    deadline = time.time() + 30
    while api("/api/conditions")["samples"] < 3 and time.time() < deadline:
        time.sleep(0.5)
    page.wait("+document.getElementById('charts').dataset.points >= 2", "two intervals of history")
    page.wait("document.querySelectorAll('#charts canvas').length === 5", "five uPlot charts")
    hist = api("/api/history")
    check(sum(sum(v) for v in hist["dead_letters"].values()) >= 1,
          f"the history counts the dead letter ({hist['dead_letters']})")
    page.wait("document.querySelectorAll('#conditions tbody tr').length > 0", "a condition that holds")
    holding = sorted((c["name"], c["group"]) for c in api("/api/conditions")["holding"])
    shown = sorted(tuple(x) for x in page.eval(
        "[...document.querySelectorAll('#conditions tbody tr')].map(r => [r.dataset.condition, r.dataset.group])"))
    check(shown == holding, f"the conditions on the page are those the API evaluates ({shown})")
    check(any(name == "NiemDeadLetters" for name, _ in shown),
          "the dead letter makes NiemDeadLetters hold")

    # Trace the dead letter's message.
    page.eval(f"document.getElementById('trace-id').value = '{dl[0]['message_id']}';"
              "document.querySelector('#trace-form button').click(); true")
    page.wait("!!document.getElementById('trace-summary')", "the trace")
    check("dead_lettered" in page.eval("document.getElementById('trace-summary').textContent"),
          "the trace says the message was dead-lettered")

    # As an operator: the replay button, used.
    page.call("Page.navigate", url="about:blank")  # a new document, not a fragment change
    page.wait("location.href === 'about:blank'", "a blank page")
    page.call("Page.navigate", url=f"{broker.admin_url}/#token={operator}")
    page.wait("document.body.dataset.ready === 'true' && document.body.classList.contains('operator')",
              "its data (operator)")
    page.wait("document.querySelectorAll('[data-replay]').length > 0", "the dead letters (operator)")
    check(page.eval("document.querySelector('[data-replay]').offsetParent !== null"),
          "an operator sees the replay button")
    page.eval("document.querySelector('[data-replay]').click(); true")
    page.wait("document.getElementById('dlq-result').textContent.includes('dead_lettered')",
              "the replay's outcome")
    result = page.eval("document.getElementById('dlq-result').textContent")
    check("NIEM-101" in result,
          f"the replay from the page ran: the broken record is dead-lettered again ({result})")
    time.sleep(2.5)  # one refresh, so that rates show
    png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    open(shot, "wb").write(png)
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, f"screenshot saved: {shot} ({len(png)} bytes)")
finally:
    if browser:
        browser.kill()
        browser.wait()
    broker.stop()
