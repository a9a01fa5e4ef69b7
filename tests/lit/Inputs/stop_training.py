"""Starts a long kiln train, sends it a signal after its third step, prints its exit status and
output, then resumes the saved run for one more step and prints that output too."""
import signal
import subprocess
import sys

sig = getattr(signal, "SIG" + sys.argv[1])
ckpt = sys.argv[2]
model = ["--config", "tiny", "--layers", "1", "--batch", "2", "--src-len", "4", "--tgt-len", "4",
         "--no-cache"]
# A shell starts background jobs with SIGINT ignored, and kiln keeps a signal it inherits
# ignored: give the run the default disposition, as a foreground command in a terminal has.
p = subprocess.Popen(["kiln", "train", *model, "--steps", "100000000", "--save", ckpt],
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
lines = []
for line in p.stdout:
    lines.append(line)
    if line.startswith("step     3"):
        p.send_signal(sig)
        break
rest, _ = p.communicate(timeout=300)
print(f"status {p.returncode}")
print("".join(lines) + rest)
saved = [l for l in rest.splitlines() if l.startswith("saved")]
step = int(saved[0].split("step ")[1].split()[0]) if saved else 0
r = subprocess.run(["kiln", "train", *model, "--resume", ckpt, "--steps", str(step + 1)],
                   capture_output=True, text=True, timeout=300)
print(r.stdout + r.stderr)
