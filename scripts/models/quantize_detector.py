#!/usr/bin/env python3
"""Quantise Lintel's SSD person detectors to INT8 with ONNX Runtime's quantisation tools.

Reads models/<name>.onnx for each manifest entry named (default: both ssdlite-pedestrian models) and
writes models/<name>-int8.onnx next to it.

What it does by default (--method static): static QDQ quantisation, weights int8 per output channel,
activations calibrated (min/max) on --frames frames spread evenly over the PETS clip, prepared the way
the pipeline prepares them for that entry (RGB, resized to input_width x input_height, uint8 NHWC).

Only the network is quantised: the nodes TensorFlow named FeatureExtractor/... (the MobileNetV2
backbone) and BoxPredictor_N/... (the box and class heads), ops Conv, Add and Clip (ReLU6, which ONNX
Runtime folds into the quantisation range). The rest of this tf2onnx graph is left in float: the
Preprocessor (a Loop that resizes each image), the Postprocessor (anchor decoding, which needs the
float precision of box offsets) and the Loop that runs NMS. --scope backbone also keeps the heads'
last convolutions (BoxEncodingPredictor, ClassPredictor) in float.

Measured on the 2-core AMD EPYC VM (AVX512-VNNI), 300x300, one thread, interleaved, against float:
static with uint8 activations (the default, ONNX Runtime's U8S8 kernels) 0.52x the time; static with
int8 activations (S8S8) 1.19x, slower than float; --method dynamic (weights only, activations
quantised at run time: ConvInteger) 8x. Precision/recall at score 0.3 on PETS09-S2L1 (IoU 0.5):
300 float 0.76/0.66, int8 0.76/0.64; 768x576 float 0.86/0.84, int8 0.87/0.84.

Deterministic: the same float model in gives the same bytes out. (tf2onnx does not write the same
float model twice, so a hash of the INT8 file cannot be pinned either.)

Needs onnxruntime 1.31.1 and onnx >= 1.16 (onnxruntime.quantization reads TensorProto.INT4, which
onnx 1.15, the version tf2onnx is pinned with in .cache/venv-models, lacks), ml_dtypes, numpy and
opencv-python-headless:
  python3 -m venv .cache/venv-quant
  .cache/venv-quant/bin/pip install onnxruntime==1.31.1 onnx==1.17.0 ml_dtypes==0.6.0 numpy==2.4.6 \\
      opencv-python-headless==4.11.0.86
  .cache/venv-quant/bin/python scripts/models/quantize_detector.py
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)

ROOT = Path(__file__).resolve().parents[2]
# Where Debian's opencv-doc puts the clip (scripts/setup installs it before the models; the
# fixtures/video/vtest.avi link to it is made after).
VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEFAULT_MODELS = ("ssdlite-pedestrian-300", "ssdlite-pedestrian-768x576", "ssdlite-pedestrian-384x384",
                  "ssdlite-pedestrian-512x384", "ssdlite-pedestrian-384x576")
NETWORK_PREFIXES = ("FeatureExtractor/", "BoxPredictor_")
QUANTISED_OPS = ("Conv", "Add", "Clip")
# The last convolution of each head: its outputs are box offsets and class logits.
HEAD_OUTPUTS = ("BoxEncodingPredictor", "ClassPredictor")


def fail(message: str) -> None:
    raise SystemExit(f"quantize_detector: {message}")


def calibration_frames(video: Path, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over the clip, as the pipeline feeds them: RGB, uint8 NHWC."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        fail(f"cannot open {video} (Debian package opencv-doc; scripts/setup installs it)")
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(bgr)
    capture.release()
    if len(frames) < count:
        fail(f"{video}: {len(frames)} frames, fewer than the {count} asked for")
    picked = [frames[i] for i in np.linspace(0, len(frames) - 1, count).round().astype(int)]
    prepared = []
    for bgr in picked:
        if (bgr.shape[1], bgr.shape[0]) != size:
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)
        prepared.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[np.newaxis]))
    return prepared


class Frames(CalibrationDataReader):
    def __init__(self, input_name: str, frames: list[np.ndarray]):
        self.feeds = iter([{input_name: f} for f in frames])

    def get_next(self):
        return next(self.feeds, None)


def network_nodes(model: onnx.ModelProto, scope: str) -> list[str]:
    names = []
    for node in model.graph.node:
        if node.op_type not in QUANTISED_OPS or not node.name.startswith(NETWORK_PREFIXES):
            continue
        if scope == "backbone" and any(part in node.name for part in HEAD_OUTPUTS):
            continue
        names.append(node.name)
    return names


def check_runs(path: Path, input_name: str, frame: np.ndarray, outputs: list[str]) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    boxes, scores, classes, num = session.run(outputs, {input_name: frame})
    if not (boxes.ndim == 3 and boxes.shape[-1] == 4 and num.shape == (1,)):
        fail(f"{path}: unexpected output shapes {boxes.shape}, {num.shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "models" / "models.toml")
    parser.add_argument("--model", action="append", help=f"manifest name (repeatable; default: {', '.join(DEFAULT_MODELS)})")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--method", choices=["static", "dynamic"], default="static")
    parser.add_argument("--scope", choices=["network", "backbone"], default="network",
                        help="network: backbone and heads; backbone: the heads' last convolutions stay float")
    parser.add_argument("--frames", type=int, default=50, help="calibration frames (static)")
    parser.add_argument("--calibration", choices=["minmax", "entropy", "percentile"], default="minmax")
    parser.add_argument("--activations", choices=["int8", "uint8"], default="uint8",
                        help="activation type (weights are always int8)")
    parser.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    parser.add_argument("--suffix", default="-int8", help="added to the model's file name")
    parser.add_argument("--out-dir", type=Path, help="default: the manifest's directory")
    args = parser.parse_args()

    manifest = tomllib.loads(args.manifest.read_text())
    specs = {m["name"]: m for m in manifest["model"]}
    names = args.model or list(DEFAULT_MODELS)
    out_dir = args.out_dir or args.manifest.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = specs.get(name) or fail(f"{args.manifest}: no model named {name!r}")
        source = args.manifest.parent / spec["file"]
        if not source.is_file():
            fail(f"{source} is missing (run scripts/install-models)")
        target = out_dir / (Path(spec["file"]).stem + args.suffix + ".onnx")
        model = onnx.load(str(source))
        nodes = network_nodes(model, args.scope)
        if args.method == "dynamic":
            nodes = [n.name for n in model.graph.node if n.name in set(nodes) and n.op_type == "Conv"]
        started = time.perf_counter()
        size = (spec["input_width"], spec["input_height"])
        frames = calibration_frames(args.video, size, args.frames)
        if args.method == "static":
            quantize_static(
                model,
                str(target),
                Frames(spec["input_name"], frames),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(QUANTISED_OPS),
                nodes_to_quantize=nodes,
                per_channel=not args.per_tensor,
                activation_type=QuantType.QUInt8 if args.activations == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                  "percentile": CalibrationMethod.Percentile}[args.calibration],
            )
        else:
            quantize_dynamic(model, str(target), op_types_to_quantize=["Conv"], nodes_to_quantize=nodes,
                             per_channel=not args.per_tensor, weight_type=QuantType.QInt8)
        check_runs(target, spec["input_name"], frames[0], spec["outputs"])
        print(f"{name}: {len(nodes)} nodes quantised ({args.method}, {args.scope}, "
              f"{args.calibration if args.method == 'static' else 'run-time'} activations {args.activations}) "
              f"-> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} "
              f"({target.stat().st_size / 1e6:.1f} MB, was {source.stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
