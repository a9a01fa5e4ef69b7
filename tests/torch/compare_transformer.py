#!/usr/bin/python3
"""Oracle test: kiln's Transformer forward pass, loss and gradients against PyTorch's nn.Transformer.

For each case this script
  1. writes initial weights with `kiln init`, perturbs every tensor (so that biases and
     LayerNorm parameters, which kiln initialises to 0 and 1, are exercised too) and saves them;
  2. writes padded `src`/`tgt` token batches and runs `kiln run` on them (with `--grads`: also
     kiln's reverse-mode gradient `grad.<name>` of the loss for every parameter);
  3. rebuilds the same model from the same weights as a float64 `nn.Transformer` and compares
     the logits and the loss (with `--grads`: also every parameter's gradient from loss.backward()).

Exits non-zero, naming the case and the error, on any mismatch. Requires Debian's python3-torch
(1.13) and numpy; it does not need the `safetensors` package.
"""
import argparse
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as e:  # Fail loudly: a missing oracle must not look like a pass.
    sys.exit(f"FAIL: numpy and PyTorch are required for this test ({e}); run scripts/install-deps.sh "
             "(Debian package python3-torch) and use /usr/bin/python3")

PAD, BOS, EOS = 0, 1, 2
PRESETS = {"tiny": dict(d_model=64, heads=4, ffn=256, encoder_layers=2, decoder_layers=2, vocab=1000)}

# Tolerances. kiln's reference interpreter computes in f32 and rounds after every op, while the
# oracle runs in f64, so the difference is kiln's accumulated f32 rounding. Observed (these fixed
# cases, deterministic): max |logits error| 2.7e-7..4.3e-7 on logits of magnitude <= ~4, i.e. a
# few f32 ulps; loss relative error ~1e-8. LOGITS_ATOL = 5e-6 leaves >10x headroom for a change of
# summation order (fusion, another backend) yet still catches subtle semantic slips: LayerNorm
# eps 1e-6 instead of 1e-5 moves logits by 7e-6..1.2e-5, while a wrong mask, PE, scale, norm
# placement or transposed weight moves them by >= 1e-1. The loss is a mean of log-softmax
# values: LOSS_RTOL = 1e-6 is ~50x the observed error; a loss-only slip (ignore_index, label
# smoothing) moves it by >= 6e-4 relative. If a bigger case is added, re-measure before loosening.
LOGITS_ATOL = 5e-6
LOSS_RTOL, LOSS_ATOL = 1e-6, 1e-7
# Gradients are checked per tensor as max|kiln - torch| <= GRAD_ATOL + GRAD_RTOL * max|torch|, since
# their magnitudes differ by tensor (max|grad| ~0.02 for early layers, ~0.7 for the generator).
# Observed: max|error| / max|grad| 2.0e-7..4.4e-7 over these cases and 18 other seeds, i.e. ~3 f32
# ulps, the worst tensor varying (norms, embeddings, linear1). GRAD_RTOL = 5e-6 is >10x that, and
# still catches gradient-only slips that leave logits and loss untouched: a detached tied generator
# (tgt_embed.weight off by 1.6x), LayerNorm backward without the mean/variance terms (>= 0.5), the
# tanh-GELU derivative (0.6), the loss gradient scaled by 1+1e-4 (1e-4) or one embedding's
# backward scale off by 1.25e-5; LayerNorm eps 1e-6 moves gradients by 6e-6..1e-5 (also caught).
# GRAD_ATOL only decides all-zero gradients, where a relative error means nothing.
# (Dropping tgt_key_padding_mask changes only logits at padded positions: the causal mask already
# hides right padding from real queries, so the loss and its gradients cannot see it.)
GRAD_RTOL, GRAD_ATOL = 5e-6, 1e-10

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Returns ({name: numpy array}, metadata dict) of a safetensors file."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: numpy array} (f32/f64/i64/i32, little-endian) as a safetensors file."""
    names = {v: k for k, v in _DTYPES.items()}
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[arr.dtype.type], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # align the data to 8 bytes, as the format recommends
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def resolve_config(flags):
    """Mirrors kiln's ModelFlags::resolve(): a preset, then the explicit overrides."""
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny")
    for name in ("d-model", "heads", "ffn", "layers", "encoder-layers", "decoder-layers", "vocab"):
        p.add_argument("--" + name, type=int)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    for name in ("pre-norm", "gelu", "tie-generator"):
        p.add_argument("--" + name, action="store_true")
    a = p.parse_args(flags)
    c = dict(PRESETS[a.config])
    for key in ("d_model", "heads", "ffn", "vocab"):
        if getattr(a, key) is not None:
            c[key] = getattr(a, key)
    if a.layers is not None:
        c["encoder_layers"] = c["decoder_layers"] = a.layers
    for key in ("encoder_layers", "decoder_layers"):
        if getattr(a, key) is not None:
            c[key] = getattr(a, key)
    c.update(label_smoothing=a.label_smoothing, pre_norm=a.pre_norm, gelu=a.gelu, tie=a.tie_generator)
    return c


