#!/usr/bin/env python3
"""Checks the include edges between kiln's layers against DESIGN.md.

Each folder may include only the folders listed for it; the runtime may use only the type-level
headers of ir/. Exits 1 listing every forbidden include.
"""
import pathlib
import re
import sys

ALLOWED = {
    "ir": {"ir"},
    "frontend": {"ir", "frontend"},
    "passes": {"ir", "passes"},
    "compiler": {"ir", "frontend", "passes", "compiler"},
    "backend": {"ir", "passes", "runtime", "backend"},
    "runtime": {"runtime", "ir"},
    "tools": {"ir", "frontend", "passes", "compiler", "backend", "runtime", "tools"},
    "python": {"ir", "frontend", "passes", "compiler", "backend", "runtime", "tools", "python"},
}
# ir (types only): what the runtime may include from ir/.
RUNTIME_IR = {"ir/types.h", "ir/literal.h", "ir/diagnostics.h", "ir/philox.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    problems = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*")):
            if path.suffix not in (".h", ".cpp"):
                continue
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(1)
                top = header.split("/")[0]
                where = f"{path.relative_to(root)}:{lineno}"
                if top in ALLOWED and top not in allowed:
                    problems.append(f"{where}: {layer}/ may not include {header}")
                elif layer == "runtime" and top == "ir" and header not in RUNTIME_IR:
                    problems.append(f"{where}: runtime/ may use ir's types only, not {header}")
    for p in problems:
        print(p)
    print(f"{len(problems)} forbidden includes" if problems else "layering: every include follows DESIGN.md")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
