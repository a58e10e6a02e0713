#!/usr/bin/env python3
"""Compares a document the broker wrote with a published IEPD's sample instance.

Both are read namespace-aware; prefixes, the default namespace, indentation and namespace
declarations do not matter. What must match, in document order:
  - every leaf value: (path of qualified names from the root, text);
  - every attribute: (path, qualified name, value), xsi:schemaLocation excepted (it names the
    publisher's files, not data).
Prints the counts ("leaves 66 of 66, attributes 20 of 20") and, on a mismatch, each difference;
exit status 1 on any difference.

usage: compare.py SAMPLE.xml OURS.xml
"""
import sys
import xml.etree.ElementTree as ET

XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def read(path):
    leaves, attrs = [], []

    def walk(el, trail):
        here = trail + (el.tag,)
        for name, value in el.attrib.items():
            if name != XSI + "schemaLocation":
                attrs.append(("/".join(here), name, value))
        kids = list(el)
        if not kids:
            leaves.append(("/".join(here), (el.text or "").strip()))
        for k in kids:
            walk(k, here)

    walk(ET.parse(path).getroot(), ())
    return leaves, attrs


def diff(kind, want, got):
    """Reports the first differences of two ordered lists; returns how many of `want` matched."""
    matched = sum(1 for a, b in zip(want, got) if a == b)
    problems = 0
    for i in range(max(len(want), len(got))):
        a = want[i] if i < len(want) else None
        b = got[i] if i < len(got) else None
        if a != b:
            problems += 1
            if problems <= 5:
                print(f"{kind} {i + 1}: sample {a}\n{' ' * len(kind)}    ours   {b}")
    return matched, problems


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    want_leaves, want_attrs = read(sys.argv[1])
    got_leaves, got_attrs = read(sys.argv[2])
    lm, lp = diff("leaf", want_leaves, got_leaves)
    am, ap = diff("attribute", want_attrs, got_attrs)
    print(f"leaves {lm} of {len(want_leaves)}, attributes {am} of {len(want_attrs)}"
          f" (ours: {len(got_leaves)} leaves, {len(got_attrs)} attributes)")
    return 1 if lp or ap else 0


if __name__ == "__main__":
    sys.exit(main())
