#!/usr/bin/env python3
"""Writes the ONNX import suite (tests/onnx/<case>/): `model.onnx`, an input batch `input.npy`
(float32) and `expected.npz`, onnxruntime's outputs on it (float32, by graph output name).

Graphs are built with onnx.helper in the patterns torch.onnx and tf2onnx export (Gemm with
transB, Conv + BatchNormalization, Flatten, Reshape with a batch entry of -1 or 0), and one comes
from skl2onnx (an MLPClassifier, zipmap off). `unsupported/` holds a model with an operator
sir import refuses; the RNN cases are GRUs in both `linear_before_reset` conventions (PyTorch's
is 1: both biases) and LSTMs, fed through torch's batch-first transpose, read through Y_h or
the last step of Y. The Rust test (tests/onnx_import.rs) only reads these files.

    /tmp/venv/bin/pip install onnx onnxruntime skl2onnx scikit-learn
    python3 tests/onnx/gen.py
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def save(case, model, x):
    d = os.path.join(HERE, case)
    os.makedirs(d, exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(d, "model.onnx"))
    x = np.asarray(x, dtype=np.float32)
    np.save(os.path.join(d, "input.npy"), x)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: x})
    names = [o.name for o in sess.get_outputs()]
    np.savez(os.path.join(d, "expected.npz"),
             **{n: np.asarray(v, dtype=np.float64) for n, v in zip(names, outs)})


def model_of(nodes, inputs, outputs, inits, name):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="sir-tests")


def mlp_gemm(rng):
    # torch.nn.Linear exports Gemm with transB = 1 (weight [out, in]).
    w1, b1 = rng.standard_normal((16, 10)) * 0.4, rng.standard_normal(16) * 0.1
    w2, b2 = rng.standard_normal((5, 16)) * 0.4, rng.standard_normal(5) * 0.1
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="/relu/Relu"),
        helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["z"], name="/fc2/Gemm", transB=1),
        helper.make_node("Softmax", ["z"], ["probs"], name="/softmax/Softmax", axis=-1),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10])],
                 [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 5])],
                 [init("fc1.weight", w1), init("fc1.bias", b1), init("fc2.weight", w2),
                  init("fc2.bias", b2)], "mlp")
    save("mlp_gemm", m, rng.standard_normal((6, 10)))


def cnn_bn(rng):
    c1 = rng.standard_normal((4, 2, 3, 3)) * 0.4
    cb1 = rng.standard_normal(4) * 0.1
    bn = lambda c: [rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.1,
                    rng.standard_normal(c) * 0.1, rng.uniform(0.5, 1.5, c)]
    s1, b1, m1, v1 = bn(4)
    c2 = rng.standard_normal((6, 4, 3, 3)) * 0.3
    s2, b2, m2, v2 = bn(6)
    fc = rng.standard_normal((6, 3)) * 0.5
    fcb = rng.standard_normal(3) * 0.1
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], name="/conv1/Conv",
                         pads=[1, 1, 1, 1], strides=[1, 1], kernel_shape=[3, 3]),
        # Folded into conv1: nothing else reads c1.
        helper.make_node("BatchNormalization", ["c1", "bn1.weight", "bn1.bias", "bn1.mean", "bn1.var"],
                         ["n1"], name="/bn1/BatchNormalization", epsilon=1e-5),
        helper.make_node("Relu", ["n1"], ["r1"], name="/relu1/Relu"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="/pool/MaxPool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["p1", "conv2.weight"], ["c2"], name="/conv2/Conv",
                         strides=[2, 2], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="/relu2/Relu"),
        # After a ReLU: a per-channel affine map.
        helper.make_node("BatchNormalization", ["r2", "bn2.weight", "bn2.bias", "bn2.mean", "bn2.var"],
                         ["n2"], name="/bn2/BatchNormalization", epsilon=1e-3),
        helper.make_node("GlobalAveragePool", ["n2"], ["g"], name="/gap/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm",
                         alpha=0.5, beta=2.0),
    ]
    inits = [init("conv1.weight", c1), init("conv1.bias", cb1), init("conv2.weight", c2),
             init("fc.weight", fc), init("fc.bias", fcb)]
    for p, (s, b, m, v) in (("bn1", (s1, b1, m1, v1)), ("bn2", (s2, b2, m2, v2))):
        inits += [init(f"{p}.weight", s), init(f"{p}.bias", b), init(f"{p}.mean", m),
                  init(f"{p}.var", v)]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 8, 8])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                 inits, "cnn")
    save("cnn_bn", m, rng.standard_normal((4, 2, 8, 8)))


def ops_mix(rng):
    # MatMul + broadcast bias [1, M], LeakyRelu, arithmetic with constants and initializers,
    # Reshape (0 and -1), Transpose of a sample's two axes, a product of two activations,
    # Identity, Dropout, Cast and two outputs.
    w = rng.standard_normal((12, 8)) * 0.4
    bias = rng.standard_normal((1, 8)) * 0.1
    scale = rng.uniform(0.5, 2.0, 8)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["a"], name="mm"),
        helper.make_node("Add", ["a", "bias"], ["b"], name="add_bias"),
        helper.make_node("LeakyRelu", ["b"], ["c"], name="leaky", alpha=0.1),
        helper.make_node("Constant", [], ["half"], name="const_half",
                         value=numpy_helper.from_array(np.array(0.5, dtype=np.float32))),
        helper.make_node("Mul", ["c", "half"], ["d"], name="times_half"),
        helper.make_node("Div", ["d", "scale"], ["e"], name="div_scale"),
        helper.make_node("Sub", ["e", "half"], ["f"], name="minus_half"),
        helper.make_node("Sigmoid", ["f"], ["g"], name="sig"),
        helper.make_node("Tanh", ["f"], ["h"], name="tanh"),
        helper.make_node("Identity", ["h"], ["h2"], name="ident"),
        helper.make_node("Dropout", ["h2"], ["h3"], name="drop"),
        helper.make_node("Cast", ["h3"], ["h4"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Constant", [], ["shape"], name="const_shape",
                         value=numpy_helper.from_array(np.array([0, 2, -1], dtype=np.int64))),
        helper.make_node("Reshape", ["g", "shape"], ["gr"], name="reshape"),
        helper.make_node("Transpose", ["gr"], ["gt"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["gt", "gr"], ["gram"], name="gram"),
        helper.make_node("Mul", ["h4", "g"], ["out2"], name="gate"),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 12])],
                 [helper.make_tensor_value_info("gram", TensorProto.FLOAT, ["N", 4, 4]),
                  helper.make_tensor_value_info("out2", TensorProto.FLOAT, ["N", 8])],
                 [init("w", w), init("bias", bias), init("scale", scale)], "ops_mix")
    save("ops_mix", m, rng.standard_normal((5, 12)))


def transformer_bits(rng):
    # LayerNormalization (opset 17) and Slice as torch exports them around attention heads.
    g, b = rng.uniform(0.5, 1.5, 8), rng.standard_normal(8) * 0.1
    wq = rng.standard_normal((8, 8)) * 0.4
    c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln.weight", "ln.bias"], ["n"],
                         name="/ln/LayerNormalization", axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["n", "wq"], ["q"], name="/q/MatMul"),
        helper.make_node("Slice", ["q", "s0", "s4", "a2"], ["q0"], name="/head0/Slice"),
        helper.make_node("Slice", ["q", "s4", "s8", "a2"], ["q1"], name="/head1/Slice"),
        helper.make_node("Transpose", ["q1"], ["q1t"], name="/head1/Transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q0", "q1t"], ["s"], name="/scores/MatMul"),
        helper.make_node("Softmax", ["s"], ["p"], name="/Softmax", axis=-1),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 8])],
                 [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 5, 5])],
                 [init("ln.weight", g), init("ln.bias", b), init("wq", wq), c("s0", [0]),
                  c("s4", [4]), c("s8", [8]), c("a2", [2])], "attn_bits")
    save("transformer_bits", m, rng.standard_normal((3, 5, 8)))


def keras_cnn_nhwc(rng):
    # tf2onnx's pattern for a Keras CNN: NHWC input, a Transpose to NCHW around each Conv and
    # back, Flatten in NHWC order, MatMul + Add for Dense.
    cw, cb = rng.standard_normal((4, 3, 3, 3)) * 0.4, rng.standard_normal(4) * 0.1
    fw, fb = rng.standard_normal((6 * 6 * 4, 2)) * 0.2, rng.standard_normal(2) * 0.1
    nodes = [
        helper.make_node("Transpose", ["x"], ["xc"], name="conv/Transpose", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["xc", "conv.kernel", "conv.bias"], ["c"], name="conv/Conv",
                         kernel_shape=[3, 3], pads=[0, 0, 0, 0], strides=[1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="conv/Relu"),
        helper.make_node("Transpose", ["r"], ["rh"], name="conv/Transpose_back", perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["rh"], ["f"], name="flatten/Reshape", axis=1),
        helper.make_node("MatMul", ["f", "dense.kernel"], ["d"], name="dense/MatMul"),
        helper.make_node("Add", ["d", "dense.bias"], ["y"], name="dense/BiasAdd"),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["unk__1", 8, 8, 3])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["unk__1", 2])],
                 [init("conv.kernel", cw), init("conv.bias", cb), init("dense.kernel", fw),
                  init("dense.bias", fb)], "keras_cnn")
    save("keras_cnn_nhwc", m, rng.standard_normal((3, 8, 8, 3)))


def stacked_gru(rng):
    # torch's nn.GRU(num_layers=2, batch_first=True): the second layer reads the first's Y
    # (its direction axis squeezed).
    T, D, H = 5, 3, 4
    p = lambda *s: rng.standard_normal(s) * 0.5
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="/gru/Transpose", perm=[1, 0, 2]),
        helper.make_node("GRU", ["xt", "W0", "R0", "B0"], ["Y0", ""], name="/gru/GRU_0",
                         hidden_size=H, linear_before_reset=1),
        helper.make_node("Squeeze", ["Y0", "ax1"], ["Y0s"], name="/gru/Squeeze_0"),
        helper.make_node("GRU", ["Y0s", "W1", "R1", "B1"], ["", "Yh1"], name="/gru/GRU_1",
                         hidden_size=H, linear_before_reset=1),
        helper.make_node("Squeeze", ["Yh1", "ax0"], ["h"], name="/gru/Squeeze_1"),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, D])],
                 [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", H])],
                 [init("W0", p(1, 3 * H, D)), init("R0", p(1, 3 * H, H)), init("B0", p(1, 6 * H)),
                  init("W1", p(1, 3 * H, H)), init("R1", p(1, 3 * H, H)), init("B1", p(1, 6 * H)),
                  numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
                  numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0")], "stacked_gru")
    save("stacked_gru", m, rng.standard_normal((3, T, D)))


def torch_view_flatten(rng):
    # torch.onnx's x.view(x.size(0), -1) with a dynamic batch: Shape → Gather(0) → Unsqueeze →
    # Concat with [-1] → Reshape, then a Linear; and a size computed by arithmetic (C·H·W).
    cw, cb = rng.standard_normal((3, 1, 3, 3)) * 0.5, rng.standard_normal(3) * 0.1
    fw, fb = rng.standard_normal((2, 3 * 4 * 4)) * 0.3, rng.standard_normal(2) * 0.1
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("Shape", ["r"], ["s"], name="/Shape"),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="/Gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"], name="/Unsqueeze"),
        helper.make_node("Slice", ["s", "one", "four"], ["chw"], name="/Slice"),
        helper.make_node("ReduceProd", ["chw"], ["size"], name="/ReduceProd", keepdims=1),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="/Concat", axis=0),
        helper.make_node("Reshape", ["r", "target"], ["f"], name="/Reshape"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm", transB=1),
    ]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 6, 6])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
                 [init("conv.weight", cw), init("conv.bias", cb), init("fc.weight", fw),
                  init("fc.bias", fb), i64("zero", 0), i64("ax0", [0]), i64("one", [1]),
                  i64("four", [4]), i64("minus1", [-1])], "view_flatten")
    save("torch_view_flatten", m, rng.standard_normal((3, 1, 6, 6)))


def gemm_bn_avgpool(rng):
    # AveragePool, BatchNormalization folded into a Gemm (transB 0 and 1), Div by an
    # activation, Exp and Sqrt.
    cw, cb = rng.standard_normal((2, 1, 3, 3)) * 0.5, rng.standard_normal(2) * 0.1
    g1, g1b = rng.standard_normal((2 * 2 * 2, 6)) * 0.4, rng.standard_normal(6) * 0.1
    g2, g2b = rng.standard_normal((5, 6)) * 0.4, rng.standard_normal(5) * 0.1
    bn = lambda c: [rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.1,
                    rng.standard_normal(c) * 0.1, rng.uniform(0.5, 1.5, c)]
    b1, b2 = bn(6), bn(5)
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("AveragePool", ["c"], ["p"], name="avgpool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("MaxPool", ["p"], ["p1"], name="maxpool_stride1", kernel_shape=[1, 1]),
        helper.make_node("Flatten", ["p1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "g1", "g1b"], ["h"], name="fc1"),
        helper.make_node("BatchNormalization", ["h", "s1", "o1", "m1", "v1"], ["hn"], name="bn1"),
        helper.make_node("Relu", ["hn"], ["hr"], name="relu"),
        helper.make_node("Gemm", ["hr", "g2", "g2b"], ["z"], name="fc2", transB=1),
        helper.make_node("BatchNormalization", ["z", "s2", "o2", "m2", "v2"], ["zn"], name="bn2"),
        helper.make_node("Exp", ["zn"], ["e"], name="exp"),
        helper.make_node("Sqrt", ["e"], ["q"], name="sqrt"),
        helper.make_node("Div", ["zn", "q"], ["y"], name="div_by_activation"),
    ]
    inits = [init("cw", cw), init("cb", cb), init("g1", g1), init("g1b", g1b), init("g2", g2),
             init("g2b", g2b)]
    for k, (sc, o, m, v) in ((1, b1), (2, b2)):
        inits += [init(f"s{k}", sc), init(f"o{k}", o), init(f"m{k}", m), init(f"v{k}", v)]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
                 inits, "gemm_bn")
    save("gemm_bn_avgpool", m, rng.standard_normal((4, 1, 6, 6)))


def torch_layernorm_gelu(rng):
    # LayerNorm as torch exports it below opset 17 (ReduceMean, Sub, Pow, Add, Sqrt, Div, Mul,
    # Add), a Linear, and opset 20's Gelu.
    g, b = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6) * 0.1
    w, wb = rng.standard_normal((6, 4)) * 0.5, rng.standard_normal(4) * 0.1
    f32 = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.float32), name)
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["mu"], name="/ln/ReduceMean", keepdims=1),
        helper.make_node("Sub", ["x", "mu"], ["d"], name="/ln/Sub"),
        helper.make_node("Pow", ["d", "two"], ["d2"], name="/ln/Pow"),
        helper.make_node("ReduceMean", ["d2", "axes"], ["var"], name="/ln/ReduceMean_1", keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["ve"], name="/ln/Add"),
        helper.make_node("Sqrt", ["ve"], ["sd"], name="/ln/Sqrt"),
        helper.make_node("Div", ["d", "sd"], ["nrm"], name="/ln/Div"),
        helper.make_node("Mul", ["nrm", "ln.weight"], ["sc"], name="/ln/Mul"),
        helper.make_node("Add", ["sc", "ln.bias"], ["y0"], name="/ln/Add_1"),
        helper.make_node("MatMul", ["y0", "fc.weight"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "fc.bias"], ["h1"], name="/fc/Add"),
        helper.make_node("Gelu", ["h1"], ["y"], name="/act/Gelu"),
    ]
    g20 = helper.make_graph(nodes, "ln_gelu",
                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6])],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4])],
                            [init("ln.weight", g), init("ln.bias", b), init("fc.weight", w),
                             init("fc.bias", wb), f32("two", 2.0), f32("eps", 1e-5),
                             numpy_helper.from_array(np.array([-1], dtype=np.int64), "axes")])
    m = helper.make_model(g20, opset_imports=[helper.make_opsetid("", 20)], producer_name="sir-tests")
    save("torch_layernorm_gelu", m, rng.standard_normal((3, 3, 6)))


def sklearn_mlp(rng):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x).astype(np.float32)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=400, random_state=0).fit(x, y)
    m = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}}, target_opset=OPSET)
    save("sklearn_mlp", m, x[::71][:8])


def unsupported(rng):
    nodes = [helper.make_node("Erf", ["x"], ["y"], name="/act/Erf")]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [], "erf")
    save("unsupported", m, rng.standard_normal((2, 4)))




def rnn_case(rng, case, op, lbr=0, use_y=False):
    # torch.onnx's pattern for nn.GRU/nn.LSTM(batch_first=True): a Transpose to [seq, batch,
    # input], the RNN, then its last state (Y_h squeezed) or the last step of Y into a Linear.
    T, D, H, C = 6, 3, 5, 4
    g = 4 if op == "LSTM" else 3
    W = rng.standard_normal((1, g * H, D)) * 0.5
    R = rng.standard_normal((1, g * H, H)) * 0.5
    B = rng.standard_normal((1, 2 * g * H)) * 0.3
    fc, fcb = rng.standard_normal((C, H)) * 0.5, rng.standard_normal(C) * 0.1
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    attrs = dict(hidden_size=H)
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="/rnn/Transpose", perm=[1, 0, 2]),
        helper.make_node(op, ["xt", "W", "R", "B"], outs, name=f"/rnn/{op}", **attrs),
    ]
    if use_y:
        nodes += [
            helper.make_node("Squeeze", ["Y", "axis1"], ["ys"], name="/rnn/Squeeze"),
            helper.make_node("Gather", ["ys", "last"], ["hl"], name="/Gather", axis=0),
        ]
        extra = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
                 numpy_helper.from_array(np.array(-1, dtype=np.int64), "last")]
    else:
        nodes += [helper.make_node("Squeeze", ["Y_h", "axis0"], ["hl"], name="/rnn/Squeeze")]
        extra = [numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0")]
    nodes += [helper.make_node("Gemm", ["hl", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm",
                               transB=1)]
    m = model_of(nodes,
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, D])],
                 [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", C])],
                 [init("W", W), init("R", R), init("B", B), init("fc.weight", fc),
                  init("fc.bias", fcb)] + extra, case)
    save(case, m, rng.standard_normal((4, T, D)))


if __name__ == "__main__":
    rng = np.random.default_rng(24)
    for f in (mlp_gemm, cnn_bn, ops_mix, sklearn_mlp, unsupported):
        f(rng)
    transformer_bits(np.random.default_rng(26))
    keras_cnn_nhwc(np.random.default_rng(27))
    stacked_gru(np.random.default_rng(28))
    torch_view_flatten(np.random.default_rng(29))
    gemm_bn_avgpool(np.random.default_rng(30))
    torch_layernorm_gelu(np.random.default_rng(31))
    rng = np.random.default_rng(25)
    rnn_case(rng, "gru_torch", "GRU", lbr=1)
    rnn_case(rng, "gru_lbr0_y", "GRU", lbr=0, use_y=True)
    rnn_case(rng, "lstm_torch", "LSTM")
    rnn_case(rng, "lstm_y", "LSTM", use_y=True)
    print("wrote", sorted(d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d))))
