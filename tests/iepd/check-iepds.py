#!/usr/bin/env python3
"""The published-IEPD tests: each folder here holds a mapping to an IEPD read from ../shared, its
golden test (tests/sample.input.json -> tests/sample.expected.xml, run by `niem-map test`), and
`published-sample`, the path (relative to the folder) of the IEPD's own sample instance.

For each folder:
  1. with `published-sample`, the golden document tests/sample.expected.xml reproduces the
     published sample: every leaf value and every attribute, in order (compare.py);
  2. xmllint validates every golden document against the mapping's schema set as published (the
     schema-set files, joined by a wrapper schema in a temporary folder), unless the folder's
     `xmllint-skip` says why libxml2 cannot compile that IEPD's schemas.
The golden tests themselves (Xerces validation included) run through `niem-map test`.

usage: check-iepds.py IEPD_DIR
"""
import glob
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

MAP = "{urn:niem-broker:mapping:1}"
HERE = os.path.dirname(os.path.abspath(__file__))


def target_namespace(xsd):
    return ET.parse(xsd).getroot().get("targetNamespace")


def schema_files(folder):
    root = ET.parse(os.path.join(folder, "mapping.xml")).getroot()
    files = [f.get("path") for f in root.iter(MAP + "file")]
    if root.get("schema"):
        files.append(root.get("schema"))
    return [os.path.abspath(os.path.join(folder, f)) for f in files]


def xmllint(folder, document, tmp):
    imports = "".join(
        f'<xs:import namespace="{target_namespace(f)}" schemaLocation="{f}"/>'
        for f in schema_files(folder))
    wrapper = os.path.join(tmp, os.path.basename(folder) + ".xsd")
    with open(wrapper, "w") as out:
        out.write('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
                  f'targetNamespace="urn:niem-broker:iepd-test">{imports}</xs:schema>')
    r = subprocess.run(["xmllint", "--noout", "--nonet", "--schema", wrapper, document],
                       capture_output=True, text=True)
    print(f"  xmllint: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return r.returncode == 0


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else HERE
    failed = 0
    folders = sorted(d for d in os.listdir(base)
                     if os.path.isfile(os.path.join(base, d, "mapping.xml")))
    with tempfile.TemporaryDirectory() as tmp:
        for name in folders:
            folder = os.path.join(base, name)
            ok = True
            print(f"{name}:")
            published = os.path.join(folder, "published-sample")
            if os.path.isfile(published):
                with open(published) as f:
                    sample = os.path.normpath(os.path.join(folder, f.read().strip()))
                ours = os.path.join(folder, "tests", "sample.expected.xml")
                print(f"  against {os.path.relpath(sample, folder)}")
                r = subprocess.run(
                    [sys.executable, os.path.join(HERE, "compare.py"), sample, ours],
                    capture_output=True, text=True)
                print("  " + r.stdout.strip().replace("\n", "\n  "))
                ok = r.returncode == 0
            goldens = sorted(glob.glob(os.path.join(folder, "tests", "*.expected.xml")))
            if not goldens:
                print("  no golden documents")
                ok = False
            skip = os.path.join(folder, "xmllint-skip")
            if os.path.isfile(skip):
                with open(skip) as f:
                    print(f"  xmllint skipped: {f.read().strip()}")
            else:
                for golden in goldens:
                    ok = xmllint(folder, golden, tmp) and ok
            failed += not ok
    print(f"{len(folders) - failed} of {len(folders)} exchanges reproduced and valid")
    return 1 if failed or not folders else 0


if __name__ == "__main__":
    sys.exit(main())
