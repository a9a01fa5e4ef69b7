#!/usr/bin/env python3
"""The peers of `kiln bench`: the same Transformer, loss and Adam step in PyTorch and JAX.

The model follows nn.Transformer's conventions exactly as kiln's DSL model does (post-norm
layers, final encoder and decoder norms, untied source and target embeddings scaled by
sqrt(d_model) plus sinusoidal positions, a generator with a bias, dropout 0.1, cross-entropy
over non-PAD target tokens, Adam with betas (0.9, 0.98), eps 1e-9 and the paper's warm-up
schedule), at kiln bench's sizes, on random copy-task batches. Prints the parameter count (it
must equal kiln's) and one JSON line per peer with kiln bench's fields. With --precision bf16
each peer runs its products in bf16 the way its users would ask for it: PyTorch under
torch.autocast("cpu", torch.bfloat16), JAX with bf16 operands for every matmul (results cast
back to f32), f32 weights and optimizer state in both, as kiln's --precision bf16.

  bench/peers.py --config tiny --peers eager,compile,jax --threads 2

A peer whose package is missing is skipped with a note (bench/setup.sh installs them).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
import warnings

# numpy warns at import when another library has set flush-to-zero; the peers do not care.
warnings.filterwarnings("ignore", message="The value of the smallest subnormal")

PAD, BOS, EOS = 0, 1, 2
PRESETS = {
    "tiny": dict(d_model=64, heads=4, ffn=256, layers=2, vocab=1000, batch=16, src_len=16, tgt_len=16),
    "small": dict(d_model=256, heads=4, ffn=1024, layers=3, vocab=8000, batch=32, src_len=32, tgt_len=32),
    "base": dict(d_model=512, heads=8, ffn=2048, layers=6, vocab=30000, batch=8, src_len=32, tgt_len=32),
}


def copy_batch(rng, c):
    """src and tgt of the copy task: content tokens then EOS, right-padded (numpy, int64)."""
    import numpy as np
    b, s, t = c["batch"], c["src_len"], c["tgt_len"]
    src = np.full((b, s), PAD, dtype=np.int64)
    tgt = np.full((b, t), PAD, dtype=np.int64)
    for r in range(b):
        n = int(rng.integers(1, min(s, t)))
        content = rng.integers(4, c["vocab"], size=n)
        src[r, :n], src[r, n] = content, EOS
        tgt[r, :n], tgt[r, n] = content, EOS
    return src, tgt


def schedule(step, d, warmup):
    return d ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(tool, c, args, params, times, compile_s, version):
    med = statistics.median(times)
    line = {"tool": tool, "version": version, "config": args.config, "mode": args.mode,
            "batch": c["batch"], "src_len": c["src_len"], "tgt_len": c["tgt_len"], "precision": args.precision,
            "threads": args.threads, "params": params, "ms_min": 1e3 * min(times),
            "ms_median": 1e3 * med, "tokens_per_s": c["batch"] * c["tgt_len"] / med,
            "peak_rss_mib": peak_rss_mib(), "compile_s": compile_s}
    print(f"{tool} {version}: {1e3 * min(times):.2f} ms min, {1e3 * med:.2f} ms median, "
          f"{line['tokens_per_s']:.0f} target tokens/s, compile {compile_s:.2f} s", file=sys.stderr)
    print(json.dumps(line), flush=True)


def timed(step, args):
    """Runs step() warmup times, then times it; returns (seconds per step, first call's time)."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(max(args.warmup - 1, 0)):
        step()
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times, first


# ---- PyTorch -----------------------------------------------------------------------------------

def torch_peer(c, args, compiled):
    import numpy as np
    import torch
    from torch import nn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    d, V = c["d_model"], c["vocab"]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_embed = nn.Embedding(V, d)
            self.tgt_embed = nn.Embedding(V, d)
            self.transformer = nn.Transformer(d, c["heads"], c["layers"], c["layers"], c["ffn"],
                                              dropout=args.dropout, batch_first=True)
            self.generator = nn.Linear(d, V)
            self.drop = nn.Dropout(args.dropout)
            length = max(c["src_len"], c["tgt_len"])
            pos = torch.arange(length, dtype=torch.float32)[:, None]
            angle = pos / torch.pow(10000.0, torch.arange(0, d, 2, dtype=torch.float32) / d)
            pe = torch.zeros(length, d)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
            self.register_buffer("pe", pe)

        def forward(self, src, tgt):
            dec_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
            s = math.sqrt(d)
            x = self.drop(self.src_embed(src) * s + self.pe[: src.shape[1]])
            y = self.drop(self.tgt_embed(dec_in) * s + self.pe[: dec_in.shape[1]])
            causal = torch.triu(torch.full((dec_in.shape[1],) * 2, float("-inf")), diagonal=1)
            out = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=src == PAD,
                                   tgt_key_padding_mask=dec_in == PAD,
                                   memory_key_padding_mask=src == PAD)
            logits = self.generator(out)
            return nn.functional.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1),
                                               ignore_index=PAD, label_smoothing=args.label_smoothing)

    model = Model()
    model.transformer.encoder.enable_nested_tensor = False
    model.train()
    params = sum(p.numel() for p in model.parameters())
    if args.count_only:
        print(f"{params} parameters (PyTorch, config {args.config})")
        return
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: schedule(i + 1, d, 4000))
    loss_fn = torch.compile(model) if compiled else model
    src, tgt = (torch.from_numpy(a) for a in copy_batch(np.random.default_rng(0), c))

    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16,
                                      enabled=args.precision == "bf16")

    def step():
        if args.mode == "forward":
            with torch.no_grad(), autocast():
                loss_fn(src, tgt)
            return
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(src, tgt)
        loss.backward()
        opt.step()
        sched.step()

    times, first = timed(step, args)
    report("torch.compile" if compiled else "pytorch-eager", c, args, params, times,
           first - statistics.median(times) if compiled else 0.0, torch.__version__)


