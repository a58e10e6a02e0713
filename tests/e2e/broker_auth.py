"""Authorization over mutual TLS (SASL EXTERNAL), with python3-qpid-proton as the client: an
agency publishes only to its own ingest addresses and receives only from deliver/<itself>; a
connection without a client certificate, with one from another CA, or with an unknown subject is
refused; refusals are logged with NIEM-600/601.

usage: broker_auth.py NIEM-BROKER PROJECT-ROOT"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from proton import Message, SSLDomain
from proton import ConnectionException, SSLException, Timeout
from proton.utils import BlockingConnection, LinkDetached

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import new_store, Broker, check, fail, record_message  # noqa: E402

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-auth-")
certs = os.path.join(tmp, "certs")
subprocess.run(["bash", os.path.join(root, "tools/make-demo-certs.sh"), certs], check=True,
               stdout=subprocess.DEVNULL)
other = os.path.join(tmp, "other-ca")
subprocess.run(["bash", os.path.join(root, "tools/make-demo-certs.sh"), other], check=True,
               stdout=subprocess.DEVNULL)

# The production example, pointed at these certificates and a temporary store.
cfg = open(os.path.join(root, "config/production.xml"), encoding="utf-8").read()
cfg = cfg.replace('"../var/certs/', f'"{certs}/')
cfg = re.sub(r'<store path="[^"]*"', f'<store path="{tmp}/store"', cfg)
cfg = cfg.replace('<schemas home=".."/>', f'<schemas home="{root}"/>')
cfg = cfg.replace('file="../mappings/', f'file="{root}/mappings/')
cfg = cfg.replace('file="agreements/', f'file="{root}/config/agreements/')
cfg_path = os.path.join(tmp, "production.xml")
open(cfg_path, "w", encoding="utf-8").write(cfg)

broker = Broker(binary, cfg_path, new_store(tmp), os.path.join(tmp, "broker.log"))
broker.start()
url = f"amqps://localhost:{broker.port}"


def connect(agency, ca_dir=certs, with_cert=True):
    d = SSLDomain(SSLDomain.MODE_CLIENT)
    d.set_trusted_ca_db(os.path.join(certs, "ca.crt"))
    d.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
    if with_cert:
        d.set_credentials(os.path.join(ca_dir, f"{agency}.crt"), os.path.join(ca_dir, f"{agency}.key"), None)
    return BlockingConnection(url, ssl_domain=d, allowed_mechs="EXTERNAL", timeout=10)


claims = [l.rstrip("\r\n") for l in open(os.path.join(
    root, "mappings/mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"), encoding="utf-8") if l.strip()]

try:
    med = connect("medicaid")
    s = med.create_sender("ingest/medicaid/pharmacy_claim")
    s.send(record_message(claims[0] + "\n" + claims[1], "text/csv"))
    check(True, "medicaid publishes a claim to its own ingest address over mutual TLS")

    def refused(conn, kind, address):
        try:
            if kind == "send":
                conn.create_sender(address)
            else:
                conn.create_receiver(address)
        except (LinkDetached, ConnectionException) as e:
            return "unauthorized" in str(e)
        return False

    check(refused(med, "send", "ingest/cws/placement"), "medicaid cannot publish as cws")
    check(refused(med, "send", "ingest/cws/pharmacy_claim"), "medicaid cannot publish under another agency's name")
    check(refused(med, "recv", "deliver/cws"), "medicaid cannot read cws's deliveries")
    r = med.create_receiver("deliver/medicaid")
    check(True, "medicaid may read deliver/medicaid")
    med.close()

    cws = connect("cws")
    check(refused(cws, "recv", "deliver/court"), "cws cannot read the court's deliveries")
    r = cws.create_receiver("deliver/cws", credit=10)
    m = r.receive(timeout=10)
    check(m.properties["niem-exchange"] == "pharmacy-claim" and m.properties["niem-source-agency"] == "medicaid",
          "cws receives medicaid's claim on deliver/cws")
    r.accept()
    cws.close()

    # The admin API over HTTPS: the broker's certificate, a client certificate, and a token.
    import json  # noqa: E402
    import ssl  # noqa: E402
    import urllib.request  # noqa: E402
    viewer = open(os.path.join(certs, "admin-viewer.token")).read().strip()

    def admin(path, cert=True, token=viewer):
        ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        if cert:
            ctx.load_cert_chain(os.path.join(certs, "cws.crt"), os.path.join(certs, "cws.key"))
        req = urllib.request.Request(f"https://localhost:{broker.admin_port}{path}",
                                     headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers

    status, body, headers = admin("/api/queues")
    check(status == 200 and "queues" in body and "max-age" in headers["Strict-Transport-Security"],
          "the admin API answers over HTTPS to a client certificate and a token")
    ctl = [os.environ["NIEMCTL_BIN"], "--url", f"https://localhost:{broker.admin_port}",
           "--token", viewer, "--ca", os.path.join(certs, "ca.crt")]
    out = subprocess.run(ctl + ["--cert", os.path.join(certs, "cws.crt"), "--key",
                                os.path.join(certs, "cws.key"), "queues"], capture_output=True, text=True)
    check(out.returncode == 0 and "medicaid" in out.stdout, f"niemctl over HTTPS ({out.stderr.strip()})")
    out = subprocess.run(ctl + ["queues"], capture_output=True, text=True)
    check(out.returncode == 4, "niemctl without a client certificate cannot reach it (exit 4)")
    try:
        admin("/healthz", cert=False)
        fail("the admin API answered a client without a certificate")
    except Exception as e:  # the handshake fails
        check("HTTP Error" not in str(e), "the admin API refuses a client without a certificate")
    try:
        urllib.request.urlopen(f"http://localhost:{broker.admin_port}/healthz", timeout=10)
        fail("the admin API answered plain HTTP")
    except Exception as e:
        # Refused by the TLS listener, not by nobody listening at all.
        reason = getattr(e, "reason", e)
        check(not isinstance(reason, (ConnectionRefusedError, TimeoutError)),
              f"the admin API does not speak plain HTTP when TLS is configured ({type(reason).__name__})")

    for name, kw in (("no client certificate", dict(agency="cws", with_cert=False)),
                     ("a certificate from another CA", dict(agency="cws", ca_dir=other)),
                     ("an unknown subject from the demo CA", dict(agency="stranger"))):
        try:
            c = connect(**kw)
            c.create_sender("ingest/cws/placement")
            fail(f"a connection with {name} was accepted")
        except Timeout:
            fail(f"a connection with {name} got no answer instead of a refusal")
        except Exception as e:
            check(isinstance(e, (ConnectionException, LinkDetached, SSLException)),
                  f"a connection with {name} is refused ({type(e).__name__})")
finally:
    broker.stop()

log = open(os.path.join(tmp, "broker.log"), encoding="utf-8").read()
check(log.count('"code":"NIEM-600"') >= 4, "every refused link is logged with NIEM-600")
check('"code":"NIEM-601"' in log, "the unknown identity is logged with NIEM-601")
shutil.rmtree(tmp, ignore_errors=True)
r = m = None
import gc  # noqa: E402
gc.collect()
print("PASS")