def perturb(weights, rng):
    """Adds noise to every parameter so that zero biases and unit norms become generic values."""
    out = {}
    for name, w in weights.items():
        scale = 0.1 if w.ndim == 1 else 0.02
        out[name] = (w + scale * rng.standard_normal(w.shape)).astype(np.float32)
    return out


def make_tokens(rng, lengths, width, vocab):
    """A [len(lengths), width] batch of ordinary tokens ending in EOS, right-padded with PAD."""
    out = np.full((len(lengths), width), PAD, dtype=np.int64)
    for row, n in enumerate(lengths):
        out[row, :n] = rng.integers(EOS + 2, vocab, size=n)  # avoid PAD, BOS, EOS and UNK
        out[row, n - 1] = EOS
    return out


def sinusoidal(length, d):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same), in float64."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(length, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)[:, : d // 2]
    return pe


def torch_forward(c, weights, src, tgt, grads=False):
    """The reference: nn.Transformer in float64 on kiln's weights; returns (logits, loss, grads).

    With grads=True, grads is {parameter name: d loss / d parameter} from loss.backward(), under
    kiln's parameter names (with a tied generator, tgt_embed.weight collects both uses); else None.
    """
    d = c["d_model"]
    model = nn.Transformer(d_model=d, nhead=c["heads"], num_encoder_layers=c["encoder_layers"],
                           num_decoder_layers=c["decoder_layers"], dim_feedforward=c["ffn"],
                           dropout=0.0, activation="gelu" if c["gelu"] else "relu",
                           layer_norm_eps=1e-5, batch_first=True, norm_first=c["pre_norm"],
                           dtype=torch.float64)
    # PyTorch 1.13's "fast path": in eval() mode, with batch_first and a src_key_padding_mask,
    # TransformerEncoder packs its input into a nested tensor, so the memory comes back with zeros
    # at padded positions and cut to the longest row (then memory_key_padding_mask no longer fits
    # and MHA asserts). That is not the plain math we want to compare against. 1.13 has no
    # torch.backends.mha switch and nn.Transformer has no enable_nested_tensor argument, so we
    # clear the encoder's flag, and stay in train() mode, which every fast path in 1.13 excludes;
    # with dropout=0.0, train mode is exactly the deterministic forward pass.
    model.encoder.enable_nested_tensor = False
    model.train()
    w = {k: torch.from_numpy(v).to(torch.float64).requires_grad_(grads) for k, v in weights.items()}
    state = {k: v for k, v in w.items() if k.startswith(("encoder.", "decoder."))}
    model.load_state_dict(state, strict=True)  # every nn.Transformer parameter, by its own name
    params = dict(model.named_parameters())  # load_state_dict copied into these: they get the grads
    params.update({k: v for k, v in w.items() if k not in state})  # embeddings, generator
    gen_w = w["tgt_embed.weight"] if c["tie"] else w["generator.weight"]

    src_t, tgt_t = torch.from_numpy(src).long(), torch.from_numpy(tgt).long()
    dec_in = torch.cat([torch.full_like(tgt_t[:, :1], BOS), tgt_t[:, :-1]], dim=1)
    scale = math.sqrt(d)
    x = w["src_embed.weight"][src_t] * scale + sinusoidal(src_t.shape[1], d)
    y = w["tgt_embed.weight"][dec_in] * scale + sinusoidal(dec_in.shape[1], d)
    causal = nn.Transformer.generate_square_subsequent_mask(dec_in.shape[1]).to(torch.float64)
    with torch.set_grad_enabled(grads):
        out = model(x, y, tgt_mask=causal, src_key_padding_mask=src_t == PAD,
                    tgt_key_padding_mask=dec_in == PAD, memory_key_padding_mask=src_t == PAD)
        logits = out @ gen_w.T + w["generator.bias"]
        loss = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=c["label_smoothing"])(
            logits.reshape(-1, c["vocab"]), tgt_t.reshape(-1))
    if not grads:
        return logits.numpy(), float(loss), None
    loss.backward()
    assert sorted(params) == sorted(weights), "the oracle must cover exactly kiln's parameters"
    grad = {k: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy() for k, p in params.items()}
    return logits.detach().numpy(), float(loss), grad


