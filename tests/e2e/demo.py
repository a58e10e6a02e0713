"""The demo (tools/demo/show.sh, what tools/run-demo.sh runs after its build) on this build: every
subscriber's line of the summary, the reasons given for those that received nothing (school's
expired agreement NIEM-503, oversight's aggregate-only NIEM-510, from the audit trail), and the
three commands it suggests next, each run as printed while the broker is still up.

usage: /usr/bin/python3 demo.py BUILD-DIR PROJECT-ROOT"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

build, root = sys.argv[1], sys.argv[2]
out = tempfile.mkdtemp(prefix="niem-demo-test-")
failures = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)


p = subprocess.Popen(["bash", os.path.join(root, "tools/demo/show.sh"), build, out, "--ephemeral"],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                     start_new_session=True)
lines = []
deadline = time.time() + 120
try:
    for line in p.stdout:
        lines.append(line.rstrip("\n"))
        if "Ctrl-C stops it" in line or time.time() > deadline:
            break
    text = "\n".join(lines)
    print(text)
    check("Ctrl-C stops it" in text, "the demo ran to its end and the broker keeps running")

    def line_of(recipient):
        m = re.search(rf"^  deliver/{recipient} +(.*)$", text, re.M)
        return m.group(1) if m else ""

    check(line_of("court").startswith("8 placement-notification, 2 pmap-application"),
          "court received the placements and the applications")
    check(line_of("medicaid").startswith("8 placement-notification"), "medicaid received placements")
    check(", 5 pmap-order" in line_of("cws"), "cws received the court's orders (DSA-010)")
    check(line_of("pmap-portal").startswith("5 pmap-order"),
          "pmap-portal received the court's rulings (DSA-011)")
    check("medication-authorization-exception" in line_of("cws"),
          "cws received the medication check's alerts (DSA-012)")
    check(re.match(r"\d+ medication-authorization-exception, 2 pharmacy-claim", line_of("phn")),
          "phn received the medication alerts and the consented claims")
    check(line_of("school") == "nothing: 8 withheld NIEM-503 agreement DSA-008@1 expired 2025-12-31",
          "school: nothing, and why: its agreement expired (NIEM-503), with the date")
    check(line_of("oversight").startswith(
        "nothing: 13 withheld NIEM-510 agreement DSA-009@1: the agreement is aggregate"),
        "oversight: nothing, and why: it receives only the aggregate report (NIEM-510)")
    for r in ("court", "medicaid", "cws", "pmap-portal", "phn", "research"):
        check("nothing" not in line_of(r), f"{r} received something")

    # The three commands to try next, as printed.
    dash = re.search(r"the dashboard: +(http://\S+)", text)
    check(bool(dash), "the dashboard's address is given")
    if dash:
        with urllib.request.urlopen(dash.group(1).split("#")[0], timeout=10) as r:
            check(r.status == 200 and b"<html" in r.read().lower(), "the dashboard answers")
    queues = re.search(r"the queues: +(.*)$", text, re.M)
    check(bool(queues), "the niemctl command is given")
    if queues:
        q = subprocess.run(queues.group(1), shell=True, cwd=root, capture_output=True, text=True)
        check(q.returncode == 0 and "QUEUE" in q.stdout and "school" in q.stdout,
              f"niemctl queues runs as printed: {q.returncode} {q.stdout[:200]} {q.stderr[:200]}")
    explain = re.search(r"^ +(\S*niem-dsa explain .*)$", text, re.M)
    check(bool(explain), "the niem-dsa explain command is given")
    if explain:
        e = subprocess.run(shlex.split(explain.group(1)), cwd=root, capture_output=True, text=True)
        check(e.returncode == 0 and "DSA-001" in e.stderr and "kept" in e.stderr,
              f"niem-dsa explain runs as printed: {e.returncode} {e.stderr[:200]}")
finally:
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(timeout=30)
    shutil.rmtree(out, ignore_errors=True)

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("the demo's summary, reasons and next commands are right")
