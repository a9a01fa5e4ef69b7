"""Prints the first ```sh block of a README section, for the tests that run it as written.

Usage: readme_block.py README.md "Section title"
"""
import sys

readme, title = sys.argv[1], sys.argv[2]
lines = open(readme, encoding="utf-8").read().split("\n")
heading = [i for i, line in enumerate(lines) if line.lstrip("#").strip() == title and
           line.startswith("#")]
if len(heading) != 1:
    sys.exit(f"{readme}: {len(heading)} sections are titled '{title}', expected one")
start = next((i for i in range(heading[0], len(lines)) if lines[i] == "```sh"), None)
if start is None:
    sys.exit(f"{readme}: section '{title}' has no ```sh block")
end = lines.index("```", start + 1)
print("\n".join(lines[start + 1:end]))
