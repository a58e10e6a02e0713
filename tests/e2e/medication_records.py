"""One foster child's records for the medication check's end-to-end tests, made from the mappings'
examples: a placement (the link between client number and Medicaid id, and the county), a
guanfacine claim (fields overridable), a PMAP application for it filed before the fill, and the
court's order authorizing it from 2026-06-10 at 4 mg a day."""
import json
import os


class Child:
    def __init__(self, root, client, medicaid, county, tag):
        self.root, self.client, self.medicaid, self.county, self.tag = root, client, medicaid, county, tag
        lines = [l.rstrip("\r\n") for l in open(self._ex("mmis-pharmacy-claim/examples/mmis_rx_20260601.txt"),
                                                 encoding="utf-8") if l.strip()]
        self.header = lines[0]
        self.cols = self.header.split("|")
        self.guanfacine = dict(zip(self.cols, lines[1].split("|")))
        assert self.guanfacine["DRUG_NAME"] == "GUANFACINE ER" and self.guanfacine["PSYCHOTROPIC"] == "Y"

    def _ex(self, *p):
        return os.path.join(self.root, "mappings", *p)

    def _first(self, rel):
        return json.loads(open(self._ex(rel), encoding="utf-8").readline())

    def placement(self):
        p = self._first("cws-placement/examples/placements.ndjson")
        p.update(event_id=f"CWS-EVT-{self.tag}-1", county_fips=self.county)
        p["child"].update(client_id=self.client, medicaid_id=self.medicaid)
        p["placement"].update(placement_id=f"PL-{self.tag}-1", begin_date="2026-02-02")
        return json.dumps(p)

    def claim(self, claim_id, **over):
        r = dict(self.guanfacine, CLAIM_ID=claim_id, MEDICAID_ID=self.medicaid, CLAIM_STATUS="PAID",
                 FILL_DATE="20260601", QUANTITY="30", DAYS_SUPPLY="30", SUD_TREATMENT="N")
        r.update(over)
        return self.header + "\n" + "|".join(r[c] for c in self.cols)

    def application(self):
        a = self._first("pmap-application/examples/pmap_applications.ndjson")
        a.update(application_id=f"PMAP-{self.tag}-1", submitted_at="2026-05-28T09:00:00-07:00")
        a["child"].update(client_id=self.client, medicaid_id=self.medicaid)
        return json.dumps(a)

    def order(self):
        court_case = self._first("pmap-application/examples/pmap_applications.ndjson")["court_case_number"]
        return json.dumps({
            "record_type": "pmap_order", "order_id": f"JV223-{self.tag}-1",
            "application_id": f"PMAP-{self.tag}-1", "court_case_number": court_case,
            "county_fips": self.county, "ordered_at": "2026-06-10T10:00:00-07:00",
            "judicial_officer": "Hon. Amara Okafor", "decision": "GRANTED",
            "child": {"client_id": self.client, "medicaid_id": self.medicaid, "first_name": "Ana",
                      "last_name": "de la Cruz", "birth_date": "2014-11-02"},
            "medications": [{"drug_name": "Guanfacine ER", "ndc": "65162-0627-10",
                             "ruling": "AUTHORIZED", "max_daily_dose": "4 mg",
                             "authorized_from": "2026-06-10", "authorized_through": "2026-12-31"}]})
