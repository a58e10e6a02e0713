"""Starts and stops niem-broker for the end-to-end tests, and speaks AMQP to it with Debian's
python3-qpid-proton: an AMQP client that shares no code with the broker."""
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from proton import Message


class Broker:
    def __init__(self, binary, config, store, log_path, port=0, extra=()):
        self.binary, self.config, self.store, self.log_path = binary, config, store, log_path
        self.port, self.extra, self.proc = port, list(extra), None

    def start(self, timeout=30):
        # Beside the log: the store may be a database, not a directory.
        port_file = self.log_path + ".port"
        admin_file = self.log_path + ".admin-port"
        for f in (port_file, admin_file):
            if os.path.exists(f):
                os.remove(f)
        log = open(self.log_path, "a")
        # The admin server on a free port too (the demo configuration names 8081).
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "--listen", f"127.0.0.1:{self.port}",
             "--store", self.store, "--port-file", port_file,
             "--admin", "127.0.0.1:0", "--admin-port-file", admin_file] + self.extra,
            stdout=log, stderr=log)
        self.admin_port_file = admin_file
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(port_file):
                self.port = int(open(port_file).read().strip())
                self.admin_port = int(open(admin_file).read().strip())
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}; see {self.log_path}")
            time.sleep(0.05)
        raise RuntimeError("broker did not start listening")

    @property
    def url(self):
        return f"amqp://127.0.0.1:{self.port}"

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log_lines(self):
        with open(self.log_path) as f:
            return [json.loads(l) for l in f if l.startswith("{")]


# ---- Stores: the tests run on the backend NIEM_TEST_STORE names ("sqlite", the default, or
# "postgres": a fresh database in the throwaway cluster whose URI NIEM_TEST_PG_STATE/uri holds).

def backend():
    return os.environ.get("NIEM_TEST_STORE", "sqlite")


def _pg_admin():
    with open(os.path.join(os.environ["NIEM_TEST_PG_STATE"], "uri")) as f:
        return f.read().strip()


