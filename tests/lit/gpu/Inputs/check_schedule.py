"""Checks kiln emit's schedule.json against the module it wrote (arguments: emit folders).

Each kernel of the schedule must be one `.entry` of module.ptx, the entries no more than the
kernels, every buffer bound to a graph value with a home, every launch positive, and no node
left to a reference fallback. Exits 1 naming the first problem.
"""
import json
import pathlib
import re
import sys


def check(folder: pathlib.Path) -> str:
    schedule = json.loads((folder / "schedule.json").read_text())
    ptx = (folder / "module.ptx").read_text()
    entries = re.findall(r"^\.visible \.entry (\w+)\(", ptx, re.M)
    names = [k["name"] for k in schedule["kernels"]]
    if not names:
        return "no kernels"
    if sorted(entries) != sorted(names):
        return f"entries {len(entries)} differ from the schedule's {len(names)} kernels"
    if schedule["fallbacks"]:
        return f"fallbacks: {schedule['fallbacks']}"
    for k in schedule["kernels"]:
        launch = k["launch"]
        if launch["grid"] < 1 or launch["block"] < 1 or launch["shared_bytes"] < 0:
            return f"{k['name']}: launch {launch}"
        for b in k["buffers"]:
            if not b["value"].startswith("%") or b["home"] not in ("arena", "input", "output"):
                return f"{k['name']}: buffer {b}"
    return ""


def main() -> int:
    for arg in sys.argv[1:]:
        problem = check(pathlib.Path(arg))
        if problem:
            print(f"{arg}: {problem}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
