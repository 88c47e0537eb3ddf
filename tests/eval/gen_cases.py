#!/usr/bin/env python3
"""Writes the data of the NumPy-equivalence suite (tests/eval/<case>/).

For every case this writes `weights.npz`, the input (`input.npy` for one `input`, else
`input.npz`; with one extra leading axis for batched cases) and `expected.npz`, computed by an
independent NumPy transcription of `model.sir` written by hand below. It never runs `sir`.
Output names follow LANGUAGE.md: `output NAME = ...` gives NAME, otherwise `out{i}` with i the
output's position among all outputs.

Run from anywhere: `python3 tests/eval/gen_cases.py` (needs numpy only). The generated files
are committed; the Rust test (tests/eval_numpy.rs) only reads them.
"""

import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = {}


def case(batch=None, seed=None, compressed=False):
    """Registers a case. The function gets an rng and returns (weights, inputs, model) where
    `weights` and `inputs` map names to arrays (inputs per sample, or with a leading batch axis
    when `batch` is set) and `model(inputs, weights)` returns [(name or None, array)] for one
    sample. `compressed` writes weights.npz with np.savez_compressed (deflate)."""

    def reg(fn):
        CASES[fn.__name__] = (fn, batch, seed if seed is not None else len(CASES) + 1, compressed)
        return fn

    return reg


# --------------------------------------------------------------------------------------------
# Reference semantics (LANGUAGE.md), written directly in NumPy.
# --------------------------------------------------------------------------------------------