def run(cmd):
    """Runs a kiln command; on failure, exits with its output."""
    try:
        r = subprocess.run([str(x) for x in cmd], capture_output=True, text=True)
    except OSError as e:
        sys.exit(f"FAIL: cannot run `{cmd[0]}`: {e}")
    if r.returncode != 0:
        sys.exit(f"FAIL: `{' '.join(map(str, cmd))}` exited {r.returncode}\n{r.stdout}{r.stderr}")


def compare_forward(got, want_logits, want_loss):
    """Checks kiln's logits and loss; returns (summary line, list of problems)."""
    if got["logits"].shape != want_logits.shape:
        return "", [f"logits shape {got['logits'].shape}, expected {want_logits.shape}"]
    err = np.abs(got["logits"].astype(np.float64) - want_logits)
    worst = np.unravel_index(np.argmax(err), err.shape)
    loss = float(got["loss"].reshape(()))
    loss_err = abs(loss - want_loss)
    line = (f"max|dlogits|={err.max():.3e} (max|logit|={np.abs(want_logits).max():.2f})  loss kiln={loss:.7f} "
            f"torch={want_loss:.7f} |dloss|={loss_err:.3e} rel={loss_err / abs(want_loss):.3e}")
    problems = []
    if not np.isfinite(got["logits"]).all():
        problems.append("kiln logits contain non-finite values")
    if not err.max() <= LOGITS_ATOL:
        problems.append(f"max |logits - torch| = {err.max():.3e} > atol {LOGITS_ATOL} at [b,t,v]={list(worst)}"
                        f" (kiln {got['logits'][worst]:.6f}, torch {want_logits[worst]:.6f})")
    if not loss_err <= LOSS_ATOL + LOSS_RTOL * abs(want_loss):
        problems.append(f"loss kiln {loss:.7f} vs torch {want_loss:.7f} exceeds rtol {LOSS_RTOL}")
    return line, problems


def compare_grads(got, want):
    """Checks kiln's grad.<name> against torch's, per tensor, with |kiln - torch| <= GRAD_ATOL +
    GRAD_RTOL * max|torch| over the tensor; returns (summary line, list of problems)."""
    names = {k[len("grad."):] for k in got if k.startswith("grad.")}
    problems = [f"grad.{k} missing" for k in sorted(set(want) - names)]
    problems += [f"grad.{k} is not a parameter" for k in sorted(names - set(want))]
    worst_abs, worst_rel = ("-", 0.0, 0.0), ("-", 0.0, 0.0)  # (name, |error|, |error| / max|grad|)
    for k in sorted(names & set(want)):
        g, w = got["grad." + k], want[k]
        if g.shape != w.shape or not np.isfinite(g).all():
            problems.append(f"grad.{k}: shape {g.shape} (want {w.shape}) or non-finite values")
            continue
        diff = np.abs(g.astype(np.float64) - w)
        err, scale = diff.max(), np.abs(w).max()
        rel = err / scale if scale > 0 else (math.inf if err > 0 else 0.0)
        worst_abs = max(worst_abs, (k, err, rel), key=lambda t: t[1])
        worst_rel = max(worst_rel, (k, err, rel), key=lambda t: t[2])
        if not err <= GRAD_ATOL + GRAD_RTOL * scale:
            i = np.unravel_index(np.argmax(diff), diff.shape)
            problems.append(f"grad.{k}: max|error| {err:.3e} > {GRAD_ATOL} + {GRAD_RTOL} * max|grad| {scale:.3e}"
                            f" at {list(i)} (kiln {g[i]:.6e}, torch {w[i]:.6e})")
    line = (f"{len(names)} grads: max|dgrad|={worst_abs[1]:.3e} ({worst_abs[0]}), max|dgrad|/max|grad|="
            f"{worst_rel[2]:.3e} ({worst_rel[0]}, |dgrad|={worst_rel[1]:.3e})")
    return line, problems


