"""Database failover: niem-broker on a PostgreSQL primary with a synchronous streaming standby
(synchronous_commit on, synchronous_standby_names naming it). While records stream in, the
primary crashes (immediate stop); the standby is promoted and the broker restarted on it, as the
runbook says. Checks that no record the broker settled `accepted` is missing from the promoted
database, that every accepted record reaches the subscriber, that each key is processed once,
and that the audit chain verifies on the promoted database.

usage: broker_standby.py NIEM-BROKER PROJECT-ROOT [RECORDS]"""
import collections
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import Broker, check, fail, lines, placement, stamp, store_query  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
here = os.path.dirname(os.path.abspath(__file__))
py = "/usr/bin/python3"
tmp = tempfile.mkdtemp(prefix="niem-standby-")
cluster = os.path.join(here, "..", "support", "pg_cluster.sh")
primary, standby = os.path.join(tmp, "primary"), os.path.join(tmp, "standby")



def uri(state, db="postgres"):
    return open(os.path.join(state, "uri")).read().strip().rsplit("/", 1)[0] + "/" + db


def psql(state, *sql):
    cmd = ["psql", "-X", "-q", "-At", uri(state)]
    for s in sql:
        cmd += ["-c", s]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()



subprocess.run([cluster, "start", primary], check=True)
try:
    subprocess.run([cluster, "standby", standby, primary], check=True)
    psql(primary, "ALTER SYSTEM SET synchronous_standby_names = 'standby1'", "SELECT pg_reload_conf()")
    deadline = time.time() + 30
    while (state := psql(primary, "SELECT sync_state FROM pg_stat_replication")) != "sync" and \
            time.time() < deadline:
        time.sleep(0.2)
    check(state == "sync", f"the standby replicates synchronously ({state or 'not connected'})")
    psql(primary, "CREATE DATABASE niem")
    template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                    encoding="utf-8").readline()
    records = os.path.join(tmp, "records.ndjson")
    with open(records, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(placement(template, f"SB-{i:06d}") + "\n")
    broker = Broker(binary, os.path.join(root, "config/demo.xml"), uri(primary, "niem"),
                    os.path.join(tmp, "broker.log")).start()
    clients = os.path.join(here, "broker_clients.py")
    outs = {k: os.path.join(tmp, f"{k}.out") for k in ("publisher", "court")}
    sub = subprocess.Popen([py, clients, "subscriber", broker.url, "deliver/court", outs["court"]])
    pub = subprocess.Popen([py, clients, "publisher", broker.url, records, outs["publisher"]])
    try:
        deadline = time.time() + 300
        while len(lines(outs["publisher"], "A ")) < n // 3 and time.time() < deadline:
            if pub.poll() is not None:
                fail("publisher ended early")
            time.sleep(0.02)
        subprocess.run([cluster, "crash", primary], check=True)
        stamp(f"primary crashed after {len(lines(outs['publisher'], 'A '))} acceptances")
        subprocess.run([cluster, "promote", standby], check=True)
        stamp("standby promoted")
        # The runbook: point the broker at the promoted database and restart it.
        broker.kill9()
        accepted_before = {int(p[1]) for p in lines(outs["publisher"], "A ")}
        broker.store = uri(standby, "niem")
        broker.start()
        stamp(f"broker restarted on the promoted standby ({len(accepted_before)} accepted so far)")
        keys_there = {r[0] for r in store_query(broker.store, "SELECT record_key FROM record_keys")}
        lost = {f"SB-{i:06d}" for i in accepted_before} - keys_there
        check(not lost, f"no record settled accepted before the failover is missing from the "
              f"promoted database ({len(accepted_before)} accepted, {len(lost)} missing)")
        pub.wait(timeout=600)
        check(pub.returncode == 0, "the publisher got every record accepted across the failover")
        deadline = time.time() + 300
        while len({p[2] for p in lines(outs["court"], "R ")}) < n and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        for p in (sub, pub):
            if p.poll() is None:
                p.terminate()
                p.wait()
        broker.stop()
    accepted = {int(p[1]) for p in lines(outs["publisher"], "A ")}
    check(len(accepted) == n, f"all {n} records accepted")
    got = {p[2] for p in lines(outs["court"], "R ")}
    check({f"SB-{i:06d}" for i in accepted} <= got, f"court: every accepted record delivered ({len(got)} keys)")
    ids_by_key = collections.defaultdict(set)
    for p in lines(outs["court"], "R "):
        ids_by_key[p[2]].add(p[1])
    check(all(len(v) == 1 for v in ids_by_key.values()), "court: each key processed once")
    out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", uri(standby, "niem"),
                          "--key-file", os.path.join(root, "config/demo-audit.key")],
                         capture_output=True, text=True)
    check(out.returncode == 0, f"the audit chain verifies on the promoted database ({out.stdout.strip()})")
finally:
    subprocess.run([cluster, "stop", standby])
    subprocess.run([cluster, "stop", primary])
print("PASS")
