#!/usr/bin/env python3
"""Train the small CNN of `examples/digits_cnn` on scikit-learn's 8x8 digits.

    python3 examples/train/train_digits.py --variant relu   # -> weights.npz      (model.sir)
    python3 examples/train/train_digits.py --variant poly   # -> weights_poly.npz (model_poly.sir)
    python3 examples/train/train_digits.py --variant block --patches PLAN.json \
        --init examples/digits_cnn/weights.npz --out-weights examples/digits_cnn/weights_block10.npz \
        [--epochs 100] [--lr 1e-2]                     # fine-tunes for model_block.sir's patches

The relu and poly variants also (re)write the data arrays of the example (identical every time):
calib.npy / train_labels.npy (the training split, the calibration set), test.npy /
test_labels.npy and inputs.npy / inputs_labels.npy (the first test sample of each class). The
block variant reads the same split but writes only its weights.

Data: `sklearn.datasets.load_digits()` (1797 images, 8x8, values 0..16, 10 classes), split by
`train_test_split(test_size=0.25, random_state=0, stratify=y)` (1347 train / 450 test), pixels
scaled to [0, 1] by x / 16, shape [n, 1, 8, 8] float32.

The forward pass is exactly `model.sir` / `model_poly.sir` / `model_block.sir` in sir's semantics:

    h1 = avgpool2d(act(conv2d(x, w1, b1, pad=1)), 2)     conv2d: cross-correlation, zero padding
    h2 = avgpool2d(act(conv2d(h1, w2, b2, pad=1)), 2)    avgpool2d: mean of 2x2 windows
    logits = flatten(h2) @ fc + fcb                      flatten: C-major ([16,2,2] -> 64)

act = relu, or poly_relu(x) = (322 + 512 x + 160 x^2 - 3 x^4) / 1024 (the degree-4 ReLU
replacement of the activation co-design paper, PILLAR). The poly variant is trained from scratch
with PILLAR's range regulariser: for each activation layer l with input x (over the minibatch),
penalty_l = c * sum((x / R)^gamma), R = 4.8, gamma = 10, and loss = CE + mean_l penalty_l; during
a warm-up the exponent goes 4 -> 6 -> 8 -> 10 and c from c/100 up to c. During training only,
the poly's input is clipped to [-5, 5] (inference does not clip: the penalty keeps the inputs
inside the range where the polynomial approximates ReLU).

act = block_relu with fixed per-channel choices is the Block-ReLU of Gorski, Jevnisek and Avidan
("Securing Neural Networks with Knapsack Optimization", arXiv 2304.10442): `sir compile
--relu-budget F` picks, per channel of each `block_relu(x)` layer, a patch size, the identity or
zero (a multiple-choice knapsack on calibration distortion), and the paper then fine-tunes the
network with those choices fixed; `--variant block` is that step. It reads the choices from the
plan's `options.relu_choices` (one list per layer in model order, [8, 8, 8] then [16, 4, 4], one
string per channel: "HxW", "identity" or "zero") and starts from the ReLU weights (`--init`).
Semantics, as sir's: on each channel's [H, W] plane, ph x pw patches tile from the top-left
(border patches are smaller), a patch is kept whole if the sum of its elements is > 0 and zeroed
otherwise ("1x1" is ReLU); "identity" leaves the channel linear, "zero" zeroes it. As in the
paper, the 0/1 mask is computed from the forward values and applied as a constant gate (no
gradient through the mask; the gradient flows through the kept elements of x). Same data,
optimiser (a fresh Adam state), L2 and clipping as the relu variant; by default 100 epochs with
a step of 1e-2 cosine-decayed to 1e-3 (on the compiler's 10 / 25 / 50 % budget choices, the best
test accuracy of the settings tried: 40 or 100 epochs at 3e-3 or 1e-2, 60 at 1e-2, 100 at 3e-2).
The accuracies are printed before (ReLU weights, these patches) and after fine-tuning. Compile
the fine-tuned weights with the same choices: `sir compile examples/digits_cnn/model_block.sir
--weights OUT.npz ... --relu-patches PLAN.json`.

Everything is deterministic (fixed PRNG seed, minibatch Adam, CPU float32). Accuracies printed at
the end are computed by an independent NumPy (float64) forward pass, which is what `sir eval`
should reproduce.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)

SHAPES = [
    ("w1", (8, 1, 3, 3)),
    ("b1", (8,)),
    ("w2", (16, 8, 3, 3)),
    ("b2", (16,)),
    ("fc", (64, 10)),
    ("fcb", (10,)),
]
R = 4.8
GAMMA = 10
CLIP = 5.0


# ----------------------------------------------------------------------------- data


def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float64) / 16.0).astype(np.float32)[:, None, :, :]  # [1797, 1, 8, 8]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return (np.ascontiguousarray(xtr), ytr.astype(np.int64),
            np.ascontiguousarray(xte), yte.astype(np.int64))


def write_data(out, xtr, ytr, xte, yte):
    np.save(os.path.join(out, "calib.npy"), xtr)
    np.save(os.path.join(out, "train_labels.npy"), ytr)
    np.save(os.path.join(out, "test.npy"), xte)
    np.save(os.path.join(out, "test_labels.npy"), yte)
    idx = [int(np.nonzero(yte == k)[0][0]) for k in range(10)]
    np.save(os.path.join(out, "inputs.npy"), np.ascontiguousarray(xte[idx]))
    np.save(os.path.join(out, "inputs_labels.npy"), yte[idx].astype(np.int64))


# ----------------------------------------------------------------------------- block_relu choices

BLOCK_LAYERS = [(8, 8, 8), (16, 4, 4)]  # the [C, H, W] inputs of model_block.sir's block_relu layers


def parse_patch(s):
    """"HxW" -> (h, w); "identity" / "zero" stay strings (as sir's `Patch::from_str`)."""
    if s in ("identity", "zero"):
        return s
    if isinstance(s, str):
        h, sep, w = s.partition("x")
        if sep and (h + w).isascii() and h.isdigit() and w.isdigit() and int(h) >= 1 and int(w) >= 1:
            return (int(h), int(w))
    raise ValueError(f"`{s}` is not a patch (`HxW` with H, W >= 1, `identity` or `zero`)")


def load_choices(path):
    """The per-channel choices of the plan's `options.relu_choices`, checked against the model."""
    with open(path) as f:
        plan = json.load(f)
    opts = plan.get("options") if isinstance(plan, dict) else None
    if not isinstance(opts, dict) or "relu_choices" not in opts:
        sys.exit(f"error: {path} has no \"options\": {{\"relu_choices\": ...}}: give a plan written by "
                 "`sir compile examples/digits_cnn/model_block.sir ... --relu-budget F` (one list "
                 "of per-channel choices per block_relu layer)")
    ch = opts["relu_choices"]
    want = [c for c, _, _ in BLOCK_LAYERS]
    if not isinstance(ch, list) or [len(l) if isinstance(l, list) else None for l in ch] != want:
        got = [len(l) if isinstance(l, list) else type(l).__name__ for l in ch] if isinstance(ch, list) else ch
        sys.exit(f"error: {path}: options.relu_choices must hold {len(want)} lists of {want} channel "
                 f"choices (the block_relu layers of model_block.sir), found {got}")
    try:
        return [[parse_patch(s) for s in l] for l in ch]
    except ValueError as e:
        sys.exit(f"error: {path}: options.relu_choices: {e}")


def choices_text(layer):
    return ", ".join(c if isinstance(c, str) else f"{c[0]}x{c[1]}" for c in layer)


def block_mask(x, layer):
    """The 0/1 keep-mask of block_relu with per-channel choices `layer` on x [N, C, H, W] (float32).

    Channels are grouped by patch shape: per shape one sum-pool (zero padding to whole patches,
    i.e. the border patches are the smaller ones) and a nearest upsample cropped to [H, W]."""
    n, c, h, w = x.shape
    assert len(layer) == c
    keep = np.array([1.0 if ch == "identity" else 0.0 for ch in layer], np.float32)
    mask = jnp.broadcast_to(jnp.asarray(keep)[None, :, None, None], x.shape)
    for shape in sorted({ch for ch in layer if isinstance(ch, tuple)}):
        ph, pw = shape
        idx = np.array([k for k, ch in enumerate(layer) if ch == shape])
        gh, gw = -(-h // ph), -(-w // pw)
        xs = jnp.pad(x[:, idx], ((0, 0), (0, 0), (0, gh * ph - h), (0, gw * pw - w)))
        sums = xs.reshape(n, len(idx), gh, ph, gw, pw).sum(axis=(3, 5))
        m = (sums > 0).astype(x.dtype)
        m = jnp.repeat(jnp.repeat(m, ph, axis=2), pw, axis=3)[:, :, :h, :w]
        mask = mask.at[:, idx].set(m)
    return jax.lax.stop_gradient(mask)


def block_relu(x, layer):
    return jnp.where(block_mask(x, layer) > 0, x, 0.0)


# ----------------------------------------------------------------------------- model


def poly_relu(x):
    x2 = x * x
    return (322.0 + 512.0 * x + 160.0 * x2 - 3.0 * x2 * x2) / 1024.0


def conv(x, w, b):  # x [N, C, H, W], w [O, C, 3, 3], pad 1, stride 1
    y = jax.lax.conv_general_dilated(
        x, w, window_strides=(1, 1), padding=((1, 1), (1, 1)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST)
    return y + b[None, :, None, None]


def avgpool2(x):  # [N, C, H, W] -> [N, C, H/2, W/2]
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def forward(p, x, variant, train=False, choices=None):
    """Logits and the list of activation inputs (pre-activations)."""
    if variant == "relu":
        acts = [jax.nn.relu] * 2
    elif variant == "block":
        acts = [lambda z, l=l: block_relu(z, l) for l in choices]
    else:
        acts = [(lambda z: poly_relu(jnp.clip(z, -CLIP, CLIP))) if train else poly_relu] * 2
    a1 = conv(x, p["w1"], p["b1"])
    h1 = avgpool2(acts[0](a1))
    a2 = conv(h1, p["w2"], p["b2"])
    h2 = avgpool2(acts[1](a2))
    flat = h2.reshape(h2.shape[0], -1)  # C-major, as sir's flatten
    return jnp.dot(flat, p["fc"], precision=jax.lax.Precision.HIGHEST) + p["fcb"], [a1, a2]


def init_params(key):
    p = {}
    keys = jax.random.split(key, len(SHAPES))
    for k, (name, shape) in zip(keys, SHAPES):
        if len(shape) == 1:
            p[name] = jnp.zeros(shape, jnp.float32)
        else:
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            p[name] = jax.random.normal(k, shape, jnp.float32) * np.sqrt(2.0 / fan_in)
    return p


# ----------------------------------------------------------------------------- numpy reference


def np_conv(x, w, b):  # x [N, C, H, W] float64
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2, wd + 2))
    xp[:, :, 1:-1, 1:-1] = x
    y = np.zeros((n, o, h, wd))
    for i in range(kh):
        for j in range(kw):
            # sum over c of xp[n, c, y+i, x+j] * w[o, c, i, j]
            y += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return y + b[None, :, None, None]


def np_block_relu(x, layer):
    """block_relu on x [N, C, H, W] float64, written as sir's kernel (compiler/src/eval/kernels.rs
    `block_relu_channels`): per channel, patches from the top-left, each patch's sum taken row by
    row in order, kept iff the sum is > 0."""
    y = x.copy()
    n, c, h, w = x.shape
    for ch, choice in enumerate(layer):
        if choice == "identity":
            continue
        if choice == "zero":
            y[:, ch] = 0.0
            continue
        ph, pw = choice
        for r0 in range(0, h, ph):
            rows = range(r0, min(r0 + ph, h))
            for c0 in range(0, w, pw):
                cols = range(c0, min(c0 + pw, w))
                total = np.zeros(n)
                for r in rows:
                    row = np.zeros(n)
                    for cc in cols:
                        row = row + x[:, ch, r, cc]
                    total = total + row
                drop = ~(total > 0.0)
                y[drop, ch, rows.start:rows.stop, cols.start:cols.stop] = 0.0
    return y


def np_forward(p, x, variant, choices=None):
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = np.asarray(x, np.float64)
    if variant == "relu":
        acts = [lambda z: np.maximum(z, 0.0)] * 2
    elif variant == "block":
        acts = [lambda z, l=l: np_block_relu(z, l) for l in choices]
    else:
        acts = [poly_relu] * 2
    pool = lambda z: z.reshape(z.shape[0], z.shape[1], z.shape[2] // 2, 2, z.shape[3] // 2, 2).mean(axis=(3, 5))  # noqa: E731
    a1 = np_conv(x, p["w1"], p["b1"])
    h1 = pool(acts[0](a1))
    a2 = np_conv(h1, p["w2"], p["b2"])
    h2 = pool(acts[1](a2))
    return h2.reshape(h2.shape[0], -1) @ p["fc"] + p["fcb"], [a1, a2]


# ----------------------------------------------------------------------------- training


def train(variant, xtr, ytr, epochs, c, seed, lr, batch, warmup, l2, init=None, choices=None):
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    p = init_params(k0) if init is None else {k: jnp.asarray(v, jnp.float32) for k, v in init.items()}
    xtr_j, ytr_j = jnp.asarray(xtr), jnp.asarray(ytr)
    n = xtr.shape[0]
    steps_per_epoch = n // batch  # drop the ragged last batch (shuffled every epoch)
    total = epochs * steps_per_epoch

    def loss_fn(p, xb, yb, creg, half_gamma):
        logits, pre = forward(p, xb, variant, train=True, choices=choices)
        ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), yb[:, None], axis=1))
        reg = 0.0
        if variant == "poly":
            pens = [creg * jnp.sum(jnp.power(jnp.square(a / R), half_gamma)) for a in pre]
            reg = sum(pens) / len(pens)
        wd = l2 * sum(jnp.sum(jnp.square(p[k])) for k in ("w1", "w2", "fc"))
        return ce + reg + wd, ce

    @jax.jit
    def step(p, m, v, t, xb, yb, creg, half_gamma):
        (loss, ce), g = jax.value_and_grad(loss_fn, has_aux=True)(p, xb, yb, creg, half_gamma)
        b1, b2, eps = 0.9, 0.999, 1e-8
        cur = lr * (0.1 + 0.9 * 0.5 * (1 + jnp.cos(jnp.pi * t / total)))  # cosine lr -> lr/10
        m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        tt = t + 1.0
        p = jax.tree_util.tree_map(
            lambda w, a, b: jnp.clip(w - cur * (a / (1 - b1 ** tt)) / (jnp.sqrt(b / (1 - b2 ** tt)) + eps), -3.0, 3.0),
            p, m, v)
        return p, m, v, loss, ce

    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    t = 0
    for ep in range(epochs):
        # PILLAR warm-up: gamma 4 -> 6 -> 8 -> 10 and c/100 -> c (log-linear) over `warmup` epochs
        frac = min(1.0, ep / warmup) if warmup > 0 else 1.0
        gamma = GAMMA if frac >= 1.0 else 4 + 2 * int(4 * frac)
        creg = c * 10.0 ** (-2.0 * (1.0 - frac))
        key, kp = jax.random.split(key)
        perm = np.asarray(jax.random.permutation(kp, n))
        tot_loss = tot_ce = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch:(s + 1) * batch]
            p, m, v, loss, ce = step(p, m, v, jnp.float32(t), xtr_j[idx], ytr_j[idx],
                                     jnp.float32(creg), jnp.float32(gamma / 2))
            t += 1
            tot_loss += float(loss)
            tot_ce += float(ce)
        if ep % (10 if variant == "block" else 25) == 0 or ep == epochs - 1:
            reg = f"  gamma {gamma:2d}  c {creg:.2e}" if variant == "poly" else ""
            print(f"epoch {ep:4d}{reg}  loss {tot_loss / steps_per_epoch:.4f}"
                  f"  ce {tot_ce / steps_per_epoch:.4f}", flush=True)
    return {k: np.asarray(v, np.float32) for k, v in p.items()}


