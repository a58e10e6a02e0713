"""A store that cannot write: its disk full (both backends), its database read-only (PostgreSQL).

The store lives on a small file system of its own (SQLite: the store's directory on a tmpfs;
PostgreSQL: the store's database in a tablespace on a tmpfs), which a filler file then fills.
Records keep coming: each one is settled `accepted` (committed) or released, never anything else;
once the disk is full the records are released, `/readyz` answers 503 with NIEM-306
store.full, `/metrics` has niem_store_refusing{code="NIEM-306"} and the log names NIEM-306; when
the filler is removed, ingest resumes by itself and `/readyz` is ready again. Nothing is half
written: every record settled accepted is in the store with its queue entries and audit entries,
no released record is, and the audit chain verifies. On PostgreSQL the same with the database
made read-only (default_transaction_read_only, as on a standby): NIEM-307 store.read_only, and the
broker reconnects by itself once it is writable again. With NIEM_REFUSALS_FLOOR_MB (SQLite) the
broker runs with that free-space floor (--store-min-free-mb) and the refusal is NIEM-308
store.low_space, before the disk is full; otherwise with no floor. Needs root (mount).

usage: broker_store_refusals.py NIEM-BROKER PROJECT-ROOT"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from proton.utils import BlockingConnection, SendException

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import (_pg_admin, _psql, backend, Broker, check, fail, new_store,  # noqa: E402
                            placement, record_message, stamp, store_query)

binary, root = sys.argv[1], sys.argv[2]
if os.geteuid() != 0:
    fail("this test mounts a small tmpfs for the store: run it as root")
tmp = tempfile.mkdtemp(prefix="niem-store-refusals-")
os.chmod(tmp, 0o755)  # the postgres user reaches the tablespace inside
fs = os.path.join(tmp, "fs")
os.makedirs(fs)
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0777", "tmpfs", fs], check=True)
template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                encoding="utf-8").readline()
pg = backend() == "postgres"
tablespace = None


def readyz(broker):
    try:
        with urllib.request.urlopen(broker.admin_url + "/readyz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def metrics(broker):
    with urllib.request.urlopen(broker.admin_url + "/metrics", timeout=10) as r:
        return r.read().decode()


def send(conn, event_id):
    """True when settled accepted, False when released; anything else fails the test."""
    s = conn.create_sender("ingest/cws/placement")
    try:
        s.send(record_message(placement(template, event_id), "application/json"), timeout=30)
        return True
    except SendException as e:
        if "RELEASED" not in str(e):
            fail(f"{event_id} settled {e}, neither accepted nor released")
        return False
    finally:
        s.close()


def fill(path):
    """Writes a file until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
        except OSError:
            pass


def until_refused(conn, prefix, accepted, released, limit=20000):
    for i in range(limit):
        key = f"{prefix}-{i:05d}"
        if send(conn, key):
            accepted.append(key)
        else:
            released.append(key)
            return key
    fail(f"{limit} records were accepted on a full disk")


def until_accepted(conn, prefix, accepted, released, seconds=60):
    deadline = time.time() + seconds
    i = 0
    while time.time() < deadline:
        key = f"{prefix}-{i:05d}"
        i += 1
        if send(conn, key):
            accepted.append(key)
            return key
        released.append(key)
    fail(f"ingest did not resume within {seconds} s")


def refusal_seen(broker, code, what):
    status, body = readyz(broker)
    check(status == 503 and body.get("code") == code,
          f"{what}: /readyz answers 503 with {code} ({status} {body})")
    check(f'niem_store_refusing{{code="{code}"}} 1' in metrics(broker),
          f"{what}: /metrics has niem_store_refusing{{code=\"{code}\"}}")
    check(any(l.get("code") == code for l in broker.log_lines()), f"{what}: the log names {code}")


