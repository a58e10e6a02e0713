"""Two niem-broker replicas on one PostgreSQL store. The publisher and the court's subscriber
start on replica A, the medicaid subscriber and a second court subscriber on replica B; A is
killed with SIGKILL while records stream in, and the clients that were on A fail over to B (each
lists both URLs). One replica at a time serves a recipient's queue: B's court subscriber gets
nothing while A lives, then A's unacknowledged court entries first. Checks that
every record accepted by either replica reaches both subscribers, that a key accepted by one
replica is a duplicate at the other (one message id per key), that nothing is delivered again
after a broker confirmed the subscriber's acceptance, that B delivered what A committed while
both ran (it heard of A's commits), and that the audit chain verifies. Repeated ROUNDS times.

usage: broker_replicas.py NIEM-BROKER PROJECT-ROOT [RECORDS] [ROUNDS]   (3000 records, 10 rounds)"""
import collections
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import backend, Broker, check, fail, lines, new_store, placement, stamp  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 10
if backend() != "postgres":
    fail("replicas share a PostgreSQL store: run with NIEM_TEST_STORE=postgres")
here = os.path.dirname(os.path.abspath(__file__))
py = "/usr/bin/python3"




for rnd in range(rounds):
    tmp = tempfile.mkdtemp(prefix="niem-replicas-")
    store = new_store(tmp, f"replicas{rnd}")
    template = open(os.path.join(root, "mappings/cws-placement/examples/placements.ndjson"),
                    encoding="utf-8").readline()
    records = os.path.join(tmp, "records.ndjson")
    with open(records, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(placement(template, f"REPL{rnd}-{i:06d}") + "\n")
    conf = os.path.join(root, "config/demo.xml")
    a = Broker(binary, conf, store, os.path.join(tmp, "a.log")).start()
    b = Broker(binary, conf, store, os.path.join(tmp, "b.log")).start()
    both = f"{a.url},{b.url}"
    clients = os.path.join(here, "broker_clients.py")
    outs = {k: os.path.join(tmp, f"{k}.out") for k in ("publisher", "court", "court2", "medicaid")}
    subs = [subprocess.Popen([py, clients, "subscriber", both, "deliver/court", outs["court"]]),
            subprocess.Popen([py, clients, "subscriber", f"{b.url},{a.url}", "deliver/medicaid",
                              outs["medicaid"]])]
    pub = subprocess.Popen([py, clients, "publisher", both, records, outs["publisher"]])
    try:
        # B's court subscriber once A serves court (whichever attaches first takes the lease).
        deadline = time.time() + 60
        while not lines(outs["court"], "R ") and time.time() < deadline:
            time.sleep(0.02)
        subs.append(subprocess.Popen([py, clients, "subscriber", b.url, "deliver/court",
                                      outs["court2"]]))
        deadline = time.time() + 300
        while len(lines(outs["publisher"], "A ")) < n // 3 and time.time() < deadline:
            if pub.poll() is not None:
                fail("publisher ended early")
            time.sleep(0.02)
        at_kill = len(lines(outs["publisher"], "A "))
        before_b = len(lines(outs["medicaid"], "R "))
        court2_before = len(lines(outs["court2"], "R "))
        a.kill9()
        stamp(f"round {rnd + 1}: killed replica A after {at_kill} acceptances "
              f"(B had delivered {before_b} to medicaid)")
        check(before_b > 0, "replica B delivered records replica A committed (it heard of them)")
        check(court2_before == 0, "while A served court, B's court subscriber received nothing")
        try:
            pub.wait(timeout=600)
        except subprocess.TimeoutExpired:
            # What the publisher and B last did, to tell a stalled client from a lost outcome.
            for name, path in (("publisher", outs["publisher"]), ("replica B", b.log_path)):
                tail = open(path, encoding="utf-8", errors="replace").read().splitlines()[-15:]
                print(f"--- last lines of {name}:\n" + "\n".join(tail))
            accepted = len(lines(outs["publisher"], "A "))
            fail(f"the publisher stalled after failover: {accepted} of {n} accepted in 600 s")
        check(pub.returncode == 0, "the publisher got every record accepted, failing over to B")
        deadline = time.time() + 300
        while time.time() < deadline:
            court = {p[2] for r in ("court", "court2") for p in lines(outs[r], "R ")}
            if len(court) >= n and len({p[2] for p in lines(outs["medicaid"], "R ")}) >= n:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # the last settlements
        stamp("subscribers have every key")
    finally:
        for p in subs + [pub]:
            if p.poll() is None:
                p.terminate()
                p.wait()
        b.stop()
        a.stop()
    accepted = {int(p[1]) for p in lines(outs["publisher"], "A ")}
    check(len(accepted) == n, f"all {n} records accepted ({at_kill} by A before it died)")
    check(not lines(outs["publisher"], "X "), "no record rejected")
    keys = {f"REPL{rnd}-{i:06d}" for i in accepted}
    # court's two subscribers read as one: whatever replica served the queue.
    with open(os.path.join(tmp, "court-all.out"), "w") as all_court:
        for r in ("court", "court2"):
            all_court.write(open(outs[r]).read())
    outs["court-all"] = os.path.join(tmp, "court-all.out")
    in_both = ({p[1] for p in lines(outs["court"], "R ")} &
               {p[1] for p in lines(outs["court2"], "R ")})
    check(len(in_both) <= 400, f"court: only what A had in flight when it died went to both "
          f"subscribers ({len(in_both)})")
    for r in ("court-all", "medicaid"):
        got = {p[2] for p in lines(outs[r], "R ")}
        check(not (keys - got), f"{r}: every accepted record delivered ({len(got)} keys)")
        ids_by_key = collections.defaultdict(set)
        confirmed, after_confirm = set(), []
        for p in lines(outs[r], ("R ", "C ")):
            if p[0] == "R":
                ids_by_key[p[2]].add(p[1])
                if p[1] in confirmed:
                    after_confirm.append(p[1])
            else:
                confirmed.add(p[1])
        check(all(len(v) == 1 for v in ids_by_key.values()),
              f"{r}: each key processed once across both replicas (one message id per key)")
        check(not after_confirm, f"{r}: nothing delivered again after a broker confirmed it")
    out = subprocess.run([os.environ["NIEM_DSA_BIN"], "audit-verify", "--store", store, "--key-file",
                          os.path.join(root, "config/demo-audit.key")], capture_output=True, text=True)
    check(out.returncode == 0, f"the one audit chain of both replicas verifies ({out.stdout.strip()})")
print("PASS")
