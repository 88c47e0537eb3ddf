#!/usr/bin/env python3
"""Train the two recurrent examples of `sir` on real UEA time-series data.

    python3 examples/train/train_rnn.py --model gru_motion  [--data DIR]
    python3 examples/train/train_rnn.py --model lstm_vowels [--data DIR]

DIR (default /work/shared/data) holds the UEA archive files in sktime `.ts` format:
BasicMotions_{TRAIN,TEST}.ts and JapaneseVowels_{TRAIN,TEST}.ts
(https://www.timeseriesclassification.com).

The forward passes below implement exactly the cells of `stdlib/rnn.sir`:

    gru_cell:  z = sigmoid(x Wz + h Uz + bz)
               r = sigmoid(x Wr + h Ur + br)
               n = tanh(x Wn + r * (h Un) + bn)         (reset gate scales h Un, PyTorch style)
               h' = (1 - z) * n + z * h
    lstm_cell: i = sigmoid(x Wi + h Ui + bi), f = sigmoid(x Wf + h Uf + bf)
               g = tanh(x Wg + h Ug + bg),    o = sigmoid(x Wo + h Uo + bo)
               c' = f * c + i * g,  h' = o * tanh(c')

Both start from h = c = 0. The preprocessing (the client's side) is done here, and the written
.npy arrays are already preprocessed; see the README of each example. Everything is
deterministic (fixed PRNG seed, full-batch Adam, CPU float32).
"""
import argparse
import os

import numpy as np

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)


# ----------------------------------------------------------------------------- data


def read_ts(path):
    """Parse an sktime .ts file: list of [T_i, D] float arrays and a list of label strings."""
    series, labels = [], []
    in_data = False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if line.lower().startswith("@data"):
                    in_data = True
                continue
            *dims, label = line.split(":")
            rows = [[float("nan") if v == "?" else float(v) for v in d.split(",")] for d in dims]
            lengths = {len(r) for r in rows}
            if len(lengths) != 1:
                raise ValueError(f"{path}: dimensions of unequal length in one series")
            arr = np.array(rows, dtype=np.float64).T  # [T, D]
            if np.isnan(arr).any():
                raise ValueError(f"{path}: missing values ('?') are not handled")
            series.append(arr)
            labels.append(label.strip())
    return series, labels


def prep_basic_motions(data_dir):
    """BasicMotions: [100, 6] -> average non-overlapping groups of 4 steps -> [25, 6], then
    per-channel standardisation with TRAIN statistics, clipped to [-4, 4]."""
    classes = ["Standing", "Running", "Walking", "Badminton"]
    out = {}
    for split in ("TRAIN", "TEST"):
        s, l = read_ts(os.path.join(data_dir, f"BasicMotions_{split}.ts"))
        x = np.stack(s)  # [N, 100, 6]
        assert x.shape[1:] == (100, 6), x.shape
        x = x.reshape(x.shape[0], 25, 4, 6).mean(axis=2)  # [N, 25, 6]
        y = np.array([classes.index(v) for v in l], dtype=np.int64)
        out[split] = (x, y)
    xtr = out["TRAIN"][0]
    mu = xtr.reshape(-1, 6).mean(axis=0)
    sd = xtr.reshape(-1, 6).std(axis=0)
    norm = lambda x: np.clip((x - mu) / sd, -4.0, 4.0).astype(np.float32)
    return (norm(out["TRAIN"][0]), out["TRAIN"][1]), (norm(out["TEST"][0]), out["TEST"][1]), classes


def prep_japanese_vowels(data_dir, T=20):
    """JapaneseVowels: per-channel standardisation (TRAIN statistics over all real frames,
    clipped to [-4, 4]), then each utterance (7..29 frames) is pre-padded at the FRONT with zero
    frames to T = 20, or truncated keeping its last 20 frames, so the final state has just seen
    the real frames. Zero is the channel mean after standardisation, i.e. a neutral frame."""
    out = {}
    for split in ("TRAIN", "TEST"):
        s, l = read_ts(os.path.join(data_dir, f"JapaneseVowels_{split}.ts"))
        y = np.array([int(v) - 1 for v in l], dtype=np.int64)
        out[split] = (s, y)
    allf = np.concatenate(out["TRAIN"][0], axis=0)
    mu, sd = allf.mean(axis=0), allf.std(axis=0)

    def pad(series):
        x = np.zeros((len(series), T, 12), dtype=np.float32)
        for k, a in enumerate(series):
            a = np.clip((a - mu) / sd, -4.0, 4.0)[-T:]
            x[k, T - len(a):] = a
        return x

    lens = [len(a) for a in out["TRAIN"][0] + out["TEST"][0]]
    print(f"JapaneseVowels lengths: {min(lens)}..{max(lens)}, "
          f"{sum(n > T for n in lens)} of {len(lens)} truncated to the last {T}")
    return (pad(out["TRAIN"][0]), out["TRAIN"][1]), (pad(out["TEST"][0]), out["TEST"][1]), None


