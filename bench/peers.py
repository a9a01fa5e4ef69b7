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

--mode greedy and --mode beam (--width, default 4) time what kiln bench's decode modes time:
batch random sentences of src_len content tokens (src_len and tgt_len 32 unless given), in eval
mode with dropout 0; one timed call encodes them once, projects each decoder layer's
cross-attention keys and values once (repeated width times for beam), then runs exactly
tgt_len decode steps of one token per row over a self-attention KV cache, never stopping at EOS,
choosing the argmax (greedy) or each sentence's top width of width * vocab continuations by
summed log-probability, the cache rows gathered by their parent beams (beam); PAD and BOS are
never chosen; f32 only. tokens/s is batch * tgt_len over the median call. --check decodes two
sentences with the cache and by re-running the full forward over each prefix, and fails unless
every peer chose the same tokens both ways.

  bench/peers.py --config base --mode beam --width 4 --batch 1 --peers eager,compile,jax
  bench/peers.py --config tiny --mode greedy --check

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
DECODE = ("greedy", "beam")
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
    if args.mode == "beam":
        line["width"] = args.width
    print(f"{tool} {version}: {1e3 * min(times):.2f} ms min, {1e3 * med:.2f} ms median, "
          f"{line['tokens_per_s']:.0f} target tokens/s, compile {compile_s:.2f} s", file=sys.stderr)
    print(json.dumps(line), flush=True)


def random_src(c):
    """B sentences of src_len random content tokens, no padding (numpy, int64)."""
    import numpy as np
    return np.random.default_rng(0).integers(4, c["vocab"], size=(c["batch"], c["src_len"]))


CHECK_FAILED = []


def check(tool, cached, full, args):
    """Prints whether decoding with the KV cache chose the reference's tokens, row by row."""
    import numpy as np
    same = (np.asarray(cached) == np.asarray(full)).all(axis=1)
    print(f"{tool}: {args.mode} with the KV cache vs the full forward over each prefix: "
          f"{same.sum()}/{len(same)} rows of {np.asarray(full).shape[1]} tokens identical"
          + ("" if same.all() else " MISMATCH"), flush=True)
    if not same.all():
        CHECK_FAILED.append(tool)


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

        def logits(self, src, dec_in):
            """Logits [B, T, V] of the full forward, every position of dec_in at once."""
            s = math.sqrt(d)
            x = self.drop(self.src_embed(src) * s + self.pe[: src.shape[1]])
            y = self.drop(self.tgt_embed(dec_in) * s + self.pe[: dec_in.shape[1]])
            causal = torch.triu(torch.full((dec_in.shape[1],) * 2, float("-inf")), diagonal=1)
            out = self.transformer(x, y, tgt_mask=causal, src_key_padding_mask=src == PAD,
                                   tgt_key_padding_mask=dec_in == PAD,
                                   memory_key_padding_mask=src == PAD)
            return self.generator(out)

        def forward(self, src, tgt):
            dec_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
            logits = self.logits(src, dec_in)
            return nn.functional.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1),
                                               ignore_index=PAD, label_smoothing=args.label_smoothing)

    model = Model()
    model.transformer.encoder.enable_nested_tensor = False
    model.train()
    params = sum(p.numel() for p in model.parameters())
    if args.count_only:
        print(f"{params} parameters (PyTorch, config {args.config})")
        return
    if args.mode in DECODE:
        return torch_decode(model, c, args, params, compiled)
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


