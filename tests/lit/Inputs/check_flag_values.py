"""Every numeric flag of every kiln subcommand refuses values that make no sense.

Reads each subcommand's --help for its INT, UINT and FLOAT flags, gives each NaN, infinity, a
negative number, a number too large for any type and numbers not written in decimal, and checks that kiln refuses every one at
once: exit status 1 for a value out of range or 2 for one of the wrong form, with a message that
names the flag. A flag without a check would start the command's work instead (or complain about
something else), so this fails for any new numeric flag added without one.
"""
import re
import subprocess
import sys

kiln = sys.argv[1]
commands = [["dump"], ["params"], ["init"], ["run"], ["train"], ["bench"], ["data"],
            ["tokenizer", "train"], ["translate"], ["eval"]]
flag = re.compile(r"^(\s+(?:-\w,\s*)?(--[\w-]+)\s+(INT|UINT|FLOAT)\b.*)$", re.M)
# CLI11 itself would read 0x10 as 16 and 010 as octal 8.
bad = {"FLOAT": ["nan", "inf", "-inf", "-1", "1e999", "0x10", "010"],
       "INT": ["-1", "nan", "99999999999999999999999", "0x10", "010"],
       "UINT": ["-1", "nan", "99999999999999999999999", "0x10", "010"]}
checked, failures, seen = 0, [], set()
for cmd in commands:
    help_text = subprocess.run([kiln, *cmd, "--help"], capture_output=True, text=True,
                               check=True).stdout
    for line, name, kind in flag.findall(help_text):
        # A flag that several subcommands share (the model flags) is tried once.
        if line in seen:
            continue
        seen.add(line)
        for value in bad[kind]:
            args = [kiln, *cmd, f"{name}={value}"]
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                failures.append(f"{' '.join(args[1:])}: still running after 60 s")
                continue
            checked += 1
            if r.returncode not in (1, 2) or name not in r.stderr or value not in r.stderr:
                failures.append(f"{' '.join(args[1:])}: status {r.returncode}, "
                                f"stderr {r.stderr.strip()!r}")
for f in failures:
    print("FAIL", f)
print(f"{checked} bad values of numeric flags tried, {len(failures)} accepted")
sys.exit(1 if failures or checked == 0 else 0)