def check_case(kiln, workdir, grads, name, flags, src_lens, tgt_lens, seed, id_dtype=np.int64):
    """Runs one case through kiln and PyTorch (gradients too if `grads`); returns an error or None."""
    c = resolve_config(flags)
    rng = np.random.default_rng(seed)
    d = Path(workdir) / name
    d.mkdir(parents=True, exist_ok=True)
    run([kiln, "init", *flags, "--seed", seed, "-o", d / "init.safetensors"])
    init, meta = read_safetensors(d / "init.safetensors")
    if ("generator.weight" in init) == c["tie"] or init["src_embed.weight"].shape != (c["vocab"], c["d_model"]):
        return f"{name}: kiln init wrote parameters that do not fit the config {c}"
    weights = perturb(init, rng)
    write_safetensors(d / "weights.safetensors", weights, meta)

    S, T = max(src_lens) + 1, max(tgt_lens)  # the longest src row is padded too
    src = make_tokens(rng, src_lens, S, c["vocab"])
    tgt = make_tokens(rng, tgt_lens, T, c["vocab"])
    write_safetensors(d / "inputs.safetensors", {"src": src.astype(id_dtype), "tgt": tgt.astype(id_dtype)})
    run([kiln, "run", *flags, "--weights", d / "weights.safetensors", "--inputs", d / "inputs.safetensors",
         *(["--grads"] if grads else []), "-o", d / "out.safetensors"])
    got, _ = read_safetensors(d / "out.safetensors")

    want_logits, want_loss, want_grads = torch_forward(c, weights, src, tgt, grads)
    line, problems = compare_forward(got, want_logits, want_loss)
    print(f"{name:<22} B={len(src_lens)} S={S} T={T}  {line}")
    if grads:
        line, grad_problems = compare_grads(got, want_grads)
        print(f"{'':<22} {line}")
        problems += grad_problems
    return f"{name}: " + "; ".join(problems) if problems else None


CASES = [
    # name, kiln flags, src lengths per row, tgt lengths per row (incl. EOS), seed, token dtype
    ("tiny_post_norm", ["--config", "tiny"], [9, 4, 1], [5, 7, 2], 0, np.int64),
    ("prenorm_gelu_tied_ls", ["--pre-norm", "--gelu", "--tie-generator", "--label-smoothing", "0.1",
                              "--layers", "1", "--d-model", "32", "--heads", "2", "--ffn", "64",
                              "--vocab", "50"], [6, 3, 5, 2], [4, 6, 1, 3], 1, np.int32),
    ("enc3_dec1", ["--config", "tiny", "--encoder-layers", "3", "--decoder-layers", "1"],
     [4, 6, 2], [8, 3, 5], 2, np.int64),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", required=True, help="path to the kiln binary")
    ap.add_argument("--workdir", required=True, help="folder for the weights, inputs and outputs")
    ap.add_argument("--grads", action="store_true", help="also compare the gradients of the loss")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}; tolerances: logits atol {LOGITS_ATOL}, loss rtol {LOSS_RTOL}"
          + (f", gradients atol {GRAD_ATOL} + rtol {GRAD_RTOL} * max|grad| per tensor" if args.grads else ""))
    failures = [f for f in (check_case(args.kiln, args.workdir, args.grads, *case) for case in CASES) if f]
    for f in failures:
        print("MISMATCH " + f, file=sys.stderr)
    if failures:
        sys.exit(f"FAIL: {len(failures)} of {len(CASES)} cases differ from PyTorch")
    print(f"PASS: {len(CASES)} cases match PyTorch")


if __name__ == "__main__":
    main()