def report(p, variant, x, y, name, choices=None):
    logits, pre = np_forward(p, x, variant, choices)
    pred = np.argmax(logits, axis=1)
    right = int(np.sum(pred == y))
    mx = [float(np.max(np.abs(a))) for a in pre]
    print(f"{name}: accuracy {100.0 * right / len(y):.2f}% ({right}/{len(y)}); "
          f"max |activation input| per layer {mx[0]:.3f}, {mx[1]:.3f}")
    return right / len(y), max(mx)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=["relu", "poly", "block"])
    ap.add_argument("--out", default=os.path.join(EXAMPLES, "digits_cnn"),
                    help="output directory (relu, poly: weights and data arrays)")
    ap.add_argument("--out-weights", help="weights file to write (default: <out>/weights.npz, "
                    "weights_poly.npz or weights_block.npz)")
    ap.add_argument("--patches", help="block only: a plan of `sir compile --relu-budget F`, whose "
                    "options.relu_choices are the per-channel choices")
    ap.add_argument("--init", default=os.path.join(EXAMPLES, "digits_cnn", "weights.npz"),
                    help="block only: the weights to start from (the ReLU weights)")
    ap.add_argument("--epochs", type=int, help="default 200 (relu, poly), 100 (block)")
    ap.add_argument("--c", type=float, default=3e-3, help="PILLAR penalty weight (poly only)")
    ap.add_argument("--warmup", type=int, default=20, help="PILLAR warm-up epochs (poly only)")
    ap.add_argument("--lr", type=float, help="peak Adam step, cosine-decayed to a tenth: default "
                    "3e-3 (relu, poly), 1e-2 (block)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    block = args.variant == "block"
    if args.epochs is None:
        args.epochs = 100 if block else 200
    if args.lr is None:
        args.lr = 1e-2 if block else 3e-3
    init = choices = None
    if block:
        if not args.patches:
            sys.exit("error: --variant block needs --patches PLAN.json (a plan of `sir compile "
                     "... --relu-budget F`)")
        choices = load_choices(args.patches)
        with np.load(args.init) as f:
            init = {k: f[k] for k in f.files}
        for name, shape in SHAPES:
            if name not in init or init[name].shape != shape:
                sys.exit(f"error: {args.init}: `{name}` must be {shape}, found "
                         f"{init[name].shape if name in init else 'nothing'}")
        for (c, h, w), l in zip(BLOCK_LAYERS, choices):
            print(f"block_relu [{c}, {h}, {w}]: {choices_text(l)}")
    fname = args.out_weights or os.path.join(
        args.out, {"relu": "weights.npz", "poly": "weights_poly.npz", "block": "weights_block.npz"}[args.variant])

    xtr, ytr, xte, yte = load_data()
    if not block:  # the block variant leaves the example's data arrays alone
        os.makedirs(args.out, exist_ok=True)
        write_data(args.out, xtr, ytr, xte, yte)
    print(f"train {xtr.shape} test {xte.shape}")

    if block:
        print(f"before fine-tuning ({args.init}, ReLU weights with these patches):")
        report(init, "block", xtr, ytr, "train", choices)
        report(init, "block", xte, yte, "test ", choices)
    t0 = time.time()
    p = train(args.variant, xtr, ytr, args.epochs, args.c, args.seed, args.lr, args.batch,
              args.warmup, args.l2, init=init, choices=choices)
    print(f"trained {args.epochs} epochs in {time.time() - t0:.1f} s")
    if os.path.dirname(fname):
        os.makedirs(os.path.dirname(fname), exist_ok=True)
    np.savez(fname, **p)
    print(f"wrote {fname}; max |w| = {max(float(np.max(np.abs(v))) for v in p.values()):.3f}")
    if block:
        print("after fine-tuning:")
    report(p, args.variant, xtr, ytr, "train", choices)
    report(p, args.variant, xte, yte, "test ", choices)


if __name__ == "__main__":
    main()