# ---- JAX ---------------------------------------------------------------------------------------

def jax_peer(c, args):
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true "
                                       f"intra_op_parallelism_threads={args.threads}")
    import jax
    import jax.numpy as jnp
    import numpy as np
    d, V, h, L, F = c["d_model"], c["vocab"], c["heads"], c["layers"], c["ffn"]
    rng = np.random.default_rng(0)

    def dense(i, o):  # Xavier-uniform weight [i, o] and a zero bias, as nn.Linear is re-initialised
        bound = math.sqrt(6.0 / (i + o))
        return {"w": jnp.asarray(rng.uniform(-bound, bound, (i, o)), jnp.float32), "b": jnp.zeros(o)}

    def norm():
        return {"g": jnp.ones(d), "b": jnp.zeros(d)}

    def attn():
        return {"qkv": dense(d, 3 * d), "out": dense(d, d)}

    params = {
        "src_embed": jnp.asarray(rng.normal(size=(V, d)), jnp.float32),
        "tgt_embed": jnp.asarray(rng.normal(size=(V, d)), jnp.float32),
        "enc": [{"sa": attn(), "n1": norm(), "f1": dense(d, F), "f2": dense(F, d), "n2": norm()}
                for _ in range(L)],
        "dec": [{"sa": attn(), "n1": norm(), "ca": attn(), "n2": norm(), "f1": dense(d, F),
                 "f2": dense(F, d), "n3": norm()} for _ in range(L)],
        "enc_norm": norm(), "dec_norm": norm(), "generator": dense(d, V),
    }
    count = sum(x.size for x in jax.tree_util.tree_leaves(params))
    if args.count_only:
        print(f"{count} parameters (JAX, config {args.config})")
        return
    length = max(c["src_len"], c["tgt_len"])
    pos = np.arange(length)[:, None] / np.power(10000.0, np.arange(0, d, 2) / d)
    pe = np.zeros((length, d), np.float32)
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos), np.cos(pos)
    pe = jnp.asarray(pe)

    def layer_norm(p, x):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + 1e-5) * p["g"] + p["b"]

    low = jnp.bfloat16 if args.precision == "bf16" else jnp.float32

    def mm(a, b):  # a product in the benchmark's precision, its result in f32
        return (a.astype(low) @ b.astype(low)).astype(jnp.float32)

    def linear(p, x):
        return mm(x, p["w"]) + p["b"]

    def drop(key, x):
        if args.dropout <= 0 or key is None:
            return x
        keep = jax.random.bernoulli(key, 1 - args.dropout, x.shape)
        return jnp.where(keep, x / (1 - args.dropout), 0)

    def mha(p, q_in, kv_in, mask, key):
        B, T, _ = q_in.shape
        S = kv_in.shape[1]
        wq, wk, wv = jnp.split(p["qkv"]["w"], 3, axis=1)
        bq, bk, bv = jnp.split(p["qkv"]["b"], 3)
        split = lambda x, n: x.reshape(B, n, h, d // h).transpose(0, 2, 1, 3)
        q, k, v = split(mm(q_in, wq) + bq, T), split(mm(kv_in, wk) + bk, S), split(mm(kv_in, wv) + bv, S)
        s = mm(q, k.transpose(0, 1, 3, 2)) / math.sqrt(d // h) + mask
        a = drop(key, jax.nn.softmax(s, axis=-1))
        return linear(p["out"], mm(a, v).transpose(0, 2, 1, 3).reshape(B, T, d))

    def loss_fn(params, src, tgt, key):
        keys = iter(jax.random.split(key, 16 * L + 4)) if key is not None else None
        nk = (lambda: next(keys)) if keys else (lambda: None)
        dec_in = jnp.concatenate([jnp.full_like(tgt[:, :1], BOS), tgt[:, :-1]], axis=1)
        neg = jnp.float32(-jnp.inf)
        src_pad = jnp.where(src == PAD, neg, 0.0)[:, None, None, :]
        T = dec_in.shape[1]
        causal = jnp.where(jnp.triu(jnp.ones((T, T), bool), 1), neg, 0.0)
        tgt_mask = causal[None, None] + jnp.where(dec_in == PAD, neg, 0.0)[:, None, None, :]
        x = drop(nk(), params["src_embed"][src] * math.sqrt(d) + pe[: src.shape[1]])
        for p in params["enc"]:
            x = layer_norm(p["n1"], x + drop(nk(), mha(p["sa"], x, x, src_pad, nk())))
            x = layer_norm(p["n2"], x + drop(nk(), linear(p["f2"], drop(nk(), jax.nn.relu(linear(p["f1"], x))))))
        memory = layer_norm(params["enc_norm"], x)
        y = drop(nk(), params["tgt_embed"][dec_in] * math.sqrt(d) + pe[:T])
        for p in params["dec"]:
            y = layer_norm(p["n1"], y + drop(nk(), mha(p["sa"], y, y, tgt_mask, nk())))
            y = layer_norm(p["n2"], y + drop(nk(), mha(p["ca"], y, memory, src_pad, nk())))
            y = layer_norm(p["n3"], y + drop(nk(), linear(p["f2"], drop(nk(), jax.nn.relu(linear(p["f1"], y))))))
        logits = linear(params["generator"], layer_norm(params["dec_norm"], y))
        logp = jax.nn.log_softmax(logits, axis=-1)
        nll = -jnp.take_along_axis(logp, tgt[..., None], axis=-1)[..., 0]
        smooth = -logp.mean(-1)
        per_token = (1 - args.label_smoothing) * nll + args.label_smoothing * smooth
        mask = tgt != PAD
        return jnp.sum(per_token * mask) / jnp.sum(mask)

    def train_step(state, src, tgt, key):
        params, m, v, step = state
        loss, g = jax.value_and_grad(loss_fn)(params, src, tgt, key)
        step = step + 1
        lr = d ** -0.5 * jnp.minimum(step ** -0.5, step * 4000 ** -1.5)
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.98 * v + 0.02 * g * g, v, g)
        c1, c2 = 1 - 0.9 ** step, 1 - 0.98 ** step
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-9), params, m, v)
        return (params, m, v, step), loss

    src, tgt = (jnp.asarray(a) for a in copy_batch(np.random.default_rng(0), c))
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)
    state = [(params, zeros(), zeros(), jnp.float32(0))]
    if args.mode == "forward":
        fwd = jax.jit(loss_fn)
        run = lambda: fwd(params, src, tgt, None).block_until_ready()
    else:
        step_fn = jax.jit(train_step, donate_argnums=0)
        key = jax.random.PRNGKey(0)

        def run():
            state[0], loss = step_fn(state[0], src, tgt, key)
            loss.block_until_ready()
    times, first = timed(run, args)
    report("jax.jit", c, args, count, times, first - statistics.median(times), jax.__version__)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--mode", default="train", choices=["train", "forward"])
    p.add_argument("--peers", default="eager,compile,jax", help="eager, compile, jax")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--precision", default="f32", choices=["f32", "bf16"])
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--count-only", action="store_true",
                   help="print each peer's parameter count and exit (it must equal kiln's)")
    for k in ("batch", "src-len", "tgt-len"):
        p.add_argument("--" + k, type=int)
    args = p.parse_args()
    c = dict(PRESETS[args.config])
    for k in ("batch", "src_len", "tgt_len"):
        if getattr(args, k) is not None:
            c[k] = getattr(args, k)
    for peer in args.peers.split(","):
        try:
            if peer == "eager":
                torch_peer(c, args, compiled=False)
            elif peer == "compile":
                import torch
                if not hasattr(torch, "compile"):
                    print(f"peers.py: skipping torch.compile: torch {torch.__version__} has none "
                          "(bench/setup.sh installs PyTorch 2)", file=sys.stderr)
                    continue
                torch_peer(c, args, compiled=True)
            elif peer == "jax":
                jax_peer(c, args)
            else:
                sys.exit(f"peers.py: error: unknown peer '{peer}' (eager, compile, jax)")
        except ImportError as e:
            print(f"peers.py: skipping {peer}: {e} (bench/setup.sh installs the peers)", file=sys.stderr)


if __name__ == "__main__":
    main()