def _psql(uri, sql):
    out = subprocess.run(["psql", "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1", uri, "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    return out.stdout


def new_store(tmp, name="store"):
    """A locator for an empty store: an SQLite directory, or a PostgreSQL database of its own."""
    if backend() != "postgres":
        return os.path.join(tmp, name)
    admin = _pg_admin()
    db = re.sub(r"[^a-z0-9_]", "_", f"e2e_{os.getpid()}_{name}".lower())
    _psql(admin, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    _psql(admin, f"CREATE DATABASE {db}")
    return admin.rsplit("/", 1)[0] + "/" + db


def _cell(v):
    return int(v) if re.fullmatch(r"-?\d{1,18}", v) else v


def store_query(locator, sql):
    """Rows of a query straight at the store's database (integers as int, the rest as str)."""
    if not locator.startswith("postgresql://"):
        db = sqlite3.connect(os.path.join(locator, "broker.db"))
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()
    return [tuple(_cell(v) for v in row) for row in csv.reader(io.StringIO(_psql(locator, sql)))]


def store_exec(locator, sql):
    if not locator.startswith("postgresql://"):
        db = sqlite3.connect(os.path.join(locator, "broker.db"))
        db.execute(sql)
        db.commit()
        db.close()
    else:
        _psql(locator, sql)


def copy_store(locator, tmp, name):
    """A copy of a store no broker has open."""
    if not locator.startswith("postgresql://"):
        to = os.path.join(tmp, name)
        shutil.copytree(locator, to)
        return to
    to = new_store(tmp, name)
    db = to.rsplit("/", 1)[1]
    admin = _pg_admin()
    _psql(admin, f"DROP DATABASE {db}")
    _psql(admin, f"CREATE DATABASE {db} TEMPLATE {locator.rsplit('/', 1)[1]}")
    return to


def demo_config_with_own_agreements(root, folder):
    """The demo configuration written to FOLDER/broker.xml with its own copy of the agreements
    (FOLDER/agreements, to be edited by the test); everything else where it is in the checkout.
    Returns (config path, agreements folder)."""
    agreements = os.path.join(folder, "agreements")
    shutil.copytree(os.path.join(root, "config/agreements"), agreements)
    for f in os.listdir(agreements):
        p = os.path.join(agreements, f)
        s = open(p, encoding="utf-8").read().replace('"../../schemas/', f'"{root}/schemas/')
        open(p, "w", encoding="utf-8").write(s)
    conf = open(os.path.join(root, "config/demo.xml"), encoding="utf-8").read()
    conf = conf.replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
    conf = conf.replace('"../mappings/', f'"{root}/mappings/')
    conf = conf.replace('file="agreements/', f'file="{agreements}/')
    conf = re.sub(r'(file|key-file|pseudonym-key-file)="demo-',
                  lambda m: f'{m.group(1)}="{root}/config/demo-', conf)
    config = os.path.join(folder, "broker.xml")
    open(config, "w", encoding="utf-8").write(conf)
    return config, agreements


# DSA-001 (cws to medicaid) without the caseworker's telephone number: an optional element, so the
# filtered document stays schema-valid (the agreement loader checks that).
DSA001_PHONE_LINE = ('    <include path="hs:ChildWelfareCase/hs:Caseworker/nc:RoleOfPerson/'
                     'nc:PersonContactInformation/nc:ContactTelephoneNumber"/>\n')


def dsa001_without_phone(text, version="2"):
    assert DSA001_PHONE_LINE in text
    return text.replace(DSA001_PHONE_LINE, "").replace('version="1"', f'version="{version}"')


def content_version(text):
    """base::content_version: the first 16 hex digits of the SHA-256 of a file's bytes."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_message(body, content_type):
    return Message(body=body.encode() if isinstance(body, str) else body,
                   content_type=content_type, inferred=True)


def placement(template, event_id):
    rec = json.loads(template)
    rec["event_id"] = event_id
    return json.dumps(rec, ensure_ascii=False)


_t0 = time.time()


def stamp(msg):
    """A progress line with the seconds since the test started."""
    print(f"[{time.time() - _t0:6.1f}s] {msg}", flush=True)


def lines(path, prefix):
    """The lines of a client's output file (broker_clients.py) that start with `prefix` (or
    one of a tuple of them), split into words; none while the file does not exist yet."""
    try:
        return [l.split() for l in open(path) if l.startswith(prefix)]
    except FileNotFoundError:
        return []


def fail(msg):
    print("FAIL:", msg)
    raise SystemExit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg)


def drain(conn, address, credit=50):
    """Accepts and returns everything waiting at `address` (stops after 3 s of silence)."""
    r = conn.create_receiver(address, credit=credit)
    got = []
    while True:
        try:
            m = r.receive(timeout=3)
        except Exception:
            break
        got.append(m)
        r.accept()
    r.close()
    return got


def raw_engine(url):
    """A bare Proton engine on a socket to the broker (no client library, no handler: nothing is
    settled or closed unless the caller does it), with its connection opened. Returns
    (connection, transport, socket); drive it with pump_once."""
    import socket
    from proton import Connection, Transport
    host, port = url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=1)
    sock.setblocking(False)
    c = Connection()
    t = Transport()
    t.sasl().allowed_mechs("ANONYMOUS")
    t.bind(c)
    c.open()
    return c, t, sock


def pump_once(t, sock):
    """Moves bytes once each way between a raw engine and its socket; False when the socket or
    the transport is finished."""
    out = t.pending()
    if out > 0:
        try:
            t.pop(sock.send(t.peek(min(out, 65536))))
        except BlockingIOError:
            pass
        except OSError:
            return False
    try:
        data = sock.recv(65536)
        if not data:
            t.close_tail()
            return False
        t.push(data)
    except BlockingIOError:
        time.sleep(0.001)
    except Exception:
        return False
    return True
