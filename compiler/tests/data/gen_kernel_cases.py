"""Regenerates the NumPy reference cases of compiler/src/eval/kernels.rs (tests/data/kernels/).

Run from anywhere: `python3 compiler/tests/data/gen_kernel_cases.py`. The outputs are committed;
building and testing the project never needs Python.

Each .npz holds cases named `{kernel}.{i}.{role}`: operands, integer parameters (as int64
arrays) and the expected `out`. conv2d, pooling, layernorm and block_relu are written here in
plain NumPy, directly from their definitions in shared/LANGUAGE.md, independently of the Rust
code.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20240607)


def randn(*shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def save(name, cases):
    arrays = {}
    for kernel, items in cases.items():
        for i, case in enumerate(items):
            for role, value in case.items():
                arr = np.asarray(value)
                if arr.dtype.kind in "iub":
                    arr = arr.astype(np.int64)
                else:
                    arr = arr.astype(np.float64)
                arrays[f"{kernel}.{i}.{role}"] = arr
    np.savez_compressed(os.path.join(OUT, name), **arrays)


# ------------------------------------------------------------------------------ elementwise
pairs = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((5,), ()),
    ((1,), (2, 2)),
    ((2, 3, 1, 5), (3, 4, 1)),
    ((3, 1), (1, 4)),
    ((0, 3), (3,)),
    ((), ()),
]
binary = {}
for op, fn in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("div", np.divide)]:
    binary[op] = []
    for sa, sb in pairs:
        a = randn(*sa)
        b = randn(*sb)
        if op == "div":
            b = np.sign(b) * (np.abs(b) + 0.5)
        binary[op].append(dict(a=a, b=b, out=fn(a, b)))

x_general = np.concatenate([randn(20, scale=3.0), [0.0, -0.0, 40.0, -40.0, 700.0, -745.0]])
x_positive = np.concatenate([np.abs(randn(20, scale=3.0)) + 1e-3, [1e-8, 1.0, 1e8]])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


with np.errstate(over="ignore"):
    unary = {
        "neg": [dict(x=x_general.reshape(2, 13), out=-x_general.reshape(2, 13))],
        "relu": [dict(x=x_general, out=np.maximum(x_general, 0.0))],
        "sigmoid": [dict(x=x_general, out=sigmoid(x_general))],
        "tanh": [dict(x=x_general, out=np.tanh(x_general))],
        "exp": [dict(x=x_general[:-2], out=np.exp(x_general[:-2]))],
        "rsqrt": [dict(x=x_positive, out=1.0 / np.sqrt(x_positive))],
        "sqrt": [dict(x=x_positive, out=np.sqrt(x_positive))],
        "reciprocal": [dict(x=x_positive, out=1.0 / x_positive), dict(x=-x_positive, out=-1.0 / x_positive)],
    }
xs = np.concatenate([np.linspace(-10, 10, 41), randn(10)])
unary["poly_relu"] = [dict(x=xs, out=(322 + 512 * xs + 160 * xs**2 - 3 * xs**4) / 1024)]
unary["poly"] = []
for coeffs in [[1.5], [0.5, -2.0], [0.1, 0.2, -0.3, 0.04], []]:
    x = randn(3, 5)
    out = sum(c * x**k for k, c in enumerate(coeffs)) if coeffs else np.zeros_like(x)
    unary["poly"].append(dict(x=x, coeffs=np.array(coeffs, dtype=np.float64), out=out))
save("elementwise.npz", {**binary, **unary})

# ------------------------------------------------------------------------------ matmul
mm = []
for sa, sb in [((4, 3), (3, 5)), ((3,), (3, 5)), ((4, 3), (3,)), ((7,), (7,)), ((9, 33), (33, 17)), ((1, 1), (1, 1)), ((3, 0), (0, 2))]:
    a, b = randn(*sa), randn(*sb)
    mm.append(dict(a=a, b=b, out=np.matmul(a, b)))
save("matmul.npz", {"matmul": mm})

# ------------------------------------------------------------------------------ reductions
red = {"sum": [], "mean": [], "max": []}
for shape, axis in [((5,), None), ((5,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((2, 3, 4), 0), ((), None), ((4, 1, 2), 1)]:
    x = randn(*shape)
    for op, fn in [("sum", np.sum), ("mean", np.mean), ("max", np.max)]:
        red[op].append(dict(x=x, axis=-1 if axis is None else axis, out=fn(x, axis=axis)))
red["sum"].append(dict(x=np.zeros((2, 0)), axis=1, out=np.zeros(2)))
red["argmax"] = []
for x in [randn(7), np.array([1.0, 3.0, 3.0, 2.0]), np.array([5.0]), np.array([-1.0, -1.0]), np.array([0.0, np.nan, 2.0, np.nan])]:
    red["argmax"].append(dict(x=x, out=np.argmax(x)))


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


red["softmax"] = []
for x in [randn(6, scale=3.0), randn(3, 5), randn(2, 2, 4), np.array([1000.0, 1000.0, -1000.0]), np.array([[2.0]])]:
    red["softmax"].append(dict(x=x, out=softmax(x)))


def layernorm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * gamma + beta


red["layernorm"] = []
for shape, gshape in [((8,), (8,)), ((3, 8), (8,)), ((2, 3, 5), (5,)), ((4, 6), ()), ((2, 3), (1,)), ((3, 4), (4,))]:
    x = randn(*shape, scale=2.0) + 1.0
    if len(red["layernorm"]) == 5:
        x[1] = 0.25  # a constant row: variance 0, only eps keeps it finite
    gamma, beta = randn(*gshape) + 1.0, randn(*gshape)
    red["layernorm"].append(dict(x=x, gamma=gamma, beta=beta, out=layernorm(x, gamma, beta)))
save("reduce.npz", red)

# ------------------------------------------------------------------------------ conv / pool / block_relu


def conv2d(x, w, b, stride, pad):
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((c, h + 2 * pad, wd + 2 * pad))
    xp[:, pad : pad + h, pad : pad + wd] = x
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((o, oh, ow))
    for oc in range(o):
        for i in range(oh):
            for j in range(ow):
                window = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw]
                out[oc, i, j] = np.sum(window * w[oc]) + b[oc]
    return out


def pool(x, k, stride, reduce):
    c, h, w = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((c, oh, ow))
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                out[ch, i, j] = reduce(x[ch, i * stride : i * stride + k, j * stride : j * stride + k])
    return out


def block_relu(x, ph, pw):
    out = x.copy()
    c, h, w = x.shape
    for ch in range(c):
        for r in range(0, h, ph):
            for s in range(0, w, pw):
                if not np.sum(x[ch, r : r + ph, s : s + pw]) > 0:
                    out[ch, r : r + ph, s : s + pw] = 0.0
    return out


cv = {"conv2d": [], "maxpool2d": [], "avgpool2d": [], "block_relu": []}
for (c, h, w), (o, kh, kw), stride, pad in [
    ((1, 5, 5), (1, 3, 3), 1, 0),
    ((2, 6, 7), (3, 3, 3), 1, 1),
    ((3, 8, 8), (4, 3, 3), 2, 1),
    ((2, 7, 6), (2, 2, 3), 3, 2),
    ((1, 4, 4), (2, 1, 1), 1, 0),
    ((2, 3, 3), (1, 5, 5), 1, 1),
    ((1, 2, 2), (1, 3, 3), 2, 3),
    ((3, 9, 5), (2, 4, 2), 2, 0),
]:
    x, wt, b = randn(c, h, w), randn(o, c, kh, kw), randn(o)
    cv["conv2d"].append(dict(x=x, w=wt, b=b, stride=stride, pad=pad, out=conv2d(x, wt, b, stride, pad)))
for shape, k, stride in [((2, 4, 4), 2, 2), ((3, 7, 5), 3, 2), ((1, 6, 6), 2, 1), ((2, 5, 8), 3, 3), ((1, 3, 3), 3, 1)]:
    x = randn(*shape)
    cv["maxpool2d"].append(dict(x=x, k=k, stride=stride, out=pool(x, k, stride, np.max)))
    cv["avgpool2d"].append(dict(x=x, k=k, stride=stride, out=pool(x, k, stride, np.mean)))
for shape, patch in [((2, 4, 4), (2, 2)), ((3, 5, 7), (2, 3)), ((1, 6, 6), (1, 1)), ((2, 3, 5), (4, 4)), ((1, 5, 5), (3, 1))]:
    x = randn(*shape) - 0.1
    cv["block_relu"].append(dict(x=x, patch=np.array(patch), out=block_relu(x, *patch)))
save("conv.npz", cv)

# ------------------------------------------------------------------------------ data movement
INDEX, RANGE, FULL = 0, 1, 2
mv = {"select": [], "transpose": [], "concat": []}
base = randn(4, 5, 6)


def apply(x, sels):
    key = []
    for kind, a, b in sels:
        key.append(a if kind == INDEX else slice(a, b) if kind == RANGE else slice(None))
    return x[tuple(key)]


for sels in [
    [(INDEX, 2, 0)],
    [(INDEX, 3, 0), (INDEX, 4, 0)],
    [(RANGE, 1, 3)],
    [(FULL, 0, 0), (RANGE, 2, 5)],
    [(RANGE, 0, 2), (INDEX, 1, 0), (RANGE, 3, 6)],
    [(FULL, 0, 0), (FULL, 0, 0), (INDEX, 5, 0)],
    [(INDEX, 0, 0), (FULL, 0, 0), (RANGE, 4, 4)],
    [(RANGE, 1, 4), (FULL, 0, 0)],
    [],
]:
    mv["select"].append(dict(x=base, sels=np.array(sels, dtype=np.int64).reshape(-1, 3), out=apply(base, sels)))
for shape in [(), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0, 3)]:
    x = randn(*shape)
    mv["transpose"].append(dict(x=x, out=x.T))
for shapes, axis in [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(5,), (2,)], 0), ([(2, 3, 4), (2, 2, 4)], 1), ([(2, 2, 1), (2, 2, 3)], 2), ([(3,)], 0)]:
    parts = [randn(*s) for s in shapes]
    case = {f"p{i}": p for i, p in enumerate(parts)}
    case.update(axis=axis, out=np.concatenate(parts, axis=axis))
    mv["concat"].append(case)
save("movement.npz", mv)