def torch_decoder(model, c, args, compiled):
    """decode(src) -> [B * width, tgt_len] tokens: greedy or beam search over a KV cache.

    Eager writes each position's keys and values into preallocated cache tensors and attends
    over the filled prefix; compiled, one step graph serves every position: the position is a
    tensor, the cache is written with index_copy_ and the unfilled positions are masked.
    """
    import torch
    F = torch.nn.functional
    tr, d, h, T, V = model.transformer, c["d_model"], c["heads"], c["tgt_len"], c["vocab"]
    W, dh, layers = args.width if args.mode == "beam" else 1, d // h, tr.decoder.layers
    attend = getattr(F, "scaled_dot_product_attention", None) or (  # torch 1.x: eager, unmasked
        lambda q, k, v: torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), -1) @ v)
    heads = lambda x: x.view(x.shape[0], -1, h, dh).transpose(1, 2)  # [R, n, d] -> [R, h, n, dh]
    merge = lambda a: a.transpose(1, 2).reshape(a.shape[0], 1, d)  # [R, h, 1, dh] -> [R, 1, d]
    low = torch.bfloat16 if args.precision == "bf16" else torch.float32

    def encode(src):
        """Each decoder layer's cross-attention keys and values [B * W, h, S, dh] of src."""
        memory = tr.encoder(model.src_embed(src) * math.sqrt(d) + model.pe[: src.shape[1]])
        w = [(l.multihead_attn.in_proj_weight, l.multihead_attn.in_proj_bias) for l in layers]
        kv = lambda w, b, i: heads(F.linear(memory, w[i * d:(i + 1) * d], b[i * d:(i + 1) * d]))
        return [(kv(w, b, 1).repeat_interleave(W, 0), kv(w, b, 2).repeat_interleave(W, 0))
                for w, b in w]

    def logits_at(tok, t, cache, cross):
        """Logits [R, V] of the next token, PAD and BOS excluded; writes position t into cache."""
        R = tok.shape[0]
        pe = model.pe.index_select(0, t.view(1)) if compiled else model.pe[t]
        y = model.tgt_embed(tok)[:, None] * math.sqrt(d) + pe
        for l, (kc, vc), (ck, cv) in zip(layers, cache, cross):
            sa, ca = l.self_attn, l.multihead_attn
            q, k, v = F.linear(y, sa.in_proj_weight, sa.in_proj_bias).view(
                R, 1, 3, h, dh).permute(2, 0, 3, 1, 4)
            if compiled:
                kc.index_copy_(2, t.view(1), k.to(low))
                vc.index_copy_(2, t.view(1), v.to(low))
                a = attend(q, kc, vc, attn_mask=(torch.arange(T) <= t).view(1, 1, 1, T))
            else:
                kc[:, :, t], vc[:, :, t] = k[:, :, 0], v[:, :, 0]
                a = attend(q, kc[:, :, : t + 1], vc[:, :, : t + 1])
            y = l.norm1(y + sa.out_proj(merge(a)))
            q = heads(F.linear(y, ca.in_proj_weight[:d], ca.in_proj_bias[:d]))
            y = l.norm2(y + ca.out_proj(merge(attend(q, ck, cv))))
            y = l.norm3(y + l.linear2(F.relu(l.linear1(y))))
        logits = model.generator(tr.decoder.norm(y))[:, 0].float()
        logits[:, PAD] = float("-inf")
        logits[:, BOS] = float("-inf")
        return logits

    def greedy_step(tok, scores, t, cache, cross):
        return logits_at(tok, t, cache, cross).argmax(-1), scores, None, cache

    def beam_step(tok, scores, t, cache, cross):
        """The top W of each sentence's W * V continuations; the cache rows follow their parents.

        Compiled, the reordered cache is a new tensor: inductor (torch 2.5) miscompiles the
        in-place x.copy_(x.index_select(0, parent)).
        """
        total = F.log_softmax(logits_at(tok, t, cache, cross), -1) + scores[:, None]
        top, idx = total.view(-1, W * V).topk(W)
        parent = (idx // V + W * torch.arange(idx.shape[0])[:, None]).flatten()
        if compiled:
            cache = [tuple(x.index_select(0, parent) for x in kv) for kv in cache]
        else:
            for x in (x for kv in cache for x in kv):
                x[:, :, : t + 1] = x[:, :, : t + 1].index_select(0, parent)
        return (idx % V).flatten(), top.flatten(), parent, cache

    step = beam_step if W > 1 else greedy_step
    if compiled:
        encode, step = torch.compile(encode), torch.compile(step, fullgraph=True)

    def decode(src):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=low != torch.float32):
            cross = encode(src)
            R = src.shape[0] * W
            cache = [tuple(torch.zeros(R, h, T, dh, dtype=low) for _ in "kv") for _ in layers]
            tok, hyp = torch.full((R,), BOS), torch.zeros(R, 0, dtype=torch.int64)
            scores = torch.zeros(src.shape[0], W)
            scores[:, 1:] = float("-inf")
            scores = scores.flatten()
            for t in range(T):
                tok, scores, parent, cache = step(tok, scores, torch.tensor(t) if compiled else t,
                                                  cache, cross)
                hyp = torch.cat([hyp if parent is None else hyp[parent], tok[:, None]], 1)
            return hyp
    return decode


