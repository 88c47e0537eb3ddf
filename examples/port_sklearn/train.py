"""Train the walkthrough's model: a scikit-learn MLP on the Wisconsin breast-cancer data.

docs/port-your-model.md explains every step. Run from the repository root:

    pip install numpy==2.4.6 scikit-learn==1.9.1
    python examples/port_sklearn/train.py

It writes, beside this script:
  weights.npz      one float array per `param` of model.sir, named as there
  calib.npy        standardised training samples [N, 30] (the calibration set)
  calib_labels.npy their classes (0 malignant, 1 benign)
  test.npy         standardised held-out samples, test_labels.npy their classes
The arrays are committed, so nothing here is needed to follow the walkthrough.
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent

x, y = load_breast_cancer(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(
    x, y, test_size=0.25, random_state=0, stratify=y
)

# The client standardises its own features before the two-party run (the scaler's mean and
# scale are not secret: they describe the public feature ranges). Raw features span 0.001 to
# 4,000; one fixed-point format per tensor cannot hold both ends precisely.
scaler = StandardScaler().fit(x_train)
x_train = scaler.transform(x_train)
x_test = scaler.transform(x_test)

mlp = MLPClassifier(hidden_layer_sizes=(16,), activation="relu", alpha=1e-3,
                    max_iter=2000, random_state=0).fit(x_train, y_train)
print(f"float accuracy: train {mlp.score(x_train, y_train):.4f}, test {mlp.score(x_test, y_test):.4f}")

# scikit-learn keeps weights as [in, out] (x @ W + b): the layout `@` wants, no transpose.
# A binary classifier has one output unit with a logistic activation.
assert mlp.out_activation_ == "logistic" and mlp.coefs_[1].shape == (16, 1)
np.savez(
    HERE / "weights.npz",
    W1=mlp.coefs_[0], b1=mlp.intercepts_[0],
    W2=mlp.coefs_[1], b2=mlp.intercepts_[1],
)
np.save(HERE / "calib.npy", x_train)
np.save(HERE / "calib_labels.npy", y_train.astype(np.int64))
np.save(HERE / "test.npy", x_test)
np.save(HERE / "test_labels.npy", y_test.astype(np.int64))
# What the float model says on the test set, to compare with `sir eval` (one probability each).
print("first test probabilities:", mlp.predict_proba(x_test[:4])[:, 1].round(4))

# The same model as ONNX, for `sir import` (README, "Import from ONNX"): skl2onnx, float32,
# probabilities as a tensor (no ZipMap). Optional: skipped without skl2onnx.
try:
    from skl2onnx import to_onnx
except ImportError:
    print("skl2onnx not installed: model.onnx not written")
else:
    onx = to_onnx(mlp, x_train[:1].astype(np.float32), target_opset=17,
                  options={id(mlp): {"zipmap": False}})
    (HERE / "model.onnx").write_bytes(onx.SerializeToString())
    print("wrote model.onnx")
