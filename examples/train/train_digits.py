#!/usr/bin/env python3
"""Train the small CNN of `examples/digits_cnn` on scikit-learn's 8x8 digits.

    python3 examples/train/train_digits.py --variant relu   # -> weights.npz      (model.sir)
    python3 examples/train/train_digits.py --variant poly   # -> weights_poly.npz (model_poly.sir)

Both variants also (re)write the data arrays of the example (identical every time):
calib.npy / train_labels.npy (the training split, the calibration set), test.npy /
test_labels.npy and inputs.npy / inputs_labels.npy (the first test sample of each class).

Data: `sklearn.datasets.load_digits()` (1797 images, 8x8, values 0..16, 10 classes), split by
`train_test_split(test_size=0.25, random_state=0, stratify=y)` (1347 train / 450 test), pixels
scaled to [0, 1] by x / 16, shape [n, 1, 8, 8] float32.

The forward pass is exactly `model.sir` / `model_poly.sir` in sir's semantics:

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

Everything is deterministic (fixed PRNG seed, minibatch Adam, CPU float32). Accuracies printed at
the end are computed by an independent NumPy (float64) forward pass, which is what `sir eval`
should reproduce.
"""
import argparse
import os

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


def forward(p, x, variant, train=False):
    """Logits and the list of activation inputs (pre-activations)."""
    if variant == "relu":
        act = jax.nn.relu
    else:
        act = (lambda z: poly_relu(jnp.clip(z, -CLIP, CLIP))) if train else poly_relu
    a1 = conv(x, p["w1"], p["b1"])
    h1 = avgpool2(act(a1))
    a2 = conv(h1, p["w2"], p["b2"])
    h2 = avgpool2(act(a2))
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


def np_forward(p, x, variant):
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    x = np.asarray(x, np.float64)
    act = (lambda z: np.maximum(z, 0.0)) if variant == "relu" else poly_relu
    pool = lambda z: z.reshape(z.shape[0], z.shape[1], z.shape[2] // 2, 2, z.shape[3] // 2, 2).mean(axis=(3, 5))  # noqa: E731
    a1 = np_conv(x, p["w1"], p["b1"])
    h1 = pool(act(a1))
    a2 = np_conv(h1, p["w2"], p["b2"])
    h2 = pool(act(a2))
    return h2.reshape(h2.shape[0], -1) @ p["fc"] + p["fcb"], [a1, a2]


# ----------------------------------------------------------------------------- training


def train(variant, xtr, ytr, epochs, c, seed, lr, batch, warmup, l2):
    key = jax.random.PRNGKey(seed)
    key, k0 = jax.random.split(key)
    p = init_params(k0)
    xtr_j, ytr_j = jnp.asarray(xtr), jnp.asarray(ytr)
    n = xtr.shape[0]
    steps_per_epoch = n // batch  # drop the ragged last batch (shuffled every epoch)
    total = epochs * steps_per_epoch

    def loss_fn(p, xb, yb, creg, half_gamma):
        logits, pre = forward(p, xb, variant, train=True)
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
        if ep % 25 == 0 or ep == epochs - 1:
            reg = f"  gamma {gamma:2d}  c {creg:.2e}" if variant == "poly" else ""
            print(f"epoch {ep:4d}{reg}  loss {tot_loss / steps_per_epoch:.4f}"
                  f"  ce {tot_ce / steps_per_epoch:.4f}", flush=True)
    return {k: np.asarray(v, np.float32) for k, v in p.items()}


def report(p, variant, x, y, name):
    logits, pre = np_forward(p, x, variant)
    pred = np.argmax(logits, axis=1)
    right = int(np.sum(pred == y))
    mx = [float(np.max(np.abs(a))) for a in pre]
    print(f"{name}: accuracy {100.0 * right / len(y):.2f}% ({right}/{len(y)}); "
          f"max |activation input| per layer {mx[0]:.3f}, {mx[1]:.3f}")
    return right / len(y), max(mx)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=["relu", "poly"])
    ap.add_argument("--out", default=os.path.join(EXAMPLES, "digits_cnn"), help="output directory")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--c", type=float, default=3e-3, help="PILLAR penalty weight (poly only)")
    ap.add_argument("--warmup", type=int, default=20, help="PILLAR warm-up epochs (poly only)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    xtr, ytr, xte, yte = load_data()
    write_data(args.out, xtr, ytr, xte, yte)
    print(f"train {xtr.shape} test {xte.shape}")

    p = train(args.variant, xtr, ytr, args.epochs, args.c, args.seed, args.lr, args.batch,
              args.warmup, args.l2)
    fname = "weights.npz" if args.variant == "relu" else "weights_poly.npz"
    np.savez(os.path.join(args.out, fname), **p)
    print(f"wrote {os.path.join(args.out, fname)}; max |w| = {max(float(np.max(np.abs(v))) for v in p.values()):.3f}")
    report(p, args.variant, xtr, ytr, "train")
    report(p, args.variant, xte, yte, "test ")


if __name__ == "__main__":
    main()
