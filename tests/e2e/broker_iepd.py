"""A published IEPD's exchange through the broker: the juvenile court publishes a native placement
history record; the broker maps it to the OJBC juvenile placement history response (NIEM 3.0,
CYFS 3.0, its schemas as published in ../shared), validates it against that IEPD's own schema set,
filters it for child welfare under an agreement whose paths are in the IEPD's namespaces, delivers
it, and audits the disclosure under that agreement.

usage: broker_iepd.py NIEM-BROKER PROJECT-ROOT"""
import json
import os
import sys
import tempfile

from proton.utils import BlockingConnection

sys.path.insert(0, os.path.dirname(__file__))
from broker_harness import (Broker, check, demo_config_with_own_agreements, drain,  # noqa: E402
                            new_store, record_message, store_query)

binary, root = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="niem-iepd-")
store = new_store(tmp)
config, agreements = demo_config_with_own_agreements(root, tmp)
iepd = os.path.join(root, "tests/iepd/ojbc-juvenile-placement")

# The court's placement histories: published by the court, mapped to the OJBC exchange, and
# subscribed to by child welfare under an agreement of its own.
conf = open(config, encoding="utf-8").read()
conf = conf.replace('  <agreement file=', f'  <mapping file="{iepd}/mapping.xml"/>\n  <agreement file=', 1)
conf = conf.replace('    <publishes record-type="pmap_order"/>',
                    '    <publishes record-type="pmap_order"/>\n'
                    '    <publishes record-type="placement-history"/>')
conf = conf.replace('  <agreement file=', f'  <agreement file="{agreements}/DSA-OJBC.xml"/>\n'
                    '  <agreement file=', 1)
conf = conf.replace('  <agreement file=', f'  <agreement file="{agreements}/DSA-OJBC-PHN.xml"/>\n'
                    '  <agreement file=', 1)
conf = conf.replace('  <subscription ', '  <subscription recipient="cws" exchange="juvenile-placement-'
                    'history" purpose="CARE_COORDINATION"/>\n  <subscription recipient="phn" '
                    'exchange="juvenile-placement-history" purpose="CARE_COORDINATION"/>\n'
                    '  <subscription ', 1)
open(config, "w", encoding="utf-8").write(conf)

IEPD_NS = {
    "nc": "http://release.niem.gov/niem/niem-core/3.0/",
    "cyfs": "http://release.niem.gov/niem/domains/cyfs/3.0/",
    "jh-ext": "http://ojbc.org/IEPD/Extension/JuvenileHistory/JuvenileHistoryCommonExtension/1.0",
    "jh-placement": "http://ojbc.org/IEPD/Extension/JuvenileHistory/JuvenilePlacementHistoryExtension/1.0",
}
# What the schema requires of every recipient's document: the query it answers and the history's
# availability code.
REQUIRED = ["jh-ext:JuvenileHistoryCategoryCode", "jh-ext:JuvenileHistoryQueryCriteria",
            "jh-placement:JuvenilePlacementHistory/jh-ext:JuvenileInformationAvailabilityCode"]


def write_agreement(agreement_id, recipient, title, includes):
    """An agreement from the court to RECIPIENT for the IEPD exchange, its paths in the IEPD's
    namespaces."""
    ns = "".join(f'\n  xmlns:{p}="{u}"' for p, u in IEPD_NS.items())
    paths = "".join(f'\n    <include path="{p}"/>' for p in REQUIRED + includes)
    open(os.path.join(agreements, agreement_id + ".xml"), "w", encoding="utf-8").write(
        f"""<?xml version="1.0" encoding="UTF-8"?>
<agreement xmlns="urn:niem-broker:agreement:1"{ns}
  id="{agreement_id}" version="1" level="identifiable">
  <title>{title}</title>
  <provider agency="court"/>
  <recipient agency="{recipient}"/>
  <purpose code="CARE_COORDINATION"/>
  <effective from="2024-01-01"/>
  <terms exchange="juvenile-placement-history">{paths}
  </terms>
</agreement>
""")


# What child welfare may see: the placement history, not the court's own record-keeping metadata
# (its branch office and address).
history = "jh-placement:JuvenilePlacementHistory/"
write_agreement("DSA-OJBC", "cws", "Juvenile court to child welfare: placement histories",
                [history + p for p in ("nc:Person", "nc:Location", "nc:PersonResidenceAssociation",
                                       "cyfs:ParentChildAssociation", "cyfs:JuvenilePlacement")])
# The nurse's agreement keeps who lives where (the residence associations) but not the places:
# its references would point at nothing, so the document is withheld (NIEM-511), not delivered.
write_agreement("DSA-OJBC-PHN", "phn", "Juvenile court to public health nursing: residences only",
                [history + "nc:Person", history + "nc:PersonResidenceAssociation"])

record = open(os.path.join(iepd, "tests/sample.input.json"), encoding="utf-8").read().strip()
broker = Broker(binary, config, store, os.path.join(tmp, "broker.log")).start()
try:
    conn = BlockingConnection(broker.url, timeout=20)
    s = conn.create_sender("ingest/court/placement-history")
    s.send(record_message(record, "application/json"))
    s.close()
    got = drain(conn, "deliver/cws")
    nurse = drain(conn, "deliver/phn")
    conn.close()
finally:
    rc = broker.stop()
check(rc == 0, "broker stops cleanly")
check([m.properties["niem-record-key"] for m in got] == ["100"],
      f"cws receives the placement history once: {[m.properties for m in got]}")
doc = got[0].body if isinstance(got[0].body, str) else bytes(got[0].body).decode()
check("<jh-placement-doc:JuvenilePlacementHistoryResponse" in doc, "the IEPD's root element")
check('xmlns:structures="http://release.niem.gov/niem/structures/3.0/"' in doc and
      '<nc:Person structures:id="Child1">' in doc and
      '<cyfs:PlacedJuvenile structures:ref="Child1" xsi:nil="true"/>' in doc,
      "NIEM 3.0's ids and references, as the IEPD writes them")
check("2nd District" not in doc and "JuvenileInformationAvailabilityMetadata" not in doc,
      "what the agreement does not list is removed")
check("Group Home" in doc and "<nc:PersonGivenName>Johnny</nc:PersonGivenName>" in doc,
      "what it lists flows")
rows = store_query(store, "SELECT decision, recipient, agreement, purpose FROM audit "
                          "WHERE record_key = '100' ORDER BY seq")
check(("deliver", "cws", "DSA-OJBC@1", "CARE_COORDINATION") in [tuple(r) for r in rows],
      f"the disclosure is audited under the agreement: {rows}")
check(nurse == [], "phn receives no document whose references would point at nothing")
check(("withhold", "phn", "DSA-OJBC-PHN@1", "CARE_COORDINATION") in [tuple(r) for r in rows],
      f"the withholding is audited under the nurse's agreement: {rows}")
reason = store_query(store, "SELECT reason FROM audit WHERE record_key = '100' AND recipient = 'phn'")
check([tuple(r) for r in reason] == [("NIEM-511",)], f"with its reason, NIEM-511: {reason}")
print("broker iepd: ok")
