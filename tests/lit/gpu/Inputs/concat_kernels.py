"""Prints the .kernel files of a kiln emit folder in the order of its schedule.json."""
import json
import pathlib
import sys

folder = pathlib.Path(sys.argv[1])
for k in json.loads((folder / "schedule.json").read_text())["kernels"]:
    sys.stdout.write((folder / k["file"]).read_text())
