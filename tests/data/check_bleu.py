#!/usr/bin/env python3
"""Checks `kiln bleu` against sacreBLEU itself (2.4.3, from PyPI, in build/pyenv).

Hypotheses are made from references by seeded edits (words dropped, swapped, replaced,
repeated; whole lines emptied), at several strengths, plus lines that exercise the 13a
tokeniser (numbers, dashes, entities, quotes, symbols, umlauts). The references are Ding's
German test sentences when the dictionary is installed, else a list written here. For each
corpus the summary line must equal sacreBLEU's, and every tokenised line sacreBLEU's 13a.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

try:
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
except ImportError:
    # scripts/install-deps.sh puts sacreBLEU in build/pyenv: run there.
    venv = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "build", "pyenv"))
    python = os.path.join(venv, "bin", "python")
    if os.path.exists(python) and os.path.normpath(sys.prefix) != venv:
        os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])
    print("sacreBLEU is missing: scripts/install-deps.sh installs it into build/pyenv")
    sys.exit(1 if os.environ.get("CI") == "true" else 77)

TRICKY = [
    "Er kam um 3.5 Uhr, nicht um 4,25 Uhr.",
    "Die Jahre 1990-1995 waren gut - sagte er.",
    "Tom &amp; Jerry &quot;sind&quot; &lt;hier&gt;.",
    "„Komm her!“, rief er; dann: (nichts) [gar nichts] {wirklich}.",
    "Preis: 5$ / 10€ @ 50% ~ ^ | \\ _ ` #1 *2 +3 =4",
    "Über Ärger öfter mit Öl und Übel.",
    "e-mail, z.B. u.s.w., 1.000.000 und 2,5-fach",
    "",
    "   viele    Leerzeichen   hier   ",
]
FALLBACK = [
    "Das Haus ist klein.", "Der Hund schläft im Garten.", "Wir haben das Spiel verloren.",
    "Sie spielt gern Fußball.", "Mir gefällt es sehr.", "Die Katze ist klein und alt.",
    "Kommst du heute Abend zum Essen?", "Ich habe keine Zeit, leider.",
] * 40


def edit(ref, strength, rng):
    words = ref.split()
    if rng.random() < strength / 4:
        return ""
    out = []
    for w in words:
        r = rng.random()
        if r < strength / 3:
            continue
        if r < strength / 2:
            out.append(rng.choice(words))
        elif r < strength * 2 / 3:
            out.append(w)
            out.append(w)
        else:
            out.append(w)
    if len(out) > 1 and rng.random() < strength:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return " ".join(out)


def kiln(args, *extra):
    return subprocess.run([args.kiln, "bleu", *extra], check=True, capture_output=True,
                          text=True).stdout.splitlines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    args = ap.parse_args()
    refs = FALLBACK
    if os.path.exists("/usr/share/trans/de-en"):
        text = subprocess.run([args.kiln, "data", "--split", "test"], check=True,
                              capture_output=True, text=True).stdout
        refs = [line.split("\t")[1] for line in text.splitlines()][:600]
    refs = refs + TRICKY
    failed = False
    with tempfile.TemporaryDirectory() as d:
        ref_path = os.path.join(d, "ref.txt")
        with open(ref_path, "w") as f:
            f.write("\n".join(refs) + "\n")
        tokenizer = Tokenizer13a()
        corpora = []
        for strength in (0.0, 0.1, 0.3, 0.6, 0.95):
            rng = random.Random(int(strength * 100))
            corpora.append((f"edits {strength}", [edit(r, strength, rng) for r in refs], refs))
        # Smoothing: no 3- or 4-gram matches; no 4-grams at all; nothing but empty lines.
        corpora.append(("no long matches", ["a b c d e"], ["a b x d e"]))
        corpora.append(("short lines", ["Das Haus", "ist klein"], ["Das Haus ist", "klein"]))
        corpora.append(("empty", ["", ""], ["Das Haus.", "Klein."]))
        for i, (name, hyps, these_refs) in enumerate(corpora):
            hyp_path, this_ref = os.path.join(d, f"hyp{i}.txt"), ref_path
            with open(hyp_path, "w") as f:
                f.write("\n".join(hyps) + "\n")
            if these_refs is not refs:
                this_ref = os.path.join(d, f"ref{i}.txt")
                with open(this_ref, "w") as f:
                    f.write("\n".join(these_refs) + "\n")
            want = str(sacrebleu.corpus_bleu(hyps, [these_refs])).split(" = ", 1)[1]
            got = kiln(args, "--hyp", hyp_path, "--ref", this_ref)[0].split(" = ", 1)[1]
            print(f"{name}: kiln {got} | sacreBLEU {want}")
            if got != want:
                failed = True
            tokens = kiln(args, "--hyp", hyp_path, "--ref", this_ref, "--tokens")
            for line, mine in zip(hyps, tokens):
                if tokenizer(line) != mine:
                    print(f"13a differs on {line!r}: kiln {mine!r}, sacreBLEU {tokenizer(line)!r}")
                    failed = True
                    break
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