def relu(x):
    return np.maximum(x, 0.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layernorm(x, g, b):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def poly(x, cs):
    return sum(c * x**i for i, c in enumerate(cs)) + np.zeros_like(x)


def poly_relu(x):
    return (322 + 512 * x + 160 * x**2 - 3 * x**4) / 1024


def conv2d(x, w, b, stride=1, pad=0):
    """PyTorch-style cross-correlation on one [C, H, W] sample, zero padding."""
    C, H, W = x.shape
    O, C2, KH, KW = w.shape
    assert C == C2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    OH = (H + 2 * pad - KH) // stride + 1
    OW = (W + 2 * pad - KW) // stride + 1
    out = np.empty((O, OH, OW))
    for i in range(OH):
        for j in range(OW):
            patch = xp[:, i * stride : i * stride + KH, j * stride : j * stride + KW]
            out[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def pool(x, k, stride, red):
    C, H, W = x.shape
    OH, OW = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.empty((C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            out[:, i, j] = red(x[:, i * stride : i * stride + k, j * stride : j * stride + k], axis=(1, 2))
    return out


def maxpool2d(x, k, stride=None):
    return pool(x, k, stride or k, np.max)


def avgpool2d(x, k, stride=None):
    return pool(x, k, stride or k, np.mean)


def block_relu(x, ph, pw):
    C, H, W = x.shape
    out = x.copy()
    for c in range(C):
        for r in range(0, H, ph):
            for q in range(0, W, pw):
                if not np.sum(x[c, r : r + ph, q : q + pw]) > 0:
                    out[c, r : r + ph, q : q + pw] = 0.0
    return out


def transpose(x):
    return np.transpose(x)  # all axes reversed


def argmax(v):
    return np.float64(np.argmax(v))


def fastgrnn_cell(x, h, W1, W2, U1, U2, bg, bh, zeta, nu):
    pre = x @ W1 @ W2 + h @ U1 @ U2
    g = sigmoid(pre + bg)
    c = np.tanh(pre + bh)
    return g * h + (zeta * (1 - g) + nu) * c


def gru_cell(x, h, Wz, Uz, bz, Wr, Ur, br, Wn, Un, bn):
    z = sigmoid(x @ Wz + h @ Uz + bz)
    r = sigmoid(x @ Wr + h @ Ur + br)
    n = np.tanh(x @ Wn + r * (h @ Un) + bn)
    return (1 - z) * n + z * h


def lstm_cell(x, h, c, Wi, Ui, bi, Wf, Uf, bf, Wg, Ug, bg, Wo, Uo, bo):
    i = sigmoid(x @ Wi + h @ Ui + bi)
    f = sigmoid(x @ Wf + h @ Uf + bf)
    g = np.tanh(x @ Wg + h @ Ug + bg)
    o = sigmoid(x @ Wo + h @ Uo + bo)
    c2 = f * c + i * g
    return o * np.tanh(c2), c2


def dense(x, w, b):
    return x @ w + b


def N(rng, *shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def unnamed(*arrays):
    return [(None, a) for a in arrays]


# --------------------------------------------------------------------------------------------
# Cases (one per directory; keep in sync with each model.sir)
# --------------------------------------------------------------------------------------------


@case()
def broadcast_arith(rng):
    W = dict(row=N(rng, 6), col=N(rng, 4, 1), s=np.array(0.75), cube=N(rng, 2, 1, 6), r1=N(rng, 1, 6))
    I = dict(x=N(rng, 4, 6))

    def model(i, w):
        x, row, col, s, cube, r1 = i["x"], w["row"], w["col"], w["s"], w["cube"], w["r1"]
        c = -((x + row) * col - s) + 2
        return unnamed(
            c / 4,
            col * r1,
            x - col + cube,
            0.5 * x - 1 - 2 * 3,
            x * (-s) / 0.25 + row / -2,
            -s + 1,
            col - r1 - row,
            x / 4 * 2 - x * col / 8,
            5 + x,
        )

    return W, I, model


@case()
def matmul_forms(rng):
    W = dict(B=N(rng, 5, 4), u=N(rng, 5), w=N(rng, 4))
    I = dict(A=N(rng, 3, 5), v=N(rng, 5))

    def model(i, w):
        A, v, B, u, ww = i["A"], i["v"], w["B"], w["u"], w["w"]
        return [
            ("mm", A @ B),
            ("vm", v @ B),
            ("mv", A @ u),
            ("dot", np.float64(np.dot(v, u))),
            ("chain", (v @ B) @ ww + (A @ B) @ ww),
            ("mixed", (2 * v) @ B - (A[0] * u) @ B),
            ("gram", A.T @ A),
            ("scaled", (A @ B) * ww - A @ (B * ww)),
        ]

    return W, I, model


@case()
def index_slice(rng):
    I = dict(x=N(rng, 6, 8), y=N(rng, 3, 4, 5))

    def model(i, w):
        x, y = i["x"], i["y"]
        return [
            ("row", x[2]),
            ("elem", x[2, 3]),
            ("shifted", x[3] - x[4]),
            ("head", x[0:3]),
            ("cols", x[:, 2:5]),
            ("block", x[1:4, 2:6]),
            ("mixed", x[2, 1:4]),
            ("deep", y[1, 2]),
            ("deep3", y[2, 1:3, 4]),
            ("inner", y[:, :, 0:2]),
            ("chained", y[1][2][3]),
            ("computed", x[3, 6]),
            ("whole", x),
        ]

    return {}, I, model


@case()
def slice_open(rng):
    I = dict(x=N(rng, 6, 8))

    def model(i, w):
        x = i["x"]
        return [
            ("lo", x[:2]),
            ("hi", x[4:]),
            ("cols", x[:, :3] + x[:, 5:]),
            ("both", x[1:, :4]),
            ("all", x[:]),
            ("pick", x[3, 6:]),
        ]

    return {}, I, model


@case()
def loops_nested(rng):
    I = dict(x=N(rng, 5, 4))

    def model(i, w):
        x = i["x"]
        acc = np.zeros(4)
        for a in range(5):
            for j in range(a):
                acc = acc + x[j] * x[a]
        tri = np.float64(0.0)
        for a in range(4):
            for j in range(a, 4):
                tri = tri + x[a, j] * (1 + x[j, a])
        win = np.zeros((2, 4))
        for t in range(4):
            win = win * 0.5 + x[t : t + 2]
        p = np.ones(4)
        for a in range(1, 3):
            for b in range(a, a + 2):
                for c in range(b):
                    p = p * 0.9 + x[c] * 0.1 + x[b, a]
        r = np.zeros(4)
        for t in range(2, 5):
            r = np.tanh(r + x[t] - x[t - 1])
        return unnamed(acc, tri, win, p, r)

    return {}, I, model


@case()
def fn_generic_tuple(rng):
    W = dict(g=N(rng, 4), b=N(rng, 4), v=N(rng, 5))
    I = dict(x=N(rng, 3, 4))

    def model(i, w):
        x, g, b, v = i["x"], w["g"], w["b"], w["v"]

        def pair(p, q):
            s = p + q
            return s, p * q - s

        def double(p):
            return p + p

        def stats(p):
            m = np.mean(p)
            d = p - m
            return m, np.mean(d * d)

        s, p = pair(g, b)
        h, c = g, b
        for t in range(3):
            h, c = pair(h * 0.5, c + x[t])
        m, var = stats(v)
        # outer(u: [M], v: [N]) = transpose(concat([u, u]) * ones([N, 2M]))[0..M] * v
        M_, N_ = 4, 5
        outer = np.transpose(np.concatenate([g, g]) * np.ones((N_, 2 * M_)))[0:M_] * v
        return unnamed(
            x * g + b,
            double(g),
            double(v),
            s,
            p,
            v,
            g,
            h,
            c,
            double(v) * 0.5 + double(double(v)),
            m,
            var,
            outer,
        )

    return W, I, model


@case()
def attributes(rng):
    W = dict(W=N(rng, 8, 4), b=N(rng, 4))
    I = dict(x=N(rng, 8))

    def model(i, w):
        y = i["x"] @ w["W"] + w["b"]
        z = np.tanh(y)
        return [(None, z), ("gate", sigmoid(y) * z)]

    return W, I, model


@case(batch=3)
def fastgrnn(rng):
    W = dict(
        W1=N(rng, 4, 3, scale=0.5), W2=N(rng, 3, 8, scale=0.5),
        U1=N(rng, 8, 5, scale=0.4), U2=N(rng, 5, 8, scale=0.4),
        bg=N(rng, 8), bh=N(rng, 8),
        zeta=np.array(0.8), nu=np.array(0.1),
        fc=N(rng, 8, 5), fcb=N(rng, 5),
    )
    I = dict(x=N(rng, 3, 6, 4))

    def model(i, w):
        h = np.zeros(8)
        for t in range(6):
            h = fastgrnn_cell(i["x"][t], h, w["W1"], w["W2"], w["U1"], w["U2"], w["bg"], w["bh"],
                              w["zeta"], w["nu"])
        logits = h @ w["fc"] + w["fcb"]
        return [(None, argmax(logits)), ("logits", logits)]

    return W, I, model


@case(batch=3)
def gru_2layer(rng):
    W = {}
    for layer, (d, h) in ((1, (3, 6)), (2, (6, 4))):
        for g in "zrn":
            W[f"W{g}{layer}"] = N(rng, d, h, scale=0.6)
            W[f"U{g}{layer}"] = N(rng, h, h, scale=0.6)
            W[f"b{g}{layer}"] = N(rng, h, scale=0.3)
    W["fc"] = N(rng, 4, 3)
    W["fcb"] = N(rng, 3)
    I = dict(x=N(rng, 3, 5, 3))

    def model(i, w):
        def cell(x, h, l):
            return gru_cell(x, h, *(w[f"{k}{g}{l}"] for g in "zrn" for k in ("W", "U", "b")))

        h1, h2 = np.zeros(6), np.zeros(4)
        for t in range(5):
            h1 = cell(i["x"][t], h1, 1)
            h2 = cell(h1, h2, 2)
        return [("probs", softmax(dense(h2, w["fc"], w["fcb"]))), ("state", h1)]

    return W, I, model


@case()
def lstm(rng):
    W = {}
    for g in "ifgo":
        W[f"W{g}"] = N(rng, 3, 5, scale=0.6)
        W[f"U{g}"] = N(rng, 5, 5, scale=0.6)
        W[f"b{g}"] = N(rng, 5, scale=0.3)
    I = dict(x=N(rng, 4, 3))

    def model(i, w):
        ps = [w[f"{k}{g}"] for g in "ifgo" for k in ("W", "U", "b")]
        x = i["x"]
        h, c = np.zeros(5), np.zeros(5)
        for t in range(4):
            h, c = lstm_cell(x[t], h, c, *ps)
        h2, c2 = lstm_cell(x[0], h, c, *ps)
        h3, c3 = lstm_cell(x[1], h2, c2, *ps)
        h3 = h3 * 2
        c3 = c3 + h3
        return [("hidden", h), ("cell", c), (None, h2 - h), ("last", np.concatenate([h3, c3]))]

    return W, I, model


@case(batch=3)
def cnn_tiny(rng):
    W = dict(
        w1=N(rng, 4, 1, 3, 3, scale=0.5), b1=N(rng, 4, scale=0.1),
        w2=N(rng, 6, 4, 3, 3, scale=0.3), b2=N(rng, 6, scale=0.1),
        fc=N(rng, 24, 3, scale=0.5), fcb=N(rng, 3), fg=N(rng, 6, 3),
    )
    I = dict(x=N(rng, 3, 1, 8, 8))

    def model(i, w):
        a = relu(conv2d(i["x"], w["w1"], w["b1"], stride=1, pad=1))
        p = maxpool2d(a, 2)
        c = relu(conv2d(p, w["w2"], w["b2"], stride=2, pad=1))
        g = np.mean(np.mean(c, axis=2), axis=1)
        logits = dense(c.reshape(-1), w["fc"], w["fcb"]) + g @ w["fg"]
        return [("probs", softmax(logits)), ("cls", argmax(logits))]

    return W, I, model


@case(batch=2)
def cnn_blockrelu(rng):
    W = dict(
        w1=N(rng, 4, 3, 3, 3, scale=0.4), b1=N(rng, 4, scale=0.1),
        w2=N(rng, 8, 4, 2, 2, scale=0.4), b2=N(rng, 8, scale=0.1),
        fc=N(rng, 32, 4, scale=0.5), fcb=N(rng, 4),
    )
    I = dict(x=N(rng, 2, 3, 8, 8))

    def model(i, w):
        a = block_relu(conv2d(i["x"], w["w1"], w["b1"], pad=1), 2, 2)
        p = avgpool2d(a, 2)
        c = poly_relu(conv2d(p, w["w2"], w["b2"], stride=2))
        return unnamed(c.reshape(-1) @ w["fc"] + w["fcb"])

    return W, I, model


@case()
def pooling(rng):
    I = dict(x=N(rng, 2, 7, 7))

    def model(i, w):
        x = i["x"]
        return unnamed(
            avgpool2d(x, 3, 2),
            maxpool2d(x, 2, 1),
            maxpool2d(x, 3),
            avgpool2d(x, 2),
            maxpool2d(x, 3, 2),
            avgpool2d(x, 7),
            maxpool2d(x, 1),
            maxpool2d(x, 2, 3),
            avgpool2d(x, 3, 4),
        )

    return {}, I, model


@case(compressed=True)
def conv_variants(rng):
    W = dict(
        w1=N(rng, 3, 2, 2, 3), b1=N(rng, 3).astype(">f8"),  # big-endian
        w2=np.asfortranarray(N(rng, 2, 2, 3, 3)), b2=N(rng, 2),  # Fortran order
        w3=N(rng, 4, 2, 1, 1), b3=N(rng, 4),
    )
    I = dict(x=N(rng, 2, 6, 7), s=N(rng, 2, 2, 2))

    def model(i, w):
        x = i["x"]
        return unnamed(
            conv2d(x, w["w1"], w["b1"]),
            conv2d(x, w["w1"], w["b1"], stride=2),
            conv2d(x, w["w2"], w["b2"], stride=2, pad=1),
            conv2d(x, w["w2"], w["b2"], stride=3, pad=2),
            conv2d(x, w["w3"], w["b3"]),
            conv2d(x, w["w2"], w["b2"], stride=1, pad=1),
            conv2d(x, w["w1"], w["b1"], pad=3),
            conv2d(i["s"], w["w2"], w["b2"], pad=1),
            conv2d(i["s"], w["w2"], w["b2"], stride=2, pad=2),
            conv2d(x, w["w2"], w["b2"], stride=5),
        )

    return W, I, model


@case()
def activations(rng):
    x = N(rng, 10, scale=2.0)
    x[0], x[1], x[2] = 0.0, 30.0, -30.0
    I = dict(x=x, z=N(rng, 2, 3))

    def model(i, w):
        x, z = i["x"], i["z"]
        pos = x * x + 0.5
        return unnamed(
            relu(x),
            sigmoid(x),
            np.tanh(x),
            np.exp(x),
            np.sqrt(pos),
            1.0 / np.sqrt(pos),
            1.0 / pos,
            sigmoid(z * 20),
            x * (1.0 / pos),
            np.exp(-relu(z)),
            np.tanh(z) * sigmoid(-z) + relu(-z),
        )

    return {}, I, model


@case()
def poly_case(rng):
    I = dict(x=N(rng, 3, 4, scale=1.5))

    def model(i, w):
        x = i["x"]
        return unnamed(
            poly(x, [1, 2, 3]),
            poly(x, [-0.5, 0, 0.25, 1e-3]),
            poly(x, [3]),
            poly_relu(x),
            poly(x, [250.0, -0.015]),
            poly(x, [0, 1]),
            poly(x, [-1, -2, 0, 0, 0.0625]),
            poly(sigmoid(x), [0.5, -0.25, 0.125]),
        )

    return {}, I, model


@case()
def block_relu_case(rng):
    I = dict(x=N(rng, 2, 5, 7))

    def model(i, w):
        x = i["x"]
        return unnamed(
            block_relu(x, 2, 3),
            block_relu(x, 1, 1),
            block_relu(x, 5, 7),
            block_relu(x, 3, 2),
            block_relu(x, 4, 4),
            block_relu(x, 1, 7),
            block_relu(x + 0.3, 5, 1),
        )

    return {}, I, model


@case()
def reductions(rng):
    v = N(rng, 6)
    v[4] = 3.5  # the maximum, once
    I = dict(y=N(rng, 3, 4, 5), v=v)

    def model(i, w):
        y, v = i["y"], i["v"]
        return unnamed(
            np.sum(y), np.mean(y), np.max(y),
            np.sum(y, axis=0), np.mean(y, axis=1), np.max(y, axis=2),
            np.sum(y, axis=-1), np.mean(y, axis=-2), np.max(y, axis=-3),
            argmax(v),
            argmax(np.concatenate([v, v])),
            argmax(relu(v - 100)),
            np.sum(v, axis=0), np.max(v, axis=-1),
            np.max(np.max(y, axis=0), axis=0),
            np.mean(np.sum(y, axis=2)),
            argmax(np.max(y, axis=2)[1]),
        )

    return {}, I, model


@case()
def softmax_layernorm(rng):
    W = dict(gamma=N(rng, 6), beta=N(rng, 6), W=N(rng, 6, 3))
    I = dict(x=N(rng, 4, 6), v=N(rng, 6))

    def model(i, w):
        x, v, g, b = i["x"], i["v"], w["gamma"], w["beta"]
        return [
            ("probs", softmax(v)),
            ("rows", softmax(x)),
            ("big", softmax(x * 50)),
            ("ln", layernorm(x, g, b)),
            ("ln1", layernorm(v, g, b)),
            ("ln3", layernorm(x.reshape(2, 2, 6), g, b)),
            ("combo", softmax(layernorm(x, g, b) @ w["W"])),
            ("flat", softmax(x.reshape(2, 2, 6))),
        ]

    return W, I, model


@case()
def data_movement(rng):
    I = dict(x=np.asfortranarray(N(rng, 2, 3, 4)), a=N(rng, 3, 2), b=N(rng, 3, 5))

    def model(i, w):
        x, a, b = i["x"], i["a"], i["b"]
        return unnamed(
            x.reshape(6, 4),
            x.reshape(4, 3, 2),
            x.reshape(24),
            x.reshape(-1),
            transpose(a),
            transpose(x),
            transpose(x[0]),
            np.concatenate([a, b], axis=1),
            np.concatenate([a, a, b], axis=-1),
            np.concatenate([x, x], axis=0),
            np.concatenate([x[0], x[1]], axis=1),
            np.concatenate([b[0], a[1], b[2]], axis=0),
            np.concatenate([x, x * 2], axis=2),
            np.concatenate([x, x * 3], axis=-2),
            transpose(b[1]),
            b[1].reshape(5, 1) * a[0],
            (transpose(a) @ b).reshape(-1),
            np.concatenate([a, a * 2]),
        )

    return {}, I, model


@case()
def use_file(rng):
    W = dict(w=N(rng, 6, 4), b=N(rng, 4))
    I = dict(x=N(rng, 6))

    def model(i, w):
        def squash(p):
            return np.tanh(p) / 2 + 1

        h = relu(dense(i["x"], w["w"], w["b"]))
        return unnamed(h, squash(h), squash(i["x"]))

    return W, I, model


@case(batch=3, compressed=True)
def multi_io_batch(rng):
    W = dict(w=N(rng, 4))
    a, b, s = N(rng, 3, 4), N(rng, 3, 2, 4), N(rng, 3)
    I = dict(s=s, b=b, a=a)  # archive order differs from declaration order

    def model(i, w):
        a, b, s = i["a"], i["b"], i["s"]
        return [
            ("first", a + b),
            (None, a @ transpose(b)),
            ("total", np.sum(b) * s),
            (None, s),
            (None, argmax(a)),
            ("scaled", (a * w["w"]) @ transpose(b) * s),
        ]

    return W, I, model


@case()
def shadowing_scopes(rng):
    I = dict(x=N(rng, 4))

    def model(i, w):
        x = i["x"]
        y = x * 2 + 1
        m = y
        for t in range(3):
            z = m * 0.5 + x[t]
            k = z * z
            m = z - k * 0.1
        return unnamed(y, m, m - 1)

    return {}, I, model


@case()
def scalars(rng):
    W = dict(p=np.array(-0.4), q=np.array([1.3]))
    I = dict(s=np.array(0.9))

    def model(i, w):
        s, p, q = i["s"], w["p"], w["q"]
        return unnamed(
            s * p + 1,
            s - q,
            np.exp(s) * sigmoid(p),
            np.ones(()) * s,
            np.zeros(3) + s,
            np.sum(q),
            np.mean(np.ones((2, 3)) * s),
            np.max(q * s),
            1 - s + 0.5 * s * s,
        )

    return W, I, model


@case(batch=4)
def mlp_float32(rng):
    f = np.float32
    W = dict(
        g=N(rng, 16).astype(f), be=N(rng, 16).astype(f),
        w1=N(rng, 16, 8, scale=0.4).astype(f), b1=N(rng, 8).astype(f),
        w2=N(rng, 8, 5, scale=0.4).astype(f), b2=N(rng, 5).astype(f),
    )
    I = dict(x=N(rng, 4, 16).astype(f))

    def model(i, w):
        d = lambda a: np.asarray(a, dtype=np.float64)  # sir computes in f64 on the stored values
        h = relu(dense(layernorm(d(i["x"]), d(w["g"]), d(w["be"])), d(w["w1"]), d(w["b1"])))
        z = dense(h, d(w["w2"]), d(w["b2"]))
        return [("probs", softmax(z)), ("label", argmax(z))]

    return W, I, model


@case()
def temporal_conv(rng):
    W = dict(k=N(rng, 3, 3, 4, scale=0.5), kf=N(rng, 9, 4, scale=0.5), bias=N(rng, 4, scale=0.2))
    I = dict(x=N(rng, 10, 3))

    def model(i, w):
        x = i["x"]
        acc = np.zeros(4)
        for t in range(8):
            y = w["bias"]
            for d in range(3):
                y = y + x[t + d] @ w["k"][d]
            acc = acc + relu(y)
        acc2 = np.zeros(4)
        for t in range(8):
            acc2 = acc2 + np.tanh(x[t : t + 3].reshape(-1) @ w["kf"])
        return [("mean_act", acc / 8), (None, acc2)]

    return W, I, model


@case()
def attention_block(rng):
    W = {k: N(rng, 6, 6, scale=0.4) for k in ("Wq", "Wk", "Wv", "Wo")}
    W.update(g=N(rng, 6), b=N(rng, 6), W1=N(rng, 6, 8, scale=0.4), b1=N(rng, 8, scale=0.1),
             W2=N(rng, 8, 6, scale=0.4), b2=N(rng, 6, scale=0.1))
    W = dict(reversed(list(W.items())))  # archive order differs from declaration order
    I = dict(X=N(rng, 4, 6))

    def model(i, w):
        X = i["X"]
        q, k, v = X @ w["Wq"], X @ w["Wk"], X @ w["Wv"]
        s = 1.7320508075688772
        a0 = softmax(q[:, 0:3] @ k[:, 0:3].T / s) @ v[:, 0:3]
        a1 = softmax(q[:, 3:6] @ k[:, 3:6].T / s) @ v[:, 3:6]
        y = layernorm(X + np.concatenate([a0, a1], axis=1) @ w["Wo"], w["g"], w["b"])
        f = relu(y @ w["W1"] + w["b1"]) @ w["W2"] + w["b2"]
        return [(None, layernorm(y + f, w["g"], w["b"])), ("pooled", np.mean(y + f, axis=0))]

    return W, I, model


@case()
def lexical(rng):
    W = dict(w_2=N(rng, 3, 2), B9=N(rng, 2), model_w=N(rng, 3), format=np.array(2.0),
             mutx=np.array(-1.5), output_bias=N(rng, 3))
    I = dict(x_in=N(rng, 3))

    def model(i, w):
        x = i["x_in"]
        y = x * 1e-3 + (x * 0.5) * 2.5e2 - 0.125 + 42
        mutable = (x * w["model_w"] + w["format"] + w["mutx"]) * 2 + w["output_bias"]
        return unnamed(dense(y, w["w_2"], w["B9"]), y / 1e3, x * 1.0 - 0.7) + [("inputs", mutable)]

    return W, I, model


@case()
def broadcast_rank3(rng):
    I = dict(a=N(rng, 2, 1, 4), b=N(rng, 3, 1), c=N(rng, 1, 3, 1), d=N(rng, 2, 1, 5))

    def model(i, w):
        a, b, c, d = i["a"], i["b"], i["c"], i["d"]
        return unnamed(a * b, c + d, b - a, a[0] + b, c * a - b, b * np.ones((1, 1)),
                       np.ones((1, 1)) * a[0, 0], b.reshape(1, 3) + b)

    return {}, I, model


@case()
def fn_body_loops(rng):
    W = dict(w=N(rng, 3, 4), v=N(rng, 3, 2))
    I = dict(x=N(rng, 5, 3), y=N(rng, 5, 5, 3))

    def model(i, w):
        def scan(x, ww):
            h = np.zeros(ww.shape[1])
            best = np.zeros(ww.shape[1])
            for t in range(5):
                z = x[t] @ ww
                h = np.tanh(h * 0.5 + z)
                best = best + relu(z - h)
            return h, best, np.sum(h)

        x, y = i["x"], i["y"]
        h, best, total = scan(x, w["w"])
        h2, b2, t2 = scan(x * 2, w["v"])
        s = np.zeros((2, 3))
        for a in range(4):
            for j in range(a):
                s = s + y[a, j : j + 2] * y[j + 1, a]
        return unnamed(h, best, total, np.concatenate([h2, b2]) * t2, s)

    return W, I, model


# Case functions named like a kernel above get a suffix (they would shadow it).
# --------------------------------------------------------------------------------------------
# Ports from frameworks (docs/porting.md shows these functions verbatim; a test checks it):
# each case draws the framework's own parameters, computes the framework's documented
# equations in NumPy, and its .sir model runs on the ported parameters.
# --------------------------------------------------------------------------------------------


# porting: torch_gru
def port_torch_gru(w_ih, w_hh, b_ih, b_hh):
    """nn.GRU (one layer): weight_ih_l0 [3H, D], weight_hh_l0 [3H, H], gate rows r, z, n;
    for std::rnn::gru_cell_lbr (PyTorch's linear_before_reset GRU)."""
    H = w_hh.shape[1]
    r, z, n = (slice(g * H, (g + 1) * H) for g in range(3))
    return dict(
        Wz=w_ih[z].T, Uz=w_hh[z].T, bz=b_ih[z] + b_hh[z],
        Wr=w_ih[r].T, Ur=w_hh[r].T, br=b_ih[r] + b_hh[r],
        Wn=w_ih[n].T, Un=w_hh[n].T, bin=b_ih[n], bhn=b_hh[n],
    )
# end porting


# porting: torch_lstm
def port_torch_lstm(w_ih, w_hh, b_ih, b_hh):
    """nn.LSTM (one layer): weight_ih_l0 [4H, D], weight_hh_l0 [4H, H], gate rows i, f, g, o;
    for std::rnn::lstm_cell."""
    H = w_hh.shape[1]
    p = {}
    for k, gate in enumerate("ifgo"):
        rows = slice(k * H, (k + 1) * H)
        p["W" + gate] = w_ih[rows].T
        p["U" + gate] = w_hh[rows].T
        p["b" + gate] = b_ih[rows] + b_hh[rows]
    return p
# end porting


# porting: keras_gru
def port_keras_gru(kernel, recurrent_kernel, bias):
    """keras.layers.GRU(reset_after=True), the default: kernel [D, 3H], recurrent_kernel
    [H, 3H], columns z, r, h; bias [2, 3H] (input row, recurrent row); for gru_cell_lbr."""
    H = recurrent_kernel.shape[0]
    z, r, h = (slice(g * H, (g + 1) * H) for g in range(3))
    return dict(
        Wz=kernel[:, z], Uz=recurrent_kernel[:, z], bz=bias[0, z] + bias[1, z],
        Wr=kernel[:, r], Ur=recurrent_kernel[:, r], br=bias[0, r] + bias[1, r],
        Wn=kernel[:, h], Un=recurrent_kernel[:, h], bin=bias[0, h], bhn=bias[1, h],
    )
# end porting


# porting: keras_lstm
def port_keras_lstm(kernel, recurrent_kernel, bias):
    """keras.layers.LSTM: kernel [D, 4H], recurrent_kernel [H, 4H], columns i, f, c, o;
    bias [4H]; for lstm_cell (its g is Keras' c)."""
    H = recurrent_kernel.shape[0]
    p = {}
    for k, gate in enumerate("ifgo"):
        cols = slice(k * H, (k + 1) * H)
        p["W" + gate] = kernel[:, cols]
        p["U" + gate] = recurrent_kernel[:, cols]
        p["b" + gate] = bias[cols]
    return p
# end porting


# porting: edgeml_fastgrnn
def port_edgeml_fastgrnn(W1, W2, U1, U2, bias_gate, bias_update, zeta, nu):
    """EdgeML's FastGRNNCell (low-rank W = W1 W2, U = U1 U2; biases [1, H]; zeta and nu
    stored raw, passed through a sigmoid in the cell); for std::rnn::fastgrnn_cell, which
    takes zeta and nu as used."""
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))
    return dict(W1=W1, W2=W2, U1=U1, U2=U2, bg=bias_gate[0], bh=bias_update[0],
                zeta=sig(np.asarray(zeta)).reshape(()), nu=sig(np.asarray(nu)).reshape(()))
# end porting


# porting: torch_cnn
def port_torch_cnn(conv_w, conv_b, fc_w, fc_b):
    """nn.Conv2d weight [O, C, KH, KW] and bias are conv2d's as they are (both NCHW);
    nn.Linear weight [out, in] is transposed; x.flatten(1) is flatten(x) (C, H, W order)."""
    return dict(cw=conv_w, cb=conv_b, fw=fc_w.T, fb=fc_b)
# end porting


def contiguous(p):
    return {k: np.array(v, dtype=np.float64, order="C") for k, v in p.items()}


@case()
def gru_lbr(rng):
    # PyTorch's nn.GRU and its documented equations (r, z, n; b_hn inside the reset product).
    D, H, T = 3, 4, 5
    w_ih, w_hh = N(rng, 3 * H, D, scale=0.6), N(rng, 3 * H, H, scale=0.6)
    b_ih, b_hh = N(rng, 3 * H, scale=0.4), N(rng, 3 * H, scale=0.4)
    W = contiguous(port_torch_gru(w_ih, w_hh, b_ih, b_hh))
    I = dict(x=N(rng, T, D))
    blk = lambda m, g: m[g * H:(g + 1) * H]

    def model(i, w):
        h = np.zeros(H)
        for t in range(T):
            x = i["x"][t]
            r = sigmoid(blk(w_ih, 0) @ x + blk(b_ih, 0) + blk(w_hh, 0) @ h + blk(b_hh, 0))
            z = sigmoid(blk(w_ih, 1) @ x + blk(b_ih, 1) + blk(w_hh, 1) @ h + blk(b_hh, 1))
            n = np.tanh(blk(w_ih, 2) @ x + blk(b_ih, 2) + r * (blk(w_hh, 2) @ h + blk(b_hh, 2)))
            h = (1 - z) * n + z * h
        return [(None, h)]

    return W, I, model


@case()
def gelu_act(rng):
    erf = np.vectorize(math.erf)
    gelu = lambda v: 0.5 * v * (1.0 + erf(v / math.sqrt(2.0)))
    W = dict(w=N(rng, 12, 6, scale=0.5))
    x = N(rng, 12, scale=1.5)
    x[0], x[1], x[2] = 0.0, -3.0, 3.0
    I = dict(x=x)

    def model(i, w):
        return [(None, gelu(i["x"])), ("y", gelu(i["x"] @ w["w"]))]

    return W, I, model


@case()
def ported_torch_lstm(rng):
    # nn.LSTM's documented equations (i, f, g, o; both biases) on its own parameters.
    D, H, T = 3, 4, 5
    w_ih, w_hh = N(rng, 4 * H, D, scale=0.6), N(rng, 4 * H, H, scale=0.6)
    b_ih, b_hh = N(rng, 4 * H, scale=0.4), N(rng, 4 * H, scale=0.4)
    W = contiguous(port_torch_lstm(w_ih, w_hh, b_ih, b_hh))
    I = dict(x=N(rng, T, D))
    blk = lambda m, g: m[g * H:(g + 1) * H]

    def model(i, w):
        h, c = np.zeros(H), np.zeros(H)
        for t in range(T):
            x = i["x"][t]
            gate = lambda k: blk(w_ih, k) @ x + blk(b_ih, k) + blk(w_hh, k) @ h + blk(b_hh, k)
            ig, fg, gg, og = sigmoid(gate(0)), sigmoid(gate(1)), np.tanh(gate(2)), sigmoid(gate(3))
            c = fg * c + ig * gg
            h = og * np.tanh(c)
        return [(None, h)]

    return W, I, model


@case()
def ported_keras_gru(rng):
    # keras.layers.GRU(reset_after=True): z, r, hh columns; h' = z·h + (1 − z)·hh.
    D, H, T = 3, 4, 5
    kernel, rec = N(rng, D, 3 * H, scale=0.6), N(rng, H, 3 * H, scale=0.6)
    bias = N(rng, 2, 3 * H, scale=0.4)
    W = contiguous(port_keras_gru(kernel, rec, bias))
    I = dict(x=N(rng, T, D))
    col = lambda m, g: m[..., g * H:(g + 1) * H]

    def model(i, w):
        h = np.zeros(H)
        for t in range(T):
            x = i["x"][t]
            xz, xr, xh = (x @ col(kernel, g) + col(bias[0], g) for g in range(3))
            hz, hr, hh_ = (h @ col(rec, g) + col(bias[1], g) for g in range(3))
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            hh = np.tanh(xh + r * hh_)
            h = z * h + (1 - z) * hh
        return [(None, h)]

    return W, I, model


@case()
def ported_keras_lstm(rng):
    # keras.layers.LSTM: i, f, c, o columns, one bias.
    D, H, T = 3, 4, 5
    kernel, rec = N(rng, D, 4 * H, scale=0.6), N(rng, H, 4 * H, scale=0.6)
    bias = N(rng, 4 * H, scale=0.4)
    W = contiguous(port_keras_lstm(kernel, rec, bias))
    I = dict(x=N(rng, T, D))

    def model(i, w):
        h, c = np.zeros(H), np.zeros(H)
        for t in range(T):
            zz = i["x"][t] @ kernel + h @ rec + bias
            ig, fg = sigmoid(zz[:H]), sigmoid(zz[H:2 * H])
            cc, og = np.tanh(zz[2 * H:3 * H]), sigmoid(zz[3 * H:])
            c = fg * c + ig * cc
            h = og * np.tanh(c)
        return [(None, h)]

    return W, I, model


@case()
def ported_edgeml_fastgrnn(rng):
    # EdgeML FastGRNNCell's forward pass with its raw zeta and nu.
    D, H, T, rw, ru = 4, 5, 6, 2, 3
    W1, W2 = N(rng, D, rw, scale=0.6), N(rng, rw, H, scale=0.6)
    U1, U2 = N(rng, H, ru, scale=0.6), N(rng, ru, H, scale=0.6)
    bg, bu = N(rng, 1, H, scale=0.3), N(rng, 1, H, scale=0.3)
    zeta, nu = np.array([[1.0]]), np.array([[-4.0]])
    W = contiguous(port_edgeml_fastgrnn(W1, W2, U1, U2, bg, bu, zeta, nu))
    I = dict(x=N(rng, T, D))

    def model(i, w):
        h = np.zeros(H)
        for t in range(T):
            pre = i["x"][t] @ W1 @ W2 + h @ U1 @ U2
            z = sigmoid(pre + bg[0])
            c = np.tanh(pre + bu[0])
            h = z * h + (sigmoid(zeta[0, 0]) * (1 - z) + sigmoid(nu[0, 0])) * c
        return [(None, h)]

    return W, I, model


@case()
def ported_torch_cnn(rng):
    # nn.Conv2d (NCHW cross-correlation) → ReLU → x.flatten(1) → nn.Linear.
    cw, cb = N(rng, 3, 2, 3, 3, scale=0.4), N(rng, 3, scale=0.1)
    fw, fb = N(rng, 4, 3 * 4 * 4, scale=0.2), N(rng, 4, scale=0.1)
    W = contiguous(port_torch_cnn(cw, cb, fw, fb))
    I = dict(x=N(rng, 2, 6, 6))

    def model(i, w):
        y = relu(conv2d(i["x"], cw, cb))
        return [(None, fw @ y.reshape(-1) + fb)]

    return W, I, model


DIRS = {"block_relu_case": "block_relu", "poly_case": "poly"}


def write_case(name):
    fn, batch, seed, compressed = CASES[name]
    rng = np.random.default_rng(1000 + seed)
    weights, inputs, model = fn(rng)
    d = os.path.join(HERE, DIRS.get(name, name))
    assert os.path.exists(os.path.join(d, "model.sir")), d
    (np.savez_compressed if compressed else np.savez)(os.path.join(d, "weights.npz"), **weights)
    if len(inputs) == 1:
        np.save(os.path.join(d, "input.npy"), next(iter(inputs.values())))
        stale = os.path.join(d, "input.npz")
    else:
        np.savez(os.path.join(d, "input.npz"), **inputs)
        stale = os.path.join(d, "input.npy")
    if os.path.exists(stale):
        os.remove(stale)
    if batch is None:
        outs = model(inputs, weights)
    else:
        per = [model({k: v[n] for k, v in inputs.items()}, weights) for n in range(batch)]
        outs = [(per[0][j][0], np.stack([np.asarray(p[j][1], dtype=np.float64) for p in per]))
                for j in range(len(per[0]))]
    expected = {}
    for j, (oname, arr) in enumerate(outs):
        key = oname if oname is not None else f"out{j}"
        assert key not in expected, (name, key)
        arr = np.asarray(arr, dtype=np.float64)
        assert np.all(np.isfinite(arr)), (name, key)
        expected[key] = arr
    np.savez(os.path.join(d, "expected.npz"), **expected)


def main():
    names = sys.argv[1:] or list(CASES)
    for n in names:
        write_case(n)
    dirs = sorted(e for e in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, e, "model.sir")))
    missing = set(dirs) - {DIRS.get(n, n) for n in CASES}
    assert not missing, f"cases without a generator: {missing}"
    print(f"wrote {len(names)} cases")


if __name__ == "__main__":
    main()
