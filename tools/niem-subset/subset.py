#!/usr/bin/env python3
"""Generates the project's NIEM subset schemas from a reference release and a wantlist.

Like the NIEM Schema Subset Generation Tool: each wanted element is kept with everything it needs
(its type, base types, substitution-group heads, attribute and simple types); each kept complex
type keeps only the element references that are themselves wanted. Declarations are copied as
text from the reference (annotations included), in their original order, into the same file
layout, so relative schemaLocations and the NIEM documentation stay as released.

A wantlist line "@type prefix:Type" keeps a type that no wanted element uses (the extension's own
elements are declared with it). A wantlist line "@first prefix:SimpleType code ..." lists those codes first in that type's
enumeration. Order has no meaning in XSD, but Xerces checks an enumeration facet by a linear
scan: with the 7,893 ISO 639-3 languages that scan was the largest cost of validating a
placement. The codes that most records carry are found in the first few comparisons; the others
cost what they did before.

Usage: subset.py REFERENCE_XSD_DIR WANTLIST OUT_DIR
Run by developers when the wantlist changes; the output is committed under schemas/niem/.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

XS = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"
TOP = re.compile(r'^  <xs:(element|complexType|simpleType|attribute|attributeGroup)\b.*?\bname="([^"]+)"')


class SchemaFile:
    def __init__(self, root, rel):
        self.rel = rel
        self.path = os.path.join(root, rel)
        self.lines = open(self.path, encoding="utf-8").read().split("\n")
        self.prefixes = {}
        for _, (p, u) in ET.iterparse(self.path, events=["start-ns"]):
            self.prefixes.setdefault(p, u)
        self.tns = ET.parse(self.path).getroot().get("targetNamespace")
        # Header: everything up to the first top-level declaration (schema element, annotation,
        # imports); components: (kind, name, first line, last line).
        self.components = []
        starts = [i for i, l in enumerate(self.lines) if TOP.match(l)]
        end_schema = max(i for i, l in enumerate(self.lines) if l.startswith("</xs:schema>"))
        self.header_end = starts[0] if starts else end_schema
        for n, s in enumerate(starts):
            e = (starts[n + 1] if n + 1 < len(starts) else end_schema) - 1
            m = TOP.match(self.lines[s])
            self.components.append((m.group(1), m.group(2), s, e))

    def text(self, s, e):
        return "\n".join(self.lines[s:e + 1])

    def qn(self, value):
        p, _, local = value.rpartition(":")
        return (self.prefixes.get(p, self.tns if not p else None), local)


def main(ref_dir, wantlist, out_dir):
    files = {}
    for dirpath, _, names in os.walk(ref_dir):
        for n in names:
            if n.endswith(".xsd"):
                rel = os.path.relpath(os.path.join(dirpath, n), ref_dir)
                try:
                    f = SchemaFile(ref_dir, rel)
                except Exception:
                    continue
                if f.tns and f.tns != XML_NS:
                    files[f.tns] = f
    comps = {}  # (ns, kind-group, name) -> (file, kind, s, e)
    for f in files.values():
        for kind, name, s, e in f.components:
            group = "type" if kind in ("complexType", "simpleType") else kind
            comps[(f.tns, group, name)] = (f, kind, s, e)

    wanted_elements = set()
    prefixes = {}
    for f in files.values():
        for p, u in f.prefixes.items():
            prefixes.setdefault(p, u)
    first = {}  # (ns, "type", name) -> codes to list first
    wanted_types = set()
    for line in open(wantlist, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        if line.startswith("@first "):
            _, qname, *codes = line.split()
            p, _, local = qname.partition(":")
            if p not in prefixes or (prefixes[p], "type", local) not in comps:
                sys.exit(f"wantlist: unknown type {qname}")
            first[(prefixes[p], "type", local)] = codes
            continue
        if line.startswith("@type "):
            p, _, local = line.split()[1].partition(":")
            if p not in prefixes or (prefixes[p], "type", local) not in comps:
                sys.exit(f"wantlist: unknown type {line.split()[1]}")
            wanted_types.add((prefixes[p], "type", local))
            continue
        p, _, local = line.partition(":")
        if p not in prefixes or (prefixes[p], "element", local) not in comps:
            sys.exit(f"wantlist: unknown element {line}")
        wanted_elements.add((prefixes[p], local))

    # Close over substitution-group heads: a wanted member needs its head wherever it may appear.
    changed = True
    while changed:
        changed = False
        for ns, local in list(wanted_elements):
            f, _, s, e = comps[(ns, "element", local)]
            el = ET.fromstring(wrap(f, s, e))[0]
            sg = el.get("substitutionGroup")
            if sg and f.qn(sg) not in wanted_elements:
                wanted_elements.add(f.qn(sg))
                changed = True

    keep = set()  # (ns, group, name)
    work = [(ns, "element", n) for ns, n in wanted_elements] + list(wanted_types)
    while work:
        k = work.pop()
        if k in keep or k[0] in (XS, XML_NS, None):
            continue
        if k not in comps:
            sys.exit(f"missing component {k}")
        keep.add(k)
        f, kind, s, e = comps[k]
        el = ET.fromstring(wrap(f, s, e))[0]
        for node in el.iter():
            tag = node.tag.split("}")[1]
            for attr, group in (("type", "type"), ("base", "type"), ("itemType", "type")):
                if node.get(attr):
                    q = f.qn(node.get(attr))
                    work.append((q[0], group, q[1]))
            if node.get("memberTypes"):
                for m in node.get("memberTypes").split():
                    work.append((f.qn(m)[0], "type", f.qn(m)[1]))
            if tag == "attribute" and node.get("ref"):
                work.append((f.qn(node.get("ref"))[0], "attribute", f.qn(node.get("ref"))[1]))
            if tag == "attributeGroup" and node.get("ref"):
                work.append((f.qn(node.get("ref"))[0], "attributeGroup", f.qn(node.get("ref"))[1]))
            if tag == "element" and node.get("ref") and node is not el:
                q = f.qn(node.get("ref"))
                if q in wanted_elements:
                    work.append((q[0], "element", q[1]))
        if kind == "element" and el.get("substitutionGroup"):
            q = f.qn(el.get("substitutionGroup"))
            work.append((q[0], "element", q[1]))

    used_ns = {k[0] for k in keep}
    ref_line = re.compile(r'^\s*<xs:element ref="([^"]+)"[^>]*/>\s*$')
    for ns in sorted(used_ns):
        f = files[ns]
        out = []
        for i, line in enumerate(f.lines[: f.header_end]):
            m = re.search(r'<xs:import namespace="([^"]+)"', line)
            if m and m.group(1) not in used_ns and m.group(1) != XML_NS:
                continue
            if m and m.group(1) == XML_NS and not any(k[0] == XML_NS for k in keep) and not uses_xml(f, keep):
                continue
            out.append(line)
        for kind, name, s, e in f.components:
            group = "type" if kind in ("complexType", "simpleType") else kind
            if (ns, group, name) not in keep:
                continue
            lines = f.lines[s:e + 1]
            if (ns, group, name) in first:
                lines = enumerations_first(lines, first[(ns, group, name)], name)
            for line in lines:
                m = ref_line.match(line)
                if m and f.qn(m.group(1)) not in wanted_elements:
                    continue
                out.append(line)
        out.append("</xs:schema>")
        out.append("")
        dest = os.path.join(out_dir, f.rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w", encoding="utf-8") as o:
            o.write("\n".join(out))
        print(f"{f.rel}: {sum(1 for k in keep if k[0] == ns)} components")


def enumerations_first(lines, codes, name):
    """The same lines with the enumeration blocks of `codes` moved, in that order, to the front."""
    start = re.compile(r'^\s*<xs:enumeration value="([^"]*)"')
    blocks, order, head, tail = {}, [], None, []
    i = 0
    while i < len(lines):
        m = start.match(lines[i])
        if not m:
            tail.append(lines[i])
            i += 1
            continue
        if head is None:
            head = len(tail)  # where the enumerations begin
        j = i
        if not lines[i].rstrip().endswith("/>"):
            while "</xs:enumeration>" not in lines[j]:
                j += 1
        blocks[m.group(1)] = lines[i:j + 1]
        order.append(m.group(1))
        i = j + 1
    missing = [c for c in codes if c not in blocks]
    if missing:
        sys.exit(f"wantlist: {name} has no code {' '.join(missing)}")
    rest = [c for c in order if c not in set(codes)]
    body = [l for c in list(codes) + rest for l in blocks[c]]
    return tail[:head] + body + tail[head:]


def uses_xml(f, keep):
    return any(k[0] == f.tns for k in keep) and 'ref="xml:lang"' in "\n".join(f.lines)


def wrap(f, s, e):
    decls = " ".join(f'xmlns:{p}="{u}"' if p else f'xmlns="{u}"' for p, u in f.prefixes.items())
    return f"<w {decls}>{f.text(s, e)}</w>"


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
