"""Regenerates the NumPy fixtures of runtime/src/npy.rs's tests (runtime/tests/data/npy/).

Run from anywhere: `python3 runtime/tests/data/gen_npy_fixtures.py`. The outputs are committed;
building and testing the project never needs Python.
"""
import os
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")
os.makedirs(OUT, exist_ok=True)


def path(name):
    return os.path.join(OUT, name)


base = np.arange(24).reshape(2, 3, 4)
for dt in ["f8", "f4", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]:
    for endian, tag in [("<", "le"), (">", "be")]:
        if dt.endswith("1") and tag == "be":
            continue
        np.save(path(f"arange_{dt}_{tag}.npy"), base.astype(endian + dt))

np.save(path("fortran_f8.npy"), np.asfortranarray(base.astype("<f8")))
np.save(path("fortran_i4_be.npy"), np.asfortranarray(base.astype(">i4")))
np.save(path("fortran_2x3.npy"), np.asfortranarray(np.arange(6.0).reshape(2, 3)))
np.save(path("bool.npy"), np.array([True, False, False, True]))
np.save(path("scalar.npy"), np.float64(2.5))
np.save(path("empty.npy"), np.zeros((0, 3)))
np.save(
    path("extremes_f8.npy"),
    np.array([np.finfo(np.float64).max, np.finfo(np.float64).tiny, -0.0, np.inf, np.nan, 5e-324]),
)
np.save(path("extremes_i8.npy"), np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1]))
with open(path("version2.npy"), "wb") as f:
    np.lib.format.write_array(f, base.astype("<f8"), version=(2, 0))

labels = [3, 0, 9, 1, 1]
np.save(path("labels_i8.npy"), np.array(labels, dtype="<i8"))
np.save(path("labels_u1.npy"), np.array(labels, dtype="u1"))
np.save(path("labels_f4_be.npy"), np.array(labels, dtype=">f4"))
np.save(path("labels_fractional.npy"), np.array([1.0, 0.5, 2.0]))
np.save(path("labels_u8_huge.npy"), np.array([1, 2**63], dtype="<u8"))

np.save(path("strings.npy"), np.array(["a", "bc"]))
np.save(path("structured.npy"), np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]))
np.save(path("object.npy"), np.array([1, "x"], dtype=object), allow_pickle=True)

weights = dict(
    W1=np.array([[0.5, -1.0], [2.0, 0.25], [3.0, -4.5]]),
    b1=np.array([1.0, 2.0], dtype=np.float32),
    zeta=np.float64(0.125),
    A_f32=base.astype(np.float32),
)
np.savez(path("weights.npz"), **weights)
np.savez_compressed(path("weights_compressed.npz"), **weights)
np.savez(path("complex.npz"), W1=np.array([1 + 2j, 3j]))
with zipfile.ZipFile(path("not_npy_entry.npz"), "w") as z:
    z.writestr("W1.npy", open(path("arange_f8_le.npy"), "rb").read())
    z.writestr("README.txt", "not an array")