def torch_full_decode(model, src, T, W):
    """The uncached reference: the same search re-running the full forward over each prefix."""
    import torch
    B, V = src.shape[0], model.generator.out_features
    src, hyp = src.repeat_interleave(W, 0), torch.full((src.shape[0] * W, 1), BOS)
    scores = torch.zeros(B, W)
    scores[:, 1:] = float("-inf")
    scores = scores.flatten()
    with torch.no_grad():
        for _ in range(T):
            logits = model.logits(src, hyp)[:, -1]
            logits[:, PAD] = logits[:, BOS] = float("-inf")
            total = torch.log_softmax(logits, -1) + scores[:, None]
            top, idx = total.view(B, W * V).topk(W)
            parent = (idx // V + W * torch.arange(B)[:, None]).flatten()
            hyp, scores = torch.cat([hyp[parent], (idx % V).flatten()[:, None]], 1), top.flatten()
    return hyp[:, 1:]


def torch_decode(model, c, args, params, compiled):
    """Times greedy or beam decoding (--mode), or with --check compares it with the reference."""
    import torch
    model.eval()
    tool = "torch.compile" if compiled else "pytorch-eager"
    src = torch.from_numpy(random_src(c))
    if args.check:
        src = src[:2]
        cached = torch_decoder(model, c, args, compiled)(src)
        full = torch_full_decode(model, src, c["tgt_len"], args.width if args.mode == "beam" else 1)
        return check(tool, cached, full, args)
    decode = torch_decoder(model, c, args, compiled)
    times, first = timed(lambda: decode(src), args)
    report(tool, c, args, params, times, first - statistics.median(times) if compiled else 0.0,
           torch.__version__)


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

    def logits_fn(params, src, dec_in, key):
        """Logits [B, T, V] of the full forward, every position of dec_in at once."""
        keys = iter(jax.random.split(key, 16 * L + 4)) if key is not None else None
        nk = (lambda: next(keys)) if keys else (lambda: None)
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
        return linear(params["generator"], layer_norm(params["dec_norm"], y))

    def loss_fn(params, src, tgt, key):
        dec_in = jnp.concatenate([jnp.full_like(tgt[:, :1], BOS), tgt[:, :-1]], axis=1)
        logp = jax.nn.log_softmax(logits_fn(params, src, dec_in, key), axis=-1)
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

    if args.mode in DECODE:
        fns = dict(pe=pe, mm=mm, linear=linear, layer_norm=layer_norm, mha=mha, logits=logits_fn)
        return jax_decode(c, args, params, count, fns)
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


def jax_decoder(c, args, params, fns):
    """decode(src) -> [B * width, tgt_len] tokens: greedy or beam search over a KV cache.

    The cache has a fixed capacity of tgt_len positions per layer, written with
    lax.dynamic_update_slice and masked beyond the current position, so one jitted step (the
    decoder, the choice of the next tokens and, for beam, the reordering of the cache rows)
    serves every position; the encoder and the cross-attention keys and values are a second
    jitted function.
    """
    import jax
    import jax.numpy as jnp
    d, h, T, V = c["d_model"], c["heads"], c["tgt_len"], c["vocab"]
    W, dh = args.width if args.mode == "beam" else 1, d // h
    mm, linear, layer_norm, pe = fns["mm"], fns["linear"], fns["layer_norm"], fns["pe"]
    heads = lambda x: x.reshape(x.shape[0], -1, h, dh).transpose(0, 2, 1, 3)  # -> [R, h, n, dh]
    merge = lambda a: a.transpose(0, 2, 1, 3).reshape(a.shape[0], 1, d)  # [R, h, 1, dh] -> [R, 1, d]
    attend = lambda q, k, v, mask: mm(jax.nn.softmax(
        mm(q, k.transpose(0, 1, 3, 2)) / math.sqrt(dh) + mask, axis=-1), v)

    def encode(params, src):
        """Each decoder layer's cross-attention keys and values [B * W, h, S, dh] of src."""
        x = params["src_embed"][src] * math.sqrt(d) + pe[: src.shape[1]]
        for p in params["enc"]:
            x = layer_norm(p["n1"], x + fns["mha"](p["sa"], x, x, 0.0, None))
            x = layer_norm(p["n2"], x + linear(p["f2"], jax.nn.relu(linear(p["f1"], x))))
        memory = layer_norm(params["enc_norm"], x)
        cross = []
        for p in params["dec"]:
            w, b = p["ca"]["qkv"]["w"], p["ca"]["qkv"]["b"]
            kv = lambda i: jnp.repeat(heads(mm(memory, w[:, i * d:(i + 1) * d]) + b[i * d:(i + 1) * d]),
                                      W, 0)
            cross.append((kv(1), kv(2)))
        return cross

    def logits_at(params, cross, cache, tok, t):
        """Logits [R, V] of the next token, PAD and BOS excluded, and the cache with position t."""
        y = params["tgt_embed"][tok][:, None] * math.sqrt(d) + jax.lax.dynamic_slice_in_dim(pe, t, 1)
        mask = jnp.where(jnp.arange(T) <= t, 0.0, -jnp.inf)
        new = []
        for p, (kc, vc), (ck, cv) in zip(params["dec"], cache, cross):
            q, k, v = (heads(a) for a in jnp.split(linear(p["sa"]["qkv"], y), 3, axis=-1))
            kc = jax.lax.dynamic_update_slice(kc, k, (0, 0, t, 0))
            vc = jax.lax.dynamic_update_slice(vc, v, (0, 0, t, 0))
            new.append((kc, vc))
            y = layer_norm(p["n1"], y + linear(p["sa"]["out"], merge(attend(q, kc, vc, mask))))
            w, b = p["ca"]["qkv"]["w"], p["ca"]["qkv"]["b"]
            q = heads(mm(y, w[:, :d]) + b[:d])
            y = layer_norm(p["n2"], y + linear(p["ca"]["out"], merge(attend(q, ck, cv, 0.0))))
            y = layer_norm(p["n3"], y + linear(p["f2"], jax.nn.relu(linear(p["f1"], y))))
        logits = linear(params["generator"], layer_norm(params["dec_norm"], y))[:, 0]
        return logits.at[:, PAD].set(-jnp.inf).at[:, BOS].set(-jnp.inf), new

    def greedy_step(params, cross, cache, tok, scores, hyp, t):
        logits, cache = logits_at(params, cross, cache, tok, t)
        tok = jnp.argmax(logits, axis=-1)
        return cache, tok, scores, hyp.at[:, t].set(tok)

    def beam_step(params, cross, cache, tok, scores, hyp, t):
        """The top W of each sentence's W * V continuations; the cache rows follow their parents."""
        logits, cache = logits_at(params, cross, cache, tok, t)
        total = jax.nn.log_softmax(logits, axis=-1) + scores[:, None]
        top, idx = jax.lax.top_k(total.reshape(-1, W * V), W)
        parent = (idx // V + W * jnp.arange(idx.shape[0])[:, None]).reshape(-1)
        cache = jax.tree_util.tree_map(lambda x: jnp.take(x, parent, axis=0), cache)
        tok = (idx % V).reshape(-1)
        return cache, tok, top.reshape(-1), jnp.take(hyp, parent, axis=0).at[:, t].set(tok)

    enc = jax.jit(encode)
    step = jax.jit(beam_step if W > 1 else greedy_step, donate_argnums=(2, 5))

    def decode(src):
        cross = enc(params, src)
        R = src.shape[0] * W
        cache = [(jnp.zeros((R, h, T, dh)), jnp.zeros((R, h, T, dh))) for _ in params["dec"]]
        tok, hyp = jnp.full((R,), BOS, jnp.int32), jnp.zeros((R, T), jnp.int32)
        scores = jnp.zeros((src.shape[0], W)).at[:, 1:].set(-jnp.inf).reshape(-1)
        for t in range(T):
            cache, tok, scores, hyp = step(params, cross, cache, tok, scores, hyp, jnp.int32(t))
        return hyp.block_until_ready()
    return decode


def jax_full_decode(logits_fn, src, T, W):
    """The uncached reference: the same search re-running the full forward over each prefix."""
    import jax
    import jax.numpy as jnp
    B = src.shape[0]
    src, hyp = jnp.repeat(src, W, 0), jnp.full((B * W, 1), BOS, jnp.int32)
    scores = jnp.zeros((B, W)).at[:, 1:].set(-jnp.inf).reshape(-1)
    for _ in range(T):
        logits = logits_fn(src, hyp)[:, -1].at[:, PAD].set(-jnp.inf).at[:, BOS].set(-jnp.inf)
        total = jax.nn.log_softmax(logits, axis=-1) + scores[:, None]
        V = logits.shape[-1]
        top, idx = jax.lax.top_k(total.reshape(B, W * V), W)
        parent = (idx // V + W * jnp.arange(B)[:, None]).reshape(-1)
        hyp = jnp.concatenate([hyp[parent], (idx % V).reshape(-1, 1).astype(jnp.int32)], 1)
        scores = top.reshape(-1)
    return hyp[:, 1:]


def jax_decode(c, args, params, count, fns):
    """Times greedy or beam decoding (--mode), or with --check compares it with the reference."""
    import jax
    import jax.numpy as jnp
    src = jnp.asarray(random_src(c), jnp.int32)
    decode = jax_decoder(c, args, params, fns)
    if args.check:
        src = src[:2]
        full_logits = jax.jit(lambda s, y: fns["logits"](params, s, y, None))
        full = jax_full_decode(full_logits, src, c["tgt_len"], args.width if args.mode == "beam" else 1)
        return check("jax.jit", decode(src), full, args)
    times, first = timed(lambda: decode(src), args)
    report("jax.jit", c, args, count, times, first - statistics.median(times), jax.__version__)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--mode", default="train", choices=["train", "forward", *DECODE],
                   help="greedy and beam: encode the batch once, then tgt_len decode steps "
                        "over a KV cache (dropout 0, eval mode); tokens/s = batch * tgt_len / time")
    p.add_argument("--width", type=int, default=4, help="beam width (--mode beam)")
    p.add_argument("--check", action="store_true",
                   help="greedy or beam: compare the cached decoding of two sentences with the "
                        "full forward over each prefix instead of timing it")
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
    if args.mode in DECODE:
        if args.precision != "f32":
            sys.exit(f"peers.py: error: --mode {args.mode} runs in f32 only (--precision f32)")
        c.update(src_len=32, tgt_len=32)
        args.dropout = 0.0
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
    if CHECK_FAILED:
        sys.exit(f"peers.py: the cached decoding differs from the reference for {', '.join(CHECK_FAILED)}")


if __name__ == "__main__":
    main()
