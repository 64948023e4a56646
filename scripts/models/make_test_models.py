#!/usr/bin/env python3
"""Write the tiny ONNX models of models/test/, which test Lintel's output decoders.

Each detector model ignores what its input holds and returns fixed tensors of a real detector family's
output layout, with numbers chosen so that a test knows exactly which boxes a correct decoder must find
(models/test/README.md lists them). The outputs still depend on the input, as
Add(constant, Mul(ReduceSum(input), 0)), so that they are real graph outputs that no optimiser folds
away and the input keeps its declared name, type and shape, which the runtime checks.

osnet-style.onnx is different: an embedder with an OSNet re-ID export's signature whose output is a
known function of the input (output j = mean of input channel j % 3), so a test can predict it.

The files are committed; rerun this only to change them:
    .cache/venv-models/bin/python scripts/models/make_test_models.py
(any Python with numpy and onnx works; with onnxruntime too, each file is also run and checked).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8  # old enough for any ONNX Runtime that knows opset 13


def constant_outputs(name: str, input_name: str, input_type: int, input_shape: list[int],
                     outputs: dict[str, np.ndarray], doc: str) -> onnx.ModelProto:
    """A model whose outputs are `outputs` (float32), each made to depend on the input."""
    nodes = []
    source = input_name
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [input_name], ["input_f"], to=TensorProto.FLOAT))
        source = "input_f"
    # keepdims=0 gives a scalar, which broadcasts against outputs of any rank.
    nodes.append(helper.make_node("ReduceSum", [source], ["input_sum"], keepdims=0))
    nodes.append(helper.make_node("Mul", ["input_sum", "zero"], ["input_zero"]))
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
    graph_outputs = []
    for i, (out_name, value) in enumerate(outputs.items()):
        value = np.asarray(value, dtype=np.float32)
        inits.append(numpy_helper.from_array(value, f"value_{i}"))
        nodes.append(helper.make_node("Add", [f"value_{i}", "input_zero"], [out_name]))
        graph_outputs.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(input_name, input_type, input_shape)],
        graph_outputs, initializer=inits, doc_string=doc,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lintel make_test_models.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def yolov8() -> onnx.ModelProto:
    # Layout [1, 4 + classes, candidates]: one column per candidate. c0 and c1 overlap (NMS keeps c0),
    # c2 is class 1, not a person.
    candidates = [
        (320, 240, 100, 200, 0.9, 0.1),
        (322, 242, 100, 200, 0.8, 0.1),
        (100, 100, 50, 50, 0.05, 0.95),
    ]
    out = np.array(candidates, dtype=np.float32).T[np.newaxis]  # [1, 6, 3]
    return constant_outputs("yolov8-test", "images", TensorProto.FLOAT, [1, 3, 640, 640], {"output0": out},
                            "YOLOv8 layout [1,4+C,N]; cx,cy,w,h in input pixels, class scores, no objectness")


def yolov5() -> onnx.ModelProto:
    # Layout [1, candidates, 5 + classes]: cx, cy, w, h, objectness, class scores.
    candidates = [
        (320, 240, 100, 200, 0.9, 1.0, 0.0),
        (322, 242, 100, 200, 0.9, 0.8, 0.1),
        (100, 100, 50, 50, 0.9, 0.05, 0.95),
    ]
    out = np.array(candidates, dtype=np.float32)[np.newaxis]  # [1, 3, 7]
    return constant_outputs("yolov5-test", "images", TensorProto.FLOAT, [1, 3, 640, 640], {"output0": out},
                            "YOLOv5 layout [1,N,5+C]; cx,cy,w,h in input pixels, objectness, class scores")


def yolox() -> onnx.ModelProto:
    # Raw head of a 64x64 input: rows for strides 8, 16, 32 (grids 8x8, 4x4, 2x2), each grid row-major.
    # Row: x offset, y offset, log w, log h (in cells), objectness, class scores (already sigmoid).
    size = 64
    strides = (8, 16, 32)
    rows = sum((size // s) ** 2 for s in strides)  # 84
    out = np.zeros((1, rows, 7), dtype=np.float32)

    def row(stride: int, gx: int, gy: int) -> int:
        first = sum((size // s) ** 2 for s in strides[: strides.index(stride)])
        return first + gy * (size // stride) + gx

    # Person: centre ((0.5 + 3) * 8, (0.5 + 2) * 8) = (28, 20), w 2 * 8 = 16, h 4 * 8 = 32, score 0.9 * 0.95.
    out[0, row(8, 3, 2)] = (0.5, 0.5, math.log(2.0), math.log(4.0), 0.9, 0.95, 0.01)
    # Class 1 (not a person): centre (32, 32), 32 x 32.
    out[0, row(32, 1, 1)] = (0.0, 0.0, 0.0, 0.0, 0.9, 0.01, 0.9)
    return constant_outputs("yolox-test", "images", TensorProto.FLOAT, [1, 3, size, size], {"output": out},
                            "YOLOX raw head (decode_in_inference=False), strides 8/16/32, 2 classes")


def ssd() -> onnx.ModelProto:
    # TF Object Detection API outputs: boxes normalised (ymin, xmin, ymax, xmax), NMS already done.
    outputs = {
        "detection_boxes:0": [[[0.1, 0.2, 0.5, 0.4], [0.6, 0.6, 0.9, 0.8], [0.0, 0.0, 1.0, 1.0]]],
        "detection_scores:0": [[0.9, 0.7, 0.95]],
        "detection_classes:0": [[1.0, 1.0, 3.0]],
        "num_detections:0": [3.0],
    }
    return constant_outputs("ssd-test", "image_tensor:0", TensorProto.UINT8, [1, 300, 300, 3],
                            {k: np.array(v, dtype=np.float32) for k, v in outputs.items()},
                            "TF Object Detection API SSD outputs; class 1 = person")


def wrong_input() -> onnx.ModelProto:
    # An MNIST-shaped model: input name, layout and size match no detector entry of the manifest.
    return constant_outputs("wrong-input-test", "data", TensorProto.FLOAT, [1, 1, 28, 28],
                            {"out": np.arange(10, dtype=np.float32)[np.newaxis] / 10},
                            "input does not match any detector manifest entry (error tests)")


OSNET_DIM = 512


def osnet_style() -> onnx.ModelProto:
    # The signature of an OSNet person re-ID export (input [N, 3, 256, 128], height 256, width 128;
    # output [N, 512]) with a result a test can predict: GlobalAveragePool gives the channel means
    # [N, 3], then MatMul with W[c, j] = 1 if j % 3 == c else 0, so output j = mean of channel j % 3.
    w = (np.arange(OSNET_DIM)[np.newaxis, :] % 3 == np.arange(3)[:, np.newaxis]).astype(np.float32)  # [3, 512]
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["channel_means_4d"]),
        helper.make_node("Flatten", ["channel_means_4d"], ["channel_means"], axis=1),
        helper.make_node("MatMul", ["channel_means", "spread"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "osnet-style-test",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 256, 128])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", OSNET_DIM])],
        initializer=[numpy_helper.from_array(w, "spread")],
        doc_string="OSNet re-ID signature [N,3,256,128] -> [N,512]; embedding[n, j] = mean of input[n, j % 3]",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lintel make_test_models.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


MODELS = {
    "yolov8.onnx": yolov8,
    "yolov5.onnx": yolov5,
    "yolox.onnx": yolox,
    "ssd.onnx": ssd,
    "wrong-input.onnx": wrong_input,
    "osnet-style.onnx": osnet_style,
}


def check_with_runtime(path: Path, model: onnx.ModelProto) -> None:
    """Run the file in ONNX Runtime on random input and compare with the stored constants."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    rng = np.random.default_rng(0)
    dtype = np.uint8 if inp.type == "tensor(uint8)" else np.float32
    feed = {inp.name: rng.integers(0, 255, inp.shape).astype(dtype)}
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for out, got in zip(model.graph.output, session.run(None, feed)):
        add = next(n for n in model.graph.node if n.output[0] == out.name)
        np.testing.assert_allclose(got, values[add.input[0]], rtol=0, atol=1e-6, err_msg=f"{path}:{out.name}")


def check_osnet_style(path: Path, model: onnx.ModelProto) -> None:
    """Run the file in ONNX Runtime on a random batch of 2: output j must be the mean of channel j % 3."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, 3, 256, 128)).astype(np.float32)
    (got,) = session.run(["embedding"], {"input": x})
    want = x.astype(np.float64).mean(axis=(2, 3))[:, np.arange(OSNET_DIM) % 3]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=f"{path}:embedding")


CHECKS = {"osnet-style.onnx": check_osnet_style}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[2] / "models" / "test")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, build in MODELS.items():
        model = build()
        path = args.out_dir / file_name
        onnx.save(model, str(path))
        CHECKS.get(file_name, check_with_runtime)(path, model)
        print(f"{path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