# ----------------------------------------------------------------------------- models

H = 16


def init_params(key, names_shapes):
    params = {}
    keys = jax.random.split(key, len(names_shapes))
    for k, (name, shape) in zip(keys, names_shapes):
        if len(shape) == 1:
            params[name] = jnp.zeros(shape, jnp.float32)
        else:
            lim = 1.0 / np.sqrt(shape[0])
            params[name] = jax.random.uniform(k, shape, jnp.float32, -lim, lim)
    return params


def gru_shapes(D, C):
    s = []
    for g in ("z", "r", "n"):
        s += [(f"W{g}", (D, H)), (f"U{g}", (H, H)), (f"b{g}", (H,))]
    return s + [("fc", (H, C)), ("fcb", (C,))]


def lstm_shapes(D, C):
    s = []
    for g in ("i", "f", "g", "o"):
        s += [(f"W{g}", (D, H)), (f"U{g}", (H, H)), (f"b{g}", (H,))]
    return s + [("fc", (H, C)), ("fcb", (C,))]


def gru_logits(p, x):  # x: [N, T, D]
    h = jnp.zeros((x.shape[0], H), x.dtype)
    for t in range(x.shape[1]):
        xt = x[:, t]
        z = jax.nn.sigmoid(xt @ p["Wz"] + h @ p["Uz"] + p["bz"])
        r = jax.nn.sigmoid(xt @ p["Wr"] + h @ p["Ur"] + p["br"])
        n = jnp.tanh(xt @ p["Wn"] + r * (h @ p["Un"]) + p["bn"])
        h = (1 - z) * n + z * h
    return h @ p["fc"] + p["fcb"]


def lstm_logits(p, x):
    h = jnp.zeros((x.shape[0], H), x.dtype)
    c = jnp.zeros((x.shape[0], H), x.dtype)
    for t in range(x.shape[1]):
        xt = x[:, t]
        i = jax.nn.sigmoid(xt @ p["Wi"] + h @ p["Ui"] + p["bi"])
        f = jax.nn.sigmoid(xt @ p["Wf"] + h @ p["Uf"] + p["bf"])
        g = jnp.tanh(xt @ p["Wg"] + h @ p["Ug"] + p["bg"])
        o = jax.nn.sigmoid(xt @ p["Wo"] + h @ p["Uo"] + p["bo"])
        c = f * c + i * g
        h = o * jnp.tanh(c)
    return h @ p["fc"] + p["fcb"]


# ----------------------------------------------------------------------------- training

CONFIGS = {
    # Adam step size (cosine-decayed to a tenth), full-batch epochs, L2 on weight matrices,
    # every parameter clipped to [-clip, clip] after each step, PRNG seed of the initialisation
    "gru_motion": dict(prep=prep_basic_motions, shapes=gru_shapes, logits=gru_logits, C=4,
                       lr=1e-2, epochs=400, l2=1e-3, clip=3.0, seed=7, init_bf=0.0),
    "lstm_vowels": dict(prep=prep_japanese_vowels, shapes=lstm_shapes, logits=lstm_logits, C=9,
                        lr=1e-2, epochs=400, l2=1e-3, clip=3.0, seed=9, init_bf=1.0),
}


