#!/usr/bin/env python3
"""Train examples/transformer_vowels: a one-layer transformer encoder on UEA JapaneseVowels.

    python3 examples/train/train_transformer.py [--data DIR] [--out DIR]

The data and its preprocessing are lstm_vowels' (train_rnn.prep_japanese_vowels: per-channel
standardisation, every utterance pre-padded at the front with zero frames to 20, or cut to its
last 20): the arrays in examples/lstm_vowels/ are the inputs of this model too. No mask: the
zero frames are attended to like any other (they carry the position embedding, so the model
can tell them apart).

The forward pass below is exactly examples/transformer_vowels/model.sir (float64 numpy at the
end, what `sir eval` computes): an input projection plus a learned position embedding; pre-norm
attention with 2 heads of width 8 (softmax(q kᵀ / √8) v), an output projection and a residual;
a pre-norm MLP 16 → 32 → 16 with GELU (erf-based) and a residual; the mean over time; a linear
classifier. Deterministic: fixed seed, full-batch Adam on CPU float32.
"""
import argparse
import math
import os
import sys

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train_rnn import EXAMPLES, prep_japanese_vowels  # noqa: E402

T, D_IN, D, HEADS, HID, C = 20, 12, 16, 2, 32, 9
DH = D // HEADS
SCALE = 1.0 / math.sqrt(DH)

SHAPES = [
    ("We", (D_IN, D)), ("be", (D,)), ("pos", (T, D)),
    ("g1", (D,)), ("b1", (D,)),
    ("Wq", (D, D)), ("Wk", (D, D)), ("Wv", (D, D)), ("Wo", (D, D)), ("bo", (D,)),
    ("g2", (D,)), ("b2", (D,)),
    ("W1", (D, HID)), ("c1", (HID,)), ("W2", (HID, D)), ("c2", (D,)),
    ("fc", (D, C)), ("fcb", (C,)),
]
# Matrices get L2; vectors (biases, layernorm gains and offsets) and the position table not.
MATRICES = {"We", "Wq", "Wk", "Wv", "Wo", "W1", "W2", "fc"}


def init(key):
    p = {}
    for k, (name, shape) in zip(jax.random.split(key, len(SHAPES)), SHAPES):
        if name in ("g1", "g2"):
            p[name] = jnp.ones(shape, jnp.float32)
        elif name == "pos":
            p[name] = 0.1 * jax.random.normal(k, shape, jnp.float32)
        elif len(shape) == 1:
            p[name] = jnp.zeros(shape, jnp.float32)
        else:
            lim = 1.0 / np.sqrt(shape[0])
            p[name] = jax.random.uniform(k, shape, jnp.float32, -lim, lim)
    return p


def forward(xp, p, x, erf):
    """Logits for x [N, T, D_IN]; `xp` is numpy or jax.numpy, `erf` its error function."""
    def layernorm(v, g, b):
        mu = v.mean(axis=-1, keepdims=True)
        var = ((v - mu) ** 2).mean(axis=-1, keepdims=True)
        return (v - mu) / xp.sqrt(var + 1e-5) * g + b

    def softmax(v):
        e = xp.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def gelu(v):
        return 0.5 * v * (1.0 + erf(v / math.sqrt(2.0)))

    e = x @ p["We"] + p["be"] + p["pos"]
    a = layernorm(e, p["g1"], p["b1"])
    q, k, v = a @ p["Wq"], a @ p["Wk"], a @ p["Wv"]
    heads = []
    for h in range(HEADS):
        s = slice(h * DH, (h + 1) * DH)
        att = softmax(q[..., s] @ xp.swapaxes(k[..., s], -1, -2) * SCALE)
        heads.append(att @ v[..., s])
    y = e + xp.concatenate(heads, axis=-1) @ p["Wo"] + p["bo"]
    m = layernorm(y, p["g2"], p["b2"])
    z = y + gelu(m @ p["W1"] + p["c1"]) @ p["W2"] + p["c2"]
    return z.mean(axis=-2) @ p["fc"] + p["fcb"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data", help="directory with the UEA .ts files")
    ap.add_argument("--out", default=os.path.join(EXAMPLES, "transformer_vowels"))
    ap.add_argument("--epochs", type=int, default=500)
    args = ap.parse_args()

    (xtr, ytr), (xte, yte), _ = prep_japanese_vowels(args.data)
    params = init(jax.random.PRNGKey(5))
    xj, yj = jnp.asarray(xtr), jnp.asarray(ytr)
    lr, l2, clip, epochs = 5e-3, 1e-3, 3.0, args.epochs

    def loss_fn(p):
        lg = forward(jnp, p, xj, jax.scipy.special.erf)
        ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(lg), yj[:, None], axis=1))
        return ce + l2 * sum(jnp.sum(p[k] ** 2) for k in MATRICES)

    b1, b2, eps = 0.9, 0.999, 1e-8

    @jax.jit
    def step(p, m, v, t):
        lr_t = lr * (0.1 + 0.45 * (1 + jnp.cos(jnp.pi * (t - 1) / epochs)))
        loss, g = jax.value_and_grad(loss_fn)(p)
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        mh, vh = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(
            lambda p, m, v: jnp.clip(p - lr_t * (m / mh) / (jnp.sqrt(v / vh) + eps), -clip, clip),
            p, m, v)
        return p, m, v, loss

    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    for ep in range(1, epochs + 1):
        params, m, v, loss = step(params, m, v, jnp.float32(ep))
        if ep % 100 == 0 or ep == 1:
            print(f"epoch {ep:4d}  loss {float(loss):.4f}")

    weights = {k: np.asarray(params[k], dtype=np.float32) for k, _ in SHAPES}
    p64 = {k: w.astype(np.float64) for k, w in weights.items()}
    erf = np.vectorize(math.erf)
    acc = lambda x, y: float(np.mean(np.argmax(forward(np, p64, x.astype(np.float64), erf), axis=1) == y))
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "weights.npz"), **weights)
    wmax = max(float(np.abs(w).max()) for w in weights.values())
    a_tr, a_te = acc(xtr, ytr), acc(xte, yte)
    print(f"max |w| {wmax:.3f}")
    print(f"float train accuracy: {a_tr:.4f} ({int(round(a_tr * len(ytr)))}/{len(ytr)})")
    print(f"float test accuracy:  {a_te:.4f} ({int(round(a_te * len(yte)))}/{len(yte)})")
    print(f"wrote {args.out}/weights.npz (inputs: examples/lstm_vowels/*.npy)")


if __name__ == "__main__":
    main()