try:
    if pg:
        os.chmod(fs, 0o777)
        ts_dir = os.path.join(fs, "ts")
        os.makedirs(ts_dir)
        shutil.chown(ts_dir, "postgres", "postgres")
        tablespace = f"refusals_{os.getpid()}"
        _psql(_pg_admin(), f"CREATE TABLESPACE {tablespace} LOCATION '{ts_dir}'")
        store = new_store(tmp, "refusals")
        db = store.rsplit("/", 1)[1]
        _psql(_pg_admin(), f"ALTER DATABASE {db} SET TABLESPACE {tablespace}")
    else:
        store = os.path.join(fs, "store")
    floor = os.environ.get("NIEM_REFUSALS_FLOOR_MB", "")
    refusal = ("NIEM-308", "free space below the floor") if floor else ("NIEM-306", "disk full")
    broker = Broker(binary, os.path.join(root, "config/demo.xml"), store,
                    os.path.join(tmp, "broker.log"),
                    extra=["--store-min-free-mb", floor or "0"]).start()
    accepted, released = [], []
    try:
        conn = BlockingConnection(broker.url, timeout=60)
        check(send(conn, "REFUSALS-FIRST"), "a record is accepted before the disk fills")
        accepted.append("REFUSALS-FIRST")
        check(readyz(broker)[0] == 200, "/readyz is ready before the disk fills")
        filler = os.path.join(fs, "filler")
        fill(filler)
        key = until_refused(conn, "REFUSALS-FULL", accepted, released)
        stamp(f"{refusal[1]}: {len(accepted)} accepted, then {key} released")
        refusal_seen(broker, *refusal)
        check(not send(conn, "REFUSALS-FULL-AGAIN"), "the next record is released too")
        released.append("REFUSALS-FULL-AGAIN")
        os.remove(filler)
        key = until_accepted(conn, "REFUSALS-SPACE", accepted, released)
        check(True, f"ingest resumes by itself once space returns ({key} accepted)")
        check(readyz(broker)[0] == 200, "/readyz is ready again")
        if pg:
            _psql(_pg_admin(), f"ALTER DATABASE {db} SET default_transaction_read_only = on")
            _psql(_pg_admin(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               f"WHERE datname = '{db}'")
            until_refused(conn, "REFUSALS-RO", accepted, released)
            # The first refusals are the terminated connection's (NIEM-305); the broker then
            # reconnects and finds the database read-only.
            deadline = time.time() + 20
            while readyz(broker)[1].get("code") != "NIEM-307" and time.time() < deadline:
                key = f"REFUSALS-RO-AGAIN-{len(released)}"
                if send(conn, key):
                    fail(f"{key} was accepted by a read-only database")
                released.append(key)
            refusal_seen(broker, "NIEM-307", "read-only database")
            _psql(_pg_admin(), f"ALTER DATABASE {db} RESET default_transaction_read_only")
            key = until_accepted(conn, "REFUSALS-WRITABLE", accepted, released)
            check(True, f"ingest resumes by itself once the database is writable ({key} accepted)")
            check(readyz(broker)[0] == 200, "/readyz is ready again")
        conn.close()
    finally:
        rc = broker.stop()
    check(rc == 0, "the broker stops cleanly")

    keys = {k for (k,) in store_query(store, "SELECT record_key FROM messages WHERE record_key LIKE 'REFUSALS%'")}
    audited = {k for (k,) in store_query(store, "SELECT DISTINCT record_key FROM audit WHERE record_key LIKE 'REFUSALS%'")}
    check(set(accepted) <= keys and set(accepted) <= audited,
          f"every record settled accepted ({len(accepted)}) is stored and audited")
    stray = [k for k in released if k in keys or k in audited]
    check(not stray, f"no released record ({len(released)}) left anything in the store ({stray[:3]})")
    out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", store, "--key-file",
                          os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
    check(out.returncode == 0, f"the audit chain verifies ({out.stdout.strip()})")
finally:
    if pg and "store" in globals():
        try:
            _psql(_pg_admin(), f"DROP DATABASE IF EXISTS {store.rsplit('/', 1)[1]} WITH (FORCE)")
            if tablespace:
                _psql(_pg_admin(), f"DROP TABLESPACE IF EXISTS {tablespace}")
        except Exception as e:  # the cluster is thrown away at the end in any case
            print("cleanup:", e)
    subprocess.run(["umount", "-l", fs])
print("PASS")
