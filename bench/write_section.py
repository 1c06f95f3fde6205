#!/usr/bin/env python3
"""Writes one benchmark's section of bench/RESULTS.md, read from stdin.

    write_section.py RESULTS NAME [BEGIN_MARKER]

The section goes between `<!-- NAME:begin -->` (or BEGIN_MARKER) and
`<!-- NAME:end -->`, replacing what was there; the rest of the file (other
benchmarks' sections, the Notes) is left as it is. Without the markers the
section is added before "## Notes" (or at the end); a file with only one of
them is refused untouched. Every bench script writes its results this way.
"""
import sys

if len(sys.argv) not in (3, 4):
    sys.exit(__doc__.strip().splitlines()[2].strip())
path, name = sys.argv[1], sys.argv[2]
begin = sys.argv[3] if len(sys.argv) == 4 else "<!-- %s:begin -->" % name
end = "<!-- %s:end -->" % name
block = begin + "\n" + sys.stdin.read().strip("\n") + "\n" + end
try:
    text = open(path, encoding="utf-8").read()
except FileNotFoundError:
    text = "# Benchmark results\n\n## Notes\n"
start, stop = text.find(begin), text.find(end)
if start >= 0 and stop > start:
    text = text[:start] + block + text[stop + len(end):]
elif start >= 0 or stop >= 0:
    sys.exit("%s: %s has only one of the %s markers; not touching it" % (name, path, name))
else:
    notes = text.find("\n## Notes")
    if notes < 0:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = text[:notes + 1] + block + "\n\n" + text[notes + 1:]
with open(path, "w", encoding="utf-8") as handle:
    handle.write(text)