def train(cfg):
    (xtr, ytr), (xte, yte), _ = cfg["prep"](cfg["data"])
    D = xtr.shape[2]
    logits_fn = cfg["logits"]
    params = init_params(jax.random.PRNGKey(cfg["seed"]), cfg["shapes"](D, cfg["C"]))
    if "bf" in params:  # LSTM: forget-gate bias 1 (the usual initialisation)
        params["bf"] = jnp.full_like(params["bf"], cfg["init_bf"])

    xtr_j, ytr_j = jnp.asarray(xtr), jnp.asarray(ytr)

    def loss_fn(p):
        lg = logits_fn(p, xtr_j)
        ce = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(lg), ytr_j[:, None], axis=1))
        l2 = sum(jnp.sum(v * v) for k, v in p.items() if not k.startswith("b") and k != "fcb")
        return ce + cfg["l2"] * l2

    b1, b2, eps, lr, clip = 0.9, 0.999, 1e-8, cfg["lr"], cfg["clip"]

    T = cfg["epochs"]

    @jax.jit
    def step(p, m, v, t):
        # cosine decay of the step size from lr to lr / 10 over the run
        lr_t = lr * (0.1 + 0.45 * (1 + jnp.cos(jnp.pi * (t - 1) / T)))
        loss, g = jax.value_and_grad(loss_fn)(p)
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        mh = 1 - b1 ** t
        vh = 1 - b2 ** t
        p = jax.tree_util.tree_map(
            lambda p, m, v: jnp.clip(p - lr_t * (m / mh) / (jnp.sqrt(v / vh) + eps), -clip, clip),
            p, m, v)
        return p, m, v, loss

    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    predict = jax.jit(lambda p, x: jnp.argmax(logits_fn(p, x), axis=1))
    for ep in range(1, cfg["epochs"] + 1):
        params, m, v, loss = step(params, m, v, jnp.float32(ep))
        if ep % 50 == 0 or ep == 1:
            acc_tr = float(np.mean(np.asarray(predict(params, xtr_j)) == ytr))
            print(f"epoch {ep:4d}  loss {float(loss):.4f}  train acc {acc_tr:.4f}")

    # Final accuracies in float64 numpy with the exact weights that are written out.
    p64 = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    acc_tr = float(np.mean(np_predict(cfg, p64, xtr) == ytr))
    acc_te = float(np.mean(np_predict(cfg, p64, xte) == yte))
    return params, (xtr, ytr), (xte, yte), acc_tr, acc_te


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def np_predict(cfg, p, x):
    """Float64 numpy re-implementation of the forward pass (what `sir eval` computes)."""
    x = x.astype(np.float64)
    h = np.zeros((x.shape[0], H))
    c = np.zeros((x.shape[0], H))
    for t in range(x.shape[1]):
        xt = x[:, t]
        if cfg["logits"] is gru_logits:
            z = _sig(xt @ p["Wz"] + h @ p["Uz"] + p["bz"])
            r = _sig(xt @ p["Wr"] + h @ p["Ur"] + p["br"])
            n = np.tanh(xt @ p["Wn"] + r * (h @ p["Un"]) + p["bn"])
            h = (1 - z) * n + z * h
        else:
            i = _sig(xt @ p["Wi"] + h @ p["Ui"] + p["bi"])
            f = _sig(xt @ p["Wf"] + h @ p["Uf"] + p["bf"])
            g = np.tanh(xt @ p["Wg"] + h @ p["Ug"] + p["bg"])
            o = _sig(xt @ p["Wo"] + h @ p["Uo"] + p["bo"])
            c = f * c + i * g
            h = o * np.tanh(c)
    return np.argmax(h @ p["fc"] + p["fcb"], axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--data", default="/work/shared/data", help="directory with the UEA .ts files")
    ap.add_argument("--out", default=None, help="output directory (default examples/<model>)")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()

    cfg = dict(CONFIGS[args.model], data=args.data)
    if args.epochs:
        cfg["epochs"] = args.epochs
    out = args.out or os.path.join(EXAMPLES, args.model)
    os.makedirs(out, exist_ok=True)

    params, (xtr, ytr), (xte, yte), acc_tr, acc_te = train(cfg)
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    np.savez(os.path.join(out, "weights.npz"), **weights)
    np.save(os.path.join(out, "calib.npy"), xtr.astype(np.float32))
    np.save(os.path.join(out, "train_labels.npy"), ytr.astype(np.int64))
    np.save(os.path.join(out, "test.npy"), xte.astype(np.float32))
    np.save(os.path.join(out, "test_labels.npy"), yte.astype(np.int64))
    # A small demo batch covering every class: the first test sample(s) of each (the test
    # files are ordered by class), 8 or 9 samples in all.
    per = 2 if len(set(yte.tolist())) <= 4 else 1
    pick = np.concatenate([np.where(yte == c)[0][:per] for c in sorted(set(yte.tolist()))])
    np.save(os.path.join(out, "inputs.npy"), xte[pick].astype(np.float32))
    np.save(os.path.join(out, "inputs_labels.npy"), yte[pick].astype(np.int64))

    wmax = max(float(np.abs(v).max()) for v in weights.values())
    print(f"inputs: train {xtr.shape}, test {xte.shape}, max |x| {float(np.abs(xtr).max()):.3f}"
          f" / {float(np.abs(xte).max()):.3f}; max |w| {wmax:.3f}")
    print(f"float train accuracy: {acc_tr:.4f} ({int(round(acc_tr * len(ytr)))}/{len(ytr)})")
    print(f"float test accuracy:  {acc_te:.4f} ({int(round(acc_te * len(yte)))}/{len(yte)})")
    print(f"wrote {out}/{{weights.npz, calib.npy, train_labels.npy, test.npy, test_labels.npy, "
          f"inputs.npy, inputs_labels.npy}}")


if __name__ == "__main__":
    main()
