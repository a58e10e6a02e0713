"""niem-dsa archive and audit-verify --archive against a broker's store (the archive itself, with
entries six years old, is tested with an injected clock in broker/archive/tests):
- on SQLite, archive refuses while the broker has the store open (one writer at a time);
- a date less than six years ago is refused, and nothing is written;
- a date before every entry archives nothing, and the chain verifies with --archive;
- audit-verify --archive names a tampered manifest.

usage: niem_dsa_archive.py NIEM-BROKER PROJECT-ROOT   (NIEM_DSA_BIN in the environment)"""
import datetime
import os
import subprocess
import sys
import tempfile

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import backend, Broker, check, new_store, placement, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
dsa = os.environ["NIEM_DSA_BIN"]
tmp = tempfile.mkdtemp(prefix="niem-archive-")
store = new_store(tmp)
key = os.path.join(root, "config/demo-audit.key")
out = os.path.join(tmp, "archive")
broker = Broker(binary, os.path.join(root, "config/demo.xml"), store,
                os.path.join(tmp, "broker.log")).start()
template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                encoding="utf-8").readline()


def run(*args):
    return subprocess.run([dsa, *args], capture_output=True, text=True)


try:
    conn = BlockingConnection(broker.url, timeout=30)
    s = conn.create_sender("ingest/cws/placement")
    for i in range(3):
        s.send(record_message(placement(template, f"ARCHIVE-{i}"), "application/json"))
    conn.close()
    if backend() == "sqlite":
        r = run("archive", "--store", store, "--key-file", key, "--before", "2019-01-01",
                "--out", out)
        check(r.returncode != 0 and "in use by another process" in r.stderr,
              "on SQLite, archive refuses while the broker has the store open")
finally:
    rc = broker.stop()
check(rc == 0, "the broker stops cleanly")

today = datetime.date.today().isoformat()
r = run("archive", "--store", store, "--key-file", key, "--before", today, "--out", out)
check(r.returncode == 1 and "never archived" in r.stderr
      and not (os.path.exists(out) and os.listdir(out)),
      "a date less than six years ago is refused, and no file is written")

r = run("archive", "--store", store, "--key-file", key, "--before", "2019-01-01", "--out", out)
check(r.returncode == 0 and "archived 0 entries" in r.stdout,
      f"a date before every entry archives nothing ({r.stdout.strip()})")

r = run("audit-verify", "--store", store, "--key-file", key, "--archive", out)
check(r.returncode == 0 and "audit trail intact: 0 entries in" in r.stdout,
      f"audit-verify --archive: intact ({r.stdout.strip()})")

# A manifest that is not the broker's (signed with another key): named, exit 1.
bogus = os.path.join(out, "audit-000000000001-000000000002.manifest.json")
with open(bogus, "w") as f:
    f.write('{"format":"niem-broker-audit-archive/1","file":"x.jsonl.gz","sha256":"00",'
            '"entries":2,"first_seq":1,"last_seq":2,"first_prev":"00","last_hash":"00",'
            '"created_at":"2019-01-01T00:00:00Z","signature":"00"}\n')
r = run("audit-verify", "--store", store, "--key-file", key, "--archive", out)
check(r.returncode == 1 and "BROKEN" in r.stdout and "signature" in r.stdout,
      f"audit-verify --archive names a manifest signed with another key ({r.stdout.strip()[:120]})")
